// An informer, client-go's reflector + indexer + shared informer in one: list once, watch
// from the list's revision, keep an indexed cache, tell handlers what changed.
import { nextTurn, sleep, systemClock, type Clock, type Timer } from './clock.js';
import { badOption, checkNonNegative, checkPositive } from './errors.js';
import { toLogger, type Logger, type LoggerLike } from './logger.js';
import type { WatchRestartReason } from './metrics.js';
import type { EventOrigin, Source, SourceContext, SourceEvent } from './source.js';
import type { ListOptions, ListResult, ObjectEvent, StoreEntry, WatchableStore, WatchEvent } from './store.js';

/** The values an object is indexed under (none: `undefined` or an empty list). */
export type IndexFunction<T> = (object: T) => string | readonly string[] | undefined;

/** What an {@link Informer} tells a handler. Called synchronously, after the cache changed. */
export interface InformerHandler<T> {
  /** An object change (the cache already holds the new state). */
  onEvent(event: SourceEvent<T>): void;
  /** The cache holds a full list: once per handler (at once when added to a synced informer). */
  onSynced?(): void;
  /** The informer dropped its watch: it resumes it (`stalled`, `ended`) or lists again (the other reasons). */
  onRestart?(reason: WatchRestartReason, error?: unknown): void;
}

/** Options of an {@link Informer}; every one has a default. */
export interface InformerOptions<T> {
  /** Name for logs and metrics. @default 'informer' */
  name?: string;
  /** Time for timers (resync, watch deadline, backoff). @default systemClock */
  clock?: Clock;
  /** Where the informer logs. @default silent */
  logger?: LoggerLike;
  /** Secondary indexes by name, read with {@link Informer.byIndex}. @default none */
  indexers?: Readonly<Record<string, IndexFunction<T>>>;
  /**
   * Every `resyncPeriodMs`, tell every handler about every cached object again (`modified`,
   * origin `resync`), so level-based reconcilers revisit everything; 0 turns it off. @default 0
   */
  resyncPeriodMs?: number;
  /**
   * Liveness deadline: a watch that yields nothing (no change, no `progress`) for this long
   * is dropped and opened again from the cache's revision (the store replays what was
   * missed; it is listed again only if that history was compacted). Keep it above the
   * store's progress interval. @default 30_000
   */
  watchTimeoutMs?: number;
  /** First re-list delay after a failure, doubling per consecutive failure. @default 800 */
  relistBaseDelayMs?: number;
  /** Cap of the re-list delay. @default 30_000 */
  relistMaxDelayMs?: number;
  /**
   * Objects asked for per list request (client-go's paged list, 500 there too): the list is
   * read page by page (`limit` and `continue`, every page at the first page's revision), so
   * no one request carries the whole kind; the cache takes the list once every page is in.
   * A store that does not page returns everything at once. 0 asks for everything in one
   * request. @default 500
   */
  listPageSize?: number;
  /**
   * A list page that has not answered after this long is abandoned (its call aborted) and
   * retried, as a page that failed: with backoff, from the same page (the pages before it
   * are kept). 0: no deadline of the informer's own. @default 60_000
   */
  listPageTimeoutMs?: number;
}

type WatchOutcome = { reason: WatchRestartReason | 'aborted'; progressed: boolean; error?: unknown };

/** A list page's revision was compacted: the list starts again from its first page. */
function isCompacted(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'compacted' || code === 'watch-expired';
}

/** Resolves on the event loop's next turn: every event a watch had already delivered has come through by then. */
const drained = (): Promise<'drained'> => nextTurn().then(() => 'drained' as const);

/**
 * A cache of one {@link WatchableStore} kept current by list + watch, in the manner of
 * client-go's shared informer. Guarantees:
 *
 * - **list once, then watch**: `list()` gives every object and a revision; `watch(revision + 1)`
 *   keeps the cache current. A watch that ends or is silent past `watchTimeoutMs` is
 *   resumed from the cache's revision without listing (client-go's reflector re-watches from
 *   its last resourceVersion): the store replays the changes missed. The store is listed
 *   again only when the watch is lost — it `expired` (compaction: at once when the watch had
 *   made progress) or threw — after an exponential backoff (`relistBaseDelayMs` doubling up
 *   to `relistMaxDelayMs`, reset by progress; the same backoff spaces resumptions of a watch
 *   that never progressed). A re-list tells handlers only the differences (origin `relist`),
 *   deletions included.
 * - **cache before handlers**: when a handler hears of a change, `get`/`list`/`byIndex`
 *   already reflect it (and everything before it in revision order), so a reconcile started
 *   by an event never reads an older state than the event's.
 * - **never backwards**: an event older than the cached entry (a replay) is ignored.
 * - **`hasSynced()`** turns true once the first list is in the cache and stays true; act
 *   only after it (handlers hear `onSynced` then).
 * - **read-your-writes on request**: {@link Informer.waitForRevision} resolves once the
 *   cache reflects a revision — e.g. that of one's own write.
 *
 * Cached objects are shared: treat what `get`/`list`/`byIndex` return as read-only (copy
 * before changing; write through the store, with compare-and-set). An informer runs once.
 */
export class Informer<T> {
  readonly name: string;
  readonly #store: WatchableStore<T>;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #indexers: readonly (readonly [string, IndexFunction<T>])[];
  readonly #resyncPeriodMs: number;
  readonly #watchTimeoutMs: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #pageSize: number;
  readonly #pageTimeoutMs: number;
  readonly #cache = new Map<string, StoreEntry<T>>();
  /** index name → value → keys. */
  readonly #indexes = new Map<string, Map<string, Set<string>>>();
  /** key → index name → the values it is indexed under (to unindex it). */
  readonly #indexed = new Map<string, Map<string, readonly string[]>>();
  readonly #handlers = new Set<InformerHandler<T>>();
  #synced = false;
  #state: 'new' | 'running' | 'stopped' = 'new';
  #revision = 0;
  #syncWaiters: ((synced: boolean) => void)[] = [];
  #revisionWaiters: { revision: number; resolve: (reached: boolean) => void }[] = [];
  #lists = 0;

  constructor(store: WatchableStore<T>, options: InformerOptions<T> = {}) {
    if (!isWatchable(store)) badOption('store', 'a WatchableStore (list and watch methods)', store);
    if (typeof options !== 'object' || options === null) badOption('options', 'an object', options);
    this.name = options.name ?? 'informer';
    this.#store = store;
    this.#clock = options.clock ?? systemClock;
    this.#logger = toLogger(options.logger);
    const indexers = Object.entries(options.indexers ?? {});
    for (const [name, fn] of indexers) {
      if (typeof fn !== 'function') badOption(`indexers.${name}`, 'a function (object) => string | string[] | undefined', fn);
      this.#indexes.set(name, new Map());
    }
    this.#indexers = indexers;
    this.#resyncPeriodMs = checkNonNegative('resyncPeriodMs', options.resyncPeriodMs ?? 0);
    this.#watchTimeoutMs = checkPositive('watchTimeoutMs', options.watchTimeoutMs ?? 30_000);
    this.#baseDelayMs = checkNonNegative('relistBaseDelayMs', options.relistBaseDelayMs ?? 800);
    this.#maxDelayMs = checkNonNegative('relistMaxDelayMs', options.relistMaxDelayMs ?? 30_000);
    this.#pageSize = checkNonNegative('listPageSize', options.listPageSize ?? 500);
    if (!Number.isInteger(this.#pageSize)) badOption('listPageSize', 'a whole number of objects (0: no paging)', options.listPageSize);
    this.#pageTimeoutMs = checkNonNegative('listPageTimeoutMs', options.listPageTimeoutMs ?? 60_000);
  }

  // ---------------------------------------------------------------- reads

  /** Has the first list reached the cache? */
  hasSynced(): boolean {
    return this.#synced;
  }

  /** The revision the cache reflects: every change up to it is in (0 before the first list). */
  get revision(): number {
    return this.#revision;
  }

  /** How many times the store was listed (1 while the first watch lives). */
  get lists(): number {
    return this.#lists;
  }

  /** Number of cached objects. */
  get size(): number {
    return this.#cache.size;
  }

  /** The cached object at `key` (the store's key), or `undefined`. */
  get(key: string): T | undefined {
    return this.#cache.get(key)?.object;
  }

  /** The cached entry at `key`, with the revision of its last change. */
  getEntry(key: string): StoreEntry<T> | undefined {
    return this.#cache.get(key);
  }

  /** Every cached object (in no particular order). */
  list(): T[] {
    const out: T[] = [];
    for (const e of this.#cache.values()) out.push(e.object);
    return out;
  }

  /** Every cached key. */
  keys(): string[] {
    return [...this.#cache.keys()];
  }

  /** The cached objects indexed under `value` by the indexer `index`. Throws a `TypeError` for an unknown index. */
  byIndex(index: string, value: string): T[] {
    const keys = this.#index(index).get(value);
    if (keys === undefined) return [];
    const out: T[] = [];
    for (const k of keys) out.push(this.#cache.get(k)!.object);
    return out;
  }

  /** The values that have at least one object under the indexer `index`. */
  indexValues(index: string): string[] {
    return [...this.#index(index).keys()];
  }

  #index(name: string): Map<string, Set<string>> {
    const index = this.#indexes.get(name);
    if (index === undefined) throw new TypeError(`${this.name}: no index named ${JSON.stringify(name)} (indexes: ${[...this.#indexes.keys()].join(', ') || 'none'}); pass it in options.indexers`);
    return index;
  }

  // ---------------------------------------------------------------- waiting

  /** Resolves true once synced; false when `signal` aborts or the informer stops first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    if (this.#state === 'stopped' || signal?.aborted === true) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(ok);
      };
      const onAbort = (): void => {
        this.#syncWaiters = this.#syncWaiters.filter((w) => w !== done);
        resolve(false);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#syncWaiters.push(done);
    });
  }

  /**
   * Resolves true once the cache reflects `revision` (e.g. the revision a write of one's own
   * returned, so the next read sees it); false when `timeoutMs` (on the informer's clock)
   * passes or the informer stops first. A lost watch delays it until the re-list.
   */
  waitForRevision(revision: number, options: { timeoutMs?: number } = {}): Promise<boolean> {
    if (this.#revision >= revision) return Promise.resolve(true);
    if (this.#state === 'stopped') return Promise.resolve(false);
    return new Promise((resolve) => {
      let timer: Timer | undefined;
      const waiter = {
        revision,
        resolve: (reached: boolean): void => {
          timer?.cancel();
          resolve(reached);
        },
      };
      this.#revisionWaiters.push(waiter);
      if (options.timeoutMs !== undefined)
        timer = this.#clock.setTimer(() => {
          this.#revisionWaiters = this.#revisionWaiters.filter((w) => w !== waiter);
          resolve(false);
        }, options.timeoutMs);
    });
  }

  #advance(revision: number): void {
    if (revision <= this.#revision) return;
    this.#revision = revision;
    if (this.#revisionWaiters.length === 0) return;
    const reached = this.#revisionWaiters.filter((w) => w.revision <= revision);
    if (reached.length === 0) return;
    this.#revisionWaiters = this.#revisionWaiters.filter((w) => w.revision > revision);
    for (const w of reached) w.resolve(true);
  }

  // ---------------------------------------------------------------- handlers

  /**
   * Adds a handler; returns a function that removes it. A handler added to a synced
   * informer hears every cached object at once (`added`, origin `initial-list`), then
   * `onSynced`.
   */
  addHandler(handler: InformerHandler<T>): () => void {
    if (typeof handler?.onEvent !== 'function') badOption('handler', 'an object with onEvent(event)', handler);
    this.#handlers.add(handler);
    if (this.#synced) {
      for (const e of this.#cache.values()) handler.onEvent({ type: 'added', key: e.key, object: e.object, origin: 'initial-list' });
      handler.onSynced?.();
    }
    return () => void this.#handlers.delete(handler);
  }

  /**
   * A {@link Source} for `Controller.watch`/`watches`: its events are this informer's, so
   * several controllers share one list and one watch. The source does not start the
   * informer: run it (`run`) alongside the controllers.
   */
  source(name = this.name): Source<T> {
    return {
      name,
      run: (ctx: SourceContext<T>): Promise<void> =>
        new Promise((resolve) => {
          if (ctx.signal.aborted) return resolve();
          const remove = this.addHandler({ onEvent: (e) => ctx.emit(e), onSynced: () => ctx.synced(), onRestart: (r, e) => ctx.restarted(r, e) });
          ctx.signal.addEventListener(
            'abort',
            () => {
              remove();
              resolve();
            },
            { once: true },
          );
        }),
    };
  }

  #emit(event: SourceEvent<T>): void {
    for (const h of this.#handlers) h.onEvent(event);
  }

  // ---------------------------------------------------------------- the cache

  #set(entry: StoreEntry<T>): void {
    this.#cache.set(entry.key, entry);
    if (this.#indexers.length === 0) return;
    this.#unindex(entry.key);
    const mine = new Map<string, readonly string[]>();
    for (const [name, fn] of this.#indexers) {
      const v = fn(entry.object);
      const values = v === undefined ? [] : typeof v === 'string' ? [v] : v;
      if (values.length === 0) continue;
      mine.set(name, values);
      const index = this.#indexes.get(name)!;
      for (const value of values) {
        let keys = index.get(value);
        if (keys === undefined) index.set(value, (keys = new Set()));
        keys.add(entry.key);
      }
    }
    if (mine.size > 0) this.#indexed.set(entry.key, mine);
  }

  #delete(key: string): boolean {
    this.#unindex(key);
    return this.#cache.delete(key);
  }

  #unindex(key: string): void {
    const mine = this.#indexed.get(key);
    if (mine === undefined) return;
    this.#indexed.delete(key);
    for (const [name, values] of mine) {
      const index = this.#indexes.get(name)!;
      for (const value of values) {
        const keys = index.get(value);
        if (keys === undefined) continue;
        keys.delete(key);
        if (keys.size === 0) index.delete(value);
      }
    }
  }

  // ---------------------------------------------------------------- running

  /** Lists and watches until `signal` aborts; resolves then. Never rejects. Runs once. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#state !== 'new') throw new Error(`informer ${this.name} runs once (it is ${this.#state}); make a new one`);
    this.#state = 'running';
    let resyncTimer: Timer | undefined;
    const scheduleResync = (): void => {
      resyncTimer = this.#clock.setTimer(() => {
        if (signal.aborted) return;
        for (const e of this.#cache.values()) this.#emit({ type: 'modified', key: e.key, object: e.object, oldObject: e.object, origin: 'resync' });
        scheduleResync();
      }, this.#resyncPeriodMs);
    };
    const backoff = { failures: 0 };
    try {
      while (!signal.aborted) {
        this.#lists++;
        const listed = await this.#list(signal, backoff);
        if (listed === undefined || signal.aborted) break;
        const revision = listed.revision;
        this.#applyList(listed.items, this.#synced ? 'relist' : 'initial-list');
        this.#advance(revision);
        if (!this.#synced) {
          this.#synced = true;
          for (const w of this.#syncWaiters.splice(0)) w(true);
          for (const h of this.#handlers) h.onSynced?.();
          if (this.#resyncPeriodMs > 0) scheduleResync();
        }
        let outcome = await this.#watch(signal, revision + 1);
        // A watch that went silent or ended is resumed from the cache's revision, as client-go's
        // reflector re-watches from its last resourceVersion: the store replays what the cache
        // missed. Only a compaction (`expired`) or an error lists again.
        while (outcome.reason === 'stalled' || outcome.reason === 'ended') {
          if (outcome.progressed) backoff.failures = 0;
          this.#logger.info('watch resuming', { source: this.name, reason: outcome.reason, fromRevision: this.#revision + 1 });
          this.#restarted(outcome.reason);
          if (!outcome.progressed && !(await sleep(this.#clock, this.#delay(backoff.failures++), signal))) break;
          if (signal.aborted) break;
          outcome = await this.#watch(signal, this.#revision + 1);
        }
        if (outcome.reason === 'aborted' || signal.aborted) break;
        if (outcome.progressed) backoff.failures = 0;
        this.#logger.info('watch restarting', { source: this.name, reason: outcome.reason, error: outcome.error });
        this.#restarted(outcome.reason, outcome.error);
        if (outcome.reason === 'expired' && backoff.failures === 0) {
          backoff.failures = 1;
          continue;
        }
        if (!(await sleep(this.#clock, this.#delay(backoff.failures++), signal))) break;
      }
    } finally {
      resyncTimer?.cancel();
      this.#state = 'stopped';
      for (const w of this.#syncWaiters.splice(0)) w(false);
      for (const w of this.#revisionWaiters.splice(0)) w.resolve(false);
    }
  }

  /**
   * One list, page by page (`listPageSize` objects a request, each page at the first one's
   * revision). A page that fails or times out is retried, with backoff, from that page; a
   * page whose revision was compacted starts the list again from the first page. Undefined
   * when `signal` aborts first.
   */
  async #list(signal: AbortSignal, backoff: { failures: number }): Promise<{ items: StoreEntry<T>[]; revision: number } | undefined> {
    let compactions = 0;
    for (;;) {
      const items: StoreEntry<T>[] = [];
      let revision: number | undefined;
      let token: string | undefined;
      let pages = 0;
      for (;;) {
        let page: ListResult<T>;
        try {
          page = await this.#page(signal, token, pages + 1);
        } catch (error) {
          if (signal.aborted) return undefined;
          if (token !== undefined && isCompacted(error)) {
            this.#logger.info('list restarting from its first page: its revision was compacted', { source: this.name, revision, pages, error });
            if (compactions++ > 0 && !(await sleep(this.#clock, this.#delay(compactions - 1), signal))) return undefined;
            break;
          }
          this.#logger.warn('list failed', { source: this.name, page: pages + 1, error });
          this.#restarted('list-error', error);
          if (!(await sleep(this.#clock, this.#delay(backoff.failures++), signal))) return undefined;
          continue;
        }
        if (signal.aborted) return undefined;
        pages++;
        revision ??= page.revision;
        for (const entry of page.items) items.push(entry);
        if (this.#pageSize === 0 || page.continue === undefined || page.items.length === 0) return { items, revision };
        token = page.continue;
      }
    }
  }

  /** One list request, abandoned after `listPageTimeoutMs`. */
  async #page(signal: AbortSignal, token: string | undefined, n: number): Promise<ListResult<T>> {
    const local = new AbortController();
    const onAbort = (): void => local.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const options: ListOptions = { signal: local.signal, ...(this.#pageSize > 0 ? { limit: this.#pageSize } : {}), ...(token !== undefined ? { continue: token } : {}) };
    let timer: Timer | undefined;
    try {
      const call = this.#store.list(options);
      if (this.#pageTimeoutMs === 0) return await call;
      const ms = this.#pageTimeoutMs;
      const timedOut = new Promise<never>((_, reject) => {
        timer = this.#clock.setTimer(() => {
          local.abort();
          reject(new Error(`informer ${this.name}: list page ${n} had no answer within ${ms} ms (listPageTimeoutMs); retrying it`));
        }, ms);
      });
      return await Promise.race([call, timedOut]);
    } finally {
      timer?.cancel();
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Applies object events of one revision: every cache change first, then the revision, then
   * the handlers (each hears its event with the whole transaction already in the cache).
   */
  #applyBatch(events: readonly ObjectEvent<T>[]): void {
    const heard: SourceEvent<T>[] = [];
    for (const event of events) {
      const previous = this.#cache.get(event.key);
      if (event.type === 'deleted') {
        // a replay of a delete older than what the cache holds
        if (previous !== undefined && previous.revision > event.revision) continue;
        if (this.#delete(event.key)) heard.push({ type: 'deleted', key: event.key, object: event.object, origin: 'watch' });
        continue;
      }
      // a replay (never backwards)
      if (previous !== undefined && previous.revision >= event.revision) continue;
      this.#set({ key: event.key, object: event.object, revision: event.revision });
      heard.push(
        previous === undefined
          ? { type: 'added', key: event.key, object: event.object, origin: 'watch' }
          : { type: 'modified', key: event.key, object: event.object, oldObject: previous.object, origin: 'watch' },
      );
    }
    this.#advance(events.at(-1)!.revision);
    for (const e of heard) this.#emit(e);
  }

  #restarted(reason: WatchRestartReason, error?: unknown): void {
    for (const h of this.#handlers) h.onRestart?.(reason, error);
  }

  #delay(failures: number): number {
    return Math.min(this.#baseDelayMs * 2 ** failures, this.#maxDelayMs);
  }

  #applyList(items: readonly StoreEntry<T>[], origin: EventOrigin): void {
    const seen = new Set<string>();
    for (const entry of items) {
      seen.add(entry.key);
      const previous = this.#cache.get(entry.key);
      if (previous?.revision === entry.revision) continue;
      this.#set(entry);
      if (previous === undefined) this.#emit({ type: 'added', key: entry.key, object: entry.object, origin });
      else this.#emit({ type: 'modified', key: entry.key, object: entry.object, oldObject: previous.object, origin });
    }
    if (this.#cache.size > seen.size) {
      for (const [key, entry] of this.#cache) {
        if (seen.has(key)) continue;
        this.#delete(key);
        this.#emit({ type: 'deleted', key, object: entry.object, origin });
      }
    }
  }

  async #watch(signal: AbortSignal, fromRevision: number): Promise<WatchOutcome> {
    const clock = this.#clock;
    const local = new AbortController();
    let wake: (value: 'stalled' | 'aborted') => void = () => undefined;
    const interrupted = new Promise<'stalled' | 'aborted'>((resolve) => (wake = resolve));
    const onAbort = (): void => {
      local.abort();
      wake('aborted');
    };
    signal.addEventListener('abort', onAbort, { once: true });
    // One timer, not one per event: events only stamp `lastEventAt`; when the timer fires
    // early because events came in, it re-arms for the rest of the deadline.
    const timeoutMs = this.#watchTimeoutMs;
    let lastEventAt = clock.now();
    let deadline: Timer | undefined;
    const check = (): void => {
      const left = lastEventAt + timeoutMs - clock.now();
      if (left > 0) deadline = clock.setTimer(check, left);
      else wake('stalled');
    };
    deadline = clock.setTimer(check, timeoutMs);
    let progressed = false;
    let iterator: AsyncIterator<WatchEvent<T>> | undefined;
    // The object events of one revision (one transaction) received so far: applied together,
    // when an event of another revision comes or when the watch has delivered everything it
    // had (the next event is not there by the next macrotask), so that the cache — and its
    // revision — never shows part of a transaction.
    const batch: ObjectEvent<T>[] = [];
    const flush = (): void => {
      if (batch.length > 0) this.#applyBatch(batch.splice(0));
    };
    try {
      iterator = this.#store.watch(fromRevision, { signal: local.signal })[Symbol.asyncIterator]();
      for (;;) {
        const next = iterator.next();
        let result = await Promise.race(batch.length > 0 ? [next, interrupted, drained()] : [next, interrupted]);
        if (result === 'drained') {
          flush();
          result = await Promise.race([next, interrupted]);
        }
        if (result === 'aborted') return { reason: 'aborted', progressed };
        if (result === 'stalled') {
          next.catch(() => undefined);
          return { reason: 'stalled', progressed };
        }
        if (result.done === true) return { reason: 'ended', progressed };
        lastEventAt = clock.now();
        progressed = true;
        const event = result.value;
        switch (event.type) {
          case 'progress':
            flush();
            this.#advance(event.revision);
            break;
          case 'expired':
            return { reason: 'expired', progressed };
          case 'added':
          case 'modified':
          case 'deleted':
            if (batch.length > 0 && batch[0]!.revision !== event.revision) flush();
            batch.push(event);
            break;
        }
      }
    } catch (error) {
      if (signal.aborted) return { reason: 'aborted', progressed };
      return { reason: 'watch-error', progressed, error };
    } finally {
      // what was received is applied, however the watch ended
      flush();
      deadline?.cancel();
      signal.removeEventListener('abort', onAbort);
      local.abort();
      if (iterator?.return !== undefined) {
        try {
          iterator.return().catch(() => undefined);
        } catch {
          /* a broken iterator cannot stop us */
        }
      }
    }
  }
}

function isWatchable(value: unknown): value is WatchableStore<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { list?: unknown }).list === 'function' &&
    typeof (value as { watch?: unknown }).watch === 'function'
  );
}

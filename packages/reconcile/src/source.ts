// Sources feed a controller's queue: a watchable store listed then watched, with resync,
// liveness deadlines and re-list with backoff.
import { sleep, type Clock, type Timer } from './clock.js';
import { badOption, checkNonNegative, checkPositive } from './errors.js';
import type { Logger } from './logger.js';
import type { WatchRestartReason } from './metrics.js';
import type { StoreEntry, WatchableStore, WatchEvent } from './store.js';

/**
 * Where an event came from: the first list (`initial-list`), a list after a lost watch
 * (`relist`), a live change (`watch`) or a periodic replay of the cache (`resync`). Keys
 * from `initial-list` and `resync` enter the queue at low priority.
 */
export type EventOrigin = 'initial-list' | 'relist' | 'watch' | 'resync';

/** An object change as a controller sees it. */
export interface SourceEvent<T> {
  readonly type: 'added' | 'modified' | 'deleted';
  readonly key: string;
  /** The object (for `deleted`, its last known state). */
  readonly object: T;
  /** The previous state for `modified`, when the source knew it. */
  readonly oldObject?: T;
  readonly origin: EventOrigin;
}

/** What a controller hands a source when it starts it. */
export interface SourceContext<T> {
  /** Delivers an event (synchronously filtered, mapped and enqueued). */
  emit(event: SourceEvent<T>): void;
  /** Aborted when the source must stop. */
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Called once the first full list has been emitted. */
  synced(): void;
  /** Called each time the source drops its watch and lists again. */
  restarted(reason: WatchRestartReason, error?: unknown): void;
}

/** Anything that produces object events for a controller. */
export interface Source<T> {
  /** A name for logs and metrics. */
  readonly name: string;
  /** Runs until `context.signal` aborts; resolves then. Must not reject. */
  run(context: SourceContext<T>): Promise<void>;
}

/** Options of {@link storeSource}. */
export interface StoreSourceOptions {
  /** Name for logs and metrics. @default 'store' */
  name?: string;
  /**
   * Every `resyncPeriodMs`, re-emit every cached object (as `modified`, origin `resync`,
   * low priority), so level-based reconcilers revisit everything; 0 turns it off.
   * @default 0
   */
  resyncPeriodMs?: number;
  /**
   * Liveness deadline: a watch that yields nothing (no change and no `progress`) for this
   * long is considered dead, dropped, and the store is listed again. Keep it above the
   * store's progress interval. @default 30_000
   */
  watchTimeoutMs?: number;
  /** First re-list delay after a failure, doubling per consecutive failure. @default 800 */
  relistBaseDelayMs?: number;
  /** Cap of the re-list delay. @default 30_000 */
  relistMaxDelayMs?: number;
}

type WatchOutcome = { reason: WatchRestartReason | 'aborted'; progressed: boolean; error?: unknown };

/**
 * A source over a {@link WatchableStore}, in the manner of client-go's reflector + informer:
 *
 * 1. `list()`, emitting every object (`added`, origin `initial-list`; after a lost watch,
 *    origin `relist` with only the differences against the cache, deletions included);
 * 2. `watch(revision + 1)`, emitting each change (origin `watch`);
 * 3. when the watch expires, ends, throws, or stays silent past `watchTimeoutMs`, back to 1
 *    — at once after an `expired` that followed progress, otherwise after an exponential
 *    backoff (`relistBaseDelayMs` doubling up to `relistMaxDelayMs`, reset by progress).
 *
 * A controller with such a source is therefore never silently dead: a stalled watch is
 * noticed within `watchTimeoutMs` and the state is recovered by listing.
 */
export function storeSource<T>(store: WatchableStore<T>, options: StoreSourceOptions = {}): Source<T> {
  return new StoreSource(store, options);
}

class StoreSource<T> implements Source<T> {
  readonly name: string;
  readonly #store: WatchableStore<T>;
  readonly #resyncPeriodMs: number;
  readonly #watchTimeoutMs: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;

  constructor(store: WatchableStore<T>, options: StoreSourceOptions) {
    if (!isWatchableStore(store)) badOption('store', 'a WatchableStore (list and watch methods)', store);
    this.name = options.name ?? 'store';
    this.#store = store;
    this.#resyncPeriodMs = checkNonNegative('resyncPeriodMs', options.resyncPeriodMs ?? 0);
    this.#watchTimeoutMs = checkPositive('watchTimeoutMs', options.watchTimeoutMs ?? 30_000);
    this.#baseDelayMs = checkNonNegative('relistBaseDelayMs', options.relistBaseDelayMs ?? 800);
    this.#maxDelayMs = checkNonNegative('relistMaxDelayMs', options.relistMaxDelayMs ?? 30_000);
  }

  async run(ctx: SourceContext<T>): Promise<void> {
    const { signal, clock, logger } = ctx;
    const cache = new Map<string, StoreEntry<T>>();
    let resyncTimer: Timer | undefined;
    const scheduleResync = (): void => {
      resyncTimer = clock.setTimer(() => {
        if (signal.aborted) return;
        for (const entry of cache.values()) {
          ctx.emit({ type: 'modified', key: entry.key, object: entry.object, oldObject: entry.object, origin: 'resync' });
        }
        scheduleResync();
      }, this.#resyncPeriodMs);
    };
    let failures = 0;
    let listedOnce = false;
    try {
      while (!signal.aborted) {
        let revision: number;
        try {
          const listed = await this.#store.list({ signal });
          if (signal.aborted) break;
          revision = listed.revision;
          this.#applyList(ctx, cache, listed.items, listedOnce ? 'relist' : 'initial-list');
        } catch (error) {
          if (signal.aborted) break;
          logger.warn('list failed', { source: this.name, error });
          ctx.restarted('list-error', error);
          if (!(await sleep(clock, this.#delay(failures++), signal))) break;
          continue;
        }
        if (!listedOnce) {
          listedOnce = true;
          ctx.synced();
          if (this.#resyncPeriodMs > 0) scheduleResync();
        }
        const outcome = await this.#watch(ctx, cache, revision + 1);
        if (outcome.reason === 'aborted' || signal.aborted) break;
        if (outcome.progressed) failures = 0;
        logger.info('watch restarting', { source: this.name, reason: outcome.reason, error: outcome.error });
        ctx.restarted(outcome.reason, outcome.error);
        if (outcome.reason === 'expired' && failures === 0) {
          failures = 1;
          continue;
        }
        if (!(await sleep(clock, this.#delay(failures++), signal))) break;
      }
    } finally {
      resyncTimer?.cancel();
    }
  }

  #delay(failures: number): number {
    return Math.min(this.#baseDelayMs * 2 ** failures, this.#maxDelayMs);
  }

  #applyList(
    ctx: SourceContext<T>,
    cache: Map<string, StoreEntry<T>>,
    items: readonly StoreEntry<T>[],
    origin: EventOrigin,
  ): void {
    const seen = new Set<string>();
    for (const entry of items) {
      seen.add(entry.key);
      const previous = cache.get(entry.key);
      cache.set(entry.key, entry);
      if (previous === undefined) {
        ctx.emit({ type: 'added', key: entry.key, object: entry.object, origin });
      } else if (previous.revision !== entry.revision) {
        ctx.emit({ type: 'modified', key: entry.key, object: entry.object, oldObject: previous.object, origin });
      }
    }
    if (cache.size > seen.size) {
      for (const [key, entry] of cache) {
        if (seen.has(key)) continue;
        cache.delete(key);
        ctx.emit({ type: 'deleted', key, object: entry.object, origin });
      }
    }
  }

  async #watch(ctx: SourceContext<T>, cache: Map<string, StoreEntry<T>>, fromRevision: number): Promise<WatchOutcome> {
    const { signal, clock } = ctx;
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
    try {
      iterator = this.#store.watch(fromRevision, { signal: local.signal })[Symbol.asyncIterator]();
      for (;;) {
        const next = iterator.next();
        const result = await Promise.race([next, interrupted]);
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
            break;
          case 'expired':
            return { reason: 'expired', progressed };
          case 'added':
          case 'modified': {
            const previous = cache.get(event.key);
            if (previous !== undefined && previous.revision >= event.revision) break;
            cache.set(event.key, { key: event.key, object: event.object, revision: event.revision });
            ctx.emit(
              previous === undefined
                ? { type: 'added', key: event.key, object: event.object, origin: 'watch' }
                : { type: 'modified', key: event.key, object: event.object, oldObject: previous.object, origin: 'watch' },
            );
            break;
          }
          case 'deleted': {
            const previous = cache.get(event.key);
            if (previous !== undefined && previous.revision > event.revision) break;
            const known = cache.delete(event.key);
            if (known) ctx.emit({ type: 'deleted', key: event.key, object: event.object, origin: 'watch' });
            break;
          }
        }
      }
    } catch (error) {
      if (signal.aborted) return { reason: 'aborted', progressed };
      return { reason: 'watch-error', progressed, error };
    } finally {
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

/** True when `value` looks like a {@link WatchableStore}. */
export function isWatchableStore(value: unknown): value is WatchableStore<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { list?: unknown }).list === 'function' &&
    typeof (value as { watch?: unknown }).watch === 'function'
  );
}

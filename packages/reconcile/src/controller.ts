// Controllers in the controller-runtime mould: sources → map → predicates → queue →
// workers → Reconciler, with controller-runtime's result semantics.
import { systemClock, sleep, type Clock } from './clock.js';
import { badOption, checkNonNegative, checkPositiveInteger, isTerminalError } from './errors.js';
import { toLogger, type Logger, type LoggerLike } from './logger.js';
import type { ControllerMetrics, ReconcileOutcome, WatchRestartReason } from './metrics.js';
import type { RateLimiter } from './rate-limiter.js';
import { isWatchableStore, storeSource, type Source, type SourceEvent } from './source.js';
import type { WatchableStore } from './store.js';
import { WorkQueue } from './work-queue.js';

/** What a reconcile may ask for besides success. */
export interface ReconcileResult {
  /**
   * Reconcile this key again after this many ms (e.g. to poll something that sends no
   * events). Clears the key's backoff. Ignored when the call throws. Values <= 0 mean
   * nothing (as controller-runtime's zero `RequeueAfter`).
   */
  requeueAfterMs?: number;
}

/** Passed to each reconcile call. */
export interface ReconcileContext {
  /**
   * Aborted when the controller stops and its `gracefulShutdownTimeoutMs` has run out:
   * finish or abandon the work then.
   */
  readonly signal: AbortSignal;
}

/**
 * Drives the world towards the desired state for one key.
 *
 * Reconciliation is **level-based**, not edge-based: the key says *what* to look at, not
 * *what changed*. Read the current desired and observed state, act to close the gap, and
 * return; events may be coalesced (stingy queue), duplicated (resyncs, re-lists) or
 * reordered, and a deleted object's key arrives like any other.
 *
 * Results (controller-runtime's semantics):
 * - return nothing (or `{}`): success — the key's backoff is forgotten; it comes back
 *   only with a new event or resync;
 * - return `{ requeueAfterMs }`: success, backoff forgotten, reconcile again after that
 *   delay (a new event may bring it earlier);
 * - throw: requeued with the rate limiter (per-key exponential backoff and the overall
 *   bucket) — an error wins over any `requeueAfterMs`;
 * - throw a `TerminalError`: logged and counted, not requeued (its backoff is forgotten).
 *
 * A throw (or rejection) is caught per key: one bad key never stops the controller. A key
 * is never reconciled by two workers at once.
 */
export interface Reconciler {
  reconcile(key: string, context: ReconcileContext): ReconcileResult | void | Promise<ReconcileResult | void>;
}

/** A reconcile function, accepted wherever a {@link Reconciler} is. */
export type ReconcileFunction = Reconciler['reconcile'];

/**
 * Maps an event on an object to the keys to reconcile: one key, several, or none
 * (`undefined`/`null`/empty). E.g. an instance event → the key of its replica set.
 * @default the event's own key
 */
export type MapFunction<T> = (object: T, event: SourceEvent<T>) => string | Iterable<string> | undefined | null;

/** An event filter: the event is dropped unless every predicate returns true. */
export type Predicate<T> = (event: SourceEvent<T>) => boolean;

/** Options of one watch. */
export interface ControllerWatchOptions<T> {
  /** Event filters. @default none */
  predicates?: readonly Predicate<T>[];
}

/** @deprecated Renamed {@link ControllerWatchOptions} (issue 18: `WatchOptions` is also a cluster store's and the Raft KV client's). */
export type WatchOptions<T> = ControllerWatchOptions<T>;

/** Returned by {@link Controller.watch}. */
export interface WatchHandle {
  /** Stops the source (if running) and removes the watch; resolves once it stopped. */
  remove(): Promise<void>;
}

/** Options of a {@link Controller}; every one has a default. */
export interface ControllerOptions {
  /** How many keys are reconciled at once (never the same key twice). @default 1 */
  concurrency?: number;
  /** Backoff of failed keys. @default defaultControllerRateLimiter({ clock }) */
  rateLimiter?: RateLimiter<string>;
  /** Time source (queue delays, sources, durations). @default systemClock */
  clock?: Clock;
  /** Where the controller logs. @default silentLogger */
  logger?: LoggerLike;
  /** Metric hooks. @default none */
  metrics?: ControllerMetrics;
  /** Stops the controller gracefully when aborted (see {@link Controller.run}). @default never */
  signal?: AbortSignal;
  /**
   * After a stop is requested, how long in-flight reconciles may run before their
   * `signal` is aborted. @default 30_000
   */
  gracefulShutdownTimeoutMs?: number;
  /** See {@link WorkQueueOptions.lowPriorityInterval}. @default 10 */
  lowPriorityInterval?: number;
}

interface WatchEntry {
  readonly source: Source<unknown>;
  readonly mapFn: MapFunction<unknown> | undefined;
  readonly predicates: readonly Predicate<unknown>[];
  abort: AbortController | undefined;
  done: Promise<void> | undefined;
  synced: boolean;
}

/**
 * A controller: watches feed keys into a {@link WorkQueue}; `concurrency` workers take keys
 * and call the {@link Reconciler}. Build one with {@link controller} or `new Controller`.
 * Watches can be added and removed while it runs. A controller runs once.
 */
export class Controller {
  readonly name: string;
  /** The controller's queue (to enqueue keys by hand, or inspect in tests). */
  readonly queue: WorkQueue<string>;
  readonly #reconcile: ReconcileFunction;
  readonly #reconciler: Reconciler;
  readonly #concurrency: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #metrics: ControllerMetrics | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #graceMs: number;
  readonly #watches = new Set<WatchEntry>();
  readonly #reconcileAbort = new AbortController();
  /** One context object for every call (its signal aborts at the end of the grace period). */
  readonly #context: ReconcileContext = Object.freeze({ signal: this.#reconcileAbort.signal });
  #state: 'new' | 'running' | 'stopped' = 'new';
  #stopRequested: (() => void) | undefined;
  #syncWaiters: (() => void)[] = [];

  constructor(name: string, reconciler: Reconciler | ReconcileFunction, options: ControllerOptions = {}) {
    if (typeof name !== 'string' || name === '') badOption('name', 'a non-empty string', name);
    if (typeof options !== 'object' || options === null) badOption('options', 'an object', options);
    this.name = name;
    if (typeof reconciler === 'function') {
      this.#reconciler = { reconcile: reconciler };
    } else if (typeof reconciler === 'object' && reconciler !== null && typeof reconciler.reconcile === 'function') {
      this.#reconciler = reconciler;
    } else {
      badOption('reconciler', 'a Reconciler or a function', reconciler);
    }
    this.#reconcile = this.#reconciler.reconcile.bind(this.#reconciler);
    this.#concurrency = checkPositiveInteger('concurrency', options.concurrency ?? 1);
    this.#clock = options.clock ?? systemClock;
    this.#logger = toLogger(options.logger);
    this.#metrics = options.metrics;
    this.#signal = options.signal;
    this.#graceMs = checkNonNegative('gracefulShutdownTimeoutMs', options.gracefulShutdownTimeoutMs ?? 30_000);
    const m = this.#metrics;
    this.queue = new WorkQueue<string>({
      clock: this.#clock,
      ...(options.rateLimiter !== undefined && { rateLimiter: options.rateLimiter }),
      ...(options.lowPriorityInterval !== undefined && { lowPriorityInterval: options.lowPriorityInterval }),
      ...(m !== undefined && {
        metrics: {
          ...(m.queueAdd && { add: (key: string) => m.queueAdd?.(name, key) }),
          ...(m.queueRetry && { retry: (key: string) => m.queueRetry?.(name, key) }),
          ...(m.queueDepth && { depth: (depth: number) => m.queueDepth?.(name, depth) }),
          ...(m.queueGet && { get: (key: string) => m.queueGet?.(name, key) }),
          ...(m.queueDone && { done: (key: string) => m.queueDone?.(name, key) }),
        },
      }),
    });
  }

  /**
   * Feeds events of `source` (or of a store, wrapped with `storeSource`) through
   * `predicates` and `mapFn` into the queue. Starts at once when the controller is running.
   */
  watch<T>(source: Source<T> | WatchableStore<T>, mapFn?: MapFunction<T>, options: ControllerWatchOptions<T> = {}): WatchHandle {
    const src: Source<T> = isWatchableStore(source) ? storeSource(source) : (source);
    if (typeof src !== 'object' || src === null || typeof src.run !== 'function') {
      badOption('source', 'a Source or a WatchableStore', source);
    }
    if (mapFn !== undefined && typeof mapFn !== 'function') badOption('mapFn', 'a function', mapFn);
    const entry: WatchEntry = {
      source: src,
      mapFn: mapFn as MapFunction<unknown> | undefined,
      predicates: (options.predicates ?? []) as readonly Predicate<unknown>[],
      abort: undefined,
      done: undefined,
      synced: false,
    };
    this.#watches.add(entry);
    if (this.#state === 'running') this.#startWatch(entry);
    return {
      remove: async () => {
        this.#watches.delete(entry);
        entry.abort?.abort();
        await entry.done;
        this.#checkSynced();
      },
    };
  }

  /** True once every current watch has delivered its first full list. */
  hasSynced(): boolean {
    for (const w of this.#watches) if (!w.synced) return false;
    return true;
  }

  /** Resolves once {@link hasSynced} is true. */
  waitForSync(): Promise<void> {
    if (this.hasSynced()) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  /**
   * Runs the controller until `signal` (or the `signal` option) aborts, then stops
   * gracefully: sources stop, no new events are accepted, keys already queued and
   * in-flight reconciles finish (their `signal` is aborted only after
   * `gracefulShutdownTimeoutMs`), then the returned promise resolves.
   */
  async run(signal: AbortSignal | undefined = this.#signal): Promise<void> {
    if (this.#state !== 'new') throw new Error(`controller "${this.name}" has already been started; a controller runs once`);
    this.#state = 'running';
    const stopped = new Promise<void>((resolve) => {
      this.#stopRequested = resolve;
      if (signal?.aborted) resolve();
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    for (const entry of this.#watches) this.#startWatch(entry);
    this.#metrics?.workers?.(this.name, this.#concurrency);
    const workers: Promise<void>[] = [];
    for (let i = 0; i < this.#concurrency; i++) workers.push(this.#worker());
    await stopped;
    this.#logger.info('controller stopping', { controller: this.name });
    const sourceStops: Promise<void>[] = [];
    for (const entry of this.#watches) {
      entry.abort?.abort();
      if (entry.done) sourceStops.push(entry.done);
    }
    const drained = this.queue.shutDownWithDrain();
    const grace = new AbortController();
    void sleep(this.#clock, this.#graceMs, grace.signal).then((elapsed) => {
      if (elapsed) this.#reconcileAbort.abort(new Error(`controller "${this.name}" stopped`));
    });
    await Promise.all([...workers, drained, ...sourceStops]);
    grace.abort();
    this.#state = 'stopped';
    this.#logger.info('controller stopped', { controller: this.name });
  }

  /** Requests a graceful stop, like aborting the run signal. */
  stop(): void {
    this.#stopRequested?.();
  }

  #startWatch(entry: WatchEntry): void {
    const abort = new AbortController();
    entry.abort = abort;
    const name = this.name;
    const queue = this.queue;
    const { mapFn, predicates } = entry;
    const emit = (event: SourceEvent<unknown>): void => {
      for (const p of predicates) if (!p(event)) return;
      const priority = event.origin === 'initial-list' || event.origin === 'resync' ? 'low' : 'normal';
      if (mapFn === undefined) {
        queue.add(event.key, priority);
        return;
      }
      let keys: string | Iterable<string> | undefined | null;
      try {
        keys = mapFn(event.object, event);
      } catch (error) {
        this.#logger.error('map function threw; event dropped', { controller: name, key: event.key, error });
        return;
      }
      if (keys === undefined || keys === null) return;
      if (typeof keys === 'string') queue.add(keys, priority);
      else for (const key of keys) queue.add(key, priority);
    };
    entry.done = Promise.resolve()
      .then(() =>
        entry.source.run({
          emit,
          signal: abort.signal,
          clock: this.#clock,
          logger: this.#logger,
          synced: () => {
            entry.synced = true;
            this.#checkSynced();
          },
          restarted: (reason: WatchRestartReason) => this.#metrics?.watchRestart?.(name, entry.source.name, reason),
        }),
      )
      .catch((error: unknown) => {
        this.#logger.error('source failed', { controller: name, source: entry.source.name, error });
      });
  }

  #checkSynced(): void {
    if (this.#syncWaiters.length === 0 || !this.hasSynced()) return;
    const waiters = this.#syncWaiters;
    this.#syncWaiters = [];
    for (const resolve of waiters) resolve();
  }

  async #worker(): Promise<void> {
    const queue = this.queue;
    for (;;) {
      let key = queue.tryGet();
      if (key === undefined) {
        const item = await queue.get();
        if (item.shutdown) return;
        key = item.key;
      }
      await this.#process(key);
    }
  }

  async #process(key: string): Promise<void> {
    const queue = this.queue;
    const metrics = this.#metrics;
    const start = metrics?.reconcileDuration !== undefined ? this.#clock.now() : 0;
    let outcome: ReconcileOutcome;
    try {
      let result = this.#reconcile(key, this.#context);
      if (result !== undefined && typeof (result as Promise<unknown>).then === 'function') result = await result;
      const after = (result as ReconcileResult | undefined)?.requeueAfterMs;
      queue.forget(key);
      if (typeof after === 'number' && after > 0) {
        queue.addAfter(key, after);
        outcome = 'requeue-after';
      } else {
        outcome = 'success';
      }
    } catch (error) {
      metrics?.reconcileError?.(this.name, key, error);
      if (isTerminalError(error)) {
        queue.forget(key);
        outcome = 'terminal';
        this.#logger.error('reconcile failed terminally; not requeued', { controller: this.name, key, error });
      } else {
        queue.addRateLimited(key);
        outcome = 'error';
        this.#logger.warn('reconcile failed; requeued with backoff', {
          controller: this.name,
          key,
          error,
          requeues: queue.numRequeues(key),
        });
      }
    } finally {
      queue.done(key);
    }
    metrics?.reconcileDuration?.(this.name, key, this.#clock.now() - start, outcome);
  }
}

/** Builds a {@link Controller} in controller-runtime's builder style. */
export class ControllerBuilder {
  readonly #name: string;
  readonly #watches: { source: Source<unknown> | WatchableStore<unknown>; mapFn?: MapFunction<unknown>; options?: ControllerWatchOptions<unknown> }[] = [];
  #options: ControllerOptions = {};

  constructor(name: string) {
    if (typeof name !== 'string' || name === '') badOption('name', 'a non-empty string', name);
    this.#name = name;
  }

  /** Adds a watch (see {@link Controller.watch}). */
  watches<T>(source: Source<T> | WatchableStore<T>, mapFn?: MapFunction<T>, options?: ControllerWatchOptions<T>): this {
    this.#watches.push({
      source: source,
      ...(mapFn !== undefined && { mapFn: mapFn as MapFunction<unknown> }),
      ...(options !== undefined && { options: options as ControllerWatchOptions<unknown> }),
    });
    return this;
  }

  /** Sets controller options (merged over earlier calls). */
  withOptions(options: ControllerOptions): this {
    if (typeof options !== 'object' || options === null) badOption('options', 'an object', options);
    this.#options = { ...this.#options, ...options };
    return this;
  }

  /** Creates the controller (not started: call `run`). */
  complete(reconciler: Reconciler | ReconcileFunction): Controller {
    const c = new Controller(this.#name, reconciler, this.#options);
    for (const w of this.#watches) c.watch(w.source, w.mapFn, w.options);
    return c;
  }
}

/**
 * Starts a controller builder:
 * `controller('replicasets').watches(store).watches(instances, toOwner).withOptions({ concurrency: 4 }).complete(reconciler)`.
 */
export function controller(name: string): ControllerBuilder {
  return new ControllerBuilder(name);
}

// Sources feed a controller's queue: a watchable store listed then watched, with resync,
// liveness deadlines and re-list with backoff.
import type { Clock } from './clock.js';
import { badOption, checkNonNegative, checkPositive } from './errors.js';
import { Informer } from './informer.js';
import type { Logger } from './logger.js';
import type { WatchRestartReason } from './metrics.js';
import type { WatchableStore } from './store.js';

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
   * long is dropped and opened again from the last revision seen (the store replays what
   * was missed; listed again only if that history was compacted). Keep it above the store's
   * progress interval. @default 30_000
   */
  watchTimeoutMs?: number;
  /** First re-list delay after a failure, doubling per consecutive failure. @default 800 */
  relistBaseDelayMs?: number;
  /** Cap of the re-list delay. @default 30_000 */
  relistMaxDelayMs?: number;
}

/**
 * A source over a {@link WatchableStore}, in the manner of client-go's reflector + informer:
 *
 * 1. `list()`, emitting every object (`added`, origin `initial-list`; after a lost watch,
 *    origin `relist` with only the differences against the cache, deletions included);
 * 2. `watch(revision + 1)`, emitting each change (origin `watch`);
 * 3. when the watch ends or stays silent past `watchTimeoutMs`, back to 2 from the last
 *    revision seen (the store replays what was missed: no list);
 * 4. when the watch expires (compaction) or throws, back to 1 — at once after an `expired`
 *    that followed progress, otherwise after an exponential backoff (`relistBaseDelayMs`
 *    doubling up to `relistMaxDelayMs`, reset by progress).
 *
 * A controller with such a source is therefore never silently dead: a stalled watch is
 * noticed within `watchTimeoutMs` and resumed; state lost to a compaction is recovered by
 * listing. Each run of the
 * source is a private {@link Informer}; to share one list and watch between controllers
 * (and read its cache), make an `Informer` and use its `source()`.
 */
export function storeSource<T>(store: WatchableStore<T>, options: StoreSourceOptions = {}): Source<T> {
  if (!isWatchableStore(store)) badOption('store', 'a WatchableStore (list and watch methods)', store);
  const name = options.name ?? 'store';
  const settings = {
    name,
    resyncPeriodMs: checkNonNegative('resyncPeriodMs', options.resyncPeriodMs ?? 0),
    watchTimeoutMs: checkPositive('watchTimeoutMs', options.watchTimeoutMs ?? 30_000),
    relistBaseDelayMs: checkNonNegative('relistBaseDelayMs', options.relistBaseDelayMs ?? 800),
    relistMaxDelayMs: checkNonNegative('relistMaxDelayMs', options.relistMaxDelayMs ?? 30_000),
  };
  return {
    name,
    async run(ctx: SourceContext<T>): Promise<void> {
      const informer = new Informer(store, { ...settings, clock: ctx.clock, logger: ctx.logger });
      const remove = informer.addHandler({ onEvent: (e) => ctx.emit(e), onSynced: () => ctx.synced(), onRestart: (r, e) => ctx.restarted(r, e) });
      try {
        await informer.run(ctx.signal);
      } finally {
        remove();
      }
    },
  };
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

// @flotilla/reconcile — the loop from the talk, done right: a work queue with client-go's
// guarantees, rate limiters, controllers, diff, the watchable store contract and leader
// election.
export { systemClock, sleep } from './clock.js';
export type { Clock, Timer } from './clock.js';

export {
  ReconcileError,
  TerminalError,
  ConflictError,
  NotFoundError,
  isReconcileError,
  isTerminalError,
  isConflictError,
  isNotFoundError,
} from './errors.js';
export type { ReconcileErrorCode } from './errors.js';

export {
  ExponentialFailureRateLimiter,
  BucketRateLimiter,
  FastSlowRateLimiter,
  MaxOfRateLimiter,
  MaxWaitRateLimiter,
  defaultControllerRateLimiter,
} from './rate-limiter.js';
export type {
  RateLimiter,
  ExponentialFailureRateLimiterOptions,
  BucketRateLimiterOptions,
  FastSlowRateLimiterOptions,
  DefaultControllerRateLimiterOptions,
} from './rate-limiter.js';

export { WorkQueue } from './work-queue.js';
export type { Priority, QueueItem, WorkQueueMetrics, WorkQueueOptions } from './work-queue.js';

export type {
  StoreEntry,
  ListResult,
  ObjectEvent,
  ProgressEvent,
  ExpiredEvent,
  WatchEvent,
  StoreCallOptions,
  ListOptions,
  WatchableStore,
  CompareAndSetResult,
  CompareAndSetStore,
} from './store.js';

export { storeSource, isWatchableStore } from './source.js';
export type { EventOrigin, SourceEvent, SourceContext, Source, StoreSourceOptions } from './source.js';

export { Informer } from './informer.js';
export type { InformerOptions, InformerHandler, IndexFunction } from './informer.js';

export { Controller, ControllerBuilder, controller } from './controller.js';
export type {
  ReconcileResult,
  ReconcileContext,
  Reconciler,
  ReconcileFunction,
  MapFunction,
  Predicate,
  ControllerWatchOptions,
  WatchOptions,
  WatchHandle,
  ControllerOptions,
} from './controller.js';

export { diff, deepEqual } from './diff.js';
export type { DiffOptions, DiffResult, DiffUpdate } from './diff.js';

export { LeaderElector } from './leader-election.js';
export type { LeaseRecord, LeadingContext, LeaderElectorOptions } from './leader-election.js';

export { silentLogger, toLogger, isPinoLogger } from './logger.js';
export type { Logger, LoggerLike, PinoLogger, PinoLogFn } from './logger.js';
export type { ControllerMetrics, ReconcileOutcome, WatchRestartReason } from './metrics.js';

export { seededRandom } from './random.js';

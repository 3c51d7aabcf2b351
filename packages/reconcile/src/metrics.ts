/** What happened to one reconcile call. */
export type ReconcileOutcome = 'success' | 'requeue-after' | 'error' | 'terminal';

/** Why a source dropped its watch: it resumes it from the last revision seen (`stalled`, `ended`) or lists again (the others). */
export type WatchRestartReason = 'list-error' | 'watch-error' | 'stalled' | 'expired' | 'ended';

/**
 * Metric hooks of a controller: plain optional callbacks, so any metrics library (or a
 * test) can plug in without a dependency.
 */
export interface ControllerMetrics {
  /** Keys waiting in the controller's queue, on every change. */
  queueDepth?(controller: string, depth: number): void;
  /** A key became dirty in the queue. */
  queueAdd?(controller: string, key: string): void;
  /** A delayed or rate-limited re-add. */
  queueRetry?(controller: string, key: string): void;
  /** A worker took `key` from the queue (its wait since the add ends; its processing starts). */
  queueGet?(controller: string, key: string): void;
  /** A worker finished with `key` (its processing ends). */
  queueDone?(controller: string, key: string): void;
  /** One reconcile finished, with its duration on the controller's clock. */
  reconcileDuration?(controller: string, key: string, durationMs: number, outcome: ReconcileOutcome): void;
  /** A reconcile threw (including `TerminalError`). */
  reconcileError?(controller: string, key: string, error: unknown): void;
  /** The controller started with this many workers (its `concurrency`). */
  workers?(controller: string, workers: number): void;
  /** A source dropped its watch and is listing again. */
  watchRestart?(controller: string, source: string, reason: WatchRestartReason): void;
}

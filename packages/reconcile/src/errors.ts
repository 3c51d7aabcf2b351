/** Every error code this package produces. */
export type ReconcileErrorCode =
  | 'terminal'
  | 'conflict'
  | 'not-found'
  | 'duplicate-key'
  | 'watch-expired'
  | 'watch-stalled';

const BRAND = Symbol.for('@flotilla/reconcile/error');

/**
 * Base class of every error thrown by `@flotilla/reconcile`. Test with
 * {@link isReconcileError} rather than `instanceof`, which breaks across duplicate installs.
 */
export class ReconcileError extends Error {
  override name = 'ReconcileError';
  readonly code: ReconcileErrorCode;
  readonly [BRAND] = true;

  constructor(code: ReconcileErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * Thrown from `Reconciler.reconcile` to say "retrying will not help": the controller logs
 * and counts it but does not requeue the key (as controller-runtime's `TerminalError`). A
 * later event for the key still triggers a fresh reconcile.
 */
export class TerminalError extends ReconcileError {
  override name = 'TerminalError';
  declare readonly code: 'terminal';

  /** @param cause the underlying error or a message explaining why retrying is pointless */
  constructor(cause: unknown) {
    super(
      'terminal',
      cause instanceof Error ? cause.message : String(cause),
      cause instanceof Error ? { cause } : undefined,
    );
  }
}

/** A compare-and-set write whose expected revision did not match the stored one. */
export class ConflictError extends ReconcileError {
  override name = 'ConflictError';
  declare readonly code: 'conflict';
  /** The key whose write was refused. */
  readonly key: string;
  /** The revision the writer expected the key to have (0 = absent). */
  readonly expectedRevision: number;
  /** The key's current modification revision (0 when the key is absent). */
  readonly currentRevision: number;

  constructor(key: string, expectedRevision: number, currentRevision: number) {
    super(
      'conflict',
      `conflict on "${key}": expected revision ${expectedRevision}, found ${currentRevision === 0 ? 'no such key' : `revision ${currentRevision}`}`,
    );
    this.key = key;
    this.expectedRevision = expectedRevision;
    this.currentRevision = currentRevision;
  }
}

/** A key that does not exist. */
export class NotFoundError extends ReconcileError {
  override name = 'NotFoundError';
  declare readonly code: 'not-found';
  readonly key: string;

  constructor(key: string) {
    super('not-found', `"${key}" not found`);
    this.key = key;
  }
}

/** True for any error thrown by this package, even from another copy of it. */
export function isReconcileError(value: unknown): value is ReconcileError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** True for a {@link TerminalError} (or any reconcile error with code `terminal`). */
export function isTerminalError(value: unknown): value is TerminalError {
  return isReconcileError(value) && value.code === 'terminal';
}

/** True for a {@link ConflictError}. */
export function isConflictError(value: unknown): value is ConflictError {
  return isReconcileError(value) && value.code === 'conflict';
}

/** True for a {@link NotFoundError}. */
export function isNotFoundError(value: unknown): value is NotFoundError {
  return isReconcileError(value) && value.code === 'not-found';
}

/** @internal Throws the house-style TypeError for a bad option. */
export function badOption(name: string, expected: string, received: unknown): never {
  let shown: string;
  try {
    shown = typeof received === 'string' ? JSON.stringify(received) : String(received);
  } catch {
    shown = typeof received;
  }
  throw new TypeError(`Expected \`${name}\` to be ${expected}, got ${shown} (${typeof received})`);
}

/** @internal */
export function checkNonNegative(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    badOption(name, 'a finite number >= 0', value);
  }
  return value;
}

/** @internal */
export function checkPositive(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    badOption(name, 'a finite number > 0', value);
  }
  return value;
}

/** @internal */
export function checkPositiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    badOption(name, 'an integer > 0', value);
  }
  return value;
}

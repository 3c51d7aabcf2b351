/** KvError: the one error class of the KV store, server and client, with its stable codes. */
/** Stable codes of {@link KvError}. */
export type KvErrorCode =
  | 'bad-request'
  | 'unauthorized'
  | 'not-found'
  | 'lease-not-found'
  | 'member-not-found'
  | 'member-exists'
  | 'conflict'
  | 'compacted'
  | 'future-revision'
  | 'too-large'
  | 'method-not-allowed'
  | 'learner-not-ready'
  | 'too-many-requests'
  | 'no-leader'
  | 'not-leader'
  | 'timeout'
  | 'unavailable'
  | 'stopped'
  | 'invalid'
  | 'internal';

/** Details an error may carry (as in the HTTP error body). */
export interface KvErrorDetails {
  readonly cause?: unknown;
  /** For `conflict`: the key's current modRevision (0 when absent). */
  readonly modRevision?: number;
  /** For `compacted`: the compaction revision. */
  readonly compactRevision?: number;
  /** HTTP status, when the error came from (or goes to) the HTTP API. */
  readonly status?: number;
  /** Whether the failed request may still have taken effect (a 5xx or a timeout after sending). */
  readonly mayHaveEffect?: boolean;
}

/**
 * The one error class of the KV store, server and client: a stable string `code`, a message
 * for people and the details of the HTTP error shape.
 */
export class KvError extends Error {
  override readonly name = 'KvError';
  readonly code: KvErrorCode;
  readonly modRevision: number | undefined;
  readonly compactRevision: number | undefined;
  readonly status: number | undefined;
  /** True when the request may have been applied even though it failed (unknown outcome). */
  readonly mayHaveEffect: boolean;

  constructor(code: KvErrorCode, message: string, details: KvErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.modRevision = details.modRevision;
    this.compactRevision = details.compactRevision;
    this.status = details.status;
    this.mayHaveEffect = details.mayHaveEffect ?? false;
  }
}

/** True for a {@link KvError}, also across duplicate installs of the package. */
export function isKvError(value: unknown): value is KvError {
  return value instanceof Error && value.name === 'KvError' && typeof (value as { code?: unknown }).code === 'string';
}

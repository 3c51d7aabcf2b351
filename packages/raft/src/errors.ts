/**
 * The errors of @flotilla/raft: one base class with stable codes, its subclasses, and the
 * storage errors' factories.
 *
 * Every error this package raises is a {@link RaftError} with a stable string `code`.
 * Use {@link isRaftError} (not `instanceof`, which breaks across duplicate installs).
 */
export type RaftErrorCode =
  /** A proposal was not accepted (not leader, leadership transfer in progress, removed node, size limit). */
  | 'proposal-dropped'
  /** The requested index is older than the storage's compacted prefix. */
  | 'compacted'
  /** The requested index is newer than the storage's last index. */
  | 'unavailable'
  /** A snapshot older than the one already held was offered. */
  | 'snapshot-out-of-date'
  /** The storage cannot produce a snapshot right now; the core retries later. */
  | 'snapshot-temporarily-unavailable'
  /** A configuration change was refused (one still uncommitted, invalid, or no entry committed in this term yet). */
  | 'config-change-refused'
  /** The write-ahead log or snapshot on disk is corrupt in a place that cannot be a torn write. */
  | 'corrupt-storage'
  /** The storage was used after close, or with inconsistent arguments. */
  | 'storage-misuse'
  /** The RawNode API was called in the wrong order (e.g. `ready()` twice without `advance()`). */
  | 'api-misuse'
  // ---- a RaftNode request (propose, read, membership change); see RaftNodeError ----
  /** No leader is known right now (or the leader is unreachable, or the proposal was lost in a leader change): nothing was applied; retry. */
  | 'no-leader'
  /** This member may not make the request (a learner proposing, a follower changing membership): nothing was proposed. */
  | 'not-leader'
  /** The request did not complete in time; a write may or may not have been applied. */
  | 'timeout'
  /** Too many requests are waiting on this member: nothing was proposed; retry shortly. */
  | 'overloaded'
  /** The command is larger than one entry may be: nothing was proposed. */
  | 'too-large'
  /** The member is shutting down. */
  | 'stopped'
  /** The leader refused the command as invalid: a definite failure. */
  | 'refused'
  /** The member failed (a storage error) or could not take the request for another reason. */
  | 'failed';

const BRAND = Symbol.for('@flotilla/raft/RaftError');

/** The base error of `@flotilla/raft`: a readable message, a stable `code` and an optional `cause`. */
export class RaftError extends Error {
  override readonly name: string = 'RaftError';
  readonly code: RaftErrorCode;
  readonly [BRAND] = true;

  constructor(code: RaftErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A proposal was dropped; `reason` says why in one stable word. */
export class ProposalDroppedError extends RaftError {
  override readonly name = 'ProposalDroppedError';
  readonly reason: 'not-leader' | 'transferring' | 'removed' | 'too-large';
  /** The leader this node knows of (0 when none), so a caller can redirect. */
  readonly leader: number;
  constructor(reason: ProposalDroppedError['reason'], leader: number, message: string) {
    super('proposal-dropped', message);
    this.reason = reason;
    this.leader = leader;
  }
}

/**
 * A request to a {@link RaftNode} failed. `mayHaveEffect` is true when the request may still
 * have been applied (a write that timed out, or was cut short by shutdown after it was proposed).
 */
export class RaftNodeError extends RaftError {
  override readonly name = 'RaftNodeError';
  readonly mayHaveEffect: boolean;
  constructor(code: RaftErrorCode, message: string, options?: { cause?: unknown; mayHaveEffect?: boolean }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.mayHaveEffect = options?.mayHaveEffect ?? false;
  }
}

/** Storage corruption that recovery refuses to repair: where it is and what was found. */
export class CorruptStorageError extends RaftError {
  override readonly name = 'CorruptStorageError';
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, detail: string, options?: { cause?: unknown }) {
    super('corrupt-storage', `corrupt write-ahead log ${file} at byte ${offset}: ${detail}; refusing to start (nothing is dropped silently) — restore this member from a snapshot or remove and re-add it`, options);
    this.file = file;
    this.offset = offset;
  }
}

/** True for any error raised by this package, optionally of one `code`. */
export function isRaftError(value: unknown, code?: RaftErrorCode): value is RaftError {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[BRAND] !== true) return false;
  return code === undefined || (value as RaftError).code === code;
}

/** The `compacted` error a Storage throws for reads below its first index. */
export const errCompacted = (): RaftError =>
  new RaftError('compacted', 'requested index is unavailable due to compaction');
/** The `unavailable` error a Storage throws for reads past its last index. */
export const errUnavailable = (): RaftError =>
  new RaftError('unavailable', 'requested entry at index is unavailable');
/** The `snapshot-out-of-date` error. */
export const errSnapOutOfDate = (): RaftError =>
  new RaftError('snapshot-out-of-date', 'requested index is older than the existing snapshot');

/** The core's data: ids, entries, hard state, membership, snapshots, messages. */
/** A member's id. 0 means "none". */
export type NodeId = number;

/** What an entry carries: application data, or a membership change (encoded {@link ConfChange}). */
export type EntryType = 'normal' | 'conf-change';

/** One log entry. `data` is opaque to the core (empty for the no-op a new leader appends). */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** The state that must be durable before messages depending on it are sent. */
export interface HardState {
  readonly term: number;
  /** Who this node voted for in `term` (0 = nobody). */
  readonly vote: NodeId;
  /** The commit index, persisted so that it is recoverable on restart. */
  readonly commit: number;
}

/** A membership: voters decide elections and commitment; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** A snapshot of the application's state machine at `index`, with the membership at that point. */
export interface Snapshot {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
  readonly data: Uint8Array;
}

/** A single-server membership change (see the README: changes take effect on append). */
export interface ConfChange {
  /** `add-voter` also promotes a learner; `add-learner` also demotes a voter; `remove-node` removes either. */
  readonly type: 'add-voter' | 'add-learner' | 'remove-node';
  readonly nodeId: NodeId;
  /** Opaque to the core (e.g. the new member's URLs). */
  readonly context?: Uint8Array;
}

/**
 * Messages between members. The numbering is stable so a transport can write the type as
 * one byte; {@link MESSAGE_TYPES} lists them in code order.
 */
export type MessageType =
  | 'append'
  | 'append-response'
  | 'vote'
  | 'vote-response'
  | 'pre-vote'
  | 'pre-vote-response'
  | 'heartbeat'
  | 'heartbeat-response'
  | 'snapshot'
  | 'timeout-now'
  | 'read-index'
  | 'read-index-response';

/** Message types in wire-code order (index = code). */
export const MESSAGE_TYPES: readonly MessageType[] = [
  'append',
  'append-response',
  'vote',
  'vote-response',
  'pre-vote',
  'pre-vote-response',
  'heartbeat',
  'heartbeat-response',
  'snapshot',
  'timeout-now',
  'read-index',
  'read-index-response',
];

/**
 * A message between two members. A flat record of numbers, an entry list, and two optional
 * byte fields, so a transport can frame it in binary without a schema library.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /** append: term of the entry at `index`; vote: candidate's last log term; responses: see code. */
  readonly logTerm: number;
  /** append: index preceding `entries`; responses: the index acknowledged or rejected; vote: last log index. */
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  /** On a rejected append: the follower's hint for the leader's next probe. */
  readonly rejectHint: number;
  readonly snapshot?: Snapshot | undefined;
  /** Read-index request context, and the "leadership transfer" marker on votes. */
  readonly context?: Uint8Array | undefined;
}

/** Roles. Pre-candidates run the pre-vote round before a real election. */
export type StateRole = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** A linearizable read point: once `index` is applied, reads for `context` may be served. */
export interface ReadState {
  readonly index: number;
  readonly context: Uint8Array;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: 0, commit: 0 };
export const EMPTY_CONF_STATE: ConfState = { voters: [], learners: [] };
export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);
export const EMPTY_SNAPSHOT: Snapshot = { index: 0, term: 0, confState: EMPTY_CONF_STATE, data: EMPTY_BYTES };

/** True when two hard states are equal. */
export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** True for the all-zero hard state. */
export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === 0 && hs.commit === 0;
}

/** Payload size used for batching limits (bytes of data plus a fixed per-entry overhead). */
export function entrySize(e: Entry): number {
  return e.data.length + 16;
}

/** The KV store's data: key-values, commands, results, watch events. */
/** A key's current state, as returned by reads and carried by put events. */
export interface KeyValue {
  readonly key: string;
  readonly value: string;
  /** Revision of the write that created this incarnation of the key. */
  readonly createRevision: number;
  /** Revision of the last write to the key (the write's global revision). */
  readonly modRevision: number;
  /** Number of writes since creation: 1 after the first put; reset by a delete. */
  readonly version: number;
  /** Lease the key is attached to, if any. */
  readonly lease?: string;
}

/** A change observed by a watch. Delete events carry `value: ""` and zero create/version, as etcd. */
export interface WatchEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}

/** A compare in a transaction: the key's modRevision must equal `modRevision` (`0` = key absent). */
export interface TxnCompare {
  readonly key: string;
  readonly modRevision: number;
}

/** One operation of a transaction branch. */
export type TxnOp =
  | { readonly put: { readonly key: string; readonly value: string; readonly lease?: string } }
  | { readonly delete: { readonly key: string } }
  | { readonly get: { readonly key: string } };

/** The result of one transaction operation, in the order of the branch. */
export type TxnOpResult =
  | { readonly put: { readonly revision: number } }
  | { readonly delete: { readonly deleted: number; readonly revision: number } }
  | { readonly get: KeyValue | null };

/**
 * A command replicated through the Raft log. Every member applies the same commands in the
 * same order and reaches the same state: nothing here reads a clock or a random source.
 */
export type KvCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: string; readonly prevRevision?: number; readonly lease?: string }
  | { readonly op: 'delete'; readonly key: string; readonly prevRevision?: number }
  | { readonly op: 'txn'; readonly compare: readonly TxnCompare[]; readonly success: readonly TxnOp[]; readonly failure: readonly TxnOp[] }
  | { readonly op: 'compact'; readonly revision: number }
  | { readonly op: 'lease-grant'; readonly ttlSeconds: number }
  | { readonly op: 'lease-keepalive'; readonly id: string }
  /** Renews many leases in one log entry (a process holding many, e.g. `flo agent --hollow`); a missing one is reported, not an error. */
  | { readonly op: 'lease-keepalives'; readonly ids: readonly string[] }
  | { readonly op: 'lease-revoke'; readonly id: string }
  /** Proposed by the leader when its lease timer says a lease ran out. */
  | { readonly op: 'lease-expire'; readonly id: string };

/** Stable error codes the state machine produces (the HTTP layer maps them to statuses). */
export type KvApplyErrorCode = 'conflict' | 'not-found' | 'lease-not-found' | 'compacted' | 'future-revision' | 'invalid';

/** The outcome of applying one command. Errors are definite: the command changed nothing. */
export type KvResult =
  | { readonly type: 'put'; readonly revision: number }
  | { readonly type: 'delete'; readonly revision: number }
  | { readonly type: 'txn'; readonly succeeded: boolean; readonly revision: number; readonly results: readonly TxnOpResult[] }
  | { readonly type: 'compact'; readonly revision: number }
  | { readonly type: 'lease'; readonly id: string; readonly ttlSeconds: number; readonly revision: number }
  /** Of `lease-keepalives`: each id's TTL in the order asked, `0` for a lease that no longer exists (as etcd's keep-alive answers TTL 0). */
  | { readonly type: 'leases'; readonly leases: readonly { readonly id: string; readonly ttlSeconds: number }[]; readonly revision: number }
  | {
      readonly type: 'error';
      readonly code: KvApplyErrorCode;
      readonly message: string;
      /** For `conflict`: the key's current modRevision, 0 when absent. */
      readonly modRevision?: number;
      /** For `compacted`: the revision the history was compacted to. */
      readonly compactRevision?: number;
    };

/** A lease as the state machine knows it (expiry time lives in the driver, not here). */
export interface LeaseInfo {
  readonly id: string;
  readonly ttlSeconds: number;
  readonly keys: readonly string[];
}

/** A page of a prefix range. */
export interface RangeResult {
  readonly items: readonly KeyValue[];
  /** The store revision the page was read at. */
  readonly revision: number;
  /** True when more keys match after the last returned one. */
  readonly more: boolean;
}

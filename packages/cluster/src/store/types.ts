/**
 * The store contract every backend (file, Raft KV, etcd, memory) implements: an ordered
 * key-value map with a global revision (etcd's model), compare-and-set on a key's
 * modRevision, and watch from a revision. The typed layer (`ResourceStore`) turns it into
 * reconcile's `WatchableStore` per kind.
 */

/** One key with its revisions, as etcd reports it. */
export interface KeyValue {
  key: string;
  value: string;
  /** The revision that created the key (since its last deletion). */
  createRevision: number;
  /** The revision of the key's last change. */
  modRevision: number;
  /** Number of changes since creation (1 after creation). */
  version: number;
}

/** A change, a progress notice, or the news that the watch position was compacted. */
export type KvWatchEvent =
  | ({ type: 'put'; prevValue?: string } & KeyValue)
  | { type: 'delete'; key: string; modRevision: number; prevValue?: string }
  | { type: 'progress'; revision: number }
  | { type: 'expired'; compactRevision: number };

/** Options of a conditional write. */
export interface WriteOptions {
  /**
   * Compare-and-set: the write happens only if the key's modRevision equals this
   * (`0` = only if the key is absent); otherwise a `ConflictError` is thrown.
   * @default undefined (unconditional)
   */
  prevRevision?: number;
  /**
   * Attaches the key to a store lease ({@link KvLeases.grantLease}): the store deletes the key
   * when the lease expires or is revoked (etcd's leases). Only on stores with {@link KvLeases}.
   * @default undefined (no lease)
   */
  lease?: string;
}

/**
 * Store-side TTL leases, etcd's model: a lease lives `ttlSeconds` after its grant or last
 * keep-alive, measured by the store (never by the client's clock); when it expires or is
 * revoked, every key attached to it is deleted. The Raft KV, etcd and the memory store have
 * them; the file store does not (it has no process to expire them). See {@link hasLeases}.
 */
export interface KvLeases {
  /** Grants a lease; returns its id and TTL. */
  grantLease(ttlSeconds: number): Promise<{ id: string; ttlSeconds: number }>;
  /** Renews a lease for another TTL; returns the TTL, or `undefined` when the lease no longer exists (expired or revoked). */
  keepAliveLease(id: string): Promise<number | undefined>;
  /** Revokes a lease, deleting its keys. Harmless for a lease that no longer exists. */
  revokeLease(id: string): Promise<void>;
  /**
   * Renews many leases at once, as cheaply as the store allows (the Raft KV: one request and
   * one log entry; etcd: one keep-alive stream): each id's TTL in the order given, `undefined`
   * for a lease that no longer exists. Optional; {@link keepAliveLeases} falls back to
   * {@link keepAliveLease} one by one.
   */
  keepAliveMany?(ids: readonly string[]): Promise<(number | undefined)[]>;
}

/**
 * Renews many leases of `kv` — in one call when the store has {@link KvLeases.keepAliveMany},
 * else one keep-alive per lease, `concurrency` at a time. Returns each id's TTL in order,
 * `undefined` for a lease that no longer exists.
 */
export async function keepAliveLeases(kv: KvLeases, ids: readonly string[], concurrency = 32): Promise<(number | undefined)[]> {
  if (ids.length === 0) return [];
  if (typeof kv.keepAliveMany === 'function') return kv.keepAliveMany(ids);
  const out: (number | undefined)[] = new Array<number | undefined>(ids.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < ids.length) {
      const i = next++;
      out[i] = await kv.keepAliveLease(ids[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, lane));
  return out;
}

/** Whether a store has TTL leases ({@link KvLeases}). */
export function hasLeases(kv: KvStore): kv is KvStore & KvLeases {
  const k = kv as Partial<KvLeases>;
  return typeof k.grantLease === 'function' && typeof k.keepAliveLease === 'function' && typeof k.revokeLease === 'function';
}

/** Options of {@link KvStore.range}. */
export interface KvRangeOptions {
  /** At most this many items; the result's `more` says whether there were others. @default unlimited */
  limit?: number;
  /** Only keys strictly after this one (paging: the last key of the previous page). */
  after?: string;
  /**
   * Read at this past revision (a consistent later page of a paged list, as etcd does).
   * Backends that keep no versions (file, memory, Raft KV) read the current state and
   * ignore it; etcd reads at it, and a compacted revision is a `ClusterError` coded
   * `compacted`. @default the current revision
   */
  revision?: number;
}

/** One comparison of a {@link KvStore.txn}: the key's modRevision must equal this (`0` = the key is absent). */
export interface KvCompare {
  key: string;
  modRevision: number;
}

/** One write of a {@link KvStore.txn}. */
export type KvTxnOp = { type: 'put'; key: string; value: string } | { type: 'delete'; key: string };

/** The outcome of a {@link KvStore.txn}. */
export interface KvTxnResult {
  /** True when every comparison held and the writes were applied. */
  succeeded: boolean;
  /** The store revision after the transaction (the writes' modRevision on success). */
  revision: number;
  /** On failure: the current modRevision of each compared key, in order (0 = absent). */
  current?: number[];
}

/** Options of {@link KvStore.watch}. */
export interface KvWatchOptions {
  /** First revision to deliver (inclusive). @default the next revision */
  fromRevision?: number;
  /** Ends the watch; the iterator then finishes. */
  signal?: AbortSignal;
  /**
   * `false`: the caller does not need delete events' `prevValue` (nor puts'), so a store that
   * keeps them itself need not read every key under the prefix when the watch starts (the Raft
   * KV's watch then skips that read: thousands of per-host watches opening at once). Stores may
   * still send them. @default true
   */
  prevValues?: boolean;
}

/** @deprecated Renamed {@link KvWatchOptions} (issue 18: `WatchOptions` is also the Raft KV client's and a reconcile controller's). */
export type WatchOptions = KvWatchOptions;

/**
 * A revisioned key-value store. Guarantees: every successful write returns a new global
 * revision, strictly greater than all earlier ones, which is also the key's new
 * modRevision; `range` returns a consistent snapshot at `revision`; a watch from revision
 * `r` delivers every change with revision ≥ r exactly once, in revision order, or an
 * `expired` event when `r` is older than the compaction point (then it ends).
 */
export interface KvStore {
  /** The key's current value, or `undefined`. */
  get(key: string): Promise<KeyValue | undefined>;
  /**
   * Keys starting with `prefix`, ordered by key, and the store revision of that snapshot;
   * with `limit`/`after`, one page of them (`more`: keys are left after this page).
   */
  range(prefix: string, options?: KvRangeOptions): Promise<{ items: KeyValue[]; revision: number; more?: boolean }>;
  /** Writes `value`; returns the new revision. Throws `ConflictError` when `prevRevision` does not match. */
  put(key: string, value: string, options?: WriteOptions): Promise<number>;
  /**
   * Deletes the key; returns the new revision, or `undefined` when it was absent (and no
   * `prevRevision` was given). Throws `ConflictError` when `prevRevision` does not match.
   */
  delete(key: string, options?: WriteOptions): Promise<number | undefined>;
  /**
   * Applies `ops` atomically at one new revision if every comparison holds (etcd's txn):
   * all of them or none, and watchers see them as events of that one revision. Optional:
   * every built-in backend has it; a `KvStore` of your own without it still works, and
   * Flotilla then keeps no secondary index (the per-host instance watch filters all
   * instances instead, see `ClusterStore.instancesOn`).
   */
  txn?(compare: readonly KvCompare[], ops: readonly KvTxnOp[]): Promise<KvTxnResult>;
  /** Changes under `prefix` from a revision on, with progress events at a regular interval. */
  watch(prefix: string, options?: KvWatchOptions): AsyncIterable<KvWatchEvent>;
  /**
   * Changes under any of `prefixes` as one watch (`watch`'s guarantees over their union: each
   * change once, in revision order), on one stream to the store where it has one — a process
   * watching thousands of hosts' prefixes (`flo agent --hollow`) holds one connection, not
   * thousands. Optional: the Raft KV and the memory store have it; without it Flotilla opens
   * a watch per prefix (etcd's client carries them all on one gRPC stream anyway).
   */
  watchPrefixes?(prefixes: readonly string[], options?: KvWatchOptions): AsyncIterable<KvWatchEvent>;
  /** Releases connections, timers and file handles. */
  close(): Promise<void>;
}

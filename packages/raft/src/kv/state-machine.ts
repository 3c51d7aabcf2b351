/**
 * KvStateMachine: the replicated key-value store — revisions, prefix ranges, transactions, leases,
 * watches, compaction, snapshots.
 */
import { compareKeys } from './key-order.js';
import { SortedKeys } from './sorted-keys.js';
import { parseSnapshotJson } from './snapshot-parse.js';
import { KvError, isKvError } from './errors.js';
import { checkCommand } from './validate.js';
import type {
  KeyValue,
  KvCommand,
  KvResult,
  LeaseInfo,
  RangeResult,
  TxnOp,
  TxnOpResult,
  WatchEvent,
} from './types.js';

/** Options of {@link KvStateMachine.range}. */
export interface RangeOptions {
  /** Only keys starting with this prefix. @default "" (all keys) */
  readonly prefix?: string;
  /** Only keys strictly after this one (for paging). */
  readonly after?: string;
  /** At most this many items. @default unlimited */
  readonly limit?: number;
}

/** A live watch; `cancel()` stops delivery. */
export interface WatchHandle {
  cancel(): void;
}

/** Callbacks of a watch. */
export interface WatchListener {
  /** Events of one revision (a transaction may produce several), in key order of application. */
  onEvents(events: readonly WatchEvent[]): void;
  /** The watch can no longer be served (its next revision was compacted away by a snapshot restore). */
  onCompacted(compactRevision: number): void;
}

interface Watcher {
  /** The prefixes watched (distinct): a change under any of them is delivered, once. */
  readonly prefixes: readonly string[];
  readonly listener: WatchListener;
  nextRevision: number;
  active: boolean;
}

interface LeaseState {
  readonly ttlSeconds: number;
  readonly keys: Set<string>;
}

interface SnapshotV1 {
  readonly v: 1;
  readonly revision: number;
  readonly compactRevision: number;
  readonly nextLeaseId: number;
  readonly kvs: readonly KeyValue[];
  readonly leases: readonly LeaseInfo[];
  readonly history: readonly WatchEvent[];
}

/**
 * The replicated key-value state: applies committed {@link KvCommand}s in log order and
 * answers reads from the result.
 *
 * Guarantees:
 * - Deterministic: the state after a sequence of commands depends only on the commands
 *   (no clock, no randomness), so every member that applies the same log agrees.
 * - Revisions as in etcd: the store starts at revision 1; every command that changes at
 *   least one key advances the revision by exactly one, and every key it writes gets that
 *   revision as its `modRevision` (a put's or txn's returned `revision`).
 * - A command that fails (compare mismatch, missing key or lease) changes nothing.
 * - Watches see every change with revision `>= fromRevision` exactly once, in revision
 *   order, as long as that history was not compacted; a compacted start is refused.
 */
export class KvStateMachine {
  #revision = 1;
  #compactRevision = 0;
  #nextLeaseId = 1;
  readonly #kvs = new Map<string, KeyValue>();
  /** All live keys, sorted by {@link compareKeys}. */
  #sorted = new SortedKeys();
  readonly #leases = new Map<string, LeaseState>();
  /** Events with revision >= compactRevision, in revision order. */
  #history: WatchEvent[] = [];
  readonly #watchers = new Set<Watcher>();
  /** Live watchers by prefix, and the distinct prefix lengths in ascending order: a change finds its watchers by looking up its key's prefixes of those lengths, so publishing costs O(distinct lengths + matching watchers), not O(watchers). */
  readonly #byPrefix = new Map<string, Set<Watcher>>();
  #prefixLengths: number[] = [];
  /** Events of the command being applied. */
  #pending: WatchEvent[] = [];
  #puts = 0;
  #deletes = 0;

  /**
   * Keys written and deleted by the commands this instance applied (since it was created;
   * a restore does not count), as etcd's `mvcc_put_total` and `mvcc_delete_total`.
   */
  get applied(): { readonly puts: number; readonly deletes: number } {
    return { puts: this.#puts, deletes: this.#deletes };
  }

  /** The current store revision (the last write's revision; 1 for an empty store). */
  get revision(): number {
    return this.#revision;
  }

  /** Watch history below this revision is gone; 0 before any compaction. */
  get compactRevision(): number {
    return this.#compactRevision;
  }

  /** Number of live keys. */
  get size(): number {
    return this.#kvs.size;
  }

  /** The current value of one key. */
  get(key: string): KeyValue | undefined {
    return this.#kvs.get(key);
  }

  /** Keys in byte order, filtered by prefix, after `after`, at most `limit`. */
  range(options: RangeOptions = {}): RangeResult {
    const prefix = options.prefix ?? '';
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const items: KeyValue[] = [];
    let more = false;
    for (const key of this.#sorted.scan(prefix, options.after)) {
      if (items.length >= limit) {
        more = true;
        break;
      }
      items.push(this.#kvs.get(key)!);
    }
    return { items, revision: this.#revision, more };
  }

  /** All leases, by id. */
  leases(): LeaseInfo[] {
    return [...this.#leases].map(([id, l]) => ({ id, ttlSeconds: l.ttlSeconds, keys: [...l.keys].sort(compareKeys) }));
  }

  /** Each lease's id and TTL, without copying its keys (what the lessor needs on promotion). */
  *leaseTtls(): IterableIterator<{ id: string; ttlSeconds: number }> {
    for (const [id, l] of this.#leases) yield { id, ttlSeconds: l.ttlSeconds };
  }

  /** Whether a lease exists. */
  hasLease(id: string): boolean {
    return this.#leases.has(id);
  }

  /** Number of leases. */
  get leaseCount(): number {
    return this.#leases.size;
  }

  /** One lease, if it exists. */
  lease(id: string): LeaseInfo | undefined {
    const l = this.#leases.get(id);
    return l && { id, ttlSeconds: l.ttlSeconds, keys: [...l.keys].sort(compareKeys) };
  }

  /**
   * Applies one committed command and returns its outcome. Never throws: the command is
   * checked first ({@link checkCommand}, the HTTP API's validator), and one that is malformed
   * (a poisoned or foreign log entry) changes nothing and returns an `invalid` error result —
   * the same on every member, so replaying the log is always safe.
   */
  apply(command: KvCommand): KvResult {
    let c: KvCommand;
    try {
      c = checkCommand(command);
    } catch (err) {
      return { type: 'error', code: 'invalid', message: `the command cannot be applied: ${isKvError(err) ? err.message : String(err)}` };
    }
    this.#pending = [];
    let result: KvResult;
    try {
      result = this.#apply(c);
    } catch (err) {
      // Unreachable for a checked command; kept so that no entry can take a member down.
      result = { type: 'error', code: 'invalid', message: `the command failed to apply: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (this.#pending.length > 0) this.#publish(this.#pending);
    this.#pending = [];
    return result;
  }

  #apply(c: KvCommand): KvResult {
    switch (c.op) {
      case 'put': {
        const cur = this.#kvs.get(c.key);
        if (c.prevRevision !== undefined && (cur?.modRevision ?? 0) !== c.prevRevision) {
          return conflict(c.key, cur?.modRevision ?? 0);
        }
        if (c.lease !== undefined && !this.#leases.has(c.lease)) return leaseNotFound(c.lease);
        const rev = this.#revision + 1;
        this.#put(c.key, c.value, c.lease, rev);
        this.#revision = rev;
        return { type: 'put', revision: rev };
      }
      case 'delete': {
        const cur = this.#kvs.get(c.key);
        if (c.prevRevision !== undefined && (cur?.modRevision ?? 0) !== c.prevRevision) {
          return conflict(c.key, cur?.modRevision ?? 0);
        }
        if (!cur) return { type: 'error', code: 'not-found', message: `key ${JSON.stringify(c.key)} not found` };
        const rev = this.#revision + 1;
        this.#delete(c.key, rev);
        this.#revision = rev;
        return { type: 'delete', revision: rev };
      }
      case 'txn': {
        const succeeded = c.compare.every((cmp) => (this.#kvs.get(cmp.key)?.modRevision ?? 0) === cmp.modRevision);
        const ops = succeeded ? c.success : c.failure;
        for (const op of ops) {
          if ('put' in op && op.put.lease !== undefined && !this.#leases.has(op.put.lease)) {
            return leaseNotFound(op.put.lease);
          }
        }
        const rev = this.#revision + 1;
        let wrote = false;
        const results: TxnOpResult[] = [];
        for (const op of ops) results.push(this.#txnOp(op, rev, () => (wrote = true)));
        if (wrote) this.#revision = rev;
        // Every result reports the revision the transaction ended at.
        const final = this.#revision;
        const fixed = results.map((r) => ('delete' in r && r.delete.revision !== final ? { delete: { deleted: r.delete.deleted, revision: final } } : r));
        return { type: 'txn', succeeded, revision: final, results: fixed };
      }
      case 'compact': {
        if (c.revision > this.#revision) {
          return {
            type: 'error',
            code: 'future-revision',
            message: `cannot compact to revision ${c.revision}: the store is at ${this.#revision}`,
          };
        }
        if (c.revision <= this.#compactRevision) {
          return {
            type: 'error',
            code: 'compacted',
            message: `revision ${c.revision} is already compacted`,
            compactRevision: this.#compactRevision,
          };
        }
        this.#compactRevision = c.revision;
        let drop = 0;
        while (drop < this.#history.length && this.#history[drop]!.modRevision < c.revision) drop++;
        if (drop > 0) this.#history = this.#history.slice(drop);
        return { type: 'compact', revision: c.revision };
      }
      case 'lease-grant': {
        const id = String(this.#nextLeaseId++);
        this.#leases.set(id, { ttlSeconds: c.ttlSeconds, keys: new Set() });
        return { type: 'lease', id, ttlSeconds: c.ttlSeconds, revision: this.#revision };
      }
      case 'lease-keepalive': {
        const l = this.#leases.get(c.id);
        if (!l) return leaseNotFound(c.id);
        return { type: 'lease', id: c.id, ttlSeconds: l.ttlSeconds, revision: this.#revision };
      }
      case 'lease-keepalives':
        return { type: 'leases', leases: c.ids.map((id) => ({ id, ttlSeconds: this.#leases.get(id)?.ttlSeconds ?? 0 })), revision: this.#revision };
      case 'lease-revoke':
      case 'lease-expire': {
        const l = this.#leases.get(c.id);
        if (!l) return leaseNotFound(c.id);
        this.#leases.delete(c.id);
        if (l.keys.size > 0) {
          const rev = this.#revision + 1;
          for (const key of [...l.keys].sort(compareKeys)) this.#delete(key, rev);
          this.#revision = rev;
        }
        return { type: 'lease', id: c.id, ttlSeconds: l.ttlSeconds, revision: this.#revision };
      }
    }
  }

  #txnOp(op: TxnOp, rev: number, wrote: () => void): TxnOpResult {
    if ('put' in op) {
      this.#put(op.put.key, op.put.value, op.put.lease, rev);
      wrote();
      return { put: { revision: rev } };
    }
    if ('delete' in op) {
      if (!this.#kvs.has(op.delete.key)) return { delete: { deleted: 0, revision: this.#revision } };
      this.#delete(op.delete.key, rev);
      wrote();
      return { delete: { deleted: 1, revision: rev } };
    }
    return { get: this.#kvs.get(op.get.key) ?? null };
  }

  #put(key: string, value: string, lease: string | undefined, rev: number): void {
    const cur = this.#kvs.get(key);
    if (cur?.lease !== undefined && cur.lease !== lease) this.#leases.get(cur.lease)?.keys.delete(key);
    if (lease !== undefined) this.#leases.get(lease)?.keys.add(key);
    const kv: KeyValue = {
      key,
      value,
      createRevision: cur ? cur.createRevision : rev,
      modRevision: rev,
      version: cur ? cur.version + 1 : 1,
      ...(lease !== undefined ? { lease } : {}),
    };
    if (!cur) this.#sorted.insert(key);
    this.#kvs.set(key, kv);
    this.#puts++;
    const event: WatchEvent = { type: 'put', key, value, createRevision: kv.createRevision, modRevision: rev, version: kv.version };
    this.#history.push(event);
    this.#pending.push(event);
  }

  #delete(key: string, rev: number): void {
    const cur = this.#kvs.get(key);
    if (!cur) return;
    if (cur.lease !== undefined) this.#leases.get(cur.lease)?.keys.delete(key);
    this.#kvs.delete(key);
    this.#deletes++;
    this.#sorted.delete(key);
    const event: WatchEvent = { type: 'delete', key, value: '', createRevision: 0, modRevision: rev, version: 0 };
    this.#history.push(event);
    this.#pending.push(event);
  }

  /**
   * Watches keys with `prefix` from `fromRevision` (inclusive; default: the next revision).
   * History from `fromRevision` is delivered synchronously before this returns, then live
   * changes as they are applied. Throws a `KvError` with code `compacted` when
   * `fromRevision` is below the compaction revision.
   *
   * Several prefixes (an array) make one watch of their union: each change under any of them
   * is delivered once, the events of one revision together, in revision order — what one
   * stream of many per-host watches needs (a `flo agent --hollow` process).
   */
  watch(prefix: string | readonly string[], fromRevision: number | undefined, listener: WatchListener): WatchHandle {
    const from = fromRevision ?? this.#revision + 1;
    if (from < this.#compactRevision) {
      throw new KvError('compacted', `revision ${from} is compacted (compact revision ${this.#compactRevision})`, {
        compactRevision: this.#compactRevision,
      });
    }
    const prefixes = typeof prefix === 'string' ? [prefix] : [...new Set(prefix)];
    const w: Watcher = { prefixes, listener, nextRevision: from, active: true };
    this.#replay(w);
    if (w.active) this.#addWatcher(w);
    return {
      cancel: () => {
        w.active = false;
        this.#removeWatcher(w);
      },
    };
  }

  #addWatcher(w: Watcher): void {
    this.#watchers.add(w);
    let added = false;
    for (const prefix of w.prefixes) {
      let set = this.#byPrefix.get(prefix);
      if (!set) {
        this.#byPrefix.set(prefix, (set = new Set()));
        if (!this.#prefixLengths.includes(prefix.length)) {
          this.#prefixLengths.push(prefix.length);
          added = true;
        }
      }
      set.add(w);
    }
    if (added) this.#prefixLengths = [...this.#prefixLengths].sort((a, b) => a - b);
  }

  #removeWatcher(w: Watcher): void {
    if (!this.#watchers.delete(w)) return;
    const gone = new Set<number>();
    for (const prefix of w.prefixes) {
      const set = this.#byPrefix.get(prefix);
      if (!set) continue;
      set.delete(w);
      if (set.size > 0) continue;
      this.#byPrefix.delete(prefix);
      gone.add(prefix.length);
    }
    if (gone.size === 0) return;
    for (const p of this.#byPrefix.keys()) gone.delete(p.length);
    if (gone.size > 0) this.#prefixLengths = this.#prefixLengths.filter((l) => !gone.has(l));
  }

  /** Number of live watchers (for status and tests). */
  get watcherCount(): number {
    return this.#watchers.size;
  }

  #replay(w: Watcher): void {
    const start = this.#firstHistoryIndex(w.nextRevision);
    const matches = matcher(w.prefixes);
    let batch: WatchEvent[] = [];
    let batchRev = -1;
    for (let i = start; i < this.#history.length && w.active; i++) {
      const e = this.#history[i]!;
      if (e.modRevision !== batchRev) {
        if (batch.length > 0) w.listener.onEvents(batch);
        batch = [];
        batchRev = e.modRevision;
      }
      if (matches(e.key)) batch.push(e);
    }
    if (batch.length > 0 && w.active) w.listener.onEvents(batch);
    // a start past this member's revision (a follower behind the revision the client has seen)
    // stays where it is: nothing before it is delivered
    w.nextRevision = Math.max(w.nextRevision, this.#revision + 1);
  }

  #firstHistoryIndex(revision: number): number {
    let lo = 0;
    let hi = this.#history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#history[mid]!.modRevision < revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #publish(events: readonly WatchEvent[]): void {
    if (this.#watchers.size === 0) return;
    const rev = events[0]!.modRevision;
    // each watcher's events of this revision, in application order
    const mine = new Map<Watcher, WatchEvent[]>();
    const lengths = this.#prefixLengths;
    for (const e of events) {
      for (const len of lengths) {
        if (len > e.key.length) break;
        const set = this.#byPrefix.get(len === e.key.length ? e.key : e.key.slice(0, len));
        if (!set) continue;
        for (const w of set) {
          const list = mine.get(w);
          // (a watcher of overlapping prefixes is found under each: the event once)
          if (list) {
            if (list[list.length - 1] !== e) list.push(e);
          } else mine.set(w, [e]);
        }
      }
    }
    for (const [w, list] of mine) {
      if (!w.active || rev < w.nextRevision) continue;
      w.nextRevision = rev + 1;
      w.listener.onEvents(list);
    }
  }

  /** Serializes the whole state (keys, leases, watch history, revisions). */
  snapshot(): Uint8Array {
    const parts = [...this.captureSnapshot()];
    return concatBytes(parts);
  }

  /**
   * Captures the current state for a snapshot in O(keys + history) pointer copies (stored
   * key-values and events are immutable, so no deep copy is needed) and returns its
   * serialization as a sequence of byte chunks of about 128 items (`SNAPSHOT_CHUNK_ITEMS`)
   * each. The chunks describe the state at the time of this call, however the store
   * changes while they are consumed, so a host can serialize between other work (yielding
   * to the event loop between chunks) instead of in one long synchronous step.
   * Concatenated, the chunks equal {@link snapshot}'s bytes.
   */
  captureSnapshot(): Iterable<Uint8Array> {
    const head = `{"v":1,"revision":${this.#revision},"compactRevision":${this.#compactRevision},"nextLeaseId":${this.#nextLeaseId},"kvs":`;
    const kvs = this.#sorted.toArray().map((k) => this.#kvs.get(k)!);
    const leases = this.leases();
    const history = this.#history.slice();
    return serializeSnapshot(head, kvs, leases, history);
  }

  /**
   * Replaces the whole state with a snapshot's. Live watchers continue from the history
   * when it still covers their next revision, and are told `onCompacted` otherwise.
   */
  restore(data: Uint8Array): void {
    let snap: SnapshotV1;
    try {
      snap = parseSnapshotJson(data) as unknown as SnapshotV1;
    } catch (cause) {
      throw new KvError('invalid', 'the KV snapshot is not valid JSON', { cause });
    }
    if (snap.v !== 1) throw new KvError('invalid', `unsupported KV snapshot version ${String(snap.v)}`);
    // every live watcher has been given every change up to now (publishing is synchronous),
    // whether or not one of them was under its prefix
    for (const w of this.#watchers) w.nextRevision = Math.max(w.nextRevision, this.#revision + 1);
    this.#revision = snap.revision;
    this.#compactRevision = snap.compactRevision;
    this.#nextLeaseId = snap.nextLeaseId;
    this.#kvs.clear();
    for (const kv of snap.kvs) this.#kvs.set(kv.key, kv);
    this.#sorted = SortedKeys.fromSorted(snap.kvs.map((kv) => kv.key).sort(compareKeys));
    this.#leases.clear();
    for (const l of snap.leases) this.#leases.set(l.id, { ttlSeconds: l.ttlSeconds, keys: new Set(l.keys) });
    this.#history = [...snap.history];
    for (const w of [...this.#watchers]) {
      if (w.nextRevision > this.#revision) continue;
      if (w.nextRevision < this.#compactRevision) {
        this.#removeWatcher(w);
        w.active = false;
        w.listener.onCompacted(this.#compactRevision);
        continue;
      }
      this.#replay(w);
    }
  }
}

/** Whether a key is under any of `prefixes`: in O(distinct prefix lengths) a key for many prefixes. */
function matcher(prefixes: readonly string[]): (key: string) => boolean {
  if (prefixes.length === 1) {
    const p = prefixes[0]!;
    return (key) => key.startsWith(p);
  }
  const set = new Set(prefixes);
  const lengths = [...new Set(prefixes.map((p) => p.length))].sort((a, b) => a - b);
  return (key) => {
    for (const len of lengths) {
      if (len > key.length) return false;
      if (set.has(key.slice(0, len))) return true;
    }
    return false;
  };
}

/** Items (keys, leases or events) per chunk of {@link KvStateMachine.captureSnapshot}. */
export const SNAPSHOT_CHUNK_ITEMS = 128;

const utf8 = new TextEncoder();

/** The JSON of a SnapshotV1, produced lazily a few hundred items at a time. */
function* serializeSnapshot(
  head: string,
  kvs: readonly KeyValue[],
  leases: readonly LeaseInfo[],
  history: readonly WatchEvent[],
): Generator<Uint8Array> {
  let prefix = head;
  const lists: [readonly unknown[], string][] = [
    [kvs, ',"leases":'],
    [leases, ',"history":'],
    [history, '}'],
  ];
  for (const [items, after] of lists) {
    prefix += '[';
    for (let i = 0; i < items.length; i += SNAPSHOT_CHUNK_ITEMS) {
      const body = JSON.stringify(items.slice(i, i + SNAPSHOT_CHUNK_ITEMS));
      yield utf8.encode(`${prefix}${i > 0 ? ',' : ''}${body.slice(1, -1)}`);
      prefix = '';
    }
    prefix += `]${after}`;
  }
  yield utf8.encode(prefix);
}

function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function conflict(key: string, modRevision: number): KvResult {
  return {
    type: 'error',
    code: 'conflict',
    message: `key ${JSON.stringify(key)} has modRevision ${modRevision}`,
    modRevision,
  };
}

function leaseNotFound(id: string): KvResult {
  return { type: 'error', code: 'lease-not-found', message: `lease ${JSON.stringify(id)} not found` };
}

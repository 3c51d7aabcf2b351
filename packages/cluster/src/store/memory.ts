/**
 * An in-memory {@link KvStore}: the reference implementation of the contract, used by
 * unit tests and `./testing`. It keeps the last `historyLimit` records for watches.
 */
import { ClusterError } from '../errors.js';
import { Channel } from './channel.js';
import { applyDelete, applyPut, applyTxn, checkRangeOptions, checkTxn, emptyState, pageOf, toEvent, type LogRecord } from './kv-state.js';
import type { KeyValue, KvCompare, KvRangeOptions, KvLeases, KvStore, KvTxnOp, KvTxnResult, KvWatchEvent, KvWatchOptions, WriteOptions } from './types.js';

/** Options of {@link MemoryKvStore}. */
export interface MemoryKvStoreOptions {
  /** Records kept for watchers that start in the past; older ones are compacted. @default 10000 */
  historyLimit?: number;
  /** Interval of `progress` events on watches; 0 disables them. @default 5000 */
  progressIntervalMs?: number;
  /** Milliseconds the store's TTL leases are measured by (the store's own clock). @default performance.now */
  now?: () => number;
}

export class MemoryKvStore implements KvStore, KvLeases {
  readonly #state = emptyState();
  readonly #now: () => number;
  /** Lease id → TTL, deadline (store clock) and attached keys. */
  readonly #leases = new Map<string, { ttlSeconds: number; deadline: number; keys: Set<string> }>();
  readonly #keyLease = new Map<string, string>();
  #nextLease = 1;
  #leaseTimer: ReturnType<typeof setInterval> | undefined;
  readonly #history: LogRecord[] = [];
  #compactRevision = 0;
  readonly #watchers = new Set<{ matches: (key: string) => boolean; channel: Channel<KvWatchEvent>; stop: () => void }>();
  readonly #historyLimit: number;
  readonly #progressIntervalMs: number;
  #closed = false;

  constructor(options: MemoryKvStoreOptions = {}) {
    this.#historyLimit = options.historyLimit ?? 10_000;
    this.#progressIntervalMs = options.progressIntervalMs ?? 5000;
    this.#now = options.now ?? (() => performance.now());
    if (!Number.isInteger(this.#historyLimit) || this.#historyLimit < 1)
      throw new TypeError(`historyLimit: expected a positive integer, received ${String(options.historyLimit)}`);
  }

  /** The current revision. */
  get revision(): number {
    return this.#state.revision;
  }

  /** Forgets history up to and including `revision` (watches from before it expire). */
  compact(revision: number): void {
    while (this.#history.length > 0 && this.#history[0]!.rev <= revision) this.#history.shift();
    this.#compactRevision = Math.max(this.#compactRevision, Math.min(revision, this.#state.revision));
  }

  #check(): void {
    if (this.#closed) throw new ClusterError('store-unavailable', 'the store is closed');
    this.expireLeases();
  }

  /** Deletes the keys of every lease past its deadline (also runs every 200 ms while leases exist, and before every call). */
  expireLeases(): void {
    const now = this.#now();
    for (const [id, l] of this.#leases) if (l.deadline <= now) this.#dropLease(id);
  }

  #dropLease(id: string): void {
    const l = this.#leases.get(id);
    if (!l) return;
    this.#leases.delete(id);
    for (const key of [...l.keys].sort()) {
      if (this.#keyLease.get(key) !== id) continue;
      this.#keyLease.delete(key);
      const r = applyDelete(this.#state, key);
      if (r) this.#record(r);
    }
    if (this.#leases.size === 0 && this.#leaseTimer) {
      clearInterval(this.#leaseTimer);
      this.#leaseTimer = undefined;
    }
  }

  #attach(key: string, lease: string | undefined): void {
    const old = this.#keyLease.get(key);
    if (old !== undefined) this.#leases.get(old)?.keys.delete(key);
    this.#keyLease.delete(key);
    if (lease === undefined) return;
    this.#leases.get(lease)!.keys.add(key);
    this.#keyLease.set(key, lease);
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so that throws become rejections
  async grantLease(ttlSeconds: number): Promise<{ id: string; ttlSeconds: number }> {
    this.#check();
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new TypeError(`ttlSeconds: expected a positive integer, received ${String(ttlSeconds)}`);
    const id = (this.#nextLease++).toString(16);
    this.#leases.set(id, { ttlSeconds, deadline: this.#now() + ttlSeconds * 1000, keys: new Set() });
    if (!this.#leaseTimer) {
      this.#leaseTimer = setInterval(() => this.expireLeases(), 200);
      this.#leaseTimer.unref();
    }
    return { id, ttlSeconds };
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so that throws become rejections
  async keepAliveMany(ids: readonly string[]): Promise<(number | undefined)[]> {
    this.#check();
    const now = this.#now();
    return ids.map((id) => {
      const l = this.#leases.get(id);
      if (!l) return undefined;
      l.deadline = now + l.ttlSeconds * 1000;
      return l.ttlSeconds;
    });
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so that throws become rejections
  async keepAliveLease(id: string): Promise<number | undefined> {
    this.#check();
    const l = this.#leases.get(id);
    if (!l) return undefined;
    l.deadline = this.#now() + l.ttlSeconds * 1000;
    return l.ttlSeconds;
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so that throws become rejections
  async revokeLease(id: string): Promise<void> {
    this.#check();
    this.#dropLease(id);
  }

  get(key: string): Promise<KeyValue | undefined> {
    this.#check();
    const kv = this.#state.kvs.get(key);
    return Promise.resolve(kv ? { ...kv } : undefined);
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so that throws become rejections
  async range(prefix: string, options?: KvRangeOptions): Promise<{ items: KeyValue[]; revision: number; more?: boolean }> {
    this.#check();
    checkRangeOptions(options);
    return { ...pageOf(this.#state, prefix, options), revision: this.#state.revision };
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so that throws become rejections
  async txn(compare: readonly KvCompare[], ops: readonly KvTxnOp[]): Promise<KvTxnResult> {
    this.#check();
    checkTxn(compare, ops);
    const { records, result } = applyTxn(this.#state, compare, ops);
    for (const r of records) {
      this.#attach(r.key, undefined); // a txn writes no lease: a key it puts or deletes leaves its lease
      this.#record(r);
    }
    return result;
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so that throws become rejections
  async put(key: string, value: string, options: WriteOptions = {}): Promise<number> {
    this.#check();
    if (options.lease !== undefined && !this.#leases.has(options.lease)) throw new ClusterError('store-unavailable', `lease ${options.lease} not found (expired or revoked)`);
    const r = applyPut(this.#state, key, value, options.prevRevision);
    this.#attach(key, options.lease);
    this.#record(r);
    return r.rev;
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so that throws become rejections
  async delete(key: string, options: WriteOptions = {}): Promise<number | undefined> {
    this.#check();
    const r = applyDelete(this.#state, key, options.prevRevision);
    if (!r) return undefined;
    this.#attach(key, undefined);
    this.#record(r);
    return r.rev;
  }

  #record(r: LogRecord): void {
    this.#history.push(r);
    if (this.#history.length > this.#historyLimit) {
      const dropped = this.#history.shift()!;
      this.#compactRevision = dropped.rev;
    }
    const event = toEvent(r);
    for (const w of this.#watchers) if (w.matches(r.key)) w.channel.push(event);
  }

  watch(prefix: string, options: KvWatchOptions = {}): AsyncIterable<KvWatchEvent> {
    return this.#watch((key) => key.startsWith(prefix), options);
  }

  /** One watch of the union of `prefixes` (see {@link KvStore.watchPrefixes}). */
  watchPrefixes(prefixes: readonly string[], options: KvWatchOptions = {}): AsyncIterable<KvWatchEvent> {
    const list = [...prefixes];
    return this.#watch((key) => list.some((p) => key.startsWith(p)), options);
  }

  #watch(matches: (key: string) => boolean, options: KvWatchOptions): AsyncIterable<KvWatchEvent> {
    this.#check();
    const from = options.fromRevision ?? this.#state.revision + 1;
    let timer: ReturnType<typeof setInterval> | undefined;
    const entry = { matches, channel: undefined as unknown as Channel<KvWatchEvent>, stop: (): void => undefined };
    const stop = (): void => {
      this.#watchers.delete(entry);
      options.signal?.removeEventListener('abort', stop);
      if (timer) clearInterval(timer);
      entry.channel.close();
    };
    entry.stop = stop;
    entry.channel = new Channel<KvWatchEvent>(stop);
    if (from <= this.#compactRevision) {
      entry.channel.push({ type: 'expired', compactRevision: this.#compactRevision });
      entry.channel.close();
      return entry.channel;
    }
    for (const r of this.#history) if (r.rev >= from && matches(r.key)) entry.channel.push(toEvent(r));
    this.#watchers.add(entry);
    if (this.#progressIntervalMs > 0) {
      timer = setInterval(() => entry.channel.push({ type: 'progress', revision: this.#state.revision }), this.#progressIntervalMs);
      timer.unref();
    }
    options.signal?.addEventListener('abort', stop, { once: true });
    if (options.signal?.aborted) stop();
    return entry.channel;
  }

  close(): Promise<void> {
    this.#closed = true;
    if (this.#leaseTimer) clearInterval(this.#leaseTimer);
    for (const w of [...this.#watchers]) w.stop();
    return Promise.resolve();
  }
}

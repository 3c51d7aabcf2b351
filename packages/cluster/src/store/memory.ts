/**
 * An in-memory {@link KvStore}: the reference implementation of the contract, used by
 * unit tests and `./testing`. It keeps the last `historyLimit` records for watches.
 */
import { ClusterError } from '../errors.js';
import { Channel } from './channel.js';
import { applyDelete, applyPut, applyTxn, checkRangeOptions, checkTxn, emptyState, pageOf, toEvent, type LogRecord } from './kv-state.js';
import type { KeyValue, KvCompare, KvRangeOptions, KvStore, KvTxnOp, KvTxnResult, KvWatchEvent, KvWatchOptions, WriteOptions } from './types.js';

/** Options of {@link MemoryKvStore}. */
export interface MemoryKvStoreOptions {
  /** Records kept for watchers that start in the past; older ones are compacted. @default 10000 */
  historyLimit?: number;
  /** Interval of `progress` events on watches; 0 disables them. @default 5000 */
  progressIntervalMs?: number;
}

export class MemoryKvStore implements KvStore {
  readonly #state = emptyState();
  readonly #history: LogRecord[] = [];
  #compactRevision = 0;
  readonly #watchers = new Set<{ prefix: string; channel: Channel<KvWatchEvent>; stop: () => void }>();
  readonly #historyLimit: number;
  readonly #progressIntervalMs: number;
  #closed = false;

  constructor(options: MemoryKvStoreOptions = {}) {
    this.#historyLimit = options.historyLimit ?? 10_000;
    this.#progressIntervalMs = options.progressIntervalMs ?? 5000;
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
    for (const r of records) this.#record(r);
    return result;
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so that throws become rejections
  async put(key: string, value: string, options: WriteOptions = {}): Promise<number> {
    this.#check();
    const r = applyPut(this.#state, key, value, options.prevRevision);
    this.#record(r);
    return r.rev;
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so that throws become rejections
  async delete(key: string, options: WriteOptions = {}): Promise<number | undefined> {
    this.#check();
    const r = applyDelete(this.#state, key, options.prevRevision);
    if (!r) return undefined;
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
    for (const w of this.#watchers) if (r.key.startsWith(w.prefix)) w.channel.push(event);
  }

  watch(prefix: string, options: KvWatchOptions = {}): AsyncIterable<KvWatchEvent> {
    this.#check();
    const from = options.fromRevision ?? this.#state.revision + 1;
    let timer: ReturnType<typeof setInterval> | undefined;
    const entry = { prefix, channel: undefined as unknown as Channel<KvWatchEvent>, stop: (): void => undefined };
    const stop = (): void => {
      this.#watchers.delete(entry);
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
    for (const r of this.#history) if (r.rev >= from && r.key.startsWith(prefix)) entry.channel.push(toEvent(r));
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
    for (const w of [...this.#watchers]) w.stop();
    return Promise.resolve();
  }
}

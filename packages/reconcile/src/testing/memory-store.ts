/**
 * An in-memory WatchableStore with compare-and-set: list with a revision, watch from a
 * revision, progress and expired events — the reference store for tests.
 */
import { systemClock, type Clock, type Timer } from '../clock.js';
import { checkNonNegative, checkPositiveInteger, ConflictError, NotFoundError } from '../errors.js';
import type {
  CompareAndSetResult,
  CompareAndSetStore,
  ListResult,
  ObjectEvent,
  StoreCallOptions,
  StoreEntry,
  WatchableStore,
  WatchEvent,
} from '../store.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Drives progress notifications. @default systemClock */
  clock?: Clock;
  /** Every open watch gets a `progress` event this often; 0 turns them off. @default 5_000 */
  progressIntervalMs?: number;
  /** Events kept for watching from the past; older ones are compacted away. @default 100_000 */
  historyLimit?: number;
}

/** Options of writes: compare-and-set on the key's revision. */
export interface WriteOptions {
  /** Write only if the key's current revision is this (0 = only if absent). */
  expectedRevision?: number;
}

type WatcherState = 'open' | 'stalled' | 'ending' | 'closed';

class MemoryWatch<T> implements AsyncIterableIterator<WatchEvent<T>> {
  #buffer: WatchEvent<T>[] = [];
  #head = 0;
  #pending: ((result: IteratorResult<WatchEvent<T>>) => void) | undefined;
  #pendingReject: ((error: unknown) => void) | undefined;
  #error: unknown = undefined;
  #hasError = false;
  state: WatcherState = 'open';
  readonly #unregister: (w: MemoryWatch<T>) => void;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => void this.return();
  /** Changes before this revision are not for this watch (it started in the future). */
  from = 0;

  constructor(unregister: (w: MemoryWatch<T>) => void, signal: AbortSignal | undefined) {
    this.#unregister = unregister;
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  push(event: WatchEvent<T>): void {
    if (this.state !== 'open') return;
    const pending = this.#pending;
    if (pending !== undefined) {
      this.#pending = undefined;
      this.#pendingReject = undefined;
      pending({ value: event, done: false });
    } else {
      this.#buffer.push(event);
    }
  }

  /** Delivers what is buffered, then ends. */
  end(): void {
    if (this.state !== 'open') return;
    this.state = 'ending';
    this.#unregister(this);
    if (this.#head === this.#buffer.length) this.#finish();
  }

  fail(error: unknown): void {
    if (this.state === 'closed') return;
    this.#hasError = true;
    this.#error = error;
    this.state = 'ending';
    this.#unregister(this);
    if (this.#head === this.#buffer.length) this.#finish();
  }

  stall(): void {
    if (this.state !== 'open') return;
    this.state = 'stalled';
    this.#unregister(this);
  }

  #finish(): void {
    this.state = 'closed';
    this.#signal?.removeEventListener('abort', this.#onAbort);
    const pending = this.#pending;
    const reject = this.#pendingReject;
    this.#pending = undefined;
    this.#pendingReject = undefined;
    if (this.#hasError && reject !== undefined) {
      this.#hasError = false;
      reject(this.#error);
    } else {
      pending?.({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<WatchEvent<T>>> {
    if (this.#head < this.#buffer.length) {
      const value = this.#buffer[this.#head++]!;
      if (this.#head === this.#buffer.length) {
        this.#buffer = [];
        this.#head = 0;
        if (this.state === 'ending') this.state = 'closed';
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.state === 'ending') this.state = 'closed';
    if (this.state === 'closed') {
      if (this.#hasError) {
        this.#hasError = false;
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the injected fault, unchanged
        return Promise.reject(this.#error);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.#pending = resolve;
      this.#pendingReject = reject;
    });
  }

  return(): Promise<IteratorResult<WatchEvent<T>>> {
    if (this.state !== 'closed') {
      this.#unregister(this);
      this.#buffer = [];
      this.#head = 0;
      this.#hasError = false;
      this.#finish();
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * An in-memory {@link WatchableStore} with compare-and-set, revisions, history, compaction
 * and progress notifications — the reference implementation of the contract, for tests and
 * examples — plus fault injection: `stallWatches`, `expireWatches`, `failWatches`,
 * `failNextLists`.
 *
 * Every write bumps the store's revision by one; an entry's `revision` is the revision of
 * the write that last changed it. Objects are stored as given: do not mutate them after
 * writing or reading.
 */
export class MemoryStore<T> implements WatchableStore<T>, CompareAndSetStore<T> {
  readonly #entries = new Map<string, StoreEntry<T>>();
  #revision = 0;
  #compactRevision = 0;
  #history: ObjectEvent<T>[] = [];
  #historyHead = 0;
  readonly #historyLimit: number;
  readonly #watchers = new Set<MemoryWatch<T>>();
  readonly #clock: Clock;
  readonly #progressIntervalMs: number;
  #progressTimer: Timer | undefined;
  #failLists = 0;
  #failListError: unknown;
  #listCalls = 0;
  #watchCalls = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#progressIntervalMs = checkNonNegative('progressIntervalMs', options.progressIntervalMs ?? 5_000);
    this.#historyLimit = checkPositiveInteger('historyLimit', options.historyLimit ?? 100_000);
  }

  /** The revision of the latest write (0 when nothing was written). */
  get revision(): number {
    return this.#revision;
  }

  /** Watches must start at or after this revision. */
  get compactRevision(): number {
    return this.#compactRevision;
  }

  /** Number of objects. */
  get size(): number {
    return this.#entries.size;
  }

  /** How many times `list` was called. */
  get listCalls(): number {
    return this.#listCalls;
  }

  /** How many times `watch` was called. */
  get watchCalls(): number {
    return this.#watchCalls;
  }

  /** Open (not stalled, not ended) watches. */
  get openWatches(): number {
    return this.#watchers.size;
  }

  /** The entry for `key`, synchronously. */
  read(key: string): StoreEntry<T> | undefined {
    return this.#entries.get(key);
  }

  /** Every entry, ordered by key. */
  entries(): StoreEntry<T>[] {
    return [...this.#entries.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Writes `object` at `key`; returns the new revision. Throws `ConflictError` on a revision mismatch. */
  put(key: string, object: T, options: WriteOptions = {}): number {
    const previous = this.#entries.get(key);
    this.#check(key, previous, options.expectedRevision);
    const revision = ++this.#revision;
    this.#entries.set(key, { key, object, revision });
    this.#record({ type: previous === undefined ? 'added' : 'modified', key, object, revision });
    return revision;
  }

  /** Creates `key`; throws `ConflictError` if it exists. */
  create(key: string, object: T): number {
    return this.put(key, object, { expectedRevision: 0 });
  }

  /** Deletes `key`; returns the new revision. Throws `NotFoundError` or `ConflictError`. */
  delete(key: string, options: WriteOptions = {}): number {
    const previous = this.#entries.get(key);
    if (previous === undefined) throw new NotFoundError(key);
    this.#check(key, previous, options.expectedRevision);
    const revision = ++this.#revision;
    this.#entries.delete(key);
    this.#record({ type: 'deleted', key, object: previous.object, revision });
    return revision;
  }

  get(key: string): Promise<StoreEntry<T> | undefined> {
    return Promise.resolve(this.#entries.get(key));
  }

  compareAndSet(key: string, object: T, expectedRevision: number): Promise<CompareAndSetResult> {
    const current = this.#entries.get(key)?.revision ?? 0;
    if (current !== expectedRevision) return Promise.resolve({ succeeded: false, revision: current });
    return Promise.resolve({ succeeded: true, revision: this.put(key, object) });
  }

  list(options: StoreCallOptions = {}): Promise<ListResult<T>> {
    this.#listCalls++;
    if (options.signal?.aborted) return Promise.reject(options.signal.reason as Error);
    if (this.#failLists > 0) {
      this.#failLists--;
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the injected fault, unchanged
      return Promise.reject(this.#failListError);
    }
    return Promise.resolve({ items: this.entries(), revision: this.#revision });
  }

  watch(fromRevision: number, options: StoreCallOptions = {}): AsyncIterable<WatchEvent<T>> {
    this.#watchCalls++;
    const w = new MemoryWatch<T>((x) => this.#unregister(x), options.signal);
    const from = fromRevision <= 0 ? this.#revision + 1 : fromRevision;
    w.from = from;
    if (from < this.#compactRevision) {
      w.push({ type: 'expired', revision: this.#compactRevision });
      w.end();
      return w;
    }
    for (let i = this.#historyIndex(from); i < this.#history.length; i++) w.push(this.#history[i]!);
    if (options.signal?.aborted) {
      void w.return();
      return w;
    }
    this.#watchers.add(w);
    this.#armProgress();
    return w;
  }

  /** Discards history before `revision` (default: everything up to now): watching from earlier expires. */
  compact(revision = this.#revision + 1): void {
    if (revision <= this.#compactRevision) return;
    this.#compactRevision = Math.min(revision, this.#revision + 1);
    this.#historyHead = this.#historyIndex(this.#compactRevision);
    this.#trimHistory();
  }

  /** Fault: every open watch goes silent forever (no events, no progress, never ends). Returns how many. */
  stallWatches(): number {
    const n = this.#watchers.size;
    for (const w of [...this.#watchers]) w.stall();
    return n;
  }

  /** Fault: every open watch yields `expired` and ends (as after a compaction). Returns how many. */
  expireWatches(): number {
    const n = this.#watchers.size;
    for (const w of [...this.#watchers]) {
      w.push({ type: 'expired', revision: this.#compactRevision });
      w.end();
    }
    return n;
  }

  /** Fault: every open watch throws `error` (after what it has buffered). Returns how many. */
  failWatches(error: unknown = new Error('watch connection lost')): number {
    const n = this.#watchers.size;
    for (const w of [...this.#watchers]) w.fail(error);
    return n;
  }

  /** Fault: the next `count` calls to `list` reject with `error`. */
  failNextLists(count: number, error: unknown = new Error('list failed')): void {
    this.#failLists = count;
    this.#failListError = error;
  }

  #check(key: string, previous: StoreEntry<T> | undefined, expected: number | undefined): void {
    if (expected === undefined) return;
    const current = previous?.revision ?? 0;
    if (current !== expected) throw new ConflictError(key, expected, current);
  }

  #record(event: ObjectEvent<T>): void {
    this.#history.push(event);
    if (this.#history.length - this.#historyHead > this.#historyLimit) {
      this.#historyHead = this.#history.length - this.#historyLimit;
      this.#compactRevision = this.#history[this.#historyHead]!.revision;
      this.#trimHistory();
    }
    for (const w of this.#watchers) if (event.revision >= w.from) w.push(event);
  }

  #trimHistory(): void {
    if (this.#historyHead > 1024 && this.#historyHead * 2 > this.#history.length) {
      this.#history = this.#history.slice(this.#historyHead);
      this.#historyHead = 0;
    }
  }

  /** Index of the first retained event with revision >= `revision`. */
  #historyIndex(revision: number): number {
    let lo = this.#historyHead;
    let hi = this.#history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#history[mid]!.revision < revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #unregister(w: MemoryWatch<T>): void {
    this.#watchers.delete(w);
    if (this.#watchers.size === 0) {
      this.#progressTimer?.cancel();
      this.#progressTimer = undefined;
    }
  }

  #armProgress(): void {
    if (this.#progressIntervalMs === 0 || this.#progressTimer !== undefined) return;
    this.#progressTimer = this.#clock.setTimer(() => {
      this.#progressTimer = undefined;
      if (this.#watchers.size === 0) return;
      const event: WatchEvent<T> = { type: 'progress', revision: this.#revision };
      for (const w of this.#watchers) w.push(event);
      this.#armProgress();
    }, this.#progressIntervalMs);
  }
}

// The work queue: client-go's util/workqueue (queue.go + delaying_queue.go +
// rate_limiting_queue.go) in one class, with two priority lanes.
import { systemClock, type Clock, type Timer } from './clock.js';
import { badOption, checkPositiveInteger } from './errors.js';
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter.js';

/**
 * `normal` for fresh events; `low` for keys from an initial list or a periodic resync, so
 * fresh events are handled first (see {@link WorkQueueOptions.lowPriorityInterval}).
 */
export type Priority = 'normal' | 'low';

/** What {@link WorkQueue.get} resolves to. */
export type QueueItem<TKey> = { key: TKey; shutdown: false } | { key: undefined; shutdown: true };

/** Plain callbacks a {@link WorkQueue} calls; each is optional. */
export interface WorkQueueMetrics<TKey> {
  /** A key became dirty (an `add` that was not absorbed by a pending one). */
  add?(key: TKey): void;
  /** A delayed or rate-limited re-add was requested. */
  retry?(key: TKey): void;
  /** The number of keys waiting to be taken changed. */
  depth?(depth: number): void;
  /** A worker took `key` (by `get`, `tryGet` or `getBatch`): it waited since its `add`. */
  get?(key: TKey): void;
  /** A worker finished with `key` (`done`). */
  done?(key: TKey): void;
}

/** Options of {@link WorkQueue}; every one has a default. */
export interface WorkQueueOptions<TKey> {
  /** Time source for `addAfter` and `addRateLimited`. @default systemClock */
  clock?: Clock;
  /** Used by `addRateLimited`, `forget` and `numRequeues`. @default defaultControllerRateLimiter({ clock }) */
  rateLimiter?: RateLimiter<TKey>;
  /**
   * Starvation guard: while low-priority keys wait, at least one of them is handed out for
   * every `lowPriorityInterval` normal-priority keys. @default 10
   */
  lowPriorityInterval?: number;
  /** Metric callbacks. @default none */
  metrics?: WorkQueueMetrics<TKey>;
}

const NORMAL = 0;
const LOW = 1;
type Lane = typeof NORMAL | typeof LOW;
const NONE = -1;

interface KeyState<TKey> {
  key: TKey;
  /** The lane it waits in, or NONE. */
  lane: Lane | typeof NONE;
  /** Ticket of its live lane entry (older entries of the same key are stale). */
  ticket: number;
  processing: boolean;
  /** Added again while processing: the lane to requeue it in at `done`, or NONE. */
  redirty: Lane | typeof NONE;
}

/**
 * A FIFO of key states with lazily skipped stale entries: two parallel arrays used as a
 * buffer between `head` and `tail`, reset to the start whenever it empties (no array
 * length changes on the hot path).
 */
class Fifo<TKey> {
  items: (KeyState<TKey> | undefined)[] = [];
  tickets: number[] = [];
  head = 0;
  tail = 0;
  /** Live (non-stale) entries. */
  live = 0;

  push(state: KeyState<TKey>, ticket: number): void {
    const t = this.tail++;
    this.items[t] = state;
    this.tickets[t] = ticket;
    this.live++;
  }

  /** Removes and returns the first live entry; the caller knows there is one. */
  shift(): KeyState<TKey> {
    const items = this.items;
    for (;;) {
      const i = this.head++;
      const state = items[i]!;
      const ticket = this.tickets[i]!;
      items[i] = undefined;
      if (this.head === this.tail) {
        this.head = 0;
        this.tail = 0;
      } else if (this.head > 4096 && this.head * 2 > this.tail) {
        this.#compact();
      }
      if (state.ticket === ticket) {
        this.live--;
        return state;
      }
    }
  }

  #compact(): void {
    const { head, tail } = this;
    this.items.copyWithin(0, head, tail);
    this.tickets.copyWithin(0, head, tail);
    this.items.fill(undefined, tail - head, tail);
    this.tail = tail - head;
    this.head = 0;
  }

  clear(): void {
    this.items = [];
    this.tickets = [];
    this.head = 0;
    this.tail = 0;
    this.live = 0;
  }
}

/** A binary min-heap of delayed keys ordered by (readyAt, sequence). */
class DelayHeap<TKey> {
  readonly keys: TKey[] = [];
  readonly readyAts: number[] = [];
  readonly seqs: number[] = [];
  #seq = 0;

  get size(): number {
    return this.keys.length;
  }

  push(key: TKey, readyAt: number): void {
    const seq = this.#seq++;
    let i = this.keys.length;
    this.keys.push(key);
    this.readyAts.push(readyAt);
    this.seqs.push(seq);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(readyAt, seq, this.readyAts[p]!, this.seqs[p]!)) break;
      this.#move(p, i);
      i = p;
    }
    this.#set(i, key, readyAt, seq);
  }

  peekReadyAt(): number {
    return this.readyAts[0]!;
  }

  /** Removes the minimum; returns its key and readyAt through `out`. */
  pop(out: { key?: TKey; readyAt: number }): void {
    out.key = this.keys[0];
    out.readyAt = this.readyAts[0]!;
    const lastKey = this.keys.pop()!;
    const lastReady = this.readyAts.pop()!;
    const lastSeq = this.seqs.pop()!;
    const n = this.keys.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.#less(this.readyAts[r]!, this.seqs[r]!, this.readyAts[l]!, this.seqs[l]!) ? r : l;
      if (!this.#less(this.readyAts[c]!, this.seqs[c]!, lastReady, lastSeq)) break;
      this.#move(c, i);
      i = c;
    }
    this.#set(i, lastKey, lastReady, lastSeq);
  }

  clear(): void {
    this.keys.length = 0;
    this.readyAts.length = 0;
    this.seqs.length = 0;
  }

  #less(ra: number, sa: number, rb: number, sb: number): boolean {
    return ra < rb || (ra === rb && sa < sb);
  }

  #move(from: number, to: number): void {
    this.keys[to] = this.keys[from]!;
    this.readyAts[to] = this.readyAts[from]!;
    this.seqs[to] = this.seqs[from]!;
  }

  #set(i: number, key: TKey, readyAt: number, seq: number): void {
    this.keys[i] = key;
    this.readyAts[i] = readyAt;
    this.seqs[i] = seq;
  }
}

const SHUTDOWN: QueueItem<never> = Object.freeze({ key: undefined, shutdown: true });

/**
 * A work queue with client-go's guarantees (`util/workqueue`), for any key type usable as a
 * `Map` key except `undefined` (strings in controllers; keys compare with SameValueZero, so
 * object keys are by identity).
 *
 * Guarantees:
 * - **Stingy**: a key added any number of times before a worker takes it is handed out
 *   once. `len()` counts distinct waiting keys.
 * - **Never concurrent per key**: a key taken with `get`/`tryGet` is not handed out again
 *   until `done(key)`. If it was added meanwhile, `done` puts it back (at the back of its
 *   lane), so an add during processing is never lost: the key is processed again after it.
 * - **Fair**: distinct keys come out in the order they were (first) added — FIFO — within
 *   a priority lane. A `normal` add of a key waiting in the `low` lane moves it to the back
 *   of the `normal` lane.
 * - **Priorities without starvation**: `normal` keys go before `low` ones (initial lists,
 *   resyncs), except that while low keys wait, one is handed out after every
 *   `lowPriorityInterval` normal ones.
 * - **Multi-consumer**: any number of workers may `await get()`; each waiting `get` gets a
 *   distinct key, in call order.
 * - **Shutdown**: after `shutDown()` adds are ignored; keys already waiting are still
 *   handed out, then every `get` resolves `{ shutdown: true }`. `shutDownWithDrain()` also
 *   waits until every taken key is `done`.
 * - **Delays**: `addAfter(key, ms)` adds the key once `ms` have passed on the clock; when a
 *   key is already waiting to be added, the earlier deadline wins. `addRateLimited(key)` is
 *   `addAfter(key, rateLimiter.when(key))`; `forget` and `numRequeues` pass through to the
 *   rate limiter.
 *
 * Everything is synchronous except waiting in `get`; `tryGet` and `getBatch` are the
 * promise-free fast path.
 */
export class WorkQueue<TKey> {
  readonly #states = new Map<TKey, KeyState<TKey>>();
  /** Recycled key states (bounded), to spare the allocator on the hot path. */
  readonly #free: KeyState<TKey>[] = [];
  readonly #lanes: [Fifo<TKey>, Fifo<TKey>] = [new Fifo<TKey>(), new Fifo<TKey>()];
  #ticket = 0;
  #queued = 0;
  #processing = 0;
  #normalsSinceLow = 0;
  readonly #lowPriorityInterval: number;
  /** Pending `get` resolvers between `#waiterHead` and `#waiterTail`. */
  #waiters: (((item: QueueItem<TKey>) => void) | undefined)[] = [];
  #waiterHead = 0;
  #waiterTail = 0;
  #shuttingDown = false;
  #drainWaiters: (() => void)[] = [];

  readonly #clock: Clock;
  #rateLimiter: RateLimiter<TKey> | undefined;
  readonly #metrics: WorkQueueMetrics<TKey> | undefined;
  // Created on first use: most queues in benchmarks and many in tests never delay.
  #waitingMap: Map<TKey, number> | undefined;
  #delayHeap: DelayHeap<TKey> | undefined;
  #timer: Timer | undefined;
  #timerAt = Infinity;
  readonly #popped: { key?: TKey; readyAt: number } = { readyAt: 0 };

  constructor(options: WorkQueueOptions<TKey> = {}) {
    if (typeof options !== 'object' || options === null) badOption('options', 'an object', options);
    this.#clock = options.clock ?? systemClock;
    this.#rateLimiter = options.rateLimiter;
    this.#lowPriorityInterval = checkPositiveInteger('lowPriorityInterval', options.lowPriorityInterval ?? 10);
    this.#metrics = options.metrics;
  }

  /**
   * Marks `key` as needing processing. Absorbed when the key is already waiting (stingy);
   * remembered for `done` when it is being processed; ignored after shutdown.
   */
  add(key: TKey, priority: Priority = 'normal'): void {
    if (this.#shuttingDown) return;
    const lane: Lane = priority === 'low' ? LOW : NORMAL;
    const state = this.#states.get(key);
    if (state === undefined) {
      let fresh = this.#free.pop();
      if (fresh === undefined) fresh = { key, lane: NONE, ticket: 0, processing: false, redirty: NONE };
      else fresh.key = key;
      this.#states.set(key, fresh);
      this.#metrics?.add?.(key);
      this.#enqueue(fresh, lane);
      return;
    }
    if (state.processing) {
      if (state.redirty === NONE) {
        state.redirty = lane;
        this.#metrics?.add?.(key);
      } else if (lane < state.redirty) {
        state.redirty = lane;
      }
      return;
    }
    if (lane < state.lane) {
      // Promote from the low lane: the old entry turns stale.
      this.#lanes[LOW].live--;
      state.lane = lane;
      state.ticket = ++this.#ticket;
      this.#lanes[lane].push(state, state.ticket);
    }
  }

  /**
   * Takes the next key, waiting until one is available. Resolves `{ key, shutdown: false }`
   * (call `done(key)` when finished with it) or, once shut down and empty,
   * `{ key: undefined, shutdown: true }`.
   */
  get(): Promise<QueueItem<TKey>> {
    if (this.#queued > 0) return Promise.resolve({ key: this.#take(), shutdown: false });
    if (this.#shuttingDown) return Promise.resolve(SHUTDOWN);
    return new Promise((resolve) => (this.#waiters[this.#waiterTail++] = resolve));
  }

  /**
   * The synchronous fast path of `get`: takes the next key if one is waiting (it must then
   * be `done`), else returns `undefined` (empty, or shut down and empty).
   */
  tryGet(): TKey | undefined {
    return this.#queued > 0 ? this.#take() : undefined;
  }

  /** Takes up to `max` waiting keys at once, without waiting (each must be `done`). */
  getBatch(max: number): TKey[] {
    const out: TKey[] = [];
    while (out.length < max && this.#queued > 0) out.push(this.#take());
    return out;
  }

  /**
   * Marks a taken key as finished. If it was added while being processed, it is queued
   * again now. Unknown keys are ignored.
   */
  done(key: TKey): void {
    const state = this.#states.get(key);
    if (!state?.processing) return;
    state.processing = false;
    this.#processing--;
    this.#metrics?.done?.(key);
    if (state.redirty !== NONE) {
      const lane = state.redirty;
      state.redirty = NONE;
      this.#enqueue(state, lane);
    } else {
      this.#states.delete(key);
      if (this.#free.length < 1024) this.#free.push(state);
      if (this.#processing === 0 && this.#drainWaiters.length > 0) this.#releaseDrainWaiters();
    }
  }

  /** Distinct keys waiting to be taken (not counting keys being processed or delayed). */
  len(): number {
    return this.#queued;
  }

  /** Keys taken and not yet `done`. */
  processingCount(): number {
    return this.#processing;
  }

  /** True once `shutDown` or `shutDownWithDrain` was called. */
  shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /**
   * Stops accepting adds (they are ignored from now on) and cancels delayed adds. Keys
   * already waiting are still handed out; then waiting and later `get`s resolve
   * `{ shutdown: true }`. Also ends a pending `shutDownWithDrain` wait.
   */
  shutDown(): void {
    this.#beginShutdown();
    this.#releaseDrainWaiters();
  }

  /** `shutDown`, then resolves once every taken key has been marked `done`. */
  shutDownWithDrain(): Promise<void> {
    this.#beginShutdown();
    if (this.#processing === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /**
   * Adds `key` after `delayMs` on the clock (at once when `delayMs <= 0`). If the key is
   * already waiting for a delayed add, the earlier deadline wins.
   */
  addAfter(key: TKey, delayMs: number): void {
    if (this.#shuttingDown) return;
    this.#metrics?.retry?.(key);
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    const readyAt = this.#clock.now() + delayMs;
    const existing = this.#waiting.get(key);
    if (existing !== undefined && existing <= readyAt) return;
    this.#waiting.set(key, readyAt);
    this.#heap.push(key, readyAt);
    if (readyAt < this.#timerAt) this.#arm(readyAt);
  }

  /** `addAfter(key, rateLimiter.when(key))`: retry with backoff. */
  addRateLimited(key: TKey): void {
    if (this.#shuttingDown) return;
    this.addAfter(key, this.#limiter().when(key));
  }

  /** Clears the key's failure history in the rate limiter (call on success). */
  forget(key: TKey): void {
    this.#rateLimiter?.forget(key);
  }

  /** Failures of the key the rate limiter is tracking. */
  numRequeues(key: TKey): number {
    return this.#rateLimiter?.numRequeues(key) ?? 0;
  }

  /** Keys waiting for a delayed add. */
  delayedCount(): number {
    return this.#waitingMap?.size ?? 0;
  }

  #limiter(): RateLimiter<TKey> {
    return (this.#rateLimiter ??= defaultControllerRateLimiter<TKey>({ clock: this.#clock }));
  }

  get #waiting(): Map<TKey, number> {
    return (this.#waitingMap ??= new Map());
  }

  get #heap(): DelayHeap<TKey> {
    return (this.#delayHeap ??= new DelayHeap<TKey>());
  }

  #enqueue(state: KeyState<TKey>, lane: Lane): void {
    if (this.#waiterHead < this.#waiterTail) {
      // A worker is waiting: hand the key over directly.
      const resolve = this.#waiters[this.#waiterHead]!;
      this.#waiters[this.#waiterHead++] = undefined;
      if (this.#waiterHead === this.#waiterTail) {
        this.#waiterHead = 0;
        this.#waiterTail = 0;
      }
      state.lane = NONE;
      state.processing = true;
      this.#processing++;
      this.#metrics?.get?.(state.key);
      resolve({ key: state.key, shutdown: false });
      return;
    }
    state.lane = lane;
    state.ticket = ++this.#ticket;
    this.#lanes[lane].push(state, state.ticket);
    this.#queued++;
    this.#metrics?.depth?.(this.#queued);
  }

  #take(): TKey {
    const lanes = this.#lanes;
    let lane: Lane = NORMAL;
    if (lanes[LOW].live > 0) {
      if (lanes[NORMAL].live === 0 || this.#normalsSinceLow >= this.#lowPriorityInterval) {
        lane = LOW;
        this.#normalsSinceLow = 0;
      } else {
        this.#normalsSinceLow++;
      }
    }
    const state = lanes[lane].shift();
    state.lane = NONE;
    state.processing = true;
    this.#queued--;
    this.#processing++;
    this.#metrics?.depth?.(this.#queued);
    this.#metrics?.get?.(state.key);
    return state.key;
  }

  #beginShutdown(): void {
    this.#shuttingDown = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#waitingMap?.clear();
    this.#delayHeap?.clear();
    const waiters = this.#waiters.slice(this.#waiterHead, this.#waiterTail);
    this.#waiters = [];
    this.#waiterHead = 0;
    this.#waiterTail = 0;
    for (const resolve of waiters) resolve!(SHUTDOWN);
  }

  #releaseDrainWaiters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #arm(at: number): void {
    this.#timer?.cancel();
    this.#timerAt = at;
    this.#timer = this.#clock.setTimer(() => this.#onTimer(), at - this.#clock.now());
  }

  #onTimer(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#clock.now();
    const heap = this.#heap;
    const out = this.#popped;
    while (heap.size > 0 && heap.peekReadyAt() <= now) {
      heap.pop(out);
      const key = out.key as TKey;
      if (this.#waiting.get(key) === out.readyAt) {
        this.#waiting.delete(key);
        this.add(key);
      }
    }
    if (heap.size > 0) this.#arm(heap.peekReadyAt());
  }
}

// Leader election over any compare-and-set store, after client-go tools/leaderelection.
import { sleep, systemClock, type Clock } from './clock.js';
import { badOption, checkPositive } from './errors.js';
import { toLogger, type Logger, type LoggerLike } from './logger.js';
import { hashString, seededRandom } from './random.js';
import type { CompareAndSetStore, StoreEntry } from './store.js';

/** The record stored at the lease key (client-go's `LeaderElectionRecord`, in ms). */
export interface LeaseRecord {
  /** Who holds the lease; `''` once released. */
  readonly holderIdentity: string;
  /** How long the lease is valid after others observe a renewal, in ms. */
  readonly leaseDurationMs: number;
  /** When the holder acquired it, on the holder's clock (informational). */
  readonly acquireTime: number;
  /** When the holder last renewed it, on the holder's clock (informational). */
  readonly renewTime: number;
  /** How many times the lease changed hands. */
  readonly leaderTransitions: number;
}

/** Passed to `onStartedLeading`. */
export interface LeadingContext {
  /** Aborted the moment this replica stops leading: stop all leader-only work. */
  readonly signal: AbortSignal;
  /**
   * The revision of the store write that acquired the lease: it only grows from one term to
   * the next, so pass it along with writes and let the receiving side reject a token older
   * than one it has seen.
   */
  readonly fencingToken: number;
}

/** Options of {@link LeaderElector}. */
export interface LeaderElectorOptions {
  /** Where the lease record lives. */
  store: CompareAndSetStore<LeaseRecord>;
  /** The lease's key in the store. */
  key: string;
  /** This replica's unique identity (e.g. host name + pid). */
  identity: string;
  /** How long non-leaders wait after observing a renewal before taking over. @default 15_000 */
  leaseDurationMs?: number;
  /** How long the leader keeps trying to renew before it stops leading. Must be < leaseDurationMs. @default 10_000 */
  renewDeadlineMs?: number;
  /** Interval between attempts. Must satisfy renewDeadlineMs > 1.2 × retryPeriodMs. @default 2_000 */
  retryPeriodMs?: number;
  /** Candidates wait `retryPeriodMs × (1 + jitter × random())` between attempts. @default 0.2 */
  jitter?: number;
  /** Release the lease (holder `''`) when stopped by the signal, so others take over at once. @default true */
  releaseOnStop?: boolean;
  /** Called when this replica becomes leader. Not awaited; a throw is logged. */
  onStartedLeading: (context: LeadingContext) => void | Promise<void>;
  /** Called when this replica stops leading (lost the lease, or stopped). @default none */
  onStoppedLeading?: () => void;
  /** Called when the observed holder changes (including to this replica). @default none */
  onNewLeader?: (identity: string) => void;
  /** @default systemClock */
  clock?: Clock;
  /** Randomness for jitter. @default a generator seeded from `identity` */
  random?: () => number;
  /** @default silentLogger */
  logger?: LoggerLike;
}

/** client-go's `JitterFactor`, used in the validation `renewDeadline > 1.2 × retryPeriod`. */
const JITTER_FACTOR = 1.2;

/**
 * Elects one leader among replicas sharing a lease key in a compare-and-set store, with
 * client-go's defaults (lease 15 s, renew deadline 10 s, retry 2 s) and validation
 * (leaseDuration > renewDeadline > 1.2 × retryPeriod, all > 0).
 *
 * - A candidate reads the lease every `retryPeriodMs` (plus up to `jitter` of it). It takes
 *   the lease when it is free (absent, or released with holder `''`), or when the record
 *   has not changed for `leaseDurationMs` **as timed on the candidate's own clock** since it
 *   first observed that version; it also wakes exactly at that expiry. So once a leader
 *   dies, another replica leads within `leaseDurationMs + (1 + jitter) × retryPeriodMs`
 *   (17.4 s with the defaults) of its last renewal.
 * - The leader renews every `retryPeriodMs` by compare-and-set. If no renewal has succeeded
 *   for `renewDeadlineMs` (timed from the start of the last successful attempt), it stops
 *   leading: its `signal` aborts and `onStoppedLeading` runs, `leaseDurationMs −
 *   renewDeadlineMs` before anyone else may take over — so, with clocks that tick at the
 *   same rate, never two leaders. It then campaigns again.
 * - On stop (signal aborted) the leader releases the lease unless `releaseOnStop` is false.
 *
 * **A lease is not a lock.** A leader can be paused (GC, swapped, a stopped VM) past its
 * deadline and resume believing it still leads; its writes may race the next leader's.
 * Guard side effects with the {@link LeadingContext.fencingToken} (the store revision of
 * the acquiring write, increasing across terms) or with compare-and-set on the objects
 * themselves; treat leadership as an optimisation that usually prevents duplicate work,
 * not as mutual exclusion.
 *
 * Differences from client-go: candidate jitter is `jitter` (0.2) rather than 1.2 so the
 * takeover bound above holds; `onStoppedLeading` runs only after leading; after losing
 * the lease, `run` keeps campaigning until its signal aborts.
 */
export class LeaderElector {
  readonly #store: CompareAndSetStore<LeaseRecord>;
  readonly #key: string;
  readonly #identity: string;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #jitter: number;
  readonly #releaseOnStop: boolean;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #logger: Logger;
  readonly #onStartedLeading: (context: LeadingContext) => void | Promise<void>;
  readonly #onStoppedLeading: (() => void) | undefined;
  readonly #onNewLeader: ((identity: string) => void) | undefined;

  #observed: LeaseRecord | undefined;
  #observedRevision = 0;
  #observedTime = 0;
  #lastContact: number | undefined;
  #reportedLeader: string | undefined;
  #leading = false;
  #fencingToken: number | undefined;
  #running = false;

  constructor(options: LeaderElectorOptions) {
    if (typeof options !== 'object' || options === null) badOption('options', 'an object', options);
    const { store, key, identity } = options;
    if (typeof store !== 'object' || store === null || typeof store.get !== 'function' || typeof store.compareAndSet !== 'function') {
      badOption('store', 'a CompareAndSetStore (get and compareAndSet methods)', store);
    }
    if (typeof key !== 'string' || key === '') badOption('key', 'a non-empty string', key);
    if (typeof identity !== 'string' || identity === '') badOption('identity', 'a non-empty string', identity);
    if (typeof options.onStartedLeading !== 'function') badOption('onStartedLeading', 'a function', options.onStartedLeading);
    this.#leaseDurationMs = checkPositive('leaseDurationMs', options.leaseDurationMs ?? 15_000);
    this.#renewDeadlineMs = checkPositive('renewDeadlineMs', options.renewDeadlineMs ?? 10_000);
    this.#retryPeriodMs = checkPositive('retryPeriodMs', options.retryPeriodMs ?? 2_000);
    if (this.#leaseDurationMs <= this.#renewDeadlineMs) {
      badOption('leaseDurationMs', `greater than renewDeadlineMs (${this.#renewDeadlineMs})`, this.#leaseDurationMs);
    }
    if (this.#renewDeadlineMs <= JITTER_FACTOR * this.#retryPeriodMs) {
      badOption(
        'renewDeadlineMs',
        `greater than ${JITTER_FACTOR} × retryPeriodMs (${JITTER_FACTOR * this.#retryPeriodMs})`,
        this.#renewDeadlineMs,
      );
    }
    const jitter = options.jitter ?? 0.2;
    if (typeof jitter !== 'number' || !(jitter >= 0) || !Number.isFinite(jitter)) badOption('jitter', 'a finite number >= 0', jitter);
    this.#jitter = jitter;
    this.#store = store;
    this.#key = key;
    this.#identity = identity;
    this.#releaseOnStop = options.releaseOnStop ?? true;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? seededRandom(hashString(identity));
    this.#logger = toLogger(options.logger);
    this.#onStartedLeading = options.onStartedLeading;
    this.#onStoppedLeading = options.onStoppedLeading;
    this.#onNewLeader = options.onNewLeader;
  }

  /** This replica's identity. */
  get identity(): string {
    return this.#identity;
  }

  /** True while this replica leads (between `onStartedLeading` and `onStoppedLeading`). */
  isLeader(): boolean {
    return this.#leading;
  }

  /**
   * When (clock ms) the store last answered an attempt to acquire or renew the lease, whatever
   * the answer; `undefined` before the first. A standby that heard from the store within a
   * lease duration is a healthy standby (readiness).
   */
  lastStoreContact(): number | undefined {
    return this.#lastContact;
  }

  /** The last observed holder (`''` when released, `undefined` before the first read). */
  leader(): string | undefined {
    return this.#observed?.holderIdentity;
  }

  /** The current term's fencing token while leading, else `undefined`. */
  fencingToken(): number | undefined {
    return this.#leading ? this.#fencingToken : undefined;
  }

  /**
   * Campaigns, leads, renews — until `signal` aborts (then releases the lease when
   * leading and `releaseOnStop`). Resolves once stopped; never rejects because of store
   * errors (they count as failed attempts).
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#running) throw new Error(`LeaderElector "${this.#identity}" is already running`);
    this.#running = true;
    try {
      while (!signal.aborted) {
        if (!(await this.#acquire(signal))) break;
        await this.#lead(signal);
      }
    } finally {
      this.#running = false;
    }
  }

  async #acquire(signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      const ok = await this.#tryAcquireOrRenew(this.#renewDeadlineMs);
      this.#reportTransition();
      if (ok) return true;
      let wait = this.#retryPeriodMs * (1 + this.#jitter * this.#random());
      const o = this.#observed;
      if (o !== undefined && o.holderIdentity !== '') {
        const untilExpiry = this.#observedTime + o.leaseDurationMs - this.#clock.now();
        if (untilExpiry > 0 && untilExpiry < wait) wait = untilExpiry;
      }
      if (!(await sleep(this.#clock, wait, signal))) return false;
    }
    return false;
  }

  async #lead(signal: AbortSignal): Promise<void> {
    const leading = new AbortController();
    this.#leading = true;
    const token = this.#fencingToken!;
    this.#logger.info('started leading', { identity: this.#identity, fencingToken: token });
    try {
      const started = this.#onStartedLeading({ signal: leading.signal, fencingToken: token });
      if (started !== undefined && typeof (started).then === 'function') {
        (started).catch((error: unknown) => this.#logger.error('onStartedLeading failed', { error }));
      }
    } catch (error) {
      this.#logger.error('onStartedLeading threw', { error });
    }
    let lastRenewStart = this.#observedTime;
    while (!signal.aborted) {
      const deadline = lastRenewStart + this.#renewDeadlineMs;
      const slept = await sleep(this.#clock, Math.min(this.#retryPeriodMs, deadline - this.#clock.now()), signal);
      if (!slept) break;
      const start = this.#clock.now();
      if (start >= deadline) {
        this.#logger.warn('failed to renew lease within the renew deadline', { identity: this.#identity });
        break;
      }
      const ok = await this.#tryAcquireOrRenew(deadline - start);
      this.#reportTransition();
      if (ok) lastRenewStart = start;
      else if (this.#observed?.holderIdentity !== this.#identity) {
        this.#logger.warn('lease taken by another replica', { identity: this.#identity, holder: this.#observed?.holderIdentity });
        break;
      }
    }
    this.#leading = false;
    leading.abort(new Error('stopped leading'));
    if (signal.aborted && this.#releaseOnStop) await this.#release();
    this.#logger.info('stopped leading', { identity: this.#identity });
    try {
      this.#onStoppedLeading?.();
    } catch (error) {
      this.#logger.error('onStoppedLeading threw', { error });
    }
  }

  /** One attempt; `timeoutMs` bounds the store calls. */
  async #tryAcquireOrRenew(timeoutMs: number): Promise<boolean> {
    const now = this.#clock.now();
    const wasLeader = this.#leading;
    const desired = (acquireTime: number, leaderTransitions: number): LeaseRecord => ({
      holderIdentity: this.#identity,
      leaseDurationMs: this.#leaseDurationMs,
      acquireTime,
      renewTime: now,
      leaderTransitions,
    });
    try {
      const o = this.#observed;
      if (o?.holderIdentity === this.#identity && this.#observedTime + o.leaseDurationMs > now) {
        // Fast path: renew what we wrote last.
        const record = desired(o.acquireTime, o.leaderTransitions);
        const r = await this.#withTimeout(this.#store.compareAndSet(this.#key, record, this.#observedRevision), timeoutMs);
        if (r !== undefined) this.#lastContact = this.#clock.now();
        if (r?.succeeded === true) {
          this.#setObserved(record, r.revision, now);
          if (!wasLeader) this.#fencingToken = r.revision;
          return true;
        }
      }
      const entry = await this.#withTimeout<StoreEntry<LeaseRecord> | undefined | 'timeout'>(
        this.#store.get(this.#key),
        timeoutMs - (this.#clock.now() - now),
        'timeout',
      );
      if (entry === 'timeout') return false;
      this.#lastContact = this.#clock.now();
      if (entry === undefined) {
        const record = desired(now, 0);
        const r = await this.#withTimeout(this.#store.compareAndSet(this.#key, record, 0), timeoutMs - (this.#clock.now() - now));
        if (r?.succeeded !== true) return false;
        this.#setObserved(record, r.revision, now);
        this.#fencingToken = r.revision;
        return true;
      }
      if (entry.revision !== this.#observedRevision || this.#observed === undefined) {
        this.#setObserved(entry.object, entry.revision, this.#clock.now());
      }
      const current = this.#observed!;
      const mine = current.holderIdentity === this.#identity;
      if (current.holderIdentity !== '' && !mine && this.#observedTime + current.leaseDurationMs > now) return false;
      const record = mine
        ? desired(current.acquireTime, current.leaderTransitions)
        : desired(now, current.leaderTransitions + 1);
      const r = await this.#withTimeout(
        this.#store.compareAndSet(this.#key, record, entry.revision),
        timeoutMs - (this.#clock.now() - now),
      );
      if (r?.succeeded !== true) return false;
      this.#setObserved(record, r.revision, now);
      if (!wasLeader) this.#fencingToken = r.revision;
      return true;
    } catch (error) {
      this.#logger.warn('lease attempt failed', { identity: this.#identity, error });
      return false;
    }
  }

  async #release(): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const o = this.#observed;
        if (o?.holderIdentity !== this.#identity) return;
        const now = this.#clock.now();
        const record: LeaseRecord = {
          holderIdentity: '',
          leaseDurationMs: 1,
          acquireTime: now,
          renewTime: now,
          leaderTransitions: o.leaderTransitions,
        };
        const r = await this.#withTimeout(this.#store.compareAndSet(this.#key, record, this.#observedRevision), this.#renewDeadlineMs);
        if (r?.succeeded === true) {
          this.#setObserved(record, r.revision, now);
          return;
        }
        const entry = await this.#withTimeout<StoreEntry<LeaseRecord> | undefined | 'timeout'>(
          this.#store.get(this.#key),
          this.#renewDeadlineMs,
          'timeout',
        );
        if (entry === 'timeout' || entry === undefined) return;
        this.#setObserved(entry.object, entry.revision, this.#clock.now());
      } catch (error) {
        this.#logger.warn('failed to release lease', { identity: this.#identity, error });
        return;
      }
    }
  }

  #setObserved(record: LeaseRecord, revision: number, time: number): void {
    this.#observed = record;
    this.#observedRevision = revision;
    this.#observedTime = time;
  }

  #reportTransition(): void {
    const holder = this.#observed?.holderIdentity;
    if (holder === undefined || holder === this.#reportedLeader) return;
    this.#reportedLeader = holder;
    try {
      this.#onNewLeader?.(holder);
    } catch (error) {
      this.#logger.error('onNewLeader threw', { error });
    }
  }

  /** Races a store call against a deadline on the clock; `fallback` on timeout. */
  #withTimeout<R>(promise: Promise<R>, ms: number, fallback?: R): Promise<R | undefined> {
    if (ms <= 0) {
      promise.catch(() => undefined);
      return Promise.resolve(fallback);
    }
    return new Promise<R | undefined>((resolve, reject) => {
      const timer = this.#clock.setTimer(() => {
        promise.catch(() => undefined);
        resolve(fallback);
      }, ms);
      promise.then(
        (value) => {
          timer.cancel();
          resolve(value);
        },
        (error: unknown) => {
          timer.cancel();
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- pass the store's error through unchanged
          reject(error);
        },
      );
    });
  }
}

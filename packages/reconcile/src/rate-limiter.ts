// Rate limiters with client-go's semantics (util/workqueue/default_rate_limiters.go and
// golang.org/x/time/rate for the token bucket). Delays are milliseconds.
import { systemClock, type Clock } from './clock.js';
import { badOption, checkNonNegative, checkPositiveInteger } from './errors.js';

/**
 * Decides how long a key waits before it is retried. Stateful: `when` records a failure.
 */
export interface RateLimiter<TKey> {
  /** Records one more failure of `key` and returns how long to wait before retrying it, in ms. */
  when(key: TKey): number;
  /** Stops tracking `key` (it succeeded or was given up on): its next `when` starts afresh. */
  forget(key: TKey): void;
  /** How many failures of `key` are being tracked. */
  numRequeues(key: TKey): number;
}

/** Options of {@link ExponentialFailureRateLimiter}. */
export interface ExponentialFailureRateLimiterOptions {
  /** Delay after the first failure, in ms. @default 5 */
  baseDelayMs?: number;
  /** Upper bound of the delay, in ms. @default 1_000_000 (1000 s) */
  maxDelayMs?: number;
}

/**
 * Per-key exponential backoff: the n-th consecutive failure of a key (counting from 0) waits
 * `min(baseDelayMs × 2^n, maxDelayMs)`. With the defaults: 5, 10, 20, 40 ms … capped at
 * 1000 s (reached after 18 failures). `forget` resets the key.
 */
export class ExponentialFailureRateLimiter<TKey> implements RateLimiter<TKey> {
  readonly #failures = new Map<TKey, number>();
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;

  constructor(options: ExponentialFailureRateLimiterOptions = {}) {
    this.#baseDelayMs = checkNonNegative('baseDelayMs', options.baseDelayMs ?? 5);
    this.#maxDelayMs = checkNonNegative('maxDelayMs', options.maxDelayMs ?? 1_000_000);
  }

  when(key: TKey): number {
    const exp = this.#failures.get(key) ?? 0;
    this.#failures.set(key, exp + 1);
    const backoff = this.#baseDelayMs * 2 ** exp;
    return backoff > this.#maxDelayMs ? this.#maxDelayMs : backoff;
  }

  forget(key: TKey): void {
    this.#failures.delete(key);
  }

  numRequeues(key: TKey): number {
    return this.#failures.get(key) ?? 0;
  }
}

/** Options of {@link BucketRateLimiter}. */
export interface BucketRateLimiterOptions {
  /** Tokens added per second (`Infinity` = no limit). @default 10 */
  qps?: number;
  /** Bucket size: how many retries may go without waiting; the bucket starts full. @default 100 */
  burst?: number;
  /** Time source. @default systemClock */
  clock?: Clock;
}

/**
 * One token bucket shared by all keys (golang.org/x/time/rate's `Reserve().Delay()`): the
 * bucket holds up to `burst` tokens, starts full and refills at `qps` per second; each
 * `when` takes a token, going into debt when empty, and returns the time until the debt is
 * repaid: after the burst is spent, consecutive immediate calls wait 100, 200, 300 ms … at
 * 10 qps. `forget` does nothing and `numRequeues` is always 0 (nothing is per key).
 */
export class BucketRateLimiter<TKey> implements RateLimiter<TKey> {
  readonly #qps: number;
  readonly #burst: number;
  readonly #clock: Clock;
  #tokens: number;
  #last: number | undefined;

  constructor(options: BucketRateLimiterOptions = {}) {
    const qps = options.qps ?? 10;
    if (typeof qps !== 'number' || !(qps > 0)) badOption('qps', 'a number > 0 (Infinity for no limit)', qps);
    this.#qps = qps;
    this.#burst = checkPositiveInteger('burst', options.burst ?? 100);
    this.#clock = options.clock ?? systemClock;
    this.#tokens = this.#burst;
  }

  when(_key: TKey): number {
    if (this.#qps === Infinity) return 0;
    const now = this.#clock.now();
    let tokens = this.#tokens;
    if (this.#last !== undefined) {
      const elapsedMs = now < this.#last ? 0 : now - this.#last;
      tokens += (elapsedMs / 1000) * this.#qps;
      if (tokens > this.#burst) tokens = this.#burst;
    }
    tokens -= 1;
    this.#tokens = tokens;
    this.#last = now;
    if (tokens >= 0) return 0;
    // time.Duration is whole nanoseconds: truncate as Go does.
    return Math.trunc((-tokens / this.#qps) * 1e9) / 1e6;
  }

  forget(_key: TKey): void {
    /* the bucket is not per key */
  }

  numRequeues(_key: TKey): number {
    return 0;
  }
}

/** Options of {@link FastSlowRateLimiter}. */
export interface FastSlowRateLimiterOptions {
  /** Delay of the first `maxFastAttempts` failures of a key, in ms. */
  fastDelayMs: number;
  /** Delay of every later failure, in ms. */
  slowDelayMs: number;
  /** How many failures get the fast delay. */
  maxFastAttempts: number;
}

/**
 * Per key: the first `maxFastAttempts` failures wait `fastDelayMs`, later ones
 * `slowDelayMs`, until `forget`.
 */
export class FastSlowRateLimiter<TKey> implements RateLimiter<TKey> {
  readonly #failures = new Map<TKey, number>();
  readonly #fastDelayMs: number;
  readonly #slowDelayMs: number;
  readonly #maxFastAttempts: number;

  constructor(options: FastSlowRateLimiterOptions) {
    if (typeof options !== 'object' || options === null) badOption('options', 'an object', options);
    this.#fastDelayMs = checkNonNegative('fastDelayMs', options.fastDelayMs);
    this.#slowDelayMs = checkNonNegative('slowDelayMs', options.slowDelayMs);
    if (!Number.isInteger(options.maxFastAttempts) || options.maxFastAttempts < 0) {
      badOption('maxFastAttempts', 'an integer >= 0', options.maxFastAttempts);
    }
    this.#maxFastAttempts = options.maxFastAttempts;
  }

  when(key: TKey): number {
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    return failures <= this.#maxFastAttempts ? this.#fastDelayMs : this.#slowDelayMs;
  }

  forget(key: TKey): void {
    this.#failures.delete(key);
  }

  numRequeues(key: TKey): number {
    return this.#failures.get(key) ?? 0;
  }
}

/**
 * Asks every limiter (each records the failure) and returns the longest delay;
 * `numRequeues` is the largest count and `forget` forgets in all of them. With a token
 * bucket inside, a burst can appear exceeded when some keys were delayed longer by another
 * limiter (as client-go notes).
 */
export class MaxOfRateLimiter<TKey> implements RateLimiter<TKey> {
  readonly #limiters: readonly RateLimiter<TKey>[];

  constructor(...limiters: RateLimiter<TKey>[]) {
    this.#limiters = limiters;
  }

  when(key: TKey): number {
    let delay = 0;
    for (const limiter of this.#limiters) {
      const d = limiter.when(key);
      if (d > delay) delay = d;
    }
    return delay;
  }

  forget(key: TKey): void {
    for (const limiter of this.#limiters) limiter.forget(key);
  }

  numRequeues(key: TKey): number {
    let n = 0;
    for (const limiter of this.#limiters) {
      const c = limiter.numRequeues(key);
      if (c > n) n = c;
    }
    return n;
  }
}

/** Caps another limiter's delay at `maxDelayMs` (client-go's `WithMaxWaitRateLimiter`). */
export class MaxWaitRateLimiter<TKey> implements RateLimiter<TKey> {
  readonly #limiter: RateLimiter<TKey>;
  readonly #maxDelayMs: number;

  constructor(limiter: RateLimiter<TKey>, maxDelayMs: number) {
    this.#limiter = limiter;
    this.#maxDelayMs = checkNonNegative('maxDelayMs', maxDelayMs);
  }

  when(key: TKey): number {
    const d = this.#limiter.when(key);
    return d > this.#maxDelayMs ? this.#maxDelayMs : d;
  }

  forget(key: TKey): void {
    this.#limiter.forget(key);
  }

  numRequeues(key: TKey): number {
    return this.#limiter.numRequeues(key);
  }
}

/** Options of {@link defaultControllerRateLimiter}. */
export interface DefaultControllerRateLimiterOptions {
  /** Time source of the token bucket. @default systemClock */
  clock?: Clock;
}

/**
 * client-go's `DefaultControllerRateLimiter`: the max of per-key exponential backoff (5 ms
 * doubling, capped at 1000 s) and an overall token bucket (10 qps, burst 100).
 */
export function defaultControllerRateLimiter<TKey>(
  options: DefaultControllerRateLimiterOptions = {},
): RateLimiter<TKey> {
  return new MaxOfRateLimiter<TKey>(
    new ExponentialFailureRateLimiter<TKey>({ baseDelayMs: 5, maxDelayMs: 1_000_000 }),
    new BucketRateLimiter<TKey>({ qps: 10, burst: 100, clock: options.clock ?? systemClock }),
  );
}

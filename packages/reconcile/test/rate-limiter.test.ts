import { describe, expect, it } from 'vitest';
import {
  BucketRateLimiter,
  defaultControllerRateLimiter,
  ExponentialFailureRateLimiter,
  FastSlowRateLimiter,
  MaxOfRateLimiter,
  MaxWaitRateLimiter,
  type RateLimiter,
} from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';

const whens = <K>(limiter: RateLimiter<K>, key: K, n: number): number[] => Array.from({ length: n }, () => limiter.when(key));

describe('ExponentialFailureRateLimiter (client-go ItemExponentialFailureRateLimiter)', () => {
  it('doubles per failure of a key, counts requeues, and forget resets', () => {
    const l = new ExponentialFailureRateLimiter<string>({ baseDelayMs: 1, maxDelayMs: 1000 });
    expect(whens(l, 'one', 5)).toEqual([1, 2, 4, 8, 16]);
    expect(l.numRequeues('one')).toBe(5);
    expect(whens(l, 'two', 2)).toEqual([1, 2]);
    expect(l.numRequeues('two')).toBe(2);
    l.forget('one');
    expect(l.numRequeues('one')).toBe(0);
    expect(l.when('one')).toBe(1);
  });

  it('caps at maxDelayMs and never overflows', () => {
    const l = new ExponentialFailureRateLimiter<string>({ baseDelayMs: 1, maxDelayMs: 1_000_000 });
    whens(l, 'one', 5);
    expect(l.when('one')).toBe(32);
    whens(l, 'overflow', 1000);
    expect(l.when('overflow')).toBe(1_000_000);
    const minutes = new ExponentialFailureRateLimiter<string>({ baseDelayMs: 60_000, maxDelayMs: 1000 * 3_600_000 });
    whens(minutes, 'two', 2);
    expect(minutes.when('two')).toBe(4 * 60_000);
    whens(minutes, 'overflow', 1000);
    expect(minutes.when('overflow')).toBe(1000 * 3_600_000);
  });

  it('defaults to 5 ms doubling up to 1000 s, value by value', () => {
    const l = new ExponentialFailureRateLimiter<string>();
    const expected = [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240, 20480, 40960, 81920, 163840, 327680, 655360];
    expect(whens(l, 'k', expected.length)).toEqual(expected);
    expect(whens(l, 'k', 3)).toEqual([1_000_000, 1_000_000, 1_000_000]);
  });

  it('rejects bad options with a TypeError naming expected and received', () => {
    expect(() => new ExponentialFailureRateLimiter({ baseDelayMs: -1 })).toThrow(/Expected `baseDelayMs` to be a finite number >= 0, got -1/);
    expect(() => new ExponentialFailureRateLimiter({ maxDelayMs: Number.NaN })).toThrow(TypeError);
  });
});

describe('FastSlowRateLimiter (client-go ItemFastSlowRateLimiter)', () => {
  it('is fast for maxFastAttempts failures, then slow, per key', () => {
    const l = new FastSlowRateLimiter<string>({ fastDelayMs: 5, slowDelayMs: 10_000, maxFastAttempts: 3 });
    expect(whens(l, 'one', 5)).toEqual([5, 5, 5, 10_000, 10_000]);
    expect(l.numRequeues('one')).toBe(5);
    expect(whens(l, 'two', 2)).toEqual([5, 5]);
    expect(l.numRequeues('two')).toBe(2);
    l.forget('one');
    expect(l.numRequeues('one')).toBe(0);
    expect(l.when('one')).toBe(5);
  });
});

describe('MaxOfRateLimiter (client-go MaxOfRateLimiter)', () => {
  it('returns the worst delay, the largest count, and forgets everywhere', () => {
    const l = new MaxOfRateLimiter<string>(
      new FastSlowRateLimiter({ fastDelayMs: 5, slowDelayMs: 3000, maxFastAttempts: 3 }),
      new ExponentialFailureRateLimiter({ baseDelayMs: 1, maxDelayMs: 1000 }),
    );
    expect(whens(l, 'one', 5)).toEqual([5, 5, 5, 3000, 3000]);
    expect(l.numRequeues('one')).toBe(5);
    expect(whens(l, 'two', 2)).toEqual([5, 5]);
    expect(l.numRequeues('two')).toBe(2);
    l.forget('one');
    expect(l.numRequeues('one')).toBe(0);
    expect(l.when('one')).toBe(5);
  });
});

describe('MaxWaitRateLimiter (client-go WithMaxWaitRateLimiter)', () => {
  it('caps the inner delay', () => {
    let count = 0;
    const step: RateLimiter<number> = {
      when: () => (++count <= 100 ? 5 : 1_000_000),
      forget: () => undefined,
      numRequeues: () => 0,
    };
    const l = new MaxWaitRateLimiter(step, 500_000);
    for (let i = 0; i < 100; i++) expect(l.when(i)).toBe(5);
    for (let i = 100; i < 200; i++) expect(l.when(i)).toBe(500_000);
  });
});

describe('BucketRateLimiter (x/time/rate Reserve().Delay())', () => {
  it('starts full: burst calls are free, then each waits one more token interval', () => {
    const clock = new FakeClock();
    const l = new BucketRateLimiter<string>({ qps: 10, burst: 100, clock });
    for (let i = 0; i < 100; i++) expect(l.when(`k${i}`)).toBe(0);
    expect(whens(l, 'x', 5)).toEqual([100, 200, 300, 400, 500]);
    expect(l.numRequeues('x')).toBe(0);
    l.forget('x');
    expect(l.when('y')).toBe(600);
  });

  it('refills at qps up to burst as the clock advances', () => {
    const clock = new FakeClock();
    const l = new BucketRateLimiter<string>({ qps: 10, burst: 3, clock });
    expect(whens(l, 'k', 4)).toEqual([0, 0, 0, 100]);
    // Debt of one token; 250 ms add 2.5 tokens → 1.5 available.
    clock.advance(250);
    expect(whens(l, 'k', 3)).toEqual([0, 50, 150]);
    // A long idle time refills only to the burst.
    clock.advance(60_000);
    expect(whens(l, 'k', 4)).toEqual([0, 0, 0, 100]);
  });

  it('truncates to whole nanoseconds like time.Duration', () => {
    const clock = new FakeClock();
    const l = new BucketRateLimiter<string>({ qps: 3, burst: 1, clock });
    expect(l.when('a')).toBe(0);
    expect(l.when('a')).toBe(333.333333);
    expect(l.when('a')).toBe(666.666666);
  });

  it('never waits with infinite qps, and validates options', () => {
    const l = new BucketRateLimiter<string>({ qps: Infinity, burst: 1, clock: new FakeClock() });
    expect(whens(l, 'a', 3)).toEqual([0, 0, 0]);
    expect(() => new BucketRateLimiter({ qps: 0 })).toThrow(/Expected `qps` to be a finite number > 0|Expected `qps`/);
    expect(() => new BucketRateLimiter({ burst: 1.5 })).toThrow(/Expected `burst` to be an integer > 0, got 1.5/);
  });
});

describe('defaultControllerRateLimiter', () => {
  it('is the max of 5 ms exponential backoff and a 10 qps / 100 burst bucket', () => {
    const clock = new FakeClock();
    const l = defaultControllerRateLimiter<string>({ clock });
    // One key: per-key backoff dominates while the bucket has tokens.
    expect(whens(l, 'a', 4)).toEqual([5, 10, 20, 40]);
    expect(l.numRequeues('a')).toBe(4);
    // 96 more distinct keys spend the rest of the burst at 5 ms each.
    for (let i = 0; i < 96; i++) expect(l.when(`k${i}`)).toBe(5);
    // The bucket is now empty: new keys wait for tokens.
    expect(whens(l, 'fresh', 1)).toEqual([100]);
    expect(l.when('fresh2')).toBe(200);
    l.forget('a');
    expect(l.numRequeues('a')).toBe(0);
    clock.advance(10_000);
    expect(l.when('a')).toBe(5);
  });
});

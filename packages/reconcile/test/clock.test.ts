import { afterEach, describe, expect, it, vi } from 'vitest';
import { sleep, systemClock } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';

describe('systemClock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('chains timers longer than Node allows instead of firing at once', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const fired: number[] = [];
    const start = systemClock.now();
    systemClock.setTimer(() => fired.push(systemClock.now() - start), 40 * 24 * 3_600_000);
    vi.advanceTimersByTime(2 ** 31);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(40 * 24 * 3_600_000 - 2 ** 31 + 5);
    expect(fired.length).toBe(1);
    expect(fired[0]!).toBeGreaterThanOrEqual(40 * 24 * 3_600_000 - 1);
  });

  it('cancels', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    let fired = false;
    systemClock.setTimer(() => (fired = true), 10).cancel();
    vi.advanceTimersByTime(100);
    expect(fired).toBe(false);
  });
});

describe('FakeClock', () => {
  it('fires due timers in order, with now() at each due time, including timers added while advancing', () => {
    const clock = new FakeClock(1000);
    const log: string[] = [];
    clock.setTimer(() => log.push(`b@${clock.now()}`), 20);
    clock.setTimer(() => {
      log.push(`a@${clock.now()}`);
      clock.setTimer(() => log.push(`c@${clock.now()}`), 5);
    }, 10);
    clock.setTimer(() => log.push(`late@${clock.now()}`), 100);
    clock.advance(20);
    expect(log).toEqual(['a@1010', 'c@1015', 'b@1020']);
    expect(clock.now()).toBe(1020);
    expect(clock.pendingTimers()).toBe(1);
    expect(clock.nextTimerAt()).toBe(1100);
  });

  it('cancelled timers do not fire', () => {
    const clock = new FakeClock();
    let fired = false;
    clock.setTimer(() => (fired = true), 5).cancel();
    clock.advance(10);
    expect(fired).toBe(false);
    expect(() => clock.advance(-1)).toThrow(TypeError);
  });

  it('sleep resolves true after the delay, false on abort', async () => {
    const clock = new FakeClock();
    const slept = sleep(clock, 50);
    await clock.advanceAsync(50);
    expect(await slept).toBe(true);
    const ac = new AbortController();
    const aborted = sleep(clock, 50, ac.signal);
    ac.abort();
    expect(await aborted).toBe(false);
    expect(clock.pendingTimers()).toBe(0);
    expect(await sleep(clock, 5, ac.signal)).toBe(false);
  });
});

/**
 * A fake Clock for tests: time moves only when the test advances it (client-go's fake clock),
 * and `settle` lets pending promises run.
 */
import type { Clock, Timer } from '../clock.js';

interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/**
 * A {@link Clock} that only moves when told: `advance(ms)` runs every timer that falls due
 * (in due order, with `now()` equal to each timer's due time while it runs, including
 * timers scheduled by those callbacks within the window). `advanceAsync` also lets promise
 * continuations run between timers, for code that awaits.
 */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: Scheduled[] = [];

  /** @param startMs the initial `now()`. @default 0 */
  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(callback: () => void, delayMs: number): Timer {
    const t: Scheduled = { at: this.#now + Math.max(0, delayMs), seq: this.#seq++, callback, cancelled: false };
    // Keep sorted by (at, seq); new timers usually go near the end.
    let i = this.#timers.length;
    while (i > 0 && this.#timers[i - 1]!.at > t.at) i--;
    this.#timers.splice(i, 0, t);
    return {
      cancel: () => {
        if (t.cancelled) return;
        t.cancelled = true;
        const j = this.#timers.indexOf(t);
        if (j >= 0) this.#timers.splice(j, 1);
      },
    };
  }

  /** Timers scheduled and not yet run or cancelled. */
  pendingTimers(): number {
    return this.#timers.length;
  }

  /** Due time of the earliest pending timer, or `undefined`. */
  nextTimerAt(): number | undefined {
    return this.#timers[0]?.at;
  }

  /** Moves time forward by `ms`, synchronously running each timer that falls due. */
  advance(ms: number): void {
    const target = this.#target(ms);
    while (this.#fireNext(target));
    this.#now = target;
  }

  /** The time `ms` from now; throws a TypeError for a negative or non-number `ms`. */
  #target(ms: number): number {
    if (!(ms >= 0)) throw new TypeError(`Expected \`ms\` to be a number >= 0, got ${ms}`);
    return this.#now + ms;
  }

  /** Runs the earliest timer due by `target` (time moves to it); false when there is none. */
  #fireNext(target: number): boolean {
    const t = this.#timers[0];
    if (t === undefined || t.at > target) return false;
    this.#timers.shift();
    this.#now = Math.max(this.#now, t.at);
    t.cancelled = true;
    t.callback();
    return true;
  }

  /**
   * Like `advance`, but settles pending promise work before, between and after timers,
   * so awaiting code can schedule further timers inside the window.
   */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.#target(ms);
    await settle();
    while (this.#fireNext(target)) await settle();
    this.#now = target;
    await settle();
  }

  /** `advanceAsync` in steps of `stepMs` (settling after each), for long simulated spans. */
  async runFor(ms: number, stepMs = 100): Promise<void> {
    let left = ms;
    while (left > 0) {
      const step = Math.min(stepMs, left);
      await this.advanceAsync(step);
      left -= step;
    }
  }
}

/**
 * Lets pending promise continuations (and already-due I/O callbacks) run: resolves after a
 * few turns of the event loop.
 */
export async function settle(turns = 2): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

// The only file in the reconcile core that touches the wall clock and real timers: every
// other module takes time from an injected `Clock`, so tests drive it with `FakeClock`.

/** A scheduled callback that can be cancelled. */
export interface Timer {
  /** Cancels the callback if it has not run yet; harmless afterwards. */
  cancel(): void;
}

/**
 * Time and timers, injected into every time-dependent part of the package (queue delays,
 * rate limiters, resyncs, watch deadlines, leases) so that tests run on a `FakeClock`
 * (`@flotilla/reconcile/testing`) without sleeping.
 */
export interface Clock {
  /** Milliseconds on a monotonic scale (only differences are meaningful). */
  now(): number;
  /** Runs `callback` once, `delayMs` milliseconds from now (a negative delay counts as 0). */
  setTimer(callback: () => void, delayMs: number): Timer;
}

/** Node's timers overflow above 2^31 − 1 ms (about 24.8 days) and then fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The real clock: monotonic milliseconds (`performance.timeOrigin + performance.now()`,
 * which never jumps backwards with NTP adjustments) and Node's timers, chained for delays
 * longer than Node allows in one timer.
 */
export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimer(callback, delayMs) {
    const due = systemClock.now() + Math.max(0, delayMs);
    let handle: ReturnType<typeof setTimeout>;
    const arm = (ms: number): void => {
      handle = setTimeout(() => {
        const left = due - systemClock.now();
        if (left > 1) arm(left);
        else callback();
      }, Math.min(ms, MAX_TIMER_MS));
    };
    arm(Math.max(0, delayMs));
    return { cancel: () => clearTimeout(handle) };
  },
};

/**
 * Waits `ms` on `clock`. Resolves `true` when the time has passed, `false` as soon as
 * `signal` aborts (immediately if it already has). Never rejects.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      timer.cancel();
      resolve(false);
    };
    const timer = clock.setTimer(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

let turn: Promise<void> | undefined;

/**
 * Resolves on the event loop's next turn (a macrotask), after every microtask queued before
 * it: not a matter of time, so not the {@link Clock}'s. What a stream already delivered (pushed
 * in one I/O callback and passed on through promises) has come through by then. One shared
 * turn for all callers until it fires.
 */
export function nextTurn(): Promise<void> {
  turn ??= new Promise((resolve) => {
    const fire = (): void => {
      turn = undefined;
      resolve();
    };
    if (typeof setImmediate === 'function') setImmediate(fire);
    else setTimeout(fire, 0);
  });
  return turn;
}

/**
 * No silent waits (issue 17): every call to a store or KV endpoint that has not answered
 * within a second prints, once per command, `flo: still waiting for <endpoints>…` on stderr,
 * and a call may be given a deadline (`--request-timeout`) after which it fails naming the
 * endpoints. Used where the client cannot bound a call itself (etcd3 waits forever on an
 * address that never answers) and, for the notice alone, on the Flotilla KV client (which
 * keeps its own deadline and says each endpoint's failure as it retries).
 */
import type { CommandContext } from './registry.js';

/** After this long without an answer, the notice is printed. */
export const STILL_WAITING_AFTER_MS = 1000;

/** What {@link waitingNotice} returns: wraps a promise of one call. */
export type TrackCall = <T>(call: Promise<T>, what?: string) => Promise<T>;

/**
 * Tracks calls to `endpoints`: the first one still pending after {@link STILL_WAITING_AFTER_MS}
 * prints the notice (once per command). With `deadlineMs`, a call still pending then rejects
 * with an error naming the endpoints (`timeoutError` builds it).
 */
export function waitingNotice(
  ctx: Pick<CommandContext, 'stderr'>,
  endpoints: readonly string[],
  options: { timeoutMs: number; deadline?: boolean; timeoutError?: (message: string, what: string) => Error },
): TrackCall {
  let told = false;
  const list = endpoints.join(', ');
  return <T>(call: Promise<T>, what = 'the request'): Promise<T> => {
    let notice: ReturnType<typeof setTimeout> | undefined;
    let deadline: ReturnType<typeof setTimeout> | undefined;
    const tracked = new Promise<T>((resolve, reject) => {
      notice = setTimeout(() => {
        if (told) return;
        told = true;
        ctx.stderr.write(`flo: still waiting for ${list}… (giving up after ${options.timeoutMs / 1000} s: --request-timeout)\n`);
      }, STILL_WAITING_AFTER_MS);
      if (options.deadline === true) {
        deadline = setTimeout(() => {
          const message = `no answer from ${list} within ${options.timeoutMs / 1000} s (--request-timeout) for ${what}; check that the store is up and reachable from here`;
          reject(options.timeoutError ? options.timeoutError(message, what) : new Error(message));
        }, options.timeoutMs);
      }
      call.then(resolve, reject);
    });
    const clear = (): void => {
      clearTimeout(notice);
      clearTimeout(deadline);
    };
    tracked.then(clear, clear);
    return tracked;
  };
}

/**
 * `target` with every method that returns a promise tracked by `track` (methods named in
 * `skip`, e.g. `watch` and `close`, pass through). Methods run on `target` itself, so
 * classes with private fields keep working.
 */
export function trackMethods<T extends object>(target: T, track: TrackCall, skip: readonly string[] = []): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const v: unknown = Reflect.get(t, prop, receiver);
      if (typeof v !== 'function' || typeof prop !== 'string' || skip.includes(prop)) return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      return (...args: unknown[]) => {
        const r: unknown = (v as (...a: unknown[]) => unknown).apply(t, args);
        return r instanceof Promise ? track(r, prop) : r;
      };
    },
  });
}

/**
 * Letting go of an operation whose time is up (or that was cancelled) without waiting for the
 * host. A host whose sshd has stopped answering keeps its TCP connection open: a channel's
 * close, an SFTP reply or a greeting then never comes, and only the keepalive (about a minute)
 * would end the wait. {@link Connection} and the `--persist` daemon settle the call at once
 * instead, and drop the connection when the operation still has not let go a moment later.
 */

/**
 * How long an aborted operation may take to settle (its channel closed, its request answered)
 * before its connection counts as wedged and is destroyed.
 */
export const RELEASE_GRACE_MS = 1000;

/** Options of {@link raceAbort}. */
export interface RaceAbortOptions {
  /** The error the call settles with when `signal` aborts first (gets the signal's reason). */
  abortError: (reason: unknown) => Error;
  /** Called when the operation is still pending {@link RaceAbortOptions.graceMs} after the abort (destroy its connection). */
  onStuck?: () => void;
  /**
   * Called at the abort when the operation is still pending, with a promise that resolves once
   * the operation has settled or `onStuck` has run (later operations can wait for it).
   */
  onAbandoned?: (released: Promise<void>) => void;
  /** @default {@link RELEASE_GRACE_MS} */
  graceMs?: number;
}

/**
 * Settles with `op`, or — as soon as `signal` aborts, whichever comes first — rejects with
 * `abortError`, without waiting for `op`. An `op` left behind this way is watched: if it has
 * not settled `graceMs` later, `onStuck` runs.
 */
export function raceAbort<T>(op: Promise<T>, signal: AbortSignal, options: RaceAbortOptions): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const onAbort = (): void => {
      if (done) return;
      done = true;
      reject(options.abortError(signal.reason));
      const released = new Promise<void>((release) => {
        const timer = setTimeout(() => {
          options.onStuck?.();
          release();
        }, options.graceMs ?? RELEASE_GRACE_MS);
        const settled = (): void => {
          clearTimeout(timer);
          release();
        };
        op.then(settled, settled);
      });
      options.onAbandoned?.(released);
    };
    op.then(
      (v) => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

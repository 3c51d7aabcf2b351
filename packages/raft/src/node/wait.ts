/**
 * Proposal bookkeeping (etcd's pkg/wait): a request id → the caller waiting for its outcome,
 * with a deadline.
 */
import { RaftNodeError } from '../errors.js';

interface Waiter {
  resolve(value: unknown): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
}

/**
 * Callers waiting for the outcome of their requests, by request id.
 *
 * Guarantees: each waiter settles exactly once — by {@link trigger} (an applied entry, a
 * leader's answer, a definite failure), by its deadline (`timeout`, `mayHaveEffect`: the
 * request may still be applied later), or by {@link failAll} on shutdown. A trigger for an
 * id nobody waits for (another member's request, one that timed out) does nothing.
 */
export class WaitRegistry {
  readonly #waiters = new Map<string, Waiter>();

  /** Requests waiting now. */
  get size(): number {
    return this.#waiters.size;
  }

  /** Waits for `id`; after `timeoutMs` rejects with `timeout`, naming `what`. */
  register(id: string, timeoutMs: number, what: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.#waiters.delete(id)) {
          reject(new RaftNodeError('timeout', `${what} timed out; it may or may not have been applied`, { mayHaveEffect: true }));
        }
      }, timeoutMs);
      this.#waiters.set(id, { resolve, reject, timer });
    });
  }

  /** Settles `id`'s waiter: an Error rejects it, anything else resolves it. */
  trigger(id: string, result: unknown): void {
    const w = this.#waiters.get(id);
    if (!w) return;
    this.#waiters.delete(id);
    clearTimeout(w.timer);
    if (result instanceof Error) w.reject(result);
    else w.resolve(result);
  }

  /** Rejects every waiter with `err` (shutdown). */
  failAll(err: Error): void {
    for (const [id, w] of this.#waiters) {
      clearTimeout(w.timer);
      w.reject(err);
      this.#waiters.delete(id);
    }
  }
}

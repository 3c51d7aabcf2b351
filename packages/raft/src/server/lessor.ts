/**
 * The KV member's lessor (etcd's lessor): the leader keeps each lease's deadline and proposes
 * `lease-expire` once it passes.
 */
import type { KvCommand, KvResult } from '../kv/types.js';
import type { KvStateMachine } from '../kv/state-machine.js';

/**
 * Lease deadlines, kept by the leader only (in memory: they are not replicated).
 *
 * Guarantees: a lease expires no sooner than its TTL after its grant or last keep-alive was
 * applied on the leader that expires it, and a new leader restarts every lease's clock (as
 * etcd's lessor does on promotion), so a leader change never shortens a lease. Expiry is
 * proposed (`lease-expire`) and so happens on every member at the same log index; a failed
 * proposal is retried after 3 s.
 */
export class Lessor {
  readonly #deadlines = new Map<string, number>();
  readonly #expiring = new Map<string, number>();

  /** This member became the leader: every lease's clock restarts now. */
  promoted(): void {
    this.#deadlines.clear();
    this.#expiring.clear();
  }

  /** A KV command was applied while this member leads. */
  applied(command: KvCommand, result: KvResult): void {
    if (result.type !== 'lease') return;
    if (command.op === 'lease-grant' || command.op === 'lease-keepalive') {
      this.#deadlines.set(result.id, Date.now() + result.ttlSeconds * 1000);
      this.#expiring.delete(result.id);
    } else {
      this.#deadlines.delete(result.id);
      this.#expiring.delete(result.id);
    }
  }

  /** Proposes the expiry of every lease past its deadline (call periodically, on the leader). */
  expire(kv: KvStateMachine, propose: (command: KvCommand) => Promise<unknown>): void {
    const now = Date.now();
    for (const l of kv.leases()) {
      const deadline = this.#deadlines.get(l.id);
      if (deadline === undefined) {
        this.#deadlines.set(l.id, now + l.ttlSeconds * 1000);
        continue;
      }
      if (deadline > now) continue;
      const tried = this.#expiring.get(l.id);
      if (tried !== undefined && now - tried < 3000) continue;
      this.#expiring.set(l.id, now);
      propose({ op: 'lease-expire', id: l.id }).catch(() => undefined);
    }
  }
}

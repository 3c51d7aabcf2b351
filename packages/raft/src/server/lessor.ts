/**
 * The KV member's lessor (etcd's lessor): the leader keeps each lease's deadline and proposes
 * `lease-expire` once it passes.
 */
import type { KvCommand, KvResult } from '../kv/types.js';

/** What the lessor reads of the KV state (a {@link KvStateMachine} has it). */
export interface LeaseTable {
  /** Every lease's id and TTL (read once after a promotion). */
  leaseTtls(): Iterable<{ id: string; ttlSeconds: number }>;
  hasLease(id: string): boolean;
}

/** How long a proposed expiry that did not take effect waits before it is proposed again. */
const RETRY_MS = 3000;

/**
 * Lease deadlines, kept by the leader only (in memory: they are not replicated).
 *
 * Guarantees: a lease expires no sooner than its TTL after its grant or last keep-alive was
 * applied on the leader that expires it, and a new leader restarts every lease's clock (as
 * etcd's lessor does on promotion), so a leader change never shortens a lease. Expiry is
 * proposed (`lease-expire`) and so happens on every member at the same log index; a failed
 * proposal is retried after 3 s.
 *
 * Cost: deadlines sit in a min-heap (etcd's `LeaseExpiredNotifier`), so a tick with nothing
 * due looks at one entry, and a tick costs O(expiring · log leases) — not a scan of every
 * lease (5,000 hosts' leases are checked five times a second). A keep-alive pushes a new heap
 * entry; stale ones are dropped when they surface (and the heap is rebuilt when stale entries
 * outnumber live ones four to one).
 */
export class Lessor {
  /** The current deadline of each lease this leader tracks. */
  readonly #deadlines = new Map<string, number>();
  /** (deadline, id) entries, a binary min-heap on deadline; an entry is live when it matches `#deadlines`. */
  #heap: { at: number; id: string }[] = [];
  #seeded = false;
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Leases tracked (for tests and status). */
  get size(): number {
    return this.#deadlines.size;
  }

  /** This member became the leader: every lease's clock restarts (at the next {@link expire}, which reads the leases once). */
  promoted(): void {
    this.#deadlines.clear();
    this.#heap = [];
    this.#seeded = false;
  }

  /** A KV command was applied while this member leads. */
  applied(command: KvCommand, result: KvResult): void {
    if (result.type === 'leases') {
      const now = this.#now();
      for (const l of result.leases) if (l.ttlSeconds > 0) this.#set(l.id, now + l.ttlSeconds * 1000);
      return;
    }
    if (result.type !== 'lease') return;
    if (command.op === 'lease-grant' || command.op === 'lease-keepalive') this.#set(result.id, this.#now() + result.ttlSeconds * 1000);
    else this.#deadlines.delete(result.id);
  }

  /** Proposes the expiry of every lease past its deadline (call periodically, on the leader). */
  expire(kv: LeaseTable, propose: (command: KvCommand) => Promise<unknown>): void {
    const now = this.#now();
    if (!this.#seeded) {
      this.#seeded = true;
      for (const l of kv.leaseTtls()) if (!this.#deadlines.has(l.id)) this.#set(l.id, now + l.ttlSeconds * 1000);
    }
    while (this.#heap.length > 0 && this.#heap[0]!.at <= now) {
      const top = this.#pop();
      if (this.#deadlines.get(top.id) !== top.at) continue; // renewed or gone since
      if (!kv.hasLease(top.id)) {
        this.#deadlines.delete(top.id);
        continue;
      }
      // proposed; if it does not take effect (no quorum, lost leadership) try again later
      this.#set(top.id, now + RETRY_MS);
      propose({ op: 'lease-expire', id: top.id }).catch(() => undefined);
    }
  }

  #set(id: string, at: number): void {
    this.#deadlines.set(id, at);
    this.#push({ at, id });
    if (this.#heap.length > 64 && this.#heap.length > 5 * this.#deadlines.size) this.#rebuild();
  }

  #rebuild(): void {
    this.#heap = [...this.#deadlines].map(([id, at]) => ({ at, id }));
    for (let i = (this.#heap.length >> 1) - 1; i >= 0; i--) this.#down(i);
  }

  #push(e: { at: number; id: string }): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= e.at) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  #pop(): { at: number; id: string } {
    const h = this.#heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      this.#down(0);
    }
    return top;
  }

  #down(i: number): void {
    const h = this.#heap;
    const e = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && h[r]!.at < h[l]!.at ? r : l;
      if (h[c]!.at >= e.at) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = e;
  }
}

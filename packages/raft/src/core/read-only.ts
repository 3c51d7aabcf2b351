/**
 * ReadIndex bookkeeping of the leader (etcd's read_only.go): pending read requests and the
 * heartbeat acknowledgements that confirm each.
 */
import type { NodeId } from './types.js';

/** A pending linearizable read: the commit index when it arrived and who asked. */
export interface ReadIndexStatus {
  readonly index: number;
  readonly from: NodeId;
  readonly context: Uint8Array;
  readonly acks: Set<NodeId>;
}

/** A string key for a request context (contexts are compared byte for byte). */
export function contextKey(ctx: Uint8Array): string {
  let s = '';
  for (const b of ctx) s += String.fromCharCode(b);
  return s;
}

/** Pending ReadIndex requests on a leader, confirmed by heartbeat acknowledgements (thesis §6.4). */
export class ReadOnly {
  private pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  add(index: number, from: NodeId, context: Uint8Array): void {
    const key = contextKey(context);
    if (this.pending.has(key)) return;
    this.pending.set(key, { index, from, context, acks: new Set() });
    this.queue.push(key);
  }

  /** Records an acknowledgement; returns the acks so far (undefined if unknown context). */
  recvAck(id: NodeId, context: Uint8Array): Set<NodeId> | undefined {
    const st = this.pending.get(contextKey(context));
    if (!st) return undefined;
    st.acks.add(id);
    return st.acks;
  }

  /** Releases every request up to and including `context` (earlier ones are confirmed too). */
  advance(context: Uint8Array): ReadIndexStatus[] {
    const key = contextKey(context);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const released = this.queue.splice(0, at + 1);
    const out: ReadIndexStatus[] = [];
    for (const k of released) {
      const st = this.pending.get(k);
      this.pending.delete(k);
      if (st) out.push(st);
    }
    return out;
  }

  lastPendingContext(): Uint8Array | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : this.pending.get(k)?.context;
  }

  reset(): void {
    this.pending = new Map();
    this.queue = [];
  }
}

/**
 * A RaftNode's proposals in flight: batched per event-loop turn, the ones followers forwarded
 * to this leader, and the log index each got (so one a leader change overwrote fails at once).
 */
import { isRaftError, RaftNodeError } from '../errors.js';
import type { NodeId } from '../core/types.js';
import { MAX_CONTROL_BYTES, encodeControlFrame, type ControlFrame, type ProposalOrigin } from './frames.js';
import { WaitRegistry } from './wait.js';

/** What {@link Proposals} needs of its node. */
export interface ProposalsHost {
  readonly id: NodeId;
  /** Appends entries as leader (`RawNode.proposeBatch`); throws when they are not accepted. */
  append(datas: readonly Uint8Array[]): void;
  /** The index of the last entry in the log. */
  lastIndex(): number;
  /** Sends an encoded control frame to a peer. */
  send(to: NodeId, frame: Uint8Array): void;
  /** Runs the ready loop (new entries to persist and send). */
  pump(): void;
}

/**
 * Guarantees: every proposal made in one turn of the event loop, here or forwarded by
 * followers, goes into one append (one write per follower). A proposal whose log index another
 * entry takes (a leader change overwrote it) fails at once — `no-leader` here, `retry` to the
 * follower that forwarded it — instead of timing out: it can never be applied. A proposal the
 * core refuses fails at once, nothing appended. The waiting callers are {@link waits}.
 */
export class Proposals {
  readonly waits = new WaitRegistry();
  readonly #host: ProposalsHost;
  #local: { data: Uint8Array; requestId: string }[] = [];
  #fromFollowers: { data: Uint8Array; requestId: string; from: NodeId }[] = [];
  /** Log index → the proposal this member appended there as leader (to detect overwritten ones). */
  readonly #byIndex = new Map<number, ProposalOrigin>();
  /** Proposals forwarded to this leader: request id → proposing member and when. */
  readonly #forwarded = new Map<string, { from: NodeId; at: number }>();

  constructor(host: ProposalsHost) {
    this.#host = host;
  }

  /** Appends this member's proposal (as leader) with the others of this turn; the promise settles with its outcome. */
  proposeHere(requestId: string, data: Uint8Array, timeoutMs: number): Promise<unknown> {
    const p = this.waits.register(requestId, timeoutMs, 'the proposal');
    this.#local.push({ data, requestId });
    // setImmediate: every request read in this I/O phase joins one append (one write per follower).
    if (this.#local.length === 1) setImmediate(() => this.#flushLocal());
    return p;
  }

  /** Appends a proposal a follower forwarded (as leader), answered once applied or lost. */
  proposeForwarded(from: NodeId, requestId: string, data: Uint8Array): void {
    this.#fromFollowers.push({ data, requestId, from });
    if (this.#fromFollowers.length === 1) setImmediate(() => this.#flushForwarded());
  }

  /**
   * The entry at `index`, which carried `requestId`, was applied with `result`: settles its
   * waiter, sends the result to the follower that forwarded it (`forward`: a result exists and
   * may be sent), and fails the proposal this member had appended at `index` if it was another.
   */
  applied(index: number, requestId: string, result: unknown, forward: boolean): void {
    this.waits.trigger(requestId, result);
    if (forward) {
      const fwd = this.#forwarded.get(requestId);
      if (fwd) {
        this.#forwarded.delete(requestId);
        const frame = encodeControlFrame({ kind: 'result', requestId, result });
        // A result too large for one control frame (a transaction reading many large values) is
        // not sent: the proposer answers from its own apply of the same entry.
        if (frame.length <= MAX_CONTROL_BYTES) this.#host.send(fwd.from, frame);
      }
    }
    const mine = this.#byIndex.get(index);
    if (mine) {
      this.#byIndex.delete(index);
      // Another entry took the index this member's proposal was appended at (a leader
      // change overwrote it): that proposal can never be applied. A definite failure.
      if (mine.requestId !== requestId) this.#lost(mine);
    }
  }

  /** A leader's snapshot was installed: proposals at indices it covers have an unknown fate here (they time out). */
  snapshotInstalled(index: number): void {
    for (const i of [...this.#byIndex.keys()]) if (i <= index) this.#byIndex.delete(i);
  }

  /** Forwarded proposals never answered (their entry was overwritten unseen) are forgotten after a minute. */
  forgetStale(now: number): void {
    if (this.#forwarded.size === 0) return;
    for (const [requestId, f] of this.#forwarded) if (now - f.at > 60_000) this.#forwarded.delete(requestId);
  }

  #flushLocal(): void {
    const batch = this.#local;
    this.#local = [];
    if (batch.length === 0) return;
    try {
      this.#host.append(batch.map((b) => b.data));
    } catch (err) {
      // Nothing was appended: a definite failure.
      for (const b of batch) this.waits.trigger(b.requestId, dropped(err));
      return;
    }
    this.#recordIndices(batch.map((b) => ({ requestId: b.requestId, from: this.#host.id })));
    this.#host.pump();
  }

  #flushForwarded(): void {
    const batch = this.#fromFollowers;
    this.#fromFollowers = [];
    if (batch.length === 0) return;
    try {
      this.#host.append(batch.map((b) => b.data));
    } catch {
      for (const b of batch) this.#reply(b.from, { kind: 'retry', requestId: b.requestId });
      return;
    }
    const now = Date.now();
    for (const b of batch) this.#forwarded.set(b.requestId, { from: b.from, at: now });
    this.#recordIndices(batch.map((b) => ({ requestId: b.requestId, from: b.from })));
    this.#host.pump();
  }

  /** Remembers the log indices a just-appended batch got (the last `n` entries of the log). */
  #recordIndices(batch: readonly ProposalOrigin[]): void {
    const last = this.#host.lastIndex();
    batch.forEach((b, i) => this.#byIndex.set(last - batch.length + 1 + i, b));
  }

  #lost(p: ProposalOrigin): void {
    if (p.from === this.#host.id) {
      this.waits.trigger(p.requestId, new RaftNodeError('no-leader', 'the proposal was lost in a leader change and not applied; retry'));
    } else {
      this.#forwarded.delete(p.requestId);
      this.#reply(p.from, { kind: 'retry', requestId: p.requestId });
    }
  }

  #reply(to: NodeId, frame: ControlFrame): void {
    this.#host.send(to, encodeControlFrame(frame));
  }
}

/** A proposal the core refused: `no-leader` when it was dropped (not leading, transferring), else `failed`. */
export function dropped(err: unknown): RaftNodeError {
  if (isRaftError(err, 'proposal-dropped')) return new RaftNodeError('no-leader', `${(err as Error).message}; retry shortly`, { cause: err });
  return new RaftNodeError('failed', err instanceof Error ? err.message : String(err), { cause: err });
}

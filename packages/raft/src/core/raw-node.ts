/** RawNode, the core's API for a host (etcd's rawnode.go): tick, step, propose, ready, advance, status. */
import { RaftError } from '../errors.js';
import { Raft, type RaftOptions } from './raft.js';
import {
  hardStateEqual,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
  type Snapshot,
  type StateRole,
} from './types.js';
import type { ProgressState } from './progress.js';

/** Volatile state worth reporting when it changes. */
export interface SoftState {
  readonly leader: NodeId;
  readonly state: StateRole;
}

/**
 * Everything the host must do with one Ready (the ready loop), then `advance()`:
 * - send {@link Ready.messages} at any time, even before or while persisting: they depend on
 *   nothing unsaved (a leader's appends to followers go out in parallel with its own write);
 * - apply {@link Ready.committedEntries} to the state machine and serve {@link Ready.readStates} —
 *   before or after this Ready's own write. A committed entry is already durable on a quorum
 *   (a leader counts its own copy only once persisted, through an earlier Ready), so applying
 *   it (and answering the client) need not wait for this fsync: etcd's server applies in
 *   parallel with its WAL write for the same reason, and so does RaftNode;
 * - persist {@link Ready.snapshot}, {@link Ready.entries} and {@link Ready.hardState} durably
 *   (fsync when {@link Ready.mustSync});
 * - only then send {@link Ready.persistedMessages} (votes, append acknowledgements: they speak
 *   for what was just saved), and restore the state machine from {@link Ready.snapshot} when
 *   there is one (a snapshot is installed only once it is durable, and the committed entries
 *   after it are applied after it);
 * - call `advance()`.
 * The simplest correct host does these in order: send, persist, send persisted, apply, advance.
 */
export interface Ready {
  /** Present when leader or role changed. */
  readonly softState: SoftState | undefined;
  /** Present when term, vote or commit changed: persist it. */
  readonly hardState: HardState | undefined;
  /** Entries to append to durable storage (may overwrite a conflicting suffix). */
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader: persist, then restore the state machine from it. */
  readonly snapshot: Snapshot | undefined;
  /** Committed entries to apply, in order. */
  readonly committedEntries: readonly Entry[];
  /** Messages that may be sent immediately. */
  readonly messages: readonly Message[];
  /** Messages to send only after this Ready's state is durable. */
  readonly persistedMessages: readonly Message[];
  /** Linearizable read points: serve each read once `index` is applied. */
  readonly readStates: readonly ReadState[];
  /** Whether persisting needs an fsync (false when only the commit index moved). */
  readonly mustSync: boolean;
}

/** Progress of one member as the leader sees it. */
export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly learner: boolean;
  readonly recentActive: boolean;
}

/** A point-in-time view of a node. */
export interface Status {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly state: StateRole;
  readonly leader: NodeId;
  readonly leadTransferee: NodeId;
  readonly config: ConfState;
  /** Index of the entry (or snapshot) that set `config`. */
  readonly configIndex: number;
  /** Per-member replication progress (leader only; empty otherwise). */
  readonly progress: ReadonlyMap<NodeId, ProgressStatus>;
}

/**
 * A Raft node driven by its host, in the mould of etcd-io/raft's RawNode. Synchronous and
 * deterministic: it owns no timers, sockets or files; given the same options (and seed) and
 * the same calls, it produces the same output.
 *
 * Guarantees (with a host that follows the {@link Ready} order): at most one leader per
 * term; committed entries are never lost or reordered; every node applies the same entry at
 * each index; a read served at a ReadState index is linearizable (`readOnly: 'safe'`).
 */
export class RawNode {
  private readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private pending: Ready | undefined;

  constructor(options: RaftOptions) {
    this.raft = new Raft(options);
    this.prevSoft = { leader: this.raft.leader, state: this.raft.state };
    this.prevHard = this.raft.hardState();
  }

  /** Advances logical time by one tick (election and heartbeat timers). */
  tick(): void {
    this.raft.tick();
  }

  /** Feeds a message received from another member. */
  step(m: Message): void {
    if (m.to !== this.raft.id) return;
    this.raft.step(m);
  }

  /** Starts an election now (as if the election timer fired). */
  campaign(): void {
    this.raft.hup(false);
  }

  /** Proposes one entry. Throws ProposalDroppedError unless this node is the leader. */
  propose(data: Uint8Array): void {
    this.raft.propose([data]);
  }

  /** Proposes many entries at once (one append for all of them: batching). */
  proposeBatch(datas: readonly Uint8Array[]): void {
    if (datas.length > 0) this.raft.propose(datas);
  }

  /**
   * Proposes a single-server membership change. Refused (`config-change-refused`) while
   * another change is uncommitted or before this leader has committed an entry of its term.
   */
  proposeConfChange(cc: ConfChange): void {
    this.raft.proposeConfChange(cc);
  }

  /** Asks for a linearizable read point; the answer arrives in a later Ready's readStates. */
  readIndex(context: Uint8Array): void {
    this.raft.readIndex(context);
  }

  /** Asks the leader to hand leadership to `to` (TimeoutNow once `to` is caught up). */
  transferLeadership(to: NodeId): void {
    this.raft.transferLeadership(to);
  }

  /** Tells the leader that messages to `to` are failing. */
  reportUnreachable(to: NodeId): void {
    this.raft.reportUnreachable(to);
  }

  /** Tells the leader whether a snapshot sent to `to` arrived. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    this.raft.reportSnapshot(to, ok);
  }

  /** Whether {@link ready} would return something to do. */
  hasReady(): boolean {
    const r = this.raft;
    if (this.pending) return false;
    if (r.leader !== this.prevSoft.leader || r.state !== this.prevSoft.state) return true;
    if (!hardStateEqual(r.hardState(), this.prevHard)) return true;
    if (r.log.unstable.snapshot) return true;
    if (r.msgs.length > 0 || r.msgsAfterAppend.length > 0) return true;
    if (r.log.unstableEntries().length > 0) return true;
    if (r.log.hasNextCommittedEntries()) return true;
    return r.readStates.length > 0;
  }

  /** The work to do now; call {@link advance} once it is done before the next `ready()`. */
  ready(): Ready {
    if (this.pending) throw new RaftError('api-misuse', 'ready() called again before advance()');
    const r = this.raft;
    const soft = { leader: r.leader, state: r.state };
    const hard = r.hardState();
    const softChanged = soft.leader !== this.prevSoft.leader || soft.state !== this.prevSoft.state;
    const hardChanged = !hardStateEqual(hard, this.prevHard);
    const entries = r.log.unstableEntries().slice();
    const snapshot = r.log.unstable.snapshot;
    const rd: Ready = {
      softState: softChanged ? soft : undefined,
      hardState: hardChanged ? hard : undefined,
      entries,
      snapshot,
      committedEntries: r.log.nextCommittedEntries(r.maxCommittedSizePerReady),
      messages: r.msgs,
      persistedMessages: r.msgsAfterAppend,
      readStates: r.takeReadStates(),
      mustSync: entries.length > 0 || snapshot !== undefined || hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote,
    };
    r.msgs = [];
    r.msgsAfterAppend = [];
    if (softChanged) this.prevSoft = soft;
    this.pending = rd;
    return rd;
  }

  /**
   * Drains messages that may be sent immediately, between `ready()` calls: a host whose
   * fsync is slow keeps heartbeats flowing with this.
   */
  takeMessages(): readonly Message[] {
    const out = this.raft.msgs;
    this.raft.msgs = [];
    return out;
  }

  /** Acknowledges that the last Ready was persisted, sent and applied. */
  advance(): void {
    const rd = this.pending;
    if (!rd) throw new RaftError('api-misuse', 'advance() called without a pending ready()');
    this.pending = undefined;
    const r = this.raft;
    if (rd.hardState) this.prevHard = rd.hardState;
    if (rd.snapshot) {
      r.log.stableSnapTo(rd.snapshot.index);
      if (rd.snapshot.index > r.log.applied) r.log.applied = rd.snapshot.index;
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last) r.log.stableTo(last.index, last.term);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied) r.log.appliedTo(lastApplied.index);
    r.onStable();
  }

  /** The current state, including per-member progress on a leader. */
  status(): Status {
    const r = this.raft;
    const progress = new Map<NodeId, ProgressStatus>();
    if (r.state === 'leader') {
      for (const [id, pr] of r.prs) {
        progress.set(id, { match: pr.match, next: pr.next, state: pr.state, learner: pr.isLearner, recentActive: pr.recentActive });
      }
    }
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      state: r.state,
      leader: r.leader,
      leadTransferee: r.leadTransferee,
      config: r.conf,
      configIndex: r.confIndex,
      progress,
    };
  }
}

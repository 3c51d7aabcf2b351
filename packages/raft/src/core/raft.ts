/**
 * Why this file is long (about 1,000 lines): it is one state machine whose every step reads and
 * writes the same term/vote/log/progress state; etcd keeps raft.go whole for the same reason.
 *
 * The Raft state machine (etcd-io/raft's raft.go): one class because the roles are functions
 * over shared state (stepLeader/stepCandidate/stepFollower swapped by becomeX), and splitting
 * that state across files would hide which role may touch what. Its parts that stand alone
 * already live beside it (log, progress, read-only, conf-change).
 */
import { isRaftError, ProposalDroppedError, RaftError } from '../errors.js';
import { applyConfChangeToState, decodeConfChange, encodeConfChange } from './conf-change.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import type { RandomSource } from './random.js';
import { ReadOnly } from './read-only.js';
import type { Storage } from './storage.js';
import {
  EMPTY_BYTES,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type MessageType,
  type NodeId,
  type ReadState,
  type Snapshot,
  type StateRole,
} from './types.js';

/** Options of a Raft node. */
export interface RaftOptions {
  /** This node's id (> 0). */
  id: NodeId;
  /** Durable storage the core reads from (the host writes to it from the ready loop). */
  storage: Storage;
  /** The seeded random source for election timeouts. */
  random: RandomSource;
  /**
   * Ticks without hearing from a leader before a follower campaigns; the actual timeout is
   * drawn uniformly from [electionTicks, 2 × electionTicks).
   * @default 10
   */
  electionTicks?: number;
  /** Ticks between a leader's heartbeats; must be < electionTicks. @default 1 */
  heartbeatTicks?: number;
  /** The last index the host's state machine has applied (on restart). @default the snapshot index */
  applied?: number;
  /** Maximum bytes of entries in one append message (at least one entry is always sent). @default 1048576 */
  maxSizePerMsg?: number;
  /** Maximum bytes of committed entries handed out by one Ready. @default 67108864 */
  maxCommittedSizePerReady?: number;
  /** Maximum in-flight append messages per follower in the replicate state. @default 256 */
  maxInflightMsgs?: number;
  /** Run a pre-vote round before incrementing the term (thesis §9.6). @default true */
  preVote?: boolean;
  /** A leader steps down when it has not heard from a quorum for an election timeout; followers ignore votes while a lease holds. @default true */
  checkQuorum?: boolean;
  /**
   * `safe`: ReadIndex confirms leadership with a heartbeat round. `lease-based`: a leader
   * answers from its lease (requires checkQuorum; relies on bounded clock drift).
   * @default 'safe'
   */
  readOnly?: 'safe' | 'lease-based';
}

const CAMPAIGN_TRANSFER = new Uint8Array([0x54, 0x52]); // "TR": a vote caused by leadership transfer

function isTransfer(ctx: Uint8Array | undefined): boolean {
  return ctx?.length === 2 && ctx[0] === 0x54 && ctx[1] === 0x52;
}

function positiveInt(name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new TypeError(`${name}: expected a positive integer, received ${JSON.stringify(v) ?? typeof v}`);
  }
  return v;
}

/** The protocol state of one node (etcd raft.go): role functions swapped by becomeX(). */
export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = 0;
  readonly log: RaftLog;
  state: StateRole = 'follower';
  leader: NodeId = 0;
  leadTransferee: NodeId = 0;

  /** Current membership (latest configuration entry in the log: changes take effect on append). */
  conf: ConfState = { voters: [], learners: [] };
  /** Index of the entry that set `conf` (the snapshot index when it came from a snapshot). */
  confIndex = 0;
  readonly prs = new Map<NodeId, Progress>();

  /** Messages that may be sent at once (leader traffic, pre-votes, forwarded reads). */
  msgs: Message[] = [];
  /** Messages that may only be sent once the current hard state and entries are durable. */
  msgsAfterAppend: Message[] = [];
  readStates: ReadState[] = [];

  private readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  private randomizedElectionTimeout = 0;
  electionElapsed = 0;
  private heartbeatElapsed = 0;
  private readonly votes = new Map<NodeId, boolean>();
  private readonly readOnlyMode: 'safe' | 'lease-based';
  /** Ticks since this node started: the leader stamps heartbeats with it to time its lease. */
  private ticks = 0;
  /**
   * Lease-based reads only: after a restart this node may have acknowledged a leader's lease
   * it no longer remembers, so for one election timeout it refuses votes as if it had one.
   */
  private startupLeaseTicks = 0;
  /** Set once this leader sent TimeoutNow in its term: no more lease reads until the next term. */
  private leaseRevoked = false;
  private readOnly = new ReadOnly();
  private pendingReadIndex: Message[] = [];
  readonly maxSizePerMsg: number;
  readonly maxCommittedSizePerReady: number;
  private readonly maxInflight: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  private readonly random: RandomSource;
  private stepFn: (m: Message) => void;

  constructor(opts: RaftOptions) {
    if (typeof opts !== 'object' || opts === null) throw new TypeError(`options: expected an object, received ${String(opts)}`);
    this.id = positiveInt('id', opts.id, 0);
    if (typeof opts.random?.int !== 'function') {
      throw new TypeError(`random: expected a RandomSource with int(n), received ${typeof opts.random}`);
    }
    this.random = opts.random;
    this.electionTimeout = positiveInt('electionTicks', opts.electionTicks, 10);
    this.heartbeatTimeout = positiveInt('heartbeatTicks', opts.heartbeatTicks, 1);
    if (this.heartbeatTimeout >= this.electionTimeout) {
      throw new TypeError(`heartbeatTicks: expected less than electionTicks (${this.electionTimeout}), received ${this.heartbeatTimeout}`);
    }
    this.maxSizePerMsg = positiveInt('maxSizePerMsg', opts.maxSizePerMsg, 1024 * 1024);
    this.maxCommittedSizePerReady = positiveInt('maxCommittedSizePerReady', opts.maxCommittedSizePerReady, 64 * 1024 * 1024);
    this.maxInflight = positiveInt('maxInflightMsgs', opts.maxInflightMsgs, 256);
    this.preVote = opts.preVote ?? true;
    this.checkQuorum = opts.checkQuorum ?? true;
    const ro = opts.readOnly ?? 'safe';
    if (ro !== 'safe' && ro !== 'lease-based') {
      throw new TypeError(`readOnly: expected 'safe' or 'lease-based', received ${String(ro)}`);
    }
    if (ro === 'lease-based' && !this.checkQuorum) {
      throw new TypeError(`readOnly: 'lease-based' requires checkQuorum: true, received checkQuorum: false`);
    }
    this.readOnlyMode = ro;
    this.log = new RaftLog(opts.storage);
    this.log.onAppend = (ents) => this.onLogAppend(ents);

    const { hardState } = opts.storage.initialState();
    this.recomputeConf();
    if (hardState.term !== 0 || hardState.vote !== 0 || hardState.commit !== 0) {
      if (hardState.commit < this.log.committed || hardState.commit > this.log.lastIndex()) {
        throw new RaftError('storage-misuse', `hard state commit ${hardState.commit} is out of range [${this.log.committed}, ${this.log.lastIndex()}]`);
      }
      this.log.committed = hardState.commit;
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    if (opts.applied !== undefined && opts.applied > 0) this.log.appliedTo(Math.min(opts.applied, this.log.committed));
    this.stepFn = this.stepFollower;
    this.becomeFollower(this.term, 0);
    if (this.readOnlyMode === 'lease-based' && this.term > 1) this.startupLeaseTicks = this.electionTimeout;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /** Whether this node may campaign (it is a voter in its current configuration). */
  promotable(): boolean {
    return this.conf.voters.includes(this.id);
  }

  // ---- configuration (single-server changes, effective on append) ----

  private setConf(conf: ConfState, index: number): void {
    this.conf = conf;
    this.confIndex = index;
    const members = new Set<NodeId>([...conf.voters, ...conf.learners]);
    for (const id of [...this.prs.keys()]) if (!members.has(id)) this.prs.delete(id);
    const last = this.log.lastIndex();
    for (const id of members) {
      const learner = conf.learners.includes(id);
      const pr = this.prs.get(id);
      if (pr) {
        pr.isLearner = learner;
      } else {
        const np = new Progress(Math.max(last, 1), this.maxInflight, learner);
        np.recentActive = true;
        this.prs.set(id, np);
      }
    }
    if (this.leadTransferee !== 0 && !conf.voters.includes(this.leadTransferee)) this.abortLeaderTransfer();
  }

  /** Recomputes the membership from the snapshot and every configuration entry after it. */
  private recomputeConf(): void {
    const snap = this.log.snapshot();
    let conf = snap.confState;
    let index = snap.index;
    const first = this.log.firstIndex();
    const last = this.log.lastIndex();
    if (last >= first) {
      for (const e of this.log.slice(first, last + 1)) {
        if (e.type === 'conf-change') {
          conf = applyConfChangeToState(conf, decodeConfChange(e.data));
          index = e.index;
        }
      }
    }
    this.setConf(conf, index);
  }

  private onLogAppend(ents: readonly Entry[]): void {
    const first = ents[0];
    if (first === undefined) return;
    if (first.index <= this.confIndex) {
      // A configuration entry was overwritten: fall back to the latest one that remains.
      this.recomputeConf();
      return;
    }
    for (const e of ents) {
      if (e.type === 'conf-change') {
        this.setConf(applyConfChangeToState(this.conf, decodeConfChange(e.data)), e.index);
      }
    }
  }

  // ---- sending ----

  private send(m: Partial<Message> & { type: MessageType; to: NodeId }): void {
    const full: Message = {
      type: m.type,
      from: this.id,
      to: m.to,
      term: m.term ?? this.term,
      logTerm: m.logTerm ?? 0,
      index: m.index ?? 0,
      entries: m.entries ?? [],
      commit: m.commit ?? 0,
      reject: m.reject ?? false,
      rejectHint: m.rejectHint ?? 0,
      snapshot: m.snapshot,
      context: m.context,
    };
    switch (full.type) {
      case 'append-response':
      case 'vote':
      case 'vote-response':
      case 'pre-vote-response':
        // These speak for state that must be durable first (votes, terms, acknowledged entries).
        this.msgsAfterAppend.push(full);
        break;
      case 'heartbeat-response':
        // A heartbeat response only says "I heard you" (and echoes a ReadIndex context): it
        // claims nothing about the log, so it goes out at once — a follower's slow fsync must
        // not make its leader look unreachable (check-quorum, leases). etcd-io/raft does the same.
        this.msgs.push(full);
        break;
      case 'append':
      case 'pre-vote':
      case 'heartbeat':
      case 'snapshot':
      case 'timeout-now':
      case 'read-index':
      case 'read-index-response':
        this.msgs.push(full);
        break;
    }
  }

  /** Sends an append (or a snapshot) to `to` if its flow control allows; true if something was sent. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.termOrUndefined(prevIndex);
    let ents: Entry[] | undefined;
    if (prevTerm !== undefined) {
      try {
        ents = this.log.entries(pr.next, this.maxSizePerMsg);
      } catch (err) {
        if (!isRaftError(err, 'compacted')) throw err;
        ents = undefined;
      }
    }
    if (prevTerm === undefined || ents === undefined) {
      return this.maybeSendSnapshot(to, pr);
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'append', to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed });
    pr.sentEntries(prevIndex + ents.length, ents.length);
    return true;
  }

  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false;
    let snap: Snapshot;
    try {
      snap = this.log.snapshot();
    } catch (err) {
      if (isRaftError(err, 'snapshot-temporarily-unavailable')) return false;
      throw err;
    }
    if (snap.index === 0) throw new RaftError('api-misuse', 'need a non-empty snapshot to catch up a follower');
    pr.becomeSnapshot(snap.index);
    this.send({ type: 'snapshot', to, snapshot: snap });
    return true;
  }

  private sendHeartbeat(to: NodeId, context: Uint8Array | undefined): void {
    const pr = this.prs.get(to);
    const commit = Math.min(pr?.match ?? 0, this.log.committed);
    // `index` carries this leader's tick stamp; the response echoes it (lease timing).
    this.send({ type: 'heartbeat', to, commit, context, index: this.ticks });
  }

  private bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.maybeSendAppend(id, true);
  }

  private bcastHeartbeat(context?: Uint8Array): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendHeartbeat(id, context);
  }

  // ---- quorum ----

  private quorum(): number {
    return Math.floor(this.conf.voters.length / 2) + 1;
  }

  /** The largest index replicated on a quorum of voters. */
  private committedIndex(): number {
    const voters = this.conf.voters;
    if (voters.length === 0) return 0;
    const matches: number[] = [];
    for (const v of voters) matches.push(this.prs.get(v)?.match ?? 0);
    matches.sort((a, b) => b - a);
    return matches[this.quorum() - 1]!;
  }

  /** Tries to advance the commit index; true when it moved. */
  private maybeCommit(): boolean {
    const moved = this.log.maybeCommit(this.committedIndex(), this.term);
    if (moved && this.state === 'leader') this.afterLeaderCommit();
    return moved;
  }

  private afterLeaderCommit(): void {
    if (this.committedEntryInCurrentTerm()) this.releasePendingReadIndex();
    // A leader removed from (or demoted out of) the voters steps down once that is committed (thesis §4.2.2).
    if (!this.promotable() && this.log.committed >= this.confIndex) {
      this.bcastAppend();
      this.becomeFollower(this.term, 0);
    }
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  // ---- role changes ----

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = 0;
    }
    this.leader = 0;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.votes.clear();
    const last = this.log.lastIndex();
    const stable = this.stableLastIndex();
    for (const [id, pr] of this.prs) {
      const np = new Progress(last + 1, this.maxInflight, pr.isLearner);
      if (id === this.id) np.match = stable;
      this.prs.set(id, np);
    }
    this.readOnly.reset();
    this.pendingReadIndex = [];
    this.leaseRevoked = false;
  }

  /** The last index known to be durable in this node's own storage. */
  stableLastIndex(): number {
    if (this.log.unstable.snapshot) return 0;
    return Math.min(this.log.unstable.offset - 1, this.log.lastIndex());
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + this.random.int(this.electionTimeout);
  }

  becomeFollower(term: number, leader: NodeId): void {
    this.stepFn = this.stepFollower;
    this.reset(term);
    this.leader = leader;
    this.state = 'follower';
  }

  private becomeCandidate(): void {
    if (this.state === 'leader') throw new RaftError('api-misuse', 'invalid transition [leader -> candidate]');
    this.stepFn = this.stepCandidate;
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = 'candidate';
  }

  private becomePreCandidate(): void {
    if (this.state === 'leader') throw new RaftError('api-misuse', 'invalid transition [leader -> pre-candidate]');
    // Pre-candidacy changes neither the term nor the vote.
    this.stepFn = this.stepCandidate;
    this.votes.clear();
    this.leader = 0;
    this.state = 'pre-candidate';
  }

  private becomeLeader(): void {
    if (this.state === 'follower') throw new RaftError('api-misuse', 'invalid transition [follower -> leader]');
    this.stepFn = this.stepLeader;
    this.reset(this.term);
    this.leader = this.id;
    this.state = 'leader';
    this.prs.get(this.id)?.becomeReplicate();
    // The no-op of the new term: commits the previous terms' entries (§5.4.2) and guards
    // single-server membership changes (no change is accepted before it commits).
    this.appendEntries([{ term: 0, index: 0, type: 'normal', data: EMPTY_BYTES }]);
  }

  // ---- ticks ----

  tick(): void {
    this.ticks++;
    if (this.startupLeaseTicks > 0) this.startupLeaseTicks--;
    if (this.state === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, 0);
        return;
      }
      if (this.leadTransferee !== 0) this.abortLeaderTransfer();
    }
    if (this.state !== 'leader') return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.lastPendingContext());
    }
  }

  /** Whether a quorum of voters was heard from since the last check; resets the marks. */
  private quorumActive(): boolean {
    let active = 0;
    for (const v of this.conf.voters) {
      const pr = this.prs.get(v);
      if (v === this.id || pr?.recentActive) active++;
    }
    for (const [id, pr] of this.prs) if (id !== this.id) pr.recentActive = false;
    return active >= this.quorum();
  }

  // ---- elections ----

  /** Starts an election (or pre-vote) if this node may. */
  hup(transfer: boolean): void {
    if (this.state === 'leader') return;
    if (!this.promotable()) return;
    if (this.preVote && !transfer) this.campaign('pre-vote');
    else this.campaign(transfer ? 'transfer' : 'election');
  }

  private campaign(kind: 'pre-vote' | 'election' | 'transfer'): void {
    let term: number;
    let voteType: MessageType;
    if (kind === 'pre-vote') {
      this.becomePreCandidate();
      voteType = 'pre-vote';
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = 'vote';
      term = this.term;
    }
    if (this.poll(this.id, true) === 'won') {
      if (kind === 'pre-vote') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    const context = kind === 'transfer' ? CAMPAIGN_TRANSFER : undefined;
    for (const id of this.conf.voters) {
      if (id === this.id) continue;
      this.send({ type: voteType, to: id, term, index: this.log.lastIndex(), logTerm: this.log.lastTerm(), context });
    }
  }

  private poll(id: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    let yes = 0;
    let no = 0;
    for (const v of this.conf.voters) {
      const g = this.votes.get(v);
      if (g === true) yes++;
      else if (g === false) no++;
    }
    const q = this.quorum();
    if (yes >= q) return 'won';
    if (no > this.conf.voters.length - q) return 'lost';
    return 'pending';
  }

  // ---- step ----

  /** Handles a message from another member. */
  step(m: Message): void {
    if (m.term === 0) {
      // Term-less: forwarded read requests and their answers.
    } else if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'pre-vote') {
        const inLease =
          (this.checkQuorum && this.leader !== 0 && this.electionElapsed < this.electionTimeout) || this.startupLeaseTicks > 0;
        if (!isTransfer(m.context) && inLease) {
          // A leader is alive as far as we know: ignore the (possibly disruptive) candidate (thesis §4.2.3).
          return;
        }
      }
      if (m.type === 'pre-vote') {
        // Never change the term on a pre-vote.
      } else if (m.type === 'pre-vote-response' && !m.reject) {
        // A granted pre-vote carries the future term; do not adopt it.
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, 0);
      }
    } else if (m.term < this.term) {
      if (m.type === 'append' || m.type === 'heartbeat') {
        // Tell a stale leader about the new term so it steps down. (etcd does this only with
        // check-quorum or pre-vote on and otherwise relies on the higher-term candidates'
        // vote requests reaching the old leader; after a membership change they may not —
        // the simulation found such a livelock.)
        this.send({ type: 'append-response', to: m.from });
      } else if (m.type === 'pre-vote' || m.type === 'vote') {
        // Reject with our term (as the paper's RequestVote does). etcd ignores a stale vote
        // request; then a candidate that only talks to nodes of higher terms (after a
        // membership change) can keep incrementing its term behind theirs forever.
        this.send({ type: m.type === 'vote' ? 'vote-response' : 'pre-vote-response', to: m.from, reject: true });
      }
      return;
    }

    switch (m.type) {
      case 'vote':
      case 'pre-vote': {
        const canVote =
          this.vote === m.from ||
          (this.vote === 0 && this.leader === 0) ||
          (m.type === 'pre-vote' && m.term > this.term);
        const respType = m.type === 'vote' ? 'vote-response' : 'pre-vote-response';
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          this.send({ type: respType, to: m.from, term: m.term });
          if (m.type === 'vote') {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send({ type: respType, to: m.from, reject: true });
          if (m.type === 'vote' && this.state !== 'leader' && this.log.isUpToDate(m.index, m.logTerm)) {
            // Refused only because our vote in this term is taken (often by ourselves), yet
            // the candidate's log is as good as ours: back off so that it gets a fair chance
            // next round instead of our own campaign always coming first. (Timers only: no
            // safety impact. Without pre-vote, a member with a stale configuration otherwise
            // livelocked the real voters in the simulation.)
            this.electionElapsed = 0;
            this.resetRandomizedElectionTimeout();
          }
        }
        return;
      }
      default:
        this.stepFn(m);
    }
  }

  private stepLeader = (m: Message): void => {
    const pr = this.prs.get(m.from);
    switch (m.type) {
      case 'read-index':
        this.handleReadIndexRequest(m);
        return;
      case 'append-response': {
        if (!pr) return;
        pr.recentActive = true;
        if (m.reject) {
          let nextProbe = m.rejectHint;
          if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm)[0];
          if (pr.maybeDecrTo(m.index, nextProbe)) {
            if (pr.state === 'replicate') pr.becomeProbe();
            this.maybeSendAppend(m.from, true);
          }
          return;
        }
        const oldPaused = pr.isPaused();
        // A probe answered at the match we already knew also proves the follower is in sync.
        if (pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === 'probe')) {
          switch (pr.state) {
            case 'probe':
              pr.becomeReplicate();
              break;
            case 'snapshot':
              if (pr.match + 1 >= this.log.firstIndex()) {
                pr.becomeProbe();
                pr.becomeReplicate();
              }
              break;
            case 'replicate':
              pr.inflights.freeLE(m.index);
              break;
          }
          if (this.maybeCommit()) {
            if (this.state !== 'leader') return;
            this.bcastAppend();
          } else if (oldPaused) {
            this.maybeSendAppend(m.from, true);
          }
          while (this.maybeSendAppend(m.from, false)) {
            // keep the pipeline full
          }
          if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
            this.sendTimeoutNow(m.from);
          }
        }
        return;
      }
      case 'heartbeat-response': {
        if (!pr) return;
        pr.recentActive = true;
        pr.probeSent = false;
        // Appends may have been lost without a trace: let one more through per heartbeat.
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.log.lastIndex()) this.maybeSendAppend(m.from, true);
        // The follower echoes the tick stamp of the heartbeat it answers: its lease promise
        // (no vote for an election timeout) started no earlier than that tick.
        if (m.index > pr.ackStamp) pr.ackStamp = m.index;
        if (m.context === undefined || m.context.length === 0) return;
        const acks = this.readOnly.recvAck(m.from, m.context);
        if (!acks) return;
        acks.add(this.id);
        let n = 0;
        for (const v of this.conf.voters) if (acks.has(v)) n++;
        if (n < this.quorum()) return;
        for (const rs of this.readOnly.advance(m.context)) this.answerRead(rs.from, rs.index, rs.context);
        return;
      }
      case 'append':
      case 'heartbeat':
      case 'snapshot':
      case 'vote':
      case 'vote-response':
      case 'pre-vote':
      case 'pre-vote-response':
      case 'timeout-now':
      case 'read-index-response':
        return;
    }
  };

  private stepCandidate = (m: Message): void => {
    switch (m.type) {
      case 'append':
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'snapshot':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'vote-response':
      case 'pre-vote-response': {
        const mine = this.state === 'pre-candidate' ? 'pre-vote-response' : 'vote-response';
        if (m.type !== mine) return;
        switch (this.poll(m.from, !m.reject)) {
          case 'won':
            if (this.state === 'pre-candidate') this.campaign('election');
            else {
              this.becomeLeader();
              this.bcastAppend();
            }
            return;
          case 'lost':
            this.becomeFollower(this.term, 0);
            return;
          case 'pending':
            return;
        }
        return;
      }
      case 'append-response':
      case 'heartbeat-response':
      case 'vote':
      case 'pre-vote':
      case 'timeout-now':
      case 'read-index':
      case 'read-index-response':
        return;
    }
  };

  private stepFollower = (m: Message): void => {
    switch (m.type) {
      case 'append':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleHeartbeat(m);
        return;
      case 'snapshot':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleSnapshot(m);
        return;
      case 'timeout-now':
        // Leadership transfer: campaign at once, skipping pre-vote and the lease check.
        this.hup(true);
        return;
      case 'read-index':
        if (this.leader === 0) return;
        this.msgs.push({ ...m, to: this.leader });
        return;
      case 'read-index-response':
        if (m.context) this.readStates.push({ index: m.index, context: m.context });
        return;
      case 'append-response':
      case 'heartbeat-response':
      case 'vote':
      case 'vote-response':
      case 'pre-vote':
      case 'pre-vote-response':
        return;
    }
  };

  // ---- follower handlers ----

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ type: 'append-response', to: m.from, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew >= 0) {
      this.send({ type: 'append-response', to: m.from, index: lastNew });
      return;
    }
    // Fast backtracking: point the leader at the last index that can possibly match.
    const hint = Math.min(m.index, this.log.lastIndex());
    const [hintIndex, hintTerm] = this.log.findConflictByTerm(hint, m.logTerm);
    this.send({ type: 'append-response', to: m.from, index: m.index, reject: true, rejectHint: hintIndex, logTerm: hintTerm });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: 'heartbeat-response', to: m.from, context: m.context, index: m.index });
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (s && this.restore(s)) {
      this.send({ type: 'append-response', to: m.from, index: this.log.lastIndex() });
    } else {
      this.send({ type: 'append-response', to: m.from, index: this.log.committed });
    }
  }

  /** Installs a leader's snapshot; false when it is stale or the log already has it. */
  private restore(s: Snapshot): boolean {
    if (s.index <= this.log.committed) return false;
    // Unlike etcd, a snapshot whose membership lacks this node is fine: with changes effective
    // on append, a joining node is sent the leader's latest snapshot, which may predate the
    // entry that adds it; that entry follows in the log.
    if (this.log.matchTerm(s.index, s.term)) {
      this.log.commitTo(s.index);
      return false;
    }
    this.log.restore(s);
    this.recomputeConf();
    return true;
  }

  // ---- leader operations ----

  private appendEntries(es: readonly Entry[]): void {
    let li = this.log.lastIndex();
    const stamped: Entry[] = [];
    for (const e of es) stamped.push({ term: this.term, index: ++li, type: e.type, data: e.data });
    // The leader's own match advances only when the host reports the entries durable
    // (advance), so it may write in parallel with replication (thesis §10.2.1).
    this.log.append(stamped);
  }

  /** Proposes normal entries (leader only). */
  propose(datas: readonly Uint8Array[]): void {
    this.checkCanPropose();
    const es: Entry[] = [];
    for (const data of datas) es.push({ term: 0, index: 0, type: 'normal', data });
    this.appendEntries(es);
    this.bcastAppend();
    this.maybeCommit();
  }

  private checkCanPropose(): void {
    if (this.state !== 'leader') {
      throw new ProposalDroppedError('not-leader', this.leader, `node ${this.id} is not the leader (leader: ${this.leader || 'unknown'})`);
    }
    if (this.leadTransferee !== 0) {
      throw new ProposalDroppedError('transferring', this.leader, `leadership is being transferred to ${this.leadTransferee}`);
    }
    if (!this.prs.has(this.id)) {
      throw new ProposalDroppedError('removed', this.leader, `node ${this.id} was removed from the cluster`);
    }
  }

  /** Proposes a single-server membership change (leader only). */
  proposeConfChange(cc: ConfChange): void {
    this.checkCanPropose();
    if (!this.committedEntryInCurrentTerm()) {
      throw new RaftError('config-change-refused', `the leader has not committed an entry in term ${this.term} yet; retry shortly`);
    }
    if (this.confIndex > this.log.committed) {
      throw new RaftError('config-change-refused', `the configuration change at index ${this.confIndex} is not committed yet`);
    }
    const isVoter = this.conf.voters.includes(cc.nodeId);
    const isLearner = this.conf.learners.includes(cc.nodeId);
    if (!Number.isInteger(cc.nodeId) || cc.nodeId <= 0) {
      throw new RaftError('config-change-refused', `node id must be a positive integer, received ${cc.nodeId}`);
    }
    switch (cc.type) {
      case 'add-voter':
        if (isVoter) throw new RaftError('config-change-refused', `node ${cc.nodeId} is already a voter`);
        break;
      case 'add-learner':
        if (isLearner) throw new RaftError('config-change-refused', `node ${cc.nodeId} is already a learner`);
        if (isVoter && this.conf.voters.length === 1) throw new RaftError('config-change-refused', `cannot demote the last voter ${cc.nodeId}`);
        break;
      case 'remove-node':
        if (!isVoter && !isLearner) throw new RaftError('config-change-refused', `node ${cc.nodeId} is not a member`);
        if (isVoter && this.conf.voters.length === 1) throw new RaftError('config-change-refused', `cannot remove the last voter ${cc.nodeId}`);
        break;
    }
    this.appendEntries([{ term: 0, index: 0, type: 'conf-change', data: encodeConfChange(cc) }]);
    this.bcastAppend();
    this.maybeCommit();
  }

  /** Requests a linearizable read point for `context` (answered through readStates). */
  readIndex(context: Uint8Array): void {
    const m: Message = {
      type: 'read-index', from: this.id, to: this.id, term: 0, logTerm: 0, index: 0,
      entries: [], commit: 0, reject: false, rejectHint: 0, context,
    };
    if (this.state === 'leader') this.handleReadIndexRequest(m);
    else if (this.state === 'follower' && this.leader !== 0) this.msgs.push({ ...m, to: this.leader });
    // Otherwise dropped: without a known leader there is nobody to ask; the caller retries.
  }

  private handleReadIndexRequest(m: Message): void {
    const ctx = m.context ?? EMPTY_BYTES;
    if (this.conf.voters.length === 1 && this.conf.voters[0] === this.id) {
      this.answerRead(m.from, this.log.committed, ctx);
      return;
    }
    if (!this.committedEntryInCurrentTerm()) {
      // Until the no-op commits, the leader's commit index may be behind the cluster's.
      this.pendingReadIndex.push(m);
      return;
    }
    this.serveReadIndex(m.from, ctx);
  }

  private serveReadIndex(from: NodeId, ctx: Uint8Array): void {
    if (this.readOnlyMode === 'lease-based' && this.leaseValid()) {
      this.answerRead(from, this.log.committed, ctx);
      return;
    }
    // Safe mode, or a lease that lapsed: confirm leadership with a heartbeat round.
    this.readOnly.add(this.log.committed, from, ctx);
    this.bcastHeartbeat(ctx);
  }

  /**
   * Whether this leader still holds its lease: a quorum of voters acknowledged a heartbeat
   * sent less than `electionTicks - 1` ticks ago. Each of them promised (check-quorum's vote
   * refusal) not to help elect anyone else for `electionTicks` ticks after receiving it, so
   * no other leader can exist yet — assuming clocks tick at the same rate to within a tick
   * per election timeout.
   */
  private leaseValid(): boolean {
    if (this.leaseRevoked) return false;
    const stamps: number[] = [];
    for (const v of this.conf.voters) stamps.push(v === this.id ? this.ticks : (this.prs.get(v)?.ackStamp ?? 0));
    stamps.sort((a, b) => b - a);
    const q = stamps[this.quorum() - 1];
    return q !== undefined && q > 0 && this.ticks < q + this.electionTimeout - 1;
  }

  private releasePendingReadIndex(): void {
    const pending = this.pendingReadIndex;
    this.pendingReadIndex = [];
    for (const m of pending) this.serveReadIndex(m.from, m.context ?? EMPTY_BYTES);
  }

  private answerRead(from: NodeId, index: number, context: Uint8Array): void {
    if (from === this.id) this.readStates.push({ index, context });
    else this.send({ type: 'read-index-response', to: from, term: 0, index, context });
  }

  /** Starts transferring leadership to `to` (leader only; ignored otherwise). */
  transferLeadership(to: NodeId): void {
    if (this.state !== 'leader') return;
    if (!this.conf.voters.includes(to) || to === this.id) return;
    if (this.leadTransferee !== 0) {
      if (this.leadTransferee === to) return;
      this.abortLeaderTransfer();
    }
    // Proposals stop for up to an election timeout while the transfer runs.
    this.electionElapsed = 0;
    this.leadTransferee = to;
    const pr = this.prs.get(to);
    if (pr?.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.maybeSendAppend(to, true);
  }

  private sendTimeoutNow(to: NodeId): void {
    // The target's election bypasses the followers' lease promises, so from here on this
    // leader's lease proves nothing: lease reads fall back to a heartbeat round.
    this.leaseRevoked = true;
    this.send({ type: 'timeout-now', to });
  }

  private abortLeaderTransfer(): void {
    this.leadTransferee = 0;
  }

  /** The host reports that `to` could not be reached: stop streaming optimistically. */
  reportUnreachable(to: NodeId): void {
    const pr = this.prs.get(to);
    if (this.state !== 'leader' || !pr) return;
    if (pr.state === 'replicate') pr.becomeProbe();
  }

  /** The host reports the outcome of sending a snapshot to `to`. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    const pr = this.prs.get(to);
    if (this.state !== 'leader' || pr?.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    pr.probeSent = true; // wait for the follower's reply (or a heartbeat) before probing again
  }

  /** Called when the host reports the unstable log durable up to `index`. */
  onStable(): void {
    if (this.state !== 'leader') return;
    const self = this.prs.get(this.id);
    if (self?.maybeUpdate(this.stableLastIndex())) {
      if (this.maybeCommit() && this.state === 'leader') this.bcastAppend();
    }
  }

  /** Releases read requests that a removed/stepped-down leader can no longer serve. */
  takeReadStates(): ReadState[] {
    const rs = this.readStates;
    this.readStates = [];
    return rs;
  }
}

/**
 * RaftNode, the node driver (etcd's node.go and etcdserver's raft loop): it runs a RawNode with
 * real time, the TCP peer transport and a durable storage, and applies to the user's state machine.
 */
import { EventEmitter } from 'node:events';
import { RawNode, type Status } from '../core/raw-node.js';
import { sfc32 } from '@flotilla/sys';
import { applyConfChangeToState, decodeConfChange } from '../core/conf-change.js';
import { isRaftError, RaftNodeError } from '../errors.js';
import type { NodeStorage } from '../core/storage.js';
import type { ConfChange, ConfState, Entry, Message, NodeId, ReadState, Snapshot, StateRole } from '../core/types.js';
import { TcpTransport } from '../transport/tcp-transport.js';
import type { PeerTlsOptions } from '../transport/tcp-transport.js';
import {
  MAX_ENTRY_BYTES,
  decodeConfChangeContext,
  decodeControlFrame,
  decodeEnvelope,
  encodeConfChangeContext,
  encodeControlFrame,
  encodeEnvelope,
  type ControlFrame,
} from './frames.js';
import { Proposals, dropped } from './proposals.js';
import { ReadIndexBatcher } from './reads.js';
import { SnapshotPolicy, type SnapshotCost } from './snapshot-policy.js';
import type { ProposerRole, StateMachine } from './state-machine.js';

/** Options of {@link RaftNode}. */
export interface RaftNodeOptions<C, R> {
  /** This member's id (> 0). */
  readonly id: NodeId;
  /** The log, hard state and snapshots: a FileStorage (durable) or a MemoryStorage (tests). */
  readonly storage: NodeStorage;
  /** What is replicated: the user's state machine, restored from the storage's snapshot at construction. */
  readonly stateMachine: StateMachine<C, R>;
  /** Where to accept peer connections, `HOST:PORT`. */
  readonly peerListen: string;
  /** This member's peer address as others reach it. @default peerListen */
  readonly advertisePeerUrl?: string;
  /** Peer addresses known before the replicated registry is (bootstrap, join). */
  readonly initialPeers?: ReadonlyMap<NodeId, string>;
  /** Mutual TLS between members. */
  readonly peerTls?: PeerTlsOptions;
  /**
   * Shared secret of the members: every peer connection proves it in a challenge–response
   * hello; it is never sent. @default none
   */
  readonly peerSecret?: Uint8Array;
  /** Milliseconds per Raft tick. @default 100 */
  readonly tickMs?: number;
  /** Ticks before an election (randomized up to twice that). @default 10 */
  readonly electionTicks?: number;
  /** Ticks between heartbeats. @default 1 */
  readonly heartbeatTicks?: number;
  /** How long a proposal or read waits before failing with `timeout` (unknown outcome for writes). @default 7000 */
  readonly requestTimeoutMs?: number;
  /** Take a state-machine snapshot and compact the log after this many applied entries. @default 50000 */
  readonly snapshotEntries?: number;
  /** Entries kept behind a snapshot for slow followers. @default 10000 */
  readonly snapshotCatchUpEntries?: number;
  /**
   * A snapshot larger than this is followed by the next one only once the entries applied
   * since add up to its size (or after 10 × `snapshotEntries`), so its O(state) cost is
   * amortized over as many bytes written. @default 67108864 (64 MiB)
   */
  readonly snapshotAmortizeAboveBytes?: number;
  /** Seed of the election-timeout randomness. @default derived from id and time */
  readonly seed?: number;
  /**
   * Backpressure: proposals waiting at once on this member beyond which new ones are refused
   * with `overloaded` (nothing proposed). @default 20000
   */
  readonly maxPendingRequests?: number;
  /** Diagnostics (never secrets). */
  readonly log?: (line: string) => void;
}

/** Events of {@link RaftNode}. */
export interface RaftNodeEvents {
  /** The known leader or this member's role changed (`leader` 0: none known). */
  leader: [leader: NodeId, role: StateRole];
  /** One turn of the ready loop finished (entries applied, Ready advanced). */
  advanced: [];
  /** This member was removed from the cluster. */
  removed: [];
  /** A storage write failed: the member stops serving (restart it). */
  fatal: [error: unknown];
}

/**
 * A Raft member in a process: drives a {@link RawNode} with real time, a TCP transport and a
 * durable {@link NodeStorage}, and applies committed entries to a {@link StateMachine}.
 *
 * The ready loop, per Ready: send `messages` → apply `committedEntries` → persist entries,
 * hard state and snapshot (one fsync for everything that arrived meanwhile: group commit) →
 * send `persistedMessages` → `advance`. Committed entries are applied before this Ready's own
 * write, as etcd's server does: they are durable on a quorum already (a leader counts its own
 * copy only once persisted), so the apply — and the client's answer — need not wait for this
 * fsync. A leader's snapshot is the exception: it is persisted before it replaces the state.
 * While a persist is in flight, ticks, incoming messages and proposals keep running and their
 * immediately sendable messages (heartbeats, appends to followers: pipelining) go out at once,
 * so a slow disk never starves heartbeats.
 *
 * Requests: proposals made in one turn of the event loop go into one append; linearizable
 * reads in one turn share one ReadIndex round; a follower forwards proposals to the leader on
 * the peer connection, and the leader answers with the result once applied. Each request
 * settles exactly once: with its result, a definite failure (`no-leader`, `not-leader`,
 * `overloaded`, `too-large`, `refused`: nothing was applied), or an unknown outcome
 * (`timeout`, `stopped` after proposing: `mayHaveEffect`). Errors are {@link RaftNodeError}s,
 * except what the state machine's `check` throws.
 */
export class RaftNode<C, R> extends EventEmitter<RaftNodeEvents> {
  readonly id: NodeId;
  readonly #o: RaftNodeOptions<C, R>;
  readonly #sm: StateMachine<C, R>;
  readonly #storage: NodeStorage;
  readonly #raw: RawNode;
  readonly #transport: TcpTransport;
  readonly #peerUrl: string;
  readonly #snapshots: SnapshotPolicy;
  readonly #timeoutMs: number;
  #appliedConf: ConfState;
  #applied = 0;
  /** Whether the ready loop is running (a persist may be in flight). */
  #running = false;
  #stopped = false;
  #leader: NodeId = 0;
  #role: StateRole = 'follower';
  #seq = 0;
  readonly #nonce: string;
  readonly #proposals: Proposals;
  readonly #reads: ReadIndexBatcher;
  /** Members removed lately (→ when last told): their connections stay a while, to tell them. */
  readonly #removedPeers = new Map<NodeId, number>();
  #removedNotified = false;
  #timers: NodeJS.Timeout[] = [];
  #fatal: unknown;
  #peerRefusals = 0;

  constructor(options: RaftNodeOptions<C, R>) {
    super();
    if (!Number.isSafeInteger(options.id) || options.id <= 0) throw new TypeError(`id: expected a positive integer, received ${String(options.id)}`);
    this.#o = options;
    this.id = options.id;
    this.#sm = options.stateMachine;
    this.#storage = options.storage;
    this.#timeoutMs = options.requestTimeoutMs ?? 7000;
    this.#peerUrl = options.advertisePeerUrl ?? options.peerListen;
    this.#nonce = `${options.id}.${Date.now().toString(36)}.${Math.floor(Math.random() * 1e9).toString(36)}`;
    const snap = this.#storage.snapshot();
    this.#sm.restore(snap.data);
    this.#appliedConf = snap.confState;
    this.#applied = snap.index;
    this.#snapshots = new SnapshotPolicy(this.#storage, snap.index, {
      snapshotEntries: options.snapshotEntries ?? 50_000,
      catchUpEntries: options.snapshotCatchUpEntries ?? 10_000,
      amortizeAboveBytes: options.snapshotAmortizeAboveBytes,
      log: options.log,
    });
    this.#raw = new RawNode({
      id: options.id,
      storage: this.#storage,
      random: sfc32(options.seed ?? (options.id * 7919 + Date.now()) % 2147483647),
      electionTicks: options.electionTicks ?? 10,
      heartbeatTicks: options.heartbeatTicks ?? 1,
      applied: snap.index,
      preVote: true,
      checkQuorum: true,
    });
    this.#transport = new TcpTransport({
      id: options.id,
      listen: options.peerListen,
      onMessage: (m) => this.#onMessage(m),
      onControl: (from, payload) => this.#onControl(from, payload),
      onUnreachable: (to) => this.#raw.reportUnreachable(to),
      isMember: (id) => this.#isMember(id),
      ...(options.peerTls ? { tls: options.peerTls } : {}),
      ...(options.peerSecret ? { secret: options.peerSecret } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
    for (const [id, addr] of options.initialPeers ?? []) this.#transport.addPeer(id, addr);
    this.#syncPeers();
    this.#reads = new ReadIndexBatcher((ctx) => this.#raw.readIndex(ctx), this.#timeoutMs, this.#nonce);
    this.#proposals = new Proposals({
      id: this.id,
      append: (datas) => this.#raw.proposeBatch(datas),
      lastIndex: () => this.#raw.status().lastIndex,
      send: (to, frame) => this.#transport.sendControl(to, frame),
      pump: () => this.#pump(),
    });
  }

  /** Starts the peer listener, the tick timer and the ready loop. */
  async start(): Promise<void> {
    await this.#transport.start();
    const tickMs = this.#o.tickMs ?? 100;
    this.#timers.push(
      setInterval(() => {
        if (this.#stopped) return;
        this.#raw.tick();
        this.#pump();
      }, tickMs),
      setInterval(() => this.#proposals.forgetStale(Date.now()), Math.max(50, Math.min(500, tickMs * 2))),
    );
    this.#pump();
  }

  /** Stops timers and connections; pending requests fail with `stopped`; then closes the storage. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#proposals.waits.failAll(new RaftNodeError('stopped', 'the member is shutting down', { mayHaveEffect: true }));
    this.#reads.stop();
    await this.#transport.close();
    // Let an in-flight persist finish before closing the storage.
    while (this.#running) await new Promise((r) => setTimeout(r, 5));
    await this.#snapshots.settled();
    await this.#storage.close();
  }

  // ---- what the member knows ----

  /** The leader this member knows of (0: none). */
  get leader(): NodeId {
    return this.#leader;
  }

  /** This member's role. */
  get role(): StateRole {
    return this.#role;
  }

  isLeader(): boolean {
    return this.#role === 'leader';
  }

  /** The membership as of the last applied entry. */
  get confState(): ConfState {
    return this.#appliedConf;
  }

  /** Index of the last entry applied to the state machine. */
  get appliedIndex(): number {
    return this.#applied;
  }

  /** What the last snapshot this member took cost (size, capture, serialization, write). */
  get lastSnapshotCost(): SnapshotCost | undefined {
    return this.#snapshots.lastCost;
  }

  /** The Raft core's view: term, commit index, and (on a leader) every member's progress. */
  raftStatus(): Status {
    return this.#raw.status();
  }

  /** Peer frames and proposals refused since start (malformed, unauthenticated, or not allowed). */
  get peerRefusals(): number {
    return this.#peerRefusals + this.#transport.refusedConnections;
  }

  /** This member's advertised peer address. */
  get peerUrl(): string {
    return this.#peerUrl;
  }

  // ---- requests ----

  /**
   * Proposes a command (checked first by the state machine) and resolves with its result once
   * applied — on this member, or on the leader when a follower forwarded it.
   */
  propose(command: unknown): Promise<R | undefined> {
    if (this.#stopped) return Promise.reject(new RaftNodeError('stopped', 'the member is shutting down'));
    if (this.#fatal) return Promise.reject(new RaftNodeError('failed', `the member failed: ${this.#fatal instanceof Error ? this.#fatal.message : 'fatal error'}`));
    const waits = this.#proposals.waits;
    if (waits.size >= (this.#o.maxPendingRequests ?? 20_000)) {
      return Promise.reject(new RaftNodeError('overloaded', `${waits.size} requests are already waiting on this member; retry shortly`));
    }
    let checked: C;
    try {
      checked = this.#sm.check(command);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (this.#appliedConf.learners.includes(this.id) && this.#mayPropose(checked, this.id, 'learner') !== undefined) {
      // A learner does not propose (the leader would refuse it): its caller forwards the request.
      return Promise.reject(new RaftNodeError('not-leader', 'this member is a learner; writes go to the leader'));
    }
    const requestId = this.#nextRequestId();
    const data = encodeEnvelope(requestId, checked);
    if (data.length > MAX_ENTRY_BYTES) {
      return Promise.reject(new RaftNodeError('too-large', `the command is ${data.length} bytes encoded; at most ${MAX_ENTRY_BYTES}`));
    }
    if (this.#role === 'leader') return this.#proposals.proposeHere(requestId, data, this.#timeoutMs) as Promise<R | undefined>;
    if (this.#leader === 0) return Promise.reject(new RaftNodeError('no-leader', 'no leader is known right now; retry shortly'));
    const p = waits.register(requestId, this.#timeoutMs, 'the proposal');
    if (!this.#transport.sendControl(this.#leader, encodeControlFrame({ kind: 'propose', requestId, command: checked }))) {
      waits.trigger(requestId, new RaftNodeError('no-leader', `the leader (member ${this.#leader}) is not reachable right now; retry shortly`));
    }
    return p as Promise<R | undefined>;
  }

  /** Resolves once the local state reflects every write committed before the call (ReadIndex). */
  readIndex(): Promise<void> {
    if (this.#stopped) return Promise.reject(new RaftNodeError('stopped', 'the member is shutting down'));
    if (this.#leader === 0) return Promise.reject(new RaftNodeError('no-leader', 'no leader is known right now; retry shortly'));
    return this.#reads.read(() => this.#pump());
  }

  /**
   * Proposes a membership change on the leader and resolves once it is applied here.
   * `peerUrl` (an added member's address) is recorded with it in the state machine.
   */
  async proposeConfChange(change: Omit<ConfChange, 'context'>, peerUrl?: string): Promise<void> {
    if (this.#role !== 'leader') throw new RaftNodeError('not-leader', 'membership changes are made by the leader');
    const requestId = this.#nextRequestId();
    const waits = this.#proposals.waits;
    const p = waits.register(requestId, this.#timeoutMs, 'the membership change');
    try {
      this.#raw.proposeConfChange({ ...change, context: encodeConfChangeContext(requestId, peerUrl) });
    } catch (err) {
      const e = isRaftError(err, 'config-change-refused')
        ? new RaftNodeError('failed', `${(err as Error).message} (nothing was changed; retry shortly)`, { cause: err })
        : dropped(err);
      waits.trigger(requestId, e);
    }
    this.#pump();
    await p;
  }

  // ---- proposals ----

  #nextRequestId(): string {
    return `${this.#nonce}.${(this.#seq++).toString(36)}`;
  }

  #mayPropose(command: C, from: NodeId, role: ProposerRole): string | undefined {
    if (this.#sm.mayPropose) return this.#sm.mayPropose(command, from, role);
    return role === 'voter' ? undefined : role === 'learner' ? 'a proposal from a learner' : 'a proposal from a non-member';
  }

  // ---- peers ----

  #tellRemoved(id: NodeId): void {
    const last = this.#removedPeers.get(id) ?? 0;
    const now = Date.now();
    if (now - last < 500) return;
    this.#removedPeers.set(id, now);
    this.#transport.sendControl(id, encodeControlFrame({ kind: 'removed' }));
  }

  #onMessage(m: Message): void {
    if (this.#stopped) return;
    if (this.#removedPeers.has(m.from)) {
      this.#tellRemoved(m.from);
      return;
    }
    this.#raw.step(m);
    this.#pump();
  }

  /** Handles a peer's control frame; throws PeerFrameError for a malformed one (the transport then drops the connection). */
  #onControl(from: NodeId, payload: Buffer): void {
    if (this.#stopped) return;
    const f = decodeControlFrame(payload, (v): v is R => this.#sm.isResult(v));
    switch (f.kind) {
      case 'removed':
        if (from !== this.id && this.#sm.members.has(from)) this.#onRemoved(`told by member ${from}`);
        return;
      case 'result':
        // The leader applied a proposal this member forwarded: answer without waiting for the
        // local apply (the result is the same everywhere; linearizable reads still use ReadIndex).
        if (from === this.#leader) this.#proposals.waits.trigger(f.requestId, f.result);
        return;
      case 'retry':
        this.#proposals.waits.trigger(f.requestId, new RaftNodeError('no-leader', 'the member this one took for the leader is not leading; retry shortly'));
        return;
      case 'refuse':
        this.#proposals.waits.trigger(f.requestId, new RaftNodeError('refused', `the leader refused the command: ${f.reason}`));
        return;
      case 'propose':
        this.#onForwardedProposal(from, f.requestId, f.command);
        return;
    }
  }

  /**
   * A follower forwarded a command. Only a voting member may propose (unless the state
   * machine's `mayPropose` says otherwise), and the command is checked by the state machine
   * before it is appended: a refused one answers `refuse` and never reaches the log.
   */
  #onForwardedProposal(from: NodeId, requestId: string, command: unknown): void {
    const reply = (frame: ControlFrame) => this.#transport.sendControl(from, encodeControlFrame(frame));
    if (this.#role !== 'leader') {
      reply({ kind: 'retry', requestId });
      return;
    }
    let checked: C;
    try {
      checked = this.#sm.check(command);
    } catch (err) {
      const why = err instanceof Error ? err.message : 'invalid command';
      this.#refused(from, `an invalid command (${err instanceof Error ? err.message : 'unreadable'})`);
      reply({ kind: 'refuse', requestId, reason: why });
      return;
    }
    const conf = this.#appliedConf;
    const role: ProposerRole = conf.voters.includes(from) ? 'voter' : conf.learners.includes(from) ? 'learner' : 'none';
    const refusal = this.#mayPropose(checked, from, role);
    if (refusal !== undefined) {
      this.#refused(from, refusal);
      reply({ kind: 'refuse', requestId, reason: `member ${from} may not propose this command` });
      return;
    }
    const data = encodeEnvelope(requestId, checked);
    if (data.length > MAX_ENTRY_BYTES) {
      reply({ kind: 'refuse', requestId, reason: `the command is ${data.length} bytes encoded; at most ${MAX_ENTRY_BYTES}` });
      return;
    }
    this.#proposals.proposeForwarded(from, requestId, data);
  }

  #refused(from: NodeId, what: string): void {
    this.#peerRefusals++;
    this.#o.log?.(`member ${this.id}: refused ${what} from member ${from}`);
  }

  /** May `id` connect to this member's peer port? A current member (or, while this member has no membership yet — it is joining — one it was told of). */
  #isMember(id: NodeId): boolean {
    const c = this.#appliedConf;
    if (c.voters.includes(id) || c.learners.includes(id) || this.#sm.members.has(id)) return true;
    // A just-removed member may connect for a while, to be told it was removed.
    if (this.#removedPeers.has(id)) return true;
    return c.voters.length === 0 && (this.#o.initialPeers?.has(id) ?? false);
  }

  #syncPeers(): void {
    for (const [id, m] of this.#sm.members) if (id !== this.id && m.peerUrl) this.#transport.addPeer(id, m.peerUrl);
  }

  #onRemoved(how: string): void {
    if (this.#removedNotified) return;
    this.#removedNotified = true;
    this.#o.log?.(`member ${this.id} was removed from the cluster${how ? ` (${how})` : ''}`);
    setImmediate(() => this.emit('removed'));
  }

  // ---- the ready loop ----

  /** Runs the ready loop, or (while a persist is in flight) sends what may go out now. */
  #pump(): void {
    if (this.#running) {
      const msgs = this.#raw.takeMessages();
      if (msgs.length > 0) this.#transport.send(msgs);
      return;
    }
    if (this.#stopped || this.#fatal !== undefined || !this.#raw.hasReady()) return;
    void this.#loop();
  }

  async #loop(): Promise<void> {
    this.#running = true;
    try {
      while (!this.#stopped && this.#raw.hasReady()) {
        const rd = this.#raw.ready();
        this.#transport.send(rd.messages);
        if (rd.softState) this.#onSoftState(rd.softState.leader, rd.softState.state);
        // Committed entries are durable on a quorum already: apply them before this Ready's
        // own write (see the class doc). Not so a leader's snapshot: persisted first.
        if (!rd.snapshot) this.#applyCommitted(rd.committedEntries, rd.readStates);
        // A Ready that only moved the commit index is not written at all: the commit index is
        // recovered from the leader after a restart, and the next write carries the current
        // hard state (etcd writes it without fsync; not writing it was ~5x at 1 client).
        if (rd.mustSync || rd.entries.length > 0 || rd.snapshot) await this.#storage.save(rd);
        this.#transport.send(rd.persistedMessages);
        if (rd.snapshot) {
          this.#applySnapshot(rd.snapshot);
          this.#applyCommitted(rd.committedEntries, rd.readStates);
        }
        this.#raw.advance();
        this.#reads.serve(this.#applied);
        this.#snapshots.maybeSnapshot(this.#applied, this.#appliedConf, () => this.#sm.captureSnapshot());
        this.emit('advanced');
      }
    } catch (err) {
      this.#fatal = err;
      this.#o.log?.(`fatal: ${err instanceof Error ? err.message : String(err)}`);
      this.emit('fatal', err);
    } finally {
      this.#running = false;
    }
    if (!this.#stopped && this.#fatal === undefined && this.#raw.hasReady()) setImmediate(() => this.#pump());
  }

  #onSoftState(leader: NodeId, role: StateRole): void {
    this.#leader = leader;
    this.#role = role;
    this.#o.log?.(`member ${this.id}: ${role}, leader ${leader || 'unknown'}`);
    this.emit('leader', leader, role);
  }

  #applyCommitted(entries: readonly Entry[], readStates: readonly ReadState[]): void {
    for (const e of entries) this.#applyEntry(e);
    for (const rs of readStates) this.#reads.readState(rs);
    this.#reads.serve(this.#applied);
  }

  #applySnapshot(snap: Snapshot): void {
    this.#proposals.snapshotInstalled(snap.index);
    this.#sm.restore(snap.data);
    this.#appliedConf = snap.confState;
    this.#applied = snap.index;
    this.#snapshots.installed(snap.index, snap.data.length);
    this.#syncPeers();
  }

  #applyEntry(e: Entry): void {
    this.#snapshots.noteApplied(e.data.length);
    if (e.type === 'conf-change') this.#applyConfChange(e);
    else this.#applyCommand(e);
  }

  /** Applies a membership change (and answers the member that proposed it). */
  #applyConfChange(e: Entry): void {
    this.#applied = e.index;
    const cc = decodeConfChange(e.data);
    const ctx = decodeConfChangeContext(cc.context);
    this.#appliedConf = applyConfChangeToState(this.#appliedConf, cc);
    this.#sm.applyConfChange(cc, cc.type === 'remove-node' ? undefined : ctx.peerUrl);
    if (cc.type === 'remove-node' && cc.nodeId !== this.id) {
      // Keep the connection a while to tell the removed member (it cannot learn it from
      // the log: the leader stops replicating to it when the change is appended).
      this.#removedPeers.set(cc.nodeId, 0);
      this.#tellRemoved(cc.nodeId);
      const t = setTimeout(() => {
        this.#removedPeers.delete(cc.nodeId);
        if (!this.#sm.members.has(cc.nodeId)) this.#transport.removePeer(cc.nodeId);
      }, 60_000);
      t.unref();
    }
    this.#syncPeers();
    this.#proposals.applied(e.index, ctx.requestId ?? '', true, false);
    if (cc.type === 'remove-node' && cc.nodeId === this.id) this.#onRemoved('');
  }

  /**
   * Applies a command entry (and answers the member that proposed it). Nothing read from the
   * log is trusted: an entry the state machine's check refuses (or that cannot be read) is
   * applied as a no-op with the state machine's `invalidEntry` result, the same on every
   * member, so a poisoned entry can never stop a member, on replay included.
   */
  #applyCommand(e: Entry): void {
    this.#applied = e.index;
    if (e.data.length === 0) {
      this.#proposals.applied(e.index, '', undefined, false); // a new leader's empty entry
      return;
    }
    const { requestId, command } = decodeEnvelope(e.data);
    let checked: C;
    try {
      checked = this.#sm.check(command);
    } catch (err) {
      const reason = `entry ${e.index} cannot be applied: ${err instanceof Error ? err.message : 'unreadable'}`;
      this.#o.log?.(`member ${this.id}: ${reason} (applied as a no-op)`);
      this.#proposals.applied(e.index, requestId, this.#sm.invalidEntry(reason), false);
      return;
    }
    const result = this.#sm.apply(checked, e.index);
    this.#proposals.applied(e.index, requestId, result, result !== undefined);
  }
}

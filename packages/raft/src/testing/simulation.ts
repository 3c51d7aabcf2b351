/**
 * The seeded fault-injecting simulation: members on a network that drops, delays, duplicates and
 * partitions, crashing and restarting, checked for Raft's safety properties and linearizability.
 * Over 600 lines: one world (network, hosts, clients, checks) whose parts share its state and step
 * loop.
 */
import { applyConfChangeToState, decodeConfChange } from '../core/conf-change.js';
import { RawNode } from '../core/raw-node.js';
import { sfc32 } from '@flotilla/sys';
import type { ConfState, Entry, Message, NodeId, Snapshot } from '../core/types.js';
import type { Ready } from '../core/raw-node.js';
import { isRaftError } from '../errors.js';
import { MemoryStorage } from '../storage/memory-storage.js';
import { checkLinearizable, type Operation } from './linearizability.js';

/** Options of one simulated run. Every default is part of the documented CI configuration. */
export interface SimulationOptions {
  /** The seed: the same seed and options replay the same run exactly. */
  seed: number;
  /** Founding voters (ids 1..n). @default 3 */
  voters?: number;
  /** Extra ids that membership changes may add (each at most once). @default 2 */
  spares?: number;
  /** Steps (one tick each) with faults on. @default 300 */
  faultSteps?: number;
  /** Steps allowed after healing for a leader to emerge and a proposal to commit everywhere. @default 400 */
  livenessSteps?: number;
  /** @default 10 */
  electionTicks?: number;
  /** @default 2 */
  heartbeatTicks?: number;
  /** Probability a message is dropped. @default 0.05 */
  dropRate?: number;
  /** Probability a message is delivered twice. @default 0.03 */
  duplicateRate?: number;
  /** Maximum extra delay in steps (delays differ, so messages reorder). @default 3 */
  maxDelay?: number;
  /** Per-step probability of a partition change (symmetric, asymmetric, or heal). @default 0.02 */
  partitionRate?: number;
  /** Per-step probability that a node crashes (sometimes mid-Ready, losing unsynced entries). @default 0.01 */
  crashRate?: number;
  /** Per-step probability that a crashed node restarts from its storage. @default 0.05 */
  restartRate?: number;
  /** Per-step probability of a membership change or leadership transfer. @default 0.01 */
  membershipRate?: number;
  /** Take a snapshot and compact once this many entries were applied since the last one. @default 20 */
  snapshotEvery?: number;
  /** Concurrent clients issuing puts and linearizable (ReadIndex) gets. @default 3 */
  clients?: number;
  /** Keys the clients use. @default 2 */
  keys?: number;
  /** Steps after which a client gives up on an operation (outcome unknown). @default 60 */
  clientTimeoutSteps?: number;
  /** @default 'safe' */
  readOnly?: 'safe' | 'lease-based';
  /** @default true */
  preVote?: boolean;
  /** @default true */
  checkQuorum?: boolean;
  /** Bytes of entries per append message (small, so that flow control is exercised). @default 512 */
  maxSizePerMsg?: number;
  /** Appends in flight per follower. @default 8 */
  maxInflightMsgs?: number;
  /**
   * Apply committed entries (and answer clients) before persisting the Ready, as etcd's
   * server and our KV server do, instead of after. @default false
   */
  applyBeforePersist?: boolean;
}

/** What a run did (for reports and for tests that want coverage evidence). */
export interface SimulationResult {
  readonly seed: number;
  readonly steps: number;
  readonly leadersElected: number;
  readonly maxTerm: number;
  readonly committed: number;
  readonly crashes: number;
  readonly confChanges: number;
  /** Membership changes that committed (applied somewhere). */
  readonly confChangesCommitted: number;
  /** Leaders that removed or demoted themselves and stepped down. */
  readonly leaderRemovals: number;
  readonly snapshotsSent: number;
  readonly operations: number;
  readonly unknownOutcomes: number;
}

/** A safety or liveness violation; the message names the seed and how to replay it. */
export class SimulationFailure extends Error {
  override readonly name = 'SimulationFailure';
  constructor(
    readonly seed: number,
    readonly step: number,
    readonly violation: string,
    readonly options: SimulationOptions,
  ) {
    super(
      `raft simulation failed at step ${step}: ${violation}\n  reproduce: runSimulation(${JSON.stringify(options)})`,
    );
  }
}

interface SimNode {
  id: NodeId;
  node: RawNode | undefined;
  storage: MemoryStorage;
  incarnation: number;
  /** State machine. */
  kv: Map<string, string>;
  conf: ConfState;
  applied: number;
  sinceSnapshot: number;
  /** Read requests waiting for their index to be applied: context key → read index. */
  readsReady: { key: string; index: number }[];
  term: number;
}

type Op = { kind: 'put'; key: string; value: string } | { kind: 'get'; key: string };

interface PendingOp {
  client: number;
  op: Op;
  node: NodeId;
  incarnation: number;
  call: number;
  deadline: number;
  ctx: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

interface StateMachineImage {
  kv: [string, string][];
}

/**
 * A deterministic, seeded cluster simulation: a network that drops, delays, duplicates and
 * reorders messages; symmetric and asymmetric partitions; crashes (some in the middle of a
 * Ready, losing what was not yet persisted) and restarts from storage; membership changes,
 * leadership transfers, snapshots and compaction while all that happens; and clients whose
 * history is checked for linearizability. Safety is checked after every step, liveness
 * once the faults stop. Throws {@link SimulationFailure} naming the seed.
 */
export class Simulation {
  readonly opts: Required<SimulationOptions>;
  private readonly rng: ReturnType<typeof sfc32>;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly inflight = new Map<number, Message[]>();
  private blocked = new Set<string>();
  private now = 0;
  /** A strictly increasing clock for client history events. */
  private clock = 0;

  // invariants
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** index → "term:data" of the entry applied there by anyone. */
  private readonly appliedAt = new Map<number, string>();
  private maxAppliedIndex = 0;
  /** "index:term" → the entry's body and preceding term as first seen in any log. */
  private readonly entryAt = new Map<string, { prevTerm: number; body: string }>();

  // clients
  private readonly pending = new Map<number, PendingOp>();
  private readonly history: Operation[] = [];
  private readonly putWaiters = new Map<string, PendingOp>();
  private seq = 0;
  private sparesUsed = 0;
  private faults = true;
  private livenessProbe: string | undefined;

  // stats
  private leadersElected = 0;
  private crashes = 0;
  private confChanges = 0;
  private confCommitted = 0;
  private leaderRemovals = 0;
  private snapshotsSent = 0;
  private unknown = 0;

  private readonly userOptions: SimulationOptions;

  constructor(options: SimulationOptions) {
    this.userOptions = { ...options };
    this.opts = {
      voters: 3,
      spares: 2,
      faultSteps: 300,
      livenessSteps: 400,
      electionTicks: 10,
      heartbeatTicks: 2,
      dropRate: 0.05,
      duplicateRate: 0.03,
      maxDelay: 3,
      partitionRate: 0.02,
      crashRate: 0.01,
      restartRate: 0.05,
      membershipRate: 0.01,
      snapshotEvery: 20,
      clients: 3,
      keys: 2,
      clientTimeoutSteps: 60,
      readOnly: 'safe',
      preVote: true,
      checkQuorum: true,
      maxSizePerMsg: 512,
      maxInflightMsgs: 8,
      applyBeforePersist: false,
      ...options,
    };
    this.rng = sfc32(options.seed);
    const conf: ConfState = { voters: range(1, this.opts.voters), learners: [] };
    for (const id of conf.voters) {
      const storage = MemoryStorage.bootstrap(conf);
      this.nodes.set(id, this.newSimNode(id, storage));
      this.start(id);
    }
  }

  private newSimNode(id: NodeId, storage: MemoryStorage): SimNode {
    return { id, node: undefined, storage, incarnation: 0, kv: new Map(), conf: storage.snapshot().confState, applied: 0, sinceSnapshot: 0, readsReady: [], term: 0 };
  }

  /** (Re)starts a node from its storage: state machine from the snapshot, entries re-applied. */
  private start(id: NodeId): void {
    const sn = this.nodes.get(id)!;
    sn.incarnation++;
    const snap = sn.storage.snapshot();
    this.restoreStateMachine(sn, snap);
    sn.node = new RawNode({
      id,
      storage: sn.storage,
      random: sfc32((this.opts.seed * 7919 + id * 104729 + sn.incarnation * 1299709) >>> 0),
      electionTicks: this.opts.electionTicks,
      heartbeatTicks: this.opts.heartbeatTicks,
      preVote: this.opts.preVote,
      checkQuorum: this.opts.checkQuorum,
      readOnly: this.opts.readOnly,
      maxSizePerMsg: this.opts.maxSizePerMsg,
      maxInflightMsgs: this.opts.maxInflightMsgs,
    });
    sn.term = sn.storage.getHardState().term;
    sn.readsReady = [];
  }

  private restoreStateMachine(sn: SimNode, snap: Snapshot): void {
    sn.kv = new Map();
    if (snap.data.length > 0) {
      const img = JSON.parse(dec.decode(snap.data)) as StateMachineImage;
      sn.kv = new Map(img.kv);
    }
    sn.conf = snap.confState;
    sn.applied = snap.index;
    sn.sinceSnapshot = 0;
  }

  private fail(violation: string): never {
    throw new SimulationFailure(this.opts.seed, this.now, violation, this.userOptions);
  }

  /** Runs the fault phase, heals, checks liveness and linearizability. */
  run(): SimulationResult {
    for (let i = 0; i < this.opts.faultSteps; i++) this.step();
    this.healAll();
    let live = false;
    for (let i = 0; i < this.opts.livenessSteps && !live; i++) {
      this.step();
      live = this.checkLiveness();
    }
    if (!live) this.fail(`no progress within ${this.opts.livenessSteps} steps after the network healed (${this.describe()})`);
    // Let clients finish, then everything still open has an unknown outcome.
    for (let i = 0; i < this.opts.clientTimeoutSteps && this.pending.size > 0; i++) this.step();
    for (const p of this.pending.values()) this.finishUnknown(p);
    this.pending.clear();
    const result = checkLinearizable(this.history, { timeLimitSteps: 2_000_000 });
    if (result === 'illegal') this.fail(`client history is not linearizable (${this.history.length} operations)`);
    let committed = 0;
    for (const sn of this.nodes.values()) committed = Math.max(committed, sn.applied);
    let maxTerm = 0;
    for (const t of this.leaderOfTerm.keys()) maxTerm = Math.max(maxTerm, t);
    return {
      seed: this.opts.seed,
      steps: this.now,
      leadersElected: this.leadersElected,
      maxTerm,
      committed,
      crashes: this.crashes,
      confChanges: this.confChanges,
      confChangesCommitted: this.confCommitted,
      leaderRemovals: this.leaderRemovals,
      snapshotsSent: this.snapshotsSent,
      operations: this.history.length,
      unknownOutcomes: this.unknown,
    };
  }

  private describe(): string {
    const parts: string[] = [];
    for (const sn of this.nodes.values()) {
      if (!sn.node) {
        parts.push(`${sn.id}:down`);
        continue;
      }
      const st = sn.node.status();
      parts.push(`${sn.id}:${st.state}@${st.term} commit=${st.commit} applied=${sn.applied} voters=[${st.config.voters.join(',')}] learners=[${st.config.learners.join(',')}]`);
    }
    return parts.join('; ');
  }

  private healAll(): void {
    this.faults = false;
    this.blocked.clear();
    for (const sn of this.nodes.values()) if (!sn.node) this.start(sn.id);
  }

  /** One step: faults, a tick everywhere, deliveries, ready handling, clients, checks. */
  step(): void {
    if (this.faults) this.injectFaults();
    for (const sn of this.nodes.values()) sn.node?.tick();
    this.deliver();
    for (let pass = 0; pass < 2; pass++) {
      for (const sn of this.nodes.values()) if (sn.node?.hasReady()) this.handleReady(sn);
    }
    this.runClients();
    this.now++;
  }

  // ---- network ----

  private send(m: Message): void {
    if (this.blocked.has(`${m.from}>${m.to}`) || (this.faults && this.rng.float() < this.opts.dropRate)) {
      this.lost(m);
      return;
    }
    if (m.type === 'snapshot') this.snapshotsSent++;
    const copies = this.faults && this.rng.float() < this.opts.duplicateRate ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const delay = this.faults ? 1 + this.rng.int(this.opts.maxDelay + 1) : 1;
      const at = this.now + delay;
      let q = this.inflight.get(at);
      if (!q) this.inflight.set(at, (q = []));
      q.push(m);
    }
  }

  private deliver(): void {
    const q = this.inflight.get(this.now);
    if (!q) return;
    this.inflight.delete(this.now);
    // Same-step messages arrive in a random order.
    for (let i = q.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [q[i], q[j]] = [q[j]!, q[i]!];
    }
    for (const m of q) {
      const target = this.nodes.get(m.to);
      if (!target?.node || this.blocked.has(`${m.from}>${m.to}`)) {
        this.lost(m);
        continue;
      }
      target.node.step(m);
      if (m.type === 'snapshot') this.nodes.get(m.from)?.node?.reportSnapshot(m.to, true);
    }
  }

  /** A snapshot stream that fails is reported to its sender, as a real transport would. */
  private lost(m: Message): void {
    if (m.type === 'snapshot') this.nodes.get(m.from)?.node?.reportSnapshot(m.to, false);
  }

  // ---- faults ----

  private injectFaults(): void {
    const r = this.rng;
    const ids = [...this.nodes.keys()];
    if (r.float() < this.opts.partitionRate) {
      const kind = r.int(4);
      this.blocked.clear();
      const leader = this.currentLeader();
      if (kind === 3 && leader) {
        // isolate the leader: the rest elect another while it may not have noticed yet
        for (const o of ids) if (o !== leader.id) this.blocked.add(`${leader.id}>${o}`).add(`${o}>${leader.id}`);
      }
      if (kind === 0) {
        // symmetric: split into two groups
        const side = new Set(ids.filter(() => r.float() < 0.5));
        for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.blocked.add(`${a}>${b}`);
      } else if (kind === 1) {
        // asymmetric: one node's outbound (or inbound) traffic is lost
        const victim = ids[r.int(ids.length)]!;
        const outbound = r.float() < 0.5;
        for (const o of ids) if (o !== victim) this.blocked.add(outbound ? `${victim}>${o}` : `${o}>${victim}`);
      }
      // kind 2: heal
    }
    if (r.float() < this.opts.crashRate) {
      const up = ids.filter((id) => this.nodes.get(id)!.node);
      const victim = up[r.int(up.length)];
      if (victim !== undefined) this.crash(victim, r.float() < 0.5);
    }
    if (r.float() < this.opts.restartRate) {
      const down = ids.filter((id) => !this.nodes.get(id)!.node);
      const back = down[r.int(down.length)];
      if (back !== undefined) this.start(back);
    }
    if (r.float() < this.opts.membershipRate) this.changeMembership();
  }

  private crash(id: NodeId, midReady: boolean): void {
    const sn = this.nodes.get(id)!;
    const node = sn.node!;
    if (midReady && node.hasReady()) {
      // The leader may send its appends before its own write; then the write is lost
      // entirely, torn after a prefix of the entries (the hard state record comes last, as
      // in FileStorage), or completes without the acknowledgements going out.
      const rd = node.ready();
      for (const m of rd.messages) this.send(m);
      // A host that applies before persisting may have answered clients already.
      if (this.opts.applyBeforePersist && !rd.snapshot) this.applyReady(sn, rd);
      const how = this.rng.int(3);
      if (how === 1 && !rd.snapshot && rd.entries.length > 0) {
        sn.storage.append(rd.entries.slice(0, this.rng.int(rd.entries.length + 1)));
      } else if (how === 2) {
        if (rd.snapshot) sn.storage.applySnapshot(rd.snapshot);
        sn.storage.append(rd.entries);
        if (rd.hardState) sn.storage.setHardState(rd.hardState);
      }
    }
    sn.node = undefined;
    this.crashes++;
    for (const p of [...this.pending.values()]) if (p.node === id) this.finishUnknown(p);
  }

  private currentLeader(): SimNode | undefined {
    let best: SimNode | undefined;
    let bestTerm = -1;
    for (const sn of this.nodes.values()) {
      const st = sn.node?.status();
      if (st?.state === 'leader' && st.term > bestTerm) {
        best = sn;
        bestTerm = st.term;
      }
    }
    return best;
  }

  private changeMembership(): void {
    const leader = this.currentLeader();
    if (!leader?.node) return;
    const st = leader.node.status();
    const { voters, learners } = st.config;
    const r = this.rng;
    const choice = r.int(5);
    try {
      if (choice === 0 && this.sparesUsed < this.opts.spares) {
        const id = this.opts.voters + ++this.sparesUsed;
        this.nodes.set(id, this.newSimNode(id, new MemoryStorage()));
        this.start(id);
        leader.node.proposeConfChange({ type: r.float() < 0.7 ? 'add-learner' : 'add-voter', nodeId: id });
      } else if (choice === 1 && learners.length > 0) {
        leader.node.proposeConfChange({ type: 'add-voter', nodeId: learners[r.int(learners.length)]! });
      } else if (choice === 2 && voters.length > 3) {
        leader.node.proposeConfChange({ type: 'remove-node', nodeId: voters[r.int(voters.length)]! });
      } else if (choice === 3 && voters.length > 2 && voters.includes(leader.id)) {
        // Remove (or demote) the leader itself.
        leader.node.proposeConfChange({ type: r.float() < 0.5 ? 'remove-node' : 'add-learner', nodeId: leader.id });
        this.leaderRemovals++;
      } else if (choice === 4 && voters.length > 1) {
        leader.node.transferLeadership(voters[r.int(voters.length)]!);
        return;
      } else {
        return;
      }
      this.confChanges++;
    } catch (err) {
      if (!isRaftError(err)) throw err;
    }
  }

  // ---- the host's ready loop, with the safety checks ----

  private handleReady(sn: SimNode): void {
    const node = sn.node!;
    const rd = node.ready();
    if (rd.hardState) {
      if (rd.hardState.term < sn.term) this.fail(`node ${sn.id}'s term went back from ${sn.term} to ${rd.hardState.term}`);
      sn.term = rd.hardState.term;
    }
    if (rd.softState?.state === 'leader') this.onLeader(sn, rd.entries, rd.snapshot?.index ?? 0);
    for (const m of rd.messages) this.send(m);
    const early = this.opts.applyBeforePersist && !rd.snapshot;
    if (early) this.applyReady(sn, rd);
    // persist
    if (rd.snapshot) sn.storage.applySnapshot(rd.snapshot);
    this.checkLogMatching(sn, rd.entries);
    sn.storage.append(rd.entries);
    if (rd.hardState) sn.storage.setHardState(rd.hardState);
    for (const m of rd.persistedMessages) this.send(m);
    // apply
    if (!early) this.applyReady(sn, rd);
    node.advance();
    this.serveReads(sn);
    this.maybeSnapshot(sn);
  }

  private applyReady(sn: SimNode, rd: Ready): void {
    if (rd.snapshot) {
      if (rd.snapshot.index > sn.applied) this.restoreStateMachine(sn, rd.snapshot);
      this.checkSnapshot(sn, rd.snapshot);
    }
    for (const e of rd.committedEntries) this.apply(sn, e);
    for (const rs of rd.readStates) sn.readsReady.push({ key: dec.decode(rs.context), index: rs.index });
    this.serveReads(sn);
  }

  /** Election safety and leader completeness, when `sn` becomes leader. */
  private onLeader(sn: SimNode, newEntries: readonly Entry[], snapIndex: number): void {
    const term = sn.term;
    const prev = this.leaderOfTerm.get(term);
    if (prev !== undefined && prev !== sn.id) this.fail(`election safety: nodes ${prev} and ${sn.id} both lead term ${term}`);
    this.leaderOfTerm.set(term, sn.id);
    this.leadersElected++;
    // Every entry applied anywhere must be in the new leader's log (or its snapshot).
    const first = sn.storage.firstIndex();
    const firstNew = newEntries[0]?.index ?? Infinity;
    for (let i = Math.max(first, snapIndex + 1, 1); i <= this.maxAppliedIndex; i++) {
      const want = this.appliedAt.get(i);
      if (want === undefined) continue;
      let termAt: number | undefined;
      if (i >= firstNew) termAt = newEntries[i - firstNew]?.term;
      else if (i <= sn.storage.lastIndex()) termAt = sn.storage.term(i);
      if (termAt === undefined || `${termAt}` !== want.slice(0, want.indexOf(':'))) {
        this.fail(`leader completeness: new leader ${sn.id} of term ${term} lacks committed entry ${i} (${want.slice(0, 40)}), has term ${termAt}`);
      }
    }
  }

  /** Log matching: same index and term ⇒ same entry and same preceding entry term. */
  private checkLogMatching(sn: SimNode, entries: readonly Entry[]): void {
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      let prevTerm: number;
      if (k > 0) prevTerm = entries[k - 1]!.term;
      else {
        try {
          prevTerm = sn.storage.term(e.index - 1);
        } catch {
          prevTerm = -1;
        }
      }
      const id = `${e.index}:${e.term}`;
      const body = `${e.type}|${dec.decode(e.data)}`;
      const seen = this.entryAt.get(id);
      if (seen === undefined) {
        this.entryAt.set(id, { prevTerm, body });
        continue;
      }
      if (seen.body !== body) this.fail(`log matching: node ${sn.id} holds entry ${id} as "${body}" but another log holds "${seen.body}"`);
      if (prevTerm >= 0 && seen.prevTerm >= 0 && prevTerm !== seen.prevTerm) {
        this.fail(`log matching: entry ${id} follows term ${prevTerm} on node ${sn.id} but term ${seen.prevTerm} elsewhere`);
      }
      if (seen.prevTerm < 0) seen.prevTerm = prevTerm;
    }
  }

  private checkSnapshot(sn: SimNode, snap: Snapshot): void {
    const want = this.appliedAt.get(snap.index);
    if (want !== undefined && !want.startsWith(`${snap.term}:`)) {
      this.fail(`state machine safety: node ${sn.id} installed a snapshot at ${snap.index} term ${snap.term}, but ${want.slice(0, 40)} was applied there`);
    }
  }

  /** State machine safety: every node applies the same entry at each index, in order. */
  private apply(sn: SimNode, e: Entry): void {
    if (e.index <= sn.applied) return; // already covered by a snapshot
    if (e.index !== sn.applied + 1) this.fail(`node ${sn.id} applied ${e.index} after ${sn.applied} (gap)`);
    const text = dec.decode(e.data);
    const sig = `${e.term}:${e.type}:${text}`;
    const prev = this.appliedAt.get(e.index);
    if (prev === undefined) {
      this.appliedAt.set(e.index, sig);
      this.maxAppliedIndex = Math.max(this.maxAppliedIndex, e.index);
      if (e.type === 'conf-change') this.confCommitted++;
    } else if (prev !== sig) {
      this.fail(`state machine safety: node ${sn.id} applied "${sig}" at ${e.index}, another node applied "${prev}"`);
    }
    sn.applied = e.index;
    sn.sinceSnapshot++;
    if (e.type === 'conf-change') {
      sn.conf = applyConfChangeToState(sn.conf, decodeConfChange(e.data));
      return;
    }
    if (text.length === 0) return;
    const cmd = JSON.parse(text) as { id: string; key?: string; value?: string; probe?: boolean };
    if (cmd.key !== undefined && cmd.value !== undefined) sn.kv.set(cmd.key, cmd.value);
    if (this.livenessProbe === cmd.id) {
      this.probeApplied.add(sn.id);
      this.probeIndex = e.index;
    }
    const waiter = this.putWaiters.get(cmd.id);
    if (waiter?.node === sn.id && waiter.incarnation === sn.incarnation) {
      this.putWaiters.delete(cmd.id);
      this.finish(waiter, 'ok');
    }
  }

  private maybeSnapshot(sn: SimNode): void {
    if (sn.sinceSnapshot < this.opts.snapshotEvery) return;
    const img: StateMachineImage = { kv: [...sn.kv.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) };
    sn.storage.createSnapshot(sn.applied, sn.conf, enc.encode(JSON.stringify(img)));
    const keep = 5;
    const compactTo = sn.applied - keep;
    if (compactTo >= sn.storage.firstIndex()) sn.storage.compact(compactTo);
    sn.sinceSnapshot = 0;
  }

  // ---- clients ----

  private runClients(): void {
    for (const p of [...this.pending.values()]) {
      if (this.now >= p.deadline) this.finishUnknown(p);
    }
    for (let c = 0; c < this.opts.clients; c++) {
      if (this.pending.has(c) || this.rng.float() < 0.5) continue;
      this.invoke(c);
    }
  }

  private invoke(client: number): void {
    const up = [...this.nodes.values()].filter((sn) => sn.node);
    if (up.length === 0) return;
    // Mostly a node that believes it leads — the newest, or any (a deposed leader that has
    // not noticed yet is where stale reads would come from); sometimes any node (reads are
    // forwarded to the leader, writes are refused).
    const leaders = up.filter((n) => n.node!.status().state === 'leader');
    const newest = this.currentLeader();
    const dice = this.rng.float();
    const sn =
      newest && dice < 0.5 ? newest : leaders.length > 0 && dice < 0.8 ? leaders[this.rng.int(leaders.length)]! : up[this.rng.int(up.length)]!;
    const key = `k${this.rng.int(this.opts.keys)}`;
    const ctx = `c${client}-${++this.seq}`;
    const op: Op = this.rng.float() < 0.5 ? { kind: 'put', key, value: ctx } : { kind: 'get', key };
    const p: PendingOp = { client, op, node: sn.id, incarnation: sn.incarnation, call: ++this.clock, deadline: this.now + this.opts.clientTimeoutSteps, ctx };
    try {
      if (op.kind === 'put') {
        sn.node!.propose(enc.encode(JSON.stringify({ id: ctx, key, value: op.value })));
        this.putWaiters.set(ctx, p);
      } else {
        sn.node!.readIndex(enc.encode(ctx));
      }
      this.pending.set(client, p);
    } catch (err) {
      if (!isRaftError(err, 'proposal-dropped')) throw err;
      // Refused before anything happened: not part of the history.
    }
  }

  private serveReads(sn: SimNode): void {
    if (sn.readsReady.length === 0) return;
    const rest: typeof sn.readsReady = [];
    for (const r of sn.readsReady) {
      if (r.index > sn.applied) {
        rest.push(r);
        continue;
      }
      for (const p of this.pending.values()) {
        if (p.ctx === r.key && p.node === sn.id && p.incarnation === sn.incarnation && p.op.kind === 'get') {
          this.finish(p, sn.kv.get(p.op.key) ?? null);
        }
      }
    }
    sn.readsReady = rest;
  }

  private finish(p: PendingOp, output: string | null): void {
    if (this.pending.get(p.client) !== p) return;
    this.pending.delete(p.client);
    const ret = ++this.clock;
    if (p.op.kind === 'put') this.history.push({ client: p.client, key: p.op.key, input: { kind: 'put', value: p.op.value }, output: null, call: p.call, ret });
    else this.history.push({ client: p.client, key: p.op.key, input: { kind: 'get' }, output, call: p.call, ret });
  }

  private finishUnknown(p: PendingOp): void {
    if (this.pending.get(p.client) !== p) return;
    this.pending.delete(p.client);
    this.putWaiters.delete(p.ctx);
    // A read with an unknown outcome had no effect: leave it out. A write may or may not have happened.
    if (p.op.kind === 'put') {
      this.unknown++;
      this.history.push({ client: p.client, key: p.op.key, input: { kind: 'put', value: p.op.value }, output: null, call: p.call, ret: Infinity });
    }
  }

  // ---- liveness ----

  private readonly probeApplied = new Set<NodeId>();
  /** Index at which the current probe committed (0 until someone applies it). */
  private probeIndex = 0;
  private probeDeadline = 0;

  /**
   * After healing: a leader exists and a fresh proposal commits and reaches every member of
   * its configuration (a member counts once it applied the probe's index, directly or via a
   * snapshot). A probe that does not commit in time (lost with a leader) is proposed again.
   */
  private checkLiveness(): boolean {
    const leader = this.currentLeader();
    if (!leader?.node) return false;
    const st = leader.node.status();
    if (this.livenessProbe !== undefined) {
      if (this.probeIndex > 0) {
        const members = [...st.config.voters, ...st.config.learners];
        return members.every((id) => this.probeApplied.has(id) || (this.nodes.get(id)?.applied ?? 0) >= this.probeIndex);
      }
      if (this.now < this.probeDeadline) return false;
    }
    this.livenessProbe = `probe-${++this.seq}`;
    this.probeApplied.clear();
    this.probeIndex = 0;
    this.probeDeadline = this.now + 4 * this.opts.electionTicks;
    try {
      leader.node.propose(enc.encode(JSON.stringify({ id: this.livenessProbe, probe: true })));
    } catch (err) {
      if (!isRaftError(err, 'proposal-dropped')) throw err;
      this.livenessProbe = undefined;
    }
    return false;
  }
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

/**
 * Draws a whole simulator configuration from `random` (cluster size, timing, fault rates,
 * read mode, pre-vote/check-quorum, flow-control limits, apply order) for run `seed`: the
 * "random mix" sweeps use it so that combinations nobody thought of get exercised.
 */
export function randomSimulationOptions(random: { int(n: number): number }, seed: number): SimulationOptions {
  const pick = <T>(xs: readonly T[]): T => xs[random.int(xs.length)]!;
  const electionTicks = pick([5, 8, 10, 15, 20]);
  const readOnly = pick(['safe', 'lease-based'] as const);
  return {
    seed,
    voters: pick([1, 2, 3, 3, 4, 5]),
    spares: pick([0, 2, 4]),
    electionTicks,
    heartbeatTicks: pick([1, 2].filter((h) => h < electionTicks / 2)),
    dropRate: pick([0, 0.05, 0.15]),
    duplicateRate: pick([0, 0.05, 0.2]),
    maxDelay: pick([0, 1, 3]),
    partitionRate: pick([0, 0.02, 0.05]),
    crashRate: pick([0, 0.01, 0.04]),
    restartRate: pick([0.05, 0.2]),
    membershipRate: pick([0, 0.02, 0.06]),
    snapshotEvery: pick([1, 5, 20]),
    clients: pick([1, 3, 6]),
    keys: pick([1, 2, 4]),
    readOnly,
    preVote: pick([true, false]),
    checkQuorum: readOnly === 'lease-based' ? true : pick([true, false]),
    maxSizePerMsg: pick([1, 512, 100000]),
    maxInflightMsgs: pick([1, 8, 64]),
    applyBeforePersist: pick([true, false]),
  };
}

/** Runs one seeded simulation; throws {@link SimulationFailure} (which prints the seed) on a violation. */
export function runSimulation(options: SimulationOptions): SimulationResult {
  return new Simulation(options).run();
}

/**
 * InstantCluster: RawNodes on MemoryStorage joined by an instant, in-order network, for scripted
 * tests and benchmarks.
 */
import { RawNode } from '../core/raw-node.js';
import type { RaftOptions } from '../core/raft.js';
import { sfc32 } from '@flotilla/sys';
import type { Entry, Message, NodeId, ReadState } from '../core/types.js';
import { MemoryStorage } from '../storage/memory-storage.js';

/** One member of an {@link InstantCluster}. */
export interface ClusterMember {
  node: RawNode;
  storage: MemoryStorage;
  /** Committed entries this member applied, in order (unless `keepApplied: false`). */
  applied: Entry[];
  appliedCount: number;
  readStates: ReadState[];
}

/** Options of an {@link InstantCluster}. */
export interface InstantClusterOptions extends Partial<Omit<RaftOptions, 'id' | 'storage' | 'random'>> {
  /** Seed of the members' election-timeout randomness. @default 1 */
  seed?: number;
  /** Keep every applied entry in `applied` (turn off in benchmarks). @default true */
  keepApplied?: boolean;
}

/**
 * Members connected by an instant, in-order network (etcd's test `network`): messages are
 * delivered as soon as they are produced, unless {@link filter} drops them. For scripted
 * tests and benchmarks; the fault-injecting network is {@link Simulation}.
 */
export class InstantCluster {
  readonly members = new Map<NodeId, ClusterMember>();
  /** Return false to drop a message. */
  filter: ((m: Message) => boolean) | undefined;
  private readonly keepApplied: boolean;
  private readonly opts: InstantClusterOptions;

  constructor(ids: readonly NodeId[], opts: InstantClusterOptions = {}) {
    this.opts = opts;
    this.keepApplied = opts.keepApplied ?? true;
    const conf = { voters: [...ids].sort((a, b) => a - b), learners: [] };
    for (const id of ids) this.addMember(id, MemoryStorage.bootstrap(conf));
  }

  /** Adds (or restarts) a member on the given storage. */
  addMember(id: NodeId, storage: MemoryStorage): ClusterMember {
    const { seed = 1, keepApplied: _k, ...raftOpts } = this.opts;
    const node = new RawNode({ ...raftOpts, id, storage, random: sfc32(seed * 1000 + id) });
    const member: ClusterMember = { node, storage, applied: [], appliedCount: 0, readStates: [] };
    this.members.set(id, member);
    return member;
  }

  member(id: NodeId): ClusterMember {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  /** Delivers one message now (dropped if filtered or the target is unknown). */
  deliver(m: Message): void {
    if (this.filter && !this.filter(m)) return;
    this.members.get(m.to)?.node.step(m);
  }

  /** Runs ready loops and delivers messages until nothing is left to do. */
  stabilize(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      let busy = false;
      for (const member of this.members.values()) {
        if (!member.node.hasReady()) continue;
        busy = true;
        const msgs = this.handleReady(member);
        for (const m of msgs) this.deliver(m);
      }
      if (!busy) return;
    }
    throw new Error(`cluster did not stabilize in ${maxRounds} rounds`);
  }

  /** Persists, applies and advances one member's Ready; returns the messages to send. */
  handleReady(member: ClusterMember): Message[] {
    const rd = member.node.ready();
    if (rd.snapshot) member.storage.applySnapshot(rd.snapshot);
    member.storage.append(rd.entries);
    if (rd.hardState) member.storage.setHardState(rd.hardState);
    if (this.keepApplied) for (const e of rd.committedEntries) member.applied.push(e);
    member.appliedCount += rd.committedEntries.length;
    for (const r of rd.readStates) member.readStates.push(r);
    member.node.advance();
    const out = rd.messages.slice();
    for (const m of rd.persistedMessages) out.push(m);
    return out;
  }

  /** Ticks every member `n` times, stabilizing after each tick. */
  tick(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const member of this.members.values()) member.node.tick();
      this.stabilize();
    }
  }

  /** Makes `id` campaign and stabilizes. */
  campaign(id: NodeId): void {
    this.member(id).node.campaign();
    this.stabilize();
  }

  /** The id of a member that believes it leads in the highest term (0 if none). */
  leader(): NodeId {
    let best = 0;
    let bestTerm = -1;
    for (const [id, m] of this.members) {
      const st = m.node.status();
      if (st.state === 'leader' && st.term > bestTerm) {
        best = id;
        bestTerm = st.term;
      }
    }
    return best;
  }

  /** Drops all traffic to and from `id` (until {@link heal}). */
  isolate(id: NodeId): void {
    this.filter = (m) => m.from !== id && m.to !== id;
  }

  heal(): void {
    this.filter = undefined;
  }
}

/**
 * The KV member: a RaftNode replicating a ServerState (KV store + member registry), with the
 * lessor, automatic compaction and the member registry's addresses, behind the KvBackend seam.
 */
import { EventEmitter } from 'node:events';
import { isRaftError, type RaftErrorCode } from '../errors.js';
import type { NodeId } from '../core/types.js';
import type { NodeStorage } from '../core/storage.js';
import { KvError, type KvErrorCode } from '../kv/errors.js';
import type { KvCommand, KvResult } from '../kv/types.js';
import type { KvStateMachine } from '../kv/state-machine.js';
import { RaftNode, type RaftNodeOptions } from '../node/raft-node.js';
import { serializeYielding } from '../node/snapshot-policy.js';
import { ServerState, type NodeCommand } from './server-state.js';
import { Lessor } from './lessor.js';
import type { AddMemberRequest, KvBackend, MemberInfo, NodeStatus } from './backend.js';

/**
 * Options of {@link RaftKvNode}: the {@link RaftNodeOptions} of its driver (the state machine is
 * the KV store's own), and the KV store's compaction.
 */
export interface RaftKvNodeOptions extends Omit<RaftNodeOptions<NodeCommand, unknown>, 'stateMachine' | 'storage' | 'maxPendingRequests'> {
  /** A FileStorage (durable) or a MemoryStorage (tests), bootstrapped with `ServerState.initial(...)` for a founding member. */
  readonly storage: NodeStorage;
  /** Keep this many revisions of watch history; older ones are compacted by the leader. 0 = never. @default 10000 */
  readonly autoCompactRevisions?: number;
  /**
   * Backpressure: proposals waiting at once on this member beyond which new ones
   * are refused with `too-many-requests` (429, nothing proposed). @default 20000
   */
  readonly maxPendingRequests?: number;
}

/** The KV error for each RaftNode error (same message; `mayHaveEffect` kept). */
const KV_CODE_OF: Partial<Record<RaftErrorCode, KvErrorCode>> = {
  'no-leader': 'no-leader',
  'not-leader': 'not-leader',
  timeout: 'timeout',
  overloaded: 'too-many-requests',
  'too-large': 'too-large',
  stopped: 'stopped',
  refused: 'bad-request',
  failed: 'unavailable',
};

/** Re-throws a RaftNode failure as the KvError the HTTP API answers with. */
function asKvError(err: unknown): never {
  if (isRaftError(err)) {
    const code = KV_CODE_OF[err.code];
    if (code) throw new KvError(code, err.message, { cause: err.cause ?? err, mayHaveEffect: 'mayHaveEffect' in err && err.mayHaveEffect === true });
  }
  throw err;
}

/**
 * A replicated KV member: a {@link RaftNode} (the driver: ready loop, proposals, forwarding,
 * ReadIndex, snapshots) applying to a {@link ServerState}, plus what only a KV store needs —
 * the {@link Lessor} (leader-side lease expiry), automatic compaction of watch history, and
 * publishing this member's client URL into the replicated registry. Emits `leader` (id),
 * `removed` and `fatal` (error).
 */
export class RaftKvNode extends EventEmitter implements KvBackend {
  readonly id: NodeId;
  readonly state = new ServerState();
  readonly #o: RaftKvNodeOptions;
  readonly #node: RaftNode<NodeCommand, KvResult>;
  readonly #lessor = new Lessor();
  #clientUrl = '';
  #compacting = false;
  #stopped = false;
  #timers: NodeJS.Timeout[] = [];

  constructor(options: RaftKvNodeOptions) {
    super();
    if (!Number.isSafeInteger(options.id) || options.id <= 0) throw new TypeError(`id: expected a positive integer, received ${String(options.id)}`);
    this.#o = options;
    this.id = options.id;
    const { autoCompactRevisions: _a, ...nodeOptions } = options;
    this.#node = new RaftNode({ ...nodeOptions, stateMachine: this.state });
    this.state.onApplied = (command, result) => {
      if (this.#node.isLeader()) this.#lessor.applied(command, result);
      if (command.op === 'compact') this.#compacting = false;
    };
    this.#node.on('leader', (leader, role) => {
      // A new leader restarts every lease's clock (as etcd's lessor does on promotion).
      if (role === 'leader') this.#lessor.promoted();
      this.emit('leader', leader);
    });
    this.#node.on('advanced', () => this.#maybeAutoCompact());
    this.#node.on('removed', () => this.emit('removed'));
    this.#node.on('fatal', (err) => this.emit('fatal', err));
  }

  get kv(): KvStateMachine {
    return this.state.kv;
  }

  /** The advertised client URL, published into the member registry once a leader exists. */
  setClientUrl(url: string): void {
    this.#clientUrl = url;
  }

  /** Starts the peer listener, the tick timer, the ready loop, the lessor and publishing this member's client URL. */
  async start(): Promise<void> {
    await this.#node.start();
    const tickMs = this.#o.tickMs ?? 100;
    this.#timers.push(
      setInterval(() => this.#leaseTick(), Math.max(50, Math.min(500, tickMs * 2))),
      setInterval(() => this.#publishSelf(), Math.max(200, tickMs * 5)),
    );
  }

  /** Stops timers and connections; pending requests fail with `stopped`. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await this.#node.stop();
  }

  // ---- KvBackend ----

  isLeader(): boolean {
    return this.#node.isLeader();
  }

  leaderClientUrl(): string | undefined {
    const leader = this.#node.leader;
    if (leader === 0 || leader === this.id) return undefined;
    const url = this.state.members.get(leader)?.clientUrl;
    return url ? url : undefined;
  }

  propose(command: KvCommand): Promise<KvResult> {
    return this.#node.propose(command).catch(asKvError) as Promise<KvResult>;
  }

  readIndex(): Promise<void> {
    return this.#node.readIndex().catch(asKvError);
  }

  status(): NodeStatus {
    const s = this.#node.raftStatus();
    return {
      id: this.id,
      leader: s.leader,
      term: s.term,
      commitIndex: s.commit,
      appliedIndex: this.#node.appliedIndex,
      revision: this.kv.revision,
      members: this.members(),
    };
  }

  members(): MemberInfo[] {
    const conf = this.#node.confState;
    const ids = [...new Set([...conf.voters, ...conf.learners, ...this.state.members.keys()])].sort((a, b) => a - b);
    return ids
      .filter((id) => conf.voters.includes(id) || conf.learners.includes(id))
      .map((id) => {
        const m = this.state.members.get(id);
        return { id, peerUrl: m?.peerUrl ?? '', clientUrl: m?.clientUrl ?? '', learner: conf.learners.includes(id) };
      });
  }

  async addMember(request: AddMemberRequest): Promise<MemberInfo[]> {
    if (this.members().some((m) => m.id === request.id)) {
      throw new KvError('member-exists', `member ${request.id} already exists`);
    }
    await this.#node.proposeConfChange({ type: request.learner ? 'add-learner' : 'add-voter', nodeId: request.id }, request.peerUrl).catch(asKvError);
    return this.members();
  }

  async promoteMember(id: number): Promise<MemberInfo[]> {
    const m = this.members().find((x) => x.id === id);
    if (!m) throw new KvError('member-not-found', `member ${id} not found`);
    if (!m.learner) return this.members();
    const s = this.#node.raftStatus();
    const pr = s.progress.get(id);
    const lag = pr ? s.commit - pr.match : Number.POSITIVE_INFINITY;
    if (lag > 1000) {
      throw new KvError('learner-not-ready', `learner ${id} is ${Number.isFinite(lag) ? `${lag} entries` : 'not yet in contact'} behind the leader; promote it once it has caught up`);
    }
    await this.#node.proposeConfChange({ type: 'add-voter', nodeId: id }).catch(asKvError);
    return this.members();
  }

  async removeMember(id: number): Promise<MemberInfo[]> {
    if (!this.members().some((x) => x.id === id)) throw new KvError('member-not-found', `member ${id} not found`);
    await this.#node.proposeConfChange({ type: 'remove-node', nodeId: id }).catch(asKvError);
    return this.members();
  }

  backup(): Promise<Uint8Array> {
    return serializeYielding(this.state.captureSnapshot());
  }

  /** Peer frames and proposals refused since start (malformed, unauthenticated, or not allowed). */
  get peerRefusals(): number {
    return this.#node.peerRefusals;
  }

  /** This member's advertised peer address. */
  get peerUrl(): string {
    return this.#node.peerUrl;
  }

  // ---- leases, compaction, the registry ----

  #maybeAutoCompact(): void {
    const keep = this.#o.autoCompactRevisions ?? 10_000;
    if (keep <= 0 || !this.#node.isLeader() || this.#compacting) return;
    const kv = this.state.kv;
    const target = kv.revision - keep;
    if (target - kv.compactRevision < Math.max(100, keep / 10)) return;
    this.#compacting = true;
    this.propose({ op: 'compact', revision: target }).then(
      () => (this.#compacting = false),
      () => (this.#compacting = false),
    );
  }

  #leaseTick(): void {
    if (!this.#node.isLeader() || this.#stopped) return;
    this.#lessor.expire(this.state.kv, (command) => this.propose(command));
  }

  #publishSelf(): void {
    if (this.#stopped || !this.#clientUrl || this.#node.leader === 0) return;
    const me = this.state.members.get(this.id);
    if (!me || me.clientUrl === this.#clientUrl) return;
    this.#node.propose({ op: 'member-attrs', id: this.id, clientUrl: this.#clientUrl } satisfies NodeCommand).catch(() => undefined);
  }
}

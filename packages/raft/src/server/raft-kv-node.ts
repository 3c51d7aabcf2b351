/**
 * The KV member: the driver loop over RawNode (persist, send, apply, advance), proposal
 * forwarding and the peer-proposal checks of issue 12. It is over 800 lines because the driver
 * and the request path are still fused here; issue 18 ("split the two god classes") separates
 * them, after issue 12 (which changed this file's peer path) landed.
 */
import { EventEmitter } from 'node:events';
import { RawNode } from '../core/raw-node.js';
import { seededRandom } from '../core/random.js';
import { applyConfChangeToState, decodeConfChange } from '../core/conf-change.js';
import { isRaftError } from '../errors.js';
import type { ConfChange, ConfState, Entry, Message, NodeId, ReadState, Snapshot } from '../core/types.js';
import { TcpTransport } from '../transport/tcp-transport.js';
import type { PeerTlsOptions } from '../transport/tcp-transport.js';
import { KvError, isKvError } from '../kv/errors.js';
import { checkCommand } from '../kv/validate.js';
import type { KvCommand, KvResult } from '../kv/types.js';
import type { KvStateMachine } from '../kv/state-machine.js';
import { ServerState } from './server-state.js';
import type { AddMemberRequest, KvBackend, MemberInfo, NodeStatus } from './backend.js';
import type { NodeStorage } from './node-storage.js';

/** Options of {@link RaftKvNode}. */
export interface RaftKvNodeOptions {
  /** This member's id (> 0). */
  readonly id: NodeId;
  readonly storage: NodeStorage;
  /** Where to accept peer connections, `HOST:PORT`. */
  readonly peerListen: string;
  /** This member's peer address as others reach it. @default peerListen */
  readonly advertisePeerUrl?: string;
  /** Peer addresses known before the replicated registry is (bootstrap, join). */
  readonly initialPeers?: ReadonlyMap<NodeId, string>;
  /** Mutual TLS between members. */
  readonly peerTls?: PeerTlsOptions;
  /**
   * Shared secret of the members (`--peer-token-file`): every peer connection proves it in a
   * challenge–response hello; it is never sent. @default none
   */
  readonly peerSecret?: Uint8Array;
  /** Milliseconds per Raft tick. @default 100 */
  readonly tickMs?: number;
  /** Ticks before an election (randomized up to twice that). @default 10 */
  readonly electionTicks?: number;
  /** Ticks between heartbeats. @default 1 */
  readonly heartbeatTicks?: number;
  /** How long a proposal or read waits before answering `timeout` (unknown outcome for writes). @default 7000 */
  readonly requestTimeoutMs?: number;
  /** Take a state-machine snapshot and compact the log after this many applied entries. @default 50000 */
  readonly snapshotEntries?: number;
  /** Entries kept behind a snapshot for slow followers. @default 10000 */
  readonly snapshotCatchUpEntries?: number;
  /** Keep this many revisions of watch history; older ones are compacted by the leader. 0 = never. @default 10000 */
  readonly autoCompactRevisions?: number;
  /** Seed of the election-timeout randomness. @default derived from id and time */
  readonly seed?: number;
  /**
   * Backpressure: proposals and reads waiting at once on this member beyond which new ones
   * are refused with `too-many-requests` (429, nothing proposed). @default 20000
   */
  readonly maxPendingRequests?: number;
  /** Diagnostics (never secrets). */
  readonly log?: (line: string) => void;
}

interface Waiter {
  resolve(value: unknown): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
}

type NodeCommand = KvCommand | { readonly op: 'member-attrs'; readonly id: NodeId; readonly clientUrl: string };

interface Envelope {
  /** Request id, so the proposing member can match the applied entry. */
  readonly r: string;
  readonly c: NodeCommand;
}

/**
 * Application frames between members on the peer connection (JSON):
 * - `prop`: a follower forwards a client's command `c` to the leader (request id `r`);
 * - `nack`: the leader could not take it (not leading, or it was lost): retry;
 * - `rej`: the leader refused it as invalid (`e`: why) — a definite failure;
 * - `res`: the leader applied it; `v` is the result;
 * - `removed`: the receiver was removed from the cluster.
 */
type ControlFrame =
  | { readonly t: 'prop'; readonly r: string; readonly c: unknown }
  | { readonly t: 'nack'; readonly r: string }
  | { readonly t: 'rej'; readonly r: string; readonly e: string }
  | { readonly t: 'res'; readonly r: string; readonly v: KvResult }
  | { readonly t: 'removed'; readonly r: string };

/** Largest Raft entry (one command with its envelope) a member proposes: 12 MiB. Larger commands are refused with `too-large`. */
export const MAX_ENTRY_BYTES = 12 * 1024 * 1024;
/** Largest control frame (a forwarded command, a result) sent to a peer; a larger result is not sent (the proposer applies it itself). */
const MAX_CONTROL_BYTES = 14 * 1024 * 1024;
const MAX_REQUEST_ID = 128;

/** Thrown for a peer frame that is not well-formed: the transport closes that connection and logs the reason. */
export class PeerFrameError extends Error {
  override readonly name = 'PeerFrameError';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isRequestId(v: unknown): v is string {
  return typeof v === 'string' && v.length <= MAX_REQUEST_ID;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Checks that a value is a {@link KvResult} in shape (the leader's answer to a forwarded proposal). */
export function isKvResultShape(v: unknown): v is KvResult {
  if (!isObject(v)) return false;
  switch (v.type) {
    case 'put':
    case 'delete':
    case 'compact':
      return isCount(v.revision);
    case 'txn':
      return typeof v.succeeded === 'boolean' && isCount(v.revision) && Array.isArray(v.results) && v.results.every(isObject);
    case 'lease':
      return typeof v.id === 'string' && isCount(v.ttlSeconds) && isCount(v.revision);
    case 'error':
      return typeof v.code === 'string' && typeof v.message === 'string';
    default:
      return false;
  }
}

/**
 * Parses and checks a control frame (type, request id, field types); throws
 * {@link PeerFrameError} naming what is wrong. The command inside `prop` is checked later, by
 * the leader, with the HTTP API's validator.
 */
export function decodeControlFrame(payload: Uint8Array): ControlFrame {
  if (payload.length > MAX_CONTROL_BYTES) throw new PeerFrameError(`control frame of ${payload.length} bytes exceeds ${MAX_CONTROL_BYTES}`);
  let f: unknown;
  try {
    f = JSON.parse(dec.decode(payload));
  } catch {
    throw new PeerFrameError('control frame is not JSON');
  }
  if (!isObject(f)) throw new PeerFrameError('control frame is not a JSON object');
  if (!isRequestId(f.r)) throw new PeerFrameError(`control frame has no valid request id (r)`);
  switch (f.t) {
    case 'prop':
      if (!isObject(f.c)) throw new PeerFrameError('prop frame without a command object (c)');
      return { t: 'prop', r: f.r, c: f.c };
    case 'nack':
      return { t: 'nack', r: f.r };
    case 'rej':
      if (typeof f.e !== 'string') throw new PeerFrameError('rej frame without a reason (e)');
      return { t: 'rej', r: f.r, e: f.e.slice(0, 1000) };
    case 'res':
      if (!isKvResultShape(f.v)) throw new PeerFrameError('res frame without a well-formed result (v)');
      return { t: 'res', r: f.r, v: f.v };
    case 'removed':
      return { t: 'removed', r: f.r };
    default:
      throw new PeerFrameError(`unknown control frame type ${JSON.stringify(String(f.t)).slice(0, 40)}`);
  }
}

/**
 * Checks a command proposed on this member or forwarded by a peer, and read back from the
 * log: a {@link KvCommand} (the HTTP API's validator, {@link checkCommand}) or a member's
 * address update. Returns a normalized copy; throws KvError `bad-request`/`too-large`.
 */
export function checkNodeCommand(value: unknown): NodeCommand {
  if (isObject(value) && value.op === 'member-attrs') {
    const { id, clientUrl } = value;
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) throw new KvError('bad-request', 'member-attrs.id must be a positive integer');
    if (typeof clientUrl !== 'string' || clientUrl.length > 2048 || !/^https?:\/\/[^\s]+$/.test(clientUrl)) {
      throw new KvError('bad-request', 'member-attrs.clientUrl must be an http(s) URL');
    }
    return { op: 'member-attrs', id, clientUrl };
  }
  return checkCommand(value);
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * A replicated KV member: drives a {@link RawNode} with real time, a TCP transport and a
 * durable {@link NodeStorage}, and applies committed entries to a {@link ServerState}.
 *
 * The ready loop: send `messages` → persist entries/hard state/snapshot (one fsync for
 * everything that arrived meanwhile: group commit) → send `persistedMessages` → apply →
 * `advance`. While a persist is in flight, ticks, incoming messages and proposals keep
 * running and their immediately sendable messages (heartbeats, appends to followers:
 * pipelining) go out at once, so a slow disk never starves heartbeats. Proposals made in
 * one turn of the event loop go into one append; linearizable reads in one turn share one
 * ReadIndex round. Followers forward proposals to the leader over the peer connection.
 */
export class RaftKvNode extends EventEmitter implements KvBackend {
  readonly id: NodeId;
  readonly state = new ServerState();
  readonly #o: RaftKvNodeOptions;
  readonly #storage: NodeStorage;
  readonly #raw: RawNode;
  readonly #transport: TcpTransport;
  readonly #peerUrl: string;
  #clientUrl = '';
  #appliedConf: ConfState;
  #applied = 0;
  #snapshotIndex = 0;
  #running = false;
  #stopped = false;
  #leader: NodeId = 0;
  #role = 'follower';
  #seq = 0;
  readonly #nonce: string;
  readonly #waiters = new Map<string, Waiter>();
  #proposeBatch: { data: Uint8Array; rid: string }[] = [];
  #forwardBatch: { data: Uint8Array; rid: string; from: NodeId }[] = [];
  #readBatch: Waiter[] = [];
  readonly #reads = new Map<string, { waiters: Waiter[]; index: number }>();
  readonly #leaseDeadlines = new Map<string, number>();
  readonly #leaseExpiring = new Map<string, number>();
  #compacting = false;
  #snapshotting: Promise<void> | undefined;
  readonly #removedPeers = new Map<NodeId, number>();
  /** Log index → the proposal this member appended there as leader (to detect overwritten ones). */
  readonly #byIndex = new Map<number, { rid: string; from: NodeId }>();
  /** Proposals forwarded to this leader: request id → proposing member and when. */
  readonly #forwarded = new Map<string, { from: NodeId; at: number }>();
  #removedNotified = false;
  #timers: NodeJS.Timeout[] = [];
  #fatal: unknown;
  #peerRefusals = 0;

  constructor(options: RaftKvNodeOptions) {
    super();
    if (!Number.isSafeInteger(options.id) || options.id <= 0) throw new TypeError(`id: expected a positive integer, received ${String(options.id)}`);
    this.#o = options;
    this.id = options.id;
    this.#storage = options.storage;
    this.#peerUrl = options.advertisePeerUrl ?? options.peerListen;
    this.#nonce = `${options.id}.${Date.now().toString(36)}.${Math.floor(Math.random() * 1e9).toString(36)}`;
    const snap = this.#storage.snapshot();
    this.state.restore(snap.data);
    this.#appliedConf = snap.confState;
    this.#applied = snap.index;
    this.#snapshotIndex = snap.index;
    this.#raw = new RawNode({
      id: options.id,
      storage: this.#storage,
      random: seededRandom(options.seed ?? (options.id * 7919 + Date.now()) % 2147483647),
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
  }

  get kv(): KvStateMachine {
    return this.state.kv;
  }

  /** The advertised client URL, published into the member registry once a leader exists. */
  setClientUrl(url: string): void {
    this.#clientUrl = url;
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
      setInterval(() => this.#leaseTick(), Math.max(50, Math.min(500, tickMs * 2))),
      setInterval(() => this.#publishSelf(), Math.max(200, tickMs * 5)),
    );
    this.#pump();
  }

  /** Stops timers and connections; pending requests fail with `stopped`. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    for (const [rid, w] of this.#waiters) {
      clearTimeout(w.timer);
      w.reject(new KvError('stopped', 'the member is shutting down', { mayHaveEffect: true }));
      this.#waiters.delete(rid);
    }
    const reads = [...this.#readBatch, ...[...this.#reads.values()].flatMap((r) => r.waiters)];
    this.#readBatch = [];
    this.#reads.clear();
    for (const w of reads) {
      clearTimeout(w.timer);
      w.reject(new KvError('stopped', 'the member is shutting down'));
    }
    await this.#transport.close();
    // Let an in-flight persist finish before closing the storage.
    while (this.#running) await new Promise((r) => setTimeout(r, 5));
    await this.#snapshotting;
    await this.#storage.close();
  }

  // ---- KvBackend ----

  isLeader(): boolean {
    return this.#role === 'leader';
  }

  leaderClientUrl(): string | undefined {
    if (this.#leader === 0 || this.#leader === this.id) return undefined;
    const url = this.state.members.get(this.#leader)?.clientUrl;
    return url ? url : undefined;
  }

  propose(command: KvCommand): Promise<KvResult> {
    return this.#proposeCommand(command) as Promise<KvResult>;
  }

  #proposeCommand(command: NodeCommand): Promise<unknown> {
    if (this.#stopped) return Promise.reject(new KvError('stopped', 'the member is shutting down'));
    if (this.#fatal) return Promise.reject(new KvError('unavailable', `the member failed: ${this.#fatal instanceof Error ? this.#fatal.message : 'fatal error'}`));
    if (this.#waiters.size >= (this.#o.maxPendingRequests ?? 20_000)) {
      return Promise.reject(new KvError('too-many-requests', `${this.#waiters.size} requests are already waiting on this member; retry shortly`));
    }
    let checked: NodeCommand;
    try {
      checked = checkNodeCommand(command);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (this.#appliedConf.learners.includes(this.id) && !(checked.op === 'member-attrs' && checked.id === this.id)) {
      // A learner does not propose (the leader would refuse it): the HTTP API forwards the request.
      return Promise.reject(new KvError('not-leader', 'this member is a learner; writes go to the leader'));
    }
    const rid = `${this.#nonce}.${(this.#seq++).toString(36)}`;
    const data = enc.encode(JSON.stringify({ r: rid, c: checked } satisfies Envelope));
    if (data.length > MAX_ENTRY_BYTES) {
      return Promise.reject(new KvError('too-large', `the command is ${data.length} bytes encoded; at most ${MAX_ENTRY_BYTES}`));
    }
    if (this.#role === 'leader') {
      const p = this.#wait(rid, 'the proposal');
      this.#proposeBatch.push({ data, rid });
      // setImmediate: every request read in this I/O phase joins one append (one write per follower).
      if (this.#proposeBatch.length === 1) setImmediate(() => this.#flushProposals());
      return p;
    }
    if (this.#leader === 0) return Promise.reject(new KvError('no-leader', 'no leader is known right now; retry shortly'));
    const frame: ControlFrame = { t: 'prop', r: rid, c: checked };
    const p = this.#wait(rid, 'the proposal');
    if (!this.#transport.sendControl(this.#leader, enc.encode(JSON.stringify(frame)))) {
      this.#settle(rid, new KvError('no-leader', `the leader (member ${this.#leader}) is not reachable right now; retry shortly`));
    }
    return p;
  }

  #flushProposals(): void {
    const batch = this.#proposeBatch;
    this.#proposeBatch = [];
    if (batch.length === 0) return;
    try {
      this.#raw.proposeBatch(batch.map((b) => b.data));
    } catch (err) {
      // Nothing was appended: a definite failure.
      for (const b of batch) this.#settle(b.rid, this.#dropped(err));
      return;
    }
    this.#recordIndices(batch.map((b) => ({ rid: b.rid, from: this.id })));
    this.#pump();
  }

  #flushForwarded(): void {
    const batch = this.#forwardBatch;
    this.#forwardBatch = [];
    if (batch.length === 0) return;
    try {
      this.#raw.proposeBatch(batch.map((b) => b.data));
    } catch {
      for (const b of batch) this.#transport.sendControl(b.from, enc.encode(JSON.stringify({ t: 'nack', r: b.rid } satisfies ControlFrame)));
      return;
    }
    const now = Date.now();
    for (const b of batch) this.#forwarded.set(b.rid, { from: b.from, at: now });
    this.#recordIndices(batch.map((b) => ({ rid: b.rid, from: b.from })));
    this.#pump();
  }

  /** Remembers the log indices a just-appended batch got (the last `n` entries of the log). */
  #recordIndices(batch: readonly { rid: string; from: NodeId }[]): void {
    const last = this.#raw.status().lastIndex;
    batch.forEach((b, i) => this.#byIndex.set(last - batch.length + 1 + i, b));
  }

  #dropped(err: unknown): KvError {
    if (isRaftError(err, 'proposal-dropped')) return new KvError('no-leader', `${(err as Error).message}; retry shortly`, { cause: err });
    return new KvError('unavailable', err instanceof Error ? err.message : String(err), { cause: err });
  }

  readIndex(): Promise<void> {
    if (this.#stopped) return Promise.reject(new KvError('stopped', 'the member is shutting down'));
    if (this.#leader === 0) return Promise.reject(new KvError('no-leader', 'no leader is known right now; retry shortly'));
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        resolve: () => resolve(),
        reject,
        timer: setTimeout(() => {
          w.resolve = () => undefined;
          reject(new KvError('timeout', 'the linearizable read timed out (no quorum?); retry, or read with serializable=true'));
        }, this.#o.requestTimeoutMs ?? 7000),
      };
      this.#readBatch.push(w);
      if (this.#readBatch.length === 1) setImmediate(() => this.#flushReads());
    });
  }

  #flushReads(): void {
    const waiters = this.#readBatch;
    this.#readBatch = [];
    if (waiters.length === 0) return;
    const ctx = enc.encode(`${this.#nonce}.r${(this.#seq++).toString(36)}`);
    this.#reads.set(dec.decode(ctx), { waiters, index: -1 });
    this.#raw.readIndex(ctx);
    this.#pump();
  }

  status(): NodeStatus {
    const s = this.#raw.status();
    return {
      id: this.id,
      leader: s.leader,
      term: s.term,
      commitIndex: s.commit,
      appliedIndex: this.#applied,
      revision: this.kv.revision,
      members: this.members(),
    };
  }

  members(): MemberInfo[] {
    const conf = this.#appliedConf;
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
    await this.#confChange({ type: request.learner ? 'add-learner' : 'add-voter', nodeId: request.id }, { peerUrl: request.peerUrl });
    return this.members();
  }

  async promoteMember(id: number): Promise<MemberInfo[]> {
    const m = this.members().find((x) => x.id === id);
    if (!m) throw new KvError('member-not-found', `member ${id} not found`);
    if (!m.learner) return this.members();
    const s = this.#raw.status();
    const pr = s.progress.get(id);
    const lag = pr ? s.commit - pr.match : Number.POSITIVE_INFINITY;
    if (lag > 1000) {
      throw new KvError('learner-not-ready', `learner ${id} is ${Number.isFinite(lag) ? `${lag} entries` : 'not yet in contact'} behind the leader; promote it once it has caught up`);
    }
    await this.#confChange({ type: 'add-voter', nodeId: id }, {});
    return this.members();
  }

  async removeMember(id: number): Promise<MemberInfo[]> {
    if (!this.members().some((x) => x.id === id)) throw new KvError('member-not-found', `member ${id} not found`);
    await this.#confChange({ type: 'remove-node', nodeId: id }, {});
    return this.members();
  }

  async #confChange(cc: Omit<ConfChange, 'context'>, ctx: { peerUrl?: string }): Promise<void> {
    if (this.#role !== 'leader') throw new KvError('not-leader', 'membership changes are made by the leader');
    const rid = `${this.#nonce}.${(this.#seq++).toString(36)}`;
    const p = this.#wait(rid, 'the membership change');
    try {
      this.#raw.proposeConfChange({ ...cc, context: enc.encode(JSON.stringify({ r: rid, ...ctx })) });
    } catch (err) {
      const e = isRaftError(err, 'config-change-refused')
        ? new KvError('unavailable', `${(err as Error).message} (nothing was changed; retry shortly)`, { cause: err })
        : this.#dropped(err);
      this.#settle(rid, e);
    }
    this.#pump();
    await p;
  }

  backup(): Promise<Uint8Array> {
    return serializeYielding(this.state.captureSnapshot());
  }

  // ---- internals ----

  #wait(rid: string, what: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.#waiters.delete(rid)) {
          reject(new KvError('timeout', `${what} timed out; it may or may not have been applied`, { mayHaveEffect: true }));
        }
      }, this.#o.requestTimeoutMs ?? 7000);
      this.#waiters.set(rid, { resolve, reject, timer });
    });
  }

  #settle(rid: string, result: unknown): void {
    const w = this.#waiters.get(rid);
    if (!w) return;
    this.#waiters.delete(rid);
    clearTimeout(w.timer);
    if (result instanceof Error) w.reject(result);
    else w.resolve(result);
  }

  #tellRemoved(id: NodeId): void {
    const last = this.#removedPeers.get(id) ?? 0;
    const now = Date.now();
    if (now - last < 500) return;
    this.#removedPeers.set(id, now);
    this.#transport.sendControl(id, enc.encode(JSON.stringify({ t: 'removed', r: '' } satisfies ControlFrame)));
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

  /** Handles a peer's control frame; throws {@link PeerFrameError} for a malformed one (the transport then drops the connection). */
  #onControl(from: NodeId, payload: Buffer): void {
    if (this.#stopped) return;
    const f = decodeControlFrame(payload);
    switch (f.t) {
      case 'removed':
        if (from !== this.id && this.state.members.has(from) && !this.#removedNotified) {
          this.#removedNotified = true;
          this.#o.log?.(`member ${this.id} was removed from the cluster (told by member ${from})`);
          setImmediate(() => this.emit('removed'));
        }
        return;
      case 'res':
        // The leader applied a proposal this member forwarded: answer without waiting for the
        // local apply (the result is the same everywhere; linearizable reads still use ReadIndex).
        if (from === this.#leader) this.#settle(f.r, f.v);
        return;
      case 'nack':
        this.#settle(f.r, new KvError('no-leader', 'the member this one took for the leader is not leading; retry shortly'));
        return;
      case 'rej':
        this.#settle(f.r, new KvError('bad-request', `the leader refused the command: ${f.e}`));
        return;
      case 'prop':
        this.#onForwardedProposal(from, f.r, f.c);
        return;
    }
  }

  /**
   * A follower forwarded a command. Only a voting member may propose (a learner's only
   * proposal is its own address), and the command is checked with the HTTP API's validator
   * before it is appended: a refused one answers `rej` and never reaches the log.
   */
  #onForwardedProposal(from: NodeId, rid: string, command: unknown): void {
    const reply = (frame: ControlFrame) => this.#transport.sendControl(from, enc.encode(JSON.stringify(frame)));
    if (this.#role !== 'leader') {
      reply({ t: 'nack', r: rid });
      return;
    }
    let checked: NodeCommand;
    try {
      checked = checkNodeCommand(command);
    } catch (err) {
      this.#refused(from, `an invalid command (${isKvError(err) ? err.message : 'unreadable'})`);
      reply({ t: 'rej', r: rid, e: isKvError(err) ? err.message : 'invalid command' });
      return;
    }
    const conf = this.#appliedConf;
    const voter = conf.voters.includes(from);
    const ownAttrs = checked.op === 'member-attrs' && checked.id === from;
    if (!(voter || (conf.learners.includes(from) && ownAttrs)) || (checked.op === 'member-attrs' && !ownAttrs)) {
      this.#refused(from, conf.learners.includes(from) ? 'a proposal from a learner' : voter ? "another member's address" : 'a proposal from a non-member');
      reply({ t: 'rej', r: rid, e: `member ${from} may not propose this command` });
      return;
    }
    const data = enc.encode(JSON.stringify({ r: rid, c: checked } satisfies Envelope));
    if (data.length > MAX_ENTRY_BYTES) {
      reply({ t: 'rej', r: rid, e: `the command is ${data.length} bytes encoded; at most ${MAX_ENTRY_BYTES}` });
      return;
    }
    this.#forwardBatch.push({ data, rid, from });
    if (this.#forwardBatch.length === 1) setImmediate(() => this.#flushForwarded());
  }

  #refused(from: NodeId, what: string): void {
    this.#peerRefusals++;
    this.#o.log?.(`member ${this.id}: refused ${what} from member ${from}`);
  }

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
        // Committed entries are durable on a quorum already (the leader counts its own copy
        // only once persisted), so they are applied before this Ready's own write, as etcd's
        // server does: the apply (and the client's answer) does not wait for that fsync.
        if (!rd.snapshot) this.#applyCommitted(rd.committedEntries, rd.readStates);
        if (rd.hardState || rd.entries.length > 0 || rd.snapshot) {
          await this.#storage.persist({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot, mustSync: rd.mustSync });
        }
        this.#transport.send(rd.persistedMessages);
        if (rd.snapshot) {
          this.#applySnapshot(rd.snapshot);
          this.#applyCommitted(rd.committedEntries, rd.readStates);
        }
        this.#raw.advance();
        this.#serveReads();
        this.#maybeSnapshot();
        this.#maybeAutoCompact();
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

  #applyCommitted(entries: readonly Entry[], readStates: readonly ReadState[]): void {
    for (const e of entries) this.#applyEntry(e);
    for (const rs of readStates) this.#onReadState(rs);
    this.#serveReads();
  }

  #onSoftState(leader: NodeId, role: string): void {
    const wasLeader = this.#role === 'leader';
    this.#leader = leader;
    this.#role = role;
    if (role === 'leader' && !wasLeader) {
      // A new leader restarts every lease's clock (as etcd's lessor does on promotion).
      this.#leaseDeadlines.clear();
      this.#leaseExpiring.clear();
    }
    this.#o.log?.(`member ${this.id}: ${role}, leader ${leader || 'unknown'}`);
    this.emit('leader', leader);
  }

  #applySnapshot(snap: Snapshot): void {
    // Proposals at indices a snapshot covers have an unknown fate here: let them time out.
    for (const i of [...this.#byIndex.keys()]) if (i <= snap.index) this.#byIndex.delete(i);
    this.state.restore(snap.data);
    this.#appliedConf = snap.confState;
    this.#applied = snap.index;
    this.#snapshotIndex = snap.index;
    this.#syncPeers();
  }

  #applyEntry(e: Entry): void {
    const rid = this.#applyEntryInner(e);
    const mine = this.#byIndex.get(e.index);
    if (mine) {
      this.#byIndex.delete(e.index);
      // Another entry took the index this member's proposal was appended at (a leader
      // change overwrote it): that proposal can never be applied. A definite failure.
      if (mine.rid !== rid) this.#proposalLost(mine);
    }
  }

  #proposalLost(p: { rid: string; from: NodeId }): void {
    if (p.from === this.id) {
      this.#settle(p.rid, new KvError('no-leader', 'the proposal was lost in a leader change and not applied; retry'));
    } else {
      this.#forwarded.delete(p.rid);
      this.#transport.sendControl(p.from, enc.encode(JSON.stringify({ t: 'nack', r: p.rid } satisfies ControlFrame)));
    }
  }

  /** Applies one entry; returns the request id it carried ('' for none). */
  #applyEntryInner(e: Entry): string {
    this.#applied = e.index;
    if (e.type === 'conf-change') {
      const cc = decodeConfChange(e.data);
      let ctx: { r?: string; peerUrl?: string } = {};
      try {
        ctx = cc.context && cc.context.length > 0 ? (JSON.parse(dec.decode(cc.context)) as typeof ctx) : {};
      } catch {
        ctx = {};
      }
      this.#appliedConf = applyConfChangeToState(this.#appliedConf, cc);
      if (cc.type === 'remove-node') {
        this.state.members.delete(cc.nodeId);
        if (cc.nodeId !== this.id) {
          // Keep the connection a while to tell the removed member (it cannot learn it from
          // the log: the leader stops replicating to it when the change is appended).
          this.#removedPeers.set(cc.nodeId, 0);
          this.#tellRemoved(cc.nodeId);
          const t = setTimeout(() => {
            this.#removedPeers.delete(cc.nodeId);
            if (!this.state.members.has(cc.nodeId)) this.#transport.removePeer(cc.nodeId);
          }, 60_000);
          t.unref();
        }
      } else if (ctx.peerUrl) {
        const prev = this.state.members.get(cc.nodeId);
        this.state.members.set(cc.nodeId, { peerUrl: ctx.peerUrl, clientUrl: prev?.clientUrl ?? '' });
      }
      this.#syncPeers();
      if (ctx.r) this.#settle(ctx.r, true);
      if (cc.type === 'remove-node' && cc.nodeId === this.id && !this.#removedNotified) {
        this.#removedNotified = true;
        this.#o.log?.(`member ${this.id} was removed from the cluster`);
        setImmediate(() => this.emit('removed'));
      }
      return ctx.r ?? '';
    }
    if (e.data.length === 0) return ''; // a new leader's empty entry
    // Nothing read from the log is trusted: an entry that cannot apply (unreadable, or a
    // command the validator refuses) is applied as a no-op with an `invalid` result, the same
    // on every member, so a poisoned entry can never stop a member, on replay included.
    let raw: unknown;
    try {
      raw = JSON.parse(dec.decode(e.data));
    } catch {
      raw = undefined;
    }
    const r = isObject(raw) && isRequestId(raw.r) ? raw.r : '';
    let c: NodeCommand;
    try {
      c = checkNodeCommand(isObject(raw) ? raw.c : undefined);
    } catch (err) {
      const invalid: KvResult = { type: 'error', code: 'invalid', message: `entry ${e.index} cannot be applied: ${isKvError(err) ? err.message : 'unreadable'}` };
      this.#o.log?.(`member ${this.id}: ${invalid.message} (applied as a no-op)`);
      this.#settle(r, invalid);
      return r;
    }
    const env: Envelope = { r, c };
    if (c.op === 'member-attrs') {
      const prev = this.state.members.get(c.id);
      if (prev) this.state.members.set(c.id, { peerUrl: prev.peerUrl, clientUrl: c.clientUrl });
      this.#settle(env.r, true);
      return env.r;
    }
    const result = this.state.kv.apply(c);
    if (this.#role === 'leader' && result.type === 'lease') {
      if (c.op === 'lease-grant' || c.op === 'lease-keepalive') {
        this.#leaseDeadlines.set(result.id, Date.now() + result.ttlSeconds * 1000);
        this.#leaseExpiring.delete(result.id);
      } else {
        this.#leaseDeadlines.delete(result.id);
        this.#leaseExpiring.delete(result.id);
      }
    }
    if (c.op === 'compact') this.#compacting = false;
    this.#settle(env.r, result);
    const fwd = this.#forwarded.get(env.r);
    if (fwd) {
      this.#forwarded.delete(env.r);
      const res = enc.encode(JSON.stringify({ t: 'res', r: env.r, v: result } satisfies ControlFrame));
      // A result too large for one control frame (a transaction reading many large values) is
      // not sent: the proposer answers from its own apply of the same entry.
      if (res.length <= MAX_CONTROL_BYTES) this.#transport.sendControl(fwd.from, res);
    }
    return env.r;
  }

  #onReadState(rs: ReadState): void {
    const key = dec.decode(rs.context);
    const r = this.#reads.get(key);
    if (r) r.index = rs.index;
  }

  #serveReads(): void {
    for (const [key, r] of this.#reads) {
      if (r.index >= 0 && r.index <= this.#applied) {
        this.#reads.delete(key);
        for (const w of r.waiters) {
          clearTimeout(w.timer);
          w.resolve(undefined);
        }
      }
    }
    // Reads whose waiters all timed out are forgotten after a while.
    if (this.#reads.size > 10_000) this.#reads.clear();
  }

  /**
   * Every `snapshotEntries` applied entries: capture the state synchronously (pointer
   * copies, so it is exactly the state at `applied`), then serialize it chunk by chunk,
   * write it and compact the log in the background, yielding to the event loop between
   * chunks: the ready loop, heartbeats and clients are served meanwhile (an O(state)
   * serialization in one step stalled every member at the same index). One at a time.
   */
  #maybeSnapshot(): void {
    const every = this.#o.snapshotEntries ?? 50_000;
    if (this.#snapshotting || this.#applied - this.#snapshotIndex < every) return;
    const index = this.#applied;
    const conf = this.#appliedConf;
    const capture = this.state.captureSnapshot();
    this.#snapshotting = (async () => {
      try {
        const data = await serializeYielding(capture);
        await this.#storage.createSnapshot(index, conf, data);
        this.#snapshotIndex = Math.max(this.#snapshotIndex, index);
        const keep = this.#o.snapshotCatchUpEntries ?? 10_000;
        const compactTo = index - keep;
        if (compactTo > this.#storage.firstIndex()) await this.#storage.compact(compactTo);
      } catch (err) {
        // A leader's snapshot installed meanwhile supersedes this one; anything else is logged.
        if (!isRaftError(err, 'snapshot-out-of-date') && !isRaftError(err, 'compacted')) {
          this.#o.log?.(`snapshot at ${index} failed: ${err instanceof Error ? err.message : String(err)}`);
        }
        this.#snapshotIndex = Math.max(this.#snapshotIndex, index);
      } finally {
        this.#snapshotting = undefined;
      }
    })();
  }

  #maybeAutoCompact(): void {
    const keep = this.#o.autoCompactRevisions ?? 10_000;
    if (keep <= 0 || this.#role !== 'leader' || this.#compacting) return;
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
    const now = Date.now();
    if (this.#forwarded.size > 0) {
      for (const [rid, f] of this.#forwarded) if (now - f.at > 60_000) this.#forwarded.delete(rid);
    }
    if (this.#role !== 'leader' || this.#stopped) return;
    for (const l of this.state.kv.leases()) {
      const deadline = this.#leaseDeadlines.get(l.id);
      if (deadline === undefined) {
        this.#leaseDeadlines.set(l.id, now + l.ttlSeconds * 1000);
        continue;
      }
      if (deadline > now) continue;
      const tried = this.#leaseExpiring.get(l.id);
      if (tried !== undefined && now - tried < 3000) continue;
      this.#leaseExpiring.set(l.id, now);
      this.propose({ op: 'lease-expire', id: l.id }).catch(() => undefined);
    }
  }

  #publishSelf(): void {
    if (this.#stopped || !this.#clientUrl || this.#leader === 0) return;
    const me = this.state.members.get(this.id);
    if (!me || me.clientUrl === this.#clientUrl) return;
    this.#proposeCommand({ op: 'member-attrs', id: this.id, clientUrl: this.#clientUrl }).catch(() => undefined);
  }

  /** May `id` connect to this member's peer port? A current member (or, while this member has no membership yet — it is joining — one it was told of). */
  #isMember(id: NodeId): boolean {
    const c = this.#appliedConf;
    if (c.voters.includes(id) || c.learners.includes(id) || this.state.members.has(id)) return true;
    // A just-removed member may connect for a while, to be told it was removed.
    if (this.#removedPeers.has(id)) return true;
    return c.voters.length === 0 && (this.#o.initialPeers?.has(id) ?? false);
  }

  #syncPeers(): void {
    for (const [id, m] of this.state.members) if (id !== this.id && m.peerUrl) this.#transport.addPeer(id, m.peerUrl);
  }

  /** Peer frames and proposals refused since start (malformed, unauthenticated, or not allowed). */
  get peerRefusals(): number {
    return this.#peerRefusals + this.#transport.refusedConnections;
  }

  /** This member's advertised peer address. */
  get peerUrl(): string {
    return this.#peerUrl;
  }
}

/** Concatenates a snapshot's chunks, letting pending I/O and timers run between chunks. */
async function serializeYielding(chunks: Iterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for (const c of chunks) {
    parts.push(c);
    n += c.length;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return Buffer.concat(parts, n);
}

/**
 * A replicated string map on RaftNode — bring your own state machine, get a Raft cluster (the
 * idea of etcd's raftexample): each member keeps its log in a FileStorage and talks TCP.
 *
 *   npm run example -w @flotilla/raft
 *   # = node --conditions=@flotilla/source --import tsx examples/replicated-map.ts
 *
 * Run as a script, it founds a 3-member cluster in this process (one data directory and one
 * peer port per member), writes through every member, reads linearizably everywhere, stops a
 * member, writes on, restarts it from its data directory and watches it catch up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileStorage, RaftNode, isRaftError, type ConfChange, type NodeId, type ProposerRole, type StateMachine } from '@flotilla/raft';
import { freePort } from '@flotilla/raft/testing';

/** What the map replicates. */
export type MapCommand = { readonly op: 'set'; readonly key: string; readonly value: string } | { readonly op: 'delete'; readonly key: string };

/** The outcome of a command: the value the key had before (null: none), or why it could not apply. */
export type MapResult = { readonly ok: true; readonly previous: string | null } | { readonly ok: false; readonly error: string };

const enc = new TextEncoder();
const dec = new TextDecoder();

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The state machine: the map, and the member registry a RaftNode asks of every state machine
 * (peer addresses are replicated state: a member that catches up from a snapshot learns them
 * from it). Deterministic: every member applies the same commands in the same order.
 */
export class ReplicatedMap implements StateMachine<MapCommand, MapResult> {
  readonly entries = new Map<string, string>();
  readonly members = new Map<NodeId, { peerUrl: string }>();

  check(value: unknown): MapCommand {
    if (!isRecord(value) || typeof value.key !== 'string' || value.key.length === 0 || value.key.length > 256) {
      throw new TypeError('a command needs a key: a string of 1 to 256 characters');
    }
    if (value.op === 'delete') return { op: 'delete', key: value.key };
    if (value.op === 'set' && typeof value.value === 'string') return { op: 'set', key: value.key, value: value.value };
    throw new TypeError(`expected {op: "set", key, value} or {op: "delete", key}, received op ${JSON.stringify(value.op)}`);
  }

  apply(command: MapCommand): MapResult {
    const previous = this.entries.get(command.key) ?? null;
    if (command.op === 'set') this.entries.set(command.key, command.value);
    else this.entries.delete(command.key);
    return { ok: true, previous };
  }

  invalidEntry(reason: string): MapResult {
    return { ok: false, error: reason };
  }

  isResult(value: unknown): value is MapResult {
    if (!isRecord(value)) return false;
    return value.ok === true ? value.previous === null || typeof value.previous === 'string' : value.ok === false && typeof value.error === 'string';
  }

  captureSnapshot(): Uint8Array[] {
    return [enc.encode(JSON.stringify({ entries: [...this.entries], members: [...this.members] }))];
  }

  restore(data: Uint8Array): void {
    this.entries.clear();
    this.members.clear();
    if (data.length === 0) return;
    const s = JSON.parse(dec.decode(data)) as { entries: [string, string][]; members: [NodeId, { peerUrl: string }][] };
    for (const [k, v] of s.entries) this.entries.set(k, v);
    for (const [id, m] of s.members) this.members.set(id, m);
  }

  applyConfChange(change: ConfChange, peerUrl: string | undefined): void {
    if (change.type === 'remove-node') this.members.delete(change.nodeId);
    else if (peerUrl) this.members.set(change.nodeId, { peerUrl });
  }

  mayPropose(_command: MapCommand, _from: NodeId, role: ProposerRole): string | undefined {
    return role === 'voter' ? undefined : `a proposal from a ${role === 'learner' ? 'learner' : 'non-member'}`;
  }
}

/** A running member: its node and its copy of the map. */
export interface MapMember {
  readonly node: RaftNode<MapCommand, MapResult>;
  readonly map: ReplicatedMap;
  /** Proposes a command (on any member: a follower forwards it to the leader); resolves once applied. */
  set(key: string, value: string): Promise<MapResult | undefined>;
  /** A linearizable read: waits until this member has applied everything committed before the call. */
  get(key: string): Promise<string | undefined>;
  stop(): Promise<void>;
}

/**
 * Starts member `id` of a cluster whose peer addresses are `peers` (this one's included), with
 * its data in `dir`: a new directory founds the cluster (the same `peers` on every founder),
 * an existing one resumes the member.
 */
export async function startMapMember(options: { id: NodeId; dir: string; peers: ReadonlyMap<NodeId, string>; tickMs?: number }): Promise<MapMember> {
  const storage = await FileStorage.open(options.dir);
  if (storage.isNew) {
    const initial = new ReplicatedMap();
    for (const [id, peerUrl] of options.peers) initial.members.set(id, { peerUrl });
    await storage.bootstrap({ voters: [...options.peers.keys()].sort((a, b) => a - b), learners: [] }, Buffer.concat(initial.captureSnapshot()));
  }
  const map = new ReplicatedMap();
  const node = new RaftNode<MapCommand, MapResult>({
    id: options.id,
    storage,
    stateMachine: map,
    peerListen: options.peers.get(options.id) ?? '127.0.0.1:0',
    tickMs: options.tickMs ?? 50,
    seed: options.id,
  });
  await node.start();
  return {
    node,
    map,
    set: (key, value) => retryWithoutLeader(() => node.propose({ op: 'set', key, value })),
    get: async (key) => {
      await retryWithoutLeader(() => node.readIndex());
      return map.entries.get(key);
    },
    stop: () => node.stop(),
  };
}

/**
 * Retries a request that failed with `no-leader` (nothing was applied: right after an election,
 * or while a follower has not yet heard from the new leader) for up to 10 s.
 */
async function retryWithoutLeader<T>(f: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await f();
    } catch (err) {
      if (!isRaftError(err, 'no-leader') || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function until(what: string, f: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The demo: prints what happens, one line per step, through `print`. */
export async function runDemo(print: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<void> {
  const root = mkdtempSync(path.join(tmpdir(), 'flo-raft-example-'));
  const ids = [1, 2, 3];
  const peers = new Map<NodeId, string>();
  for (const id of ids) peers.set(id, `127.0.0.1:${await freePort()}`);
  const members = new Map<NodeId, MapMember>();
  const start = async (id: NodeId) => members.set(id, await startMapMember({ id, dir: path.join(root, `member-${id}`), peers }));
  try {
    for (const id of ids) await start(id);
    await until('a leader', () => [...members.values()].some((m) => m.node.isLeader()));
    const leader = [...members.values()].find((m) => m.node.isLeader())!.node.id;
    print(`member ${leader} leads`);

    for (const id of ids) {
      const r = await members.get(id)!.set(`greeting-${id}`, `hello from member ${id}`);
      print(`set greeting-${id} through member ${id}: ${JSON.stringify(r)}`);
    }
    for (const id of ids) print(`member ${id} reads greeting-1: ${await members.get(id)!.get('greeting-1')}`);

    const follower = ids.find((id) => id !== leader)!;
    await members.get(follower)!.stop();
    members.delete(follower);
    print(`stopped member ${follower}`);
    const other = ids.find((id) => id !== follower)!;
    await members.get(other)!.set('while-away', 'written without member ' + String(follower));
    print(`set while-away with member ${follower} down (a quorum of 2 remains)`);

    await start(follower);
    const back = members.get(follower)!;
    print(`restarted member ${follower} from its data directory; it reads while-away: ${await back.get('while-away')}`);
    print(`member ${follower} holds ${back.map.entries.size} keys`);
  } finally {
    for (const m of members.values()) await m.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runDemo().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}

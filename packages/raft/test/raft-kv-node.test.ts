import { afterEach, describe, expect, it } from 'vitest';
import { RaftKvNode } from '../src/server/raft-kv-node.js';
import { MemoryStorage } from '../src/storage/memory-storage.js';
import { ServerState } from '../src/server/server-state.js';
import { isKvError } from '../src/kv/errors.js';
import { TcpTransport } from '../src/transport/tcp-transport.js';
import { freePort, withFreePorts } from '../src/testing/net.js';

const nodes: RaftKvNode[] = [];
const cleanupTransports: TcpTransport[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop();
  for (const t of cleanupTransports.splice(0)) await t.close();
});

/** A storage whose writes take `disk.delayMs` (a disk that can turn slow). */
function slowStorage(inner: MemoryStorage, disk: { delayMs: number }): MemoryStorage {
  return new Proxy(inner, {
    get: (target, prop, receiver) => {
      if (prop === 'save') {
        return async (r: Parameters<MemoryStorage['save']>[0]) => {
          if (disk.delayMs > 0 && (r.entries.length > 0 || r.hardState)) await new Promise((res) => setTimeout(res, disk.delayMs));
          target.save(r);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** Members 1…n founding one cluster (started again on new peer ports when one was taken meanwhile: EADDRINUSE). */
function cluster(n: number, options: { disks?: Map<number, { delayMs: number }>; maxPendingRequests?: number } = {}): Promise<RaftKvNode[]> {
  return withFreePorts(n, (ports) => clusterOn(ports, options));
}

async function clusterOn(ports: number[], options: { disks?: Map<number, { delayMs: number }>; maxPendingRequests?: number }): Promise<RaftKvNode[]> {
  const members = new Map(ports.map((p, i) => [i + 1, { peerUrl: `127.0.0.1:${p}`, clientUrl: '' }]));
  const data = ServerState.initial(members);
  const conf = { voters: [...members.keys()], learners: [] };
  const list = [...members].map(([id, m]) => {
    const base = MemoryStorage.bootstrap(conf, data);
    const disk = options.disks?.get(id);
    const storage = disk ? slowStorage(base, disk) : base;
    const node = new RaftKvNode({
      id,
      storage,
      peerListen: m.peerUrl,
      tickMs: 20,
      seed: id,
      requestTimeoutMs: 5000,
      ...(options.maxPendingRequests !== undefined ? { maxPendingRequests: options.maxPendingRequests } : {}),
    });
    return node;
  });
  const started = await Promise.allSettled(list.map((x) => x.start()));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    for (const x of list) await x.stop();
    throw failed.reason;
  }
  nodes.push(...list);
  return list;
}

async function until<T>(f: () => T | undefined | false, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('RaftKvNode (3 members over TCP, memory storage)', () => {
  it('elects a leader, replicates writes proposed on any member, and serves linearizable reads everywhere', async () => {
    const c = await cluster(3);
    const leader = await until(() => c.find((x) => x.isLeader()), 'a leader');
    const follower = c.find((x) => x !== leader)!;
    const r1 = await leader.propose({ op: 'put', key: 'a', value: '1' });
    expect(r1).toEqual({ type: 'put', revision: 2 });
    const r2 = await follower.propose({ op: 'put', key: 'b', value: '2' });
    expect(r2).toEqual({ type: 'put', revision: 3 });
    // Many proposals in one turn go through one batch.
    const many = await Promise.all(Array.from({ length: 50 }, (_, i) => c[i % 3]!.propose({ op: 'put', key: `k${i}`, value: String(i) })));
    expect(new Set(many.map((r) => (r as { revision: number }).revision)).size).toBe(50);
    for (const x of c) {
      await x.readIndex();
      expect(x.kv.get('b')?.value).toBe('2');
      expect(x.kv.revision).toBe(53);
    }
    expect(leader.status()).toMatchObject({ leader: leader.id, revision: 53 });
  });

  it('survives losing the leader: a new one is elected and acknowledged writes are kept', async () => {
    const c = await cluster(3);
    const leader = await until(() => c.find((x) => x.isLeader()), 'a leader');
    for (let i = 0; i < 10; i++) await leader.propose({ op: 'put', key: `k${i}`, value: String(i) });
    await leader.stop();
    const rest = c.filter((x) => x !== leader);
    const next = await until(() => rest.find((x) => x.isLeader()), 'a new leader');
    const r = await next.propose({ op: 'put', key: 'after', value: 'x' });
    expect(r.type).toBe('put');
    for (const x of rest) {
      await x.readIndex();
      for (let i = 0; i < 10; i++) expect(x.kv.get(`k${i}`)?.value).toBe(String(i));
    }
  });

  it('expires leases on the leader clock and deletes their keys everywhere', async () => {
    const c = await cluster(3);
    const leader = await until(() => c.find((x) => x.isLeader()), 'a leader');
    const l = await leader.propose({ op: 'lease-grant', ttlSeconds: 1 });
    if (l.type !== 'lease') throw new Error('no lease');
    await leader.propose({ op: 'put', key: 'ephemeral', value: 'x', lease: l.id });
    await until(() => c.every((x) => x.kv.get('ephemeral') === undefined), 'the lease to expire');
    expect(leader.kv.leases()).toEqual([]);
  });

  it("a slow disk never starves the leader's heartbeats: its writes taking longer than the election timeout cause no election", async () => {
    // Ticks of 20 ms, elections after 200–400 ms; every write to the leader's disk takes 450 ms.
    const disks = new Map([1, 2, 3].map((id) => [id, { delayMs: 0 }]));
    const c = await cluster(3, { disks });
    const leader = await until(() => c.find((x) => x.isLeader()), 'a leader');
    await leader.propose({ op: 'put', key: 'warm', value: 'x' });
    disks.get(leader.id)!.delayMs = 450;
    const term = leader.status().term;
    const writes = Array.from({ length: 6 }, (_, i) => leader.propose({ op: 'put', key: `slow${i}`, value: 'x' }));
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 150));
      writes.push(c[i % 3]!.propose({ op: 'put', key: `slow-b${i}`, value: 'y' }));
    }
    const results = await Promise.all(writes);
    expect(results.every((r) => r.type === 'put')).toBe(true);
    expect(c.map((x) => x.status().term)).toEqual([term, term, term]);
    expect(leader.isLeader()).toBe(true);
  });

  it("slow follower disks never make the leader look unreachable: heartbeat responses do not wait for the followers' fsync", async () => {
    // Every write to both followers' disks takes 450 ms (> the 200–400 ms election timeout, the
    // leader's check-quorum period) while writes keep coming: the leader must keep hearing them.
    const disks = new Map([1, 2, 3].map((id) => [id, { delayMs: 0 }]));
    const c = await cluster(3, { disks });
    const leader = await until(() => c.find((x) => x.isLeader()), 'a leader');
    await leader.propose({ op: 'put', key: 'warm', value: 'x' });
    for (const x of c) if (x !== leader) disks.get(x.id)!.delayMs = 450;
    const term = leader.status().term;
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 8; i++) {
      writes.push(leader.propose({ op: 'put', key: `fslow${i}`, value: 'x' }).then((r) => r.type, (e: unknown) => e));
      await new Promise((r) => setTimeout(r, 150));
      expect(leader.isLeader()).toBe(true);
    }
    expect(await Promise.all(writes)).toEqual(Array.from({ length: 8 }, () => 'put'));
    expect(c.map((x) => x.status().term)).toEqual([term, term, term]);
    expect(leader.isLeader()).toBe(true);
  });

  it('refuses requests beyond maxPendingRequests with too-many-requests (nothing proposed)', async () => {
    const disks = new Map([1, 2, 3].map((id) => [id, { delayMs: 0 }]));
    const c = await cluster(3, { disks, maxPendingRequests: 5 });
    const leader = await until(() => c.find((x) => x.isLeader()), 'a leader');
    disks.get(leader.id)!.delayMs = 300;
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => leader.propose({ op: 'put', key: `bp${i}`, value: 'x' })));
    const refused = outcomes.filter((o) => o.status === 'rejected' && isKvError(o.reason) && o.reason.code === 'too-many-requests');
    expect(refused).toHaveLength(3);
    await leader.readIndex();
    expect(leader.kv.range({ prefix: 'bp' }).items).toHaveLength(5);
  });

  it('answers no-leader without proposing when no leader is known', async () => {
    const port = await freePort();
    const members = new Map([[1, { peerUrl: `127.0.0.1:${port}`, clientUrl: '' }], [2, { peerUrl: '127.0.0.1:1', clientUrl: '' }], [3, { peerUrl: '127.0.0.1:2', clientUrl: '' }]]);
    const node = new RaftKvNode({ id: 1, storage: MemoryStorage.bootstrap({ voters: [1, 2, 3], learners: [] }, ServerState.initial(members)), peerListen: `127.0.0.1:${port}`, tickMs: 20 });
    nodes.push(node);
    await node.start();
    const err = await node.propose({ op: 'put', key: 'a', value: 'b' }).catch((e: unknown) => e);
    expect(isKvError(err) && err.code).toBe('no-leader');
    const rerr = await node.readIndex().catch((e: unknown) => e);
    expect(isKvError(rerr) && rerr.code).toBe('no-leader');
  });
});

describe('RaftKvNode: what a peer may propose (issue 12 §1)', () => {
  it('the leader proposes only voters\' valid commands: a learner\'s write and an invalid command are refused with rej and never reach the log', async () => {
    const c = await cluster(3);
    const leader = await until(() => c.find((x) => x.isLeader()), 'a leader');
    const follower = c.find((x) => x !== leader)!;
    // A real peer speaking the protocol as member 4, added as a learner.
    const port = await freePort();
    const frames: { t: string; r: string; e?: string }[] = [];
    const fake = new TcpTransport({
      id: 4,
      listen: `127.0.0.1:${port}`,
      peers: new Map([[leader.id, leader.peerUrl]]),
      onMessage: () => undefined,
      onControl: (_from, payload) => void frames.push(JSON.parse(payload.toString()) as { t: string; r: string; e?: string }),
      reconnectMinMs: 10,
    });
    await fake.start();
    cleanupTransports.push(fake);
    // A leader refuses a configuration change until it has committed an entry of its term.
    await leader.propose({ op: 'put', key: 'warm-up', value: '1' });
    await leader.addMember({ id: 4, peerUrl: `127.0.0.1:${port}`, learner: true });
    // The leader answers over its own connection to member 4, which may not be up yet (an
    // answer to an unconnected peer is dropped, as a member's forwarder retries): resend the
    // same request until it is answered, as a real member does.
    const sendUntil = async (frame: unknown, done: () => boolean, what: string) => {
      const bytes = new TextEncoder().encode(JSON.stringify(frame));
      let lastSent = 0;
      await until(() => {
        if (done()) return true;
        if (Date.now() - lastSent > 250 && fake.sendControl(leader.id, bytes)) lastSent = Date.now();
        return false;
      }, what);
    };
    await sendUntil({ t: 'prop', r: 'learner-1', c: { op: 'put', key: 'from-learner', value: 'x' } }, () => frames.some((f) => f.r === 'learner-1'), 'an answer to the learner');
    expect(frames.find((f) => f.r === 'learner-1')).toMatchObject({ t: 'rej', e: 'member 4 may not propose this command' });
    // Its own client URL it may publish.
    await sendUntil({ t: 'prop', r: 'learner-2', c: { op: 'member-attrs', id: 4, clientUrl: 'http://127.0.0.1:1' } }, () => leader.state.members.get(4)?.clientUrl === 'http://127.0.0.1:1', 'member 4 to publish its address');
    // A voter's invalid command (the poison transaction's cousins), sent raw as that voter
    // would: refused before the log (a real member checks it before forwarding, too).
    const refusalsBefore = leader.peerRefusals;
    const voter = new TcpTransport({ id: follower.id, listen: '127.0.0.1:0', peers: new Map([[leader.id, leader.peerUrl]]), onMessage: () => undefined, reconnectMinMs: 10 });
    await voter.start();
    cleanupTransports.push(voter);
    const before = leader.status().commitIndex;
    for (const [r, cmd] of [['v-1', { op: 'txn', compare: 'x' }], ['v-2', { op: 'put', key: 5, value: 'x' }], ['v-3', { op: 'drop-everything' }]] as const) {
      const bytes = new TextEncoder().encode(JSON.stringify({ t: 'prop', r, c: cmd }));
      await until(() => voter.sendControl(leader.id, bytes), 'the voter connection');
    }
    await until(() => leader.peerRefusals >= refusalsBefore + 3, 'the invalid commands to be refused');
    expect(leader.status().commitIndex - before).toBeLessThan(3);
    const local = await follower.propose({ op: 'txn', compare: 'x' } as never).catch((e: unknown) => e);
    expect(isKvError(local) && local.code === 'bad-request').toBe(true);
    for (const x of c) {
      await x.readIndex();
      expect(x.kv.get('from-learner')).toBeUndefined();
    }
  });
});

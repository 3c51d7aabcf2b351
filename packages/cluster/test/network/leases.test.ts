// Subnet and virtual IP leases with allocators racing on one store: two controllers (two
// store clients on etcd and the Raft KV; one shared client on the memory and file stores),
// host deletions and re-creations, heartbeats writing host status meanwhile, and collectors
// — seeded, each seed a reproducible interleaving. Checked all the time by a watcher: no
// two hosts ever name one subnet; at the end: each host holds exactly the lease its status
// names, a deleted host's lease is gone, and a restarted allocator changes nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '@flotilla/reconcile';
import { freePort } from '@flotilla/raft/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLUSTER_IP_LEASE_PREFIX,
  ClusterStore,
  MemoryKvStore,
  SUBNET_LEASE_PREFIX,
  assignClusterIp,
  assignHostSubnet,
  collectLeases,
  isConflictError,
  listLeases,
  openEtcdStore,
  openFileStore,
  openRaftStore,
  type Host,
  type KvStore,
  type NetworkSpec,
  type Service,
} from '../../src/index.js';
import { etcdUnavailable, startEtcd, type EtcdServer } from '../etcd-server.js';
import { startRaftKvCluster, type RaftKvCluster } from '../raft-kv-cluster.js';

const NETWORK: NetworkSpec = { podCIDR: '10.244.0.0/21', hostSubnetPrefix: 24, serviceCIDR: '10.96.0.0/29' }; // 8 subnets, 6 VIPs

const hostObject = (name: string): Host => ({ apiVersion: 'flotilla.dev/v1', kind: 'Host', metadata: { name }, spec: { address: `192.0.2.${name.length}` } });
const serviceObject = (name: string): Service => ({ apiVersion: 'flotilla.dev/v1', kind: 'Service', metadata: { name }, spec: { selector: `app=${name}`, ports: [{ port: 80 }] } });

async function wipe(kv: KvStore): Promise<void> {
  for (const item of (await kv.range('/flotilla/')).items) await kv.delete(item.key);
}

/** Ignores the conflicts a racing writer is expected to meet (a create of a host that exists, …). */
async function tolerant(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!isConflictError(e) && !(e instanceof Error && e.message.includes('not found'))) throw e;
  }
}

/** Fails the test when a snapshot ever shows two objects naming one address. */
function duplicateWatch(store: ClusterStore): { stop(): Promise<void>; violations: string[] } {
  const violations: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const [items, read] of [
        [await store.hosts.items(), (o: Host | Service) => (o as Host).status?.podSubnet],
        [await store.services.items(), (o: Host | Service) => (o as Service).status?.clusterIP],
      ] as const) {
        const seen = new Map<string, string>();
        for (const o of items) {
          const a = read(o);
          if (a === undefined) continue;
          if (seen.has(a)) violations.push(`${a}: ${seen.get(a)} and ${o.metadata.name}`);
          seen.set(a, o.metadata.name);
        }
      }
    }
  })();
  return {
    violations,
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** One seeded race: two allocators, deletions, re-creations, heartbeats, collectors. */
async function race(a: ClusterStore, b: ClusterStore, seed: number, hosts: number): Promise<void> {
  const random = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const names = Array.from({ length: hosts }, (_, i) => `h${i}`);
  const services = ['web', 'api', 'db', 'cache'];
  for (const n of names) await tolerant(a.hosts.create(hostObject(n)));
  for (const s of services) await tolerant(a.services.create(serviceObject(s)));
  const watch = duplicateWatch(b);
  const steps: (() => Promise<unknown>)[] = [];
  for (let i = 0; i < 40; i++) {
    const store = random() < 0.5 ? a : b;
    const r = random();
    if (r < 0.45) steps.push(() => assignHostSubnet(store, NETWORK, pick(names)));
    else if (r < 0.6) steps.push(() => assignClusterIp(store, NETWORK, pick(services)));
    else if (r < 0.7) steps.push(() => tolerant(store.hosts.delete(pick(names)).then(() => undefined)));
    else if (r < 0.78) steps.push(() => tolerant(store.hosts.create(hostObject(pick(names)))));
    else if (r < 0.83) steps.push(() => tolerant(store.services.delete(pick(services)).then(() => undefined)));
    else if (r < 0.86) steps.push(() => tolerant(store.services.create(serviceObject(pick(services)))));
    else if (r < 0.95)
      steps.push(() =>
        tolerant(
          store.hosts.mutate(pick(names), (h) => {
            h.status = { ...(h.status ?? { ready: true }), load1: random() };
            return h;
          }),
        ),
      );
    else steps.push(() => collectLeases(store, NETWORK));
  }
  // run them in waves of concurrent calls: the interleaving inside a wave is the race
  try {
    for (let i = 0; i < steps.length; ) {
      const wave = 1 + Math.floor(random() * 6);
      await Promise.all(steps.slice(i, i + wave).map((s) => s()));
      i += wave;
    }
  } finally {
    await watch.stop();
  }
  expect(watch.violations).toEqual([]);
  // settle: both allocators assign everything, then collect
  const live = await a.hosts.items();
  await Promise.all(live.flatMap((h) => [assignHostSubnet(a, NETWORK, h.metadata.name), assignHostSubnet(b, NETWORK, h.metadata.name)]));
  const liveServices = await a.services.items();
  await Promise.all(liveServices.flatMap((s) => [assignClusterIp(a, NETWORK, s.metadata.name), assignClusterIp(b, NETWORK, s.metadata.name)]));
  await collectLeases(b, NETWORK);
  await collectLeases(a, NETWORK);
  for (const [prefix, objects, read] of [
    [SUBNET_LEASE_PREFIX, await a.hosts.items(), (o: Host | Service) => (o as Host).status?.podSubnet],
    [CLUSTER_IP_LEASE_PREFIX, await a.services.items(), (o: Host | Service) => (o as Service).status?.clusterIP],
  ] as const) {
    const { leases } = await listLeases(a.kv, prefix);
    const held = [...leases.values()].map((l) => `${l.holder}=${l.address}`).sort();
    const named = objects.map((o) => `${o.metadata.name}=${read(o) ?? 'none'}`).sort();
    expect(held, `seed ${seed}: leases and status agree, one each`).toEqual(named);
  }
  // stable: a restarted allocator (a fresh client) finds every lease and writes nothing
  const before = (await a.kv.range('/flotilla/')).items.map((i) => [i.key, i.modRevision]);
  const restarted = new ClusterStore(a.kv);
  for (const h of await restarted.hosts.items()) expect(await assignHostSubnet(restarted, NETWORK, h.metadata.name)).toBe(h.status?.podSubnet);
  await collectLeases(restarted, NETWORK);
  expect((await a.kv.range('/flotilla/')).items.map((i) => [i.key, i.modRevision])).toEqual(before);
}

interface Backend {
  name: string;
  seeds: number;
  skip?: string | undefined;
  open(): Promise<[KvStore, KvStore]>;
}

let etcd: EtcdServer | undefined;
let raft: RaftKvCluster | undefined;
const fileDir = mkdtempSync(join(tmpdir(), 'flotilla-leases-'));
const skipEtcd = etcdUnavailable();

beforeAll(async () => {
  if (!skipEtcd) etcd = await startEtcd(await freePort(), await freePort());
  raft = await startRaftKvCluster();
}, 90_000);
afterAll(async () => {
  await etcd?.stop();
  await raft?.stop();
  rmSync(fileDir, { recursive: true, force: true });
});

const backends: Backend[] = [
  {
    name: 'memory',
    seeds: 60,
    open: () => {
      const kv = new MemoryKvStore({ progressIntervalMs: 0 });
      return Promise.resolve([kv, kv]);
    },
  },
  {
    name: 'file',
    seeds: 8,
    open: async () => {
      const kv = await openFileStore(mkdtempSync(join(fileDir, 's-')));
      return [kv, kv];
    },
  },
  { name: 'etcd', seeds: 4, skip: skipEtcd, open: async () => [await openEtcdStore([etcd!.endpoint]), await openEtcdStore([etcd!.endpoint])] },
  { name: 'raft kv', seeds: 4, open: async () => [await openRaftStore([raft!.endpoints[0]!]), await openRaftStore([raft!.endpoints[1]!])] },
];

describe.each(backends)('leases racing on the $name store', (backend) => {
  it.skipIf(backend.skip !== undefined)(
    `${backend.seeds} seeded races of two allocators: never one subnet or VIP for two, released on deletion, stable on restart`,
    async () => {
      for (let seed = 1; seed <= backend.seeds; seed++) {
        const [ka, kb] = await backend.open();
        try {
          await wipe(ka);
          await race(new ClusterStore(ka), new ClusterStore(kb), seed, 6);
        } finally {
          await ka.close();
          if (kb !== ka) await kb.close();
        }
      }
    },
    240_000,
  );
});

describe('lease pool edges', () => {
  it('a full pool is a clear error; the host gets a subnet once another host is deleted and its lease collected', async () => {
    const store = new ClusterStore(new MemoryKvStore({ progressIntervalMs: 0 }));
    const tiny: NetworkSpec = { podCIDR: '10.244.0.0/23', hostSubnetPrefix: 24, serviceCIDR: '10.96.0.0/24' };
    for (const n of ['a', 'b', 'c']) await store.hosts.create(hostObject(n));
    expect(await assignHostSubnet(store, tiny, 'a')).toBe('10.244.0.0/24');
    expect(await assignHostSubnet(store, tiny, 'b')).toBe('10.244.1.0/24');
    await expect(assignHostSubnet(store, tiny, 'c')).rejects.toThrow('no free address for host/c: all 2 of the pool are leased (give the Network a larger podCIDR or a longer hostSubnetPrefix)');
    await store.hosts.delete('a');
    expect((await collectLeases(store, tiny)).subnets.released).toEqual(['10.244.0.0/24']);
    expect(await assignHostSubnet(store, tiny, 'c')).toBe('10.244.0.0/24');
  });

  it('virtual IPs skip the first and last address of the serviceCIDR; without a Network every lease and status field goes', async () => {
    const store = new ClusterStore(new MemoryKvStore({ progressIntervalMs: 0 }));
    const net: NetworkSpec = { podCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/30' };
    for (const n of ['x', 'y', 'z']) await store.services.create(serviceObject(n));
    await store.hosts.create(hostObject('h'));
    expect(await assignClusterIp(store, net, 'x')).toBe('10.96.0.1');
    expect(await assignClusterIp(store, net, 'y')).toBe('10.96.0.2');
    await expect(assignClusterIp(store, net, 'z')).rejects.toThrow(/all 2 of the pool are leased/);
    await assignHostSubnet(store, net, 'h');
    const gone = await collectLeases(store, undefined);
    expect([gone.subnets.released, gone.clusterIPs.released.sort(), gone.clusterIPs.cleared.sort()]).toEqual([['10.244.0.0/24'], ['10.96.0.1', '10.96.0.2'], ['x', 'y']]);
    expect((await store.hosts.get('h'))?.status?.podSubnet).toBeUndefined();
    expect((await store.kv.range('/flotilla/v1/subnets/')).items).toEqual([]);
  });

  it('a host whose status names a subnet whose lease was lost (a restored store) leases that same subnet again', async () => {
    const store = new ClusterStore(new MemoryKvStore({ progressIntervalMs: 0 }));
    await store.hosts.create({ ...hostObject('a'), status: { ready: true, podSubnet: '10.244.5.0/24' } });
    expect(await assignHostSubnet(store, NETWORK, 'a')).toBe('10.244.5.0/24');
    expect([...(await listLeases(store.kv, SUBNET_LEASE_PREFIX)).leases.values()].map((l) => [l.holder, l.address])).toEqual([['a', '10.244.5.0/24']]);
  });
});

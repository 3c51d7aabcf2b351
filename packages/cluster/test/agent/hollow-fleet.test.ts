// Hollow hosts (flo agent --hollow) against the controllers, on a fake clock: a memory store
// whose TTL leases run on the same fake clock (the store's time), the fleet's writes counted
// through a wrapper of the store, so batching is asserted as behaviour (calls made), not time.
import { getEventListeners } from 'node:events';
import { settle } from '@flotilla/reconcile/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterStore, HollowFleet, MemoryKvStore, hostLeaseKey, isClusterError, readHostLease, type HollowFleetOptions } from '../../src/index.js';
import { FakeRuntime } from '../../src/testing/index.js';
import { fakeCluster, interceptKv, replicaSetYaml as rs, type FakeCluster } from '../fake-cluster.js';

/** Counts what the fleet asks of the store. */
interface Calls {
  txns: number;
  /** Transactions that wrote more than one object (two keys per instance: the object and its index entry). */
  multiObjectTxns: number;
  keepAliveMany: number;
  keepAliveOne: number;
  idsRenewed: number;
  /** When (fake clock) each store lease was last granted or renewed by the fleet. */
  renewedAt: Map<string, number>;
  /** Watches of several prefixes opened (their prefix counts), and single watches of one host's index. */
  manyWatches: number[];
  hostWatches: number;
}

/** The KV as the fleet sees it: its lease calls and transactions counted (`withTxn` false: a KV without transactions). */
function counted(kv: MemoryKvStore, calls: Calls, now: () => number, withTxn = true): MemoryKvStore {
  return interceptKv(kv, {
    close: () => Promise.resolve(),
    grantLease: async (ttl: number) => {
      const granted = await kv.grantLease(ttl);
      calls.renewedAt.set(granted.id, now());
      return granted;
    },
    keepAliveLease: (id: string) => {
      calls.keepAliveOne++;
      calls.renewedAt.set(id, now());
      return kv.keepAliveLease(id);
    },
    keepAliveMany: (ids: readonly string[]) => {
      calls.keepAliveMany++;
      calls.idsRenewed += ids.length;
      for (const id of ids) calls.renewedAt.set(id, now());
      return kv.keepAliveMany(ids);
    },
    watchPrefixes: (prefixes: readonly string[], o) => {
      calls.manyWatches.push(prefixes.length);
      return kv.watchPrefixes(prefixes, o);
    },
    watch: (prefix: string, o) => {
      if (prefix.startsWith('/flotilla/v1/hostinstances/')) calls.hostWatches++;
      return kv.watch(prefix, o);
    },
    txn: withTxn
      ? (c, ops) => {
          calls.txns++;
          if (ops.filter((o) => o.key.startsWith('/flotilla/v1/instances/')).length > 1) calls.multiObjectTxns++;
          return kv.txn(c, ops);
        }
      : null,
  });
}

interface World extends Omit<FakeCluster, 'startControllers'> {
  calls: Calls;
  fleet(extra?: Partial<HollowFleetOptions>): { fleet: HollowFleet; stop(): Promise<void>; done: Promise<void> };
}

let world: World | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

function startWorld(options: { txn?: boolean; controllers?: boolean } = {}): World {
  const c = fakeCluster();
  const calls: Calls = { txns: 0, multiObjectTxns: 0, keepAliveMany: 0, keepAliveOne: 0, idsRenewed: 0, renewedAt: new Map(), manyWatches: [], hostWatches: 0 };
  const fleetStore = c.storeOn(counted(c.kv, calls, () => c.clock.now(), options.txn ?? true));
  if (options.controllers !== false) c.startControllers({ runtime: new FakeRuntime(), seed: 7, hostProbeIntervalMs: 1000, retryUnschedulableMs: 1000 });
  return {
    ...c,
    calls,
    fleet(extra = {}) {
      const fleet = new HollowFleet({ store: fleetStore, count: 10, identity: 'bench-1', about: { version: '0.0.0-test', machine: 'test-machine', address: '127.0.0.1', pid: 4242 }, clock: c.clock, ...extra });
      return { fleet, ...c.background((signal) => fleet.run(signal)) };
    },
  };
}

const running = async (w: World) => (await w.store.instances.items()).filter((i) => i.metadata.deletionTimestamp === undefined && i.status?.phase === 'Running' && i.status.ready);

describe('HollowFleet with the controllers', () => {
  it('registers N agent hosts, each with its own lease, which the controllers judge Ready; 120 instances Running, written in batched transactions', async () => {
    const w = (world = startWorld());
    const { fleet } = w.fleet({ count: 12, prefix: 'hh-', capacity: { cpu: 4, memory: '8Gi' } });
    await w.until('12 Ready hosts', async () => (await w.store.hosts.items()).filter((h) => h.status?.ready === true).length === 12);
    const hosts = await w.store.hosts.items();
    expect(hosts.map((h) => h.metadata.name).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `hh-${i}`).sort());
    for (const h of hosts) {
      expect(h.spec).toMatchObject({ agent: true, capacity: { cpu: 4, memory: '8Gi' } });
      expect(h.status?.agent).toMatchObject({ identity: `bench-1/${h.metadata.name}`, mode: 'hollow' });
      expect((await readHostLease(w.kv, h.metadata.name))?.record.holderIdentity).toBe(`bench-1/${h.metadata.name}`);
    }
    // twelve hosts, twelve distinct store leases
    expect(new Set(await Promise.all(hosts.map(async (h) => (await readHostLease(w.kv, h.metadata.name))!.record.storeLease))).size).toBe(12);

    await w.apply(`${rs('a', 60)}---\n${rs('b', 60)}`);
    await w.until('120 Running', async () => (await running(w)).length === 120);
    const all = await running(w);
    for (const i of all) {
      expect(i.spec.host).toMatch(/^hh-\d+$/);
      expect(i.status).toMatchObject({ phase: 'Running', ready: true, restarts: 0 });
      expect(Object.keys(i.status!.ports)).toEqual(['http']);
    }
    expect(fleet.state()).toMatchObject({ hosts: 12, leasesHeld: 12, watching: 12, reportedRunning: 120, storeReachable: true });
    // one watch of the twelve hosts' index prefixes (one stream to the store), not a watch per host
    expect(w.calls.manyWatches).toEqual([12]);
    expect(w.calls.hostWatches).toBe(0);
    // status writes share transactions: fewer transactions than instances, some with many objects
    expect(w.calls.multiObjectTxns).toBeGreaterThan(0);
    expect(w.calls.txns).toBeLessThan(120 + 12 * 3);
  });

  it('watches 25 hosts on one signal without a listener-leak warning, and leaves no listener on the caller\'s signal', async () => {
    const w = (world = startWorld({ controllers: false }));
    const warnings: Error[] = [];
    const onWarning = (e: Error): void => void warnings.push(e);
    process.on('warning', onWarning);
    try {
      const outer = new AbortController();
      const fleet = new HollowFleet({ store: w.store, count: 25, identity: 'bench-1', about: { version: '0.0.0-test', machine: 'test-machine', address: '127.0.0.1', pid: 4242 }, clock: w.clock });
      const done = fleet.run(outer.signal);
      await w.until('25 watches open', () => fleet.state().watching === 25);
      outer.abort();
      await done;
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      expect(warnings.filter((e) => e.name === 'MaxListenersExceededWarning')).toEqual([]);
      expect(getEventListeners(outer.signal, 'abort')).toHaveLength(0);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('renews every lease in one call per interval (keepAliveMany), never one by one', async () => {
    const w = (world = startWorld({ controllers: false }));
    const { fleet } = w.fleet({ count: 25, renewIntervalMs: 10_000 });
    await w.until('leases held', () => fleet.state().leasesHeld === 25);
    const before = { ...w.calls };
    await w.until('three renewals', () => fleet.state().renewals >= 3, 60_000);
    expect(w.calls.keepAliveMany - before.keepAliveMany).toBeGreaterThanOrEqual(3);
    expect(w.calls.idsRenewed - before.idsRenewed).toBe(25 * (w.calls.keepAliveMany - before.keepAliveMany));
    expect(w.calls.keepAliveOne).toBe(0);
    // the leases outlived their 40 s TTL: renewals kept them
    await w.clock.advanceAsync(45_000);
    await settle(5);
    for (const h of fleet.hosts) expect(await w.kv.get(hostLeaseKey(h))).toBeDefined();
  });

  it('a lease the store let expire is claimed again at the next renewal', async () => {
    const w = (world = startWorld({ controllers: false }));
    const { fleet } = w.fleet({ count: 3 });
    await w.until('leases held', () => fleet.state().leasesHeld === 3);
    const lost = (await readHostLease(w.kv, 'hollow-1'))!;
    await w.kv.revokeLease(lost.record.storeLease);
    expect(await w.kv.get(hostLeaseKey('hollow-1'))).toBeUndefined();
    await w.until('reclaimed', () => fleet.state().reclaims === 1, 30_000);
    const again = (await readHostLease(w.kv, 'hollow-1'))!;
    expect(again.record.holderIdentity).toBe('bench-1/hollow-1');
    expect(again.record.storeLease).not.toBe(lost.record.storeLease);
  });

  it('a lease whose claim fails is claimed again at the following renewal (it used to be dropped for good: 13 of 5,000 hosts never Ready)', async () => {
    const w = (world = startWorld({ controllers: false }));
    const { fleet } = w.fleet({ count: 3 });
    await w.until('leases held', () => fleet.state().leasesHeld === 3);
    const lost = (await readHostLease(w.kv, 'hollow-1'))!;
    const grant = w.kv.grantLease.bind(w.kv);
    let refused = 0;
    w.kv.grantLease = (ttl: number) => (refused++ === 0 ? Promise.reject(new Error('store busy')) : grant(ttl));
    await w.kv.revokeLease(lost.record.storeLease);
    await w.until('reclaimed after a failed claim', () => fleet.state().reclaims === 1, 60_000);
    expect(refused).toBeGreaterThanOrEqual(2);
    expect((await readHostLease(w.kv, 'hollow-1'))!.record.holderIdentity).toBe('bench-1/hollow-1');
    expect(fleet.state().leasesHeld).toBe(3);
  });

  it('hollow hosts that die (their process stops renewing) go NotReady after the grace period and their instances run on the others', async () => {
    const w = (world = startWorld());
    const doomed = w.fleet({ count: 3, prefix: 'dies-', identity: 'proc-a' });
    w.fleet({ count: 9, prefix: 'lives-', identity: 'proc-b' });
    await w.until('12 Ready hosts', async () => (await w.store.hosts.items()).filter((h) => h.status?.ready === true).length === 12);
    await w.apply(rs('web', 48));
    await w.until('48 Running', async () => (await running(w)).length === 48);
    const onDoomed = (await running(w)).filter((i) => i.spec.host.startsWith('dies-')).length;
    expect(onDoomed).toBeGreaterThan(0);
    const doomedLeases = await Promise.all(doomed.fleet.hosts.map(async (h) => (await readHostLease(w.kv, h))!.record));
    // the default grace period, as Kubernetes' node-monitor-grace-period: the lease's TTL is 40 s
    for (const l of doomedLeases) expect(l.leaseDurationSeconds).toBe(40);
    await doomed.stop();
    // the grace runs from each lease's last renewal (made before the stop, up to one renewal
    // interval earlier), not from the stop
    const lastRenewal = Math.max(...doomedLeases.map((l) => w.calls.renewedAt.get(l.storeLease)!));
    expect(lastRenewal).toBeLessThanOrEqual(w.clock.now());
    await w.until('the dead hosts NotReady', async () => (await w.store.hosts.items()).filter((h) => h.metadata.name.startsWith('dies-')).every((h) => h.status?.ready === false), 120_000);
    // the store expired their leases 40 s after the last renewal — not before — and the
    // controller saw it within a few of its 1 s probes
    expect(w.clock.now() - lastRenewal).toBeGreaterThanOrEqual(40_000);
    expect(w.clock.now() - lastRenewal).toBeLessThan(40_000 + 10_000);
    await w.until('48 Running on the live hosts', async () => (await running(w)).filter((i) => i.spec.host.startsWith('lives-')).length === 48, 120_000);
  });

  it('a second process with another identity is refused a host that is held (host-claimed); the same identity takes its leases over', async () => {
    const w = (world = startWorld({ controllers: false }));
    const first = w.fleet({ count: 2, identity: 'p1' });
    await w.until('leases held', () => first.fleet.state().leasesHeld === 2);
    await first.stop();
    const other = new HollowFleet({ store: w.store, count: 2, identity: 'p2', about: { version: '0', machine: 'm', address: '127.0.0.1', pid: 1 }, clock: w.clock });
    const err = await other.start().catch((e: unknown) => e);
    expect(isClusterError(err) && err.code === 'host-claimed').toBe(true);
    expect((err as Error).message).toMatch(/host hollow-\d is already claimed by another agent \(identity p1\/hollow-\d/);
    const again = w.fleet({ count: 2, identity: 'p1' });
    await w.until('taken over', () => again.fleet.state().leasesHeld === 2);
    expect((await readHostLease(w.kv, 'hollow-0'))!.record.holderIdentity).toBe('p1/hollow-0');
  });

  it('starts up in a few round trips — one list of the Hosts, one range of the leases, new Hosts 50 to a transaction, no read per host — and a restart updates what changed', async () => {
    const w = (world = startWorld({ controllers: false }));
    const asked = { perHostGets: [] as string[], ranges: [] as string[], hostTxns: 0 };
    const kv = interceptKv(w.kv, {
      close: () => Promise.resolve(),
      get: (key: string) => {
        if (key.startsWith('/flotilla/v1/hosts/') || key.startsWith('/flotilla/v1/hostleases/')) asked.perHostGets.push(key);
        return w.kv.get(key);
      },
      range: (prefix: string, o) => {
        if (prefix === '/flotilla/v1/hosts/' || prefix === '/flotilla/v1/hostleases/') asked.ranges.push(prefix);
        return w.kv.range(prefix, o);
      },
      txn: (c, ops) => {
        if (ops.some((o) => o.key.startsWith('/flotilla/v1/hosts/'))) asked.hostTxns++;
        return w.kv.txn(c, ops);
      },
    });
    const about = (version: string) => ({ version, machine: 'test-machine', address: '127.0.0.1', pid: 4242 });
    const first = new HollowFleet({ store: w.storeOn(kv), count: 120, prefix: 'hh-', identity: 'p1', about: about('1'), clock: w.clock });
    await first.start();
    expect(asked).toEqual({ perHostGets: [], ranges: ['/flotilla/v1/hosts/', '/flotilla/v1/hostleases/'], hostTxns: 3 });
    const hosts = await w.store.hosts.items();
    expect(hosts).toHaveLength(120);
    const leases = new Map<string, string>();
    for (const h of hosts) {
      expect(h.spec).toMatchObject({ agent: true, address: '127.0.0.1' });
      expect(h.status).toMatchObject({ ready: false, agent: { identity: `p1/${h.metadata.name}`, mode: 'hollow', version: '1' } });
      const lease = (await readHostLease(w.kv, h.metadata.name))!;
      expect(lease.record.holderIdentity).toBe(`p1/${h.metadata.name}`);
      leases.set(h.metadata.name, lease.record.storeLease);
    }
    expect(new Set(leases.values()).size).toBe(120);

    // someone took hh-7 out of agent mode; the process restarts with a new version
    await w.store.hosts.mutate('hh-7', (h) => ({ ...h, spec: { ...h.spec, agent: false } }));
    Object.assign(asked, { perHostGets: [], ranges: [], hostTxns: 0 });
    const again = new HollowFleet({ store: w.storeOn(kv), count: 120, prefix: 'hh-', identity: 'p1', about: about('2'), clock: w.clock });
    await again.start();
    // 119 status.agent changes in 3 transactions; hh-7 alone (its spec changes: read and written by itself)
    expect(asked.ranges).toEqual(['/flotilla/v1/hosts/', '/flotilla/v1/hostleases/']);
    expect(asked.hostTxns).toBe(3);
    expect(asked.perHostGets.length).toBeGreaterThan(0);
    expect(new Set(asked.perHostGets)).toEqual(new Set(['/flotilla/v1/hosts/hh-7']));
    for (const h of await w.store.hosts.items()) {
      expect(h.spec.agent).toBe(true);
      expect(h.status?.agent).toMatchObject({ identity: `p1/${h.metadata.name}`, version: '2' });
      const lease = (await readHostLease(w.kv, h.metadata.name))!;
      // taken over: the key on a new store lease, the old one revoked
      expect(lease.record.storeLease).not.toBe(leases.get(h.metadata.name));
      expect(await w.kv.keepAliveLease(leases.get(h.metadata.name)!)).toBeUndefined();
    }
    expect(hosts.find((h) => h.metadata.name === 'hh-7')!.metadata.generation).toBe(1);
    expect((await w.store.hosts.get('hh-7'))!.metadata.generation).toBe(3);

    // another identity is refused, naming the holder
    const other = new HollowFleet({ store: w.storeOn(kv), count: 3, prefix: 'hh-', identity: 'p2', about: about('2'), clock: w.clock });
    const err = await other.start().then(() => undefined, (e: unknown) => e);
    expect(isClusterError(err) && err.code === 'host-claimed').toBe(true);
    expect(String(err)).toMatch(/host hh-\d is already claimed by another agent \(identity p1\/hh-\d/);
  });

  it('on a store without transactions, reports Running one write at a time', async () => {
    const w = (world = startWorld({ txn: false }));
    w.fleet({ count: 4 });
    await w.until('4 Ready hosts', async () => (await w.store.hosts.items()).filter((h) => h.status?.ready === true).length === 4);
    await w.apply(rs('web', 10));
    await w.until('10 Running', async () => (await running(w)).length === 10);
    expect(w.calls.txns).toBe(0);
  });

  it('refuses bad options with a TypeError naming the option', () => {
    const store = new ClusterStore(new MemoryKvStore());
    const base = { store, identity: 'x', about: { version: '0', machine: 'm', address: '127.0.0.1', pid: 1 } };
    expect(() => new HollowFleet({ ...base, count: 0 })).toThrow(/count: expected a positive integer, received 0/);
    expect(() => new HollowFleet({ ...base, count: 2, prefix: 'Bad_' })).toThrow(/prefix: expected lowercase/);
    expect(() => new HollowFleet({ ...base, count: 2, renewIntervalMs: 50_000 })).toThrow(/renewIntervalMs \(50000\) must be .* shorter than the lease \(40 s\)/);
  });
});

// Node lifecycle of agent hosts (issue 15's "kill 10 %"): when agents stop renewing their
// leases, the store expires the leases, the controller marks those hosts NotReady and evicts
// their instances, and the replica sets replace them on the live hosts. On a fake clock with
// a memory store whose TTL leases run on that clock; the controllers' writes are counted
// through a wrapper of the store, so batching is asserted as the calls made, not as time.
import { settle } from '@flotilla/reconcile/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { HollowFleet, HOST_LEASE_PREFIX, claimHostLease, readHostLease, type ClusterControllersOptions, type Host, type Instance, type KvCompare, type KvTxnOp, type MemoryKvStore } from '../../src/index.js';
import { FakeRuntime } from '../../src/testing/index.js';
import { fakeCluster, interceptKv, replicaSetYaml, type FakeCluster } from '../fake-cluster.js';

const rs = (name: string, replicas: number): string => replicaSetYaml(name, replicas, { cpu: '10m', memory: '16Mi', healthCheck: false });

/** One write the controllers made: how many instances it marked for deletion, and the reasons of the events it wrote. */
interface Write {
  /** A transaction (true) or a single put/delete (false). */
  txn: boolean;
  evictions: number;
  events: string[];
  /** The hosts it wrote NotReady. */
  notReady: string[];
}

const HOSTS = '/flotilla/v1/hosts/';

const INSTANCES = '/flotilla/v1/instances/';
const EVENTS = '/flotilla/v1/events/';

/** The controllers' KV, every write recorded in `writes`. */
/** Called before each transaction of the controllers reaches the store (throw: the transaction fails). */
interface Hooks {
  beforeTxn?: (compare: readonly KvCompare[], ops: readonly KvTxnOp[]) => Promise<void> | void;
}

function recording(kv: MemoryKvStore, writes: Write[], hooks: Hooks): MemoryKvStore {
  const classify = (txn: boolean, puts: { key: string; value: string }[]): void => {
    const evictions = puts.filter((p) => p.key.startsWith(INSTANCES) && p.value.includes('"deletionReason":"host ')).length;
    const events = puts.filter((p) => p.key.startsWith(EVENTS)).map((p) => (JSON.parse(p.value) as { reason: string }).reason);
    const notReady = puts.filter((p) => p.key.startsWith(HOSTS) && (JSON.parse(p.value) as Host).status?.ready === false).map((p) => p.key.slice(HOSTS.length));
    writes.push({ txn, evictions, events, notReady });
  };
  return interceptKv(kv, {
    txn: async (compare: readonly KvCompare[], ops: readonly KvTxnOp[]) => {
      await hooks.beforeTxn?.(compare, ops);
      // an instance's per-host index entry (HOST_INDEX_PREFIX) is not under INSTANCES: each object counts once
      classify(true, ops.flatMap((o) => (o.type === 'put' ? [{ key: o.key, value: o.value }] : [])));
      return kv.txn(compare, ops);
    },
    put: (key: string, value: string, options?: { prevRevision?: number; lease?: string }) => {
      classify(false, [{ key, value }]);
      return kv.put(key, value, options);
    },
  });
}

interface World extends Omit<FakeCluster, 'startControllers'> {
  writes: Write[];
  hooks: Hooks;
  startControllers(extra?: Partial<ClusterControllersOptions>): void;
  stopControllers(): Promise<void>;
  fleet(count: number, prefix: string, identity: string): { fleet: HollowFleet; stop(): Promise<void> };
}

let world: World | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

function startWorld(): World {
  const c = fakeCluster();
  const writes: Write[] = [];
  const hooks: Hooks = {};
  const controllerStore = c.storeOn(recording(c.kv, writes, hooks));
  let controllers: { stop(): Promise<void> } | undefined;
  return {
    ...c,
    writes,
    hooks,
    startControllers(extra = {}) {
      controllers = c.startControllers({ store: controllerStore, runtime: new FakeRuntime(), seed: 11, hostProbeIntervalMs: 1000, retryUnschedulableMs: 1000, maxEvents: 100_000, ...extra });
    },
    async stopControllers() {
      await controllers?.stop();
      controllers = undefined;
    },
    fleet(count: number, prefix: string, identity: string) {
      const fleet = new HollowFleet({ store: c.store, count, prefix, identity, capacity: { cpu: 32, memory: '128Gi' }, about: { version: '0.0.0-test', machine: 'test-machine', address: '127.0.0.1', pid: 4242 }, clock: c.clock });
      return { fleet, stop: c.background((signal) => fleet.run(signal)).stop };
    },
  };
}

const live = (i: Instance): boolean => i.metadata.deletionTimestamp === undefined;
const runningOn = async (w: World, prefix: string): Promise<Instance[]> =>
  (await w.store.instances.items()).filter((i) => live(i) && i.spec.host.startsWith(prefix) && i.status?.phase === 'Running' && i.status.ready);

/** The cluster with the controllers running, two hollow hosts that will die (dies-0, dies-1) and two that live, all Ready, and `yaml` applied until `running` instances run. */
/**
 * Evicted as today: each instance of a dead host Terminating (not deleted: it is stopped when
 * its host returns) for the host's NotReady, with exactly one Rescheduled event saying so.
 */
async function expectEvicted(w: World, onDoomed: readonly Instance[]): Promise<void> {
  const all = await w.store.instances.items();
  const events = await w.store.events.items();
  for (const old of onDoomed) {
    const now = all.find((i) => i.metadata.name === old.metadata.name)!;
    expect(now.metadata.deletionReason).toBe(`host ${old.spec.host} is NotReady`);
    expect(now.status).toMatchObject({ phase: 'Terminating', ready: false });
    expect(events.filter((e) => e.involved.kind === 'Instance' && e.involved.name === old.metadata.name && e.reason === 'Rescheduled').map((e) => e.message)).toEqual([
      `host ${old.spec.host} is NotReady: replacing the instance elsewhere`,
    ]);
  }
}

async function startFleets(yaml: string, running: number): Promise<World & { doomed: { fleet: HollowFleet; stop(): Promise<void> } }> {
  const w = (world = startWorld());
  w.startControllers();
  const doomed = w.fleet(2, 'dies-', 'proc-a');
  w.fleet(2, 'lives-', 'proc-b');
  await w.until('4 Ready hosts', async () => (await w.store.hosts.items()).filter((h) => h.status?.ready === true).length === 4);
  await w.apply(yaml);
  await w.until(`${running} Running`, async () => (await runningOn(w, '')).length === running);
  return Object.assign(w, { doomed });
}

// fake time, but real work (hundreds of instances through the store): room on a loaded 2-core box
describe('agent hosts whose leases expire', { timeout: 180_000 }, () => {
  it('2 of 4 hosts die holding 120 instances: NotReady within grace + a probe of their leases expiring, every instance evicted in transactions of up to 50 with its Rescheduled event batched, all 240 Running on the live hosts', async () => {
    const w = await startFleets(`${rs('a', 120)}---\n${rs('b', 120)}`, 240);
    const { doomed } = w;
    const onDoomed = await runningOn(w, 'dies-');
    const perHost = new Map<string, number>();
    for (const i of onDoomed) perHost.set(i.spec.host, (perHost.get(i.spec.host) ?? 0) + 1);
    // the scheduler spreads: each dying host holds more than one transaction's worth
    expect([...perHost.values()].every((n) => n > 50)).toBe(true);

    // when the store expires each lease (its clock: the fake one)
    const leaseGone = new Map<string, number>();
    const watching = new AbortController();
    void (async () => {
      for await (const ev of w.kv.watch(HOST_LEASE_PREFIX, { signal: watching.signal })) if (ev.type === 'delete') leaseGone.set(ev.key.slice(HOST_LEASE_PREFIX.length), w.clock.now());
    })();
    const from = w.writes.length;
    const killedAt = w.clock.now();
    await doomed.stop();
    await w.until('all 240 Running on the live hosts', async () => (await runningOn(w, 'lives-')).length === 240, 120_000);
    // within the goal on the store's clock: the lease's TTL (40 s) + 10 s
    expect(w.clock.now() - killedAt).toBeLessThanOrEqual(50_000);

    const hosts = await w.store.hosts.items();
    for (const h of hosts.filter((x) => x.metadata.name.startsWith('dies-'))) {
      expect(h.status).toMatchObject({ ready: false, message: "the agent's lease expired in the store (not renewed for its TTL)" });
      // NotReady only once the store had expired the lease (40 s after the agent's last renewal, which was at most 10 s before the kill)
      const gone = leaseGone.get(h.metadata.name)!;
      expect(gone - killedAt).toBeGreaterThanOrEqual(30_000);
      expect(Date.parse(h.status!.lastTransition!)).toBeGreaterThanOrEqual(gone);
    }
    watching.abort();
    for (const h of hosts.filter((x) => x.metadata.name.startsWith('lives-'))) expect(h.status?.ready).toBe(true);

    // evicted as today: each instance of a dead host Terminating (not deleted: it is stopped when its host returns), with a Rescheduled event
    await expectEvicted(w, onDoomed);

    // batched: per dead host, ceil(n / 50) eviction transactions and no single-object eviction writes;
    // the Rescheduled events likewise; far fewer writes than instances evicted (was 3 each)
    const during = w.writes.slice(from);
    const evicting = during.filter((x) => x.evictions > 0);
    expect(evicting.reduce((s, x) => s + x.evictions, 0)).toBe(onDoomed.length);
    expect(evicting.every((x) => x.txn && x.evictions <= 50)).toBe(true);
    // (both hosts' in one pass when their leases expire together: transactions of 50 across them)
    expect(evicting.length).toBeGreaterThanOrEqual(Math.ceil(onDoomed.length / 50));
    expect(evicting.length).toBeLessThanOrEqual([...perHost.values()].reduce((s, n) => s + Math.ceil(n / 50), 0));
    const rescheduling = during.filter((x) => x.events.includes('Rescheduled'));
    expect(rescheduling.reduce((s, x) => s + x.events.filter((r) => r === 'Rescheduled').length, 0)).toBe(onDoomed.length);
    expect(rescheduling.length).toBeLessThanOrEqual([...perHost.values()].reduce((s, n) => s + Math.ceil((n + 1) / 50), 0));
    const evictionWrites = during.filter((x) => x.evictions > 0 || x.events.includes('Rescheduled') || x.events.includes('HostNotReady')).length;
    expect(evictionWrites).toBeLessThan(onDoomed.length / 10);
  });

  it('a controller that starts (a failover) evicts nothing while the agents hold their leases, and gives a host whose lease it never saw the full grace from first sight', async () => {
    const w = await startFleets(rs('web', 40), 40);
    const { doomed } = w;

    // the controller goes away for a minute; the agents keep renewing
    await w.stopControllers();
    await w.clock.advanceAsync(60_000);
    await settle(5);
    const from = w.writes.length;
    w.startControllers();
    await w.clock.advanceAsync(50_000);
    await w.until('settled', () => true);
    expect((await w.store.hosts.items()).every((h) => h.status?.ready === true)).toBe(true);
    expect(w.writes.slice(from).filter((x) => x.evictions > 0)).toEqual([]);
    expect((await runningOn(w, '')).length).toBe(40);

    // now the controller goes away and two hosts die while it is gone: their leases expire unseen
    await w.stopControllers();
    await doomed.stop();
    await w.clock.advanceAsync(60_000);
    await settle(5);
    for (const h of doomed.fleet.hosts) expect(await readHostLease(w.kv, h)).toBeUndefined();
    const startedAt = w.clock.now();
    w.startControllers();
    // no storm at start: a lease this controller never saw gets 40 s (agentGracePeriodMs) from first sight
    await w.clock.advanceAsync(35_000);
    await settle(5);
    expect((await w.store.hosts.items()).filter((h) => h.status?.ready === false)).toEqual([]);
    await w.until('the dead hosts NotReady', async () => (await w.store.hosts.items()).filter((h) => h.status?.ready === false).length === 2, 30_000);
    expect(w.clock.now() - startedAt).toBeGreaterThanOrEqual(40_000);
    expect((await w.store.hosts.items()).filter((h) => h.status?.ready === false).map((h) => h.metadata.name).sort()).toEqual(['dies-0', 'dies-1']);
    await w.until('40 Running on the live hosts', async () => (await runningOn(w, 'lives-')).length === 40, 30_000);
  });

  it('places nothing on a host whose lease is gone though its status still says Ready, and evicts an instance bound to a NotReady host later (level-based, at each probe)', async () => {
    const w = await startFleets(rs('web', 40), 40);
    const { doomed } = w;

    // the dead hosts' leases expire while no controller runs: their status still says Ready
    await w.stopControllers();
    await doomed.stop();
    await w.clock.advanceAsync(45_000);
    await settle(5);
    for (const h of doomed.fleet.hosts) expect(await readHostLease(w.kv, h)).toBeUndefined();
    expect((await w.store.hosts.items()).every((h) => h.status?.ready === true)).toBe(true);
    w.startControllers();
    await w.apply(rs('fresh', 20));
    await w.until('20 fresh Running', async () => (await runningOn(w, 'lives-')).filter((i) => i.spec.replicaSet === 'fresh').length === 20, 30_000);
    expect((await w.store.instances.items()).filter((i) => i.spec.replicaSet === 'fresh' && i.spec.host.startsWith('dies-'))).toEqual([]);
    await w.until('60 Running on the live hosts', async () => (await runningOn(w, 'lives-')).length === 60, 60_000);

    // the race of a replica set placing on a host as it goes NotReady, made by hand: an instance
    // of web bound to the dead host dies-0, in place of one of web's on a live host
    await w.stopControllers();
    const [moved] = (await runningOn(w, 'lives-')).filter((i) => i.spec.replicaSet === 'web');
    await w.store.instances.delete(moved!.metadata.name);
    const straggler = await w.store.instances.create({
      ...moved!,
      metadata: { name: 'web-straggler', labels: moved!.metadata.labels ?? {} },
      spec: { ...moved!.spec, host: 'dies-0' },
      status: { phase: 'Pending', ready: false, ports: {}, restarts: 0 },
    });
    expect(straggler.spec.host).toBe('dies-0');
    w.startControllers();
    await w.until('the straggler evicted', async () => (await w.store.instances.get('web-straggler'))?.metadata.deletionTimestamp !== undefined, 60_000);
    const evicted = (await w.store.instances.get('web-straggler'))!;
    expect(evicted.metadata.deletionReason).toBe('host dies-0 is NotReady');
    expect((await w.store.events.items()).filter((e) => e.involved.name === 'web-straggler' && e.reason === 'Rescheduled')).toHaveLength(1);
    await w.until('60 Running on the live hosts again', async () => (await runningOn(w, 'lives-')).length === 60, 60_000);
  });

  it('a host whose agent holds its lease is reconciled on its lease events and a slow resync, not at every probe; when the lease expires it is NotReady and evicted as before', async () => {
    const w = (world = startWorld());
    const reconciles = new Map<string, number>();
    // a resync longer than the test: whatever reconciles a live host here is an event
    w.startControllers({
      agentHostResyncMs: 600_000,
      metrics: {
        reconcileDuration: (controller, key) => {
          if (controller === 'hosts') reconciles.set(key, (reconciles.get(key) ?? 0) + 1);
        },
      },
    });
    const doomed = w.fleet(1, 'dies-', 'proc-a');
    w.fleet(2, 'lives-', 'proc-b');
    await w.until('3 Ready hosts', async () => (await w.store.hosts.items()).filter((h) => h.status?.ready === true).length === 3);
    await w.apply(rs('web', 30));
    await w.until('30 Running', async () => (await runningOn(w, '')).length === 30);

    // two minutes at rest, the agents renewing (keep-alives: no lease key written): probing
    // every 1 s (hostProbeIntervalMs) would be 120 reconciles of each host; at most the one
    // left queued from first sight (a host seen before its lease is looked at again when its
    // 40 s grace would run out) is made
    await settle(5);
    reconciles.clear();
    for (let t = 0; t < 120; t++) await w.clock.advanceAsync(1000);
    await settle(5);
    for (const host of ['dies-0', 'lives-0', 'lives-1']) expect(reconciles.get(host) ?? 0).toBeLessThanOrEqual(1);
    expect([...reconciles.keys()].every((k) => ['dies-0', 'lives-0', 'lives-1'].includes(k))).toBe(true);
    expect((await w.store.hosts.items()).every((h) => h.status?.ready === true)).toBe(true);

    // the lease's expiry (an event) still makes the host NotReady at once, and evicts after the grace
    const leaseGone = new Promise<number>((resolve) => {
      void (async () => {
        for await (const ev of w.kv.watch(HOST_LEASE_PREFIX)) if (ev.type === 'delete') return resolve(w.clock.now());
      })();
    });
    const onDoomed = await runningOn(w, 'dies-');
    expect(onDoomed.length).toBeGreaterThan(0);
    const killedAt = w.clock.now();
    await doomed.stop();
    await w.until('dies-0 NotReady', async () => (await w.store.hosts.get('dies-0'))?.status?.ready === false, 60_000);
    const gone = await leaseGone;
    expect(gone - killedAt).toBeGreaterThanOrEqual(30_000);
    const notReadyAt = Date.parse((await w.store.hosts.get('dies-0'))!.status!.lastTransition!);
    expect(notReadyAt).toBeGreaterThanOrEqual(gone);
    // on the lease's event (the resync is 600 s away). This memory store sends no progress
    // events, so the leases' watch, silent at rest, is resumed after each 30 s with a backoff
    // that grows: the event may reach the controller that much later (flo server and etcd
    // send progress every 5 s, which keeps the watch open)
    expect(notReadyAt - gone).toBeLessThanOrEqual(35_000);
    await w.until('30 Running on the live hosts', async () => (await runningOn(w, 'lives-')).length === 30, 30_000);
    for (const old of onDoomed) expect((await w.store.instances.get(old.metadata.name))?.metadata.deletionReason).toBe('host dies-0 is NotReady');
  });

  it('flo host leave (spec.agent unset, then the lease released): the host is not made NotReady, nothing is evicted; a lease revoked while spec.agent is set is', async () => {
    const w = (world = startWorld());
    w.startControllers();
    w.fleet(3, 'h-', 'proc-a');
    await w.until('3 Ready hosts', async () => (await w.store.hosts.items()).filter((h) => h.status?.ready === true).length === 3);
    await w.apply(rs('web', 30));
    await w.until('30 Running', async () => (await runningOn(w, '')).length === 30);
    const from = w.writes.length;

    // as `flo host leave` does it (after stopping the agent): spec.agent unset, then the lease revoked
    await w.store.hosts.mutate('h-0', (cur) => {
      delete cur.spec.agent;
      return cur;
    });
    const held = (await readHostLease(w.kv, 'h-0'))!;
    await w.kv.revokeLease(held.record.storeLease);
    for (let t = 0; t < 10; t++) await w.clock.advanceAsync(1000);
    await settle(5);
    expect((await w.store.hosts.get('h-0'))?.status?.ready).toBe(true);
    expect(w.writes.slice(from).filter((x) => x.evictions > 0)).toEqual([]);

    // the other way round — the lease revoked while the Host still says agent — is a dead agent
    const other = (await readHostLease(w.kv, 'h-1'))!;
    await w.kv.revokeLease(other.record.storeLease);
    await w.until('h-1 NotReady', async () => (await w.store.hosts.get('h-1'))?.status?.ready === false, 10_000);
    await w.until('h-1 evicted', async () => (await w.store.instances.items()).filter((i) => i.spec.host === 'h-1' && live(i)).length === 0, 10_000);
  });

  describe('a burst of expiring leases, handled in one pass (as Kubernetes\' node lifecycle controller)', () => {
    /** `dying` hosts (one process) and 2 that live, all Ready, `replicas` instances of web Running; then the dying process stops. */
    async function burst(dying: number, replicas: number): Promise<{ w: World; onDoomed: Instance[]; doomedHosts: readonly string[]; from: number }> {
      const w = (world = startWorld());
      w.startControllers();
      const doomed = w.fleet(dying, 'dies-', 'proc-a');
      w.fleet(2, 'lives-', 'proc-b');
      await w.until(`${dying + 2} Ready hosts`, async () => (await w.store.hosts.items()).filter((h) => h.status?.ready === true).length === dying + 2);
      await w.apply(rs('web', replicas));
      await w.until(`${replicas} Running`, async () => (await runningOn(w, '')).length === replicas, 120_000);
      const onDoomed = await runningOn(w, 'dies-');
      const from = w.writes.length;
      await doomed.stop();
      return { w, onDoomed, doomedHosts: doomed.fleet.hosts, from };
    }

    it('120 hosts whose leases expire together: all NotReady in ceil(120 / 50) transactions (each compared on the lease being gone), every instance evicted in ceil(instances / 50), the same events and conditions as one at a time', async () => {
      const { w, onDoomed, doomedHosts, from } = await burst(120, 300);
      expect(doomedHosts).toHaveLength(120);
      const seenCompares: KvCompare[][] = [];
      w.hooks.beforeTxn = (compare, ops) => {
        if (ops.some((o) => o.type === 'put' && o.key.startsWith(HOSTS) && (JSON.parse(o.value) as Host).status?.ready === false)) seenCompares.push([...compare]);
      };
      await w.until('all 300 Running on the live hosts', async () => (await runningOn(w, 'lives-')).length === 300, 120_000);
      const during = w.writes.slice(from);

      // NotReady: every dead host once, in transactions of up to 50 hosts, no single writes
      const marking = during.filter((x) => x.notReady.length > 0);
      expect(marking.flatMap((x) => x.notReady).sort()).toEqual([...doomedHosts].sort());
      expect(marking.every((x) => x.txn && x.notReady.length <= 50)).toBe(true);
      expect(marking.length).toBe(Math.ceil(120 / 50));
      // each host written on its cached revision and on its lease key being absent
      for (const compare of seenCompares) {
        const leases = compare.filter((c) => c.key.startsWith(HOST_LEASE_PREFIX));
        expect(leases.length).toBe(compare.length / 2);
        expect(leases.every((c) => c.modRevision === 0)).toBe(true);
      }
      // evictions: every instance of the dead hosts once, in ceil(n / 50) transactions
      const evicting = during.filter((x) => x.evictions > 0);
      expect(evicting.reduce((s, x) => s + x.evictions, 0)).toBe(onDoomed.length);
      expect(evicting.every((x) => x.txn && x.evictions <= 50)).toBe(true);
      expect(evicting.length).toBe(Math.ceil(onDoomed.length / 50));

      // what one host at a time wrote: the status, each instance's deletion, the events
      const hosts = await w.store.hosts.items();
      for (const h of hosts.filter((x) => x.metadata.name.startsWith('dies-'))) {
        expect(h.status).toMatchObject({ ready: false, message: "the agent's lease expired in the store (not renewed for its TTL)" });
        expect(h.status?.lastTransition).toBeDefined();
      }
      await expectEvicted(w, onDoomed);
      const events = await w.store.events.items();
      for (const name of doomedHosts)
        expect(events.filter((e) => e.involved.kind === 'Host' && e.involved.name === name && e.reason === 'HostNotReady').map((e) => e.message)).toEqual([
          "the agent's lease expired in the store (not renewed for its TTL)",
        ]);
    });

    it('a host whose agent claims its lease again while the pass writes is not marked NotReady nor evicted; the others are', async () => {
      const { w, onDoomed, doomedHosts } = await burst(60, 120);
      const revived = doomedHosts[7]!;
      let claimed = false;
      w.hooks.beforeTxn = async (_compare, ops) => {
        if (claimed || !ops.some((o) => o.type === 'put' && o.key === `${HOSTS}${revived}` && (JSON.parse(o.value) as Host).status?.ready === false)) return;
        claimed = true;
        // the agent is back between the pass's scan and its write
        await claimHostLease(w.kv, { host: revived, holderIdentity: 'proc-a2', leaseDurationSeconds: 40, machine: 'test-machine', pid: 4243, acquireTime: new Date(w.clock.now()).toISOString() });
      };
      await w.until('59 hosts NotReady', async () => (await w.store.hosts.items()).filter((h) => h.status?.ready === false).length === 59, 120_000);
      expect(claimed).toBe(true);
      expect(await readHostLease(w.kv, revived)).toBeDefined();
      await w.until('the other hosts evicted', async () => {
        const all = await w.store.instances.items();
        return onDoomed.filter((o) => o.spec.host !== revived).every((o) => all.find((i) => i.metadata.name === o.metadata.name)?.metadata.deletionTimestamp !== undefined);
      });
      expect((await w.store.hosts.get(revived))?.status?.ready).toBe(true);
      const all = await w.store.instances.items();
      const onRevived = onDoomed.filter((o) => o.spec.host === revived);
      expect(onRevived.length).toBeGreaterThan(0);
      for (const o of onRevived) expect(all.find((i) => i.metadata.name === o.metadata.name)?.metadata.deletionTimestamp).toBeUndefined();
      expect((await w.store.events.items()).filter((e) => e.involved.name === revived && e.reason === 'HostNotReady')).toEqual([]);
    });

    it('a transaction of the pass that fails loses only its own hosts: the other batches are NotReady and evicted in that pass; the failed ones are retried', async () => {
      const { w, onDoomed, doomedHosts } = await burst(120, 240);
      let failedHosts: string[] | undefined;
      let othersAtRetry: { notReady: number; evicted: number } | undefined;
      w.hooks.beforeTxn = async (_compare, ops) => {
        const marking = ops.flatMap((o) => (o.type === 'put' && o.key.startsWith(HOSTS) && (JSON.parse(o.value) as Host).status?.ready === false ? [o.key.slice(HOSTS.length)] : []));
        if (marking.length === 0) return;
        if (failedHosts === undefined) {
          failedHosts = marking;
          throw new Error('store unavailable: injected');
        }
        if (othersAtRetry === undefined && marking.some((h) => failedHosts!.includes(h))) {
          // the retry of the failed batch: by now the other batches' hosts were written, and their instances evicted
          const others = doomedHosts.filter((h) => !failedHosts!.includes(h));
          const hosts = await w.kv.range(HOSTS);
          const instances = (await w.store.instances.items()).filter((i) => others.includes(i.spec.host));
          othersAtRetry = {
            notReady: hosts.items.filter((kv) => others.includes(kv.key.slice(HOSTS.length)) && (JSON.parse(kv.value) as Host).status?.ready === false).length,
            evicted: onDoomed.filter((o) => others.includes(o.spec.host) && instances.find((i) => i.metadata.name === o.metadata.name)?.metadata.deletionTimestamp !== undefined).length,
          };
        }
      };
      await w.until('all 240 Running on the live hosts', async () => (await runningOn(w, 'lives-')).length === 240, 120_000);
      expect(failedHosts).toHaveLength(50);
      const others = doomedHosts.filter((h) => !failedHosts!.includes(h));
      expect(othersAtRetry).toEqual({ notReady: others.length, evicted: onDoomed.filter((o) => others.includes(o.spec.host)).length });
      expect((await w.store.hosts.items()).filter((h) => h.metadata.name.startsWith('dies-') && h.status?.ready !== false)).toEqual([]);
      const all = await w.store.instances.items();
      for (const o of onDoomed) expect(all.find((i) => i.metadata.name === o.metadata.name)?.metadata.deletionReason).toBe(`host ${o.spec.host} is NotReady`);
    });
  });
});


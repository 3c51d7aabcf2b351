// The agent core against the controllers, on a fake clock: a memory store (whose TTL leases
// run on the same fake clock: the store's time), one fake runtime for the controllers (it
// must never see an agent host) and one per agent (what runs on that host).
import { settle } from '@flotilla/reconcile/testing';
import type { Clock } from '@flotilla/reconcile';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ClusterStore,
  HollowRuntime,
  HostAgent,
  MemoryKvStore,
  hostLeaseKey,
  isClusterError,
  readHostLease,
  type HostAgentOptions,
  type KvStore,
} from '../../src/index.js';
import { FakeRuntime } from '../../src/testing/index.js';
import { fakeCluster, webYaml, type FakeCluster } from '../fake-cluster.js';

const hosts = (agent: string[], plain: string[] = []): string =>
  [...agent.map((n) => [n, true] as const), ...plain.map((n) => [n, false] as const)]
    .map(
      ([n, a]) => `apiVersion: flotilla.dev/v1
kind: Host
metadata: {name: ${n}}
spec: {address: 127.0.0.9, capacity: {cpu: 4, memory: 8Gi}${a ? ', agent: true' : ''}}
`,
    )
    .join('---\n');

const web = (replicas: number, version = 'v1'): string => webYaml(replicas, { env: version });

interface World extends Omit<FakeCluster, 'startControllers'> {
  /** The controllers' runtime: ssh in real life. */
  ssh: FakeRuntime;
  agent(host: string, runtime: FakeRuntime | HollowRuntime, extra?: Partial<HostAgentOptions>): { agent: HostAgent; stop(): Promise<void>; done: Promise<void> };
}

let world: World | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

function startWorld(options: { storeKv?: (kv: MemoryKvStore) => KvStore } = {}): World {
  const c = fakeCluster();
  const ssh = new FakeRuntime();
  c.startControllers({ runtime: ssh, seed: 7, hostProbeIntervalMs: 1000, hostGracePeriodMs: 5000, agentGracePeriodMs: 40_000, retryUnschedulableMs: 1000 });
  return {
    ...c,
    ssh,
    agent(host, runtime, extra = {}) {
      const agent = new HostAgent({
        store: options.storeKv ? c.storeOn(options.storeKv(c.kv)) : c.store,
        host,
        runtime,
        identity: `id-${host}`,
        about: { version: '0.0.0-test', machine: 'test-machine', address: '127.0.0.9', pid: 4242 },
        clock: c.clock,
        leaseDurationSeconds: 40,
        syncIntervalMs: 500,
        ...extra,
      });
      return { agent, ...c.background((signal) => agent.run(signal)) };
    },
  };
}

const live = async (w: World) => (await w.store.instances.items()).filter((i) => i.metadata.deletionTimestamp === undefined);

describe('HostAgent with the controllers', () => {
  it('runs the instances of its host: the controllers never touch the agent host, the agent starts them and reports Running', async () => {
    const w = (world = startWorld());
    await w.apply(hosts(['a1']));
    const onA1 = new FakeRuntime();
    w.agent('a1', onA1);
    await w.apply(web(3));
    await w.until('3 ready on a1', async () => (await live(w)).filter((i) => i.status?.ready).length === 3);
    expect(onA1.running('a1')).toHaveLength(3);
    expect(w.ssh.calls).toEqual([]); // never probed, started or observed over "ssh"
    const host = await w.store.hosts.get('a1');
    expect(host?.status?.ready).toBe(true);
    expect(host?.status?.agent).toMatchObject({ identity: 'id-a1', machine: 'test-machine', address: '127.0.0.9' });
    const lease = await readHostLease(w.kv, 'a1');
    expect(lease?.record).toMatchObject({ host: 'a1', holderIdentity: 'id-a1', leaseDurationSeconds: 40 });
    // heals: a killed command is restarted by the host's supervisor and reported
    const victim = onA1.running('a1')[0]!;
    onA1.kill(victim.name);
    await w.until('restart reported', async () => (await w.store.instances.get(victim.name))?.status?.restarts === 1);
    // rolls out v2 with the replica set logic unchanged
    await w.apply(web(3, 'v2'));
    await w.until('v2 everywhere', async () => {
      const l = await live(w);
      return l.length === 3 && l.every((i) => i.spec.template.env?.VERSION === 'v2' && i.status?.ready) && onA1.running('a1').length === 3;
    });
    expect(w.ssh.calls).toEqual([]);
  });

  it("a Service's render: file is written by the agent on its own host (never over ssh), the same file as the controllers write to an agentless host", async () => {
    const w = (world = startWorld());
    await w.apply(hosts(['a1'], ['p1']));
    const onA1 = new FakeRuntime();
    w.agent('a1', onA1);
    await w.apply(`${web(4)}---
apiVersion: flotilla.dev/v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, port: http, render: {hosts: "!norender", path: web.endpoints}}
`);
    const file = (rt: FakeRuntime, host: string) => rt.files.get(`${host}:web.endpoints`);
    const lines = (text: string | undefined) => (text ?? '').split('\n').filter(Boolean).sort();
    await w.until('4 endpoints rendered on both hosts', () => lines(file(onA1, 'a1')).length === 4 && lines(file(w.ssh, 'p1')).length === 4);
    expect(file(onA1, 'a1')).toBe(file(w.ssh, 'p1'));
    expect(w.ssh.files.has('a1:web.endpoints')).toBe(false); // the controllers never wrote to the agent host
    const svc = await w.store.services.get('web');
    expect(svc?.status?.rendered?.a1).toMatch(/^[0-9a-f]{16}$/);
    expect(svc?.status?.rendered?.a1).toBe(svc?.status?.rendered?.p1);
    expect((await w.store.events.items()).some((e) => e.involved.name === 'web' && e.reason === 'Rendered' && e.message.endsWith('(agent)'))).toBe(true);
    // endpoints change → the agent writes the new file
    await w.apply(`${web(2)}`);
    await w.until('2 endpoints rendered on the agent host', () => lines(file(onA1, 'a1')).length === 2);
    await w.until('status.rendered follows', async () => {
      const s = await w.store.services.get('web');
      return s?.status?.rendered?.a1 === s?.status?.rendered?.p1 && lines(file(w.ssh, 'p1')).length === 2;
    });
    expect(w.ssh.files.has('a1:web.endpoints')).toBe(false);
  });

  it('writes status only when something changed: at rest, only lease keep-alives', async () => {
    const w = (world = startWorld());
    await w.apply(hosts(['a1']));
    const onA1 = new FakeRuntime();
    const { agent } = w.agent('a1', onA1, { renewIntervalMs: 10_000 });
    const hostWrites = agent.state().statusWrites;
    await w.apply(web(2));
    await w.until('2 ready', async () => (await live(w)).filter((i) => i.status?.ready).length === 2);
    // each instance's status was written at least once (started, then ready): counted
    expect(agent.state().statusWrites - hostWrites).toBeGreaterThanOrEqual(2);
    await w.until('settled', () => true, 5000);
    await w.clock.advanceAsync(3000);
    await settle(5);
    const writes = agent.state().statusWrites;
    const revision = w.kv.revision;
    const renewals = agent.state().renewals;
    for (let i = 0; i < 60; i++) await w.clock.advanceAsync(1000); // a minute at rest
    await settle(5);
    expect(agent.state().statusWrites).toBe(writes);
    expect(agent.state().renewals - renewals).toBeGreaterThanOrEqual(5);
    // the only revisions in that minute: none from the agent (keep-alives change no key), none from the controllers
    expect(w.kv.revision).toBe(revision);
  });

  it('an agent for a Host that does not exist is refused, naming the host and how to add it', async () => {
    const w = (world = startWorld());
    const agent = new HostAgent({ store: w.store, host: 'ghost', runtime: new FakeRuntime(), identity: 'x', about: { version: '0', machine: 'm', address: '127.0.0.1', pid: 1 }, clock: w.clock });
    const e = await agent.start().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isClusterError(e) && e.code).toBe('host-not-found');
    expect((e as Error).message).toMatch(/host ghost does not exist in the store: add it first .*flo host join ghost/);
  });

  it('a store without TTL leases is refused with the stores that have them', () => {
    const kv = new MemoryKvStore();
    const plain: KvStore = { get: (k) => kv.get(k), range: (p) => kv.range(p), put: (k, v, o) => kv.put(k, v, o), delete: (k, o) => kv.delete(k, o), watch: (p, o) => kv.watch(p, o), close: () => kv.close() };
    expect(() => new HostAgent({ store: new ClusterStore(plain), storeName: 'file:///tmp/s', host: 'a1', runtime: new FakeRuntime(), identity: 'x', about: { version: '0', machine: 'm', address: '127.0.0.1', pid: 1 } })).toThrow(
      /the store file:\/\/\/tmp\/s has no TTL leases, which agents need .*flotilla:\/\/.*etcd:\/\//,
    );
  });

  it('two agents claiming one host: the second is refused through the lease, naming the first', async () => {
    const w = (world = startWorld());
    await w.apply(hosts(['a1']));
    w.agent('a1', new FakeRuntime());
    await w.until('lease held', async () => (await readHostLease(w.kv, 'a1')) !== undefined);
    const second = new HostAgent({ store: w.store, host: 'a1', runtime: new FakeRuntime(), identity: 'intruder', about: { version: '0', machine: 'other', address: '127.0.0.1', pid: 2 }, clock: w.clock });
    const e = await second.start().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isClusterError(e) && e.code).toBe('host-claimed');
    expect((e as Error).message).toMatch(/host a1 is already claimed by another agent \(identity id-a1, pid 4242 on test-machine/);
    expect((await readHostLease(w.kv, 'a1'))?.record.holderIdentity).toBe('id-a1');
  });

  it('an agent that dies: its lease expires by the store\'s TTL, the host goes NotReady and its instances move; restarted, it stops the evicted ones', async () => {
    const w = (world = startWorld());
    await w.apply(hosts(['a1'], ['p1']));
    await w.store.hosts.mutate('p1', (h) => ({ ...h, spec: { ...h.spec, unschedulable: true } }));
    const onA1 = new FakeRuntime();
    const first = w.agent('a1', onA1);
    await w.apply(web(2));
    await w.until('2 ready on a1', async () => (await live(w)).filter((i) => i.status?.ready && i.spec.host === 'a1').length === 2);
    await w.store.hosts.mutate('p1', (h) => ({ ...h, spec: { ...h.spec, unschedulable: false } }));
    await first.stop(); // the agent is gone (SIGKILL): nobody renews; its instances keep running on a1
    const stoppedAt = w.clock.now();
    await w.until('a1 NotReady', async () => (await w.store.hosts.get('a1'))?.status?.ready === false, 120_000);
    const after = w.clock.now() - stoppedAt;
    expect(after).toBeGreaterThanOrEqual(30_000); // the last renewal was ≤ 10 s before the stop; TTL 40 s
    expect(after).toBeLessThanOrEqual(45_000);
    expect((await w.store.hosts.get('a1'))?.status?.message).toMatch(/lease expired in the store/);
    await w.until('2 ready on p1', async () => (await live(w)).filter((i) => i.status?.ready && i.spec.host === 'p1').length === 2);
    expect(onA1.running('a1')).toHaveLength(2); // cannot be told yet
    w.agent('a1', onA1); // restarted (same identity)
    await w.until('evicted ones stopped on a1', async () => onA1.running('a1').length === 0 && (await w.store.instances.items()).every((i) => i.spec.host !== 'a1'));
    await w.until('a1 Ready again', async () => (await w.store.hosts.get('a1'))?.status?.ready === true);
  });

  it('an agent restarted (SIGKILL) adopts its running instances: none started twice, none restarted', async () => {
    const w = (world = startWorld());
    await w.apply(hosts(['a1']));
    const onA1 = new FakeRuntime();
    const first = w.agent('a1', onA1);
    await w.apply(web(3));
    await w.until('3 ready', async () => (await live(w)).filter((i) => i.status?.ready).length === 3);
    const pids = onA1.running('a1').map((p) => p.pid).sort();
    const startsBefore = onA1.calls.filter((c) => c.startsWith('start')).length;
    await first.stop();
    await w.clock.advanceAsync(5000);
    const second = w.agent('a1', onA1);
    await w.until('synced', () => second.agent.state().instances === 3);
    for (let i = 0; i < 10; i++) await w.clock.advanceAsync(1000);
    await settle(5);
    expect(onA1.calls.filter((c) => c.startsWith('start')).length).toBe(startsBefore);
    expect(onA1.running('a1').map((p) => p.pid).sort()).toEqual(pids);
    expect((await live(w)).every((i) => i.status?.ready && i.status.restarts === 0)).toBe(true);
    expect((await w.store.hosts.get('a1'))?.status?.ready).toBe(true); // taken over within the TTL: never NotReady
    expect((await readHostLease(w.kv, 'a1'))?.record.pid).toBe(4242);
  });

  it('the store goes away under the agent: instances keep running and healing, the outage is reported once and its end once', async () => {
    let down = false;
    const states: string[] = [];
    const flaky = (kv: MemoryKvStore): KvStore =>
      new Proxy(kv, {
        get(t, prop, receiver) {
          const v: unknown = Reflect.get(t, prop, receiver);
          if (typeof v !== 'function') return v;
          return (...args: unknown[]) => {
            if (down && prop !== 'close') {
              const e = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:2479'), { name: 'ClusterError', code: 'store-unavailable' });
              return prop === 'watch' ? { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(e) }) } : Promise.reject(e);
            }
            return (v as (...a: unknown[]) => unknown).apply(t, args);
          };
        },
      });
    const w = (world = startWorld({ storeKv: flaky }));
    await w.apply(hosts(['a1']));
    const onA1 = new FakeRuntime();
    w.agent('a1', onA1, { renewIntervalMs: 5000, onStoreState: (s) => states.push(s.reachable ? 'back' : 'down') });
    await w.apply(web(2));
    await w.until('2 ready', async () => (await live(w)).filter((i) => i.status?.ready).length === 2);
    down = true;
    const victim = onA1.running('a1')[0]!;
    for (let i = 0; i < 20; i++) await w.clock.advanceAsync(1000);
    onA1.kill(victim.name); // restarted by the host's supervisor while the store is away
    for (let i = 0; i < 10; i++) await w.clock.advanceAsync(1000);
    expect(onA1.running('a1')).toHaveLength(2);
    expect(states).toEqual(['down']);
    down = false; // back within the TTL (30 s < 40 s): the lease never expired
    await w.until('back', () => states.length === 2);
    expect(states).toEqual(['down', 'back']);
    await w.until('the restart reported', async () => (await w.store.instances.get(victim.name))?.status?.restarts === 1);
    expect((await w.store.hosts.get('a1'))?.status?.ready).toBe(true);
    expect(await w.kv.get(hostLeaseKey('a1'))).toBeDefined();
  });

  it('a store restarted within one call\'s retry window (the client only retried): the outage and its end are still reported, once each', async () => {
    const states: string[] = [];
    const w = (world = startWorld());
    await w.apply(hosts(['a1']));
    const onA1 = new FakeRuntime();
    const { agent } = w.agent('a1', onA1, { renewIntervalMs: 5000, onStoreState: (s) => states.push(s.reachable ? 'back' : 'down') });
    await w.until('lease held', () => agent.state().leaseHeld);
    // the client's retry hook fires (connection refused) while every call still succeeds in the end
    agent.storeRetrying('http://127.0.0.1:2479: connection refused');
    agent.storeRetrying('http://127.0.0.1:2479: connection refused');
    expect(states).toEqual(['down']);
    expect(agent.state().storeReachable).toBe(false);
    await w.until('the next renewal says it is back', () => states.length === 2);
    expect(states).toEqual(['down', 'back']);
    expect(agent.state().storeReachable).toBe(true);
    // a later outage is reported again (nothing latched)
    agent.storeRetrying('http://127.0.0.1:2479: no-leader');
    await w.until('back again', () => states.length === 4);
    expect(states).toEqual(['down', 'back', 'down', 'back']);
  });

  it("a host clock skewed by minutes changes nothing: the lease is the store's, the host stays Ready", async () => {
    const w = (world = startWorld());
    await w.apply(hosts(['a1']));
    const skewed: Clock = { now: () => w.clock.now() + 7 * 60_000, setTimer: (cb, ms) => w.clock.setTimer(cb, ms) };
    const onA1 = new FakeRuntime();
    w.agent('a1', onA1, { clock: skewed });
    await w.apply(web(2));
    await w.until('2 ready', async () => (await live(w)).filter((i) => i.status?.ready).length === 2);
    for (let i = 0; i < 120; i++) await w.clock.advanceAsync(1000);
    await settle(5);
    expect((await w.store.hosts.get('a1'))?.status?.ready).toBe(true);
    expect((await live(w)).every((i) => i.status?.ready)).toBe(true);
    // the agent's own timestamps are its clock's (7 minutes ahead): written, never compared
    expect(Date.parse((await readHostLease(w.kv, 'a1'))!.record.acquireTime) - Date.UTC(2026, 0, 1)).toBeGreaterThanOrEqual(7 * 60_000);
  });

  it('a hollow host reports its instances Running at once and runs nothing', async () => {
    const w = (world = startWorld());
    await w.apply(hosts(['hollow-1']));
    const hollow = new HollowRuntime();
    w.agent('hollow-1', hollow);
    await w.apply(web(4).replace(/ {6}healthCheck.*\n/, ''));
    await w.until('4 Running', async () => (await live(w)).filter((i) => i.status?.phase === 'Running').length === 4);
    expect(hollow.size).toBe(4);
  });
});

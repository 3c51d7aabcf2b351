// The controllers read from informer caches (issue 15): list once, then watch; their own
// writes are waited for before the next decision, so a slow watch never makes them act twice.
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterCaches, ClusterControllers, ClusterStore, applyManifests, parseManifests, MemoryKvStore as MemoryKv, type Instance, type KvStore, type KvWatchEvent, type KvWatchOptions, type MemoryKvStore } from '../../src/index.js';
import { FakeRuntime } from '../../src/testing/index.js';
import { fakeCluster } from '../fake-cluster.js';
import { converged, hostsYaml, startHarness, webYaml, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/** A KV that counts reads per kind and can hold back the watch events of one prefix. */
class Instrumented {
  readonly ranges = new Map<string, number>();
  /** Ranges with a limit: the informers' list pages (a reconcile's `items()` reads everything at once). */
  readonly pages = new Map<string, number>();
  readonly gets = new Map<string, number>();
  /** While true, every write to a leader lease fails (the store does not answer the renewal). */
  failLeaseWrites = false;
  /** While true, transactions wait (until `releaseTxns`): a reconcile stays in flight. */
  stallTxns = false;
  readonly #stalledTxns: (() => void)[] = [];
  /** While set, watch events under this prefix wait (a lagging watch). */
  hold: string | undefined;
  #released: (() => void)[] = [];

  wrap(kv: MemoryKvStore): KvStore {
    const kind = (key: string): string => key.split('/')[3] ?? key;
    return new Proxy(kv, {
      get: (target, prop, receiver) => {
        if (prop === 'range')
          return (prefix: string, options?: unknown) => {
            this.ranges.set(kind(prefix), (this.ranges.get(kind(prefix)) ?? 0) + 1);
            if ((options as { limit?: number } | undefined)?.limit !== undefined) this.pages.set(kind(prefix), (this.pages.get(kind(prefix)) ?? 0) + 1);
            return target.range(prefix, options as never);
          };
        if (prop === 'get')
          return (key: string) => {
            this.gets.set(kind(key), (this.gets.get(kind(key)) ?? 0) + 1);
            return target.get(key);
          };
        if (prop === 'watch') return (prefix: string, options?: KvWatchOptions) => this.#watch(target, prefix, options);
        if (prop === 'txn')
          return async (...args: Parameters<NonNullable<KvStore['txn']>>) => {
            if (this.stallTxns) await new Promise<void>((r) => this.#stalledTxns.push(r));
            return target.txn(...args);
          };
        if (prop === 'put')
          return (key: string, value: string, options?: unknown) =>
            this.failLeaseWrites && key.startsWith('/flotilla/v1/leases/')
              ? Promise.reject(Object.assign(new Error(`etcd: no answer within 10 s for put ${key}`), { name: 'ClusterError', code: 'store-unavailable' }))
              : target.put(key, value, options as never);
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  async *#watch(kv: MemoryKvStore, prefix: string, options?: KvWatchOptions): AsyncIterable<KvWatchEvent> {
    for await (const ev of kv.watch(prefix, options)) {
      while (this.hold !== undefined && prefix.startsWith(this.hold)) await new Promise<void>((r) => this.#released.push(r));
      yield ev;
    }
  }

  get stalledTxns(): number {
    return this.#stalledTxns.length;
  }

  releaseTxns(): void {
    this.stallTxns = false;
    for (const r of this.#stalledTxns.splice(0)) r();
  }

  release(): void {
    this.hold = undefined;
    for (const r of this.#released.splice(0)) r();
  }

  reads(kind: string): number {
    return (this.ranges.get(kind) ?? 0) + (this.gets.get(kind) ?? 0);
  }

  reset(): void {
    this.ranges.clear();
    this.gets.clear();
  }
}

describe('controllers on informer caches', () => {
  it('at rest, probing and reconciling read no host, instance or replica set from the store; without caches they re-list every time', async () => {
    const perMode: Record<string, { instances: number; hosts: number; replicasets: number }> = {};
    for (const caches of [true, false]) {
      const kv = new Instrumented();
      h = await startHarness({ caches, wrapKv: (m) => kv.wrap(m) });
      await h.apply(hostsYaml(3));
      await h.apply(webYaml(4));
      await h.until('4 ready', () => converged(h!, 'web', 4));
      kv.reset();
      // 20 s of fake time: 3 hosts probed every second, 4 instances observed and health-checked
      for (let i = 0; i < 40; i++) await h.clock.advanceAsync(500);
      perMode[String(caches)] = { instances: kv.reads('instances'), hosts: kv.reads('hosts'), replicasets: kv.reads('replicasets') };
      await h.stop();
      h = undefined;
    }
    expect(perMode.true).toEqual({ instances: 0, hosts: 0, replicasets: 0 });
    // the peer: every host probe lists every instance (3 hosts × 20 probes at least)
    expect(perMode.false!.instances).toBeGreaterThanOrEqual(60);
    expect(perMode.false!.hosts).toBeGreaterThanOrEqual(60);
  });

  it('a replica set does not create instances twice while the instance watch lags behind its own creates', async () => {
    const kv = new Instrumented();
    h = await startHarness({ wrapKv: (m) => kv.wrap(m) });
    await h.apply(hostsYaml(3));
    await h.until('hosts ready', async () => (await h!.store.hosts.items()).every((x) => x.status?.ready === true));
    kv.hold = '/flotilla/v1/instances/';
    await h.apply(webYaml(3));
    let most = 0;
    // 30 s of fake time with the instance watch frozen: the replica set's status writes and
    // retries reconcile it again and again; it must wait for its creates, not repeat them
    for (let i = 0; i < 60; i++) {
      await h.clock.advanceAsync(500);
      most = Math.max(most, (await h.store.instances.items()).length);
    }
    expect(most).toBe(3);
    kv.release();
    await h.until('3 ready', () => converged(h!, 'web', 3));
    expect(await h.store.instances.items()).toHaveLength(3);
  });

  it('a leader that loses its lease and wins it back keeps its caches: no second list of hosts, instances, replica sets or services', async () => {
    const kv = new Instrumented();
    const c = fakeCluster({ leasesOnFakeClock: false, wrapKv: (m) => kv.wrap(m) });
    const runtime = new FakeRuntime();
    const controllers = new ClusterControllers({ store: c.store, runtime, clock: c.clock, hostProbeIntervalMs: 1000 });
    const terms: boolean[] = [];
    const abort = new AbortController();
    const running = controllers.runWithLeaderElection({ identity: 'a', signal: abort.signal, onLeading: (l) => terms.push(l) });
    // the test reads and writes around the counting wrapper
    const raw = c.storeOn(c.kv);
    const apply = (yaml: string): Promise<unknown> => applyManifests(raw, parseManifests(yaml).objects);
    try {
      await apply(hostsYaml(3));
      await apply(webYaml(4));
      const h = { store: raw, runtime } as unknown as Harness;
      await c.until('4 ready', () => converged(h, 'web', 4));
      expect(terms).toEqual([true]);
      const lists = (): Record<string, number | undefined> => Object.fromEntries(['hosts', 'instances', 'replicasets', 'services', 'hostleases'].map((k) => [k, kv.pages.get(k)]));
      const listed = lists();
      // one list (of one page) per kind
      expect(listed).toEqual({ hosts: 1, instances: 1, replicasets: 1, services: 1, hostleases: 1 });
      const instanceReads = kv.ranges.get('instances');
      // the store stops answering the lease's renewals: after the renew deadline (10 s) the
      // controller stops leading; once it answers again, the controller leads again
      // — with a reconcile of the first term still in flight (its creates wait in the store)
      // when the second term starts, and ending during it
      kv.stallTxns = true;
      await apply(webYaml(6));
      await c.until('a create in flight', () => kv.stalledTxns > 0);
      kv.failLeaseWrites = true;
      await c.until('leadership lost', () => terms.length === 2);
      expect(terms).toEqual([true, false]);
      // meanwhile the world changes: the caches follow it while not leading
      await apply(webYaml(7));
      kv.failLeaseWrites = false;
      await c.until('leading again', () => terms.length === 3);
      expect(terms).toEqual([true, false, true]);
      kv.releaseTxns();
      await c.until('7 ready', () => converged(h, 'web', 7));
      await apply(webYaml(9));
      await c.until('9 ready', () => converged(h, 'web', 9));
      expect(lists()).toEqual(listed);
      // and the second term read no instance from the store at all (caches; the index is checked once per store)
      expect(kv.ranges.get('instances')).toBe(instanceReads);
    } finally {
      abort.abort();
      for (let i = 0; i < 30; i++) await c.clock.advanceAsync(1000);
      await running;
      await c.stop();
    }
  });

  it('caughtUp waits for every object of a transaction, not only the first of its revision (120 creates in transactions of 50)', async () => {
    const store = new ClusterStore(new MemoryKv({ progressIntervalMs: 0 }));
    const caches = new ClusterCaches(store);
    const abort = new AbortController();
    const running = caches.run(abort.signal);
    try {
      expect(await caches.waitForSync(abort.signal)).toBe(true);
      for (let round = 0; round < 5; round++) {
        const instances = Array.from(
          { length: 120 },
          (_, k): Instance => ({
            apiVersion: 'flotilla.dev/v1',
            kind: 'Instance',
            metadata: { name: `r${round}-${k}` },
            spec: { replicaSet: `rs-${round}`, host: `h${k % 7}`, command: ['node', 'server.js'], templateHash: 'x' },
          }) as unknown as Instance,
        );
        const results = await store.instances.createMany(instances);
        // every object of one transaction carries its revision: 3 revisions for 120 objects
        expect(new Set(results.map((r) => (r instanceof Error ? r.message : r.metadata.resourceVersion))).size).toBe(3);
        for (const r of results) if (!(r instanceof Error)) caches.wrote('instances', r.metadata.resourceVersion);
        expect(await caches.caughtUp(5000)).toBe(true);
        expect(await caches.instancesOf(`rs-${round}`)).toHaveLength(120);
      }
    } finally {
      abort.abort();
      await running;
      await store.kv.close();
    }
  });

  it('without caches the controllers still converge, scale and heal (the peer path stays correct)', async () => {
    h = await startHarness({ caches: false });
    await h.apply(hostsYaml(3));
    await h.apply(webYaml(3));
    await h.until('3 ready', () => converged(h!, 'web', 3));
    await h.apply(webYaml(5));
    await h.until('5 ready', () => converged(h!, 'web', 5));
    const victim = h.runtime.running()[0]!;
    h.runtime.vanish(victim.name);
    await h.until('healed', () => converged(h!, 'web', 5));
  });
});

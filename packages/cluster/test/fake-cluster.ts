// Test-only fixture (not part of the package's front door): a cluster on a fake clock — a
// memory store, the controllers, agents or hollow fleets running beside them — and the
// manifests and KV wrappers that the agent and controller tests share.
import { FakeClock, settle } from '@flotilla/reconcile/testing';
import { seededRandom } from '@flotilla/reconcile';
import { ClusterControllers, ClusterStore, MemoryKvStore, applyManifests, parseManifests, type ClusterControllersOptions, type KvStore } from '../src/index.js';

export interface FakeCluster {
  readonly clock: FakeClock;
  /** The memory KV under every store of this cluster. */
  readonly kv: MemoryKvStore;
  /** A store on `kv` (or on `wrapKv(kv)`), its times from the fake clock. */
  readonly store: ClusterStore;
  /** Another store on `kv`, its times from the fake clock: e.g. over a wrapper that records what one party writes. */
  storeOn(kv: KvStore): ClusterStore;
  /** Parses `yaml` (throws on any issue) and applies it through `store`. */
  apply(yaml: string): Promise<void>;
  /**
   * Advances fake time in steps of 100 ms, letting the work settle after each, until `cond`
   * holds; returns the fake time that took. Throws with `what` after `maxMs` of fake time.
   */
  until(what: string, cond: () => Promise<boolean> | boolean, maxMs?: number): Promise<number>;
  /**
   * Starts the controllers (seeded randomness, this cluster's clock and, unless given, its
   * store). Stopped by `stop()` of the handle or of the cluster.
   */
  startControllers(options: Omit<ClusterControllersOptions, 'clock' | 'store'> & { store?: ClusterStore; seed: number }): Controllers;
  /** Runs `run` (an agent's or a fleet's) until the handle or the cluster stops; `done` is what it returned. */
  background(run: (signal: AbortSignal) => Promise<void>): Background;
  /** Stops what runs in the background (in the order started), then the controllers (advancing 50 s of fake time while they wind down), then closes the KV. */
  stop(): Promise<void>;
}

export interface Background {
  done: Promise<void>;
  /** Aborts the run and waits for it to end (its error, if any, is dropped). */
  stop(): Promise<void>;
}

export interface Controllers {
  controllers: ClusterControllers;
  /** Aborts the controllers and waits for them to end, advancing 1 s of fake time meanwhile. */
  stop(): Promise<void>;
}

export interface FakeClusterOptions {
  /** The store expires TTL leases on the fake clock (agents' leases). `false`: the KV's leases run on real time. @default true */
  leasesOnFakeClock?: boolean;
  /** Wraps the memory KV that `store` uses (to count or delay what reaches it). */
  wrapKv?: (kv: MemoryKvStore) => KvStore;
}

export function fakeCluster(options: FakeClusterOptions = {}): FakeCluster {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const kv = new MemoryKvStore({ progressIntervalMs: 0, ...(options.leasesOnFakeClock === false ? {} : { now: () => clock.now() }) });
  const storeOn = (k: KvStore): ClusterStore => new ClusterStore(k, { now: () => new Date(clock.now()) });
  const store = storeOn(options.wrapKv ? options.wrapKv(kv) : kv);
  const backgrounds: Background[] = [];
  const controllers: { abort: AbortController; running: Promise<void> }[] = [];
  return {
    clock,
    kv,
    store,
    storeOn,
    async apply(yaml) {
      const r = parseManifests(yaml);
      if (r.issues.length > 0) throw new Error(JSON.stringify(r.issues));
      await applyManifests(store, r.objects);
    },
    async until(what, cond, maxMs = 120_000) {
      const start = clock.now();
      for (;;) {
        await settle(5);
        if (await cond()) return clock.now() - start;
        if (clock.now() - start > maxMs) throw new Error(`not reached after ${maxMs} ms of fake time: ${what}`);
        await clock.advanceAsync(100);
      }
    },
    startControllers({ seed, store: own, ...rest }) {
      const c = new ClusterControllers({ store: own ?? store, clock, random: seededRandom(seed), ...rest });
      const entry = { abort: new AbortController(), running: Promise.resolve() };
      entry.running = c.run(entry.abort.signal);
      controllers.push(entry);
      return {
        controllers: c,
        async stop() {
          const i = controllers.indexOf(entry);
          if (i < 0) return;
          controllers.splice(i, 1);
          entry.abort.abort();
          for (let k = 0; k < 10; k++) await clock.advanceAsync(100);
          await entry.running;
        },
      };
    },
    background(run) {
      const a = new AbortController();
      const done = run(a.signal);
      const handle: Background = {
        done,
        async stop() {
          a.abort();
          await done.catch(() => undefined);
        },
      };
      backgrounds.push(handle);
      return handle;
    },
    async stop() {
      for (const b of backgrounds) await b.stop();
      const left = controllers.splice(0);
      for (const c of left) c.abort.abort();
      for (let i = 0; i < 50; i++) await clock.advanceAsync(1000);
      for (const c of left) await c.running;
      await kv.close();
    },
  };
}

/**
 * `kv` with some of its methods replaced: each override is called in place of the method
 * (call the original on `kv` itself); `null` hides the method (e.g. a store without `txn`).
 * Every other method is `kv`'s own, bound to it.
 */
export function interceptKv<S extends object>(kv: S, overrides: { [K in keyof S]?: S[K] | null }): S {
  return new Proxy(kv, {
    get: (target, prop, receiver) => {
      if (Object.prototype.hasOwnProperty.call(overrides, prop)) return (overrides as Record<string | symbol, unknown>)[prop] ?? undefined;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** A ReplicaSet of `node server.js` with one port `http`. @default resources 100m / 64Mi, an HTTP health check every second */
export function replicaSetYaml(name: string, replicas: number, options: { cpu?: string; memory?: string; healthCheck?: boolean } = {}): string {
  return `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: ${name}}
spec:
  replicas: ${replicas}
  selector: "app=${name}"
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      command: [node, server.js]
      ports: [{name: http}]
      resources: {cpu: ${options.cpu ?? '100m'}, memory: ${options.memory ?? '64Mi'}}
${options.healthCheck === false ? '' : '      healthCheck: {http: {path: /healthz, port: http}, periodSeconds: 1}\n'}`;
}

/** The ReplicaSet `web` (500m / 256Mi, env VERSION, health-checked, rolling one at a time unless `strategy` says otherwise). */
export function webYaml(replicas: number, options: { env?: string; health?: boolean; strategy?: string } = {}): string {
  return `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: ${replicas}
  selector: "app=web"
  ${options.strategy ?? 'updateStrategy: {maxUnavailable: 1, maxSurge: 1}'}
  template:
    metadata: {labels: {app: web}}
    spec:
      command: [node, server.js]
      env: {VERSION: "${options.env ?? 'v1'}"}
      ports: [{name: http}]
      resources: {cpu: 500m, memory: 256Mi}
${options.health === false ? '' : '      healthCheck: {http: {path: /healthz, port: http}, periodSeconds: 1, failureThreshold: 2}\n'}`;
}

// A cluster on a fake clock: memory store, fake runtime, all four controllers.
import { FakeClock, settle } from '@flotilla/reconcile/testing';
import { seededRandom } from '@flotilla/reconcile';
import { ClusterControllers, ClusterStore, MemoryKvStore, applyManifests, parseManifests, type HostNetworkDriver, type KvStore } from '../../src/index.js';
import { FakeRuntime, type FakeRuntimeOptions } from '../../src/testing/index.js';

export interface Harness {
  store: ClusterStore;
  runtime: FakeRuntime;
  clock: FakeClock;
  controllers: ClusterControllers;
  stop(): Promise<void>;
  apply(yaml: string): Promise<void>;
  /** Advances fake time in steps until `cond` holds; throws with `what` after `maxMs` of fake time. */
  until(what: string, cond: () => Promise<boolean> | boolean, maxMs?: number): Promise<number>;
}

export function hostsYaml(n: number, extra = ''): string {
  return Array.from(
    { length: n },
    (_, i) => `apiVersion: flotilla.dev/v1
kind: Host
metadata: {name: h${i + 1}, labels: {zone: ${i % 2 === 0 ? 'a' : 'b'}${i === 0 ? ', role: lb' : ''}}}
spec: {address: 127.0.0.${11 + i}, capacity: {cpu: 4, memory: 8Gi}${extra}}
`,
  ).join('---\n');
}

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

export interface HarnessOptions {
  runtime?: FakeRuntimeOptions;
  hostGracePeriodMs?: number;
  progressDeadlineMs?: number;
  networkDriver?: HostNetworkDriver;
  /** ClusterControllersOptions.caches. @default true */
  caches?: boolean;
  /** Wraps the memory KV the store uses (to count or delay what reaches it). */
  wrapKv?: (kv: MemoryKvStore) => KvStore;
}

export function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const kv = new MemoryKvStore({ progressIntervalMs: 0 });
  const store = new ClusterStore(options.wrapKv ? options.wrapKv(kv) : kv, { now: () => new Date(clock.now()) });
  const runtime = new FakeRuntime(options.runtime);
  const controllers = new ClusterControllers({
    store,
    runtime,
    clock,
    random: seededRandom(42),
    hostProbeIntervalMs: 1000,
    hostGracePeriodMs: options.hostGracePeriodMs ?? 5000,
    progressDeadlineMs: options.progressDeadlineMs ?? 30_000,
    retryUnschedulableMs: 1000,
    ...(options.networkDriver ? { networkDriver: options.networkDriver } : {}),
    ...(options.caches !== undefined ? { caches: options.caches } : {}),
  });
  const abort = new AbortController();
  const running = controllers.run(abort.signal);
  const h: Harness = {
    store,
    runtime,
    clock,
    controllers,
    async stop() {
      abort.abort();
      for (let i = 0; i < 50; i++) await clock.advanceAsync(1000);
      await running;
      await kv.close();
    },
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
        if (clock.now() - start > maxMs) throw new Error(`not converged after ${maxMs} ms of fake time: ${what}`);
        await clock.advanceAsync(100);
      }
    },
  };
  return Promise.resolve(h);
}

/** Is the replica set converged: replicas instances, all ready and of the current template, none terminating? */
export async function converged(h: Harness, name: string, replicas: number): Promise<boolean> {
  const rs = await h.store.replicaSets.get(name);
  const instances = (await h.store.instances.items()).filter((i) => i.spec.replicaSet === name);
  return (
    rs?.status?.readyReplicas === replicas &&
    rs.status.replicas === replicas &&
    rs.status.observedGeneration === rs.metadata.generation &&
    instances.length === replicas &&
    instances.every((i) => i.status?.ready && i.spec.templateHash === rs.status?.currentTemplateHash) &&
    h.runtime.running().filter((p) => p.name.startsWith(`${name}-`)).length === replicas
  );
}

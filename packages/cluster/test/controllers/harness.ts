// A cluster on a fake clock: memory store, fake runtime, all four controllers.
import type { FakeClock } from '@flotilla/reconcile/testing';
import type { ClusterControllers, ClusterStore, HostNetworkDriver, KvStore, MemoryKvStore } from '../../src/index.js';
import { FakeRuntime, type FakeRuntimeOptions } from '../../src/testing/index.js';
import { fakeCluster } from '../fake-cluster.js';

export { webYaml } from '../fake-cluster.js';

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
  const c = fakeCluster({ leasesOnFakeClock: false, ...(options.wrapKv ? { wrapKv: options.wrapKv } : {}) });
  const runtime = new FakeRuntime(options.runtime);
  const { controllers } = c.startControllers({
    runtime,
    seed: 42,
    hostProbeIntervalMs: 1000,
    hostGracePeriodMs: options.hostGracePeriodMs ?? 5000,
    progressDeadlineMs: options.progressDeadlineMs ?? 30_000,
    retryUnschedulableMs: 1000,
    ...(options.networkDriver ? { networkDriver: options.networkDriver } : {}),
    ...(options.caches !== undefined ? { caches: options.caches } : {}),
  });
  return Promise.resolve({ store: c.store, runtime, clock: c.clock, controllers, stop: c.stop, apply: c.apply, until: c.until });
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

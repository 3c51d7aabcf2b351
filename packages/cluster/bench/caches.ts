// Controllers on informer caches vs re-listing the store (issue 15), in one run:
// N hosts × M instances each (one replica set of M per host's worth), an in-memory store and
// the fake runtime (so the figures are the controllers' and the store's own work), on a fake
// clock so both modes do exactly the same reconciles:
//   1. start-up: run() until every controller has reconciled every object once and is idle;
//   2. probe rounds: each round every host is probed and its instances observed (at rest).
// Reported per mode: store calls and objects read (ranges + gets), CPU ms, per reconcile.
// Run from the repo root:
//   node --conditions=@flotilla/source --import tsx packages/cluster/bench/caches.ts [--hosts 1000] [--per-host 30] [--rounds 3]
import { cpus, loadavg } from 'node:os';
import { FakeClock, settle } from '@flotilla/reconcile/testing';
import { seededRandom } from '@flotilla/reconcile';
import { API_VERSION, ClusterControllers, ClusterStore, MemoryKvStore, templateHash, type Host, type Instance, type KvStore, type ReplicaSet } from '../src/index.js';
import { FakeRuntime } from '../src/testing/index.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const hostCount = arg('hosts', 1000);
const perHost = arg('per-host', 30);
const rounds = arg('rounds', 3);
const probeMs = 1000;

/** Counts what reaches the KV: calls and objects returned, by kind (hosts, instances, …). */
class Counted {
  calls = 0;
  objects = 0;
  wrap(kv: MemoryKvStore): KvStore {
    return new Proxy(kv, {
      get: (target, prop, receiver) => {
        if (prop === 'range')
          return async (prefix: string, options?: unknown) => {
            const r = await target.range(prefix, options as never);
            this.calls++;
            this.objects += r.items.length;
            return r;
          };
        if (prop === 'get')
          return async (key: string) => {
            const r = await target.get(key);
            this.calls++;
            if (r) this.objects++;
            return r;
          };
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
}

// ---------------------------------------------------------------- the cluster, converged
const clock = new FakeClock(Date.UTC(2026, 0, 1));
const memory = new MemoryKvStore({ progressIntervalMs: 0 });
const counted = new Counted();
const store = new ClusterStore(counted.wrap(memory), { now: () => new Date(clock.now()) });
const runtime = new FakeRuntime();
const t0 = performance.now();
const template = {
  metadata: { labels: { app: 'web' } },
  spec: { command: ['node', 'server.js'], ports: [{ name: 'http' }], resources: { cpu: '10m', memory: '16Mi' } },
} as ReplicaSet['spec']['template'];
const hash = templateHash(template);
const now = new Date(clock.now()).toISOString();
for (let h = 0; h < hostCount; h++) {
  const host: Host = {
    apiVersion: API_VERSION,
    kind: 'Host',
    metadata: { name: `h${h}` },
    spec: { address: `10.0.${h >> 8}.${h & 255}`, capacity: { cpu: 64, memory: '256Gi' } },
    status: { ready: true, load1: 0.1, lastHeartbeat: now, lastTransition: now },
  };
  await store.hosts.create(host);
}
// one replica set per host's worth of instances, spread one instance per host
for (let r = 0; r < hostCount; r++) {
  const rs: ReplicaSet = {
    apiVersion: API_VERSION,
    kind: 'ReplicaSet',
    metadata: { name: `rs${r}` },
    spec: { replicas: perHost, selector: 'app=web', template },
  };
  await store.replicaSets.create(rs);
}
let n = 0;
for (let r = 0; r < hostCount; r++) {
  for (let k = 0; k < perHost; k++) {
    const host = `h${(r + k * 37) % hostCount}`;
    const name = `rs${r}-${k}`;
    const inst: Instance = {
      apiVersion: API_VERSION,
      kind: 'Instance',
      metadata: { name, labels: { app: 'web', 'flotilla.dev/replicaset': `rs${r}`, 'flotilla.dev/template-hash': hash }, creationTimestamp: now },
      spec: { replicaSet: `rs${r}`, host, templateHash: hash, template: structuredClone(template.spec) },
      status: { phase: 'Pending', ready: false, ports: {}, restarts: 0 },
    };
    const started = await runtime.start((await store.hosts.get(host))!, inst);
    inst.status = { phase: 'Running', ready: true, ports: started.ports, restarts: 0, ...(started.pid !== undefined ? { pid: started.pid } : {}), startedAt: now };
    await store.instances.create(inst);
    n++;
  }
}
console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load ${loadavg().map((l) => l.toFixed(2)).join(' ')}, node ${process.version}`);
console.log(`seeded ${hostCount} hosts, ${hostCount} replica sets, ${n} instances in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

// ---------------------------------------------------------------- one measured run per mode
interface Phase {
  reconciles: number;
  calls: number;
  objects: number;
  cpuMs: number;
  wallMs: number;
}

async function measure(caches: boolean, label: string): Promise<{ startup: Phase; probes: Phase }> {
  let reconciles = 0;
  const depth = new Map<string, number>();
  let inFlight = 0;
  const controllers = new ClusterControllers({
    store,
    runtime,
    clock,
    random: seededRandom(1),
    hostProbeIntervalMs: probeMs,
    hostGracePeriodMs: 3_600_000,
    concurrency: 8,
    caches,
    metrics: {
      reconcileDuration: () => void reconciles++,
      queueDepth: (c, d) => void depth.set(c, d),
      queueGet: () => void inFlight++,
      queueDone: () => void inFlight--,
    },
  });
  const idle = async (): Promise<void> => {
    let quiet = 0;
    while (quiet < 3) {
      await settle(3);
      quiet = inFlight === 0 && [...depth.values()].every((d) => d === 0) ? quiet + 1 : 0;
    }
  };
  const phase = async (work: () => Promise<void>): Promise<Phase> => {
    const r0 = reconciles;
    const c0 = counted.calls;
    const o0 = counted.objects;
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    await work();
    const cpu = process.cpuUsage(cpu0);
    return { reconciles: reconciles - r0, calls: counted.calls - c0, objects: counted.objects - o0, cpuMs: (cpu.user + cpu.system) / 1000, wallMs: performance.now() - w0 };
  };
  const abort = new AbortController();
  let running: Promise<void> | undefined;
  const startup = await phase(async () => {
    running = controllers.run(abort.signal);
    await settle(5);
    await idle();
  });
  const probes = await phase(async () => {
    for (let i = 0; i < rounds; i++) {
      await clock.advanceAsync(probeMs);
      await idle();
    }
  });
  abort.abort();
  await clock.advanceAsync(1000);
  await running;
  const show = (name: string, p: Phase): void =>
    console.log(
      `${label} ${name}: ${p.reconciles} reconciles, ${p.calls} store reads (${p.objects} objects), ${p.cpuMs.toFixed(0)} ms CPU, ${(p.wallMs / 1000).toFixed(1)} s wall; per reconcile ${(p.objects / p.reconciles).toFixed(1)} objects read, ${((p.cpuMs * 1000) / p.reconciles).toFixed(0)} µs CPU`,
    );
  show('start-up', startup);
  show(`${rounds} probe round(s)`, probes);
  return { startup, probes };
}

// warm-up on caches: replica-set statuses and the fake runtime reach their steady state first
await measure(true, '[warm-up, caches]');
const peer = await measure(false, '[peer: re-list]');
const cached = await measure(true, '[caches]');
const ratio = (a: number, b: number): string => (b === 0 ? '∞' : `${(a / b).toFixed(1)}×`);
for (const which of ['startup', 'probes'] as const) {
  const p = peer[which];
  const c = cached[which];
  const perR = (x: Phase, f: (x: Phase) => number): number => f(x) / x.reconciles;
  console.log(
    `RESULT ${which} (${hostCount} hosts × ${perHost}): objects read per reconcile ${perR(p, (x) => x.objects).toFixed(1)} → ${perR(c, (x) => x.objects).toFixed(2)} (${ratio(perR(p, (x) => x.objects), perR(c, (x) => x.objects))} fewer); CPU per reconcile ${((perR(p, (x) => x.cpuMs)) * 1000).toFixed(0)} µs → ${(perR(c, (x) => x.cpuMs) * 1000).toFixed(0)} µs (${ratio(perR(p, (x) => x.cpuMs), perR(c, (x) => x.cpuMs))} less)`,
  );
}
await memory.close();

// Benchmarks of @flotilla/cluster on a real sshd fleet (needs root):
//   1. time from apply to all replicas ready: 100 replicas on 30 ssh hosts;
//   2. time to heal a killed instance (SIGKILL of its command): median and p99 over 20 kills;
//   3. controller CPU while idle (100 instances, 30 hosts, 30 s).
// Run from the repo root:
//   node --conditions=@flotilla/source --import tsx packages/cluster/bench/run.ts [--replicas 100] [--hosts 30] [--kills 20] [--subnet 66]
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fleetAvailability, startFleet } from '@flotilla/deploy/testing';
import { ClusterControllers, DeployRuntime, applyManifests, convergence, openStore, parseManifests } from '../src/index.js';
import { writeSampleArtifact } from '../src/demo/index.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const replicas = arg('replicas', 100);
const hostCount = arg('hosts', 30);
const kills = arg('kills', 20);
const idleSeconds = arg('idle', 30);
const probeMs = arg('probe-ms', 1000);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};

const avail = fleetAvailability();
if (!avail.ok) {
  console.error(`cannot run: ${avail.reason}`);
  process.exit(2);
}
console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const t = performance.now();
const fleet = await startFleet({ size: hostCount, subnet: arg('subnet', 66), userPrefix: 'fltbn', namePrefix: 'b' });
console.log(`fleet of ${hostCount} sshd hosts started in ${((performance.now() - t) / 1000).toFixed(1)} s`);
const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
const runtime = new DeployRuntime({ sshConfigFiles: [fleet.sshConfigFile] });
const store = await openStore(`file://${dir}/store`, { artifactDir: join(dir, 'artifacts') });
const abort = new AbortController();
let running: Promise<void> | undefined;
try {
  const artifact = await writeSampleArtifact(dir);
  const hostsYaml = fleet.hosts
    .map((h) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${h.name}}\nspec: {address: ${h.name}, capacity: {cpu: 4, memory: 4Gi}}\n`)
    .join('---\n');
  await applyManifests(store, parseManifests(hostsYaml).objects);
  const controllers = new ClusterControllers({ store, runtime, hostProbeIntervalMs: probeMs, concurrency: 8 });
  running = controllers.run(abort.signal);
  while ((await store.hosts.items()).some((h) => h.status?.ready !== true)) await sleep(100);
  console.log('all hosts Ready');

  // 1. apply → all ready
  const rsYaml = `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: ${replicas}
  selector: "app=web"
  placement: spread
  template:
    metadata: {labels: {app: web}}
    spec:
      artifact: ${artifact}
      command: [node, server.js]
      ports: [{name: http}]
      resources: {cpu: 100m, memory: 32Mi}
      healthCheck: {http: {path: /healthz, port: http}, periodSeconds: 1}
      terminationGracePeriodSeconds: 2
`;
  const t0 = performance.now();
  await applyManifests(store, parseManifests(rsYaml).objects, { baseDirs: [dir] });
  while (!(await convergence(store, ['web'])).done) await sleep(50);
  const applySeconds = (performance.now() - t0) / 1000;
  console.log(`RESULT apply→ready: ${replicas} replicas on ${hostCount} ssh hosts in ${applySeconds.toFixed(2)} s (target < 20 s)`);

  // 2. heal time over `kills` SIGKILLs of an instance's command
  const heals: number[] = [];
  for (let k = 0; k < kills; k++) {
    const items = (await store.instances.items()).filter((i) => i.status?.ready && i.status.pid !== undefined);
    const victim = items[(k * 7) % items.length]!;
    const oldPid = victim.status!.pid!;
    const k0 = performance.now();
    process.kill(oldPid, 'SIGKILL');
    for (;;) {
      const cur = await store.instances.get(victim.metadata.name);
      if (cur?.status?.ready && cur.status.pid !== undefined && cur.status.pid !== oldPid) break;
      await sleep(20);
    }
    heals.push((performance.now() - k0) / 1000);
  }
  const median = quantile(heals, 0.5);
  const p99 = quantile(heals, 0.99);
  console.log(`RESULT heal: median ${median.toFixed(2)} s, p99 ${p99.toFixed(2)} s over ${kills} kills (target median < 3 s); all: ${heals.map((h) => h.toFixed(2)).join(' ')}`);

  // 3. controller CPU while idle
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  await sleep(idleSeconds * 1000);
  const c1 = process.cpuUsage(c0);
  const wall = (performance.now() - w0) / 1000;
  const cpuSeconds = (c1.user + c1.system) / 1e6;
  console.log(
    `RESULT idle controller CPU: ${((cpuSeconds / wall) * 100).toFixed(1)}% of one core (${cpuSeconds.toFixed(2)} s CPU in ${wall.toFixed(0)} s; ${replicas} instances, ${hostCount} hosts, probe every ${probeMs} ms)`,
  );
  console.log(`load after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  // clean up: stop every instance
  await store.replicaSets.delete('web');
  while ((await store.instances.items()).length > 0) await sleep(200);
} finally {
  abort.abort();
  await running;
  await store.close();
  await runtime.close();
  await fleet.stop();
  rmSync(dir, { recursive: true, force: true });
}

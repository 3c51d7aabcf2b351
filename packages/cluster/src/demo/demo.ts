/**
 * `flo demo`: the whole story on a throwaway fleet — apply a sample app with 5 replicas,
 * show the placement, kill an instance and watch the controller heal it, scale to 8, serve
 * the app through the service's endpoints, and clean up. With `containers`, the app is an
 * OCI image built on the spot (busybox httpd, {@link buildSampleImage}) run by runc.
 */
import { sleep, systemClock } from '@flotilla/reconcile';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ClusterControllers } from '../controllers/manager.js';
import { ClusterError } from '../errors.js';
import { parseManifests } from '../manifest/parse.js';
import type { Host } from '../manifest/types.js';
import { API_VERSION } from '../manifest/types.js';
import { convergence } from '../controllers/converge.js';
import { applyManifests, deleteObject, scaleReplicaSet } from '../operations.js';
import { viewInstances } from '../views.js';
import type { DeployRuntime } from '../runtime/deploy.js';
import type { ClusterStore } from '../store/resources.js';
import { openStore } from '../store/open.js';
import { writeSampleArtifact } from './sample-app.js';
import { buildSampleImage } from './sample-image.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** A fresh directory for the store, artifacts and (local) hosts. */
  dir: string;
  /** The runtime that reaches the hosts. */
  runtime: DeployRuntime;
  /** The hosts. @default 6 local-transport hosts under `dir/hosts` */
  hosts?: Host[];
  /** @default 5 */
  replicas?: number;
  /** @default 8 */
  scaleTo?: number;
  /** Where the story is told (one line per call). */
  log: (line: string) => void;
  /** Longest wait for any step. @default 120000 */
  stepTimeoutMs?: number;
  /** Run the app as a container: an image built on the spot from busybox-static, run by runc on each host. @default false */
  containers?: boolean;
  /**
   * Called after the story, before the clean-up, with the controllers still running: the
   * cluster is live until it resolves (`flo demo --ui` serves the dashboard here until Ctrl-C).
   * @default none (clean up at once)
   */
  beforeCleanup?: (live: { store: ClusterStore; storeUrl: string; runtime: DeployRuntime }) => Promise<void>;
}

function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

function limitsText(conditions: readonly { type: string; status: string; reason?: string }[] | undefined): string {
  const c = conditions?.find((x) => x.type === 'LimitsEnforced');
  return c === undefined ? '-' : c.status === 'True' ? 'enforced' : `not enforced (${c.reason ?? '?'})`;
}

/** Local hosts h1…hN under `dir`, zones a/b, h1 with role=lb. */
export function localDemoHosts(dir: string, count = 6): Host[] {
  return Array.from({ length: count }, (_, i) => ({
    apiVersion: API_VERSION,
    kind: 'Host' as const,
    metadata: { name: `h${i + 1}`, labels: { zone: i % 2 === 0 ? 'a' : 'b', ...(i === 0 ? { role: 'lb' } : {}) } },
    spec: { local: { dir: join(dir, `h${i + 1}`) }, capacity: { cpu: 2, memory: '2Gi' } },
  }));
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const { dir, runtime, log } = options;
  const replicas = options.replicas ?? 5;
  const scaleTo = options.scaleTo ?? 8;
  const stepMs = options.stepTimeoutMs ?? 120_000;
  await mkdir(dir, { recursive: true });
  const store = await openStore(`file://${join(dir, 'store')}`, { artifactDir: join(dir, 'artifacts') });
  const hosts = options.hosts ?? localDemoHosts(join(dir, 'hosts'));
  const controllers = new ClusterControllers({ store, runtime, hostProbeIntervalMs: 500, hostGracePeriodMs: 5000 });
  const abort = new AbortController();
  let running: Promise<void> | undefined;
  const showInstances = async (): Promise<void> => {
    const items = await viewInstances(store, { addressOf: (h) => runtime.addressOf(h) });
    log(
      table([
        ['INSTANCE', 'HOST', 'ADDRESS', 'READY', 'PID', 'RESTARTS', ...(options.containers ? ['IMAGE', 'LIMITS'] : [])],
        ...items
          .filter((i) => i.phase !== 'Terminating')
          .map((i) => [
            i.name,
            i.host,
            `${i.address}:${i.ports.http ?? '-'}`,
            String(i.ready),
            String(i.pid ?? '-'),
            String(i.restarts),
            ...(options.containers ? [(i.imageDigest ?? '-').replace(/^sha256:/, '').slice(0, 12), limitsText(i.conditions)] : []),
          ]),
      ]),
    );
  };
  const waitConverged = async (what: string): Promise<void> => {
    const deadline = systemClock.now() + stepMs;
    for (;;) {
      if ((await convergence(store, ['web'])).done) return;
      if (systemClock.now() > deadline) throw new ClusterError('timeout', `demo: ${what} did not happen within ${stepMs / 1000} s`);
      await sleep(systemClock, 200);
    }
  };
  try {
    log(`1. A throwaway fleet of ${hosts.length} hosts (${hosts[0]?.spec.local ? 'local directories' : 'loopback sshd servers'}) and a store in ${dir}`);
    const containers = options.containers === true;
    let what: string;
    if (containers) {
      const image = await buildSampleImage(join(dir, 'build'));
      log(`   flo image build: ${image.path} (busybox httpd + the app, two layers), ${image.digest}`);
      what = `      image: ${JSON.stringify(`oci-archive:${image.path}`)}`;
    } else {
      const artifact = await writeSampleArtifact(join(dir, 'build'));
      what = `      artifact: ${JSON.stringify(artifact)}\n      command: [node, server.js]`;
    }
    const manifest = `${hosts.map((h) => JSON.stringify(h)).join('\n---\n')}
---
apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web, labels: {app: web}}
spec:
  replicas: ${replicas}
  selector: "app=web"
  placement: spread
  template:
    metadata: {labels: {app: web}}
    spec:
${what}
      env: {GREETING: hello}
      ports: [{name: http}]
      resources: {cpu: 250m, memory: 64Mi}
      healthCheck: {http: {path: /healthz, port: http}, periodSeconds: 1}
      terminationGracePeriodSeconds: 2
---
apiVersion: flotilla.dev/v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  port: http
  render: {hosts: "role=lb", path: upstreams/web.txt}
`;
    const parsed = parseManifests(manifest, { file: 'demo.yaml' });
    if (parsed.issues.length > 0) throw new ClusterError('manifest-invalid', parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    log(`2. flo apply: ReplicaSet web (replicas: ${replicas}, a tiny HTTP server${containers ? ' in a container' : ''}) and Service web`);
    await applyManifests(store, parsed.objects);
    running = controllers.run(abort.signal);
    await waitConverged(`${replicas} ready replicas`);
    log(`   ${replicas} instances ready, placed by the scheduler (spread):`);
    await showInstances();

    const victim = (await store.instances.items()).find((i) => i.status?.ready)!;
    const victimHost = hosts.find((h) => h.metadata.name === victim.spec.host)!;
    if (containers) {
      // SIGKILL to the container's first process (as the host sees it): its supervisor on the
      // host restarts it, and the controller sees the new pid
      log(`3. Killing the container of ${victim.metadata.name} on ${victim.spec.host} (SIGKILL to its init, pid ${victim.status?.pid ?? '?'} as the host sees it)`);
      await runtime.connection(victimHost).run(`kill -9 ${Number(victim.status?.pid ?? 0)}`, { hide: true, warn: true });
      const t1 = systemClock.now();
      const until = t1 + stepMs;
      for (;;) {
        const cur = await store.instances.get(victim.metadata.name);
        if (cur?.status?.ready && (cur.status.restarts > (victim.status?.restarts ?? 0)) && cur.status.pid !== victim.status?.pid) break;
        if (systemClock.now() > until) throw new ClusterError('timeout', 'demo: the killed container was not restarted');
        await sleep(systemClock, 100);
      }
      log(`   its supervisor restarted it and the controller saw it healthy again in ${((systemClock.now() - t1) / 1000).toFixed(1)} s:`);
    }
    if (!containers) log(`3. Killing instance ${victim.metadata.name} on ${victim.spec.host} (SIGKILL to its supervisor and its command, pid ${victim.status?.pid ?? '?'})`);
    if (!containers) await runtime
      .connection(victimHost)
      .run(`d="$HOME/.flotilla/services/${victim.metadata.name}"; kill -9 $(cat "$d/supervisor.pid" 2>/dev/null) $(cat "$d/pid" 2>/dev/null)`, { hide: true, warn: true });
    const t0 = systemClock.now();
    const deadline = t0 + stepMs;
    while (!containers && ((await store.instances.get(victim.metadata.name)) !== undefined || !(await convergence(store, ['web'])).done)) {
      if (systemClock.now() > deadline) throw new ClusterError('timeout', 'demo: the killed instance was not replaced');
      await sleep(systemClock, 100);
    }
    if (!containers) log(`   the controller noticed and replaced it in ${((systemClock.now() - t0) / 1000).toFixed(1)} s:`);
    await showInstances();

    log(`4. flo scale replicaset/web --replicas ${scaleTo}`);
    await scaleReplicaSet(store, 'web', scaleTo);
    await waitConverged(`${scaleTo} ready replicas`);
    await showInstances();

    log('5. Serving the app through the service endpoints:');
    await sleep(systemClock, 1500); // let the service controller catch up with the last instances
    const svc = await store.services.get('web');
    const endpoints = svc?.status?.endpoints ?? [];
    for (const e of endpoints.slice(0, 4)) {
      const body = await (await fetch(`http://${e.address}:${e.port}/`)).text();
      log(`   GET http://${e.address}:${e.port}/ → ${body.trim()}`);
    }
    log(`   (${endpoints.length} endpoints, also rendered to ${hosts[0]?.metadata.name}:upstreams/web.txt for a load balancer)`);

    if (options.beforeCleanup) await options.beforeCleanup({ store, storeUrl: `file://${join(dir, 'store')}`, runtime });
    log('6. Cleaning up: flo delete replicaset/web stops every instance');
    await deleteObject(store, 'ReplicaSet', 'web');
    const end = systemClock.now() + stepMs;
    while ((await store.instances.items()).length > 0) {
      if (systemClock.now() > end) throw new ClusterError('timeout', 'demo: instances did not stop');
      await sleep(systemClock, 200);
    }
    log('   done: every instance stopped.');
  } finally {
    abort.abort();
    await running;
    await stopLeftovers(store, runtime, hosts);
    await store.close();
  }
}

/** After a demo (or its failure): whatever instance is left in the store is stopped on its host directly, errors ignored. */
export async function stopLeftovers(store: ClusterStore, runtime: DeployRuntime, hosts: readonly Host[]): Promise<void> {
  for (const i of await store.instances.items().catch(() => [])) {
    const h = hosts.find((x) => x.metadata.name === i.spec.host);
    if (h) await runtime.stop(h, i, 2000).catch(() => undefined);
  }
}

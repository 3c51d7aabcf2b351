// Containers under the real controllers and the real runtime (@flotilla/deploy/image on the
// local transport, real runc, rootful as root): a ReplicaSet of the sample image converges,
// each instance isolated (own pid namespace, hostname = instance name, memory limit in its
// cgroup), serving over HTTP; exec health checks run inside; SIGKILL of its init is healed;
// a new image version rolls out moving only the changed layer; logs; delete stops all.
// Needs root, /usr/sbin/runc and /bin/busybox (busybox-static); skips loudly otherwise.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  ClusterControllers,
  DeployRuntime,
  applyManifests,
  convergence,
  deleteObject,
  loadManifests,
  openStore,
  viewInstances,
  type ClusterStore,
  type Host,
} from '../src/index.js';
import { buildSampleImage } from '../src/demo/index.js';

const canRun = process.getuid?.() === 0 && existsSync('/usr/sbin/runc') && existsSync('/bin/busybox');
if (!canRun && process.env.CI === 'true') throw new Error('CI=true: the container tests need root, runc and busybox-static (.ci/run installs them)');
if (!canRun) console.warn('SKIPPING cluster container tests on the local transport: they need root, /usr/sbin/runc and /bin/busybox');

async function poll<T>(what: string, fn: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe.runIf(canRun)('containers on the local transport (real runc, rootful)', { timeout: 300_000 }, () => {
  let dir: string;
  let store: ClusterStore;
  const runtime = new DeployRuntime();
  let controllers: ClusterControllers;
  const abort = new AbortController();
  let running: Promise<void> | undefined;
  let v1: { path: string; digest: string };
  let v2: { path: string; digest: string };
  const rsName = `ctr${process.pid % 100000}`;
  const hosts: Host[] = [];

  const manifest = (image: string): string => `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: ${rsName}}
spec:
  replicas: 2
  selector: "app=${rsName}"
  updateStrategy: {maxUnavailable: 0, maxSurge: 1}
  template:
    metadata: {labels: {app: ${rsName}}}
    spec:
      image: ${image}
      env: {GREETING: hi}
      ports: [{name: http}]
      resources: {cpu: 250m, memory: 64Mi}
      limits: {memory: 96Mi}
      healthCheck: {exec: [/bin/cat, /www/healthz], periodSeconds: 1}
      terminationGracePeriodSeconds: 2
`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flo-cluster-ctr-'));
    v1 = await buildSampleImage(join(dir, 'build'), { version: '1' });
    v2 = await buildSampleImage(join(dir, 'build'), { version: '2' });
    store = await openStore(`file://${join(dir, 'store')}`, { artifactDir: join(dir, 'artifacts') });
    for (const n of ['h1', 'h2']) hosts.push({ apiVersion: API_VERSION, kind: 'Host', metadata: { name: `${rsName}-${n}` }, spec: { local: { dir: join(dir, n) }, capacity: { cpu: 2, memory: '1Gi' } } });
    await applyManifests(store, hosts);
    controllers = new ClusterControllers({ store, runtime, hostProbeIntervalMs: 500, hostGracePeriodMs: 30_000, progressDeadlineMs: 120_000 });
    running = controllers.run(abort.signal);
  }, 120_000); // two image builds (umoci) — slow on a loaded machine
  afterAll(async () => {
    abort.abort();
    await running;
    for (const i of (await store?.instances.items().catch(() => [])) ?? []) {
      const h = hosts.find((x) => x.metadata.name === i.spec.host);
      if (h) await runtime.stop(h, i, 0).catch(() => undefined);
    }
    await store?.close();
    await runtime.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const converged = async (digest: string): Promise<true | undefined> => {
    const { done } = await convergence(store, [rsName]);
    const items = await viewInstances(store);
    return done && items.length === 2 && items.every((i) => i.imageDigest === digest && i.ready) ? true : undefined;
  };

  it('runs the ReplicaSet as containers: isolated, limited, serving, exec-checked; heals a SIGKILL of init; rolls to v2 moving one layer; stops on delete', async () => {
    await applyManifests(store, loadManifests([{ file: join(dir, 'web.yaml'), text: manifest(`oci-archive:${v1.path}`) }]), { baseDirs: [dir] });
    await poll('v1 converged', () => converged(v1.digest));
    const items = await viewInstances(store);
    for (const i of items) {
      expect(i).toMatchObject({ runtime: 'oci', imageDigest: v1.digest, phase: 'Running', conditions: [{ type: 'LimitsEnforced', status: 'True' }] });
      const pid = i.pid!;
      // pid is the container's init as this machine sees it, in its own pid and mount namespaces
      expect(readlinkSync(`/proc/${pid}/ns/pid`)).not.toBe(readlinkSync('/proc/self/ns/pid'));
      expect(readlinkSync(`/proc/${pid}/ns/mnt`)).not.toBe(readlinkSync('/proc/self/ns/mnt'));
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]).toBe('httpd');
      // its hostname is the instance name, and it serves its page on the chosen port
      const body = await (await fetch(`http://127.0.0.1:${i.ports.http}/`)).text();
      expect(body).toMatch(new RegExp(`^hi from ${i.name} \\(pid \\d+ in its own pid namespace, version 1\\) on 127\\.0\\.0\\.1:${i.ports.http}\\n$`));
      // the memory limit (limits.memory) is in its cgroup
      const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      const memLine = cgroup.split('\n').find((l) => /(^|:)memory(,|:)/.test(l.split(':')[1] ?? '') || l.startsWith('0::'));
      expect(memLine, cgroup).toBeDefined();
      const rel = memLine!.split(':')[2]!;
      const v1Limit = `/sys/fs/cgroup/memory${rel}/memory.limit_in_bytes`;
      const limit = existsSync(v1Limit) ? readFileSync(v1Limit, 'utf8') : readFileSync(`/sys/fs/cgroup${rel}/memory.max`, 'utf8');
      expect(Number(limit.trim())).toBe(96 * 1024 * 1024);
    }
    // SIGKILL of the container's init: the supervisor restarts it; the controller sees the new pid
    const victim = items[0]!;
    process.kill(victim.pid!, 'SIGKILL');
    await poll('restarted', async () => {
      const v = (await viewInstances(store)).find((x) => x.name === victim.name);
      return v && v.restarts >= 1 && v.ready && v.pid !== undefined && v.pid !== victim.pid ? v : undefined;
    });
    const events = (await store.events.items()).filter((e) => e.involved.name === victim.name).map((e) => e.reason);
    expect(events).toContain('Restarted');
    // logs through the runtime
    const host = hosts.find((h) => h.metadata.name === victim.host)!;
    const inst = (await store.instances.get(victim.name))!;
    let log = '';
    for await (const l of runtime.logs(host, inst)) log += l;
    expect(typeof log).toBe('string');
    // v2: only the app layer (and manifest and config) moves to the hosts
    const before = Object.fromEntries(hosts.map((h) => [h.metadata.name, new Set(execFileSync('ls', [join(h.spec.local!.dir, '.flotilla/images/blobs/sha256')]).toString().split('\n').filter(Boolean))]));
    await applyManifests(store, loadManifests([{ file: join(dir, 'web.yaml'), text: manifest(`oci-archive:${v2.path}`) }]), { baseDirs: [dir] });
    await poll('v2 converged', () => converged(v2.digest));
    for (const h of hosts) {
      const after = execFileSync('ls', [join(h.spec.local!.dir, '.flotilla/images/blobs/sha256')]).toString().split('\n').filter(Boolean);
      const added = after.filter((b) => !before[h.metadata.name]!.has(b));
      expect(added.length, `${h.metadata.name}: ${added.join(' ')}`).toBeLessThanOrEqual(3); // manifest, config, the app layer: the busybox layer stays
    }
    for (const i of await viewInstances(store)) expect(await (await fetch(`http://127.0.0.1:${i.ports.http}/`)).text()).toContain('version 2');
    // delete: every container stopped
    const pids = (await viewInstances(store)).map((i) => i.pid!);
    const one = (await store.instances.items())[0]!;
    await deleteObject(store, 'ReplicaSet', rsName);
    await poll('stopped', async () => ((await store.instances.items()).length === 0 ? true : undefined));
    for (const pid of pids) expect(existsSync(`/proc/${pid}`)).toBe(false);
    // after a stop, images no container uses beyond the last `imagesKept` are collected
    const oneHost = hosts.find((h) => h.metadata.name === one.spec.host)!;
    const blobsDir = join(oneHost.spec.local!.dir, '.flotilla/images/blobs/sha256');
    expect(execFileSync('ls', [blobsDir]).toString().trim()).not.toBe(''); // the default keeps the last 3
    const collector = new DeployRuntime({ imagesKept: 0 });
    try {
      await collector.stop(oneHost, one, 0); // already stopped: nothing to stop, then the collection
    } finally {
      await collector.close();
    }
    expect(execFileSync('ls', [blobsDir]).toString().trim()).toBe('');
  });

  it('a container the OOM killer ends shows reason OOMKilled and a Warning event naming the limit', async () => {
    const name = `${rsName}-oom`;
    await applyManifests(
      store,
      loadManifests([
        {
          file: join(dir, 'oom.yaml'),
          text: `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: ${name}}
spec:
  replicas: 1
  selector: "app=${name}"
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      image: oci-archive:${v1.path}
      command: [/bin/sh, -c, "exec tail /dev/zero"]
      resources: {memory: 16Mi}
      terminationGracePeriodSeconds: 0
`,
        },
      ]),
      { baseDirs: [dir] },
    );
    const event = await poll('an OOMKilled event', async () => (await store.events.items()).find((e) => e.reason === 'OOMKilled' && e.involved.name.startsWith(`${name}-`)));
    expect(event.type).toBe('Warning');
    expect(event.message).toContain('memory limit 16Mi');
    const inst = await poll('status reason', async () => (await viewInstances(store)).find((i) => i.name === event.involved.name && i.reason === 'OOMKilled'));
    expect(inst.runtime).toBe('oci');
    await deleteObject(store, 'ReplicaSet', name);
    await poll('stopped', async () => ((await store.instances.items()).some((i) => i.spec.replicaSet === name) ? undefined : true));
  });
});

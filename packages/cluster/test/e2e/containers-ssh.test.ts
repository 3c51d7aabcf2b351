// Issue 13's "done means", on real sshd hosts: a ReplicaSet of a signed container image runs
// on a fleet of loopback sshd hosts (three whose users may run runc through passwordless sudo:
// rootful, limited; one without: rootless, said so), isolated (own pid and mount namespaces,
// hostname = instance name), adopted by a restarted controller without duplicates, healed
// after SIGKILL of its init, rolled to a new image version moving only the changed layer, and
// refused when the new version is not signed by a listed signer (the running version stays).
// Needs root (users, sshd, sudoers), runc, busybox-static and ssh-keygen: skips loudly
// otherwise, required with CI=true.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signImage } from '@flotilla/deploy/image';
import { fleetAvailability, startFleet, type Fleet } from '@flotilla/deploy/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  ClusterControllers,
  DeployRuntime,
  applyManifests,
  convergence,
  deleteObject,
  eventsFor,
  loadManifests,
  openStore,
  viewInstances,
  type ClusterStore,
  type Host,
  type InstanceView,
} from '../../src/index.js';
import { buildSampleImage } from '../../src/demo/index.js';

const fleetOk = fleetAvailability();
const why = !fleetOk.ok ? fleetOk.reason : !existsSync('/usr/sbin/runc') ? 'no /usr/sbin/runc' : !existsSync('/bin/busybox') ? 'no /bin/busybox (busybox-static)' : undefined;
if (why !== undefined && process.env.CI === 'true') throw new Error(`CI=true but the container fleet cannot run: ${why}`);
if (why !== undefined) process.stderr.write(`\n*** SKIPPING containers-ssh e2e: ${why} ***\n\n`);

async function poll<T>(what: string, fn: () => Promise<T | undefined>, ms = 180_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe.runIf(why === undefined)('a ReplicaSet of a signed container image on real sshd hosts', { timeout: 900_000 }, () => {
  let rootful: Fleet;
  let rootless: Fleet;
  let work: string;
  let store: ClusterStore;
  let runtime: DeployRuntime;
  let controllers: ClusterControllers;
  let abort: AbortController;
  let running: Promise<void> | undefined;
  const images: Record<string, { path: string; digest: string }> = {};
  const hosts: Host[] = [];
  const homes = new Map<string, { home: string; user: string; rootful: boolean }>();

  const start = (): void => {
    runtime = new DeployRuntime({ sshConfigFiles: [rootful.sshConfigFile, rootless.sshConfigFile] });
    controllers = new ClusterControllers({ store, runtime, hostProbeIntervalMs: 1000, hostGracePeriodMs: 60_000, progressDeadlineMs: 45_000 });
    abort = new AbortController();
    running = controllers.run(abort.signal);
  };
  const stop = async (): Promise<void> => {
    abort.abort();
    await running;
    await runtime.close();
  };

  // one instance per host (anti-affinity): all four while rolling v1 → v2 (one host at a time,
  // maxUnavailable 1); three (a spare host for the surge, maxUnavailable 0) when v3 is tried
  const manifest = (image: string, replicas = 4): string => `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: ${replicas}
  selector: "app=web"
  updateStrategy: ${replicas === 4 ? '{maxUnavailable: 1, maxSurge: 0}' : '{maxUnavailable: 0, maxSurge: 1}'}
  template:
    metadata: {labels: {app: web}}
    spec:
      image: ${image}
      env: {GREETING: hello}
      ports: [{name: http}]
      resources: {cpu: 100m, memory: 64Mi}
      healthCheck: {http: {path: /healthz, port: http}, periodSeconds: 1}
      terminationGracePeriodSeconds: 2
      antiAffinity: {labelSelector: {app: web}, topologyKey: kubernetes.io/hostname}
`;
  const apply = (image: string, replicas = 4): Promise<unknown> =>
    applyManifests(store, loadManifests([{ file: join(work, 'web.yaml'), text: manifest(`oci-archive:${image}`, replicas) }]), { baseDirs: [work] });
  const live = async (): Promise<InstanceView[]> => (await viewInstances(store, { addressOf: (h) => runtime.addressOf(h) })).filter((i) => i.phase !== 'Terminating');
  const convergedOn = async (digest: string, replicas = 4): Promise<InstanceView[] | undefined> => {
    const items = await live();
    return (await convergence(store, ['web'])).done && items.length === replicas && items.every((i) => i.ready && i.imageDigest === digest) ? items : undefined;
  };
  const blobsOn = (host: string): string[] => {
    const d = join(homes.get(host)!.home, '.flotilla/images/blobs/sha256');
    return existsSync(d) ? readdirSync(d) : [];
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'flo-ctr-ssh-'));
    // two hosts whose users may run runc through sudo -n (rootful), one without (rootless)
    rootful = await startFleet({ size: 3, subnet: 83, userPrefix: 'flcrf', namePrefix: 'rf', sudo: 'nopasswd' });
    rootless = await startFleet({ size: 1, subnet: 84, userPrefix: 'flcrl', namePrefix: 'rl' });
    for (const [fleet, isRootful] of [[rootful, true], [rootless, false]] as const) {
      for (const h of fleet.hosts) {
        homes.set(h.name, { home: h.home, user: h.user, rootful: isRootful });
        hosts.push({ apiVersion: API_VERSION, kind: 'Host', metadata: { name: h.name, labels: { mode: isRootful ? 'rootful' : 'rootless' } }, spec: { address: h.name, capacity: { cpu: 2, memory: '1Gi' } } });
      }
    }
    // alice signs; every host accepts only images signed by alice
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', join(work, 'alice')]);
    const pub = readFileSync(join(work, 'alice.pub'), 'utf8').split(' ');
    for (const { home, user } of homes.values()) {
      mkdirSync(join(home, '.flotilla'), { recursive: true });
      writeFileSync(join(home, '.flotilla/allowed_signers'), `alice@example.com ${pub[0]} ${pub[1]}\n`);
      execFileSync('chown', ['-R', user, join(home, '.flotilla')]);
    }
    for (const v of ['1', '2', '3']) images[v] = await buildSampleImage(join(work, 'build'), { version: v });
    await signImage(images['1']!.path, { key: join(work, 'alice') });
    await signImage(images['2']!.path, { key: join(work, 'alice') });
    // v3 is signed by someone the hosts do not list
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'mallory', '-f', join(work, 'mallory')]);
    await signImage(images['3']!.path, { key: join(work, 'mallory') });
    store = await openStore(`file://${join(work, 'store')}`, { artifactDir: join(work, 'artifacts') });
    await applyManifests(store, hosts);
    start();
  }, 300_000);

  afterAll(async () => {
    if (why !== undefined) return;
    await stop().catch(() => undefined);
    const cleanup = new DeployRuntime({ sshConfigFiles: [rootful.sshConfigFile, rootless.sshConfigFile] });
    for (const i of (await store?.instances.items().catch(() => [])) ?? []) {
      const h = hosts.find((x) => x.metadata.name === i.spec.host);
      if (h) await cleanup.stop(h, i, 0).catch(() => undefined);
    }
    await cleanup.close();
    await store?.close();
    await rootful?.stop();
    await rootless?.stop();
    rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('runs signed, isolated, limited where rootful; adopted after a controller restart; healed; rolled to v2 by one layer; v3 refused', async () => {
    // ---- v1 runs: one container per host
    await apply(images['1']!.path);
    const v1 = await poll('v1 on four hosts', () => convergedOn(images['1']!.digest));
    expect(new Set(v1.map((i) => i.host)).size).toBe(4);
    for (const i of v1) {
      const h = homes.get(i.host)!;
      expect(i).toMatchObject({ runtime: 'oci', imageDigest: images['1']!.digest, signedBy: 'alice@example.com' });
      // isolated: pid is its init as the machine sees it, in its own pid and mount namespaces
      expect(readlinkSync(`/proc/${i.pid}/ns/pid`)).not.toBe(readlinkSync('/proc/self/ns/pid'));
      expect(readlinkSync(`/proc/${i.pid}/ns/mnt`)).not.toBe(readlinkSync('/proc/self/ns/mnt'));
      // hostname = instance name (the page prints $(hostname)), served on the host's address
      const body = await (await fetch(`http://${i.address}:${i.ports.http}/`)).text();
      expect(body).toMatch(new RegExp(`^hello from ${i.name} \\(pid \\d+ in its own pid namespace, version 1\\) on ${i.address.replace(/\./g, '\\.')}:${i.ports.http}\\n$`));
      if (h.rootful) {
        // limited: its memory limit is in its cgroup
        expect(i.conditions).toEqual([{ type: 'LimitsEnforced', status: 'True' }]);
        const line = readFileSync(`/proc/${i.pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]?.split(',').includes('memory'));
        const rel = line!.split(':')[2]!;
        expect(Number(readFileSync(`/sys/fs/cgroup/memory${rel}/memory.limit_in_bytes`, 'utf8').trim())).toBe(64 * 1024 * 1024);
      } else {
        // rootless: isolated too, limits not enforced, and it says so (condition and one event)
        expect(i.conditions).toEqual([expect.objectContaining({ type: 'LimitsEnforced', status: 'False', reason: 'Rootless' })]);
        expect((await eventsFor(store, 'Instance', i.name)).filter((e) => e.reason === 'LimitsNotEnforced')).toHaveLength(1);
        expect(readlinkSync(`/proc/${i.pid}/ns/user`)).not.toBe(readlinkSync('/proc/self/ns/user'));
      }
    }

    // ---- the controller restarts (a new process would do the same): containers are adopted, not duplicated
    await stop();
    const pinned = v1[0]!;
    await store.instances.mutate(pinned.name, (cur) => {
      // as if the old controller died between starting it and recording it
      cur.status = { phase: 'Pending', ready: false, ports: {}, restarts: 0 };
      return cur;
    });
    start();
    const adopted = await poll('adopted', async () => {
      const items = await convergedOn(images['1']!.digest);
      return items?.find((i) => i.name === pinned.name && i.pid !== undefined) ? items : undefined;
    });
    expect(adopted.map((i) => `${i.name} ${i.pid}`).sort()).toEqual(v1.map((i) => `${i.name} ${i.pid}`).sort());
    expect(adopted.find((i) => i.name === pinned.name)!.ports).toEqual(pinned.ports);

    // ---- SIGKILL of a container's init: healed in place, a new pid
    const victim = v1.find((i) => homes.get(i.host)!.rootful)!;
    process.kill(victim.pid!, 'SIGKILL');
    const healed = await poll('healed', async () => {
      const v = (await live()).find((i) => i.name === victim.name);
      return v?.ready && v.restarts >= 1 && v.pid !== undefined && v.pid !== victim.pid ? v : undefined;
    });
    expect((await (await fetch(`http://${healed.address}:${healed.ports.http}/`)).text())).toContain(`from ${victim.name} `);
    expect((await eventsFor(store, 'Instance', victim.name)).map((e) => e.reason)).toContain('Restarted');

    // ---- v2: only the changed layer (plus its manifest and config) moves to each host
    const before = new Map([...homes.keys()].map((h) => [h, new Set(blobsOn(h))]));
    await apply(images['2']!.path);
    const v2 = await poll('v2 on four hosts', () => convergedOn(images['2']!.digest));
    for (const h of homes.keys()) {
      const added = blobsOn(h).filter((b) => !before.get(h)!.has(b));
      expect(added.sort(), h).toHaveLength(3); // manifest, config, the app layer; the busybox layer was already there
      expect(added).toContain(images['2']!.digest.slice(7));
    }
    for (const i of v2) expect(await (await fetch(`http://${i.address}:${i.ports.http}/`)).text()).toContain('version 2');

    // ---- v3 is signed by an unlisted key: the host refuses it, v2 keeps running untouched, the rollout rolls back
    await apply(images['2']!.path, 3); // three replicas: a spare host for the surge
    const three = await poll('v2 on three hosts', () => convergedOn(images['2']!.digest, 3));
    await apply(images['3']!.path, 3);
    await poll('v3 rolled back', async () => {
      const rs = await store.replicaSets.get('web');
      return rs?.status?.rollout?.state === 'RolledBack' && (await convergedOn(images['2']!.digest, 3)) ? true : undefined;
    });
    const after = await live();
    expect(after.map((i) => `${i.name} ${i.pid}`).sort()).toEqual(three.map((i) => `${i.name} ${i.pid}`).sort());
    const refusals = (await store.events.items()).filter((e) => e.reason === 'FailedStart');
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals[0]!.message).toMatch(/refused image .*not from a signer/);

    // ---- delete: every container stops
    const pids = after.map((i) => i.pid!);
    await deleteObject(store, 'ReplicaSet', 'web');
    await poll('stopped', async () => ((await store.instances.items()).length === 0 ? true : undefined));
    for (const pid of pids) expect(existsSync(`/proc/${pid}`)).toBe(false);
  });
});

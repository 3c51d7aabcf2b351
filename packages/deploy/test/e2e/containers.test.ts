// Containers over real OpenSSH (the test fleet: one sshd per loopback address, one unix user
// per host, whose home is the host's filesystem), run by real runc: rootless as the fleet
// users, rootful on a host whose user may run runc through passwordless sudo. Needs root,
// sshd, runc, umoci, skopeo and busybox-static; without them it says so and skips, except
// under CI=true, where it must run.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection } from '../../src/index.js';
import {
  FileContentStore,
  buildImage,
  containerLogs,
  containerStatuses,
  execInContainer,
  gcImages,
  loadImage,
  runContainer,
  stopContainer,
  type ContainerStatus,
  type Image,
} from '../../src/image/index.js';
import { fleetAvailability, startFleet, type Fleet } from '../../src/testing/index.js';
import { requireTools } from '../image/helpers.js';
import { hostProgram } from '../../src/image/container.js';

const avail = fleetAvailability();
const skip = (!avail.ok || !requireTools(['runc', 'umoci', 'skopeo', 'busybox'])) && !process.env.CI;
if (skip) console.warn(`\n*** SKIPPING @flotilla/deploy container end-to-end tests: ${avail.ok ? 'runc/umoci/skopeo/busybox missing' : avail.reason} (they run under CI=true) ***\n`);

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe.skipIf(skip)('containers over real OpenSSH, run by runc', () => {
  let rootless: Fleet;
  let sudo: Fleet;
  let work: string;
  let store: FileContentStore;
  let v1: Image;
  let v2: Image;
  const open: Connection[] = [];
  const connect = (fleet: Fleet, i: number): Connection => {
    const c = Connection.ssh(fleet.hosts[i]!.name, { sshConfigFiles: [fleet.sshConfigFile] });
    open.push(c);
    return c;
  };
  const status = async (c: Connection, name: string): Promise<ContainerStatus> => (await containerStatuses(c, [name])).get(name)!;

  beforeAll(async () => {
    rootless = await startFleet({ size: 2, subnet: 83, userPrefix: 'fltcr', namePrefix: 'cr' });
    sudo = await startFleet({ size: 1, subnet: 84, userPrefix: 'fltcs', namePrefix: 'cs', sudo: 'nopasswd' });
    work = mkdtempSync(join(tmpdir(), 'flo-e2e-ctr-'));
    store = new FileContentStore(join(work, 'store'));
    mkdirSync(join(work, 'base/bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(work, 'base/bin/busybox'));
    symlinkSync('busybox', join(work, 'base/bin/sh'));
    await buildImage({ dir: join(work, 'base'), out: join(work, 'base.oci.tar'), entrypoint: ['/bin/sh', '-c'], cmd: ['i=0; while :; do echo "tick $i from $(hostname)"; i=$((i+1)); sleep 1; done'] });
    const version = async (v: string): Promise<Image> => {
      mkdirSync(join(work, `app${v}/srv`), { recursive: true });
      writeFileSync(join(work, `app${v}/srv/index.html`), `<h1>version ${v}</h1>`);
      await buildImage({ dir: join(work, `app${v}`), out: join(work, `app${v}.oci.tar`), base: join(work, 'base.oci.tar') });
      return loadImage(join(work, `app${v}.oci.tar`), { store });
    };
    v1 = await version('1');
    v2 = await version('2');
  });
  afterAll(async () => {
    // Rootful containers run as root: the fleet's cleanup (its users' processes) does not reach them.
    if (sudo) await stopContainer(connect(sudo, 0), 'limited', { gracePeriodSeconds: 0 }).catch(() => undefined);
    if (sudo) await stopContainer(connect(sudo, 0), 'oom', { gracePeriodSeconds: 0 }).catch(() => undefined);
    if (sudo) await stopContainer(connect(sudo, 0), 'again', { gracePeriodSeconds: 0 }).catch(() => undefined);
    await Promise.all(open.map((c) => c.close()));
    await rootless?.stop();
    await sudo?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('rootless as fleet users: isolated (own pid and mount namespaces, hostname = name), exec inside, healed after SIGKILL, logs -f, adopted by a new connection', async () => {
    const cs = [connect(rootless, 0), connect(rootless, 1)];
    const started = await Promise.all(cs.map((c, i) => runContainer(c, { name: `web-${i}`, image: v1, store, ports: { http: 32100 + i }, resources: { memory: 64 << 20 }, gracePeriodSeconds: 1 })));
    for (const [i, st] of started.entries()) {
      expect(st).toMatchObject({ name: `web-${i}`, state: 'running', rootless: true, limitsEnforced: false, imageDigest: v1.digest, restarts: 0 });
      const pid = st.pid!;
      // The host sees the container's first process, running as the fleet user, in namespaces of its own.
      expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(new RegExp(`^Uid:\\s+${rootless.hosts[i]!.uid}\\s`, 'm'));
      for (const ns of ['pid', 'mnt', 'uts', 'user']) expect(readlinkSync(`/proc/${pid}/ns/${ns}`)).not.toBe(readlinkSync(`/proc/self/ns/${ns}`));
      const inside = await execInContainer(cs[i]!, `web-${i}`, ['sh', '-c', 'hostname; cat /srv/index.html; echo; echo $PORT; id -u; tr "\\0" " " < /proc/1/cmdline']);
      expect(inside.code).toBe(0);
      expect(inside.stdout.split('\n').slice(0, 5)).toEqual([`web-${i}`, '<h1>version 1</h1>', String(32100 + i), '0', `/bin/sh -c i=0; while :; do echo "tick $i from $(hostname)"; i=$((i+1)); sleep 1; done `]);
    }
    // The rootfs is an overlay of the image's snapshot in runc's own mount namespace, not a
    // copy: from the host, bundle/rootfs is empty and what the container writes is in upper/.
    await execInContainer(cs[0]!, 'web-0', ['sh', '-c', 'echo written > /srv/new']);
    const dir0 = join(rootless.hosts[0]!.home, '.flotilla/containers/web-0');
    expect(readdirSync(join(dir0, 'bundle/rootfs'))).toEqual([]);
    expect(readFileSync(join(dir0, 'upper/srv/new'), 'utf8')).toBe('written\n');
    // An exec health check that fails says so by its code.
    expect((await execInContainer(cs[0]!, 'web-0', ['sh', '-c', 'test -f /srv/missing'])).code).toBe(1);

    // logs -f: lines keep coming until the signal aborts.
    const ac = new AbortController();
    const seen: string[] = [];
    for await (const line of containerLogs(cs[0]!, 'web-0', { follow: true, signal: ac.signal })) {
      seen.push(line);
      if (seen.filter((l) => l.startsWith('tick')).length >= 3) ac.abort();
    }
    expect(seen.filter((l) => l.startsWith('tick')).slice(0, 3)).toEqual(['tick 0 from web-0', 'tick 1 from web-0', 'tick 2 from web-0']);

    // SIGKILL of the container's first process: the supervisor starts it again (Always).
    const before = started[0]!.pid!;
    process.kill(before, 'SIGKILL');
    const healed = await until('web-0 restarted', async () => {
      const s = await status(cs[0]!, 'web-0');
      return s.state === 'running' && s.pid !== before ? s : undefined;
    });
    expect(healed).toMatchObject({ restarts: 1, lastExitCode: 137, lastReason: 'Error' });

    // Adoption: another process's connection sees what runs, with one round trip for both names.
    const fresh = Connection.ssh(rootless.hosts[1]!.name, { sshConfigFiles: [rootless.sshConfigFile] });
    open.push(fresh);
    const both = await containerStatuses(fresh, ['web-1', 'web-0']);
    expect(both.get('web-1')).toMatchObject({ state: 'running', pid: started[1]!.pid, ports: { http: 32101 } });
    expect(both.get('web-0')).toMatchObject({ state: 'absent' });
  });

  it('a new version moves only its top layer and replaces the running one; gc keeps what is in use', async () => {
    const c = connect(rootless, 0);
    // The host helper the first run started answers over this ssh connection's streamlocal forwarding.
    const socket = join(rootless.hosts[0]!.home, `.flotilla/run/h-${(await hostProgram()).hash}.sock`);
    expect(socket.length).toBeLessThanOrEqual(100);
    await until('the host helper to answer over ssh', async () => {
      const s = await (await c.transport()).openUnixSocket!(socket).catch(() => undefined);
      if (!s) return undefined;
      const greeting = await new Promise<string>((resolve) => {
        s.once('data', (b: Buffer) => resolve(b.toString()));
        s.once('close', () => resolve(''));
      });
      s.destroy();
      return greeting.startsWith('ok ') ? true : undefined;
    });
    const up = await runContainer(c, { name: 'web-0', image: v2, store, ports: { http: 32100 }, resources: { memory: 64 << 20 }, gracePeriodSeconds: 1 });
    expect(up.preparedBy).toBe('helper');
    expect(up.push.present.map((b) => b.digest)).toContain(v2.layers[0]!.digest);
    expect(up.push.bytesSent).toBeLessThan(v2.layers[0]!.size);
    expect((await execInContainer(c, 'web-0', ['sh', '-c', 'cat /srv/index.html'])).stdout).toBe('<h1>version 2</h1>');
    const gc = await gcImages(c, { keepLast: 0 });
    expect(gc.removedBlobs).toBe(3); // v1's manifest, config and top layer
    const hostStore = new FileContentStore(join(rootless.hosts[0]!.home, '.flotilla/images'));
    for (const l of v2.layers) expect(await hostStore.has(l.digest)).toBe(true);
    expect(await hostStore.has(v2.digest)).toBe(true);
    expect(await hostStore.has(v1.digest)).toBe(false);
    expect((await status(c, 'web-0')).state).toBe('running');
    await stopContainer(c, 'web-0');
    expect((await status(c, 'web-0')).state).toBe('absent');
  });

  it('runs an image written by umoci and skopeo (not by Flotilla)', async () => {
    const lay = join(work, 'umoci');
    const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    sh('umoci', ['init', '--layout', lay]);
    sh('umoci', ['new', '--image', `${lay}:base`]);
    sh('umoci', ['unpack', '--image', `${lay}:base`, join(work, 'umoci-bundle')]);
    mkdirSync(join(work, 'umoci-bundle/rootfs/bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(work, 'umoci-bundle/rootfs/bin/busybox'));
    symlinkSync('busybox', join(work, 'umoci-bundle/rootfs/bin/sh'));
    sh('umoci', ['repack', '--image', `${lay}:base`, join(work, 'umoci-bundle')]);
    sh('umoci', ['config', '--image', `${lay}:base`, '--config.entrypoint', '/bin/sh', '--config.entrypoint', '-c', '--config.cmd', 'echo "made by umoci, run as $(hostname)"; exec sleep 100000', '--config.env', 'MADE_BY=umoci']);
    sh('skopeo', ['copy', `oci:${lay}:base`, `oci-archive:${join(work, 'umoci.oci.tar')}`]);
    const img = await loadImage(join(work, 'umoci.oci.tar'), { store });
    const c = connect(rootless, 1);
    const st = await runContainer(c, { name: 'umoci', image: img, store });
    expect(st).toMatchObject({ state: 'running', imageDigest: img.digest, rootless: true });
    expect((await execInContainer(c, 'umoci', ['sh', '-c', 'echo $MADE_BY'])).stdout).toBe('umoci\n');
    const lines = await until('its first line', async () => {
      const l: string[] = [];
      for await (const x of containerLogs(c, 'umoci')) l.push(x);
      return l.length ? l : undefined;
    });
    expect(lines[0]).toBe('made by umoci, run as umoci');
    await stopContainer(c, 'umoci');
  });

  it('rootful through passwordless sudo: the memory limit in the container cgroup, an OOM kill reported as OOMKilled', async () => {
    const c = connect(sudo, 0);
    const st = await runContainer(c, { name: 'limited', image: v1, store, resources: { cpu: 0.5, memory: 48 << 20 }, limits: { memory: 64 << 20 }, gracePeriodSeconds: 1 });
    expect(st).toMatchObject({ state: 'running', rootless: false, limitsEnforced: true });
    // runc runs as root: the container's first process too, in namespaces of its own, without a user namespace.
    expect(readFileSync(`/proc/${st.pid!}/status`, 'utf8')).toMatch(/^Uid:\s+0\s/m);
    expect(readlinkSync(`/proc/${st.pid!}/ns/pid`)).not.toBe(readlinkSync('/proc/self/ns/pid'));
    const cg = await execInContainer(c, 'limited', ['sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us']);
    expect(cg.stdout.split('\n').slice(0, 2)).toEqual([String(64 << 20), '50000']);
    // The host program unpacked the layers as the fleet user; the runtime (root) gave them the
    // owners the layers say before the container started — also on the one-round-trip path.
    const owners = ['sh', '-c', 'stat -c %u:%g / /bin /bin/busybox /srv/index.html'];
    expect((await execInContainer(c, 'limited', owners)).stdout.trim().split('\n')).toEqual(['0:0', '0:0', '0:0', '0:0']);
    await stopContainer(c, 'limited', { gracePeriodSeconds: 1 });
    expect((await status(c, 'limited')).state).toBe('absent');
    await runContainer(c, { name: 'limited', image: v2, store, gracePeriodSeconds: 0 });
    await runContainer(c, { name: 'again', image: v2, store, gracePeriodSeconds: 0 });
    for (const n of ['limited', 'again']) expect((await execInContainer(c, n, owners)).stdout.trim().split('\n')).toEqual(['0:0', '0:0', '0:0', '0:0']);
    await stopContainer(c, 'again', { gracePeriodSeconds: 0 });
    await stopContainer(c, 'limited', { gracePeriodSeconds: 0 });

    await runContainer(c, { name: 'oom', image: v1, store, args: ['echo start; tail /dev/zero'], resources: { memory: 24 << 20 }, restartPolicy: 'Never' });
    const done = await until('the OOM kill', async () => {
      const s = await status(c, 'oom');
      return s.state === 'exited' ? s : undefined;
    });
    expect(done).toMatchObject({ exitCode: 137, reason: 'OOMKilled', limitsEnforced: true });
    await stopContainer(c, 'oom');
  });
});

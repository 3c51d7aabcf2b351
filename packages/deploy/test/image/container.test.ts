// The container runtime on the local transport (a host is a directory; commands run here, as
// root): real runc, rootful. Rootless runs are in the end-to-end suite, as fleet users.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
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
  restartContainer,
  runContainer,
  stopContainer,
  type ContainerStatus,
  type Image,
} from '../../src/image/index.js';

const canRun = process.getuid?.() === 0 && existsSync('/usr/sbin/runc') && existsSync('/bin/busybox');
if (!canRun && process.env.CI === 'true') throw new Error('CI=true: the container tests need root, runc and busybox-static (.ci/run installs them)');
if (!canRun) console.warn('SKIPPING container runtime tests: they need root, /usr/sbin/runc and /bin/busybox');

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.runIf(canRun)('containers on the local transport (rootful, real runc)', { timeout: 180_000 }, () => {
  let work: string;
  let store: FileContentStore;
  let v1: Image;
  let v2: Image;
  let c: Connection;
  const prefix = `flo-ut-${process.pid}`;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'flo-ctr-'));
    store = new FileContentStore(join(work, 'store'));
    mkdirSync(join(work, 'base/bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(work, 'base/bin/busybox'));
    symlinkSync('busybox', join(work, 'base/bin/sh'));
    await buildImage({ dir: join(work, 'base'), out: join(work, 'base.oci.tar'), entrypoint: ['/bin/sh', '-c'], cmd: ['echo "hello from $(hostname) as pid $$ PORT=$PORT PORT_HTTP=$PORT_HTTP"; exec sleep 100000'] });
    const version = async (v: string): Promise<Image> => {
      mkdirSync(join(work, `app${v}/srv`), { recursive: true });
      writeFileSync(join(work, `app${v}/srv/version`), v);
      await buildImage({ dir: join(work, `app${v}`), out: join(work, `app${v}.oci.tar`), base: join(work, 'base.oci.tar') });
      return loadImage(join(work, `app${v}.oci.tar`), { store });
    };
    v1 = await version('1');
    v2 = await version('2');
    mkdirSync(join(work, 'host'));
    c = Connection.localDir(join(work, 'host'));
  });
  afterAll(async () => {
    if (c) {
      const names = ['web', 'oom', 'job', 'ro', 'race', 'crash', 'chatty', 'woken', 'nocmd'].map((n) => `${prefix}-${n}`);
      for (const n of names) await stopContainer(c, n, { gracePeriodSeconds: 0 }).catch(() => undefined);
      await c.close();
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('runs an image isolated: own pid namespace, hostname = name, env with PORT, cgroup memory limit; status, exec, logs, restart, stop', async () => {
    const name = `${prefix}-web`;
    const st = await runContainer(c, { name, image: v1, store, ports: { http: 31080, admin: 31081 }, env: { GREETING: 'hi' }, resources: { cpu: 0.25, memory: 64 << 20 }, gracePeriodSeconds: 2 });
    expect(st).toMatchObject({ name, state: 'running', rootless: false, limitsEnforced: true, imageDigest: v1.digest, ports: { http: 31080, admin: 31081 }, restarts: 0 });
    expect(st.push.sent).toHaveLength(4); // manifest, config, two layers
    expect(st.pid).toBeGreaterThan(1);
    // pid is the container's init as this machine sees it: its own pid namespace, hostname = name
    // (runc reports running, and writes its pid file, once the init is past its exec fifo: the
    // exec of the image's command follows at once, as after `runc run -d`.)
    await until('the container command to replace runc init', () => Promise.resolve(readFileSync(`/proc/${st.pid}/cmdline`, 'utf8').split('\0')[0] === 'sleep' ? true : undefined));
    expect(readFileSync(`/proc/${st.pid}/cmdline`, 'utf8').split('\0')[0]).toBe('sleep');
    // As root the rootfs is an overlay of the image's top snapshot: no copy, writes go to upper/.
    const rootfs = join(work, 'host/.flotilla/containers', name, 'bundle/rootfs');
    expect(readFileSync('/proc/mounts', 'utf8')).toContain(`overlay ${rootfs} overlay `);
    const logs: string[] = [];
    for await (const l of containerLogs(c, name)) logs.push(l);
    expect(logs).toContain(`hello from ${name} as pid 1 PORT=31080 PORT_HTTP=31080`);
    const inside = await execInContainer(c, name, ['sh', '-c', 'hostname; echo $GREETING; cat /srv/version; echo; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us; tr "\\0" " " < /proc/1/cmdline']);
    expect(inside.code).toBe(0);
    expect((await execInContainer(c, name, ['sh', '-c', 'echo written > /srv/new'])).code).toBe(0);
    expect(readFileSync(join(work, 'host/.flotilla/containers', name, 'upper/srv/new'), 'utf8')).toBe('written\n');
    const [host, greeting, version, limit, quota, init] = inside.stdout.split('\n');
    // pid 1 inside is the image's command: a pid namespace of its own
    expect({ host, greeting, version, limit, quota, init }).toEqual({ host: name, greeting: 'hi', version: '1', limit: String(64 << 20), quota: '25000', init: 'sleep 100000 ' });
    expect((await execInContainer(c, name, ['sh', '-c', 'exit 7'])).code).toBe(7);

    // Idempotent: same name, digest and options → nothing moves, same pid.
    const again = await runContainer(c, { name, image: v1, store, ports: { http: 31080, admin: 31081 }, env: { GREETING: 'hi' }, resources: { cpu: 0.25, memory: 64 << 20 }, gracePeriodSeconds: 2 });
    expect(again.pid).toBe(st.pid);
    expect(again.push.bytesSent).toBe(0);

    // Adoption: a new connection sees the same container.
    const c2 = Connection.localDir(join(work, 'host'));
    const seen = await containerStatuses(c2, [name, `${prefix}-nothing`]);
    await c2.close();
    expect(seen.get(name)).toMatchObject({ state: 'running', pid: st.pid, imageDigest: v1.digest });
    expect(seen.get(`${prefix}-nothing`)).toMatchObject({ state: 'absent' });

    // SIGKILL of the container's init: the supervisor restarts it (policy Always).
    process.kill(st.pid!, 'SIGKILL');
    const restarted = await until('a restart', async () => {
      const s = (await containerStatuses(c, [name])).get(name)!;
      return s.state === 'running' && s.pid !== st.pid && s.restarts === 1 ? s : undefined;
    });
    expect(restarted.lastExitCode).toBe(137);
    expect(restarted.lastReason).toBe('Error');

    // A new version replaces it: only the top layer moves.
    const up = await runContainer(c, { name, image: v2, store, gracePeriodSeconds: 2 });
    expect(up.push.present.map((b) => b.digest)).toContain(v2.layers[0]!.digest);
    expect(up.push.sent.map((b) => b.digest)).not.toContain(v2.layers[0]!.digest);
    const v = await execInContainer(c, name, ['sh', '-c', 'cat /srv/version']);
    expect(v).toMatchObject({ code: 0, stdout: '2' });

    await restartContainer(c, name);
    expect((await containerStatuses(c, [name])).get(name)).toMatchObject({ state: 'running', restarts: 0 });

    await stopContainer(c, name);
    expect((await containerStatuses(c, [name])).get(name)!.state).toBe('absent');
    expect(existsSync(join(work, 'host/.flotilla/containers', name))).toBe(false);
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(rootfs);
    await stopContainer(c, name); // idempotent
    await expect(execInContainer(c, name, ['true'])).rejects.toMatchObject({ code: 'container', message: expect.stringMatching(/is not running/) as unknown });
    // ~12 s on an idle machine (a restart's backoff, two graceful stops): more than the default 20 s at load 40.
  }, 90_000);

  it('an instance killed by the OOM killer is reported as OOMKilled', async () => {
    const name = `${prefix}-oom`;
    const st = await runContainer(c, { name, image: v1, store, args: ['echo start; tail /dev/zero'], resources: { memory: 16 << 20 }, restartPolicy: 'Never' });
    const done = await until('the OOM kill', async () => {
      const s = (await containerStatuses(c, [name])).get(name)!;
      return s.state === 'exited' ? s : undefined;
    });
    expect(st.limitsEnforced).toBe(true);
    expect(done).toMatchObject({ state: 'exited', exitCode: 137, reason: 'OOMKilled', restarts: 0 });
    await stopContainer(c, name);
  });

  it('a command that exits 0 is Completed; OnFailure does not restart it; a read-only root filesystem is read-only', async () => {
    const name = `${prefix}-job`;
    await runContainer(c, { name, image: v1, store, command: ['/bin/sh', '-c', 'echo done'], restartPolicy: 'OnFailure' });
    const done = await until('the job', async () => {
      const s = (await containerStatuses(c, [name])).get(name)!;
      return s.state === 'exited' ? s : undefined;
    });
    expect(done).toMatchObject({ exitCode: 0, reason: 'Completed', restarts: 0 });
    const ro = `${prefix}-ro`;
    await runContainer(c, { name: ro, image: v1, store, args: ['touch /x 2>&1; echo rc=$?; exec sleep 100000'], readOnlyRootFilesystem: true });
    const logs = await until('its output', async () => {
      const l: string[] = [];
      for await (const x of containerLogs(c, ro)) l.push(x);
      return l.some((x) => x.startsWith('rc=')) ? l : undefined;
    });
    expect(logs.find((x) => x.startsWith('rc='))).toBe('rc=1');
    await stopContainer(c, ro, { gracePeriodSeconds: 0 });
    await stopContainer(c, name);
  });

  it('runContainer calls for one name at once take turns: one container runs after them, never two', async () => {
    const name = `${prefix}-race`;
    const dir = join(work, 'host/.flotilla/containers', name);
    // Two connections (no shared state on this side), the same image twice and another once.
    const other = Connection.localDir(join(work, 'host'));
    try {
      const rs = await Promise.all([
        runContainer(c, { name, image: v1, store, gracePeriodSeconds: 0 }),
        runContainer(other, { name, image: v1, store, gracePeriodSeconds: 0 }),
        runContainer(c, { name, image: v2, store, gracePeriodSeconds: 0 }),
        runContainer(other, { name, image: v1, store, gracePeriodSeconds: 0 }),
      ]);
      for (const r of rs) expect(r.state).toBe('running');
      const st = (await containerStatuses(c, [name])).get(name)!;
      expect(st.state).toBe('running');
      // One supervisor for the container's directory, one container process, no leftover bundles.
      // (A supervisor's log rotator is a subshell of it, with the same command line: not counted.)
      const procs = readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .map((p) => {
          try {
            return { pid: p, ppid: readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]!, argv: readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0') };
          } catch {
            return { pid: p, ppid: '', argv: [] };
          }
        })
        .filter(({ argv: a }) => a[0] === 'sh' && a[1]?.includes('flotilla-ctr-supervise') && a[2] === dir);
      const supervisors = procs.filter((p) => !procs.some((q) => q.pid === p.ppid));
      expect(supervisors).toHaveLength(1);
      expect(existsSync(`/proc/${st.pid}`)).toBe(true);
      expect(readdirSync(join(work, 'host/.flotilla/containers')).filter((n) => n.startsWith(`.new-${name}`))).toEqual([]);
      const inside = await execInContainer(c, name, ['sh', '-c', 'read v < /srv/version; printf %s "$v"']);
      expect(inside).toMatchObject({ code: 0, stdout: st.imageDigest === v1.digest ? '1' : '2' });
    } finally {
      await stopContainer(c, name, { gracePeriodSeconds: 0 });
      await other.close();
    }
  });

  it('a start waits for the poststart hook (the started fifo), a run that never starts ends the wait, a bundle without the hook is still waited for', async () => {
    const name = `${prefix}-woken`;
    const dir = join(work, 'host/.flotilla/containers', name);
    const st = await runContainer(c, { name, image: v1, store, gracePeriodSeconds: 0 });
    expect(st.state).toBe('running');
    // The pid the hook gave is the container's init as runc sees it.
    const runcState = await c.run(`. ./.flotilla/containers/${name}/run.env && PATH="$PATH:/usr/sbin" && $rt --root "$root" state "$name"`, { hide: true });
    expect(JSON.parse(runcState.stdout)).toMatchObject({ pid: st.pid });
    const config = JSON.parse(readFileSync(join(dir, 'bundle/config.json'), 'utf8')) as { hooks?: { poststart?: { path: string; args: string[] }[] } };
    expect(config.hooks?.poststart).toEqual([{ path: '/bin/sh', args: ['sh', '-c', expect.stringContaining('"pid":') as unknown, join(dir, 'started')] }]);
    expect(statSync(join(dir, 'started')).isFIFO()).toBe(true);
    // A start on a connection that knows the host copies the host's skeleton of a container directory (one process).
    expect(statSync(join(work, 'host/.flotilla/containers/.skel/started')).isFIFO()).toBe(true);

    // A bundle from before the hook (no hook in config.json, no started=1 in run.env): a restart
    // still returns once the container runs (runc's pid file, polled), and makes no fifo.
    delete config.hooks;
    writeFileSync(join(dir, 'bundle/config.json'), JSON.stringify(config));
    writeFileSync(join(dir, 'run.env'), readFileSync(join(dir, 'run.env'), 'utf8').replace(/^started=.*\n/m, ''));
    rmSync(join(dir, 'started'));
    await restartContainer(c, name);
    const after = (await containerStatuses(c, [name])).get(name)!;
    expect(after).toMatchObject({ state: 'running', restarts: 0 });
    expect(after.pid).not.toBe(st.pid);
    expect(existsSync(join(dir, 'started'))).toBe(false);
    await stopContainer(c, name, { gracePeriodSeconds: 0 });

    // No such command: runc fails before the container's process starts, the hook never runs; the
    // supervisor records the end and closes the fifo, and the start returns it (no hang).
    const bad = await runContainer(c, { name: `${prefix}-nocmd`, image: v1, store, command: ['/no/such/command'], restartPolicy: 'Never', gracePeriodSeconds: 0 });
    expect(bad).toMatchObject({ state: 'exited', reason: 'Error' });
    expect(bad.exitCode).not.toBe(0);
    await stopContainer(c, `${prefix}-nocmd`, { gracePeriodSeconds: 0 });
  });

  it('between a failed run and its restart the status says restarting (with how the run ended), never exited', async () => {
    const name = `${prefix}-crash`;
    await runContainer(c, { name, image: v1, store, command: ['/bin/sh', '-c', 'sleep 0.2; exit 3'], gracePeriodSeconds: 0 });
    const seen = new Set<string>();
    let restarting: ContainerStatus | undefined;
    const end = Date.now() + 8000;
    while (Date.now() < end && (!restarting || seen.size < 2)) {
      const s = (await containerStatuses(c, [name])).get(name)!;
      seen.add(s.state);
      if (s.state === 'restarting') restarting = s;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen.has('exited')).toBe(false);
    expect(restarting).toMatchObject({ state: 'restarting', lastExitCode: 3, lastReason: 'Error' });
    expect(restarting!.pid).toBeUndefined();
    expect(restarting!.exitCode).toBeUndefined();
    expect(restarting!.restarts).toBeGreaterThanOrEqual(1);
    await stopContainer(c, name, { gracePeriodSeconds: 0 });
    // With restartPolicy Never, the same run ends as exited.
    await runContainer(c, { name, image: v1, store, command: ['/bin/sh', '-c', 'exit 3'], restartPolicy: 'Never' });
    const done = await until('exited', async () => {
      const s = (await containerStatuses(c, [name])).get(name)!;
      return s.state === 'exited' ? s : undefined;
    });
    expect(done).toMatchObject({ exitCode: 3, reason: 'Error', restarts: 0 });
    await stopContainer(c, name, { gracePeriodSeconds: 0 });
  });

  it("a container's log is rotated past logMaxBytes as a process's is (log -> log.1)", async () => {
    const name = `${prefix}-chatty`;
    const line = 'y'.repeat(1100);
    await runContainer(c, { name, image: v1, store, command: ['/bin/sh', '-c', `i=0; while :; do echo "$i ${line}"; i=$((i+1)); sleep 0.01; done`], logMaxBytes: 32 * 1024, gracePeriodSeconds: 0 });
    const dir = join(work, 'host/.flotilla/containers', name);
    await until('a rotated log', () => Promise.resolve(existsSync(join(dir, 'log.1')) ? true : undefined));
    const lines: string[] = [];
    for await (const l of containerLogs(c, name)) lines.push(l);
    expect(lines.length).toBeLessThan(200);
    await stopContainer(c, name, { gracePeriodSeconds: 0 });
  });

  it('gcImages keeps what a container uses and the last N pulled, removes the rest', async () => {
    const name = `${prefix}-web`;
    await runContainer(c, { name, image: v2, store });
    const r = await gcImages(c, { keepLast: 0 });
    // v1's top layer, manifest and config are not used by the running v2 container.
    expect(r.removedBlobs).toBe(3);
    expect(r.removedSnapshots).toBe(1);
    expect(r.bytesFreed).toBeGreaterThan(0);
    const hostStore = new FileContentStore(join(work, 'host/.flotilla/images'));
    for (const l of v2.layers) expect(await hostStore.has(l.digest)).toBe(true);
    expect(await hostStore.has(v1.digest)).toBe(false);
    await stopContainer(c, name, { gracePeriodSeconds: 0 });
    const after = await gcImages(c, { keepLast: 0 });
    expect(after.removedBlobs).toBe(4);
  });
});

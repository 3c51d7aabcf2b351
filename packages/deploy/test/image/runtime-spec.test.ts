import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileContentStore, buildImage, containerArgs, loadImage, parseImageUser, runtimeSpec, unpackImage } from '../../src/image/index.js';

const image = { config: { Entrypoint: ['/bin/httpd'], Cmd: ['-f', '-p', '80'], Env: ['GREETING=hello', 'PATH=/bin'], WorkingDir: '/srv' } };

describe('runtimeSpec (config.json as data)', () => {
  it('argv: command replaces Entrypoint+Cmd; args replace Cmd', () => {
    expect(containerArgs(image)).toEqual(['/bin/httpd', '-f', '-p', '80']);
    expect(containerArgs(image, undefined, ['-v'])).toEqual(['/bin/httpd', '-v']);
    expect(containerArgs(image, ['/bin/sh', '-c'], ['echo hi'])).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(containerArgs(image, ['/bin/true'])).toEqual(['/bin/true']);
    expect(() => runtimeSpec({ image: { config: {} }, hostname: 'x', rootless: true })).toThrow(/nothing to run/);
  });

  it('rootful: namespaces without user, cgroup limits from resources, env merged, cwd and hostname', () => {
    const { spec, limitsEnforced } = runtimeSpec({ image, hostname: 'web-7f2k', rootless: false, env: { PORT: '31234', GREETING: 'hi' }, resources: { cpuMillis: 250, memoryBytes: 64 * 1024 * 1024 } });
    expect(limitsEnforced).toBe(true);
    expect(spec.hostname).toBe('web-7f2k');
    expect(spec.process.env).toEqual(['GREETING=hi', 'PATH=/bin', 'PORT=31234']);
    expect(spec.process.cwd).toBe('/srv');
    expect(spec.process.user).toEqual({ uid: 0, gid: 0 });
    expect(spec.linux.namespaces.map((n) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount']);
    expect(spec.linux.resources).toEqual({ memory: { limit: 67108864 }, cpu: { quota: 25000, period: 100000 } });
    expect(spec.linux.uidMappings).toBeUndefined();
    expect(spec.mounts.find((m) => m.destination === '/sys')?.type).toBe('sysfs');
    expect(spec.root).toEqual({ path: 'rootfs', readonly: false });
  });

  it('rootless: a user namespace mapping the host user to root, no limits (limitsEnforced false)', () => {
    const { spec, limitsEnforced } = runtimeSpec({ image, hostname: 'h', rootless: true, hostUid: 1001, hostGid: 1002, resources: { cpuMillis: 500, memoryBytes: 1 << 30 }, readOnlyRootFilesystem: true });
    expect(limitsEnforced).toBe(false);
    expect(spec.linux.resources).toBeUndefined();
    expect(spec.linux.namespaces.map((n) => n.type)).toContain('user');
    expect(spec.linux.uidMappings).toEqual([{ containerID: 0, hostID: 1001, size: 1 }]);
    expect(spec.linux.gidMappings).toEqual([{ containerID: 0, hostID: 1002, size: 1 }]);
    expect(spec.mounts.find((m) => m.destination === '/sys')).toMatchObject({ type: 'none', source: '/sys', options: expect.arrayContaining(['rbind', 'ro']) as unknown });
    expect(spec.mounts.find((m) => m.destination === '/dev/pts')?.options).not.toContain('gid=5');
    expect(spec.root.readonly).toBe(true);
  });

  it('rootfsOverlay: the overlay is the first mount (on /), every other mount lands on it; option-breaking paths refused', () => {
    const o = { lower: '/home/u/.flotilla/snapshots/abc', upper: '/home/u/.flotilla/containers/web/upper', work: '/home/u/.flotilla/containers/web/work' };
    const { spec } = runtimeSpec({ image, hostname: 'web', rootless: true, rootfsOverlay: o });
    expect(spec.mounts[0]).toEqual({ destination: '/', type: 'overlay', source: 'overlay', options: [`lowerdir=${o.lower}`, `upperdir=${o.upper}`, `workdir=${o.work}`] });
    expect(spec.mounts.slice(1).map((m) => m.destination)).toEqual(runtimeSpec({ image, hostname: 'web', rootless: true }).spec.mounts.map((m) => m.destination));
    expect(spec.root).toEqual({ path: 'rootfs', readonly: false });
    for (const bad of ['/a,b', '/a:b', 'relative']) expect(() => runtimeSpec({ image, hostname: 'web', rootless: true, rootfsOverlay: { ...o, upper: bad } })).toThrow(/rootfsOverlay\.upper/);
  });

  it('hooks: createRuntime and poststart as given, in order; none without them', () => {
    const owners = { path: '/bin/sh', args: ['sh', '-c', 'chown …', 'flotilla-owners', '/c/web'] };
    const started = { path: '/bin/sh', args: ['sh', '-c', 'read …', '/c/web/started'] };
    const { spec } = runtimeSpec({ image, hostname: 'web', rootless: false, createRuntimeHooks: [owners], poststartHooks: [started] });
    expect(spec.hooks).toEqual({ createRuntime: [owners], poststart: [started] });
    expect(runtimeSpec({ image, hostname: 'web', rootless: true, poststartHooks: [started] }).spec.hooks).toEqual({ poststart: [started] });
    expect(runtimeSpec({ image, hostname: 'web', rootless: true }).spec.hooks).toBeUndefined();
    // Copies: the caller's hook objects are not the spec's.
    expect(spec.hooks!.poststart![0]).not.toBe(started);
  });

  it("resolves the image's User against its /etc/passwd and /etc/group", () => {
    const passwd = 'root:x:0:0::/root:/bin/sh\nwww:x:33:34::/var/www:/bin/false\n';
    const group = 'root:x:0:\nstaff:x:50:\n';
    expect(parseImageUser(undefined)).toEqual({ uid: 0, gid: 0 });
    expect(parseImageUser('1000')).toEqual({ uid: 1000, gid: 0 });
    expect(parseImageUser('1000:1000')).toEqual({ uid: 1000, gid: 1000 });
    expect(parseImageUser('www', { passwd })).toEqual({ uid: 33, gid: 34 });
    expect(parseImageUser('www:staff', { passwd, group })).toEqual({ uid: 33, gid: 50 });
    expect(parseImageUser('33', { passwd })).toEqual({ uid: 33, gid: 34 });
    expect(() => parseImageUser('nobody', { passwd })).toThrow(/not in its \/etc\/passwd/);
  });

  const canRunc = process.getuid?.() === 0 && existsSync('/usr/sbin/runc') && existsSync('/bin/busybox');
  it.runIf(canRunc)('runc runs a bundle made from a built busybox image: own pid namespace, hostname, env, memory limit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flo-runc-'));
    const id = `flo-spec-test-${process.pid}`;
    try {
      mkdirSync(join(dir, 'ctx/bin'), { recursive: true });
      copyFileSync('/bin/busybox', join(dir, 'ctx/bin/busybox'));
      symlinkSync('busybox', join(dir, 'ctx/bin/sh'));
      await buildImage({ dir: join(dir, 'ctx'), out: join(dir, 'img.oci.tar'), entrypoint: ['/bin/sh', '-c'], env: ['GREETING=hello'] });
      const store = new FileContentStore(join(dir, 'store'));
      const img = await loadImage(join(dir, 'img.oci.tar'), { store });
      await unpackImage(img, store, join(dir, 'bundle/rootfs'));
      const { spec } = runtimeSpec({
        image: img.config,
        args: ['echo "$GREETING from $(hostname), pid $$"; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'],
        hostname: 'web-1',
        rootless: false,
        resources: { memoryBytes: 64 * 1024 * 1024, cpuMillis: 250 },
      });
      writeFileSync(join(dir, 'bundle/config.json'), JSON.stringify(spec));
      const out = execFileSync('runc', ['run', '--bundle', join(dir, 'bundle'), id], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
      expect(out.split('\n')).toEqual(['hello from web-1, pid 1', String(64 * 1024 * 1024), '']);
    } finally {
      try {
        execFileSync('runc', ['delete', '--force', id], { stdio: 'ignore' });
      } catch {
        // already gone: runc run removes the container when its process exits
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

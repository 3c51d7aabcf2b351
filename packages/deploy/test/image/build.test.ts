import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileContentStore, buildImage, loadImage, unpackImage } from '../../src/image/index.js';
import { hasTool, requireTools } from './helpers.js';

let dir: string;
let ctx: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flo-build-test-'));
  // A busybox-static root filesystem (Debian's busybox-static), or a small stand-in without it.
  ctx = join(dir, 'ctx');
  mkdirSync(join(ctx, 'bin'), { recursive: true });
  mkdirSync(join(ctx, 'etc'));
  writeFileSync(join(ctx, 'bin/tool'), '#!/bin/sh\necho tool\n');
  chmodSync(join(ctx, 'bin/tool'), 0o755);
  symlinkSync('tool', join(ctx, 'bin/sh'));
  writeFileSync(join(ctx, 'etc/greeting'), 'hello from the image\n');
  // A busybox-static root filesystem (Debian's busybox-static) for the tests that run it.
  bb = join(dir, 'bb');
  mkdirSync(join(bb, 'bin'), { recursive: true });
  mkdirSync(join(bb, 'etc'));
  if (hasTool('busybox')) copyFileSync('/bin/busybox', join(bb, 'bin/busybox'));
  symlinkSync('busybox', join(bb, 'bin/sh'));
  writeFileSync(join(bb, 'etc/greeting'), 'hello from the image\n');
});
let bb: string;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const opts = { entrypoint: ['/bin/sh', '-c'], cmd: ['cat /etc/greeting'], env: ['GREETING=hi'], workdir: '/etc', tags: ['web:1'] };

describe('buildImage', () => {
  it('is reproducible: same input, same digest and bytes, whatever the mtimes and owners', async () => {
    const a = await buildImage({ dir: ctx, out: join(dir, 'a.oci.tar'), ...opts });
    const touched = new Date('2030-01-02T03:04:05Z');
    for (const f of ['bin/tool', 'etc/greeting', 'etc', 'bin']) utimesSync(join(ctx, f), touched, touched);
    if (process.getuid?.() === 0) chownSync(join(ctx, 'etc/greeting'), 4242, 4242);
    const b = await buildImage({ dir: ctx, out: join(dir, 'b.oci.tar'), ...opts });
    expect(b.digest).toBe(a.digest);
    expect(readFileSync(join(dir, 'b.oci.tar')).equals(readFileSync(join(dir, 'a.oci.tar')))).toBe(true);
    // What does count: contents, modes, options.
    writeFileSync(join(ctx, 'etc/extra'), 'x');
    const c = await buildImage({ dir: ctx, out: join(dir, 'c.oci.tar'), ...opts });
    expect(c.digest).not.toBe(a.digest);
    rmSync(join(ctx, 'etc/extra'));
    chmodSync(join(ctx, 'etc/greeting'), 0o600);
    expect((await buildImage({ dir: ctx, out: join(dir, 'd.oci.tar'), ...opts })).digest).not.toBe(a.digest);
    chmodSync(join(ctx, 'etc/greeting'), 0o644);
    expect((await buildImage({ dir: ctx, out: join(dir, 'e.oci.tar'), ...opts, env: ['GREETING=ho'] })).digest).not.toBe(a.digest);
    expect((await buildImage({ dir: ctx, out: join(dir, 'f.oci.tar'), ...opts })).digest).toBe(a.digest);
  });

  it('writes an archive that reads back with its config and tag', async () => {
    const built = await buildImage({ dir: ctx, out: join(dir, 'web.oci.tar'), ...opts });
    const img = await loadImage(join(dir, 'web.oci.tar'));
    expect(img.digest).toBe(built.digest);
    expect(img.tags).toEqual(['web:1']);
    expect(img.layers).toHaveLength(1);
    expect(img.config.config).toEqual({
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hi'],
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ['cat /etc/greeting'],
      WorkingDir: '/etc',
    });
    expect(img.config.created).toBe('1970-01-01T00:00:00Z');
  });

  it.runIf(requireTools(['busybox']))('round-trips: build → load → unpack → run /bin/busybox from the rootfs', async () => {
    await buildImage({ dir: bb, out: join(dir, 'rt.oci.tar'), ...opts });
    const store = new FileContentStore(join(dir, 'store'));
    const img = await loadImage(`oci-archive:${join(dir, 'rt.oci.tar')}`, { store });
    const rootfs = join(dir, 'rootfs');
    await unpackImage(img, store, rootfs);
    const [entry, ...args] = [...img.config.config!.Entrypoint!, ...img.config.config!.Cmd!];
    // A plain spawn with the image's entrypoint resolved inside the rootfs (no runc needed).
    const out = execFileSync(join(rootfs, entry!), args.map((a) => a.replace('/etc/greeting', join(rootfs, 'etc/greeting'))), { encoding: 'utf8', cwd: join(rootfs, img.config.config!.WorkingDir!) });
    expect(out).toBe('hello from the image\n');
  });

  it.runIf(requireTools(['skopeo', 'umoci']))('is read by skopeo and umoci (same digest)', async () => {
    const built = await buildImage({ dir: bb, out: join(dir, 'sk.oci.tar'), ...opts });
    const info = JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${join(dir, 'sk.oci.tar')}`], { encoding: 'utf8' })) as { Digest: string; Env: string[] };
    expect(info.Digest).toBe(built.digest);
    expect(info.Env).toContain('GREETING=hi');
    execFileSync('skopeo', ['copy', `oci-archive:${join(dir, 'sk.oci.tar')}`, `oci:${join(dir, 'sk-layout')}:web`], { stdio: 'pipe' });
    execFileSync('umoci', ['unpack', '--rootless', '--image', `${join(dir, 'sk-layout')}:web`, join(dir, 'sk-bundle')], { stdio: 'pipe' });
    expect(readFileSync(join(dir, 'sk-bundle/rootfs/etc/greeting'), 'utf8')).toBe('hello from the image\n');
  });

  it('puts one layer on top of a base: Env merged, Entrypoint clears the base Cmd', async () => {
    await buildImage({ dir: ctx, out: join(dir, 'base.oci.tar'), ...opts });
    const app = join(dir, 'app');
    mkdirSync(join(app, 'srv'), { recursive: true });
    writeFileSync(join(app, 'srv/index.html'), '<h1>hi</h1>');
    const built = await buildImage({ dir: app, out: join(dir, 'app.oci.tar'), base: join(dir, 'base.oci.tar'), entrypoint: ['/bin/httpd', '-f'], env: ['GREETING=override', 'PORT=80'] });
    const base = await loadImage(join(dir, 'base.oci.tar'));
    const img = await loadImage(join(dir, 'app.oci.tar'));
    expect(img.digest).toBe(built.digest);
    expect(img.layers.slice(0, 1)).toEqual(base.layers);
    expect(img.layers).toHaveLength(2);
    expect(img.config.config?.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=override', 'PORT=80']);
    expect(img.config.config?.Entrypoint).toEqual(['/bin/httpd', '-f']);
    expect(img.config.config?.Cmd).toBeUndefined();
    expect(img.config.config?.WorkingDir).toBe('/etc');
    expect(img.config.rootfs.diff_ids).toHaveLength(2);
  });

  it('refuses bad options with a TypeError naming them', async () => {
    await expect(buildImage({ dir: ctx, out: join(dir, 'x.tar'), workdir: 'rel' })).rejects.toThrow(/`workdir` to be an absolute path/);
    await expect(buildImage({ dir: ctx, out: join(dir, 'x.tar'), env: ['NOEQUALS'] })).rejects.toThrow(/`env` to be K=V entries/);
    await expect(buildImage({ dir: join(dir, 'nope'), out: join(dir, 'x.tar') })).rejects.toThrow(/is not a directory/);
  });
});

// Bad input to runContainer is refused with the image, the blob and the host named, before
// anything of the running version is stopped (it keeps running, same pid). Local transport,
// real runc, as root.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection } from '../../src/index.js';
import { FileContentStore, buildImage, containerStatuses, loadImage, pushImage, runContainer, signImage, stopContainer, type Image } from '../../src/image/index.js';
import { escapingImage, hostArch, makeImage, writeLayout } from './helpers.js';

const canRun = process.getuid?.() === 0 && existsSync('/usr/sbin/runc') && existsSync('/bin/busybox');
if (!canRun && process.env.CI === 'true') throw new Error('CI=true: the container tests need root, runc and busybox-static (.ci/run installs them)');

describe.runIf(canRun)('runContainer refuses bad input and leaves the running version alone', () => {
  let work: string;
  let store: FileContentStore;
  let v1: Image;
  let c: Connection;
  let pid: number;
  const name = `flo-ref-${process.pid}`;
  let n = 0;

  /** A fresh image (unique content) in a store of its own, so damaging it harms no other test. */
  const fresh = async (): Promise<{ image: Image; store: FileContentStore; archive: string }> => {
    const k = n++;
    mkdirSync(join(work, `ctx${k}/srv`), { recursive: true });
    writeFileSync(join(work, `ctx${k}/srv/version`), `v${k}-${'x'.repeat(4096)}`);
    const archive = join(work, `img${k}.oci.tar`);
    await buildImage({ dir: join(work, `ctx${k}`), out: archive, base: join(work, 'base.oci.tar') });
    const s = new FileContentStore(join(work, `store${k}`));
    return { image: await loadImage(archive, { store: s }), store: s, archive };
  };

  const stillRunning = async (): Promise<void> => {
    const st = (await containerStatuses(c, [name])).get(name)!;
    expect(st).toMatchObject({ state: 'running', pid, imageDigest: v1.digest });
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'flo-ctr-ref-'));
    store = new FileContentStore(join(work, 'store'));
    mkdirSync(join(work, 'base/bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(work, 'base/bin/busybox'));
    symlinkSync('busybox', join(work, 'base/bin/sh'));
    await buildImage({ dir: join(work, 'base'), out: join(work, 'base.oci.tar'), entrypoint: ['/bin/sh', '-c'], cmd: ['exec sleep 100000'] });
    v1 = await loadImage(join(work, 'base.oci.tar'), { store });
    mkdirSync(join(work, 'host'));
    c = Connection.localDir(join(work, 'host'), { name: 'hostA' });
    pid = (await runContainer(c, { name, image: v1, store, gracePeriodSeconds: 0 })).pid!;
    expect(pid).toBeGreaterThan(1);
  });
  afterAll(async () => {
    if (c) {
      await stopContainer(c, name, { gracePeriodSeconds: 0 }).catch(() => undefined);
      await c.close();
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('a blob tampered with in the local store (same size): blob-digest naming image, blob and host', async () => {
    const f = await fresh();
    const top = f.image.layers.at(-1)!.digest;
    const p = f.store.blobPath(top);
    const bytes = readFileSync(p);
    const i = bytes.length >> 1;
    bytes[i] = bytes[i]! ^ 0xff;
    chmodSync(p, 0o644);
    writeFileSync(p, bytes);
    await expect(runContainer(c, { name, image: f.image, store: f.store })).rejects.toMatchObject({
      code: 'blob-digest',
      host: 'hostA',
      blob: top,
      message: expect.stringMatching(new RegExp(`${top}.*hostA`)) as unknown,
    });
    await stillRunning();
  });

  it('a blob that arrives different (damaged on its way): refused by the host before anything is unpacked, naming image, blob and host; removed there', async () => {
    const f = await fresh();
    const top = f.image.layers.at(-1)!.digest;
    // The upload happens (the local copy is sound); the bytes that land on the host are damaged.
    const damaging = Connection.localDir(join(work, 'host'), { name: 'hostA' });
    const put = damaging.put.bind(damaging);
    damaging.put = async (local, remote, o) => {
      const r = await put(local, remote, o);
      if (remote.includes(top.slice(7))) {
        const p = join(work, 'host', remote);
        const bytes = readFileSync(p);
        bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
        chmodSync(p, 0o644);
        writeFileSync(p, bytes);
      }
      return r;
    };
    try {
      await expect(runContainer(damaging, { name, image: f.image, store: f.store })).rejects.toMatchObject({
        code: 'blob-digest',
        host: 'hostA',
        blob: top,
        image: f.archive,
        message: expect.stringMatching(/as it arrived.*on hostA; nothing running was changed/) as unknown,
      });
    } finally {
      await damaging.close();
    }
    expect(existsSync(join(work, 'host/.flotilla/images/blobs/sha256', top.slice(7)))).toBe(false);
    expect(readdirSync(join(work, 'host/.flotilla/images/ingest')).filter((e) => e.startsWith(top.slice(7)))).toEqual([]);
    await stillRunning();
  });

  it('a truncated blob on the host (its disk, after arrival): refused there, naming image, blob and host', async () => {
    const f = await fresh();
    await pushImage(c, f.image, f.store);
    const top = f.image.layers.at(-1)!.digest;
    const p = join(work, 'host/.flotilla/images/blobs/sha256', top.slice(7));
    chmodSync(p, 0o644);
    writeFileSync(p, readFileSync(p).subarray(0, 100));
    await expect(runContainer(c, { name, image: f.image, store: f.store })).rejects.toMatchObject({ code: 'blob-digest', host: 'hostA', blob: top, message: expect.stringMatching(/on hostA/) as unknown });
    await stillRunning();
  });

  it("a manifest on the host that does not match its digest: blob-digest naming the manifest's digest", async () => {
    const f = await fresh();
    await pushImage(c, f.image, f.store);
    const p = join(work, 'host/.flotilla/images/blobs/sha256', f.image.digest.slice(7));
    chmodSync(p, 0o644);
    writeFileSync(p, readFileSync(p, 'utf8').replace('"schemaVersion":2', '"schemaVersion": 2'));
    await expect(runContainer(c, { name, image: f.image, store: f.store })).rejects.toMatchObject({ code: 'blob-digest', host: 'hostA', blob: f.image.digest });
    await stillRunning();
  });

  it('a layer missing from the local store: blob-missing naming image, blob and host', async () => {
    const f = await fresh();
    const top = f.image.layers.at(-1)!.digest;
    unlinkSync(f.store.blobPath(top));
    await expect(runContainer(c, { name, image: f.image, store: f.store })).rejects.toMatchObject({ code: 'blob-missing', host: 'hostA', blob: top, message: expect.stringMatching(/hostA/) as unknown });
    await stillRunning();
  });

  it('a layer escaping its root: layer-unsafe naming the entry, the layer and the host', async () => {
    const { image, store: s, refusal } = await escapingImage(work);
    await expect(runContainer(c, { name, image, store: s })).rejects.toMatchObject(refusal('hostA'));
    expect(existsSync(join(work, 'host/.flotilla/escaped'))).toBe(false);
    await stillRunning();
  });

  it('an image for another architecture: image-platform naming image and host', async () => {
    const other = hostArch() === 'arm64' ? 'amd64' : 'arm64';
    const img = await makeImage({ architecture: other });
    const dir = join(work, 'arch-layout');
    writeLayout(dir, { schemaVersion: 2, manifests: [{ ...img.desc, platform: { os: 'linux', architecture: other } }] }, [img.manifest, img.config, img.layer]);
    const s = new FileContentStore(join(work, 'store-arch'));
    const image = await loadImage(`oci:${dir}`, { store: s, platform: { os: 'linux', architecture: other } });
    await expect(runContainer(c, { name, image, store: s })).rejects.toMatchObject({ code: 'image-platform', host: 'hostA', message: expect.stringMatching(new RegExp(`linux/${other}.*hostA is linux/${hostArch()}`)) as unknown });
    await stillRunning();
  });

  it('no runtime, no node on the host: container-runtime naming the host and the fix', async () => {
    const f = await fresh();
    await expect(runContainer(c, { name, image: f.image, store: f.store, runtime: 'no-such-runc' })).rejects.toMatchObject({
      code: 'container-runtime',
      host: 'hostA',
      message: expect.stringMatching(/hostA: the container runtime "no-such-runc" is not on the host's PATH.*install it/) as unknown,
    });
    await expect(runContainer(c, { name, image: f.image, store: f.store, node: '/nonexistent/node' })).rejects.toMatchObject({
      code: 'container-runtime',
      host: 'hostA',
      message: expect.stringMatching(/hostA: no node.*install Node\.js 20 or later on hostA/) as unknown,
    });
    await stillRunning();
  });

  it('an unsigned image on a host with allowed_signers: signature naming the host; a signed one runs and shows signedBy', async () => {
    const f = await fresh();
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', join(work, 'alice')]);
    const pub = readFileSync(join(work, 'alice.pub'), 'utf8').split(' ');
    writeFileSync(join(work, 'host/.flotilla/allowed_signers'), `alice@example.com ${pub[0]} ${pub[1]}\n`);
    try {
      await expect(runContainer(c, { name, image: f.image, store: f.store })).rejects.toMatchObject({ code: 'signature', host: 'hostA', message: expect.stringMatching(/hostA refused image .*has no signature/) as unknown });
      await stillRunning();
      await signImage(f.archive, { key: join(work, 'alice') });
      const st = await runContainer(c, { name, image: f.image, store: f.store, gracePeriodSeconds: 0 });
      expect(st).toMatchObject({ state: 'running', signedBy: 'alice@example.com', imageDigest: f.image.digest });
      expect(st.pid).not.toBe(pid);
    } finally {
      rmSync(join(work, 'host/.flotilla/allowed_signers'), { force: true });
    }
  });
});

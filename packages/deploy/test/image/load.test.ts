import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileContentStore, loadImage, parseImageReference, unpackImage } from '../../src/image/index.js';
import { hostArch, makeImage, requireTools, sha256, tarBuffer, writeLayout } from './helpers.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flo-load-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function err(p: Promise<unknown>) {
  try {
    await p;
  } catch (e) {
    return e as { code: string; blob?: string; image?: string; platforms?: string[]; message: string };
  }
  throw new Error('expected a failure');
}

const haveTools = requireTools(['umoci', 'skopeo', 'busybox']);

describe.runIf(haveTools)('images written by umoci and skopeo (interoperability)', () => {
  let layout: string;
  beforeAll(() => {
    // A busybox-static image made with Debian's umoci, then copied by skopeo into both archive kinds.
    layout = join(dir, 'umoci');
    const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: dir, stdio: 'pipe' });
    sh('umoci', ['init', '--layout', layout]);
    sh('umoci', ['new', '--image', `${layout}:bb`]);
    sh('umoci', ['unpack', '--rootless', '--image', `${layout}:bb`, join(dir, 'bundle')]);
    mkdirSync(join(dir, 'bundle/rootfs/bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(dir, 'bundle/rootfs/bin/busybox'));
    execFileSync('chmod', ['755', join(dir, 'bundle/rootfs/bin/busybox')]);
    symlinkSync('busybox', join(dir, 'bundle/rootfs/bin/sh'));
    sh('umoci', ['repack', '--image', `${layout}:bb`, join(dir, 'bundle')]);
    sh('umoci', ['config', '--image', `${layout}:bb`, '--config.entrypoint', '/bin/sh', '--config.env', 'GREETING=hi', '--config.workingdir', '/tmp']);
    sh('skopeo', ['copy', `oci:${layout}:bb`, `oci-archive:${join(dir, 'bb.oci.tar')}`]);
    sh('skopeo', ['copy', `oci:${layout}:bb`, `docker-archive:${join(dir, 'bb.docker.tar')}:bb:v1`]);
  });

  it('reads the same image from oci:DIR:tag, an oci-archive and a docker-archive', async () => {
    const fromDir = await loadImage(`oci:${layout}:bb`);
    const fromOci = await loadImage(`oci-archive:${join(dir, 'bb.oci.tar')}`);
    const fromDocker = await loadImage(`docker-archive:${join(dir, 'bb.docker.tar')}:bb:v1`);
    expect(fromDir.tags).toEqual(['bb']);
    expect(fromOci.digest).toBe(fromDir.digest);
    expect(fromDocker.tags).toEqual(['docker.io/library/bb:v1']);
    for (const img of [fromDir, fromOci, fromDocker]) {
      expect(img.config.config?.Entrypoint).toEqual(['/bin/sh']);
      expect(img.config.config?.Env).toContain('GREETING=hi');
      expect(img.config.config?.WorkingDir).toBe('/tmp');
      expect(img.layers).toHaveLength(1);
      expect(img.platform.architecture).toBe(hostArch());
    }
    // A bare path is recognised.
    expect((await loadImage(layout)).transport).toBe('oci');
    expect((await loadImage(join(dir, 'bb.oci.tar'))).transport).toBe('oci-archive');
    expect((await loadImage(join(dir, 'bb.docker.tar'))).transport).toBe('docker-archive');
  });

  it('stores the blobs, unpacks the rootfs and runs its busybox', async () => {
    for (const ref of [`oci:${layout}:bb`, `docker-archive:${join(dir, 'bb.docker.tar')}`]) {
      const store = new FileContentStore(join(dir, `store-${ref.slice(0, 3)}`));
      const img = await loadImage(ref, { store });
      for (const b of [img.digest, img.manifest.config.digest, ...img.layers.map((l) => l.digest)]) expect(await store.has(b)).toBe(true);
      const rootfs = join(dir, `rootfs-${ref.slice(0, 3)}`);
      await unpackImage(img, store, rootfs);
      const out = execFileSync(join(rootfs, 'bin/sh'), ['-c', 'echo $0 works'], { encoding: 'utf8' });
      expect(out.trim()).toBe(`${join(rootfs, 'bin/sh')} works`);
    }
  });

  it('refuses a tampered oci-archive blob, naming the entry', async () => {
    const x = join(dir, 'x');
    mkdirSync(x);
    execFileSync('tar', ['-xf', join(dir, 'bb.oci.tar'), '-C', x]);
    const img = await loadImage(join(dir, 'bb.oci.tar'));
    const cfg = join(x, 'blobs/sha256', img.manifest.config.digest.slice(7));
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('GREETING=hi', 'GREETING=ho'));
    execFileSync('tar', ['-cf', join(dir, 'bad.oci.tar'), '-C', x, '.']);
    const e = await err(loadImage(`oci-archive:${join(dir, 'bad.oci.tar')}`));
    expect(e.code).toBe('blob-digest');
    expect(e.blob).toBe(img.manifest.config.digest);
    expect(e.message).toContain(`archive entry blobs/sha256/${img.manifest.config.digest.slice(7)}`);
    expect(e.message).toContain('bad.oci.tar');
  });

  it('an oci-archive blob the store already holds is still checked against its name (a damaged copy is refused, the store copy untouched)', async () => {
    const img = await loadImage(join(dir, 'bb.oci.tar'));
    const store = new FileContentStore(join(dir, 'store-held'));
    await loadImage(join(dir, 'bb.oci.tar'), { store });
    const layer = img.layers[0]!.digest;
    const x = join(dir, 'x-held');
    mkdirSync(x);
    execFileSync('tar', ['-xf', join(dir, 'bb.oci.tar'), '-C', x]);
    const f = join(x, 'blobs/sha256', layer.slice(7));
    const bytes = readFileSync(f);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    chmodSync(f, 0o644);
    writeFileSync(f, bytes);
    execFileSync('tar', ['-cf', join(dir, 'held-bad.oci.tar'), '-C', x, '.']);
    const e = await err(loadImage(`oci-archive:${join(dir, 'held-bad.oci.tar')}`, { store }));
    expect(e.code).toBe('blob-digest');
    expect(e.blob).toBe(layer);
    expect(e.message).toContain(`archive entry blobs/sha256/${layer.slice(7)}`);
    // The store's copy is untouched (a read verifies it against its digest).
    expect((await store.read(layer, { maxBytes: 64 << 20 })).length).toBe(img.layers[0]!.size);
    // The sound archive still loads against the same store (its held blobs hashed once, not re-ingested).
    expect((await loadImage(join(dir, 'bb.oci.tar'), { store })).digest).toBe(img.digest);
  });
});

describe('reading and verifying OCI layouts', () => {
  let n = 0;
  async function layoutWith(mutate?: (blobs: Awaited<ReturnType<typeof makeImage>>, dir: string) => void) {
    const img = await makeImage();
    const d = join(dir, `layout-${n++}`);
    writeLayout(d, { schemaVersion: 2, manifests: [{ ...img.desc, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }, [img.manifest, img.config, img.layer]);
    mutate?.(img, d);
    return { img, d };
  }
  const blobFile = (d: string, b: Buffer) => join(d, 'blobs/sha256', sha256(b).slice(7));

  it('reads a layout and names its tags', async () => {
    const { img, d } = await layoutWith();
    const got = await loadImage(`oci:${d}`);
    expect(got.digest).toBe(img.desc.digest);
    expect(got.tags).toEqual(['v1']);
    expect(got.layers[0]!.digest).toBe(sha256(img.layer));
  });

  it('refuses a tampered layer (blob-digest naming image and blob), even with the blob already in a store', async () => {
    const { img, d } = await layoutWith((i, d) => {
      const b = Buffer.from(i.layer);
      b[b.length - 1] = b[b.length - 1]! ^ 0xff;
      writeFileSync(blobFile(d, i.layer), b);
    });
    const store = new FileContentStore(join(dir, 'store-tamper'));
    await store.put(img.layer, sha256(img.layer));
    const e = await err(loadImage(`oci:${d}:v1`, { store }));
    expect(e.code).toBe('blob-digest');
    expect(e.blob).toBe(sha256(img.layer));
    expect(e.image).toBe(`oci:${d}:v1`);
  });

  it('refuses a truncated layer', async () => {
    const { img, d } = await layoutWith((i, d) => truncateSync(blobFile(d, i.layer), 10));
    const e = await err(loadImage(`oci:${d}`));
    expect(e.code).toBe('blob-digest');
    expect(e.message).toContain(`10 bytes, expected ${img.layer.length}`);
  });

  it('refuses a missing layer (blob-missing)', async () => {
    const { img, d } = await layoutWith((i, d) => unlinkSync(blobFile(d, i.layer)));
    const e = await err(loadImage(`oci:${d}`));
    expect(e.code).toBe('blob-missing');
    expect(e.blob).toBe(sha256(img.layer));
  });

  it('refuses a manifest whose digest does not match', async () => {
    const { img, d } = await layoutWith((i, d) => writeFileSync(blobFile(d, i.manifest), Buffer.from(i.manifest.toString().replace('"schemaVersion":2', '"schemaVersion":2 '))));
    const e = await err(loadImage(`oci:${d}`));
    expect(e.code).toBe('blob-digest');
    expect(e.blob).toBe(img.desc.digest);
    expect(e.message).toMatch(/manifest/);
  });

  it('picks linux/<this arch> from an index, and refuses an image for other platforms only, naming them', async () => {
    const mine = await makeImage();
    const arm = await makeImage({ architecture: 'arm64-other' });
    const s390 = await makeImage({ architecture: 's390x' });
    const multi = join(dir, 'multi');
    const plat = (a: string) => ({ os: 'linux', architecture: a });
    writeLayout(multi, { schemaVersion: 2, manifests: [{ ...arm.desc, platform: plat('arm64-other') }, { ...mine.desc, platform: plat(hostArch()) }] }, [mine.manifest, mine.config, mine.layer, arm.manifest, arm.config, arm.layer]);
    expect((await loadImage(multi)).digest).toBe(mine.desc.digest);
    const other = join(dir, 'other');
    writeLayout(other, { schemaVersion: 2, manifests: [{ ...arm.desc, platform: plat('arm64-other') }, { ...s390.desc, platform: plat('s390x') }] }, [arm.manifest, arm.config, arm.layer, s390.manifest, s390.config, s390.layer]);
    const e = await err(loadImage(other));
    expect(e.code).toBe('image-platform');
    expect(e.platforms).toEqual(['linux/arm64-other', 'linux/s390x']);
    expect(e.message).toContain(`linux/${hostArch()}`);
    // A single manifest without a platform in the index: its config says.
    const single = join(dir, 'single-s390x');
    writeLayout(single, { schemaVersion: 2, manifests: [s390.desc] }, [s390.manifest, s390.config, s390.layer]);
    const e2 = await err(loadImage(single));
    expect(e2.code).toBe('image-platform');
    expect(e2.message).toContain('is for linux/s390x');
  });

  it('asks for a tag when a layout holds several images, and lists the tags for an unknown one', async () => {
    const a = await makeImage({ env: ['A=1'] });
    const b = await makeImage({ env: ['B=1'] });
    const two = join(dir, 'two');
    const tag = (t: string) => ({ annotations: { 'org.opencontainers.image.ref.name': t } });
    writeLayout(two, { schemaVersion: 2, manifests: [{ ...a.desc, ...tag('a') }, { ...b.desc, ...tag('b') }] }, [a.manifest, a.config, a.layer, b.manifest, b.config, b.layer]);
    expect((await err(loadImage(two))).message).toMatch(/several images; name one with :TAG \(tags: a, b\)/);
    expect((await err(loadImage(`oci:${two}:c`))).message).toMatch(/no image tagged "c" .*\(tags: a, b\)/);
    expect((await loadImage(`oci:${two}:b`)).config.config?.Env).toEqual(['B=1']);
  });

  it('refuses a docker-archive layer that does not match the config diff_ids', async () => {
    const tar = await tarBuffer([{ name: 'f', content: 'x' }]);
    const config = Buffer.from(JSON.stringify({ architecture: hostArch(), os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256('other')] } }));
    const cfgName = `${sha256(config).slice(7)}.json`;
    const archive = await tarBuffer([
      { name: cfgName, content: config },
      { name: 'l1/layer.tar', content: tar },
      { name: 'manifest.json', content: JSON.stringify([{ Config: cfgName, RepoTags: ['app:1'], Layers: ['l1/layer.tar'] }]) },
    ]);
    writeFileSync(join(dir, 'bad.docker.tar'), archive);
    const e = await err(loadImage(`docker-archive:${join(dir, 'bad.docker.tar')}`));
    expect(e.code).toBe('blob-digest');
    expect(e.message).toContain('l1/layer.tar');
  });
});

describe('parseImageReference', () => {
  it('parses the transports, tags and bare paths', () => {
    expect(parseImageReference('oci:./x:v1', { cwd: '/w' })).toMatchObject({ transport: 'oci', path: '/w/x', tag: 'v1' });
    expect(parseImageReference('oci-archive:/a/web.oci.tar', { cwd: '/w' })).toMatchObject({ transport: 'oci-archive', path: '/a/web.oci.tar' });
    expect(parseImageReference('docker-archive:web.tar:web:1', { cwd: '/w' })).toMatchObject({ transport: 'docker-archive', path: '/w/web.tar', tag: 'web:1' });
    expect(parseImageReference('docker-archive:web.tar:@2', { cwd: '/w' })).toMatchObject({ index: 2 });
    expect(parseImageReference('./web.oci.tar', { cwd: '/w' })).toMatchObject({ transport: undefined, path: '/w/web.oci.tar' });
  });
  it('refuses unknown transports and registries with image-reference', () => {
    expect(() => parseImageReference('docker://busybox')).toThrow(/not supported \(no registry/);
    expect(() => parseImageReference('foo:bar')).toThrow(/unknown transport foo:/);
    expect(() => parseImageReference('oci:')).toThrow(/path is empty/);
  });
});

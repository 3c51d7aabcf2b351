import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileContentStore, LayerSnapshots, chainIds, type Digest } from '../../src/image/index.js';
import { sha256, tarBuffer, type TarEntry } from './helpers.js';

let dir: string;
let store: FileContentStore;
let snaps: LayerSnapshots;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flo-snap-'));
  store = new FileContentStore(join(dir, 'store'));
  snaps = new LayerSnapshots(join(dir, 'snapshots'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** An image (as far as snapshots care) from layers given as tar entries; blobs go in the store. */
async function image(...layers: TarEntry[][]) {
  const descs = [];
  const diffIds: Digest[] = [];
  for (const entries of layers) {
    const tar = await tarBuffer(entries);
    const gz = gzipSync(tar);
    await store.put(gz, sha256(gz));
    descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(gz), size: gz.length });
    diffIds.push(sha256(tar));
  }
  return { layers: descs, config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers' as const, diff_ids: diffIds } } };
}

const base: TarEntry[] = [
  { name: 'usr/lib/', type: 'directory' },
  { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
  { name: 'etc/old', content: 'old' },
  { name: 'etc/keep', content: 'keep' },
];

describe('LayerSnapshots', () => {
  it('chain IDs follow the OCI spec', () => {
    const a = sha256('a');
    const b = sha256('b');
    expect(chainIds([a, b])).toEqual([a, sha256(`${a} ${b}`)]);
  });

  it('unpacks each layer once per chain, onto the layers below (links followed, whiteouts applied)', async () => {
    const v1 = await image(base, [{ name: 'lib/libc.so', content: 'c1' }, { name: 'etc/.wh.old' }]);
    const first = await snaps.prepare(v1, store);
    expect(first.unpacked).toBe(2);
    expect(readFileSync(join(first.dir, 'usr/lib/libc.so'), 'utf8')).toBe('c1');
    expect(lstatSync(join(first.dir, 'lib')).isSymbolicLink()).toBe(true);
    expect(readdirSync(join(first.dir, 'etc'))).toEqual(['keep']);
    // The same image again: nothing to unpack.
    expect((await snaps.prepare(v1, store)).unpacked).toBe(0);
    // A new version sharing the base layer: only its top layer is unpacked.
    const v2 = await image(base, [{ name: 'lib/libc.so', content: 'c2' }]);
    const second = await snaps.prepare(v2, store);
    expect(second.unpacked).toBe(1);
    expect(second.chainIds[0]).toBe(first.chainIds[0]);
    expect(readFileSync(join(second.dir, 'usr/lib/libc.so'), 'utf8')).toBe('c2');
    expect(readFileSync(join(second.dir, 'etc/old'), 'utf8')).toBe('old');
    expect((await snaps.list()).sort()).toEqual([...new Set([...first.chainIds, ...second.chainIds])].sort());
  });

  it('a layer starts from hard links to the snapshot below (no data copied), and replacing, removing or linking a file there leaves the lower snapshot as it was', async () => {
    const low: TarEntry[] = [...base, { name: 'etc/replaced', content: 'lower' }, { name: 'etc/removed', content: 'lower' }, { name: 'bin/tool', content: 'tool', mode: 0o755 }];
    const v = await image(low, [
      { name: 'etc/replaced', content: 'upper' },
      { name: 'etc/.wh.removed' },
      { name: 'bin/alias', type: 'link', linkname: 'bin/tool' },
      { name: 'etc/keep', content: 'keep, rewritten' },
    ]);
    const { chainIds: ids } = await snaps.prepare(v, store);
    const lower = snaps.dir(ids[0]!);
    const upper = snaps.dir(ids[1]!);
    // Untouched files are the same inodes: the new snapshot cost no copy.
    expect(statSync(join(upper, 'etc/replaced')).ino).not.toBe(statSync(join(lower, 'etc/replaced')).ino);
    expect(statSync(join(upper, 'bin/tool')).ino).toBe(statSync(join(lower, 'bin/tool')).ino);
    expect(statSync(join(upper, 'etc')).ino).not.toBe(statSync(join(lower, 'etc')).ino);
    // The lower snapshot is what its layer made.
    expect(readFileSync(join(lower, 'etc/replaced'), 'utf8')).toBe('lower');
    expect(readFileSync(join(lower, 'etc/removed'), 'utf8')).toBe('lower');
    expect(readFileSync(join(lower, 'etc/keep'), 'utf8')).toBe('keep');
    expect(readdirSync(join(lower, 'bin'))).toEqual(['tool']);
    expect(statSync(join(lower, 'bin/tool')).mode & 0o777).toBe(0o755);
    // The upper one is the two layers applied.
    expect(readFileSync(join(upper, 'etc/replaced'), 'utf8')).toBe('upper');
    expect(readFileSync(join(upper, 'etc/keep'), 'utf8')).toBe('keep, rewritten');
    expect(existsSync(join(upper, 'etc/removed'))).toBe(false);
    expect(readFileSync(join(upper, 'bin/alias'), 'utf8')).toBe('tool');
  });

  it('concurrent prepares of one image unpack it once', async () => {
    const v1 = await image(base, [{ name: 'x', content: 'x' }]);
    const rs = await Promise.all([snaps.prepare(v1, store), snaps.prepare(v1, store), snaps.prepare(v1, store)]);
    expect(rs.reduce((n, r) => n + r.unpacked, 0)).toBe(2);
    expect(readdirSync(snaps.root).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  });

  it('gives each instance a writable copy that leaves the snapshot alone', async () => {
    const v1 = await image(base);
    const a = await snaps.rootfs(v1, store, join(dir, 'a'));
    writeFileSync(join(a, 'etc/keep'), 'changed by the instance');
    const { dir: snap } = await snaps.prepare(v1, store);
    expect(readFileSync(join(snap, 'etc/keep'), 'utf8')).toBe('keep');
    const b = await snaps.rootfs(v1, store, join(dir, 'b'));
    expect(readFileSync(join(b, 'etc/keep'), 'utf8')).toBe('keep');
    expect(statSync(join(b, 'usr/lib')).isDirectory()).toBe(true);
  });

  it('leaves no snapshot behind when a layer fails its check, and collects unused ones', async () => {
    const v1 = await image(base, [{ name: 'y', content: 'y' }]);
    const bad = { ...v1, config: { ...v1.config, rootfs: { type: 'layers' as const, diff_ids: [v1.config.rootfs.diff_ids[0]!, sha256('not this')] } } };
    await expect(snaps.prepare(bad, store)).rejects.toMatchObject({ code: 'blob-digest' });
    const ids = await snaps.list();
    expect(ids).toEqual([v1.config.rootfs.diff_ids[0]]);
    expect(readdirSync(snaps.root).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    const good = await snaps.prepare(v1, store);
    expect(await snaps.gc([good.chainIds[1]!])).toEqual([good.chainIds[0]]);
    expect(existsSync(good.dir)).toBe(true);
  });
});

import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer, isImageError, type ApplyLayerOptions } from '../../src/image/index.js';
import { chunksOf, sha256, tarBuffer, type TarEntry } from './helpers.js';

let sandbox: string;
let root: string;
let outside: string;
beforeEach(() => {
  sandbox = mkdtempSync(join(tmpdir(), 'flo-unpack-'));
  root = join(sandbox, 'root');
  outside = join(sandbox, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'untouched');
  mkdirSync(join(outside, 'a'), { mode: 0o750 });
  outsideStat = statLine(join(outside, 'a'));
});
let outsideStat: string;
function statLine(p: string): string {
  const s = statSync(p, { bigint: true });
  return `${s.mode} ${s.uid} ${s.gid} ${s.mtimeNs} ${s.ctimeNs}`;
}
afterEach(() => rmSync(sandbox, { recursive: true, force: true }));

async function apply(entries: TarEntry[], options: ApplyLayerOptions = {}, into = root) {
  return applyLayer(chunksOf(await tarBuffer(entries)), into, options);
}

async function refused(entries: TarEntry[], options: ApplyLayerOptions = {}) {
  try {
    await apply(entries, options);
  } catch (e) {
    return e as { code: string; entry?: string; message: string };
  }
  throw new Error('expected the layer to be refused');
}

function outsideUntouched() {
  expect(readdirSync(outside).sort()).toEqual(['a', 'secret']);
  expect(readdirSync(join(outside, 'a'))).toEqual([]);
  expect(statLine(join(outside, 'a'))).toBe(outsideStat);
  expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('untouched');
  expect(readdirSync(sandbox).sort()).toEqual(['outside', 'root']);
}

describe('applyLayer', () => {
  it('writes files, directories, symlinks and hard links with their modes', async () => {
    const r = await apply([
      { name: './bin/', type: 'directory', mode: 0o755 },
      { name: './bin/tool', content: '#!/bin/sh\necho hi\n', mode: 0o755 },
      { name: 'bin/sh', type: 'symlink', linkname: 'tool' },
      { name: 'bin/tool2', type: 'link', linkname: 'bin/tool' },
      { name: 'etc/motd', content: 'hello', mode: 0o600 },
      { name: 'ro/', type: 'directory', mode: 0o555 },
      { name: 'ro/inside', content: 'x' },
    ]);
    expect(r.entries).toBe(7);
    expect(readFileSync(join(root, 'bin/tool'), 'utf8')).toContain('echo hi');
    expect(statSync(join(root, 'bin/tool')).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(root, 'bin/sh'))).toBe('tool');
    expect(statSync(join(root, 'bin/tool2')).ino).toBe(statSync(join(root, 'bin/tool')).ino);
    expect(statSync(join(root, 'etc/motd')).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'ro')).mode & 0o777).toBe(0o555);
    expect(readFileSync(join(root, 'ro/inside'), 'utf8')).toBe('x');
    expect(r.diffId).toMatch(/^sha256:[a-f0-9]{64}$/);
  });

  it('recognises gzip and checks the diff_id', async () => {
    const tar = await tarBuffer([{ name: 'a', content: 'A' }]);
    const r = await applyLayer(chunksOf(gzipSync(tar)), root, { diffId: sha256(tar) });
    expect(r.diffId).toBe(sha256(tar));
    const other = join(sandbox, 'other');
    mkdirSync(other);
    const e = await applyLayer(chunksOf(gzipSync(tar)), other, { diffId: sha256('something else'), image: 'img', layer: 'sha256:ab' }).catch((x: unknown) => x);
    expect(isImageError(e) && e.code).toBe('blob-digest');
    expect((e as Error).message).toContain(sha256('something else'));
  });

  it('applies a whiteout: .wh.NAME removes NAME from the layers below', async () => {
    await apply([
      { name: 'etc/keep', content: 'k' },
      { name: 'etc/gone', content: 'g' },
      { name: 'etc/dir/deep', content: 'd' },
    ]);
    await apply([{ name: 'etc/.wh.gone' }, { name: 'etc/.wh.dir' }]);
    expect(readdirSync(join(root, 'etc'))).toEqual(['keep']);
  });

  it.each([
    ['before', true],
    ['after', false],
  ])('an opaque directory hides what lies below but keeps this layer’s entries (marker %s them)', async (_w, markerFirst) => {
    await apply([
      { name: 'data/old', content: 'o' },
      { name: 'data/sub/old', content: 'o' },
      { name: 'other', content: 'x' },
    ]);
    const marker: TarEntry = { name: 'data/.wh..wh..opq' };
    const mine: TarEntry[] = [{ name: 'data/new', content: 'n' }, { name: 'data/sub/new', content: 'n' }];
    await apply(markerFirst ? [marker, ...mine] : [...mine, marker]);
    expect(readdirSync(join(root, 'data')).sort()).toEqual(['new', 'sub']);
    expect(readdirSync(join(root, 'data/sub'))).toEqual(['new']);
    expect(existsSync(join(root, 'other'))).toBe(true);
  });

  it("records whiteouts instead of applying them with whiteouts: 'record'", async () => {
    writeFileSync(join(root, 'gone'), 'still here');
    const r = await apply([{ name: '.wh.gone' }, { name: 'd/.wh..wh..opq' }, { name: 'd/f', content: 'f' }], { whiteouts: 'record' });
    expect(r.whiteouts).toEqual(['gone']);
    expect(r.opaqueDirs).toEqual(['d']);
    expect(readFileSync(join(root, 'gone'), 'utf8')).toBe('still here');
    expect(existsSync(join(root, 'd/.wh..wh..opq'))).toBe(false);
  });

  it('follows a relative symlink that stays inside the root (lib -> usr/lib)', async () => {
    await apply([{ name: 'usr/lib/', type: 'directory' }, { name: 'lib', type: 'symlink', linkname: 'usr/lib' }]);
    await apply([{ name: 'lib/libc.so', content: 'c' }]);
    expect(readFileSync(join(root, 'usr/lib/libc.so'), 'utf8')).toBe('c');
    expect(lstatSync(join(root, 'lib')).isSymbolicLink()).toBe(true);
  });

  it('replaces an existing symlink leaf instead of writing through it', async () => {
    await apply([{ name: 'f', type: 'symlink', linkname: join(outside, 'secret') }]);
    await apply([{ name: 'f', content: 'new' }]);
    expect(lstatSync(join(root, 'f')).isFile()).toBe(true);
    outsideUntouched();
  });

  const escapes: [string, TarEntry[], string][] = [
    ['a .. component', [{ name: '../escaped', content: 'x' }], '../escaped'],
    ['a .. in the middle', [{ name: 'a/../../escaped', content: 'x' }], 'a/../../escaped'],
    ['an absolute path', [{ name: '/tmp/escaped', content: 'x' }], '/tmp/escaped'],
    ['a file through a symlink pointing out (absolute)', [{ name: 'a', type: 'symlink', linkname: '/' }, { name: 'a/tmp/escaped', content: 'x' }], 'a/tmp/escaped'],
    ['a file through a symlink pointing out (relative)', [{ name: 'd/a', type: 'symlink', linkname: '../../outside' }, { name: 'd/a/escaped', content: 'x' }], 'd/a/escaped'],
    ['a chain of symlinks pointing out', [{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'c/..' }, { name: 'c/', type: 'directory' }, { name: 'c2', type: 'symlink', linkname: '../outside' }, { name: 'c2/escaped', content: 'x' }], 'c2/escaped'],
    ['a hard link to a path outside', [{ name: 'l', type: 'link', linkname: '../outside/secret' }], 'l'],
    ['a whiteout of ..', [{ name: 'x/.wh...' }], 'x/.wh...'],
    ['a whiteout through a symlink pointing out', [{ name: 'a', type: 'symlink', linkname: '@OUTSIDE' }, { name: 'a/.wh.secret' }], 'a/.wh.secret'],
    ['a symlink loop', [{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }, { name: 'a/x', content: 'x' }], 'a/x'],
  ];
  it.each(escapes)('refuses %s, naming the entry', async (_what, entries, entry) => {
    const e = await refused(entries.map((x) => (x.linkname === '@OUTSIDE' ? { ...x, linkname: outside } : x)));
    expect(e.code).toBe('layer-unsafe');
    expect(e.entry).toBe(entry);
    expect(e.message).toContain(JSON.stringify(entry));
    outsideUntouched();
  });

  it('refuses device nodes when rootless, naming the entry', async () => {
    const e = await refused([{ name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 }], { rootless: true });
    expect(e.code).toBe('layer-unsafe');
    expect(e.entry).toBe('dev/null');
    expect(e.message).toMatch(/character device .*rootless/);
  });

  it.runIf(process.getuid?.() === 0)('creates device nodes and owners when rootful', async () => {
    await apply([{ name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 }, { name: 'home/u/f', content: 'x', uid: 1234, gid: 4321 }], { rootless: false });
    const s = statSync(join(root, 'dev/null'));
    expect(s.isCharacterDevice()).toBe(true);
    expect(statSync(join(root, 'home/u/f')).uid).toBe(1234);
    expect(statSync(join(root, 'home/u/f')).gid).toBe(4321);
  });

  it.runIf(process.getuid?.() === 0 && existsSync('/usr/sbin/runuser'))('rootless, writes into a read-only directory of a lower layer, and leaves its mode as it was', async () => {
    // Debian-based images have dr-xr-xr-x /proc and /sys; a rootless user is not root, so the
    // unpacker must open such a directory for writing itself, then put its mode back.
    const work = mkdtempSync(join(tmpdir(), 'flo-rootless-'));
    try {
      writeFileSync(join(work, 'l1.tar'), await tarBuffer([{ name: 'ro/', type: 'directory', mode: 0o555 }, { name: 'ro/sub/', type: 'directory', mode: 0o555 }, { name: 'ro/old', content: 'o' }, { name: 'ro/gone/', type: 'directory', mode: 0o555 }, { name: 'ro/gone/f', content: 'f' }]));
      writeFileSync(join(work, 'l2.tar'), await tarBuffer([{ name: 'ro/sub/new', content: 'n' }, { name: 'ro/.wh.old' }, { name: 'ro/.wh.gone' }]));
      mkdirSync(join(work, 'root'));
      execFileSync('chown', ['-R', 'nobody', work]);
      const out = execFileSync('runuser', ['-u', 'nobody', '--', process.execPath, '--conditions=@flotilla/source', '--import', 'tsx', join(__dirname, 'rootless-apply.ts'), join(work, 'root'), join(work, 'l1.tar'), join(work, 'l2.tar')], { encoding: 'utf8', cwd: join(__dirname, '../..'), stdio: ['ignore', 'pipe', 'pipe'] });
      expect(out).toBe('ok\n');
      expect(readFileSync(join(work, 'root/ro/sub/new'), 'utf8')).toBe('n');
      expect(readdirSync(join(work, 'root/ro')).sort()).toEqual(['sub']);
      expect(statSync(join(work, 'root/ro')).mode & 0o777).toBe(0o555);
      expect(statSync(join(work, 'root/ro/sub')).mode & 0o777).toBe(0o555);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('no generated layer writes outside its root (property)', async () => {
    // Names from a small alphabet so that links, whiteouts and writes through links collide often.
    const seg = fc.constantFrom('a', 'b', 'c', '..', '.', 'outside', '.wh.a', '.wh..wh..opq', '');
    const path = fc.array(seg, { minLength: 1, maxLength: 4 }).chain((parts) => fc.boolean().map((abs) => (abs ? '/' : '') + parts.join('/')));
    const linkTarget = fc.oneof(path, fc.constantFrom('/', outside, join(outside, 'secret'), '../outside', '../../outside', '..', '.'));
    const entry: fc.Arbitrary<TarEntry> = fc.oneof(
      path.map((name) => ({ name, content: 'x' })),
      path.map((name) => ({ name, type: 'directory' as const })),
      fc.tuple(path, linkTarget).map(([name, linkname]) => ({ name, type: 'symlink' as const, linkname })),
      fc.tuple(path, linkTarget).map(([name, linkname]) => ({ name, type: 'link' as const, linkname })),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(entry, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 3 }), async (layers) => {
        const r = join(sandbox, 'root');
        rmSync(r, { recursive: true, force: true });
        mkdirSync(r);
        for (const layer of layers) {
          try {
            await apply(layer.filter((e) => e.name !== ''), { rootless: true }, r);
          } catch (e) {
            if (!isImageError(e)) throw e;
            // layer-unsafe or image-invalid: refused; nothing written outside either way.
          }
          outsideUntouched();
        }
        n++;
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 200) },
    );
    expect(n).toBe(Number(process.env.FUZZ_RUNS ?? 200));
  }, 600_000);
});

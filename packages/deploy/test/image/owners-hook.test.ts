// Rootful through sudo, the host program unpacks as the host user, so the layers' owners are
// kept in a list that a createRuntime hook, run by the runtime as root, applies to the rootfs.
// Here: a real layer unpacked without owners (rootless), its list, and the hook run as root.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OWNERS_HOOK_SCRIPT } from '../../src/image/container-sh.js';
import { applyLayer, ownerLine } from '../../src/image/unpack.js';
import { chunksOf, tarBuffer } from './helpers.js';

const asRoot = process.getuid?.() === 0;
if (!asRoot && process.env.CI === 'true') throw new Error('CI=true: the owners hook test needs root');

describe.runIf(asRoot)('the owners hook (rootful through sudo)', () => {
  let dir: string;
  let outside: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flo-owners-'));
    outside = join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), 'host file');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ownerLine encodes every byte that is not plainly safe, so a line has no space or newline', () => {
    expect(ownerLine('usr/bin/a b\nc\\d', 1, 2, 0o4755)).toBe('1 2 4755 usr/bin/a\\0040b\\0012c\\0134d');
    expect(ownerLine('lib', 0, 0, 'l')).toBe('0 0 l lib');
  });

  it('gives the rootfs the owners and modes the layer says (set-id bits kept), never through a symlink, once', async () => {
    const c = join(dir, 'ctr');
    const rootfs = join(c, 'bundle/rootfs');
    mkdirSync(rootfs, { recursive: true });
    // An image whose later layer turned a directory into a link out of the rootfs: the list still
    // has the earlier layer's line for a file under it.
    symlinkSync(outside, join(rootfs, 'evil'));
    const layer = await tarBuffer([
      { name: 'home/', type: 'directory', uid: 1000, gid: 1000, mode: 0o750 },
      { name: 'home/app file', content: 'x', uid: 1000, gid: 100 },
      { name: 'bin/', type: 'directory' },
      { name: 'bin/su', content: 'su', mode: 0o4755 },
      { name: 'bin/sh', type: 'symlink', linkname: 'su', uid: 7, gid: 7 },
      { name: 'etc/shadow', content: 's', mode: 0o640, gid: 42 },
    ]);
    const applied = await applyLayer(chunksOf(layer), rootfs, { rootless: true, recordOwners: true });
    // As the host user made them: nobody's, owners lost.
    execFileSync('chown', ['-hR', 'nobody:nogroup', rootfs]);
    writeFileSync(join(c, 'owners'), [...applied.owners!, ownerLine('evil/secret', 1234, 1234, 0o777)].map((l) => `${l}\n`).join(''));
    const run = () => execFileSync('sh', ['-c', OWNERS_HOOK_SCRIPT, 'flotilla-owners', c], { stdio: ['ignore', 'pipe', 'pipe'] });
    run();
    const own = (p: string) => {
      const st = lstatSync(join(rootfs, p));
      return [st.uid, st.gid, st.mode & 0o7777];
    };
    expect(own('home')).toEqual([1000, 1000, 0o750]);
    expect(own('home/app file')).toEqual([1000, 100, 0o644]);
    expect(own('bin/su')).toEqual([0, 0, 0o4755]);
    expect(own('bin')).toEqual([0, 0, 0o755]);
    expect(own('etc')).toEqual([0, 0, statSync(join(rootfs, 'etc')).mode & 0o7777]);
    expect(own('etc/shadow')).toEqual([0, 42, 0o640]);
    expect(lstatSync(join(rootfs, 'bin/sh'))).toMatchObject({ uid: 7, gid: 7 });
    // Nothing outside the rootfs was touched through the link.
    expect(statSync(join(outside, 'secret'))).toMatchObject({ uid: 0, gid: 0 });
    expect(statSync(join(outside, 'secret')).mode & 0o777).toBe(0o644);
    expect(existsSync(join(c, '.owners-applied'))).toBe(true);
    // Once: a restart of the container does not do it again.
    execFileSync('chown', ['1:1', join(rootfs, 'bin/su')]);
    run();
    expect(own('bin/su').slice(0, 2)).toEqual([1, 1]);
    expect(readFileSync(join(c, 'owners'), 'utf8')).toContain('0 0 4755 bin/su');
  });
});

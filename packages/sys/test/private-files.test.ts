import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensurePrivateDir, openPrivateFile, openPrivateFileSync, readSecretFileSync, isSysError, tightenPrivateTree } from '@flotilla/sys';
import { closeSync } from 'node:fs';

const mode = (p: string) => statSync(p).mode & 0o777;
let dir: string;
let umask: number;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flo-sys-priv-'));
  umask = process.umask(0o022);
});
afterEach(() => {
  process.umask(umask);
  rmSync(dir, { recursive: true, force: true });
});

describe('private directories and files (umask 022)', () => {
  it('ensurePrivateDir creates every missing directory 0700, silently', () => {
    const warnings: string[] = [];
    ensurePrivateDir(join(dir, 'a', 'b', 'c'), (m) => warnings.push(m));
    for (const p of ['a', 'a/b', 'a/b/c']) expect(mode(join(dir, p)), p).toBe(0o700);
    expect(warnings).toEqual([]);
  });
  it('ensurePrivateDir tightens an existing 0755 directory, with a warning', () => {
    const d = join(dir, 'old');
    mkdirSync(d, { mode: 0o755 });
    expect(mode(d)).toBe(0o755);
    const warnings: string[] = [];
    ensurePrivateDir(d, (m) => warnings.push(m));
    expect(mode(d)).toBe(0o700);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('0755');
    ensurePrivateDir(d, (m) => warnings.push(m));
    expect(warnings).toHaveLength(1); // nothing to say the second time
  });
  it('openPrivateFile and openPrivateFileSync create 0600 files and tighten existing ones', async () => {
    const a = join(dir, 'a');
    await (await openPrivateFile(a, 'a')).close();
    expect(mode(a)).toBe(0o600);
    const b = join(dir, 'b');
    writeFileSync(b, 'x', { mode: 0o644 });
    closeSync(openPrivateFileSync(b, 'a'));
    expect(mode(b)).toBe(0o600);
  });
  it('tightenPrivateTree sets a whole tree to 0700/0600 and says so once', () => {
    mkdirSync(join(dir, 't', 'wal'), { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, 't', 'wal', '1.wal'), 'x', { mode: 0o644 });
    writeFileSync(join(dir, 't', 'LOCK'), 'x', { mode: 0o644 });
    const warnings: string[] = [];
    expect(tightenPrivateTree(join(dir, 't'), (m) => warnings.push(m))).toBe(4);
    expect([mode(join(dir, 't')), mode(join(dir, 't', 'wal')), mode(join(dir, 't', 'wal', '1.wal')), mode(join(dir, 't', 'LOCK'))]).toEqual([0o700, 0o700, 0o600, 0o600]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/tightened 4 paths/);
    expect(tightenPrivateTree(join(dir, 't'), (m) => warnings.push(m))).toBe(0);
    expect(warnings).toHaveLength(1);
  });
});

describe('readSecretFileSync', () => {
  it('reads a 0600 (or 0400) file', () => {
    const f = join(dir, 'token');
    writeFileSync(f, 's3cret\n', { mode: 0o600 });
    expect(readSecretFileSync(f).toString()).toBe('s3cret\n');
    chmodSync(f, 0o400);
    expect(readSecretFileSync(f).toString()).toBe('s3cret\n');
  });
  it.each([0o644, 0o640, 0o604, 0o660, 0o602])('refuses mode %o of a file we own, naming the fix', (m) => {
    const f = join(dir, 'token');
    writeFileSync(f, 's3cret\n');
    chmodSync(f, m);
    let err: unknown;
    try {
      readSecretFileSync(f, { what: 'the --token-file token' });
    } catch (e) {
      err = e;
    }
    expect(isSysError(err)).toBe(true);
    expect((err as { code: string }).code).toBe('unprotected-secret-file');
    expect((err as Error).message).toContain(`chmod 600 ${f}`);
    expect((err as Error).message).toContain(`0${m.toString(8)}`);
    expect((err as Error).message).not.toContain('s3cret');
  });
  it('refuses a directory', () => {
    expect(() => readSecretFileSync(dir)).toThrow(/not a regular file|EISDIR/);
  });
});

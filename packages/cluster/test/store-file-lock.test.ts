// The file store's lock and file modes (issue 12, parts 3 and 4): a lock left empty by a
// writer killed while creating it, a zombie or reused-pid holder, and private data on disk.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { processStartTime } from '@flotilla/sys';
import { onLinux, startSleeper, startZombie } from '@flotilla/sys/testing';
import { isClusterError, openFileStore } from '../src/index.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'flotilla-file-lock-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const mode = (p: string): number => statSync(p).mode & 0o777;
const age = (p: string, seconds: number): void => {
  const t = new Date(Date.now() - seconds * 1000);
  utimesSync(p, t, t);
};

describe('file store lock', () => {
  it('takes over an empty lock older than a few seconds (a writer killed while creating it), with a warning', async () => {
    const dir = tempDir();
    const warnings: string[] = [];
    const s = await openFileStore(dir, { lockTimeoutMs: 300, onWarning: (m) => warnings.push(m) });
    const lock = join(dir, 'store/lock');
    writeFileSync(lock, '');
    age(lock, 6);
    expect(await s.put('/a', '1')).toBe(1);
    expect(warnings.join('\n')).toMatch(/took over the lock .*empty/);
    writeFileSync(lock, 'not a holder at all');
    age(lock, 60);
    expect(await s.put('/a', '2')).toBe(2);
    await s.close();
  });

  it('waits on a fresh empty lock and then fails saying how to remove it by hand', async () => {
    const dir = tempDir();
    const s = await openFileStore(dir, { lockTimeoutMs: 200 });
    const lock = join(dir, 'store/lock');
    writeFileSync(lock, '');
    const err = await s.put('/a', '1').catch((e: unknown) => e);
    expect(isClusterError(err) && err.code).toBe('store-locked');
    expect((err as Error).message).toContain(`rm ${lock}`);
    expect((err as Error).message).toMatch(/empty/);
    await s.close();
  });

  it('a live holder is waited for and named; a holder on another host is never taken over', async () => {
    const dir = tempDir();
    const s = await openFileStore(dir, { lockTimeoutMs: 200 });
    const lock = join(dir, 'store/lock');
    writeFileSync(lock, `${process.ppid} ${hostname()}`);
    let err = await s.put('/a', '1').catch((e: unknown) => e);
    expect(isClusterError(err) && err.code).toBe('store-locked');
    expect((err as Error).message).toContain(`process ${process.ppid} on ${hostname()}`);
    writeFileSync(lock, `1 some-other-host`);
    age(lock, 3600);
    err = await s.put('/a', '1').catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/another machine/);
    expect(readFileSync(lock, 'utf8')).toBe('1 some-other-host');
    await s.close();
  });

  it.runIf(onLinux)('(Linux) takes over the lock of a zombie holder (killed, not yet reaped)', async () => {
    const dir = tempDir();
    const s = await openFileStore(dir, { lockTimeoutMs: 300 });
    const { pid, parent } = await startZombie();
    try {
      writeFileSync(join(dir, 'store/lock'), `${pid} ${hostname()}`);
      expect(await s.put('/a', '1')).toBe(1);
    } finally {
      parent.kill('SIGKILL');
      await s.close();
    }
  });

  it.runIf(onLinux)('(Linux) takes over a lock naming a live pid with another start time (the pid was reused)', async () => {
    const dir = tempDir();
    const s = await openFileStore(dir, { lockTimeoutMs: 300 });
    const child = await startSleeper();
    try {
      const start = processStartTime(child.pid)!;
      writeFileSync(join(dir, 'store/lock'), `${child.pid} ${hostname()} start=${start}`);
      const err = await s.put('/a', '1').catch((e: unknown) => e);
      expect(isClusterError(err) && err.code).toBe('store-locked'); // its own start time: held
      writeFileSync(join(dir, 'store/lock'), `${child.pid} ${hostname()} start=${BigInt(start) + 1n}`);
      expect(await s.put('/a', '1')).toBe(1);
    } finally {
      child.kill('SIGKILL');
      await s.close();
    }
  });

  it('leaves no lock or temp file behind after a write', async () => {
    const dir = tempDir();
    const s = await openFileStore(dir);
    await s.put('/a', '1');
    expect(readdirSync(join(dir, 'store')).sort()).toEqual(['log.jsonl', 'snapshot.json']);
    await s.close();
  });
});

describe('file store modes (umask 022)', () => {
  let umask: number;
  beforeEach(() => {
    umask = process.umask(0o022);
  });
  afterEach(() => {
    process.umask(umask);
  });

  it('creates .flotilla/ and store/ 0700 and every file 0600', async () => {
    const dir = join(tempDir(), '.flotilla');
    const s = await openFileStore(dir, { compactEvery: 2, historyLimit: 1 });
    await s.put('/a', 'secret');
    await s.put('/b', 'secret');
    await s.put('/c', 'secret');
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, 'store'))).toBe(0o700);
    for (const f of readdirSync(join(dir, 'store'))) expect(mode(join(dir, 'store', f)), f).toBe(0o600);
    expect(readdirSync(join(dir, 'store')).sort()).toEqual(['log.jsonl', 'snapshot.json']);
    await s.close();
  });

  it('tightens an existing 0755/0644 store on open, with a warning', async () => {
    const dir = join(tempDir(), '.flotilla');
    mkdirSync(join(dir, 'store'), { recursive: true });
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'store'), 0o755);
    writeFileSync(join(dir, 'store', 'log.jsonl'), '', { mode: 0o644 });
    const warnings: string[] = [];
    const s = await openFileStore(dir, { onWarning: (m) => warnings.push(m) });
    expect([mode(dir), mode(join(dir, 'store')), mode(join(dir, 'store', 'log.jsonl'))]).toEqual([0o700, 0o700, 0o600]);
    expect(warnings.join('\n')).toMatch(/0755/);
    expect(warnings.join('\n')).toMatch(/0644/);
    await s.close();
  });
});

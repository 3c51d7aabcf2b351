import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createLockFileSync,
  currentHolder,
  formatHolder,
  judgeLock,
  parseHolder,
  processStartTime,
  readLock,
  removeLockIf,
  type LockHere,
} from '@flotilla/sys';
import { onLinux, startSleeper, startZombie } from '@flotilla/sys/testing';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flo-sys-lock-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('holder records', () => {
  it('round-trip, and keep the old first two words (pid, host) that older versions read', () => {
    const me = currentHolder();
    const line = formatHolder(me);
    expect(line.split(' ').slice(0, 2)).toEqual([String(process.pid), hostname()]);
    expect(parseHolder(`${line}\n`)).toEqual(Object.fromEntries(Object.entries(me).filter(([, v]) => v !== undefined)));
  });
  it('parse every format Flotilla has written', () => {
    expect(parseHolder('1234 box\n')).toEqual({ pid: 1234, host: 'box' }); // Raft LOCK before
    expect(parseHolder('1234 box')).toEqual({ pid: 1234, host: 'box' }); // file store lock before
    expect(parseHolder('ann@box pid 77 since 2026-01-01T00:00:00.000Z\n')).toEqual({ pid: 77, host: 'box' }); // deploy before
    expect(parseHolder('ann@box pid 77 since 2026-01-01T00:00:00.000Z start=555 boot=abc')).toEqual({ pid: 77, host: 'box', startTime: '555', bootId: 'abc' });
    expect(parseHolder('12 box start=9 boot=b-1')).toEqual({ pid: 12, host: 'box', startTime: '9', bootId: 'b-1' });
  });
  it('refuse what is not a holder', () => {
    for (const t of ['', '\n', 'x', '0 box', '-1 box', 'abc box', '12', '{"pid":1}']) expect(parseHolder(t), t).toBeUndefined();
  });
});

describe('judgeLock', () => {
  const here = (alive: boolean, extra: Partial<LockHere> = {}): LockHere => ({
    host: 'box',
    bootId: 'boot-1',
    probe: { exists: () => alive, stat: () => undefined },
    ...extra,
  });
  it('an empty or unparsable lock older than the grace period is stale; a fresh one is held', () => {
    expect(judgeLock('', 6000, { here: here(true) }).kind).toBe('stale');
    expect(judgeLock('garbage', 6000, { here: here(true) }).kind).toBe('stale');
    expect(judgeLock('', 100, { here: here(true) }).kind).toBe('held');
    expect(judgeLock('', 1000, { unreadableStaleMs: 500, here: here(true) }).kind).toBe('stale');
  });
  it('a holder on this host is held while it runs and stale once gone', () => {
    expect(judgeLock('10 box', 1e9, { here: here(true) }).kind).toBe('held');
    expect(judgeLock('10 box', 0, { here: here(false) }).kind).toBe('stale');
  });
  it('a holder recorded in another boot is stale even if its pid runs now', () => {
    expect(judgeLock('10 box start=5 boot=boot-0', 0, { here: here(true) }).kind).toBe('stale');
  });
  it('a holder on another host is never stale', () => {
    const v = judgeLock('10 elsewhere', 1e9, { here: here(false) });
    expect(v.kind).toBe('elsewhere');
    expect(v.reason).toMatch(/cannot be checked/);
  });

  it.runIf(onLinux)('(Linux) a zombie holder is stale', async () => {
    const { pid, parent } = await startZombie();
    try {
      expect(judgeLock(`${pid} ${hostname()}`, 0).kind).toBe('stale');
    } finally {
      parent.kill('SIGKILL');
    }
  });
  it.runIf(onLinux)('(Linux) a live pid with another start time is stale; with its own, held', async () => {
    const child = await startSleeper();
    try {
      const start = processStartTime(child.pid)!;
      expect(judgeLock(`${child.pid} ${hostname()} start=${start}`, 0).kind).toBe('held');
      expect(judgeLock(`${child.pid} ${hostname()} start=1`, 0).kind).toBe('stale');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('lock files', () => {
  it('createLockFileSync is exclusive, leaves no temp files, and writes mode 0600 under umask 022', () => {
    const old = process.umask(0o022);
    try {
      const p = join(dir, 'lock');
      expect(createLockFileSync(p, 'one\n')).toBe(true);
      expect(createLockFileSync(p, 'two\n')).toBe(false);
      expect(readFileSync(p, 'utf8')).toBe('one\n');
      expect(statSync(p).mode & 0o777).toBe(0o600);
      expect(readdirSync(dir)).toEqual(['lock']);
    } finally {
      process.umask(old);
    }
  });

  it('the new holder sweeps temp and set-aside files that writers killed mid-way left (older than a minute)', () => {
    const p = join(dir, 'lock');
    const old = new Date(Date.now() - 120_000);
    for (const f of ['lock.123.abcd1234.tmp', 'lock.stale-123-abcd1234']) {
      writeFileSync(join(dir, f), '');
      utimesSync(join(dir, f), old, old);
    }
    writeFileSync(join(dir, 'lock.456.00ff00ff.tmp'), ''); // young: a live writer's
    writeFileSync(join(dir, 'lockfile.txt'), ''); // not ours
    utimesSync(join(dir, 'lockfile.txt'), old, old);
    expect(createLockFileSync(p, 'me\n')).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['lock', 'lock.456.00ff00ff.tmp', 'lockfile.txt']);
  });

  it('removeLockIf removes a stale lock, and puts back one that is no longer the one judged', () => {
    const p = join(dir, 'lock');
    writeFileSync(p, '');
    const old = new Date(Date.now() - 60_000);
    utimesSync(p, old, old);
    const l = readLock(p)!;
    expect(judgeLock(l.text, l.ageMs).kind).toBe('stale');
    expect(removeLockIf(p, (t, age) => judgeLock(t, age).kind === 'stale')).toBe(true);
    expect(readLock(p)).toBeUndefined();

    writeFileSync(p, `${formatHolder(currentHolder())}\n`); // a live holder took it meanwhile
    expect(removeLockIf(p, (t, age) => judgeLock(t, age).kind === 'stale')).toBe(false);
    expect(readFileSync(p, 'utf8')).toBe(`${formatHolder(currentHolder())}\n`);
    expect(readdirSync(dir)).toEqual(['lock']);
  });
});

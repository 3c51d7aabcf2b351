// The data directory's LOCK: two processes must never append to one WAL.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { processStartTime, readProcStat } from '@flotilla/sys';
import { onLinux, startSleeper } from '@flotilla/sys/testing';
import { FileStorage, isRaftError } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'raft-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(root, `d${++n}`);
const src = resolve(dirname(fileURLToPath(import.meta.url)), '../src/index.ts');

/** Another process that opens the directory, says "open", and closes it when its stdin ends. */
async function holder(dir: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      '--conditions=@flotilla/source',
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `const { FileStorage } = await import(${JSON.stringify(src)});
       const s = await FileStorage.open(${JSON.stringify(dir)}, { fsync: false });
       process.stdout.write('open\\n');
       process.stdin.resume();
       process.stdin.on('end', async () => { await s.close(); process.exit(0); });`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  await new Promise<void>((res, rej) => {
    child.stdout.once('data', () => res());
    child.once('exit', (code) => rej(new Error(`holder exited with ${code}`)));
  });
  return child;
}

/**
 * A holder that becomes a zombie when killed: a shell starts it in the background and execs
 * into `sleep`, which never reaps it (as a supervisor that has not yet called wait()).
 */
async function unreapedHolder(dir: string): Promise<{ pid: number; parent: ChildProcess }> {
  const script = `const { FileStorage } = await import(${JSON.stringify(src)});
     await FileStorage.open(${JSON.stringify(dir)}, { fsync: false });
     process.stdout.write('open\\n');
     setInterval(() => undefined, 1 << 30);`;
  const parent = spawn('sh', ['-c', '"$0" --conditions=@flotilla/source --import tsx --input-type=module -e "$1" & echo "pid $!"; exec sleep 300', process.execPath, script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const pid = await new Promise<number>((res, rej) => {
    let out = '';
    parent.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /pid (\d+)\n/.exec(out);
      if (m && out.includes('open\n')) res(Number(m[1]));
    });
    parent.once('exit', (code) => rej(new Error(`holder exited with ${code}: ${out}`)));
  });
  return { pid, parent };
}

describe('FileStorage data-directory lock', { timeout: 60_000 }, () => {
  it.runIf(onLinux)('(Linux) a LOCK whose holder was SIGKILLed but not yet reaped (a zombie) is taken over, with a warning', async () => {
    const dir = fresh();
    const s0 = await FileStorage.open(dir);
    await s0.bootstrap({ voters: [1], learners: [] });
    await s0.save({ entries: [{ index: 2, term: 1, type: 'normal', data: new Uint8Array([7]) }] });
    await s0.close();
    const { pid, parent } = await unreapedHolder(dir);
    try {
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 1000 && readProcStat(pid)?.state !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
      expect(readProcStat(pid)?.state).toBe('Z'); // dead, not reaped: kill(pid, 0) still succeeds
      expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toMatch(new RegExp(`^${pid} ${hostname()} `));
      const warnings: string[] = [];
      const s = await FileStorage.open(dir, { onWarning: (m) => warnings.push(m) });
      expect(s.lastIndex()).toBe(2);
      expect(warnings.join('\n')).toMatch(new RegExp(`took over .*LOCK: process ${pid} on .* no longer runs`));
      await s.close();
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it.runIf(onLinux)('(Linux) a LOCK naming a live pid with another start time (the pid was reused) is taken over; with its own, refused', async () => {
    const dir = fresh();
    const s0 = await FileStorage.open(dir);
    await s0.close();
    const child = await startSleeper();
    try {
      const start = processStartTime(child.pid)!;
      writeFileSync(join(dir, 'LOCK'), `${child.pid} ${hostname()} start=${start}\n`);
      await expect(FileStorage.open(dir)).rejects.toThrow(new RegExp(`in use by process ${child.pid} on ${hostname()}`));
      writeFileSync(join(dir, 'LOCK'), `${child.pid} ${hostname()} start=${BigInt(start) + 1n}\n`);
      const s = await FileStorage.open(dir, { onWarning: () => undefined });
      await s.close();
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('an empty or unparsable LOCK older than a few seconds (its writer killed mid-write) is taken over', async () => {
    const dir = fresh();
    const s0 = await FileStorage.open(dir);
    await s0.close();
    for (const content of ['', 'garbage']) {
      writeFileSync(join(dir, 'LOCK'), content);
      const old = new Date(Date.now() - 10_000);
      utimesSync(join(dir, 'LOCK'), old, old);
      const s = await FileStorage.open(dir, { onWarning: () => undefined });
      await s.close();
      expect(existsSync(join(dir, 'LOCK'))).toBe(false);
    }
  });


  it('a second process is refused while the first holds the directory, and opens once it has closed', async () => {
    const dir = fresh();
    const child = await holder(dir);
    const e = await FileStorage.open(dir).catch((x: unknown) => x);
    expect(isRaftError(e) && e.code).toBe('storage-misuse');
    expect((e as Error).message).toMatch(new RegExp(`in use by process ${child.pid} on ${hostname()}.*stop that process first.*delete .*LOCK`));
    const exited = new Promise((r) => child.once('exit', r));
    child.stdin!.end();
    await exited;
    expect(existsSync(join(dir, 'LOCK'))).toBe(false);
    const s = await FileStorage.open(dir);
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toMatch(new RegExp(`^${process.pid} ${hostname()} start=\\d+ boot=\\S+\n$`));
    await s.close();
    expect(existsSync(join(dir, 'LOCK'))).toBe(false);
  });

  it('a LOCK left by a process that was killed is taken over, and what it wrote is recovered', async () => {
    const dir = fresh();
    const s0 = await FileStorage.open(dir);
    await s0.bootstrap({ voters: [1], learners: [] });
    await s0.save({ entries: [{ index: 2, term: 1, type: 'normal', data: new Uint8Array([7]) }] });
    await s0.close();
    const child = await holder(dir);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toMatch(new RegExp(`^${child.pid} ${hostname()} `));
    const s = await FileStorage.open(dir);
    expect(s.lastIndex()).toBe(2);
    await s.close();
  });

  it.each([
    ['another host', `4242 some-other-host\n`, /in use by process 4242 on some-other-host/],
    ['an unreadable LOCK', 'garbage', /in use by another process/],
  ])('a LOCK of %s is refused (it cannot be checked from here)', async (_what, content, message) => {
    const dir = fresh();
    const s = await FileStorage.open(dir);
    await s.close();
    writeFileSync(join(dir, 'LOCK'), content);
    await expect(FileStorage.open(dir)).rejects.toThrow(message);
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(content);
  });

  it('this process reopening a directory it abandoned without closing (a simulated crash) takes it over', async () => {
    const dir = fresh();
    const abandoned = await FileStorage.open(dir);
    expect(abandoned).toBeDefined();
    const again = await FileStorage.open(dir);
    await again.close();
    expect(existsSync(join(dir, 'LOCK'))).toBe(false);
  });

  it('close() leaves a LOCK that is not its own', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir);
    writeFileSync(join(dir, 'LOCK'), `1 ${hostname()}\n`);
    await s.close();
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(`1 ${hostname()}\n`);
  });
});

describe('FileStorage modes (umask 022)', () => {
  const mode = (p: string): number => statSync(p).mode & 0o777;
  const walk = (d: string): string[] => readdirSync(d, { recursive: true }).map((f) => join(d, String(f)));

  it('creates the directories 0700 and the LOCK, WAL segments and snapshots 0600', async () => {
    const umask = process.umask(0o022);
    try {
      const dir = fresh();
      const s = await FileStorage.open(dir, { segmentBytes: 64 });
      await s.bootstrap({ voters: [1], learners: [] });
      for (let i = 2; i < 12; i++) await s.save({ entries: [{ index: i, term: 1, type: 'normal', data: new Uint8Array(40) }], hardState: { term: 1, vote: 0, commit: i } });
      await s.createSnapshot(6, { voters: [1], learners: [] }, new Uint8Array([1, 2, 3]));
      const files = walk(dir);
      expect(files.some((f) => f.endsWith('.wal'))).toBe(true);
      expect(files.some((f) => f.endsWith('.snap'))).toBe(true);
      expect(files.some((f) => f.endsWith('LOCK'))).toBe(true);
      expect(mode(dir)).toBe(0o700);
      for (const f of files) expect(mode(f), f).toBe(statSync(f).isDirectory() ? 0o700 : 0o600);
      await s.close();
    } finally {
      process.umask(umask);
    }
  });

  it('tightens an existing 0755/0644 data directory on open, with one warning', async () => {
    const dir = fresh();
    const s0 = await FileStorage.open(dir);
    await s0.bootstrap({ voters: [1], learners: [] });
    await s0.close();
    for (const f of [dir, ...walk(dir)]) chmodSync(f, statSync(f).isDirectory() ? 0o755 : 0o644);
    const warnings: string[] = [];
    const s = await FileStorage.open(dir, { onWarning: (m) => warnings.push(m) });
    for (const f of [dir, ...walk(dir)]) expect(mode(f), f).toBe(statSync(f).isDirectory() ? 0o700 : 0o600);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/tightened \d+ paths under .*0755|0644/);
    await s.close();
  });

  it('a new data directory under a missing parent is created 0700 all the way', async () => {
    const parent = fresh();
    mkdirSync(parent);
    const s = await FileStorage.open(join(parent, 'a', 'b'));
    expect([mode(join(parent, 'a')), mode(join(parent, 'a', 'b'))]).toEqual([0o700, 0o700]);
    await s.close();
  });
});

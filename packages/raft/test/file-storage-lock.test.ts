// The data directory's LOCK: two processes must never append to one WAL.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
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

describe('FileStorage data-directory lock', { timeout: 60_000 }, () => {
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
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(`${process.pid} ${hostname()}\n`);
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
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(`${child.pid} ${hostname()}\n`);
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

import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FileKvStore, isClusterError, openFileStore, openStore, type KvStore } from '../src/index.js';
import { collect, storeContract } from './store-contract.js';

const here = dirname(fileURLToPath(import.meta.url));
const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'flotilla-file-store-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const shared = tempDir();
storeContract({
  name: 'file',
  open: () => openFileStore(shared, { pollIntervalMs: 20, progressIntervalMs: 200, compactEvery: 100_000 }),
  compact: async (store, revision) => {
    // compaction keeps the last `historyLimit` records: use a store that keeps none past `revision`
    const s = store as FileKvStore;
    const { revision: now } = await s.range('/');
    const keep = now - revision;
    const tight = await openFileStore(shared, { historyLimit: keep, compactEvery: 100_000 });
    await tight.compact();
    await tight.close();
  },
  progressWithinMs: 200,
});

function runWorker(dir: string, count: number, key: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=@flotilla/source', '--import', 'tsx', join(here, 'fixtures/file-store-worker.ts'), dir, String(count), key], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited ${code}: ${err}`))));
  });
}

describe('file store specifics', () => {
  it('two processes writing with compare-and-set lose nothing, and a third process watches every change', async () => {
    const dir = tempDir();
    const watcher = await openFileStore(dir, { pollIntervalMs: 20 });
    const seen = collect(watcher.watch('/c/', { fromRevision: 1 }), (ev) => ev.filter((e) => e.type === 'put').length >= 60, 60_000);
    await Promise.all([runWorker(dir, 30, '/c/n'), runWorker(dir, 30, '/c/n')]);
    const puts = (await seen).filter((e) => e.type === 'put');
    expect(puts.map((e) => (e.type === 'put' ? Number(e.value) : 0))).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect((await watcher.get('/c/n'))!.value).toBe('60');
    await watcher.close();
  }, 60_000);

  it('survives a torn last log line (a crash mid-append): ignores it, then cuts it on the next write', async () => {
    const dir = tempDir();
    const a = await openFileStore(dir);
    await a.put('/k', 'one');
    await a.close();
    appendFileSync(join(dir, 'store/log.jsonl'), '{"rev":2,"type":"put","key":"/k","val');
    const b = await openFileStore(dir);
    expect((await b.get('/k'))!.value).toBe('one');
    const rev = await b.put('/k', 'two');
    expect(rev).toBe(2);
    await b.close();
    const lines = readFileSync(join(dir, 'store/log.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { rev: number }).rev)).toEqual([1, 2]);
    const c = await openFileStore(dir);
    expect(await c.get('/k')).toMatchObject({ value: 'two', version: 2 });
    await c.close();
  });

  it('compacts the log into an atomic snapshot and keeps the state', async () => {
    const dir = tempDir();
    const s = await openFileStore(dir, { compactEvery: 10, historyLimit: 3 });
    for (let i = 0; i < 25; i++) await s.put(`/k${i % 4}`, String(i));
    await s.close();
    const lines = readFileSync(join(dir, 'store/log.jsonl'), 'utf8').trim().split('\n').filter(Boolean);
    expect(lines.length).toBeLessThanOrEqual(10);
    const reopened: KvStore = await openFileStore(dir);
    const { items, revision } = await reopened.range('/');
    expect(revision).toBe(25);
    expect(items.map((i) => i.value)).toEqual(['24', '21', '22', '23']);
    await reopened.close();
  });

  it('takes over a lock left by a dead process, and times out on a live one', async () => {
    const dir = tempDir();
    const s = await openFileStore(dir, { lockTimeoutMs: 300 });
    writeFileSync(join(dir, 'store/lock'), `999999999 ${(await import('node:os')).hostname()}`);
    expect(await s.put('/a', '1')).toBe(1);
    writeFileSync(join(dir, 'store/lock'), `${process.ppid} ${(await import('node:os')).hostname()}`);
    const err = await s.put('/a', '2').catch((e: unknown) => e);
    expect(isClusterError(err) && err.code).toBe('store-locked');
    rmSync(join(dir, 'store/lock'));
    expect(await s.put('/a', '2')).toBe(2);
    await s.close();
  });

  it('rejects bad options with a TypeError naming what was expected', () => {
    expect(() => new FileKvStore('/tmp/x', { pollIntervalMs: -1 })).toThrow(/pollIntervalMs: expected a non-negative integer, received -1/);
  });
});

describe('opening without creating (read-only commands)', () => {
  it('create: false on a missing store throws store-missing naming the directory and creates nothing; on an existing store it opens', async () => {
    const dir = join(tempDir(), 'not-yet');
    const err = await openFileStore(dir, { create: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isClusterError(err) && err.code).toBe('store-missing');
    expect((err as Error).message).toContain(`no store at ${dir}:`);
    expect(existsSync(dir)).toBe(false);
    const viaUrl = await openStore(`file://${dir}`, { create: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isClusterError(viaUrl) && viaUrl.code).toBe('store-missing');
    expect(existsSync(dir)).toBe(false);

    const writer = await openFileStore(dir);
    await writer.put('/k', 'v');
    await writer.close();
    const reader = await openFileStore(dir, { create: false });
    expect((await reader.range('/k')).items.map((i) => i.value)).toEqual(['v']);
    await reader.close();
  });
});

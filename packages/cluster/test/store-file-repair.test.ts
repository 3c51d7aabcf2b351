// checkFileStore and repairFileStore on real damaged stores: the check reports without changing
// anything; the repair keeps every intact record up to the first damage, keeps the original
// files aside, and says exactly what it dropped.
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { collect } from './store-contract.js';
import { encodeRecord, encodeSnapshot } from '../src/store/file-format.js';
import { applyPut, emptyState } from '../src/store/kv-state.js';
import { checkFileStore, checkStore, isClusterError, isStoreCorruptError, openFileStore, repairFileStore, type FileKvStoreOptions, type FileStoreRepairResult } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'flotilla-file-repair-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const logOf = (dir: string): string => join(dir, 'store/log.jsonl');
const snapshotOf = (dir: string): string => join(dir, 'store/snapshot.json');
const key = (i: number): string => `/flotilla/v1/instances/web-${String(i).padStart(4, '0')}`;

/**
 * A store holding key(0)…key(n-1) and a host, written by the store itself when `options` ask
 * for compaction; else its files are written here at once with the store's own encoders, not
 * through n fsynced puts (500 of them took most of a test's 20 s on the loaded CI machine).
 * 'storeWith writes the bytes the store writes' checks that both give the same files.
 */
async function storeWith(n: number, options: FileKvStoreOptions = {}, dir = tempDir()): Promise<string> {
  if (Object.keys(options).length === 0) {
    writeStoreFiles(dir, n);
    return dir;
  }
  return writtenByStore(n, options, dir);
}

async function writtenByStore(n: number, options: FileKvStoreOptions, dir: string): Promise<string> {
  const s = await openFileStore(dir, options);
  for (let i = 0; i < n; i++) await s.put(key(i), JSON.stringify({ n: i }));
  await s.put('/flotilla/v1/hosts/h1', '{}');
  await s.close();
  return dir;
}

/** What a new store writes for those puts: the empty snapshot it starts with, then one log record each. */
function writeStoreFiles(dir: string, n: number): void {
  const state = emptyState();
  const records = [...Array.from({ length: n }, (_, i) => applyPut(state, key(i), JSON.stringify({ n: i }))), applyPut(state, '/flotilla/v1/hosts/h1', '{}')];
  mkdirSync(join(dir, 'store'), { mode: 0o700 });
  writeFileSync(snapshotOf(dir), encodeSnapshot({ revision: 0, compactRevision: 0, kvs: [] }), { mode: 0o600 });
  writeFileSync(logOf(dir), records.map(encodeRecord).join(''), { mode: 0o600 });
}

function lineOffsets(dir: string): number[] {
  const bytes = readFileSync(logOf(dir));
  const out = [0];
  for (let i = 0; i < bytes.length - 1; i++) if (bytes[i] === 0x0a) out.push(i + 1);
  return out;
}

function damage(dir: string, at: number, text = '#####'): void {
  const bytes = readFileSync(logOf(dir));
  bytes.write(text, at, 'latin1');
  writeFileSync(logOf(dir), bytes);
}

const quiet = { onWarning: (): void => undefined };

describe('checkFileStore', () => {
  it('storeWith writes the bytes the store writes (the fixture the tests below damage)', async () => {
    for (const n of [0, 1, 7]) {
      const fast = await storeWith(n);
      const slow = await writtenByStore(n, {}, tempDir());
      expect(readdirSync(join(fast, 'store')).sort()).toEqual(readdirSync(join(slow, 'store')).sort());
      expect(readFileSync(snapshotOf(fast), 'utf8')).toBe(readFileSync(snapshotOf(slow), 'utf8'));
      expect(readFileSync(logOf(fast), 'utf8')).toBe(readFileSync(logOf(slow), 'utf8'));
    }
  });

  it('reports a healthy store: files, revisions, objects by kind, no damage', async () => {
    const dir = await storeWith(30, { compactEvery: 20, historyLimit: 5 });
    const r = await checkFileStore(dir);
    expect(r).toMatchObject({
      status: 'ok',
      snapshot: { present: true, format: 'checksummed', revision: 20, compactRevision: 15, keys: 20 },
      log: { present: true, format: 'checksummed', records: 16, firstRevision: 16, lastRevision: 31 },
      state: { revision: 31, keys: 31, kinds: { instances: 30, hosts: 1 } },
      damage: [],
      notices: [],
    });
    expect(r.repair).toBeUndefined();
  });

  it('reports every damaged line with its offset, and what a repair would keep and drop — changing nothing', async () => {
    const dir = await storeWith(500);
    const offsets = lineOffsets(dir);
    damage(dir, offsets[249]! + 40);
    damage(dir, offsets[399]! + 40);
    const before = readFileSync(logOf(dir));
    const r = await checkFileStore(dir);
    expect(r.status).toBe('damaged');
    expect(r.damage.map((d) => d.offset)).toEqual([offsets[249], offsets[399]]);
    expect(r.damage[0]!.problem).toMatch(/checksum mismatch|not JSON/);
    expect(r.repair).toMatchObject({
      possible: true,
      keep: { revision: 249, keys: 249, records: 249 },
      dropped: { records: 252, offset: offsets[249], fromRevision: 250, toRevision: 501, unreadable: 2 },
      droppedHistory: 0,
    });
    expect(r.repair!.dropped.keys).toHaveLength(250); // 250..499 and the host; the two damaged lines are unreadable
    expect(r.repair!.dropped.keys).toContain('/flotilla/v1/hosts/h1');
    expect(readFileSync(logOf(dir))).toEqual(before);
    expect(readdirSync(join(dir, 'store')).sort()).toEqual(['log.jsonl', 'snapshot.json']);
  });

  it('a torn tail and an old format are notices, not damage; a missing store is "missing"', async () => {
    const dir = await storeWith(3);
    appendFileSync(logOf(dir), '{"crc":"00000000","rev":5,"ty');
    const r = await checkFileStore(dir);
    expect(r.status).toBe('ok');
    expect(r.notices.join('\n')).toMatch(/torn last record .* cut on the next open/);
    expect((await checkFileStore(join(tempDir(), 'nothing'))).status).toBe('missing');
  });

  it('checkStore on a file URL is the file report; on an unreachable etcd it reports, not throws', async () => {
    const dir = await storeWith(2);
    expect(await checkStore(`file://${dir}`)).toMatchObject({ type: 'file', status: 'ok', state: { revision: 3 } });
    const remote = await checkStore('etcd://127.0.0.1:1');
    expect(remote).toMatchObject({ type: 'etcd', status: 'unreachable', endpoints: ['127.0.0.1:1'] });
    expect(remote.type !== 'file' && remote.note).toMatch(/file stores only/);
  }, 30_000);
});

/**
 * Starts the compactor (fixtures/file-store-compactor.ts) in a process of its own and resolves
 * once it has made the store; `exited` resolves when it has written everything.
 */
async function startCompactor(dir: string, count: number, keys: number, compactEvery: number, historyLimit: number): Promise<{ exited: Promise<void>; done(): boolean }> {
  const child = spawn(process.execPath, ['--conditions=@flotilla/source', '--import', 'tsx', join(here, 'fixtures/file-store-compactor.ts'), dir, String(count), String(keys), String(compactEvery), String(historyLimit)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let finished = false;
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve, reject) =>
    child.on('exit', (code) => {
      finished = true;
      if (code === 0) resolve();
      else reject(new Error(`the compactor exited with ${code}: ${stderr}`));
    }),
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) resolve();
    });
    exited.then(() => reject(new Error(`the compactor ended before it was ready: ${stderr}`)), reject);
  });
  return { exited, done: () => finished };
}

describe('readers beside a writer (another process) that compacts all the time', () => {
  it('opening and checking never report damage while another writer compacts every 3 records', async () => {
    const dir = tempDir();
    const writer = await startCompactor(dir, 300, 5, 3, 1);
    let reads = 0;
    const follower = await openFileStore(dir, { pollIntervalMs: 1, ...quiet });
    while (!writer.done()) {
      const s = await openFileStore(dir, quiet);
      expect((await s.range('/')).revision).toBeGreaterThan(0);
      await s.close();
      expect((await checkFileStore(dir)).status).toBe('ok');
      expect((await follower.range('/')).revision).toBeGreaterThan(0);
      reads++;
    }
    await writer.exited;
    expect((await follower.range('/')).revision).toBe(301);
    await follower.close();
    expect(reads).toBeGreaterThan(0);
  }, 60_000);

  it('a writer compacting after every record: readers and checks re-read the replaced pair, never report damage', async () => {
    // Each compaction replaces the snapshot and the log; a reader that read the pair across
    // one reads again. Three readers at once against a compaction per put (once a false
    // "damaged" after three replacements in one read, seen on a loaded CI machine).
    const dir = tempDir();
    const writer = await startCompactor(dir, 400, 7, 1, 1);
    const reader = async () => {
      let n = 0;
      while (!writer.done()) {
        const s = await openFileStore(dir, quiet);
        expect((await s.range('/')).revision).toBeGreaterThan(0);
        await s.close();
        const report = await checkFileStore(dir);
        expect(report.damage).toEqual([]);
        expect(report.status).toBe('ok');
        n++;
      }
      return n;
    };
    const counts = await Promise.all([reader(), reader(), reader()]);
    await writer.exited;
    expect(counts.every((n) => n > 0)).toBe(true);
    const s = await openFileStore(dir, quiet);
    expect((await s.range('/')).revision).toBe(401);
    await s.close();
  }, 120_000);
});

describe('repairFileStore', () => {
  it('refuses without keepIntact: true (no silent data loss by default)', async () => {
    const dir = await storeWith(3);
    await expect(repairFileStore(dir, {} as never)).rejects.toThrow(TypeError);
    await expect(repairFileStore(dir, { keepIntact: false })).rejects.toThrow(/keepIntact: expected true/);
  });

  it('keeps every intact record up to the first damage, moves the damaged files aside, lists what was dropped', async () => {
    const dir = await storeWith(500);
    const offsets = lineOffsets(dir);
    damage(dir, offsets[249]! + 40);
    const original = { log: readFileSync(logOf(dir)), snapshot: readFileSync(snapshotOf(dir)) };
    const result = await repairFileStore(dir, { keepIntact: true, now: new Date('2026-12-02T15:30:00Z'), ...quiet });
    expect(result).toMatchObject({
      repaired: true,
      keep: { revision: 249, keys: 249 },
      dropped: { records: 252, fromRevision: 250, toRevision: 501, unreadable: 1 },
      movedAside: [`${snapshotOf(dir)}.damaged-20261202T153000Z`, `${logOf(dir)}.damaged-20261202T153000Z`],
    });
    expect(result.damage[0]).toMatchObject({ file: logOf(dir), offset: offsets[249] });
    expect(readFileSync(`${logOf(dir)}.damaged-20261202T153000Z`)).toEqual(original.log);
    expect(readFileSync(`${snapshotOf(dir)}.damaged-20261202T153000Z`)).toEqual(original.snapshot);
    const s = await openFileStore(dir);
    const { items, revision } = await s.range('/');
    expect(revision).toBe(249);
    expect(items.map((i) => i.key)).toEqual(Array.from({ length: 249 }, (_, i) => key(i)));
    expect(await s.put('/after', 'x')).toBe(250);
    await s.close();
    expect((await checkFileStore(dir)).status).toBe('ok');
  });

  it('damage only among history records drops history, not state', async () => {
    const dir = await storeWith(30, { compactEvery: 20, historyLimit: 10 }); // compacted at 20 and 30: snapshot at 30, log 21..31
    const offsets = lineOffsets(dir);
    damage(dir, offsets[2]! + 40); // revision 23
    const result = await repairFileStore(dir, { keepIntact: true, ...quiet });
    expect(result).toMatchObject({ repaired: true, keep: { revision: 31, keys: 31, compactRevision: 23 }, dropped: { records: 0, keys: [] }, droppedHistory: 3 });
    const s = await openFileStore(dir);
    expect((await s.range('/')).revision).toBe(31);
    await s.close();
  });

  it('rebuilds a damaged snapshot from a log that starts at revision 1', async () => {
    const dir = await storeWith(10);
    writeFileSync(snapshotOf(dir), readFileSync(snapshotOf(dir), 'utf8').replace('"revision":0', '"revision":1'));
    const result = await repairFileStore(dir, { keepIntact: true, ...quiet });
    expect(result).toMatchObject({ repaired: true, snapshotRebuilt: true, keep: { revision: 11, keys: 11 }, dropped: { records: 0 } });
    expect(result.damage[0]).toMatchObject({ file: snapshotOf(dir), problem: expect.stringMatching(/snapshot checksum mismatch/) as unknown });
  });

  it('refuses when nothing consistent can be kept (snapshot lost, log starts later): restore a backup; nothing is moved', async () => {
    const dir = await storeWith(300, { compactEvery: 200, historyLimit: 100 });
    unlinkSync(snapshotOf(dir));
    const err = await repairFileStore(dir, { keepIntact: true, ...quiet }).catch((e: unknown) => e);
    expect(isClusterError(err) && err.code).toBe('store-corrupt');
    expect((err as Error).message).toMatch(/snapshot is missing and the log starts at revision 201: .*Restore .* from a backup/);
    expect(readdirSync(join(dir, 'store')).sort()).toEqual(['log.jsonl']);
  });

  it('a store with only a torn tail is cut (that record listed), nothing moved aside; a healthy store is left alone', async () => {
    const dir = await storeWith(3);
    appendFileSync(logOf(dir), '{"crc":"00000000","rev":5,"type":"put","key":"/torn","value":"');
    const result = await repairFileStore(dir, { keepIntact: true, ...quiet });
    expect(result).toMatchObject({ repaired: true, damage: [], movedAside: [], keep: { revision: 4 }, dropped: { records: 1 } });
    const again = await repairFileStore(dir, { keepIntact: true, ...quiet });
    expect(again).toMatchObject({ repaired: false, damage: [], dropped: { records: 0 } });
    expect(existsSync(logOf(dir))).toBe(true);
  });

  it('a process that had the store open follows the repair: its watches expire (revisions went back) and it reads the repaired state', async () => {
    const dir = await storeWith(20);
    const reader = await openFileStore(dir, { pollIntervalMs: 10, ...quiet });
    const events = collect(reader.watch('/', {}), (ev) => ev.some((e) => e.type === 'expired'), 10_000);
    damage(dir, lineOffsets(dir)[9]! + 40);
    const result = await repairFileStore(dir, { keepIntact: true, ...quiet });
    expect(result.keep.revision).toBe(9);
    expect((await events).at(-1)).toMatchObject({ type: 'expired' });
    expect((await reader.range('/')).revision).toBe(9);
    expect(await reader.put('/next', 'x')).toBe(10);
    await reader.close();
  });

  it('property: after any single corrupted byte, open → (refused) → repair → open gives exactly the state at the kept revision', async () => {
    const op = fc.record({ del: fc.boolean(), k: fc.integer({ min: 0, max: 4 }), v: fc.string({ maxLength: 6 }) });
    let repaired = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 24 }), fc.boolean(), fc.boolean(), fc.nat(), fc.integer({ min: 1, max: 255 }), async (ops, small, inSnapshot, at, xor) => {
        const dir = tempDir();
        const s = await openFileStore(dir, small ? { compactEvery: 5, historyLimit: 2 } : {});
        const states = new Map<number, string>([[0, JSON.stringify({ items: [], revision: 0 })]]);
        for (const o of ops) {
          if (o.del) await s.delete(key(o.k));
          else await s.put(key(o.k), o.v);
          const r = await s.range('/');
          states.set(r.revision, JSON.stringify(r));
        }
        await s.close();
        const files = [snapshotOf(dir), logOf(dir)].filter((f) => readFileSync(f).length > 0);
        const file = files.length === 2 && !inSnapshot ? files[1]! : files[0]!;
        const bytes = readFileSync(file);
        bytes[at % bytes.length]! ^= xor;
        writeFileSync(file, bytes);
        const opened = await openFileStore(dir, quiet).catch((e: unknown) => e);
        if (!isStoreCorruptError(opened)) {
          if (opened instanceof Error) throw opened;
          return;
        }
        let result: FileStoreRepairResult;
        try {
          result = await repairFileStore(dir, { keepIntact: true, ...quiet });
        } catch (e) {
          if (isClusterError(e) && e.code === 'store-corrupt') return; // the snapshot is lost and the log starts later
          throw e;
        }
        repaired++;
        const after = await openFileStore(dir, quiet);
        expect(JSON.stringify(await after.range('/'))).toBe(states.get(result.keep.revision));
        await after.close();
      }),
      { numRuns: 60 },
    );
    expect(repaired).toBeGreaterThan(0);
  }, 120_000);
});

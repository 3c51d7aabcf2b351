import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStorage, isRaftError, type Entry } from '../src/index.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'flotilla-raft-wal-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const conf = { voters: [1, 2, 3], learners: [] };
function ents(from: number, to: number, term = 1): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: 'normal', data: new TextEncoder().encode(`entry-${i}`) });
  return out;
}
function logOf(s: FileStorage): string[] {
  if (s.lastIndex() < s.firstIndex()) return [];
  return s.entries(s.firstIndex(), s.lastIndex() + 1).map((e) => `${e.index}@${e.term}:${new TextDecoder().decode(e.data)}`);
}
function walFiles(dir: string): string[] {
  return readdirSync(join(dir, 'wal')).filter((n) => n.endsWith('.wal')).sort();
}
function copyDir(from: string): string {
  const to = tempDir();
  for (const sub of ['wal', 'snap']) {
    mkdirSync(join(to, sub), { recursive: true });
    for (const n of readdirSync(join(from, sub))) copyFileSync(join(from, sub, n), join(to, sub, n));
  }
  return to;
}

describe('FileStorage', () => {
  it('round-trips entries, hard state and the bootstrap snapshot across reopen', async () => {
    const dir = tempDir();
    const s = await FileStorage.open(dir);
    expect(s.isNew).toBe(true);
    await s.bootstrap(conf);
    await s.save({ entries: ents(2, 6), hardState: { term: 2, vote: 1, commit: 4 } });
    await s.close();
    const r = await FileStorage.open(dir);
    expect(r.isNew).toBe(false);
    expect(r.initialState()).toEqual({ hardState: { term: 2, vote: 1, commit: 4 }, confState: conf });
    expect(r.firstIndex()).toBe(2);
    expect(r.lastIndex()).toBe(6);
    expect(logOf(r)).toEqual(ents(2, 6).map((e) => `${e.index}@1:entry-${e.index}`));
    await r.close();
  });

  it('overwrites a conflicting suffix, durably', async () => {
    const dir = tempDir();
    const s = await FileStorage.open(dir);
    await s.bootstrap(conf);
    await s.save({ entries: ents(2, 8, 1) });
    await s.save({ entries: ents(5, 6, 2), hardState: { term: 2, vote: 0, commit: 4 } });
    expect(s.lastIndex()).toBe(6);
    await s.close();
    const r = await FileStorage.open(dir);
    expect(logOf(r)).toEqual(['2@1:entry-2', '3@1:entry-3', '4@1:entry-4', '5@2:entry-5', '6@2:entry-6']);
    await r.close();
  });

  it('rolls segments, and compaction deletes whole old segments and old snapshots', async () => {
    const dir = tempDir();
    const s = await FileStorage.open(dir, { segmentBytes: 200 });
    await s.bootstrap(conf);
    for (let i = 2; i <= 40; i += 2) await s.save({ entries: ents(i, i + 1), hardState: { term: 1, vote: 0, commit: i + 1 } });
    const before = walFiles(dir).length;
    expect(before).toBeGreaterThan(5);
    await s.createSnapshot(30, conf, new TextEncoder().encode('state@30'));
    await s.compact(30);
    const after = walFiles(dir).length;
    expect(after).toBeLessThan(before);
    expect(readdirSync(join(dir, 'snap'))).toEqual(['000000000000001e.snap']);
    await s.close();
    const r = await FileStorage.open(dir, { segmentBytes: 200 });
    expect(r.snapshot().index).toBe(30);
    expect(new TextDecoder().decode(r.snapshot().data)).toBe('state@30');
    expect(r.firstIndex()).toBe(31);
    expect(r.lastIndex()).toBe(41);
    expect(logOf(r)[0]).toBe('31@1:entry-31');
    expect(r.initialState().hardState.commit).toBe(41);
    await r.close();
  });

  it("installs a leader's snapshot: the old log is gone after restart, later entries follow it", async () => {
    const dir = tempDir();
    const s = await FileStorage.open(dir);
    await s.bootstrap(conf);
    await s.save({ entries: ents(2, 10, 1) });
    const snap = { index: 50, term: 3, confState: { voters: [1, 2, 3, 4], learners: [5] }, data: new Uint8Array([7]) };
    await s.save({ snapshot: snap, entries: [], hardState: { term: 3, vote: 0, commit: 50 } });
    await s.save({ entries: ents(51, 52, 3) });
    await s.close();
    const r = await FileStorage.open(dir);
    expect(r.snapshot()).toEqual(snap);
    expect(r.initialState().confState).toEqual(snap.confState);
    expect(logOf(r)).toEqual(['51@3:entry-51', '52@3:entry-52']);
    expect(walFiles(dir)).toHaveLength(1);
    await r.close();
  });

  it("finishes a leader snapshot install interrupted by a crash: the replaced log never resurfaces", async () => {
    for (const crashBeforeNewSegment of [false, true]) {
      const dir = tempDir();
      const s = await FileStorage.open(dir, { segmentBytes: 300, fsync: false });
      await s.bootstrap(conf);
      for (let i = 2; i <= 100; i += 7) await s.save({ entries: ents(i, Math.min(i + 6, 100), 1), hardState: { term: 2, vote: 3, commit: 1 } });
      const oldSegments = walFiles(dir);
      const saved = copyDir(dir);
      await s.save({ snapshot: { index: 50, term: 3, confState: conf, data: new Uint8Array(0) }, entries: ents(51, 55, 3), hardState: { term: 3, vote: 0, commit: 50 } });
      await s.close();
      // The crash: the old segments were not deleted yet (and maybe the new one was never made).
      if (crashBeforeNewSegment) for (const n of walFiles(dir)) rmSync(join(dir, 'wal', n));
      for (const n of oldSegments) copyFileSync(join(saved, 'wal', n), join(dir, 'wal', n));
      const r = await FileStorage.open(dir, { segmentBytes: 300, fsync: false });
      expect(r.snapshot().index).toBe(50);
      expect(r.lastIndex()).toBe(crashBeforeNewSegment ? 50 : 55);
      expect(r.initialState().hardState.term).toBe(crashBeforeNewSegment ? 2 : 3);
      expect(walFiles(dir).some((n) => oldSegments.includes(n))).toBe(false);
      await r.save({ entries: ents(r.lastIndex() + 1, r.lastIndex() + 1, 3) });
      await r.createSnapshot(r.lastIndex(), conf, new Uint8Array([1]));
      await r.close();
      const again = await FileStorage.open(dir, { segmentBytes: 300, fsync: false });
      // Without the fix the old log's entries 52..100 would come back here.
      expect(again.lastIndex()).toBe(crashBeforeNewSegment ? 51 : 56);
      expect(again.initialState().hardState.term).toBe(crashBeforeNewSegment ? 2 : 3);
      await again.close();
    }
  });

  it('recovers from a cut at every byte offset of the last record (torn write)', async () => {
    const dir = tempDir();
    const s = await FileStorage.open(dir, { fsync: false });
    await s.bootstrap(conf);
    await s.save({ entries: ents(2, 4), hardState: { term: 1, vote: 0, commit: 3 } });
    const seg = walFiles(dir).at(-1)!;
    const sizeBefore = statSync(join(dir, 'wal', seg)).size;
    await s.save({ entries: ents(5, 5) });
    await s.close();
    const full = statSync(join(dir, 'wal', seg)).size;
    expect(full).toBeGreaterThan(sizeBefore);
    for (let cut = sizeBefore; cut <= full; cut++) {
      const copy = copyDir(dir);
      truncateSync(join(copy, 'wal', seg), cut);
      const r = await FileStorage.open(copy, { fsync: false });
      const want = cut === full ? 5 : 4;
      expect(r.lastIndex(), `cut at ${cut}`).toBe(want);
      expect(r.initialState().hardState).toEqual({ term: 1, vote: 0, commit: 3 });
      // The torn bytes are gone and the log accepts new writes that survive another restart.
      expect(statSync(join(copy, 'wal', seg)).size).toBe(cut === full ? full : sizeBefore);
      await r.save({ entries: ents(want + 1, want + 1, 2) });
      await r.close();
      const again = await FileStorage.open(copy, { fsync: false });
      expect(again.lastIndex()).toBe(want + 1);
      expect(again.term(want + 1)).toBe(2);
      await again.close();
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('refuses to start when a bit flips in a record that is not the last', async () => {
    const dir = tempDir();
    const s = await FileStorage.open(dir, { fsync: false });
    await s.bootstrap(conf);
    for (let i = 2; i <= 6; i++) await s.save({ entries: ents(i, i), hardState: { term: 1, vote: 0, commit: i - 1 } });
    await s.close();
    const seg = walFiles(dir).at(-1)!;
    const bytes = readFileSync(join(dir, 'wal', seg));
    // Flip one bit in each byte of the first half of the file (every record there has records after it).
    const limit = Math.floor(bytes.length / 2);
    let detected = 0;
    for (let off = 0; off < limit; off += 3) {
      const copy = copyDir(dir);
      const b = Buffer.from(bytes);
      b[off] = b[off]! ^ (1 << off % 8);
      writeFileSync(join(copy, 'wal', seg), b);
      try {
        await FileStorage.open(copy, { fsync: false });
        throw new Error(`bit flip at ${off} was not detected`);
      } catch (err) {
        expect(isRaftError(err, 'corrupt-storage'), String(err)).toBe(true);
        expect(String(err)).toMatch(/corrupt write-ahead log .* at byte \d+/);
        detected++;
      }
      rmSync(copy, { recursive: true, force: true });
    }
    expect(detected).toBeGreaterThan(10);
  });

  it('writes a multi-megabyte snapshot (checksummed in pieces) that survives reopen, and refuses it damaged', async () => {
    const dir = tempDir();
    const s = await FileStorage.open(dir, { fsync: false });
    await s.bootstrap(conf);
    await s.save({ entries: ents(2, 10), hardState: { term: 1, vote: 0, commit: 10 } });
    const data = new Uint8Array(3 * 1024 * 1024 + 7);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >>> 11)) & 0xff;
    await s.createSnapshot(9, conf, data);
    await s.compact(5);
    await s.close();
    const damaged = copyDir(dir);
    const r = await FileStorage.open(dir);
    expect(r.snapshot().index).toBe(9);
    expect(r.snapshot().confState).toEqual(conf);
    expect(Buffer.compare(r.snapshot().data, data)).toBe(0);
    expect(logOf(r)).toEqual(['10@1:entry-10']);
    await r.close();
    const snapFile = join(damaged, 'snap', '0000000000000009.snap');
    const b = readFileSync(snapFile);
    b[2 * 1024 * 1024 + 100] = b[2 * 1024 * 1024 + 100]! ^ 0x01;
    writeFileSync(snapFile, b);
    await expect(FileStorage.open(damaged)).rejects.toMatchObject({ code: 'corrupt-storage' });
  });

  it('refuses a missing segment and a damaged snapshot file', async () => {
    const dir = tempDir();
    const s = await FileStorage.open(dir, { segmentBytes: 100, fsync: false });
    await s.bootstrap(conf);
    for (let i = 2; i <= 20; i++) await s.save({ entries: ents(i, i) });
    await s.close();
    const files = walFiles(dir);
    expect(files.length).toBeGreaterThan(2);
    const missing = copyDir(dir);
    rmSync(join(missing, 'wal', files[1]!));
    await expect(FileStorage.open(missing)).rejects.toMatchObject({ code: 'corrupt-storage' });
    const badSnap = copyDir(dir);
    const snapFile = join(badSnap, 'snap', readdirSync(join(badSnap, 'snap'))[0]!);
    const b = readFileSync(snapFile);
    b[b.length - 1] = b[b.length - 1]! ^ 0x40;
    writeFileSync(snapFile, b);
    await expect(FileStorage.open(badSnap)).rejects.toMatchObject({ code: 'corrupt-storage' });
  });

  it('rejects bad options with a TypeError naming expected and received', async () => {
    await expect(FileStorage.open(tempDir(), { segmentBytes: 1 })).rejects.toThrow(/segmentBytes: expected an integer ≥ 64, received 1/);
  });
});

describe('FileStorage after a failed write', () => {
  it('refuses further writes, and a restart recovers what reached the disk', async () => {
    const dir = tempDir();
    const s = await FileStorage.open(dir, { fsync: false });
    await s.bootstrap(conf);
    await s.save({ entries: ents(2, 3), hardState: { term: 1, vote: 0, commit: 3 } });
    // The disk fails under the open segment (as with ENOSPC or EIO).
    const handle = (s as unknown as { current: { write: () => Promise<never> } }).current;
    handle.write = () => Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' }));
    await expect(s.save({ entries: ents(4, 4) })).rejects.toThrow(/EIO/);
    const err = await s.save({ entries: ents(5, 5) }).catch((e: unknown) => e);
    expect(isRaftError(err, 'storage-misuse')).toBe(true);
    expect(String(err)).toMatch(/failed a write earlier; restart the process/);
    await s.close();
    const r = await FileStorage.open(dir, { fsync: false });
    expect(r.lastIndex()).toBe(3);
    expect(r.initialState().hardState.commit).toBe(3);
    await r.close();
  });
});

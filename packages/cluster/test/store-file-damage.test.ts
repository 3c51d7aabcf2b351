// The file store on damaged files (issue 12, part 2): only a torn last record is cut; every
// other damage is refused with a StoreCorruptError naming the file, the byte offset and the
// way to recover — never read as less data. Each case writes a real store through the API,
// damages its files on disk, and opens it again.
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { isStoreCorruptError, openFileStore, type FileKvStore, type FileKvStoreOptions, type KeyValue, type KvWatchEvent } from '../src/index.js';
import { encodeRecord, encodeSnapshot, loadStore } from '../src/store/file-format.js';
import { applyDelete, applyPut, emptyState, rangeOf, type LogRecord } from '../src/store/kv-state.js';
import { collect } from './store-contract.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'flotilla-file-damage-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const logOf = (dir: string): string => join(dir, 'store/log.jsonl');
const snapshotOf = (dir: string): string => join(dir, 'store/snapshot.json');
const key = (i: number): string => `/flotilla/v1/instances/web-${String(i).padStart(4, '0')}`;

/** A store with `n` objects written through the API; returns its directory. */
async function storeWith(n: number, options: FileKvStoreOptions = {}): Promise<string> {
  const dir = tempDir();
  const s = await openFileStore(dir, options);
  for (let i = 0; i < n; i++) await s.put(key(i), JSON.stringify({ kind: 'Instance', metadata: { name: `web-${i}` }, spec: { n: i } }));
  await s.close();
  return dir;
}

/** The log's lines with their byte offsets (the last one may lack its newline). */
function lines(dir: string): { text: string; offset: number }[] {
  const bytes = readFileSync(logOf(dir));
  const out: { text: string; offset: number }[] = [];
  let start = 0;
  while (start < bytes.length) {
    let nl = bytes.indexOf(0x0a, start);
    if (nl < 0) nl = bytes.length;
    out.push({ text: bytes.toString('utf8', start, nl), offset: start });
    start = nl + 1;
  }
  return out;
}

function writeLines(dir: string, texts: string[]): void {
  writeFileSync(logOf(dir), texts.map((t) => `${t}\n`).join(''));
}

/** Opening (or reading) must fail with store-corrupt naming this file and offset. */
async function expectCorrupt(p: Promise<unknown>, file: string, offset: number, detail: RegExp): Promise<void> {
  const err = await p.then(
    async (v) => {
      const read = typeof v === 'object' && v !== null && 'range' in v ? `${(await (v as FileKvStore).range('/')).items.length} keys` : JSON.stringify(v);
      throw new Error(`expected a StoreCorruptError, but it read ${read}`);
    },
    (e: unknown) => e,
  );
  if (!isStoreCorruptError(err)) throw err;
  expect(err).toMatchObject({ code: 'store-corrupt', file, offset });
  expect(err.detail).toMatch(detail);
  expect(err.message).toContain(file);
  expect(err.message).toContain(`at byte ${offset}`);
  expect(err.message).toContain('flo store repair --keep-intact');
  expect(err.message).toContain('flo store check');
}

const count = async (s: FileKvStore): Promise<number> => (await s.range('/')).items.length;

describe('file store: damage is refused, never read as less data', () => {
  it('500 objects with one damaged line in the middle: refused (not 499), naming the file and the offset', async () => {
    const dir = await storeWith(500);
    const reader = await openFileStore(dir); // another process that had it open
    expect(await count(reader)).toBe(500);
    const ls = lines(dir);
    const victim = ls[249]!;
    // damage bytes in the middle of record 250 (a bad sector, a stray edit saved as a new file)
    const bytes = readFileSync(logOf(dir));
    bytes.write('#####', victim.offset + 40, 'latin1');
    writeFileSync(`${logOf(dir)}.edit`, bytes);
    renameSync(`${logOf(dir)}.edit`, logOf(dir));
    await expectCorrupt(openFileStore(dir), logOf(dir), victim.offset, /record checksum mismatch .*, with 250 more records after it/);
    // a process that had it open reads the replaced log again, and refuses too (reads and writes)
    await expectCorrupt(reader.range('/'), logOf(dir), victim.offset, /checksum mismatch/);
    await expectCorrupt(reader.put('/after', 'x'), logOf(dir), victim.offset, /checksum mismatch/);
    await reader.close();
  });

  it('a valid-JSON edit of a record (a changed value) is refused: its checksum no longer matches', async () => {
    const dir = await storeWith(20);
    const ls = lines(dir);
    const edited = JSON.parse(ls[9]!.text) as { value: string };
    edited.value = JSON.stringify({ kind: 'Instance', metadata: { name: 'evil' } });
    writeLines(
      dir,
      ls.map((l, i) => (i === 9 ? JSON.stringify(edited) : l.text)),
    );
    await expectCorrupt(openFileStore(dir), logOf(dir), ls[9]!.offset, /checksum mismatch/);
  });

  it('a missing snapshot while the log holds records is refused (300 objects, compacted: was 100 of 300)', async () => {
    const dir = await storeWith(300, { compactEvery: 200, historyLimit: 100 });
    const s = await openFileStore(dir);
    expect(await count(s)).toBe(300);
    await s.close();
    unlinkSync(snapshotOf(dir));
    await expectCorrupt(openFileStore(dir), snapshotOf(dir), 0, /snapshot is missing but .*log\.jsonl holds records from revision 201/);
  });

  it('a missing snapshot is refused even when the log starts at revision 1 (it is damage, not a new store)', async () => {
    const dir = await storeWith(5);
    unlinkSync(snapshotOf(dir));
    await expectCorrupt(openFileStore(dir), snapshotOf(dir), 0, /snapshot is missing/);
  });

  it('a log that starts after the snapshot is refused, naming the missing revisions', async () => {
    const dir = await storeWith(10);
    const ls = lines(dir);
    writeLines(dir, ls.slice(3).map((l) => l.text)); // revisions 1–3 gone from the front
    await expectCorrupt(openFileStore(dir), logOf(dir), 0, /starts at revision 4 but the snapshot ends at revision 0: revisions 1–3 are missing/);
  });

  it('a missing record in the middle (a revision gap) and records out of order are refused', async () => {
    const dir = await storeWith(10);
    const ls = lines(dir);
    writeLines(dir, ls.filter((_, i) => i !== 4).map((l) => l.text));
    await expectCorrupt(openFileStore(dir), logOf(dir), ls[4]!.offset, /revision 6 follows revision 4: revisions 5–5 are missing/);
    const swapped = ls.map((l) => l.text);
    [swapped[6], swapped[7]] = [swapped[7]!, swapped[6]!];
    writeLines(dir, swapped);
    await expectCorrupt(openFileStore(dir), logOf(dir), ls[6]!.offset, /revision 8 follows revision 6/);
  });

  it('a snapshot that fails its checksum is refused (a valid-JSON edit of snapshot.json)', async () => {
    const dir = await storeWith(30, { compactEvery: 20, historyLimit: 5 });
    const text = readFileSync(snapshotOf(dir), 'utf8');
    const edited = text.replace('"value":"{', '"value":"{ ');
    expect(edited).not.toBe(text);
    writeFileSync(snapshotOf(dir), edited);
    await expectCorrupt(openFileStore(dir), snapshotOf(dir), 0, /snapshot checksum mismatch/);
  });

  it('a deleted log behind a snapshot past revision 0 is refused', async () => {
    const dir = await storeWith(30, { compactEvery: 20, historyLimit: 5 });
    unlinkSync(logOf(dir));
    await expectCorrupt(openFileStore(dir), logOf(dir), 0, /log is missing behind a snapshot at revision 20/);
  });

  it('two records run together (a damaged newline before the last record) are refused, not cut as a torn tail', async () => {
    const dir = await storeWith(10);
    const bytes = readFileSync(logOf(dir));
    const ls = lines(dir);
    bytes[ls[9]!.offset - 1] = 0x20; // the newline ending record 9
    writeFileSync(logOf(dir), bytes);
    await expectCorrupt(openFileStore(dir), logOf(dir), ls[8]!.offset, /two records run together/);
  });
});

describe('file store: a torn last record is cut (only that)', () => {
  it('a last record without its newline (a crash mid-append) is cut by the opener, with a warning', async () => {
    const dir = await storeWith(10);
    const size = readFileSync(logOf(dir)).length;
    appendFileSync(logOf(dir), '{"crc":"00000000","rev":11,"type":"put","key":"/k","val');
    const warnings: string[] = [];
    const s = await openFileStore(dir, { onWarning: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`cut a torn last record at byte ${size}`);
    expect(readFileSync(logOf(dir)).length).toBe(size);
    expect(await s.range('/')).toMatchObject({ revision: 10 });
    expect(await s.put('/k', 'after')).toBe(11);
    await s.close();
  });

  it('a complete last line that fails its checksum, with nothing after it, is cut as torn', async () => {
    const dir = await storeWith(10);
    const ls = lines(dir);
    const bytes = readFileSync(logOf(dir));
    bytes[ls[9]!.offset + 30]! ^= 0x01;
    writeFileSync(logOf(dir), bytes);
    const warnings: string[] = [];
    const s = await openFileStore(dir, { onWarning: (m) => warnings.push(m) });
    expect(warnings.join('\n')).toMatch(/cut a torn last record .*checksum mismatch/);
    expect(await s.range('/')).toMatchObject({ revision: 9 });
    await s.close();
  });

  it('a reader never treats a half-written last line (a writer in progress) as damage, and never cuts it', async () => {
    const dir = await storeWith(3);
    const writer = await openFileStore(dir);
    await writer.put('/w', 'whole');
    await writer.close();
    const full = readFileSync(logOf(dir));
    const last = lines(dir).at(-1)!;
    truncateSync(logOf(dir), last.offset + 20); // the writer has written 20 bytes of its record so far…
    writeFileSync(join(dir, 'store/lock'), `${process.pid} ${hostname()}`); // …and holds the lock
    const warnings: string[] = [];
    const reader = await openFileStore(dir, { pollIntervalMs: 10, lockTimeoutMs: 200, onWarning: (m) => warnings.push(m) });
    const events = collect(reader.watch('/', {}), (ev) => ev.some((e) => e.type === 'put'), 10_000);
    await new Promise((r) => setTimeout(r, 100));
    expect(await reader.range('/')).toMatchObject({ revision: 3 }); // not an error, not the partial record
    expect(readFileSync(logOf(dir)).length).toBe(last.offset + 20); // the reader did not cut
    appendFileSync(logOf(dir), full.subarray(last.offset + 20)); // the writer finishes its line
    unlinkSync(join(dir, 'store/lock'));
    const seen = await events;
    expect(warnings.filter((w) => w.includes('torn'))).toEqual([]); // (the hand-written lock's mode may be tightened)
    expect(seen.find((e) => e.type === 'put')).toMatchObject({ key: '/w', value: 'whole', modRevision: 4 });
    await reader.close();
  });

  it('a watcher in another process applies the same checks: damage appended after it caught up expires it, and its re-list fails', async () => {
    const dir = await storeWith(3);
    const reader = await openFileStore(dir, { pollIntervalMs: 10 });
    const events: Promise<KvWatchEvent[]> = collect(reader.watch('/', {}), (ev) => ev.some((e) => e.type === 'expired'), 10_000);
    const at = readFileSync(logOf(dir)).length;
    appendFileSync(logOf(dir), 'garbage that is not a record\n{"crc":"00000000","rev":5}\n');
    expect((await events).map((e) => e.type)).toContain('expired');
    await expectCorrupt(reader.range('/'), logOf(dir), at, /not a record/);
    await reader.close();
  });
});

/** Files as flo wrote them before checksums (format 1): JSON lines, a plain JSON snapshot after a compaction. */
function legacyStore(n: number, compactAt?: { keepFrom: number }): { dir: string; items: KeyValue[] } {
  const dir = tempDir();
  mkdirSync(join(dir, 'store'), { recursive: true });
  const state = emptyState();
  const records: LogRecord[] = [];
  for (let i = 0; i < n; i++) records.push(applyPut(state, key(i % 7), `v${i}`));
  records.push(applyDelete(state, key(3))!);
  const items = rangeOf(state, '/');
  if (compactAt) {
    writeFileSync(snapshotOf(dir), JSON.stringify({ revision: state.revision, compactRevision: compactAt.keepFrom - 1, kvs: [...state.kvs.values()] }));
    writeFileSync(logOf(dir), records.filter((r) => r.rev >= compactAt.keepFrom).map((r) => `${JSON.stringify(r)}\n`).join(''));
  } else writeFileSync(logOf(dir), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return { dir, items };
}

describe('file store: stores written before checksums', () => {
  it.each([
    ['never compacted (no snapshot, log from revision 1)', undefined],
    ['compacted (a plain snapshot, log from revision 11)', { keepFrom: 11 }],
  ])('%s: read strictly once, rewritten atomically with checksums, one notice', async (_name, compactAt) => {
    const { dir, items } = legacyStore(20, compactAt);
    const warnings: string[] = [];
    const s = await openFileStore(dir, { onWarning: (m) => warnings.push(m) });
    expect(await s.range('/')).toEqual({ items, revision: 21 });
    await s.close();
    const notices = (): string[] => warnings.filter((w) => w.includes('checksum')); // (hand-written files' modes are tightened too)
    expect(notices()).toHaveLength(1);
    expect(notices()[0]).toMatch(/rewrote the store with CRC-32C checksums \(snapshot at revision 21 and \d+ log records\); it was written by an older flo/);
    expect(readFileSync(snapshotOf(dir), 'utf8')).toMatch(/^\{"crc":"[0-9a-f]{8}","revision":21,/);
    for (const l of lines(dir)) expect(l.text).toMatch(/^\{"crc":"[0-9a-f]{8}","rev":\d+,/);
    const again = await openFileStore(dir, { onWarning: (m) => warnings.push(m) });
    expect(await again.range('/')).toEqual({ items, revision: 21 });
    expect(await again.put(key(99), 'new')).toBe(22);
    await again.close();
    expect(notices()).toHaveLength(1);
  });

  it('an old-format store is parsed strictly: a damaged middle line or an inconsistent edit is refused, and nothing is rewritten', async () => {
    const { dir } = legacyStore(20);
    const ls = lines(dir);
    writeLines(dir, ls.map((l, i) => (i === 5 ? l.text.slice(0, 20) : l.text)));
    const before = readFileSync(logOf(dir));
    await expectCorrupt(openFileStore(dir), logOf(dir), ls[5]!.offset, /not a record/);
    expect(readFileSync(logOf(dir))).toEqual(before);
    const edited = JSON.parse(ls[12]!.text) as { version: number };
    edited.version += 5;
    writeLines(dir, ls.map((l, i) => (i === 12 ? JSON.stringify(edited) : l.text)));
    await expectCorrupt(openFileStore(dir), logOf(dir), ls[12]!.offset, /claims createRevision \d+ and version \d+, but the state before it gives/);
  });

  it('an old-format log that starts after revision 1 without its snapshot is refused', async () => {
    const { dir } = legacyStore(20, { keepFrom: 11 });
    unlinkSync(snapshotOf(dir));
    await expectCorrupt(openFileStore(dir), snapshotOf(dir), 0, /snapshot is missing but .* holds records from revision 11/);
  });

  it('a record without a checksum appended to a checksummed log (an older flo wrote it) is refused', async () => {
    const dir = await storeWith(5);
    const at = readFileSync(logOf(dir)).length;
    appendFileSync(logOf(dir), `${JSON.stringify({ rev: 6, type: 'put', key: '/old', value: 'x', createRevision: 6, version: 1 })}\n`);
    appendFileSync(logOf(dir), `${JSON.stringify({ rev: 7, type: 'put', key: '/old2', value: 'x', createRevision: 7, version: 1 })}\n`);
    await expectCorrupt(openFileStore(dir), logOf(dir), at, /without a checksum among checksummed records \(an older flo may have written it\)/);
  });

  it('a new store writes nothing until its first write, which creates the snapshot before the log', async () => {
    const dir = tempDir();
    const s = await openFileStore(dir);
    expect(await s.range('/')).toEqual({ items: [], revision: 0 });
    expect(readdirSync(join(dir, 'store'))).toEqual([]);
    await s.put('/a', '1');
    await s.close();
    expect(readFileSync(snapshotOf(dir), 'utf8')).toMatch(/^\{"crc":"[0-9a-f]{8}","revision":0,"compactRevision":0,"kvs":\[\]\}\n$/);
    expect(lines(dir)).toHaveLength(1);
  });
});

describe('file store: property — a single corrupted byte never reads as less data', () => {
  it('random writes, then one byte changed anywhere in snapshot.json or log.jsonl: the exact state, the state before the last record (only when a torn tail was cut), or a StoreCorruptError', async () => {
    const op = fc.record({ del: fc.boolean(), k: fc.integer({ min: 0, max: 4 }), v: fc.string({ maxLength: 6 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 24 }), fc.boolean(), fc.boolean(), fc.nat(), fc.integer({ min: 1, max: 255 }), async (ops, small, inSnapshot, at, xor) => {
        const dir = tempDir();
        const s = await openFileStore(dir, small ? { compactEvery: 5, historyLimit: 2 } : {});
        const states = new Map<number, string>();
        states.set(0, JSON.stringify({ items: [], revision: 0 }));
        for (const o of ops) {
          if (o.del) await s.delete(key(o.k));
          else await s.put(key(o.k), o.v);
          const r = await s.range('/');
          states.set(r.revision, JSON.stringify(r));
        }
        const final = (await s.range('/')).revision;
        await s.close();
        const files = [snapshotOf(dir), logOf(dir)].filter((f) => readFileSync(f).length > 0);
        const file = files.length === 2 && !inSnapshot ? files[1]! : files[0]!;
        const bytes = readFileSync(file);
        bytes[at % bytes.length]! ^= xor;
        writeFileSync(file, bytes);
        const warnings: string[] = [];
        const opened = await openFileStore(dir, { onWarning: (m) => warnings.push(m) }).catch((e: unknown) => e);
        if (isStoreCorruptError(opened)) return;
        if (!(opened instanceof Object) || !('range' in opened)) throw opened;
        const got = JSON.stringify(await (opened as FileKvStore).range('/'));
        await (opened as FileKvStore).close();
        if (!warnings.some((w) => w.includes('cut a torn last record'))) expect(got).toBe(states.get(final));
        else expect([states.get(final), states.get(final - 1)]).toContain(got);
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});

describe('file store: the decoder on arbitrary bytes (fuzz)', () => {
  const paths = { dir: '/s', snapshot: '/s/store/snapshot.json', log: '/s/store/log.jsonl' };
  const loadOrCorrupt = (snap: Uint8Array | undefined, log: Uint8Array | undefined): void => {
    try {
      loadStore(snap, log, paths);
    } catch (e) {
      if (!isStoreCorruptError(e)) throw e;
    }
  };

  it('random bytes in either file: a state or a StoreCorruptError, never another exception', () => {
    fc.assert(
      fc.property(fc.option(fc.uint8Array({ maxLength: 300 }), { nil: undefined }), fc.option(fc.uint8Array({ maxLength: 600 }), { nil: undefined }), (snap, log) => loadOrCorrupt(snap, log)),
      { numRuns: 3000 },
    );
  });

  it('checksummed lines holding arbitrary JSON (right checksum, wrong shape), mixed with valid records', () => {
    const valid = fc.integer({ min: 1, max: 5 }).map((n) => {
      const state = emptyState();
      return Array.from({ length: n }, (_, i) => encodeRecord(applyPut(state, `/k${i % 2}`, `v${i}`)));
    });
    const junk = fc.oneof(fc.jsonValue(), fc.dictionary(fc.constantFrom('rev', 'type', 'key', 'value', 'createRevision', 'version', 'prevValue', 'x'), fc.jsonValue()));
    fc.assert(
      fc.property(valid, fc.array(fc.tuple(fc.nat(), junk), { maxLength: 3 }), fc.boolean(), (records, inserts, legacy) => {
        const lines = [...records];
        for (const [at, j] of inserts) lines.splice(at % (lines.length + 1), 0, legacy ? `${JSON.stringify(j)}\n` : encodeRecord(j as never));
        loadOrCorrupt(Buffer.from(encodeSnapshot({ revision: 0, compactRevision: 0, kvs: [] })), Buffer.from(lines.join('')));
      }),
      { numRuns: 2000 },
    );
  });
});

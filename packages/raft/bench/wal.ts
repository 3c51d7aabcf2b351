// FileStorage write path: fsynced saves per second and entries per second for group-commit
// batch sizes. Run from the repo root:
//   node --conditions=@flotilla/source --import tsx packages/raft/bench/wal.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FileStorage, type Entry } from '../src/index.js';

const DURATION_MS = Number(process.env.BENCH_MS ?? 3000);

async function run(batch: number, payloadBytes: number, fsync: boolean): Promise<{ saves: number; entries: number }> {
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'flotilla-raft-walbench-'));
  try {
    const s = await FileStorage.open(dir, { fsync });
    await s.bootstrap({ voters: [1], learners: [] });
    const data = new Uint8Array(payloadBytes);
    let index = 2;
    let saves = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < DURATION_MS) {
      const entries: Entry[] = [];
      for (let i = 0; i < batch; i++) entries.push({ index: index++, term: 1, type: 'normal', data });
      await s.save({ entries, hardState: { term: 1, vote: 0, commit: index - 1 } });
      saves++;
      if (saves % 200 === 0) {
        const at = index - 1;
        await s.createSnapshot(at, { voters: [1], learners: [] }, new Uint8Array(0));
        await s.compact(at);
      }
    }
    const secs = (performance.now() - t0) / 1000;
    await s.close();
    return { saves: saves / secs, entries: (saves * batch) / secs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Baseline: the same bytes appended to one file with FileHandle.write (+ datasync), no records, no checksums. */
async function raw(batch: number, payloadBytes: number, fsync: boolean): Promise<{ saves: number; entries: number }> {
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'flotilla-raft-rawbench-'));
  try {
    const fh = await open(join(dir, 'raw.log'), 'a');
    const buf = new Uint8Array(batch * (payloadBytes + 30) + 37);
    let saves = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < DURATION_MS) {
      await fh.write(buf, 0, buf.length);
      if (fsync) await fh.datasync();
      saves++;
    }
    const secs = (performance.now() - t0) / 1000;
    await fh.close();
    return { saves: saves / secs, entries: (saves * batch) / secs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
console.log(`node ${process.version}, ${DURATION_MS} ms per figure, dir ${process.env.BENCH_DIR ?? tmpdir()}`);
for (const fsync of [true, false]) {
  for (const batch of [1, 100, 1000]) {
    const r = await run(batch, 64, fsync);
    const b = await raw(batch, 64, fsync);
    console.log(
      `fsync=${fsync ? 'on ' : 'off'} batch=${String(batch).padStart(4)} 64B: FileStorage ${fmt(r.saves).padStart(7)} saves/s ${fmt(r.entries).padStart(9)} entries/s | raw append ${fmt(b.saves).padStart(7)} writes/s | ratio ${(r.saves / b.saves).toFixed(2)}`,
    );
  }
}

// Model-based tests: FileStorage (through restarts) and the in-flight window must agree with
// simple references on random operation sequences.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Inflights } from '../src/core/progress.js';
import { FileStorage, MemoryStorage, type Entry, type Storage } from '../src/index.js';

type Op =
  | { kind: 'append'; at: number; n: number; term: number; commit: boolean }
  | { kind: 'snapshot'; back: number }
  | { kind: 'compact'; back: number }
  | { kind: 'install'; ahead: number; term: number }
  | { kind: 'reopen' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('append' as const), at: fc.nat(6), n: fc.integer({ min: 1, max: 5 }), term: fc.nat(2), commit: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('snapshot' as const), back: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('install' as const), ahead: fc.integer({ min: 1, max: 8 }), term: fc.nat(2) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
);

function view(s: Storage): unknown {
  const first = s.firstIndex();
  const last = s.lastIndex();
  return {
    first,
    last,
    snapshot: { ...s.snapshot(), data: [...s.snapshot().data] },
    hardState: s.initialState().hardState,
    entries: last >= first ? s.entries(first, last + 1).map((e) => `${e.index}@${e.term}:${new TextDecoder().decode(e.data)}`) : [],
  };
}

describe('FileStorage agrees with MemoryStorage', () => {
  it('over random appends (with overwrites), snapshots, compactions, leader snapshots and restarts', async () => {
    const conf = { voters: [1, 2, 3], learners: [] };
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        const dir = mkdtempSync(join(tmpdir(), `flotilla-raft-model-${run++}-`));
        try {
          let file = await FileStorage.open(dir, { fsync: false, segmentBytes: 256 });
          await file.bootstrap(conf);
          const mem = MemoryStorage.bootstrap(conf);
          let term = 1;
          let commit = 1;
          for (const o of ops) {
            switch (o.kind) {
              case 'append': {
                // Overwrite from somewhere after the commit point (as Raft does), with a term ≥ the last.
                const from = Math.max(commit + 1, mem.firstIndex(), mem.lastIndex() + 1 - o.at);
                term = Math.max(term, mem.term(from - 1)) + o.term;
                const entries: Entry[] = Array.from({ length: o.n }, (_, i) => ({ index: from + i, term, type: 'normal' as const, data: new TextEncoder().encode(`e${from + i}t${term}`) }));
                if (o.commit) commit = from + o.n - 1;
                const hardState = { term, vote: 0, commit };
                mem.append(entries);
                mem.setHardState(hardState);
                await file.save({ entries, hardState });
                break;
              }
              case 'snapshot': {
                const at = Math.max(commit - o.back, mem.snapshot().index + 1);
                if (at > commit) break;
                const data = new TextEncoder().encode(`snap${at}`);
                mem.createSnapshot(at, conf, data);
                await file.createSnapshot(at, conf, data);
                break;
              }
              case 'compact': {
                const at = mem.snapshot().index - o.back;
                if (at < mem.firstIndex()) break;
                mem.compact(at);
                await file.compact(at);
                break;
              }
              case 'install': {
                const index = mem.lastIndex() + o.ahead;
                term += o.term;
                const snap = { index, term, confState: conf, data: new TextEncoder().encode(`leader${index}`) };
                commit = index;
                const hardState = { term, vote: 0, commit };
                mem.applySnapshot(snap);
                mem.setHardState(hardState);
                await file.save({ snapshot: snap, entries: [], hardState });
                break;
              }
              case 'reopen':
                await file.close();
                file = await FileStorage.open(dir, { fsync: false, segmentBytes: 256 });
                // After a restart the log starts right after the newest snapshot.
                if (mem.snapshot().index >= mem.firstIndex()) mem.compact(mem.snapshot().index);
                break;
            }
            expect(view(file)).toEqual(view(mem));
          }
          await file.close();
          const last = await FileStorage.open(dir, { fsync: false, segmentBytes: 256 });
          if (mem.snapshot().index >= mem.firstIndex()) mem.compact(mem.snapshot().index);
          expect(view(last)).toEqual(view(mem));
          await last.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: Number(process.env.RAFT_MODEL_RUNS ?? 100), seed: Number(process.env.RAFT_MODEL_SEED ?? 5) },
    );
  });
});

describe('Inflights', () => {
  it('behaves as a bounded FIFO of last indexes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.oneof(fc.record({ add: fc.integer({ min: 1, max: 5 }) }), fc.record({ free: fc.nat(60) }), fc.constant('first' as const)), { maxLength: 60 }),
        (size, ops) => {
          const inf = new Inflights(size);
          const model: number[] = [];
          let last = 0;
          for (const o of ops) {
            if (o === 'first') {
              inf.freeFirstOne();
              model.shift();
            } else if ('add' in o) {
              if (model.length === size) continue; // the leader never adds to a full window
              last += o.add;
              inf.add(last);
              model.push(last);
            } else {
              inf.freeLE(o.free);
              while (model.length > 0 && model[0]! <= o.free) model.shift();
            }
            expect(inf.count).toBe(model.length);
            expect(inf.full()).toBe(model.length === size);
          }
        },
      ),
      { numRuns: 300, seed: 11 },
    );
  });
});

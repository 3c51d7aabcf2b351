// When a member snapshots (issue 15: a snapshot costs O(state), so a large one is amortized over
// as many bytes of log), what a crash between the snapshot file and the log's truncation leaves,
// and a member restarted from a snapshot of tens of megabytes.
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStorage, MemoryStorage, RaftNode, type Entry } from '../src/index.js';
import { CounterMachine } from './counter-machine.js';
import { SnapshotPolicy } from '../src/node/snapshot-policy.js';
import { startKvServer, type KvServer } from '../src/server/kv-server.js';
import { freePort } from '../src/testing/index.js';

const dirs: string[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'flotilla-raft-snap-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const conf = { voters: [1], learners: [] };
const enc = new TextEncoder();
function ents(from: number, to: number, bytes = 8): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => ({ index: from + i, term: 1, type: 'normal' as const, data: new Uint8Array(bytes).fill(97) }));
}

/**
 * Drives a SnapshotPolicy over `sizes` (the bytes of each applied entry, from index 2) with a
 * state whose snapshot is `stateBytes(index)` long; returns the indexes snapshotted.
 */
async function drive(sizes: readonly number[], stateBytes: (index: number) => number, o: { entries: number; amortizeAbove: number }): Promise<number[]> {
  const storage = MemoryStorage.bootstrap(conf);
  storage.append(sizes.map((b, i) => ({ index: i + 2, term: 1, type: 'normal', data: new Uint8Array(b) })));
  const policy = new SnapshotPolicy(storage, 1, { snapshotEntries: o.entries, catchUpEntries: 0, amortizeAboveBytes: o.amortizeAbove });
  const taken: number[] = [];
  for (let i = 0; i < sizes.length; i++) {
    const index = i + 2;
    policy.noteApplied(sizes[i]!);
    policy.maybeSnapshot(index, conf, () => {
      taken.push(index);
      return [new Uint8Array(stateBytes(index))];
    });
    await policy.settled();
  }
  return taken;
}

/** The rule, stated plainly: the reference the policy is checked against. */
function reference(sizes: readonly number[], stateBytes: (index: number) => number, o: { entries: number; amortizeAbove: number }): number[] {
  const taken: number[] = [];
  let last = 1;
  let lastBytes = 0;
  let since = 0;
  for (let i = 0; i < sizes.length; i++) {
    const index = i + 2;
    since += sizes[i]!;
    const n = index - last;
    if (n >= o.entries && (lastBytes <= o.amortizeAbove || since >= lastBytes || n >= 10 * o.entries)) {
      taken.push(index);
      last = index;
      lastBytes = stateBytes(index);
      since = 0;
    }
  }
  return taken;
}

describe('SnapshotPolicy', () => {
  it('takes a small snapshot every snapshotEntries entries, whatever their size', async () => {
    const taken = await drive(new Array<number>(45).fill(10), () => 500, { entries: 10, amortizeAbove: 1000 });
    expect(taken).toEqual([11, 21, 31, 41]);
  });

  it('takes a large one only once the entries since the last add up to its size (or 10 × snapshotEntries of them)', async () => {
    // 5,000-byte snapshots, 100-byte entries: one every 50 entries, not every 10
    expect(await drive(new Array<number>(160).fill(100), () => 5000, { entries: 10, amortizeAbove: 1000 })).toEqual([11, 61, 111, 161]);
    // 1-byte entries would need 5,000 of them: 100 (10 × 10) force one
    expect(await drive(new Array<number>(230).fill(1), () => 5000, { entries: 10, amortizeAbove: 1000 })).toEqual([11, 111, 211]);
  });

  it('agrees with the rule stated plainly for any entry sizes and state growth (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 300 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 50 }), async (sizes, entries, amortizeAbove, growth) => {
        const state = (index: number): number => 100 + growth * index;
        expect(await drive(sizes, state, { entries, amortizeAbove })).toEqual(reference(sizes, state, { entries, amortizeAbove }));
      }),
      { numRuns: 150 },
    );
  });

  it('counts entries applied while a snapshot is written towards the next one, and reports its cost', async () => {
    const storage = MemoryStorage.bootstrap(conf);
    storage.append(ents(2, 200, 100));
    const lines: string[] = [];
    const policy = new SnapshotPolicy(storage, 1, { snapshotEntries: 10, catchUpEntries: 0, amortizeAboveBytes: 1000, log: (l) => lines.push(l) });
    const capture = (): Uint8Array[] => [new Uint8Array(3000)];
    for (let i = 2; i <= 11; i++) policy.noteApplied(100);
    policy.maybeSnapshot(11, conf, capture);
    // 30 entries (3,000 bytes) arrive while it is being written
    for (let i = 12; i <= 41; i++) {
      policy.noteApplied(100);
      policy.maybeSnapshot(i, conf, capture);
    }
    await policy.settled();
    expect(storage.snapshot().index).toBe(11);
    expect(policy.lastCost).toMatchObject({ index: 11, bytes: 3000 });
    expect(lines[0]).toMatch(/^snapshot at 11: 0\.0 MB, captured in \d+ ms, serialized in \d+ ms, written in \d+ ms$/);
    // they already add up to the 3,000 bytes: the next entry makes the next snapshot
    expect(policy.due(42)).toBe(true);
  });

  it('refuses a snapshotEntries that is not a positive integer', () => {
    expect(() => new SnapshotPolicy(MemoryStorage.bootstrap(conf), 1, { snapshotEntries: 0, catchUpEntries: 0 })).toThrow(/snapshotEntries: expected a positive integer, received 0/);
  });
});

describe('FileStorage: a crash between the snapshot file and the log truncation', () => {
  async function written(dir: string): Promise<FileStorage> {
    const s = await FileStorage.open(dir, { segmentBytes: 256 });
    await s.bootstrap(conf);
    for (let i = 2; i <= 100; i += 7) await s.save({ entries: ents(i, Math.min(100, i + 6), 40), hardState: { term: 1, vote: 1, commit: Math.min(100, i + 6) } });
    return s;
  }

  it('after the snapshot file, before any compaction: the snapshot and every entry after it are there', async () => {
    const dir = tempDir();
    const s = await written(dir);
    const segments = readdirSync(join(dir, 'wal')).length;
    await s.createSnapshot(60, conf, enc.encode('state@60'));
    await s.close(); // the crash: compact never ran
    const r = await FileStorage.open(dir);
    expect(r.snapshot().index).toBe(60);
    expect(new TextDecoder().decode(r.snapshot().data)).toBe('state@60');
    expect(r.firstIndex()).toBe(61);
    expect(r.lastIndex()).toBe(100);
    expect(r.entries(61, 101).map((e) => e.index)).toEqual(Array.from({ length: 40 }, (_, i) => 61 + i));
    expect(r.initialState().hardState.commit).toBe(100);
    expect(readdirSync(join(dir, 'wal')).length).toBe(segments);
    // it goes on from there: more entries, the next snapshot and its compaction
    await r.save({ entries: ents(101, 110, 40), hardState: { term: 1, vote: 1, commit: 110 } });
    await r.createSnapshot(105, conf, enc.encode('state@105'));
    await r.compact(105);
    await r.close();
    const again = await FileStorage.open(dir);
    expect([again.firstIndex(), again.lastIndex(), again.snapshot().index]).toEqual([106, 110, 105]);
    await again.close();
  });

  it('halfway through a compaction (segments gone, the older snapshot file still there): the newest snapshot and the rest of the log', async () => {
    const dir = tempDir();
    const s = await written(dir);
    await s.createSnapshot(30, conf, enc.encode('state@30'));
    await s.compact(30);
    await s.createSnapshot(80, conf, enc.encode('state@80'));
    const old = readdirSync(join(dir, 'snap')).filter((n) => n.endsWith('.snap'));
    await s.compact(80);
    await s.close();
    // put the older snapshot file back: compact had deleted the segments, not yet the old snapshot
    for (const n of old) if (!existsSync(join(dir, 'snap', n))) writeFileSync(join(dir, 'snap', n), 'never read: an older name sorts first', { mode: 0o600 });
    const r = await FileStorage.open(dir);
    expect(r.snapshot().index).toBe(80);
    expect(new TextDecoder().decode(r.snapshot().data)).toBe('state@80');
    expect([r.firstIndex(), r.lastIndex()]).toEqual([81, 100]);
    await r.close();
  });

  it('in the middle of writing the snapshot file (a .snap.tmp left): the previous snapshot and the whole log', async () => {
    const dir = tempDir();
    const s = await written(dir);
    await s.close();
    writeFileSync(join(dir, 'snap', `${(60).toString(16).padStart(16, '0')}.snap.tmp`), 'half a snapshot', { mode: 0o600 });
    const r = await FileStorage.open(dir);
    expect(r.snapshot().index).toBe(1);
    expect([r.firstIndex(), r.lastIndex()]).toEqual([2, 100]);
    expect(readdirSync(join(dir, 'snap')).some((n) => n.endsWith('.tmp'))).toBe(false);
    await r.close();
  });
});

describe('RaftNode: a large state is snapshotted amortized, and nothing acknowledged is lost across a restart', () => {
  async function member(dir: string, pad: number, peerPort: number) {
    const storage = await FileStorage.open(dir);
    if (storage.isNew) await storage.bootstrap(conf);
    const counter = new CounterMachine(pad);
    const node = new RaftNode<{ add: number }, number>({ id: 1, storage, stateMachine: counter, peerListen: `127.0.0.1:${peerPort}`, tickMs: 10, seed: 1, snapshotEntries: 5, snapshotCatchUpEntries: 1, snapshotAmortizeAboveBytes: 1000 });
    await node.start();
    const deadline = Date.now() + 30_000;
    while (!node.isLeader()) {
      if (Date.now() > deadline) throw new Error('no leader');
      await new Promise((r) => setTimeout(r, 10));
    }
    return { node, counter, storage };
  }

  it('a 100 kB state is not snapshotted every 5 small entries; a restart replays the log after the snapshot', async () => {
    const dir = tempDir();
    const port = await freePort();
    const m = await member(dir, 100_000, port);
    let acknowledged = 0;
    for (let i = 1; i <= 120; i++) acknowledged = (await m.node.propose({ add: 1 }))!;
    await m.node.stop();
    expect(acknowledged).toBe(120);
    // one snapshot (the first: the bootstrap state was small); 120 entries of ~60 bytes are far from 100 kB
    const snaps = readdirSync(join(dir, 'snap')).filter((n) => n.endsWith('.snap'));
    expect(snaps).toHaveLength(1);
    expect(statSync(join(dir, 'snap', snaps[0]!)).size).toBeGreaterThan(100_000);
    const again = await member(dir, 100_000, port);
    cleanups.push(() => again.node.stop());
    // the log after the snapshot is applied again once the leader commits (its commit index is not kept)
    await until(() => again.counter.value >= 120, 'the log replayed');
    expect(again.counter.value).toBe(120);
    expect(await again.node.propose({ add: 1 })).toBe(121);
  });
});

describe('flo server member: restart from a snapshot of tens of megabytes', () => {
  it('writes it in flushed pieces and comes back with every key and the same revision', async () => {
    const dir = tempDir();
    const peerPort = await freePort();
    const servers: KvServer[] = [];
    cleanups.push(async () => {
      for (const s of servers) await s.close();
    });
    const lines: string[] = [];
    const start = async () => {
      const s = await startKvServer({ id: 1, listen: '127.0.0.1:0', peerListen: `127.0.0.1:${peerPort}`, peers: new Map([[1, `127.0.0.1:${peerPort}`]]), data: dir, tickMs: 20, snapshotEntries: 20, snapshotCatchUpEntries: 2, autoCompactRevisions: 0, log: (l) => lines.push(l) });
      servers.push(s);
      await until(() => s.node.isLeader(), 'a leader');
      return s;
    };
    const s = await start();
    // 40 txns of 100 keys × 5 kB: 20 MB of values (40 MB with the watch history in the snapshot)
    const value = (t: number, k: number) => `${t}.${k}.`.padEnd(5000, 'x');
    for (let t = 0; t < 40; t++) {
      const success = Array.from({ length: 100 }, (_, k) => ({ put: { key: `/big/${t}/${k}`, value: value(t, k) } }));
      const r = await s.node.propose({ op: 'txn', compare: [], success, failure: [] });
      expect(r).toMatchObject({ type: 'txn', succeeded: true });
    }
    // small writes until a snapshot covers every big one
    const last = s.node.status().appliedIndex;
    const covered = () => lines.some((l) => Number(/^snapshot at (\d+): \d+\.\d MB/.exec(l)?.[1] ?? 0) >= last);
    // (a snapshot is considered as entries are applied: keep writing until one covers them)
    for (let i = 0; !covered(); i++) {
      if (i > 2000) throw new Error(`no snapshot at or after ${last}: ${lines.join('; ')}`);
      await s.node.propose({ op: 'put', key: `/small/${i % 10}`, value: 'x' });
      await new Promise((r) => setTimeout(r, 10));
    }
    const revision = s.node.kv.revision;
    await s.close();
    servers.length = 0;
    const snapFiles = readdirSync(join(dir, 'raft', 'snap')).filter((n) => n.endsWith('.snap'));
    expect(snapFiles).toHaveLength(1);
    expect(statSync(join(dir, 'raft', 'snap', snapFiles[0]!)).size).toBeGreaterThan(36 * 1024 * 1024); // more than two 16 MiB flushes

    const r = await start();
    // the entries after the snapshot are applied again once the leader commits (its commit index is not kept)
    await until(() => r.node.kv.revision >= revision, 'the log replayed');
    expect(r.node.kv.revision).toBe(revision);
    for (let t = 0; t < 40; t++) for (const k of [0, 57, 99]) expect(r.node.kv.get(`/big/${t}/${k}`)?.value).toBe(value(t, k));
    expect(r.node.kv.range({ prefix: '/big/' }).items).toHaveLength(4000);
  }, 120_000);
});

async function until(f: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

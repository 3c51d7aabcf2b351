// The controllers' events are recorded in the background (issue 15): a reconcile queues them
// and goes on; the recorder batches them across reconciles and prunes the oldest beyond
// maxEvents from what it knows, not from a list of every event per prune (that list was most
// of the controller's JSON decoding at 150,000 instances).
import { FakeClock } from '@flotilla/reconcile/testing';
import { seededRandom } from '@flotilla/reconcile';
import { describe, expect, it } from 'vitest';
import { ClusterStore, MemoryKvStore, type KvCompare, type KvStore, type KvTxnOp } from '../../src/index.js';
import { EventRecorder, type EventRecord } from '../../src/controllers/events.js';

const EVENTS = '/flotilla/v1/events/';

/** A KV that counts lists of the events and can hold back transactions. */
function instrumented(kv: MemoryKvStore): { kv: KvStore; lists: () => number; txns: { created: number; deleted: number }[]; hold(): void; release(): void } {
  let lists = 0;
  const txns: { created: number; deleted: number }[] = [];
  let held: (() => void)[] | undefined;
  const proxy = new Proxy(kv, {
    get: (target, prop, receiver) => {
      if (prop === 'range')
        return (prefix: string, options?: unknown) => {
          if (prefix.startsWith(EVENTS)) lists++;
          return target.range(prefix, options as never);
        };
      if (prop === 'txn')
        return async (compare: readonly KvCompare[], ops: readonly KvTxnOp[]) => {
          if (held) await new Promise<void>((r) => held!.push(r));
          txns.push({ created: ops.filter((o) => o.type === 'put' && o.key.startsWith(EVENTS)).length, deleted: ops.filter((o) => o.type === 'delete' && o.key.startsWith(EVENTS)).length });
          return target.txn(compare, ops);
        };
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return {
    kv: proxy,
    lists: () => lists,
    txns,
    hold: () => (held = []),
    release: () => {
      const h = held ?? [];
      held = undefined;
      for (const r of h) r();
    },
  };
}

const records = (n: number, from = 0): EventRecord[] =>
  Array.from({ length: n }, (_, k) => ({ kind: 'Instance', name: `i-${from + k}`, type: 'Normal', reason: 'Scheduled', message: `event ${from + k}` }));

function world(options: { maxEvents?: number; maxQueued?: number; relistMs?: number } = {}) {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const memory = new MemoryKvStore({ progressIntervalMs: 0 });
  const kv = instrumented(memory);
  const store = new ClusterStore(kv.kv, { now: () => new Date(clock.now()) });
  const recorder = new EventRecorder({ store, clock, random: seededRandom(7), ...options });
  return { clock, memory, kv, store, recorder };
}

describe('EventRecorder', () => {
  it('keeps the newest maxEvents, pruning from memory: one list of the events in all, not one per prune', async () => {
    const w = world({ maxEvents: 100 });
    // 1,000 events from 100 "reconciles" at once: two writes go out, the rest wait and are
    // batched together
    for (let r = 0; r < 100; r++) void w.recorder.record(records(10, r * 10));
    await w.recorder.flush();
    const stored = await w.store.events.items();
    expect(stored).toHaveLength(100);
    // the newest 100: events 900..999
    expect(stored.map((e) => Number(e.message.slice(6))).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, k) => 900 + k));
    // one list at the first prune (what was stored before it started), none per prune since
    expect(w.recorder.lists).toBe(1);
    expect(w.kv.lists()).toBe(1 + 1); // the recorder's, and the items() of this test
    // written in transactions of up to 50, whichever reconcile queued them; deleted likewise
    const creating = w.kv.txns.filter((t) => t.created > 0);
    expect(creating.reduce((s, t) => s + t.created, 0)).toBe(1000);
    expect(Math.max(...creating.map((t) => t.created))).toBe(50);
    const deleting = w.kv.txns.filter((t) => t.deleted > 0);
    expect(deleting.reduce((s, t) => s + t.deleted, 0)).toBe(900);
    expect(deleting.every((t) => t.deleted <= 50)).toBe(true);
    await w.memory.close();
  });

  it("counts the events stored before it started and other writers', learned at a re-list at most every relistMs", async () => {
    const w = world({ maxEvents: 50, relistMs: 60_000 });
    // an earlier controller's 40 events, oldest of all
    const other = new EventRecorder({ store: w.store, clock: w.clock, random: seededRandom(1), maxEvents: 1000 });
    await other.record(records(40, 10_000));
    await w.clock.advanceAsync(1000);
    await w.recorder.record(records(20));
    await w.recorder.flush();
    // 60 stored, 50 kept: the 10 oldest of the earlier controller's are gone
    let stored = await w.store.events.items();
    expect(stored).toHaveLength(50);
    const earlier = (e: { involved: { name: string } }): boolean => Number(e.involved.name.slice(2)) >= 10_000 && Number(e.involved.name.slice(2)) < 20_000;
    expect(stored.filter(earlier).map((e) => e.involved.name).sort()).toEqual(Array.from({ length: 30 }, (_, k) => `i-${10_010 + k}`).sort());
    expect(w.recorder.lists).toBe(1);

    // another writer (an agent) adds 30; unknown to the recorder until it lists again
    await w.clock.advanceAsync(1000);
    await other.record(records(30, 20_000));
    await w.recorder.record(records(5, 100));
    await w.recorder.flush();
    expect(await w.store.events.items()).toHaveLength(50 + 30);
    expect(w.recorder.lists).toBe(1);
    // a minute later, the next write lists again and prunes to 50, oldest first
    await w.clock.advanceAsync(60_000);
    await w.recorder.record(records(5, 200));
    await w.recorder.flush();
    stored = await w.store.events.items();
    expect(stored).toHaveLength(50);
    expect(w.recorder.lists).toBe(2);
    expect(stored.filter(earlier)).toEqual([]);
    expect(stored.filter((e) => ['i-200', 'i-201', 'i-202', 'i-203', 'i-204'].includes(e.involved.name))).toHaveLength(5);
    await w.memory.close();
  });

  it('is asynchronous: record returns before the write, and its promise resolves once written; past maxQueued the newest are dropped', async () => {
    const w = world({ maxQueued: 100 });
    w.kv.hold();
    let written = false;
    // taken at once by the two transactions allowed in flight (held by the store)
    const first = w.recorder.record(records(100)).then(() => (written = true));
    // waits in the queue (100 fit)
    const second = w.recorder.record(records(100, 100));
    // no room: dropped
    const third = w.recorder.record(records(50, 200));
    for (let i = 0; i < 20; i++) await Promise.resolve();
    expect(written).toBe(false);
    expect(await w.store.events.items()).toEqual([]);
    expect(w.recorder.dropped).toBe(50);
    w.kv.release();
    await Promise.all([first, second, third]);
    await w.recorder.flush();
    expect(written).toBe(true);
    const stored = new Set((await w.store.events.items()).map((e) => e.message));
    expect(stored.size).toBe(200);
    for (let k = 0; k < 250; k++) expect(stored.has(`event ${k}`)).toBe(k < 200);
    await w.memory.close();
  });
});

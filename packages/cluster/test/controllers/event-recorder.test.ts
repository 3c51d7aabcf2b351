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

// Kubernetes' EventCorrelator (client-go tools/record/events_cache.go), as the recorder does it:
// identical events are one record counted; 10 different messages of one object, type and reason
// within 10 minutes make the next ones one "(combined from similar events)" record; a token
// bucket per object (25, one more per 5 minutes) skips writes beyond it. Cases of our own.
describe('EventRecorder correlates events as Kubernetes does', () => {
  const T0 = Date.UTC(2026, 0, 1);
  const iso = (s: number): string => new Date(T0 + s * 1000).toISOString();
  const ev = (message: string, o: Partial<EventRecord> = {}): EventRecord => ({ kind: 'ReplicaSet', name: 'web', type: 'Normal', reason: 'Scheduled', message, ...o });
  /** A step: at second `at`, one record() call of `events`, awaited. */
  interface Step {
    at: number;
    events: EventRecord[];
  }
  interface Case {
    name: string;
    steps: Step[];
    /** Stored, by involved name, reason, message: [count, firstTimestamp s, lastTimestamp s]. */
    stored: Record<string, [number, number, number]>;
    filtered?: number;
    options?: { maxEvents?: number };
  }
  const key = (e: { involved: { name: string }; reason: string; message: string }): string => `${e.involved.name} ${e.reason} ${e.message}`;
  const C = '(combined from similar events): ';
  const msgs = (n: number, from = 0): EventRecord[] => Array.from({ length: n }, (_, k) => ev(`m${from + k}`));

  const cases: Case[] = [
    {
      name: 'identical events are one record: count grows, lastTimestamp moves on, firstTimestamp stays',
      steps: [0, 5, 9, 30, 31].map((at) => ({ at, events: [ev('created instance web-1 on h-1', { type: 'Warning', reason: 'FailedScheduling' })] })),
      stored: { 'web FailedScheduling created instance web-1 on h-1': [5, 0, 31] },
    },
    {
      name: 'the same message about two objects, or of two reasons or types, is two records',
      steps: [
        { at: 0, events: [ev('x'), ev('x', { name: 'api' }), ev('x', { reason: 'Started' }), ev('x', { type: 'Warning' })] },
        { at: 1, events: [ev('x'), ev('x', { name: 'api' })] },
      ],
      stored: { 'web Scheduled x': [2, 0, 1], 'api Scheduled x': [2, 0, 1], 'web Started x': [1, 0, 0] },
      // (the Warning one has the same involved name, reason and message as 'web Scheduled x': told apart below)
    },
    {
      name: '9 different messages are 9 records; from the 10th within 10 minutes one combined record counts them, showing the latest message',
      steps: [
        { at: 0, events: msgs(9) },
        { at: 60, events: [ev('m9')] },
        { at: 120, events: [ev('m10'), ev('m11')] },
      ],
      stored: {
        ...Object.fromEntries(Array.from({ length: 9 }, (_, k) => [`web Scheduled m${k}`, [1, 0, 0] as [number, number, number]])),
        [`web Scheduled ${C}m11`]: [3, 60, 120],
      },
    },
    {
      name: 'an identical message already counted among the similar ones stays its own record',
      steps: [
        { at: 0, events: msgs(9) },
        { at: 10, events: [ev('m3')] },
      ],
      stored: { ...Object.fromEntries(Array.from({ length: 9 }, (_, k) => [`web Scheduled m${k}`, [k === 3 ? 2 : 1, 0, k === 3 ? 10 : 0] as [number, number, number]])) },
    },
    {
      name: 'similar events more than 10 minutes after the last are counted afresh: not combined',
      steps: [
        { at: 0, events: msgs(9) },
        { at: 601, events: msgs(5, 9) },
      ],
      stored: Object.fromEntries(Array.from({ length: 14 }, (_, k) => [`web Scheduled m${k}`, [1, k < 9 ? 0 : 601, k < 9 ? 0 : 601] as [number, number, number]])),
    },
    {
      name: 'the spam filter: 25 writes for one object at once, the 26th to 30th skipped; a token back 5 minutes later',
      steps: [
        ...Array.from({ length: 30 }, (_, k): Step => ({ at: k, events: [ev('x', { reason: `R${k}` })] })),
        { at: 29 + 300, events: [ev('x', { reason: 'Late' })] },
      ],
      stored: Object.fromEntries([...Array.from({ length: 25 }, (_, k) => [`web R${k} x`, [1, k, k] as [number, number, number]]), ['web Late x', [1, 329, 329]]]),
      filtered: 5,
    },
    {
      name: 'occurrences folded into a record whose write is still queued cost no write and no token',
      steps: [{ at: 0, events: Array.from({ length: 100 }, () => ev('the same')) }],
      stored: { 'web Scheduled the same': [100, 0, 0] },
      filtered: 0,
    },
    {
      name: 'a skipped write is not a lost occurrence: the next write carries its count',
      steps: [
        ...Array.from({ length: 25 }, (_, k): Step => ({ at: 0, events: [ev('spam', { reason: `R${k}` })] })),
        { at: 1, events: [ev('again', { reason: 'R0' })] },
        { at: 2, events: [ev('again', { reason: 'R0' })] },
        { at: 400, events: [ev('again', { reason: 'R0' })] },
      ],
      stored: { ...Object.fromEntries(Array.from({ length: 24 }, (_, k) => [`web R${k + 1} spam`, [1, 0, 0] as [number, number, number]])), 'web R0 spam': [1, 0, 0], 'web R0 again': [3, 1, 400] },
      filtered: 2,
    },
  ];

  it.each(cases)('$name', async (c) => {
    const w = world({ maxEvents: 1000, ...c.options });
    for (const step of c.steps) {
      const now = w.clock.now() - T0;
      if (step.at * 1000 > now) await w.clock.advanceAsync(step.at * 1000 - now);
      await w.recorder.record(step.events);
    }
    await w.recorder.flush();
    const stored = await w.store.events.items();
    const got: Record<string, [number, number, number]> = {};
    for (const e of stored) {
      if (e.type === 'Warning' && e.reason === 'Scheduled') continue; // the second case's Warning one, checked below
      expect(got[key(e)]).toBeUndefined();
      got[key(e)] = [e.count ?? 1, (Date.parse(e.firstTimestamp!) - T0) / 1000, (Date.parse(e.lastTimestamp!) - T0) / 1000];
      expect(e.time).toBe(e.lastTimestamp);
    }
    expect(got).toEqual(c.stored);
    if (c.name.startsWith('the same message')) expect(stored.filter((e) => e.type === 'Warning').map((e) => [e.message, e.count])).toEqual([['x', 1]]);
    expect(w.recorder.filtered).toBe(c.filtered ?? 0);
    expect(w.recorder.dropped).toBe(0);
    await w.memory.close();
  });

  it('a record pruned meanwhile is created again when it occurs again, its count kept; no record is left twice', async () => {
    const w = world({ maxEvents: 20 });
    await w.recorder.record([ev('old')]);
    await w.clock.advanceAsync(1000);
    // 20 newer events of other objects push it out
    await w.recorder.record(records(20));
    await w.recorder.flush();
    expect((await w.store.events.items()).filter((e) => e.message === 'old')).toEqual([]);
    await w.clock.advanceAsync(1000);
    await w.recorder.record([ev('old')]);
    await w.recorder.flush();
    const again = (await w.store.events.items()).filter((e) => e.message === 'old');
    expect(again.map((e) => [e.count, e.firstTimestamp, e.lastTimestamp])).toEqual([[2, iso(0), iso(2)]]);
    expect(await w.store.events.items()).toHaveLength(20);
    await w.memory.close();
  });

  it('the events of 5,000 creations (an Instance and a ReplicaSet event each, 100 per replica set) are 5,500 records, not 10,000', async () => {
    const w = world({ maxEvents: 500, maxQueued: 20_000 });
    let instance = 0;
    const calls: Promise<void>[] = [];
    for (let r = 0; r < 50; r++) {
      const batch: EventRecord[] = [];
      for (let k = 0; k < 100; k++, instance++) {
        batch.push({ kind: 'Instance', name: `rs${r}-${k}`, type: 'Normal', reason: 'Scheduled', message: `assigned rs${r}-${k} to h-${instance % 5000}` });
        batch.push({ kind: 'ReplicaSet', name: `rs${r}`, type: 'Normal', reason: 'Scheduled', message: `created instance rs${r}-${k} on h-${instance % 5000}` });
      }
      calls.push(w.recorder.record(batch));
    }
    await Promise.all(calls);
    await w.recorder.flush();
    expect(w.recorder.dropped).toBe(0);
    expect(w.recorder.filtered).toBe(0);
    // per replica set, 9 records and one combined counting the other 91 (90 of them folded in)
    expect(w.recorder.folded).toBe(50 * 90);
    const created = w.kv.txns.reduce((n, t) => n + t.created, 0);
    expect(created).toBe(5_000 + 50 * 10);
    await w.memory.close();
  });
});

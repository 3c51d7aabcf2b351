import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExponentialFailureRateLimiter, seededRandom, WorkQueue, type Priority } from '../src/index.js';
import { FakeClock, settle } from '../src/testing/index.js';

const drainKeys = (q: WorkQueue<string>): string[] => {
  const out: string[] = [];
  for (let k = q.tryGet(); k !== undefined; k = q.tryGet()) out.push(k);
  return out;
};

describe('WorkQueue guarantees', () => {
  it('is stingy: a key added many times before it is taken is handed out once', async () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    q.add('a');
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(1);
    const item = await q.get();
    expect(item).toEqual({ key: 'a', shutdown: false });
    expect(q.len()).toBe(0);
    expect(q.tryGet()).toBeUndefined();
  });

  it('never hands a key to two workers: an add during processing is queued again at done', async () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    q.add('a');
    expect(await q.get()).toEqual({ key: 'a', shutdown: false });
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(0);
    expect(q.tryGet()).toBeUndefined();
    let second: string | undefined;
    void q.get().then((i) => (second = i.key));
    await settle();
    expect(second).toBeUndefined();
    q.done('a');
    await settle();
    expect(second).toBe('a');
    q.done('a');
    expect(q.len()).toBe(0);
    expect(q.processingCount()).toBe(0);
  });

  it('is fair: distinct keys come out in first-add order', () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    for (const k of ['c', 'a', 'b', 'a', 'c', 'd']) q.add(k);
    expect(q.len()).toBe(4);
    expect(drainKeys(q)).toEqual(['c', 'a', 'b', 'd']);
  });

  it('re-queues a key re-added during processing behind keys added before its done', () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    q.add('a');
    expect(q.tryGet()).toBe('a');
    q.add('a');
    q.add('b');
    q.done('a');
    expect(drainKeys(q)).toEqual(['b', 'a']);
  });

  it('serves waiting gets in call order, one distinct key each', async () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    const got: string[] = [];
    const gets = [1, 2, 3].map((i) => q.get().then((item) => got.push(`${i}:${item.key}`)));
    q.add('x');
    q.add('x');
    q.add('y');
    q.add('z');
    await Promise.all(gets);
    expect(got).toEqual(['1:x', '2:y', '3:z']);
  });

  it('tryGet and getBatch are synchronous and respect the same rules', () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    for (const k of ['a', 'b', 'c', 'd']) q.add(k);
    expect(q.getBatch(3)).toEqual(['a', 'b', 'c']);
    q.add('a');
    expect(q.getBatch(10)).toEqual(['d']);
    q.done('a');
    expect(q.tryGet()).toBe('a');
  });

  it('ignores done for unknown keys', () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    q.done('ghost');
    q.add('a');
    q.done('a'); // queued, not taken: not processing
    expect(q.len()).toBe(1);
  });
});

describe('WorkQueue shutdown', () => {
  it('resolves waiting gets with shutdown and ignores later adds', async () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    const waiting = q.get();
    q.shutDown();
    expect(await waiting).toEqual({ key: undefined, shutdown: true });
    q.add('late');
    expect(q.len()).toBe(0);
    expect(await q.get()).toEqual({ key: undefined, shutdown: true });
    expect(q.shuttingDown()).toBe(true);
  });

  it('still hands out keys that were queued before shutdown', async () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    q.add('a');
    q.add('b');
    q.shutDown();
    expect((await q.get()).key).toBe('a');
    expect((await q.get()).key).toBe('b');
    expect((await q.get()).shutdown).toBe(true);
  });

  it('shutDownWithDrain waits for in-flight keys to be done', async () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    q.add('a');
    q.add('b');
    q.getBatch(2);
    let drained = false;
    const p = q.shutDownWithDrain().then(() => (drained = true));
    await settle();
    expect(drained).toBe(false);
    q.done('a');
    await settle();
    expect(drained).toBe(false);
    q.done('b');
    await p;
    expect(drained).toBe(true);
  });

  it('shutDownWithDrain resolves at once when nothing is in flight, and shutDown ends a drain wait', async () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    await q.shutDownWithDrain();
    const q2 = new WorkQueue<string>({ clock: new FakeClock() });
    q2.add('a');
    q2.tryGet();
    const p = q2.shutDownWithDrain();
    q2.shutDown();
    await p;
    expect(q2.processingCount()).toBe(1);
  });

  it('shutdown cancels delayed adds', () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock });
    q.addAfter('a', 50);
    q.shutDown();
    expect(clock.pendingTimers()).toBe(0);
    clock.advance(100);
    expect(q.len()).toBe(0);
    q.addAfter('b', 10);
    q.addRateLimited('c');
    expect(q.delayedCount()).toBe(0);
  });
});

describe('WorkQueue delays (client-go delaying_queue_test)', () => {
  it('adds a key once its delay has passed, and only once', () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock });
    q.addAfter('foo', 50);
    expect(q.len()).toBe(0);
    clock.advance(60);
    expect(q.len()).toBe(1);
    q.done(q.tryGet()!);
    clock.advance(10_000);
    expect(q.len()).toBe(0);
  });

  it('dedupes delayed adds: the earlier deadline wins', () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock });
    q.addAfter('foo', 50);
    q.addAfter('foo', 70);
    expect(q.delayedCount()).toBe(1);
    clock.advance(60);
    expect(q.len()).toBe(1);
    q.done(q.tryGet()!);
    clock.advance(20);
    expect(q.len()).toBe(0);
    q.addAfter('foo', 50);
    q.addAfter('foo', 30);
    clock.advance(40);
    expect(q.len()).toBe(1);
    q.done(q.tryGet()!);
    clock.advance(20);
    expect(q.len()).toBe(0);
  });

  it('fires earlier deadlines first even when added later', () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock });
    q.addAfter('foo', 1000);
    q.addAfter('bar', 50);
    clock.advance(60);
    expect(drainKeys(q)).toEqual(['bar']);
    q.addAfter('baz', 2000);
    clock.advance(1000);
    expect(drainKeys(q)).toEqual(['foo']);
    clock.advance(2000);
    expect(drainKeys(q)).toEqual(['baz']);
  });

  it('orders keys due in the same step by deadline', () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock });
    q.addAfter('foo', 1000);
    q.addAfter('bar', 500);
    q.addAfter('baz', 250);
    clock.advance(2000);
    expect(drainKeys(q)).toEqual(['baz', 'bar', 'foo']);
  });

  it('adds at once for a delay <= 0', () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    q.addAfter('now', 0);
    q.addAfter('past', -5);
    expect(drainKeys(q)).toEqual(['now', 'past']);
  });

  it('keeps one timer armed for the earliest deadline', () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock });
    for (let i = 0; i < 100; i++) q.addAfter(`k${i}`, 1000 - i);
    expect(clock.pendingTimers()).toBe(1);
    expect(clock.nextTimerAt()).toBe(901);
    clock.advance(1000);
    expect(q.len()).toBe(100);
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('WorkQueue rate limiting (client-go rate_limiting_queue_test)', () => {
  it('addRateLimited delays by the limiter; forget and numRequeues pass through', () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock, rateLimiter: new ExponentialFailureRateLimiter({ baseDelayMs: 1, maxDelayMs: 1000 }) });
    q.addRateLimited('one');
    q.addRateLimited('one');
    expect(q.numRequeues('one')).toBe(2);
    q.addRateLimited('two');
    expect(q.numRequeues('two')).toBe(1);
    expect(q.delayedCount()).toBe(2);
    clock.advance(1);
    // 'one' waits for the earlier (1 ms) deadline of its two adds.
    expect(drainKeys(q)).toEqual(['one', 'two']);
    q.forget('one');
    expect(q.numRequeues('one')).toBe(0);
    q.addRateLimited('one');
    expect(clock.nextTimerAt()).toBe(2);
  });

  it('uses the default controller rate limiter when none is given', () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock });
    q.addRateLimited('a');
    q.addRateLimited('a');
    q.addRateLimited('a');
    expect(q.numRequeues('a')).toBe(3);
    clock.advance(4);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(q.len()).toBe(1);
  });

  it('reports adds, retries and depth to metrics', () => {
    const clock = new FakeClock();
    const seen: string[] = [];
    const q = new WorkQueue<string>({
      clock,
      metrics: { add: (k) => seen.push(`add:${k}`), retry: (k) => seen.push(`retry:${k}`), depth: (d) => seen.push(`depth:${d}`) },
    });
    q.add('a');
    q.add('a');
    q.tryGet();
    q.addAfter('a', 5);
    clock.advance(5);
    expect(seen).toEqual(['add:a', 'depth:1', 'depth:0', 'retry:a', 'add:a']);
  });

  it('rejects bad options', () => {
    expect(() => new WorkQueue({ lowPriorityInterval: 0 })).toThrow(/Expected `lowPriorityInterval` to be an integer > 0, got 0/);
    expect(() => new WorkQueue(null as never)).toThrow(TypeError);
  });
});

describe('WorkQueue priorities', () => {
  it('hands out normal keys before low ones, FIFO within each', () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    q.add('l1', 'low');
    q.add('n1');
    q.add('l2', 'low');
    q.add('n2');
    expect(drainKeys(q)).toEqual(['n1', 'n2', 'l1', 'l2']);
  });

  it('moves a low key to the normal lane when it is added at normal priority', () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    q.add('l1', 'low');
    q.add('l2', 'low');
    q.add('n1');
    q.add('l2');
    q.add('l1', 'low');
    expect(q.len()).toBe(3);
    expect(drainKeys(q)).toEqual(['n1', 'l2', 'l1']);
  });

  it('a normal add during processing wins over a low one at done', () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    q.add('a', 'low');
    q.tryGet();
    q.add('a', 'low');
    q.add('a');
    q.add('b', 'low');
    q.done('a');
    expect(drainKeys(q)).toEqual(['a', 'b']);
  });

  it('never starves low keys: one goes out after every lowPriorityInterval normal keys', () => {
    const q = new WorkQueue<string>({ clock: new FakeClock(), lowPriorityInterval: 3 });
    for (let i = 0; i < 3; i++) q.add(`low${i}`, 'low');
    for (let i = 0; i < 8; i++) q.add(`n${i}`);
    expect(drainKeys(q)).toEqual(['n0', 'n1', 'n2', 'low0', 'n3', 'n4', 'n5', 'low1', 'n6', 'n7', 'low2']);
  });

  it('keeps serving low keys under a constant stream of fresh normal events', () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    for (let i = 0; i < 50; i++) q.add(`low${i}`, 'low');
    let lowServed = 0;
    for (let i = 0; i < 1000; i++) {
      q.add(`fresh${i}`);
      const k = q.tryGet()!;
      if (k.startsWith('low')) lowServed++;
      q.done(k);
    }
    expect(lowServed).toBe(50);
  });
});

/** A straightforward model of the queue's ordering, to compare against. */
class ModelQueue {
  lanes: [string[], string[]] = [[], []];
  processing = new Set<string>();
  redirty = new Map<string, number>();
  sinceLow = 0;
  constructor(readonly interval: number) {}
  laneOf(k: string): number {
    return this.lanes[0].includes(k) ? 0 : this.lanes[1].includes(k) ? 1 : -1;
  }
  add(k: string, p: number): void {
    if (this.processing.has(k)) {
      const r = this.redirty.get(k);
      this.redirty.set(k, r === undefined ? p : Math.min(r, p));
      return;
    }
    const lane = this.laneOf(k);
    if (lane === -1) this.lanes[p]!.push(k);
    else if (p < lane) {
      this.lanes[1] = this.lanes[1].filter((x) => x !== k);
      this.lanes[0].push(k);
    }
  }
  take(): string | undefined {
    const [n, l] = this.lanes;
    if (n.length + l.length === 0) return undefined;
    let lane = 0;
    if (l.length > 0) {
      if (n.length === 0 || this.sinceLow >= this.interval) {
        lane = 1;
        this.sinceLow = 0;
      } else this.sinceLow++;
    }
    const k = this.lanes[lane]!.shift()!;
    this.processing.add(k);
    return k;
  }
  done(k: string): void {
    if (!this.processing.delete(k)) return;
    const r = this.redirty.get(k);
    if (r !== undefined) {
      this.redirty.delete(k);
      this.lanes[r]!.push(k);
    }
  }
  len(): number {
    return this.lanes[0].length + this.lanes[1].length;
  }
}

describe('WorkQueue at scale', () => {
  it('keeps FIFO order across internal buffer compaction, with stale (promoted) entries', () => {
    const q = new WorkQueue<string>({ clock: new FakeClock(), lowPriorityInterval: 1_000_000 });
    const m = new ModelQueue(1_000_000);
    const got: (string | undefined)[] = [];
    const want: (string | undefined)[] = [];
    for (let i = 0; i < 30_000; i++) {
      const k = `k${i % 12_000}`;
      const low = i % 3 === 0;
      q.add(k, low ? 'low' : 'normal');
      m.add(k, low ? 1 : 0);
      if (i % 2 === 0) {
        const a = q.tryGet();
        const b = m.take();
        got.push(a);
        want.push(b);
        if (a !== undefined) q.done(a);
        if (b !== undefined) m.done(b);
      }
    }
    for (let a = q.tryGet(); a !== undefined; a = q.tryGet()) {
      got.push(a);
      q.done(a);
    }
    for (let b = m.take(); b !== undefined; b = m.take()) {
      want.push(b);
      m.done(b);
    }
    expect(got).toEqual(want);
    expect(q.len()).toBe(0);
  });
});

describe('WorkQueue agrees with a simple model (fast-check)', () => {
  it('hands out the same keys in the same order for any sequence of add/get/done', () => {
    const key = fc.constantFrom('a', 'b', 'c', 'd', 'e');
    const op = fc.oneof(
      fc.record({ op: fc.constant('add' as const), key, low: fc.boolean() }),
      fc.record({ op: fc.constant('get' as const) }),
      fc.record({ op: fc.constant('done' as const), key }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), fc.integer({ min: 1, max: 4 }), (ops, interval) => {
        const q = new WorkQueue<string>({ clock: new FakeClock(), lowPriorityInterval: interval });
        const m = new ModelQueue(interval);
        for (const o of ops) {
          if (o.op === 'add') {
            const p: Priority = o.low ? 'low' : 'normal';
            q.add(o.key, p);
            m.add(o.key, o.low ? 1 : 0);
          } else if (o.op === 'get') {
            expect(q.tryGet()).toBe(m.take());
          } else {
            q.done(o.key);
            m.done(o.key);
          }
          expect(q.len()).toBe(m.len());
          expect(q.processingCount()).toBe(m.processing.size);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('WorkQueue under concurrency', () => {
  it('many workers, many keys, random adds during processing: never concurrent per key, no add lost, drain finishes', async () => {
    const random = seededRandom(42);
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    const inFlight = new Set<string>();
    const lastAdd = new Map<string, number>();
    const lastStart = new Map<string, number>();
    let seq = 0;
    let violations = 0;
    let processed = 0;
    const addRandom = (): void => {
      const k = keys[Math.floor(random() * keys.length)]!;
      lastAdd.set(k, ++seq);
      q.add(k, random() < 0.2 ? 'low' : 'normal');
    };
    const worker = async (): Promise<void> => {
      for (;;) {
        const item = await q.get();
        if (item.shutdown) return;
        const k = item.key;
        if (inFlight.has(k)) violations++;
        inFlight.add(k);
        lastStart.set(k, ++seq);
        processed++;
        const turns = Math.floor(random() * 4);
        for (let t = 0; t < turns; t++) {
          if (random() < 0.5) addRandom();
          await (random() < 0.5 ? Promise.resolve() : settle(1));
        }
        inFlight.delete(k);
        q.done(k);
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    for (let round = 0; round < 300; round++) {
      const n = Math.floor(random() * 6);
      for (let i = 0; i < n; i++) addRandom();
      await (random() < 0.7 ? Promise.resolve() : settle(1));
    }
    // Let everything settle, then drain.
    while (q.len() > 0 || q.processingCount() > 0) await settle(1);
    await q.shutDownWithDrain();
    await Promise.all(workers);
    expect(violations).toBe(0);
    expect(processed).toBeGreaterThan(200);
    for (const [k, addSeq] of lastAdd) {
      // Processing of every key started after its last add.
      expect(lastStart.get(k)!, k).toBeGreaterThan(addSeq);
    }
    expect(inFlight.size).toBe(0);
  });
});

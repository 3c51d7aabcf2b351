import { describe, expect, it } from 'vitest';
import {
  Controller,
  controller,
  ExponentialFailureRateLimiter,
  storeSource,
  TerminalError,
  type ControllerMetrics,
  type ReconcileContext,
  type ReconcileResult,
} from '../src/index.js';
import { FakeClock, MemoryStore, settle } from '../src/testing/index.js';

const backoff = (): ExponentialFailureRateLimiter<string> => new ExponentialFailureRateLimiter({ baseDelayMs: 5, maxDelayMs: 1000 });

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Records reconcile calls with their clock time. */
function recorder(clock: FakeClock, behaviour: (key: string, call: number) => ReconcileResult | void | Promise<ReconcileResult | void>) {
  const calls: { key: string; at: number }[] = [];
  let n = 0;
  const reconcile = (key: string): ReconcileResult | void | Promise<ReconcileResult | void> => {
    calls.push({ key, at: clock.now() });
    return behaviour(key, n++);
  };
  return { calls, reconcile };
}

describe('Controller result semantics (controller-runtime)', () => {
  it('requeues a thrown error with per-key backoff, then forgets it on success', async () => {
    const clock = new FakeClock();
    const r = recorder(clock, (_k, call) => {
      if (call < 3) throw new Error(`fail ${call}`);
    });
    const c = new Controller('t', r.reconcile, { clock, rateLimiter: backoff() });
    const ac = new AbortController();
    const running = c.run(ac.signal);
    c.queue.add('a');
    await clock.runFor(100, 1);
    expect(r.calls.map((x) => x.at)).toEqual([0, 5, 15, 35]);
    expect(c.queue.numRequeues('a')).toBe(0);
    ac.abort();
    await running;
  });

  it('TerminalError is not requeued and its backoff is forgotten', async () => {
    const clock = new FakeClock();
    const r = recorder(clock, (_k, call) => {
      if (call === 0) throw new Error('transient');
      throw new TerminalError(new Error('bad spec'));
    });
    const errors: unknown[] = [];
    const c = new Controller('t', r.reconcile, { clock, rateLimiter: backoff(), metrics: { reconcileError: (_c, _k, e) => errors.push(e) } });
    const ac = new AbortController();
    const running = c.run(ac.signal);
    c.queue.add('a');
    await clock.runFor(10_000, 50);
    expect(r.calls.length).toBe(2);
    expect(c.queue.numRequeues('a')).toBe(0);
    expect(c.queue.delayedCount()).toBe(0);
    expect((errors[1] as Error).message).toBe('bad spec');
    ac.abort();
    await running;
  });

  it('requeueAfterMs forgets the backoff and reconciles again after that delay', async () => {
    const clock = new FakeClock();
    const r = recorder(clock, (_k, call) => {
      if (call === 0) throw new Error('once');
      if (call === 1) return { requeueAfterMs: 1000 };
      return undefined;
    });
    const c = new Controller('t', r.reconcile, { clock, rateLimiter: backoff() });
    const ac = new AbortController();
    const running = c.run(ac.signal);
    c.queue.add('a');
    await clock.runFor(5000, 5);
    expect(r.calls.map((x) => x.at)).toEqual([0, 5, 1005]);
    expect(c.queue.numRequeues('a')).toBe(0);
    ac.abort();
    await running;
  });

  it('an error wins over a pending requeueAfterMs: the retry comes at the backoff delay', async () => {
    const clock = new FakeClock();
    const r = recorder(clock, (_k, call) => {
      if (call === 0) return { requeueAfterMs: 60_000 };
      if (call === 1) throw new Error('fails');
      return undefined;
    });
    const c = new Controller('t', r.reconcile, { clock, rateLimiter: backoff() });
    const ac = new AbortController();
    const running = c.run(ac.signal);
    c.queue.add('a');
    await clock.advanceAsync(100);
    c.queue.add('a'); // an event
    await clock.advanceAsync(0);
    await clock.runFor(100, 1);
    expect(r.calls.map((x) => x.at)).toEqual([0, 100, 105]);
    ac.abort();
    await running;
  });

  it('a requeueAfterMs of 0 or less means plain success', async () => {
    const clock = new FakeClock();
    const r = recorder(clock, () => ({ requeueAfterMs: 0 }));
    const c = new Controller('t', r.reconcile, { clock });
    const ac = new AbortController();
    const running = c.run(ac.signal);
    c.queue.add('a');
    await clock.runFor(1000, 100);
    expect(r.calls.length).toBe(1);
    ac.abort();
    await running;
  });

  it('isolates exceptions per key: sync throws, rejections and non-Error values never stop it', async () => {
    const clock = new FakeClock();
    const done: string[] = [];
    const c = new Controller(
      't',
      {
        reconcile(key: string) {
          if (key === 'sync') throw new Error('sync throw');
          if (key === 'reject') return Promise.reject(new Error('rejected'));
          if (key === 'weird') throw 'a string'; // eslint-disable-line @typescript-eslint/only-throw-error
          done.push(key);
          return undefined;
        },
      },
      { clock, rateLimiter: backoff() },
    );
    const ac = new AbortController();
    const running = c.run(ac.signal);
    for (const k of ['sync', 'ok1', 'reject', 'weird', 'ok2']) c.queue.add(k);
    await clock.runFor(50, 1);
    expect(done).toEqual(['ok1', 'ok2']);
    expect(c.queue.numRequeues('sync')).toBeGreaterThan(1);
    expect(c.queue.numRequeues('weird')).toBeGreaterThan(1);
    ac.abort();
    await running;
  });
});

describe('Controller concurrency and stop', () => {
  it('runs up to `concurrency` keys at once, never one key twice', async () => {
    const clock = new FakeClock();
    let inFlight = 0;
    let maxInFlight = 0;
    const active = new Set<string>();
    let dup = 0;
    let calls = 0;
    const c = new Controller(
      't',
      async (key) => {
        calls++;
        if (active.has(key)) dup++;
        active.add(key);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await settle(1);
        inFlight--;
        active.delete(key);
      },
      { clock, concurrency: 3 },
    );
    const ac = new AbortController();
    const running = c.run(ac.signal);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 10; i++) c.queue.add(`k${i % 4}`);
      await settle(1);
    }
    while (c.queue.len() > 0 || c.queue.processingCount() > 0) await settle(1);
    expect(maxInFlight).toBe(3);
    expect(dup).toBe(0);
    expect(calls).toBeGreaterThanOrEqual(4);
    ac.abort();
    await running;
  });

  it('stops gracefully: in-flight reconciles finish, queued keys are not dropped, the signal aborts only after the grace period', async () => {
    const clock = new FakeClock();
    const gate = deferred();
    const seen: string[] = [];
    let ctxSignal: AbortSignal | undefined;
    const c = new Controller(
      't',
      async (key: string, ctx: ReconcileContext) => {
        seen.push(key);
        if (key === 'slow') {
          ctxSignal = ctx.signal;
          await gate.promise;
        }
      },
      { clock, gracefulShutdownTimeoutMs: 5000 },
    );
    const ac = new AbortController();
    let stopped = false;
    const running = c.run(ac.signal).then(() => (stopped = true));
    c.queue.add('slow');
    c.queue.add('queued');
    await settle();
    ac.abort();
    await clock.advanceAsync(1000);
    expect(stopped).toBe(false);
    expect(ctxSignal?.aborted).toBe(false);
    c.queue.add('after-stop');
    await clock.advanceAsync(4000);
    expect(ctxSignal?.aborted).toBe(true);
    gate.resolve();
    await running;
    expect(seen).toEqual(['slow', 'queued']);
  });

  it('runs once', async () => {
    const c = new Controller('t', () => undefined, { clock: new FakeClock() });
    const ac = new AbortController();
    ac.abort();
    await c.run(ac.signal);
    await expect(c.run(ac.signal)).rejects.toThrow(/already been started/);
  });

  it('validates options', () => {
    expect(() => new Controller('', () => undefined)).toThrow(/Expected `name` to be a non-empty string/);
    expect(() => new Controller('x', 42 as never)).toThrow(/Expected `reconciler`/);
    expect(() => new Controller('x', () => undefined, { concurrency: 0 })).toThrow(/Expected `concurrency` to be an integer > 0, got 0/);
  });
});

interface Pod {
  owner?: string;
  phase: string;
}

describe('Controller watches (builder, map functions, predicates, priorities)', () => {
  it('lists then watches a store; initial keys are low priority, fresh events go first', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore<Pod>({ clock });
    for (let i = 0; i < 5; i++) store.put(`p${i}`, { phase: 'Running' });
    const order: string[] = [];
    const gate = deferred();
    const c = controller('pods')
      .watches(store)
      .withOptions({ clock })
      .complete(async (key) => {
        order.push(key);
        if (order.length === 1) await gate.promise;
      });
    const ac = new AbortController();
    const running = c.run(ac.signal);
    await c.waitForSync();
    await settle();
    store.put('fresh', { phase: 'Pending' });
    await settle();
    gate.resolve();
    await clock.advanceAsync(0);
    expect(order).toEqual(['p0', 'fresh', 'p1', 'p2', 'p3', 'p4']);
    ac.abort();
    await running;
  });

  it('maps events on one object to other keys and filters with predicates', async () => {
    const clock = new FakeClock();
    const pods = new MemoryStore<Pod>({ clock });
    const seen: string[] = [];
    const c = controller('rs')
      .watches(pods, (pod, ev) => [pod.owner, ev.oldObject?.owner].filter((x): x is string => x !== undefined), {
        predicates: [(ev) => ev.object.phase !== 'Ignored'],
      })
      .withOptions({ clock })
      .complete((key) => {
        seen.push(key);
      });
    const ac = new AbortController();
    const running = c.run(ac.signal);
    await c.waitForSync();
    pods.put('p1', { owner: 'rs-a', phase: 'Running' });
    await settle();
    pods.put('p2', { owner: 'rs-b', phase: 'Ignored' });
    await settle();
    pods.put('p1', { owner: 'rs-c', phase: 'Running' }); // moved: both owners
    await settle();
    pods.delete('p1');
    await settle();
    pods.put('orphan', { phase: 'Running' });
    await settle();
    expect(seen).toEqual(['rs-a', 'rs-c', 'rs-a', 'rs-c']);
    ac.abort();
    await running;
  });

  it('adds and removes watches while running', async () => {
    const clock = new FakeClock();
    const a = new MemoryStore<Pod>({ clock });
    const b = new MemoryStore<Pod>({ clock });
    const seen: string[] = [];
    const c = new Controller('t', (key) => void seen.push(key), { clock });
    c.watch(a, (_o, ev) => `a/${ev.key}`);
    const ac = new AbortController();
    const running = c.run(ac.signal);
    await c.waitForSync();
    b.put('x', { phase: 'Running' });
    const hb = c.watch(b, (_o, ev) => `b/${ev.key}`);
    expect(c.hasSynced()).toBe(false);
    await c.waitForSync();
    await settle();
    expect(seen).toEqual(['b/x']);
    await hb.remove();
    expect(b.openWatches).toBe(0);
    b.put('y', { phase: 'Running' });
    a.put('z', { phase: 'Running' });
    await settle();
    expect(seen).toEqual(['b/x', 'a/z']);
    ac.abort();
    await running;
    expect(a.openWatches).toBe(0);
  });

  it('resyncs every object at low priority on the resync period', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore<Pod>({ clock, progressIntervalMs: 0 });
    store.put('p1', { phase: 'Running' });
    store.put('p2', { phase: 'Running' });
    const seen: string[] = [];
    const c = controller('t')
      .watches(storeSource(store, { resyncPeriodMs: 60_000 }))
      .withOptions({ clock })
      .complete((key) => void seen.push(key));
    const ac = new AbortController();
    const running = c.run(ac.signal);
    await clock.advanceAsync(0);
    expect(seen).toEqual(['p1', 'p2']);
    await clock.advanceAsync(60_000);
    expect(seen).toEqual(['p1', 'p2', 'p1', 'p2']);
    await clock.advanceAsync(60_000);
    expect(seen.length).toBe(6);
    ac.abort();
    await running;
    expect(clock.pendingTimers()).toBe(0);
  });

  it('calls the metric hooks', async () => {
    const clock = new FakeClock();
    const events: string[] = [];
    const metrics: ControllerMetrics = {
      queueAdd: (c, k) => events.push(`add ${c} ${k}`),
      queueRetry: (c, k) => events.push(`retry ${c} ${k}`),
      queueDepth: (c, d) => events.push(`depth ${c} ${d}`),
      reconcileDuration: (c, k, ms, outcome) => events.push(`duration ${c} ${k} ${ms} ${outcome}`),
      reconcileError: (c, k) => events.push(`error ${c} ${k}`),
    };
    let calls = 0;
    const c = new Controller(
      'm',
      async () => {
        await new Promise<void>((resolve) => clock.setTimer(resolve, 7));
        if (calls++ === 0) throw new Error('x');
      },
      { clock, metrics, rateLimiter: backoff() },
    );
    const ac = new AbortController();
    const running = c.run(ac.signal);
    c.queue.add('k');
    await clock.runFor(30, 1);
    ac.abort();
    await running;
    expect(events).toEqual([
      'add m k',
      'error m k',
      'retry m k',
      'duration m k 7 error',
      'add m k',
      'duration m k 7 success',
    ]);
  });
});

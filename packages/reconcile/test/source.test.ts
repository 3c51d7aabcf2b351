import { describe, expect, it } from 'vitest';
import { controller, storeSource, type WatchRestartReason, type WatchableStore, type WatchEvent } from '../src/index.js';
import { FakeClock, MemoryStore, settle } from '../src/testing/index.js';

function harness(options: { progressIntervalMs: number; watchTimeoutMs?: number }) {
  const clock = new FakeClock();
  const store = new MemoryStore<{ v: number }>({ clock, progressIntervalMs: options.progressIntervalMs });
  const seen: string[] = [];
  const restarts: WatchRestartReason[] = [];
  const c = controller('liveness')
    .watches(storeSource(store, { watchTimeoutMs: options.watchTimeoutMs ?? 10_000, name: 'objects' }))
    .withOptions({ clock, metrics: { watchRestart: (_c, source, reason) => restarts.push(reason) } })
    .complete((key) => void seen.push(key));
  const ac = new AbortController();
  const running = c.run(ac.signal);
  const stop = async (): Promise<void> => {
    ac.abort();
    await running;
  };
  return { clock, store, seen, restarts, c, stop };
}

describe('store source liveness', () => {
  it('keeps an idle watch that sends progress notifications', async () => {
    const h = harness({ progressIntervalMs: 2000 });
    await h.clock.runFor(120_000, 1000);
    expect(h.restarts).toEqual([]);
    expect(h.store.listCalls).toBe(1);
    await h.stop();
  });

  it('detects a silently stalled watch, resumes it from its last revision without listing, and converges on what it missed', async () => {
    const h = harness({ progressIntervalMs: 2000 });
    h.store.put('a', { v: 1 });
    h.store.put('b', { v: 1 });
    await h.clock.advanceAsync(0);
    expect(h.seen).toEqual(['a', 'b']);
    expect(h.store.stallWatches()).toBe(1);
    h.store.put('a', { v: 2 });
    h.store.delete('b');
    h.store.put('c', { v: 1 });
    await h.clock.advanceAsync(9_999);
    expect(h.seen).toEqual(['a', 'b']);
    await h.clock.runFor(2_000, 100);
    expect(h.restarts).toEqual(['stalled']);
    // client-go's reflector: the store replays the changes missed; one list in all
    expect(h.store.listCalls).toBe(1);
    expect(h.seen.slice(2).sort()).toEqual(['a', 'b', 'c']);
    // And the new watch is live.
    h.store.put('d', { v: 1 });
    await settle();
    expect(h.seen.at(-1)).toBe('d');
    await h.stop();
  });

  it('a watch with no progress notifications at all is restarted after each deadline', async () => {
    const h = harness({ progressIntervalMs: 0, watchTimeoutMs: 5_000 });
    await h.clock.runFor(20_000, 500);
    expect(h.restarts.length).toBeGreaterThanOrEqual(2);
    expect(new Set(h.restarts)).toEqual(new Set(['stalled']));
    await h.stop();
  });

  it('re-lists at once after an expired watch, emitting what changed (deletions included)', async () => {
    const h = harness({ progressIntervalMs: 2000 });
    h.store.put('a', { v: 1 });
    h.store.put('b', { v: 1 });
    h.store.put('same', { v: 1 });
    await h.clock.advanceAsync(0);
    h.store.stallWatches();
    h.store.put('a', { v: 2 });
    h.store.delete('b');
    h.store.compact();
    // The stalled watch is resumed from its revision, which was compacted meanwhile: expired, so it lists.
    await h.clock.runFor(12_000, 500);
    expect(h.restarts).toEqual(['stalled', 'expired']);
    expect(h.store.listCalls).toBe(2);
    expect(h.seen.slice(3).sort()).toEqual(['a', 'b']);
    h.seen.length = 0;
    h.store.put('x', { v: 1 });
    await settle();
    h.store.expireWatches();
    h.store.put('y', { v: 1 });
    await h.clock.advanceAsync(0);
    expect(h.restarts).toEqual(['stalled', 'expired', 'expired']);
    expect(h.seen).toEqual(['x', 'y']);
    await h.stop();
  });

  it('re-lists with exponential backoff after watch errors and list failures', async () => {
    const h = harness({ progressIntervalMs: 2000 });
    await h.clock.advanceAsync(0);
    const listTimes: number[] = [];
    const list = h.store.list.bind(h.store);
    h.store.list = (o) => {
      listTimes.push(h.clock.now());
      return list(o);
    };
    h.store.failNextLists(3);
    h.store.put('k', { v: 1 });
    await settle();
    h.store.failWatches(new Error('connection reset'));
    await h.clock.runFor(20_000, 100);
    // watch error (progressed) → 800 ms; then list failures → 1600, 3200, 6400 ms.
    expect(listTimes).toEqual([800, 2400, 5600, 12000]);
    expect(h.restarts).toEqual(['watch-error', 'list-error', 'list-error', 'list-error']);
    h.store.put('after', { v: 1 });
    await settle();
    expect(h.seen).toEqual(['k', 'after']);
    await h.stop();
  });

  it('survives a store whose watch ends or throws synchronously', async () => {
    const clock = new FakeClock();
    let watchCalls = 0;
    const store: WatchableStore<number> = {
      list: () => Promise.resolve({ items: [{ key: `k${watchCalls}`, object: watchCalls, revision: 1 }], revision: 1 }),
      watch: (): AsyncIterable<WatchEvent<number>> => {
        watchCalls++;
        if (watchCalls % 2 === 0) throw new Error('cannot watch');
        return {
          [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve({ value: undefined, done: true as const }) }),
        };
      },
    };
    const seen: string[] = [];
    const restarts: string[] = [];
    const c = controller('odd')
      .watches(storeSource(store, { relistBaseDelayMs: 100 }))
      .withOptions({ clock, metrics: { watchRestart: (_c, _s, r) => restarts.push(r) } })
      .complete((key) => void seen.push(key));
    const ac = new AbortController();
    const running = c.run(ac.signal);
    await clock.runFor(1000, 50);
    expect(restarts.slice(0, 2)).toEqual(['ended', 'watch-error']);
    expect(seen.length).toBeGreaterThan(2);
    ac.abort();
    await running;
  });

  it('validates options', () => {
    const store = new MemoryStore<number>();
    expect(() => storeSource(store, { watchTimeoutMs: 0 })).toThrow(/Expected `watchTimeoutMs` to be a finite number > 0, got 0/);
    expect(() => storeSource({} as never)).toThrow(/Expected `store` to be a WatchableStore/);
  });
});

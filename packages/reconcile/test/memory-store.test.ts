import { describe, expect, it } from 'vitest';
import { isConflictError, isNotFoundError, type WatchEvent } from '../src/index.js';
import { FakeClock, MemoryStore, settle } from '../src/testing/index.js';

async function take<T>(it: AsyncIterator<WatchEvent<T>>, n: number): Promise<WatchEvent<T>[]> {
  const out: WatchEvent<T>[] = [];
  for (let i = 0; i < n; i++) {
    const r = await it.next();
    if (r.done === true) break;
    out.push(r.value);
  }
  return out;
}

describe('MemoryStore: the WatchableStore contract', () => {
  it('lists every object with the revision of the snapshot', async () => {
    const s = new MemoryStore<{ v: number }>({ progressIntervalMs: 0 });
    expect(await s.list()).toEqual({ items: [], revision: 0 });
    s.put('b', { v: 1 });
    s.put('a', { v: 2 });
    s.put('b', { v: 3 });
    expect(await s.list()).toEqual({
      items: [
        { key: 'a', object: { v: 2 }, revision: 2 },
        { key: 'b', object: { v: 3 }, revision: 3 },
      ],
      revision: 3,
    });
  });

  it('watches from a revision (inclusive): history, then live events, in order', async () => {
    const s = new MemoryStore<number>({ progressIntervalMs: 0 });
    s.put('a', 1);
    s.put('b', 2);
    s.delete('a');
    const it = s.watch(2)[Symbol.asyncIterator]();
    s.put('b', 3);
    expect(await take(it, 3)).toEqual([
      { type: 'added', key: 'b', object: 2, revision: 2 },
      { type: 'deleted', key: 'a', object: 1, revision: 3 },
      { type: 'modified', key: 'b', object: 3, revision: 4 },
    ]);
    await it.return!();
    expect(s.openWatches).toBe(0);
  });

  it('watch(0) starts from now', async () => {
    const s = new MemoryStore<number>({ progressIntervalMs: 0 });
    s.put('a', 1);
    const it = s.watch(0)[Symbol.asyncIterator]();
    s.put('b', 2);
    expect(await take(it, 1)).toEqual([{ type: 'added', key: 'b', object: 2, revision: 2 }]);
  });

  it('sends progress at the interval', async () => {
    const clock = new FakeClock();
    const s = new MemoryStore<number>({ clock, progressIntervalMs: 1000 });
    const it = s.watch(1)[Symbol.asyncIterator]();
    s.put('a', 1);
    clock.advance(1000);
    clock.advance(1000);
    expect(await take(it, 3)).toEqual([
      { type: 'added', key: 'a', object: 1, revision: 1 },
      { type: 'progress', revision: 1 },
      { type: 'progress', revision: 1 },
    ]);
    await it.return!();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('expires a watch from a compacted revision', async () => {
    const s = new MemoryStore<number>({ progressIntervalMs: 0 });
    for (let i = 1; i <= 5; i++) s.put('k', i);
    s.compact(4);
    expect(s.compactRevision).toBe(4);
    const old = s.watch(2)[Symbol.asyncIterator]();
    expect(await take(old, 5)).toEqual([{ type: 'expired', revision: 4 }]);
    const ok = s.watch(4)[Symbol.asyncIterator]();
    expect(await take(ok, 2)).toEqual([
      { type: 'modified', key: 'k', object: 4, revision: 4 },
      { type: 'modified', key: 'k', object: 5, revision: 5 },
    ]);
  });

  it('compacts automatically past historyLimit', async () => {
    const s = new MemoryStore<number>({ progressIntervalMs: 0, historyLimit: 3 });
    for (let i = 1; i <= 10; i++) s.put('k', i);
    expect(s.compactRevision).toBe(8);
    expect(await take(s.watch(7)[Symbol.asyncIterator](), 1)).toEqual([{ type: 'expired', revision: 8 }]);
  });

  it('ends a watch when its signal aborts', async () => {
    const s = new MemoryStore<number>({ progressIntervalMs: 0 });
    const ac = new AbortController();
    const it = s.watch(1, { signal: ac.signal })[Symbol.asyncIterator]();
    const pending = it.next();
    ac.abort();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(s.openWatches).toBe(0);
  });
});

describe('MemoryStore compare-and-set', () => {
  it('writes only at the expected revision (0 = absent)', async () => {
    const s = new MemoryStore<string>({ progressIntervalMs: 0 });
    expect(await s.compareAndSet('k', 'a', 0)).toEqual({ succeeded: true, revision: 1 });
    expect(await s.compareAndSet('k', 'b', 0)).toEqual({ succeeded: false, revision: 1 });
    expect(await s.compareAndSet('k', 'b', 1)).toEqual({ succeeded: true, revision: 2 });
    expect(await s.get('k')).toEqual({ key: 'k', object: 'b', revision: 2 });
    expect(await s.get('nope')).toBeUndefined();
  });

  it('throws typed errors from put, create and delete', () => {
    const s = new MemoryStore<string>({ progressIntervalMs: 0 });
    s.create('k', 'a');
    let err: unknown;
    try {
      s.create('k', 'b');
    } catch (e) {
      err = e;
    }
    expect(isConflictError(err)).toBe(true);
    expect((err as { currentRevision: number }).currentRevision).toBe(1);
    expect(() => s.put('k', 'c', { expectedRevision: 7 })).toThrow(/conflict on "k": expected revision 7, found revision 1/);
    expect(() => s.delete('k', { expectedRevision: 2 })).toThrow(/conflict/);
    s.delete('k', { expectedRevision: 1 });
    try {
      s.delete('k');
    } catch (e) {
      err = e;
    }
    expect(isNotFoundError(err)).toBe(true);
  });
});

describe('MemoryStore fault injection', () => {
  it('stallWatches silences open watches forever without ending them', async () => {
    const clock = new FakeClock();
    const s = new MemoryStore<number>({ clock, progressIntervalMs: 100 });
    const it = s.watch(1)[Symbol.asyncIterator]();
    expect(s.stallWatches()).toBe(1);
    s.put('a', 1);
    clock.advance(1000);
    let settled = false;
    void it.next().then(() => (settled = true));
    await settle();
    expect(settled).toBe(false);
    // New watches still work.
    const fresh = s.watch(1)[Symbol.asyncIterator]();
    expect(await take(fresh, 1)).toEqual([{ type: 'added', key: 'a', object: 1, revision: 1 }]);
  });

  it('expireWatches and failWatches end open watches', async () => {
    const s = new MemoryStore<number>({ progressIntervalMs: 0 });
    const a = s.watch(1)[Symbol.asyncIterator]();
    s.put('k', 1);
    s.expireWatches();
    expect(await take(a, 5)).toEqual([
      { type: 'added', key: 'k', object: 1, revision: 1 },
      { type: 'expired', revision: 0 },
    ]);
    const b = s.watch(2)[Symbol.asyncIterator]();
    const boom = new Error('boom');
    s.failWatches(boom);
    await expect(b.next()).rejects.toBe(boom);
  });

  it('failNextLists rejects the next lists', async () => {
    const s = new MemoryStore<number>({ progressIntervalMs: 0 });
    s.failNextLists(2);
    await expect(s.list()).rejects.toThrow('list failed');
    await expect(s.list()).rejects.toThrow('list failed');
    await expect(s.list()).resolves.toEqual({ items: [], revision: 0 });
    expect(s.listCalls).toBe(3);
  });
});

describe('MemoryStore watch from a future revision', () => {
  it('skips changes before the requested revision', async () => {
    const s = new MemoryStore<number>({ progressIntervalMs: 0 });
    const it = s.watch(3)[Symbol.asyncIterator]();
    s.put('a', 1);
    s.put('b', 2);
    s.put('c', 3);
    expect(await take(it, 1)).toEqual([{ type: 'added', key: 'c', object: 3, revision: 3 }]);
  });
});

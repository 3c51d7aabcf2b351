import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Informer, controller, type InformerHandler, type ListOptions, type ListResult, type ObjectEvent, type SourceEvent, type StoreCallOptions, type WatchableStore, type WatchEvent, type WatchRestartReason } from '../src/index.js';
import { FakeClock, MemoryStore, settle } from '../src/testing/index.js';

interface Obj {
  host: string;
  v: number;
  tags?: string[];
}

/** Records what a handler hears, and what the cache held at that moment. */
function recorder(informer: Informer<Obj>) {
  const events: (SourceEvent<Obj> & { cached: Obj | undefined })[] = [];
  const restarts: WatchRestartReason[] = [];
  let synced = 0;
  const handler: InformerHandler<Obj> = {
    onEvent: (e) => events.push({ ...e, cached: informer.get(e.key) }),
    onSynced: () => synced++,
    onRestart: (r) => restarts.push(r),
  };
  return { events, restarts, handler, synced: () => synced };
}

function start(store: WatchableStore<Obj>, clock: FakeClock, options: { resyncPeriodMs?: number; watchTimeoutMs?: number } = {}) {
  const informer = new Informer<Obj>(store, {
    name: 'objs',
    clock,
    indexers: { host: (o) => o.host, tag: (o) => o.tags },
    relistBaseDelayMs: 100,
    ...options,
  });
  const rec = recorder(informer);
  informer.addHandler(rec.handler);
  const ac = new AbortController();
  const running = informer.run(ac.signal);
  return {
    informer,
    ...rec,
    async stop() {
      ac.abort();
      await running;
    },
  };
}

/** A store that lets a test act between a list and the watch that follows it. */
class Interposed<T> implements WatchableStore<T> {
  beforeWatch: (() => void) | undefined;
  constructor(readonly inner: MemoryStore<T>) {}
  list(options?: StoreCallOptions): Promise<ListResult<T>> {
    return this.inner.list(options);
  }
  watch(fromRevision: number, options?: StoreCallOptions): AsyncIterable<WatchEvent<T>> {
    const hook = this.beforeWatch;
    this.beforeWatch = undefined;
    hook?.();
    return this.inner.watch(fromRevision, options);
  }
}

describe('Informer', () => {
  it('lists once, then watches: the cache follows every change without listing again', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore<Obj>({ clock, progressIntervalMs: 0 });
    store.put('a', { host: 'h1', v: 1 });
    store.put('b', { host: 'h2', v: 1 });
    const h = start(store, clock);
    expect(h.informer.hasSynced()).toBe(false);
    expect(await h.informer.waitForSync()).toBe(true);
    expect(h.synced()).toBe(1);
    expect(h.informer.list().map((o) => o.v)).toEqual([1, 1]);
    expect(h.informer.revision).toBe(2);
    for (let i = 2; i <= 50; i++) store.put(i % 2 === 0 ? 'a' : 'b', { host: 'h1', v: i });
    store.delete('b');
    store.put('c', { host: 'h3', v: 0 });
    await settle();
    expect(store.listCalls).toBe(1);
    expect(h.informer.lists).toBe(1);
    expect(h.informer.get('a')).toEqual({ host: 'h1', v: 50 });
    expect(h.informer.get('b')).toBeUndefined();
    expect(h.informer.getEntry('c')?.revision).toBe(store.revision);
    expect(h.informer.revision).toBe(store.revision);
    await h.stop();
  });

  it('updates the cache before telling handlers, in revision order', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore<Obj>({ clock, progressIntervalMs: 0 });
    const h = start(store, clock);
    await h.informer.waitForSync();
    store.put('a', { host: 'h1', v: 1 });
    store.put('a', { host: 'h1', v: 2 });
    store.put('b', { host: 'h1', v: 3 });
    store.delete('a');
    await settle();
    expect(h.events.map((e) => [e.type, e.key, e.object.v, e.origin])).toEqual([
      ['added', 'a', 1, 'watch'],
      ['modified', 'a', 2, 'watch'],
      ['added', 'b', 3, 'watch'],
      ['deleted', 'a', 2, 'watch'],
    ]);
    // what the cache held while each handler call ran
    expect(h.events.map((e) => e.cached?.v)).toEqual([1, 2, 3, undefined]);
    expect(h.events[1]!.oldObject?.v).toBe(1);
    await h.stop();
  });

  it('keeps its indexes: by one value, by several, moved and deleted objects leave their old values', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore<Obj>({ clock, progressIntervalMs: 0 });
    store.put('a', { host: 'h1', v: 1, tags: ['x', 'y'] });
    store.put('b', { host: 'h1', v: 1 });
    const h = start(store, clock);
    await h.informer.waitForSync();
    expect(h.informer.byIndex('host', 'h1').length).toBe(2);
    expect(h.informer.byIndex('tag', 'y').map((o) => o.v)).toEqual([1]);
    store.put('a', { host: 'h2', v: 2, tags: ['z'] });
    store.delete('b');
    await settle();
    expect(h.informer.byIndex('host', 'h1')).toEqual([]);
    expect(h.informer.byIndex('host', 'h2').map((o) => o.v)).toEqual([2]);
    expect(h.informer.byIndex('tag', 'x')).toEqual([]);
    expect(h.informer.indexValues('host')).toEqual(['h2']);
    expect(h.informer.indexValues('tag')).toEqual(['z']);
    expect(() => h.informer.byIndex('owner', 'x')).toThrow(/no index named "owner" \(indexes: host, tag\)/);
    await h.stop();
  });

  it('after a compaction (the watch position expired), lists again and tells only the differences', async () => {
    const clock = new FakeClock();
    const inner = new MemoryStore<Obj>({ clock, progressIntervalMs: 0 });
    const store = new Interposed(inner);
    inner.put('a', { host: 'h1', v: 1 });
    inner.put('b', { host: 'h1', v: 1 });
    inner.put('c', { host: 'h1', v: 1 });
    // between the list and the watch: changes, then a compaction past them
    store.beforeWatch = () => {
      inner.put('a', { host: 'h2', v: 2 });
      inner.delete('b');
      inner.put('d', { host: 'h1', v: 1 });
      inner.compact();
    };
    const h = start(store, clock);
    await h.informer.waitForSync();
    await clock.runFor(1_000, 50);
    expect(h.restarts).toEqual(['expired']);
    expect(inner.listCalls).toBe(2);
    const relisted = h.events.filter((e) => e.origin === 'relist').map((e) => [e.type, e.key]);
    expect(relisted.sort()).toEqual([
      ['added', 'd'],
      ['deleted', 'b'],
      ['modified', 'a'],
    ]);
    expect(h.informer.keys().sort()).toEqual(['a', 'c', 'd']);
    expect(h.informer.byIndex('host', 'h2').map((o) => o.v)).toEqual([2]);
    expect(h.informer.revision).toBe(inner.revision);
    // the watch after the re-list is live
    inner.put('e', { host: 'h1', v: 1 });
    await settle();
    expect(h.informer.get('e')).toEqual({ host: 'h1', v: 1 });
    expect(inner.listCalls).toBe(2);
    await h.stop();
  });

  it('a silently stalled watch is dropped after watchTimeoutMs and resumed from the cache revision: the cache recovers without listing', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore<Obj>({ clock, progressIntervalMs: 1000 });
    store.put('a', { host: 'h1', v: 1 });
    const h = start(store, clock, { watchTimeoutMs: 5000 });
    await h.informer.waitForSync();
    await clock.runFor(20_000, 500);
    expect(h.restarts).toEqual([]); // progress keeps an idle watch alive
    expect(store.stallWatches()).toBe(1);
    store.put('a', { host: 'h1', v: 2 });
    store.put('b', { host: 'h1', v: 1 });
    await settle();
    expect(h.informer.get('a')?.v).toBe(1);
    await clock.runFor(7_000, 250);
    expect(h.restarts).toEqual(['stalled']);
    expect(h.informer.get('a')?.v).toBe(2);
    expect(h.informer.get('b')?.v).toBe(1);
    expect(h.informer.lists).toBe(1);
    expect(h.events.map((e) => [e.type, e.key, e.origin])).toEqual([
      ['added', 'a', 'initial-list'],
      ['modified', 'a', 'watch'],
      ['added', 'b', 'watch'],
    ]);
    // and the resumed watch is live
    store.put('c', { host: 'h2', v: 1 });
    await settle();
    expect(h.informer.get('c')?.v).toBe(1);
    await h.stop();
  });

  it('a watch the store ends (no error, no compaction) is resumed from the cache revision: what changed meanwhile arrives, nothing is listed again', async () => {
    const clock = new FakeClock();
    const inner = new MemoryStore<Obj>({ clock, progressIntervalMs: 1000 });
    inner.put('a', { host: 'h1', v: 1 });
    const froms: number[] = [];
    const store: WatchableStore<Obj> = {
      list: (options) => inner.list(options),
      watch(fromRevision, options) {
        froms.push(fromRevision);
        // the first watch ends at once, as a server closing it would
        if (froms.length > 1) return inner.watch(fromRevision, options);
        return (async function* (): AsyncIterable<WatchEvent<Obj>> {
          // no event: the store closed it
        })();
      },
    };
    const h = start(store, clock);
    await h.informer.waitForSync();
    inner.put('a', { host: 'h1', v: 2 });
    inner.put('b', { host: 'h2', v: 1 });
    await clock.runFor(2_000, 100);
    expect(h.restarts).toEqual(['ended']);
    expect(inner.listCalls).toBe(1);
    expect(froms).toEqual([2, 2]);
    expect(h.informer.get('a')?.v).toBe(2);
    expect(h.informer.get('b')?.v).toBe(1);
    expect(h.events.slice(1).map((e) => [e.type, e.key, e.origin])).toEqual([
      ['modified', 'a', 'watch'],
      ['added', 'b', 'watch'],
    ]);
    await h.stop();
  });

  it('a failed list is retried with backoff; hasSynced waits for the first list that succeeds', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore<Obj>({ clock, progressIntervalMs: 0 });
    store.put('a', { host: 'h1', v: 1 });
    store.failNextLists(2);
    const h = start(store, clock);
    await settle();
    expect(h.informer.hasSynced()).toBe(false);
    expect(h.synced()).toBe(0);
    await clock.runFor(1_000, 50); // 100 ms, then 200 ms
    expect(h.informer.hasSynced()).toBe(true);
    expect(h.restarts).toEqual(['list-error', 'list-error']);
    expect(h.events.map((e) => [e.type, e.key, e.origin])).toEqual([['added', 'a', 'initial-list']]);
    await h.stop();
  });

  it('resyncs: every period each handler hears every cached object again, without a list', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore<Obj>({ clock, progressIntervalMs: 0 });
    store.put('a', { host: 'h1', v: 1 });
    store.put('b', { host: 'h1', v: 1 });
    const h = start(store, clock, { resyncPeriodMs: 10_000, watchTimeoutMs: 1_000_000 });
    await h.informer.waitForSync();
    await clock.runFor(25_000, 1000);
    const resyncs = h.events.filter((e) => e.origin === 'resync');
    expect(resyncs.map((e) => [e.type, e.key])).toEqual([
      ['modified', 'a'],
      ['modified', 'b'],
      ['modified', 'a'],
      ['modified', 'b'],
    ]);
    expect(store.listCalls).toBe(1);
    await h.stop();
  });

  it('a handler added after the sync hears the cache at once; removed, it hears nothing more', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore<Obj>({ clock, progressIntervalMs: 0 });
    store.put('a', { host: 'h1', v: 1 });
    const h = start(store, clock);
    await h.informer.waitForSync();
    const late = recorder(h.informer);
    const remove = h.informer.addHandler(late.handler);
    expect(late.events.map((e) => [e.type, e.key, e.origin])).toEqual([['added', 'a', 'initial-list']]);
    expect(late.synced()).toBe(1);
    remove();
    store.put('b', { host: 'h1', v: 1 });
    await settle();
    expect(late.events).toHaveLength(1);
    expect(h.events.at(-1)?.key).toBe('b');
    await h.stop();
  });

  it('waitForRevision: resolves once the cache reflects a write of ours; false after its timeout', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore<Obj>({ clock, progressIntervalMs: 0 });
    const h = start(store, clock);
    await h.informer.waitForSync();
    const rev = store.put('a', { host: 'h1', v: 1 });
    const waited = h.informer.waitForRevision(rev);
    expect(h.informer.get('a')).toBeUndefined(); // not yet delivered
    expect(await waited).toBe(true);
    expect(h.informer.get('a')?.v).toBe(1);
    expect(await h.informer.waitForRevision(rev)).toBe(true);
    const never = h.informer.waitForRevision(rev + 100, { timeoutMs: 2000 });
    await clock.advanceAsync(2000);
    expect(await never).toBe(false);
    const pending = h.informer.waitForRevision(rev + 100);
    await h.stop();
    expect(await pending).toBe(false); // stopping releases waiters
  });

  it('controllers share one list and one watch through source()', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore<Obj>({ clock, progressIntervalMs: 0 });
    store.put('a', { host: 'h1', v: 1 });
    const informer = new Informer<Obj>(store, { clock });
    const seen: string[][] = [[], []];
    const cs = [0, 1].map((n) =>
      controller(`c${n}`)
        .watches(informer.source(), (o) => o.host)
        .withOptions({ clock })
        .complete((key) => {
          // the cache is synced before any reconcile runs
          expect(informer.hasSynced()).toBe(true);
          seen[n]!.push(key);
        }),
    );
    const ac = new AbortController();
    const running = [informer.run(ac.signal), ...cs.map((c) => c.run(ac.signal))];
    await settle(5);
    store.put('b', { host: 'h2', v: 1 });
    await settle(5);
    expect(seen).toEqual([
      ['h1', 'h2'],
      ['h1', 'h2'],
    ]);
    expect(store.listCalls).toBe(1);
    expect(store.watchCalls).toBe(1);
    ac.abort();
    await Promise.all(running);
  });

  it('refuses bad options and a second run, saying what was expected', async () => {
    const store = new MemoryStore<Obj>({ progressIntervalMs: 0 });
    expect(() => new Informer({} as WatchableStore<Obj>)).toThrow(/store/);
    expect(() => new Informer(store, { watchTimeoutMs: 0 })).toThrow(/watchTimeoutMs/);
    expect(() => new Informer(store, { indexers: { host: 'spec.host' as never } })).toThrow(/indexers\.host/);
    const informer = new Informer(store);
    const ac = new AbortController();
    ac.abort();
    await informer.run(ac.signal);
    await expect(informer.run(ac.signal)).rejects.toThrow(/runs once/);
  });
});

type Op = { op: 'put'; key: string; host: string; v: number } | { op: 'delete'; key: string } | { op: 'fault'; kind: 'stall' | 'expire' | 'fail' | 'compact' } | { op: 'time'; ms: number };

describe('Informer agrees with a fresh list (fast-check)', () => {
  const key = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant('put' as const), key, host: fc.constantFrom('h1', 'h2', 'h3'), v: fc.nat(1000) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), key }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('fault' as const), kind: fc.constantFrom('stall' as const, 'expire' as const, 'fail' as const, 'compact' as const) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('time' as const), ms: fc.integer({ min: 1, max: 3000 }) }) },
  );

  it('after any sequence of puts, deletes and watch faults, cache and indexes equal the store, and the handler events replay to it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const clock = new FakeClock();
        const store = new MemoryStore<Obj>({ clock, progressIntervalMs: 1000, historyLimit: 8 });
        const h = start(store, clock, { watchTimeoutMs: 5000 });
        await h.informer.waitForSync();
        // what a consumer that only hears the events would hold
        const replayed = new Map<string, Obj>();
        h.informer.addHandler({
          onEvent: (e) => {
            if (e.type === 'deleted') replayed.delete(e.key);
            else replayed.set(e.key, e.object);
          },
        });
        for (const o of ops) {
          switch (o.op) {
            case 'put':
              store.put(o.key, { host: o.host, v: o.v });
              break;
            case 'delete':
              if (store.read(o.key)) store.delete(o.key);
              break;
            case 'fault':
              if (o.kind === 'stall') store.stallWatches();
              else if (o.kind === 'expire') store.expireWatches();
              else if (o.kind === 'fail') store.failWatches();
              else store.compact();
              break;
            case 'time':
              await clock.advanceAsync(o.ms);
              break;
          }
          if (o.op !== 'time') await settle(1);
        }
        // let every fault heal: past the watch deadline and the longest backoff
        await clock.runFor(45_000, 500);
        await settle();
        const fresh = await store.list();
        const cached = new Map(h.informer.keys().map((k) => [k, h.informer.getEntry(k)!]));
        expect(cached.size).toBe(fresh.items.length);
        for (const e of fresh.items) {
          expect(cached.get(e.key)?.object).toEqual(e.object);
          expect(cached.get(e.key)?.revision).toBe(e.revision);
        }
        for (const host of ['h1', 'h2', 'h3']) {
          const want = fresh.items.filter((e) => e.object.host === host).map((e) => e.object.v).sort();
          expect(h.informer.byIndex('host', host).map((o) => o.v).sort()).toEqual(want);
        }
        expect(new Map([...replayed].sort())).toEqual(new Map(fresh.items.map((e) => [e.key, e.object])));
        expect(h.informer.revision).toBeGreaterThanOrEqual(fresh.items.reduce((m, e) => Math.max(m, e.revision), 0));
        await h.stop();
      }),
      { numRuns: 150 },
    );
  });
});

/**
 * A paging store over a MemoryStore that keeps no versions (as the Raft KV): each page is
 * read at the current state, ordered by key, after the previous page's last key, and reports
 * the first page's revision. `beforePage(n)` runs before page n is read (write, or throw).
 */
class PagingStore<T> implements WatchableStore<T> {
  readonly requests: { limit: number | undefined; page: number; continued: boolean }[] = [];
  beforePage: ((page: number, options: ListOptions) => void | Promise<void>) | undefined;
  constructor(readonly inner: MemoryStore<T>) {}
  async list(options: ListOptions = {}): Promise<ListResult<T>> {
    const token = options.continue !== undefined ? (JSON.parse(options.continue) as { k: string; r: number; n: number }) : undefined;
    const page = token?.n ?? 1;
    this.requests.push({ limit: options.limit, page, continued: options.continue !== undefined });
    await this.beforePage?.(page, options);
    const all = this.inner.entries().sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const after = token === undefined ? all : all.filter((e) => e.key > token.k);
    const items = options.limit === undefined ? after : after.slice(0, options.limit);
    const revision = token?.r ?? this.inner.revision;
    const more = items.length < after.length;
    return { items, revision, ...(more ? { continue: JSON.stringify({ k: items.at(-1)!.key, r: revision, n: page + 1 }) } : {}) };
  }
  watch(fromRevision: number, options?: StoreCallOptions): AsyncIterable<WatchEvent<T>> {
    return this.inner.watch(fromRevision, options);
  }
}

const key = (i: number): string => `k${String(i).padStart(5, '0')}`;

describe('Informer: paged lists', () => {
  function paged(count: number, options: { listPageSize?: number; listPageTimeoutMs?: number } = {}) {
    const clock = new FakeClock();
    const inner = new MemoryStore<Obj>({ clock, progressIntervalMs: 0 });
    for (let i = 0; i < count; i++) inner.put(key(i), { host: `h${i % 3}`, v: i });
    const store = new PagingStore(inner);
    const informer = new Informer<Obj>(store, { name: 'objs', clock, indexers: { host: (o) => o.host }, relistBaseDelayMs: 100, listPageSize: 100, ...options });
    const rec = recorder(informer);
    informer.addHandler(rec.handler);
    const ac = new AbortController();
    const running = informer.run(ac.signal);
    return {
      clock,
      inner,
      store,
      informer,
      ...rec,
      async stop() {
        ac.abort();
        await running;
      },
    };
  }

  function expectCacheIsStore(informer: Informer<Obj>, inner: MemoryStore<Obj>): void {
    const want = inner.entries();
    expect(informer.size).toBe(want.length);
    for (const e of want) expect(informer.getEntry(e.key)).toEqual(e);
  }

  it('reads a list page by page (limit and continue) and takes it into the cache once', async () => {
    const h = paged(1234);
    const seenAtPage: number[] = [];
    h.store.beforePage = () => void seenAtPage.push(h.informer.size);
    expect(await h.informer.waitForSync()).toBe(true);
    expect(h.store.requests.map((r) => r.page)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(h.store.requests.every((r) => r.limit === 100)).toBe(true);
    // nothing reaches the cache (nor a handler) before the last page is in
    expect(seenAtPage.every((n) => n === 0)).toBe(true);
    expect(h.informer.lists).toBe(1);
    expect(h.informer.revision).toBe(1234);
    expectCacheIsStore(h.informer, h.inner);
    expect(h.events.length).toBe(1234);
    await h.stop();
  });

  it('pages read at later revisions converge through the watch from the first page revision', async () => {
    const h = paged(1000);
    h.store.beforePage = (page) => {
      if (page === 5) {
        h.inner.put(key(10), { host: 'h9', v: -10 }); // modified in a page already read
        h.inner.put('k00010x', { host: 'h9', v: -1 }); // created in a page already read
        h.inner.delete(key(900)); // deleted in a page not yet read
        h.inner.put(key(800), { host: 'h9', v: -800 }); // modified in a page not yet read
      }
    };
    expect(await h.informer.waitForSync()).toBe(true);
    expect(h.informer.revision).toBe(1000);
    await settle(4);
    expectCacheIsStore(h.informer, h.inner);
    expect(h.informer.byIndex('host', 'h9').map((o) => o.v).sort()).toEqual([-1, -10, -800]);
    expect(h.informer.lists).toBe(1);
    await h.stop();
  });

  it('retries a failed page from that page, with backoff, not the whole list', async () => {
    const h = paged(1000);
    let failures = 2;
    h.store.beforePage = (page) => {
      if (page === 4 && failures-- > 0) throw new Error('no answer within 10 s for range');
    };
    await settle();
    expect(h.informer.hasSynced()).toBe(false);
    await h.clock.runFor(1000, 50);
    expect(await h.informer.waitForSync()).toBe(true);
    // pages 1-3, page 4 three times, then 5-10
    expect(h.store.requests.map((r) => r.page)).toEqual([1, 2, 3, 4, 4, 4, 5, 6, 7, 8, 9, 10]);
    expect(h.restarts).toEqual(['list-error', 'list-error']);
    expect(h.informer.lists).toBe(1);
    expectCacheIsStore(h.informer, h.inner);
    await h.stop();
  });

  it('starts the list again from its first page when a page revision was compacted', async () => {
    const h = paged(1000);
    let compacted = 1;
    h.store.beforePage = (page) => {
      if (page === 6 && compacted-- > 0) {
        h.inner.put(key(3), { host: 'h9', v: -3 });
        throw Object.assign(new Error('etcd: revision 1000 was compacted: list again from the start'), { code: 'compacted' });
      }
    };
    expect(await h.informer.waitForSync()).toBe(true);
    expect(h.store.requests.map((r) => r.page)).toEqual([1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(h.informer.revision).toBe(1001); // the second list's first page
    expectCacheIsStore(h.informer, h.inner);
    expect(h.restarts).toEqual([]);
    await h.stop();
  });

  it('abandons a page that does not answer within listPageTimeoutMs and asks for it again', async () => {
    const h = paged(300, { listPageTimeoutMs: 10_000 });
    let hung: AbortSignal | undefined;
    h.store.beforePage = (page, options) => {
      if (page === 2 && hung === undefined) {
        hung = options.signal;
        return new Promise<void>(() => undefined); // never answers
      }
    };
    await settle();
    await h.clock.runFor(9_000, 1000);
    expect(h.informer.hasSynced()).toBe(false);
    await h.clock.runFor(2_000, 100);
    expect(await h.informer.waitForSync()).toBe(true);
    expect(hung?.aborted).toBe(true);
    expect(h.store.requests.map((r) => r.page)).toEqual([1, 2, 2, 3]);
    expectCacheIsStore(h.informer, h.inner);
    await h.stop();
  });

  it('listPageSize 0 lists everything in one request', async () => {
    const h = paged(250, { listPageSize: 0 });
    expect(await h.informer.waitForSync()).toBe(true);
    expect(h.store.requests).toEqual([{ limit: undefined, page: 1, continued: false }]);
    expect(h.informer.size).toBe(250);
    await h.stop();
  });
});

describe('Informer: one revision at once', () => {
  /** A store whose watch delivers `batches` (each a transaction's events, one revision each) as a transport would: event by event, with awaits between. */
  function txnStore(batches: ObjectEvent<Obj>[][]): WatchableStore<Obj> & { release: () => void } {
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    return {
      release: () => release(),
      list: () => Promise.resolve({ items: [], revision: 1 }),
      async *watch() {
        await released;
        for (const batch of batches) {
          for (const e of batch) {
            await Promise.resolve();
            yield e;
          }
        }
        await new Promise<void>(() => undefined);
      },
    };
  }

  it('a transaction\'s objects become visible, with its revision, together', async () => {
    const ev = (key: string, revision: number): ObjectEvent<Obj> => ({ type: 'added', key, object: { host: 'h1', v: revision }, revision });
    const store = txnStore([
      [ev('a', 5), ev('b', 5), ev('c', 5)],
      [ev('d', 6), ev('e', 6)],
    ]);
    const informer = new Informer<Obj>(store, { name: 'txn', clock: new FakeClock(), listPageSize: 0 });
    const sizeAtRevision = new Map<number, number>();
    const sizesHeard: number[] = [];
    informer.addHandler({ onEvent: () => sizesHeard.push(informer.size) });
    const ac = new AbortController();
    const running = informer.run(ac.signal);
    await informer.waitForSync();
    const waits = [5, 6].map((r) => informer.waitForRevision(r).then(() => sizeAtRevision.set(r, informer.size)));
    store.release();
    await Promise.all(waits);
    expect(sizeAtRevision).toEqual(new Map([[5, 3], [6, 5]]));
    expect(sizesHeard).toEqual([3, 3, 3, 5, 5]);
    ac.abort();
    await running;
  });
});

// The one contract every KvStore backend must keep (file, etcd, memory, Raft KV). Each
// backend's test file calls `storeContract` with a factory; tests use their own key
// prefix and relative revisions, so a shared server (etcd) is fine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConflictError, type KvStore, type KvWatchEvent } from '../src/index.js';

export interface ContractBackend {
  name: string;
  /** Opens a client on the backend (may be called several times: clients share data). */
  open(): Promise<KvStore>;
  /** Compacts history up to `revision`, when the backend can. */
  compact?(store: KvStore, revision: number): Promise<void>;
  /** Watches deliver progress events within this many ms. */
  progressWithinMs: number;
  skip?: string | undefined;
}

let unique = 0;
const prefixFor = (name: string): string => `/contract/${name}/${process.pid}-${Date.now()}-${unique++}/`;

/** Collects events from a watch until `until` says stop. */
export async function collect(
  it: AsyncIterable<KvWatchEvent>,
  until: (events: KvWatchEvent[]) => boolean,
  timeoutMs = 10_000,
): Promise<KvWatchEvent[]> {
  const events: KvWatchEvent[] = [];
  const iterator = it[Symbol.asyncIterator]();
  const deadline = Date.now() + timeoutMs;
  try {
    while (!until(events)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(events)}`);
      const r = await Promise.race([
        iterator.next(),
        new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), left).unref()),
      ]);
      if (r === 'timeout') throw new Error(`timed out; got ${JSON.stringify(events)}`);
      if (r.done) break;
      events.push(r.value);
    }
  } finally {
    await iterator.return?.();
  }
  return events;
}

const changes = (events: KvWatchEvent[]): KvWatchEvent[] => events.filter((e) => e.type === 'put' || e.type === 'delete');

export function storeContract(backend: ContractBackend): void {
  describe.skipIf(backend.skip !== undefined)(`KvStore contract: ${backend.name}`, () => {
    let store: KvStore;
    beforeAll(async () => {
      store = await backend.open();
    });
    afterAll(async () => {
      await store?.close();
    });

    it('puts and gets with etcd revisions: increasing, modRevision = returned revision, version counts', async () => {
      const p = prefixFor('rev');
      const r1 = await store.put(`${p}a`, '1');
      const r2 = await store.put(`${p}a`, '2');
      const r3 = await store.put(`${p}b`, 'x');
      expect(r2).toBeGreaterThan(r1);
      expect(r3).toBeGreaterThan(r2);
      expect(await store.get(`${p}a`)).toEqual({ key: `${p}a`, value: '2', createRevision: r1, modRevision: r2, version: 2 });
      expect(await store.get(`${p}missing`)).toBeUndefined();
      const dr = await store.delete(`${p}a`);
      expect(dr).toBeGreaterThan(r3);
      expect(await store.get(`${p}a`)).toBeUndefined();
      const r4 = await store.put(`${p}a`, 'again');
      expect(await store.get(`${p}a`)).toMatchObject({ createRevision: r4, modRevision: r4, version: 1 });
      expect(await store.delete(`${p}never`)).toBeUndefined();
    });

    it('compare-and-set: 0 means absent, a stale revision conflicts and reports the current one', async () => {
      const p = prefixFor('cas');
      const r1 = await store.put(`${p}k`, 'a', { prevRevision: 0 });
      const err = await store.put(`${p}k`, 'b', { prevRevision: 0 }).catch((e: unknown) => e);
      expect(isConflictError(err)).toBe(true);
      expect((err as { modRevision: number }).modRevision).toBe(r1);
      const r2 = await store.put(`${p}k`, 'b', { prevRevision: r1 });
      const stale = await store.put(`${p}k`, 'c', { prevRevision: r1 }).catch((e: unknown) => e);
      expect(isConflictError(stale)).toBe(true);
      expect((stale as { modRevision: number }).modRevision).toBe(r2);
      expect((await store.get(`${p}k`))!.value).toBe('b');
      const badDelete = await store.delete(`${p}k`, { prevRevision: r1 }).catch((e: unknown) => e);
      expect(isConflictError(badDelete)).toBe(true);
      expect(await store.delete(`${p}k`, { prevRevision: r2 })).toBeGreaterThan(r2);
      const absent = await store.put(`${p}k2`, 'x', { prevRevision: 5 }).catch((e: unknown) => e);
      expect(isConflictError(absent) && (absent as { modRevision: number }).modRevision).toBe(0);
    });

    it('compare-and-set is linearizable: concurrent increments from two clients lose nothing', async () => {
      const p = prefixFor('counter');
      const other = await backend.open();
      try {
        await store.put(`${p}n`, '0');
        const increment = async (client: KvStore): Promise<void> => {
          for (;;) {
            const cur = (await client.get(`${p}n`))!;
            try {
              await client.put(`${p}n`, String(Number(cur.value) + 1), { prevRevision: cur.modRevision });
              return;
            } catch (e) {
              if (!isConflictError(e)) throw e;
            }
          }
        };
        await Promise.all(Array.from({ length: 20 }, (_, i) => increment(i % 2 === 0 ? store : other)));
        expect((await store.get(`${p}n`))!.value).toBe('20');
        expect((await other.get(`${p}n`))!.value).toBe('20');
      } finally {
        await other.close();
      }
    });

    it('ranges a prefix in key order at one revision', async () => {
      const p = prefixFor('range');
      await store.put(`${p}b`, '2');
      await store.put(`${p}a`, '1');
      await store.put(`${p}c/d`, '3');
      const last = await store.put(`${p.slice(0, -1)}x`, 'outside');
      const { items, revision } = await store.range(p);
      expect(items.map((i) => [i.key.slice(p.length), i.value])).toEqual([
        ['a', '1'],
        ['b', '2'],
        ['c/d', '3'],
      ]);
      expect(revision).toBeGreaterThanOrEqual(last);
    });

    it('watches from now: every change under the prefix in order, deletes with the previous value', async () => {
      const p = prefixFor('watch');
      const { revision } = await store.range(p);
      const watch = store.watch(p, { fromRevision: revision + 1 });
      const done = collect(watch, (ev) => changes(ev).length >= 4);
      await store.put(`${p}a`, '1');
      await store.put(`/elsewhere${p}a`, 'ignored');
      await store.put(`${p}a`, '2');
      await store.put(`${p}b`, '3');
      await store.delete(`${p}a`);
      const got = changes(await done);
      expect(got.map((e) => (e.type === 'put' ? `put ${e.key.slice(p.length)}=${e.value} v${e.version}` : e.type === 'delete' ? `delete ${e.key.slice(p.length)} was ${e.prevValue}` : ''))).toEqual([
        'put a=1 v1',
        'put a=2 v2',
        'put b=3 v1',
        'delete a was 2',
      ]);
      const revs = got.map((e) => (e.type === 'put' || e.type === 'delete' ? e.modRevision : 0));
      expect([...revs].sort((a, b) => a - b)).toEqual(revs);
    });

    it('watches from a past revision, inclusive: replays history then follows', async () => {
      const p = prefixFor('history');
      const r1 = await store.put(`${p}a`, '1');
      await store.put(`${p}a`, '2');
      await store.put(`${p}a`, '3');
      const done = collect(store.watch(p, { fromRevision: r1 + 1 }), (ev) => changes(ev).length >= 3);
      await store.put(`${p}a`, '4');
      const got = changes(await done);
      expect(got.map((e) => (e.type === 'put' ? e.value : '?'))).toEqual(['2', '3', '4']);
    });

    it('sends progress events while idle', async () => {
      const p = prefixFor('progress');
      const r = await store.put(`${p}a`, '1');
      const got = await collect(store.watch(p, { fromRevision: r + 1 }), (ev) => ev.some((e) => e.type === 'progress'), backend.progressWithinMs + 5000);
      const progress = got.find((e) => e.type === 'progress');
      expect(progress?.type === 'progress' ? progress.revision : -1).toBeGreaterThanOrEqual(r);
    });

    it('ends a watch when its signal aborts', async () => {
      const p = prefixFor('abort');
      const controller = new AbortController();
      const watch = store.watch(p, { signal: controller.signal });
      const it = watch[Symbol.asyncIterator]();
      const next = it.next();
      controller.abort();
      expect((await next).done).toBe(true);
    });

    it.skipIf(backend.compact === undefined)('expires a watch from a compacted revision', async () => {
      const p = prefixFor('compact');
      const r1 = await store.put(`${p}a`, '1');
      const r2 = await store.put(`${p}a`, '2');
      await store.put(`${p}a`, '3');
      await backend.compact!(store, r2);
      const got = await collect(store.watch(p, { fromRevision: r1 }), (ev) => ev.some((e) => e.type === 'expired'));
      expect(got.at(-1)?.type).toBe('expired');
      expect(changes(got)).toEqual([]);
    });
  });
}

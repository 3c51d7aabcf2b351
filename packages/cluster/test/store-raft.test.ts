// The store contract against a real 3-member Flotilla Raft KV (RaftKvNode over TCP with the
// KV HTTP API on each member), through @flotilla/raft/client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Informer } from '@flotilla/reconcile';
import { ClusterStore, defineKind, openRaftStore, type KvWatchEvent, type ObjectMeta, type RaftKvStore } from '../src/index.js';
import { startRaftKvCluster, type RaftKvCluster } from './raft-kv-cluster.js';
import { storeContract } from './store-contract.js';

let cluster: RaftKvCluster | undefined;
const endpoints: string[] = [];

beforeAll(async () => {
  cluster = await startRaftKvCluster({ progressIntervalMs: 300 });
  endpoints.push(...cluster.endpoints);
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

storeContract({
  name: 'flotilla raft kv',
  open: () => openRaftStore(endpoints),
  compact: (store, revision) => (store as RaftKvStore).compact(revision),
  progressWithinMs: 300,
});

// A watch from a start revision is replayed by the server from its history (http-api.test.ts
// in @flotilla/raft: 'streams history from fromRevision then live events'; a compacted one is
// 410 compacted with the compact revision), and the client resumes a cut watch from the
// revision after the last one it saw (kv-client.test.ts). Here the whole path: an informer
// on a real Raft KV keeps its one list when its watch is cut, as client-go's reflector does.
// (It lists again when the watch is silent past its watchTimeoutMs, 30 s: a store down longer.)
describe('an informer on the Raft store (issue 15): a cut watch resumes from its last revision', () => {
  interface Note {
    apiVersion: 'resume.example.com/v1';
    kind: 'Note';
    metadata: ObjectMeta;
    spec: { text: string };
  }
  it('every client connection of every member cut three times while objects are written: the cache gets them all, with no relist and no restart', async () => {
    const kv = await openRaftStore(endpoints);
    const plural = `notes-${process.pid}-${Date.now() % 1e9}`;
    const kind = defineKind<Note>({ apiVersion: 'resume.example.com/v1', kind: 'Note', plural });
    const notes = new ClusterStore(kv).register(kind);
    const informer = new Informer(notes, { name: 'notes' });
    const restarts: string[] = [];
    const seen: string[] = [];
    informer.addHandler({ onEvent: (e) => e.type === 'added' && e.origin === 'watch' && seen.push(e.key), onRestart: (reason) => restarts.push(reason) });
    const abort = new AbortController();
    const running = informer.run(abort.signal);
    try {
      await notes.create({ apiVersion: 'resume.example.com/v1', kind: 'Note', metadata: { name: 'before' }, spec: { text: 'listed' } });
      expect(await informer.waitForSync()).toBe(true);
      let last = 0;
      const watches = (): number => cluster!.watchRequests(plural);
      for (let round = 0; round < 3; round++) {
        // its watch is open (and has caught up) before each cut
        for (let waited = 0; watches() < round + 1; waited += 20) {
          if (waited > 60_000) throw new Error(`watch ${round + 1} never opened`);
          await new Promise((r) => setTimeout(r, 20));
        }
        cluster!.cutClientConnections(); // the watch's stream too; written next, before it is back
        // (through a client of its own: a write on a pooled connection just cut fails as unknown outcome)
        const writerKv = await openRaftStore(endpoints);
        const writer = new ClusterStore(writerKv).register(kind);
        for (let i = 0; i < 4; i++) {
          const written = await writer.create({ apiVersion: 'resume.example.com/v1', kind: 'Note', metadata: { name: `n${round}-${i}` }, spec: { text: 'watched' } });
          last = Number(written.metadata.resourceVersion);
        }
        await writerKv.close();
        expect(await informer.waitForRevision(last, { timeoutMs: 60_000 })).toBe(true);
      }
      expect(informer.list().map((n) => n.metadata.name).sort()).toEqual(['before', ...[0, 1, 2].flatMap((r) => [0, 1, 2, 3].map((i) => `n${r}-${i}`))].sort());
      const watched = seen.filter((k) => /\/n\d-\d$/.test(k));
      expect(watched.map((k) => k.slice(k.lastIndexOf('/') + 1))).toEqual([0, 1, 2].flatMap((r) => [0, 1, 2, 3].map((i) => `n${r}-${i}`))); // each once, from the watch, in order
      expect(watches()).toBeGreaterThanOrEqual(4); // opened, then cut and resumed each time…
      expect(informer.lists).toBe(1); // …from its revision: never listed again
      expect(restarts).toEqual([]);
    } finally {
      abort.abort();
      await running;
      await kv.close();
    }
  }, 180_000);
});

// Specific to the Raft KV (the shared suite above holds the contract's assertions): every member
// serves the same replicated data, whichever one a client talks to.
describe('raft store across members', () => {
  it('a write through one member is read through each of the others', async () => {
    const stores = await Promise.all(endpoints.map((e) => openRaftStore([e])));
    try {
      const key = `/across/${process.pid}-${Date.now()}`;
      const rev = await stores[0]!.put(key, 'replicated');
      for (const s of stores.slice(1)) expect(await s.get(key)).toMatchObject({ value: 'replicated', modRevision: rev });
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});

describe('raft store watch at scale', () => {
  it("a watch's first read is paged (pageSize 10 over 35 keys): deletes still carry their previous values", async () => {
    const store = await openRaftStore(endpoints, { pageSize: 10 });
    const p = `/paged/${process.pid}-${Date.now()}/`;
    const key = (i: number) => `${p}${String(i).padStart(2, '0')}`;
    try {
      for (let i = 0; i < 35; i++) await store.put(key(i), `v${i}`);
      const seen: KvWatchEvent[] = [];
      const abort = new AbortController();
      const watching = (async () => {
        for await (const ev of store.watch(p, { signal: abort.signal })) if (ev.type !== 'progress') seen.push(ev);
      })();
      const until = async (what: string, ok: () => boolean) => {
        const deadline = Date.now() + 30_000;
        while (!ok()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      // the watch is live (its paged read done) once it reports a marker written after it began
      for (let n = 0; !seen.some((e) => e.type === 'put' && e.key === `${p}marker`); n++) {
        await store.put(`${p}marker`, String(n));
        await new Promise((r) => setTimeout(r, 100));
        if (n > 300) throw new Error('the watch never started');
      }
      for (const i of [3, 17, 34]) await store.delete(key(i));
      await until('three delete events', () => seen.filter((e) => e.type === 'delete').length >= 3);
      abort.abort();
      await watching;
      const deletes = seen.flatMap((e) => (e.type === 'delete' ? [{ key: e.key, prevValue: e.prevValue }] : []));
      expect(deletes).toEqual([3, 17, 34].map((i) => ({ key: key(i), prevValue: `v${i}` })));
    } finally {
      await store.close();
    }
  });
});

describe('raft store first read of a watch', () => {
  it('asks for pages of pageSize, never for the whole prefix at once (a watch of 150,000 instances)', async () => {
    const { RaftKvStore } = await import('../src/store/raft.js');
    const keys = Array.from({ length: 25 }, (_, i) => `/i/${String(i).padStart(2, '0')}`);
    const asked: { limit?: number; after?: string }[] = [];
    const fake = {
      range(o: { prefix: string; limit?: number; after?: string }) {
        asked.push({ ...(o.limit !== undefined ? { limit: o.limit } : {}), ...(o.after !== undefined ? { after: o.after } : {}) });
        const rest = keys.filter((k) => o.after === undefined || k > o.after);
        const items = rest.slice(0, o.limit ?? rest.length).map((k) => ({ key: k, value: `v${k}`, createRevision: 2, modRevision: 2, version: 1 }));
        return Promise.resolve({ items, revision: 30, more: items.length < rest.length });
      },
      async *watch() {
        await Promise.resolve();
        yield { type: 'delete', key: '/i/24', value: '', createRevision: 0, modRevision: 31, version: 0 };
      },
      close() {
        return undefined;
      },
    };
    const store = new RaftKvStore(fake as unknown as ConstructorParameters<typeof RaftKvStore>[0], { pageSize: 10 });
    const events: KvWatchEvent[] = [];
    for await (const ev of store.watch('/i/')) {
      events.push(ev);
      break;
    }
    expect(asked).toEqual([{ limit: 10 }, { limit: 10, after: '/i/09' }, { limit: 10, after: '/i/19' }]);
    expect(events).toEqual([{ type: 'delete', key: '/i/24', modRevision: 31, prevValue: 'v/i/24' }]);
    await store.close();
  });

  it('with prevValues: false reads nothing first (a hollow host opening its watch), from the revision asked or the next one', async () => {
    const { RaftKvStore } = await import('../src/store/raft.js');
    let ranges = 0;
    const watched: { fromRevision?: number }[] = [];
    const fake = {
      range() {
        ranges++;
        return Promise.resolve({ items: [], revision: 30, more: false });
      },
      async *watch(_prefix: string, o: { fromRevision?: number }) {
        watched.push(o.fromRevision !== undefined ? { fromRevision: o.fromRevision } : {});
        await Promise.resolve();
        yield { type: 'put', key: '/i/01', value: 'a', createRevision: 31, modRevision: 31, version: 1 };
        yield { type: 'delete', key: '/i/01', value: '', createRevision: 0, modRevision: 32, version: 0 };
        yield { type: 'delete', key: '/i/02', value: '', createRevision: 0, modRevision: 33, version: 0 };
      },
      close() {
        return undefined;
      },
    };
    const store = new RaftKvStore(fake as unknown as ConstructorParameters<typeof RaftKvStore>[0]);
    const events: KvWatchEvent[] = [];
    for await (const ev of store.watch('/i/', { prevValues: false, fromRevision: 31 })) events.push(ev);
    for await (const ev of store.watch('/i/', { prevValues: false })) {
      events.push(ev);
      break;
    }
    expect(ranges).toBe(0);
    expect(watched).toEqual([{ fromRevision: 31 }, {}]);
    // what it saw itself it still gives as a previous value; what it never saw, nothing
    expect(events.slice(0, 3)).toEqual([
      { type: 'put', key: '/i/01', value: 'a', createRevision: 31, modRevision: 31, version: 1 },
      { type: 'delete', key: '/i/01', modRevision: 32, prevValue: 'a' },
      { type: 'delete', key: '/i/02', modRevision: 33 },
    ]);
    await store.close();
  });
});

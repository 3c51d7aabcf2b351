// watchObjects / listEvents / watchEvents: what `flo get -w` and `flo events [-w]` print,
// against the in-memory store and a store that goes away and comes back.
import { describe, expect, it } from 'vitest';
import { ClusterStore, MemoryKvStore, listEvents, watchEvents, watchObjects } from '../src/index.js';
import type { ClusterEvent, Host, Instance, KvStore, KvWatchEvent, KvWatchOptions, ObjectChange } from '../src/index.js';

const API = 'flotilla.dev/v1' as const;

function host(name: string, labels: Record<string, string> = {}): Host {
  return { apiVersion: API, kind: 'Host', metadata: { name, labels }, spec: { local: { dir: `/tmp/${name}` } } };
}

function instance(name: string, labels: Record<string, string>): Instance {
  return { apiVersion: API, kind: 'Instance', metadata: { name, labels }, spec: { replicaSet: 'web', host: 'h1', template: { command: ['x'] } } } as unknown as Instance;
}

let seq = 0;
function event(involved: ClusterEvent['involved'], reason: string, time: string): ClusterEvent {
  return { apiVersion: API, kind: 'Event', metadata: { name: `${involved.name}.${(seq++).toString(36)}` }, involved, type: 'Normal', reason, message: `${reason} ${involved.name}`, time };
}

/** Reads changes from a watch one at a time. */
function reader<T>(changes: AsyncIterable<ObjectChange<T>>): { next(): Promise<ObjectChange<T>>; stop(): Promise<void> } {
  const it = changes[Symbol.asyncIterator]();
  return {
    async next() {
      const r = await Promise.race([it.next(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no change within 10 s')), 10_000))]);
      if (r.done === true) throw new Error('the watch ended');
      return r.value;
    },
    async stop() {
      await it.return?.();
    },
  };
}

const summary = (c: ObjectChange<{ metadata: { name: string } }>): string =>
  c.type === 'synced' ? 'synced' : c.type === 'restarted' ? `restarted` : `${c.type} ${c.object.metadata.name}${c.initial ? ' (initial)' : ''}`;

describe('watchObjects', () => {
  it('lists, says synced, then reports each change once', async () => {
    const store = new ClusterStore(new MemoryKvStore());
    await store.hosts.create(host('b'));
    await store.hosts.create(host('a'));
    const w = reader(watchObjects(store.hosts));
    expect([summary(await w.next()), summary(await w.next()), summary(await w.next())]).toEqual(['added a (initial)', 'added b (initial)', 'synced']);
    await store.hosts.create(host('c'));
    expect(summary(await w.next())).toBe('added c');
    await store.hosts.mutate('a', (h) => ({ ...h, spec: { ...h.spec, unschedulable: true } }));
    const m = await w.next();
    expect(summary(m)).toBe('modified a');
    expect(m.type === 'modified' && m.object.spec.unschedulable).toBe(true);
    await store.hosts.delete('b');
    expect(summary(await w.next())).toBe('deleted b');
    await w.stop();
    await store.close();
  });

  it('with a selector, an object that stops matching is deleted and one that starts matching is added (as a Kubernetes watch)', async () => {
    const store = new ClusterStore(new MemoryKvStore());
    await store.hosts.create(host('a', { zone: 'x' }));
    await store.hosts.create(host('b', { zone: 'y' }));
    const w = reader(watchObjects(store.hosts, { selector: 'zone=x' }));
    expect(summary(await w.next())).toBe('added a (initial)');
    expect(summary(await w.next())).toBe('synced');
    await store.hosts.mutate('b', (h) => ({ ...h, metadata: { ...h.metadata, labels: { zone: 'x' } } }));
    expect(summary(await w.next())).toBe('added b');
    await store.hosts.mutate('a', (h) => ({ ...h, metadata: { ...h.metadata, labels: { zone: 'y' } } }));
    expect(summary(await w.next())).toBe('deleted a');
    await store.hosts.mutate('a', (h) => ({ ...h, spec: { ...h.spec, unschedulable: true } })); // still not matching: nothing
    await store.hosts.mutate('b', (h) => ({ ...h, spec: { ...h.spec, unschedulable: true } }));
    expect(summary(await w.next())).toBe('modified b');
    await w.stop();
  });

  it('with names, only those objects', async () => {
    const store = new ClusterStore(new MemoryKvStore());
    await store.hosts.create(host('a'));
    const w = reader(watchObjects(store.hosts, { names: ['b'] }));
    expect(summary(await w.next())).toBe('synced');
    await store.hosts.create(host('c'));
    await store.hosts.create(host('b'));
    expect(summary(await w.next())).toBe('added b');
    await w.stop();
  });

  it('ends when its signal aborts', async () => {
    const store = new ClusterStore(new MemoryKvStore());
    const ac = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const c of watchObjects(store.hosts, { signal: ac.signal })) seen.push(summary(c));
    })();
    await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    await done;
    expect(seen).toEqual(['synced']);
  });

  it('survives a store outage: lists again and reports only what changed meanwhile, each change once', async () => {
    const kv = new FlakyKv(new MemoryKvStore({ progressIntervalMs: 50 }));
    const store = new ClusterStore(kv);
    await store.hosts.create(host('a'));
    await store.hosts.create(host('b'));
    const w = reader(watchObjects(store.hosts, { watchTimeoutMs: 1000 }));
    expect([summary(await w.next()), summary(await w.next()), summary(await w.next())]).toEqual(['added a (initial)', 'added b (initial)', 'synced']);
    kv.down = true; // live watches end; lists fail
    const restarted = await w.next();
    expect(restarted.type).toBe('restarted');
    // changes while the watcher cannot see the store
    kv.down = false;
    kv.hidden = true;
    await store.hosts.delete('a');
    await store.hosts.create(host('c'));
    await store.hosts.mutate('b', (h) => ({ ...h, spec: { ...h.spec, unschedulable: true } }));
    kv.hidden = false;
    const after: string[] = [];
    while (after.length < 3) {
      const c = await w.next();
      if (c.type !== 'restarted') after.push(summary(c));
    }
    expect(after.sort()).toEqual(['added c', 'deleted a', 'modified b']);
    await store.hosts.create(host('d'));
    let next = await w.next();
    while (next.type === 'restarted') next = await w.next();
    expect(summary(next)).toBe('added d');
    await w.stop();
  });
});

/**
 * A KV that can be down (watches end at once, reads fail) or hidden (writes work for the
 * test, but the watcher's reads and watches fail), standing for a store behind a lost connection.
 */
class FlakyKv implements KvStore {
  down = false;
  hidden = false;
  constructor(private readonly inner: MemoryKvStore) {}
  #check(): void {
    if (this.down || this.hidden) throw Object.assign(new Error('store unreachable'), { code: 'store-unavailable' });
  }
  get(key: string) {
    return this.inner.get(key);
  }
  async range(prefix: string) {
    this.#check();
    return this.inner.range(prefix);
  }
  put(key: string, value: string, options?: { prevRevision?: number }) {
    return this.inner.put(key, value, options);
  }
  delete(key: string, options?: { prevRevision?: number }) {
    return this.inner.delete(key, options);
  }
  async *watch(prefix: string, options: KvWatchOptions = {}): AsyncIterable<KvWatchEvent> {
    this.#check();
    for await (const e of this.inner.watch(prefix, options)) {
      if (this.down || this.hidden) throw new Error('connection lost');
      yield e;
    }
  }
  close() {
    return this.inner.close();
  }
}

describe('listEvents and watchEvents', () => {
  async function seeded(): Promise<ClusterStore> {
    const store = new ClusterStore(new MemoryKvStore());
    await store.instances.create(instance('web-1', { app: 'web' }));
    await store.instances.create(instance('db-1', { app: 'db' }));
    await store.events.create(event({ kind: 'Instance', name: 'web-1' }, 'Started', '2026-12-03T03:00:02.000Z'));
    await store.events.create(event({ kind: 'Instance', name: 'db-1' }, 'Started', '2026-12-03T03:00:01.000Z'));
    await store.events.create(event({ kind: 'Instance', name: 'web-1' }, 'Scheduled', '2026-12-03T03:00:00.000Z'));
    await store.events.create(event({ kind: 'Host', name: 'h1' }, 'HostReady', '2026-12-03T03:00:03.000Z'));
    return store;
  }
  const line = (e: ClusterEvent): string => `${e.involved.kind}/${e.involved.name} ${e.reason}`;

  it('lists oldest first; --for one object; -l by the involved object\'s labels', async () => {
    const store = await seeded();
    expect((await listEvents(store)).map(line)).toEqual(['Instance/web-1 Scheduled', 'Instance/db-1 Started', 'Instance/web-1 Started', 'Host/h1 HostReady']);
    expect((await listEvents(store, { involved: { kind: 'Instance', name: 'web-1' } })).map(line)).toEqual(['Instance/web-1 Scheduled', 'Instance/web-1 Started']);
    expect((await listEvents(store, { selector: 'app=web' })).map(line)).toEqual(['Instance/web-1 Scheduled', 'Instance/web-1 Started']);
    expect((await listEvents(store, { selector: 'app!=web' })).map(line)).toEqual(['Instance/db-1 Started']); // h1 does not exist: its labels are unknown
  });

  it('watches: the recorded events oldest first, synced, then each new one; pruned events are not reported', async () => {
    const store = await seeded();
    const w = reader(watchEvents(store, { selector: 'app=web' }));
    const first = [await w.next(), await w.next(), await w.next()];
    expect(first.map((c) => (c.type === 'added' ? `${line(c.object)} ${c.initial}` : c.type))).toEqual(['Instance/web-1 Scheduled true', 'Instance/web-1 Started true', 'synced']);
    for (const e of await store.events.items()) await store.events.delete(e.metadata.name); // pruning
    await store.events.create(event({ kind: 'Instance', name: 'db-1' }, 'Restarted', '2026-12-03T03:01:00.000Z')); // not app=web
    await store.events.create(event({ kind: 'Instance', name: 'web-1' }, 'Restarted', '2026-12-03T03:01:01.000Z'));
    const c = await w.next();
    expect(c.type === 'added' && !c.initial ? line(c.object) : c.type).toBe('Instance/web-1 Restarted');
    // an event about an object deleted since: matched by the labels it was last seen with
    await store.instances.delete('web-1');
    await store.events.create(event({ kind: 'Instance', name: 'web-1' }, 'Stopped', '2026-12-03T03:01:02.000Z'));
    const d = await w.next();
    expect(d.type === 'added' ? line(d.object) : d.type).toBe('Instance/web-1 Stopped');
    await w.stop();
  });
});

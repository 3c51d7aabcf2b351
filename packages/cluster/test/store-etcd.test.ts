import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEtcdStore, type EtcdKvStore } from '../src/index.js';
import { storeContract } from './store-contract.js';
import { etcdUnavailable, startEtcd, type EtcdServer } from './etcd-server.js';

const skip = etcdUnavailable();
let server: EtcdServer | undefined;
beforeAll(async () => {
  if (!skip) server = await startEtcd(23791, 23801);
}, 90_000);
afterAll(async () => {
  await server?.stop();
});

storeContract({
  name: 'etcd',
  skip,
  open: () => openEtcdStore([server!.endpoint], { progressIntervalMs: 500 }),
  compact: (store, revision) => (store as EtcdKvStore).compact(revision),
  progressWithinMs: 1000,
});

// Specific to etcd (the shared suite above holds the contract's assertions): the store keeps
// nothing of its own — what it writes is in etcd under the same key, read by etcd's own client.
describe.skipIf(skip !== undefined)('etcd store writes to etcd itself', () => {
  it('a put through the store is read back by a plain etcd3 client, and a plain put is seen by the store', async () => {
    const store = await openEtcdStore([server!.endpoint]);
    const { Etcd3 } = await import('etcd3');
    const plain = new Etcd3({ hosts: `http://${server!.endpoint}` });
    try {
      const key = `/direct/${process.pid}-${Date.now()}`;
      await store.put(key, 'through-the-store');
      expect(await plain.get(key).string()).toBe('through-the-store');
      await plain.put(key).value('from-etcd');
      expect((await store.get(key))?.value).toBe('from-etcd');
    } finally {
      plain.close();
      await store.close();
    }
  });
});

// Without a limit, the etcd store fetches 5,000 keys a request (one gRPC response for a large
// cluster would pass the 4 MiB message limit), every page at the first page's revision.
describe.skipIf(skip !== undefined)('etcd store: a range larger than one request', () => {
  it('returns every key in order, at the first page revision, even when keys are written meanwhile', async () => {
    const store = await openEtcdStore([server!.endpoint]);
    try {
      const p = `/many/${process.pid}-${Date.now()}/`;
      const keys = Array.from({ length: 5_300 }, (_, i) => `${p}${String(i).padStart(5, '0')}`);
      for (let i = 0; i < keys.length; i += 128) await store.txn([], keys.slice(i, i + 128).map((key) => ({ type: 'put' as const, key, value: 'v' })));
      const { items, revision } = await store.range(p);
      expect(items.map((i) => i.key)).toEqual(keys);
      expect(items.every((i) => i.modRevision <= revision)).toBe(true);
      // a page after the first is read at the pinned revision: a key written later is not in it
      const first = await store.range(p, { limit: 5_000 });
      await store.put(`${p}99999`, 'later');
      const second = await store.range(p, { limit: 5_000, after: first.items.at(-1)!.key, revision: first.revision });
      expect(second.items.map((i) => i.key)).toEqual(keys.slice(5_000));
      expect(second.revision).toBe(first.revision);
    } finally {
      await store.close();
    }
  }, 120_000);
});

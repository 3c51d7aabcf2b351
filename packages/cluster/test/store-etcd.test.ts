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

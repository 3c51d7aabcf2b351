import { afterAll, beforeAll } from 'vitest';
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

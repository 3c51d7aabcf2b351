// The store contract against a real 3-member Flotilla Raft KV (RaftKvNode over TCP with the
// KV HTTP API on each member), through @flotilla/raft/client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRaftStore, type RaftKvStore } from '../src/index.js';
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

// The store contract against a real 3-member Flotilla Raft KV (RaftKvNode over TCP with the
// KV HTTP API on each member), through @flotilla/raft/client.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStorage } from '@flotilla/raft';
import { RaftKvNode, ServerState, createKvRequestListener } from '@flotilla/raft/server';
import { openRaftStore, type RaftKvStore } from '../src/index.js';
import { storeContract } from './store-contract.js';
import { freePort } from '@flotilla/raft/testing';

const nodes: RaftKvNode[] = [];
const servers: http.Server[] = [];
const endpoints: string[] = [];

beforeAll(async () => {
  const peerPorts = await Promise.all([1, 2, 3].map(freePort));
  const members = new Map(peerPorts.map((p, i) => [i + 1, { peerUrl: `127.0.0.1:${p}`, clientUrl: '' }]));
  const conf = { voters: [...members.keys()], learners: [] };
  const data = ServerState.initial(members);
  for (const [id, m] of members) {
    const node = new RaftKvNode({ id, storage: MemoryStorage.bootstrap(conf, data), peerListen: m.peerUrl, tickMs: 20, seed: id, requestTimeoutMs: 3000 });
    nodes.push(node);
    await node.start();
    const server = http.createServer(createKvRequestListener(node, { progressIntervalMs: 300 }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    node.setClientUrl(url);
    servers.push(server);
    endpoints.push(url);
  }
}, 60_000);

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  for (const n of nodes) await n.stop();
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

// A real 3-member Flotilla Raft KV in this process (RaftKvNode over TCP, the KV HTTP API on
// each member), for the store contract and the examples that run against the Raft KV.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryStorage } from '@flotilla/raft';
import { RaftKvNode, ServerState, createKvRequestListener } from '@flotilla/raft/server';
import { freePort } from '@flotilla/raft/testing';

export interface RaftKvCluster {
  /** Each member's client URL (http://127.0.0.1:PORT). */
  endpoints: string[];
  stop(): Promise<void>;
}

export async function startRaftKvCluster(options: { progressIntervalMs?: number } = {}): Promise<RaftKvCluster> {
  const nodes: RaftKvNode[] = [];
  const servers: http.Server[] = [];
  const endpoints: string[] = [];
  const peerPorts = await Promise.all([1, 2, 3].map(freePort));
  const members = new Map(peerPorts.map((p, i) => [i + 1, { peerUrl: `127.0.0.1:${p}`, clientUrl: '' }]));
  const conf = { voters: [...members.keys()], learners: [] };
  const data = ServerState.initial(members);
  for (const [id, m] of members) {
    const node = new RaftKvNode({ id, storage: MemoryStorage.bootstrap(conf, data), peerListen: m.peerUrl, tickMs: 20, seed: id, requestTimeoutMs: 3000 });
    nodes.push(node);
    await node.start();
    const server = http.createServer(createKvRequestListener(node, { progressIntervalMs: options.progressIntervalMs ?? 300 }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    node.setClientUrl(url);
    servers.push(server);
    endpoints.push(url);
  }
  return {
    endpoints,
    async stop() {
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
      for (const n of nodes) await n.stop();
    },
  };
}

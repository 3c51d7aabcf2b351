// A real 3-member Flotilla Raft KV in this process (RaftKvNode over TCP, the KV HTTP API on
// each member), for the store contract and the examples that run against the Raft KV.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryStorage } from '@flotilla/raft';
import { RaftKvNode, ServerState, createKvRequestListener } from '@flotilla/raft/server';
import { withFreePorts } from '@flotilla/raft/testing';

export interface RaftKvCluster {
  /** Each member's client URL (http://127.0.0.1:PORT). */
  endpoints: string[];
  /** Closes every client connection of every member (watches included); the members keep serving. */
  cutClientConnections(): void;
  /** Watch requests (`GET /v1/watch`) the members have taken so far whose URL contains `part`: a resumed watch is a new one. */
  watchRequests(part: string): number;
  stop(): Promise<void>;
}

/** Three members on fresh peer ports (started again on new ones when a port was taken meanwhile: EADDRINUSE). */
export function startRaftKvCluster(options: { progressIntervalMs?: number } = {}): Promise<RaftKvCluster> {
  return withFreePorts(3, (peerPorts) => startOn(peerPorts, options));
}

async function startOn(peerPorts: number[], options: { progressIntervalMs?: number }): Promise<RaftKvCluster> {
  const nodes: RaftKvNode[] = [];
  const servers: http.Server[] = [];
  const endpoints: string[] = [];
  const watches: string[] = [];
  const members = new Map(peerPorts.map((p, i) => [i + 1, { peerUrl: `127.0.0.1:${p}`, clientUrl: '' }]));
  const conf = { voters: [...members.keys()], learners: [] };
  const data = ServerState.initial(members);
  const stop = async (): Promise<void> => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    for (const n of nodes) await n.stop();
  };
  for (const [id, m] of members) {
    const node = new RaftKvNode({ id, storage: MemoryStorage.bootstrap(conf, data), peerListen: m.peerUrl, tickMs: 20, seed: id, requestTimeoutMs: 3000 });
    nodes.push(node);
    try {
      await node.start();
    } catch (e) {
      await stop();
      throw e;
    }
    const listener = createKvRequestListener(node, { progressIntervalMs: options.progressIntervalMs ?? 300 });
    const server = http.createServer((req, res) => {
      if (req.url?.startsWith('/v1/watch') === true) watches.push(req.url);
      listener(req, res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    node.setClientUrl(url);
    servers.push(server);
    endpoints.push(url);
  }
  return {
    endpoints,
    watchRequests: (part) => watches.filter((u) => u.includes(part)).length,
    cutClientConnections() {
      for (const s of servers) s.closeAllConnections();
    },
    stop,
  };
}

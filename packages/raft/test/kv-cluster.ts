// In-process KV members that found one cluster on loopback, for the server tests.
import path from 'node:path';
import { startKvServer, type KvServer, type KvServerOptions } from '../src/server/kv-server.js';
import { withFreePorts } from '../src/testing/net.js';

/**
 * Starts members 1…n founding one cluster, each on a fresh peer port and in `dir`/m<id>. The
 * peer ports must be known before any member starts, so another process may take one
 * meanwhile: then the members that did start are closed and all start again on new ports, in
 * a new directory (`dir`/try<attempt>/m<id> from the second attempt on).
 * `options(id)` adds to each member's options.
 */
export async function startKvCluster(
  n: number,
  dir: string,
  options: (id: number) => Partial<KvServerOptions> = () => ({}),
): Promise<{ servers: KvServer[]; peerPorts: number[]; dataDir: (id: number) => string }> {
  return withFreePorts(n, async (peerPorts, attempt) => {
    const ids = peerPorts.map((_, i) => i + 1);
    const peers = new Map(ids.map((id) => [id, `127.0.0.1:${peerPorts[id - 1]}`]));
    const dataDir = (id: number): string => (attempt === 1 ? path.join(dir, `m${id}`) : path.join(dir, `try${attempt}`, `m${id}`));
    const started = await Promise.allSettled(ids.map((id) => startKvServer({ id, listen: '127.0.0.1:0', peerListen: peers.get(id)!, peers, data: dataDir(id), tickMs: 20, ...options(id) })));
    const servers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) {
      for (const s of servers) await s.close();
      throw failed.reason;
    }
    return { servers, peerPorts, dataDir };
  });
}

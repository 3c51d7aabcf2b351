// One Flotilla KV member in its own process, for the etcd comparison (bench/kv-vs-etcd.ts).
// Usage: node --conditions=@flotilla/source --import tsx bench/kv-member.ts '<json KvServerOptions>'
import { startKvServer } from '@flotilla/raft/server';

const opts = JSON.parse(process.argv[2] ?? '{}') as { id: number; listen: string; peerListen: string; peers: [number, string][]; data: string };
const server = await startKvServer({ ...opts, peers: new Map(opts.peers) });
process.stdout.write(`ready ${server.clientUrl}\n`);
const stop = () => {
  void server.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

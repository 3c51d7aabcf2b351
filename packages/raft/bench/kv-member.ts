// One Flotilla KV member in its own process, for the etcd comparison (bench/kv-vs-etcd.ts).
// Usage: node --conditions=@flotilla/source --import tsx bench/kv-member.ts '<json KvServerOptions>'
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startKvServer } from '@flotilla/raft/server';

const eld = monitorEventLoopDelay({ resolution: 5 });
eld.enable();

const opts = JSON.parse(process.argv[2] ?? '{}') as { id: number; listen: string; peerListen: string; peers: [number, string][]; data: string };
const server = await startKvServer({ ...opts, peers: new Map(opts.peers) });
process.stdout.write(`ready ${server.clientUrl}\n`);
const stop = () => {
  if (process.env.BENCH_ELD) {
    process.stderr.write(`member ${opts.id}: event-loop delay p50 ${(eld.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(eld.percentile(99) / 1e6).toFixed(1)} ms, max ${(eld.max / 1e6).toFixed(1)} ms; leader=${String(server.node.isLeader())}\n`);
  }
  void server.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

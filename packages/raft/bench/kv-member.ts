// One Flotilla KV member in its own process, for the etcd comparison (bench/kv-vs-etcd.ts).
// Usage: node --conditions=@flotilla/source --import tsx bench/kv-member.ts '<json KvServerOptions>'
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { startKvServer } from '@flotilla/raft/server';

const eld = monitorEventLoopDelay({ resolution: 5 });
eld.enable();
// With BENCH_ELD: garbage-collection pauses by kind (count, total and longest), to tell GC stalls from others.
const gc = new Map<string, { n: number; total: number; max: number }>();
const gcKinds: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
if (process.env.BENCH_ELD) {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = gcKinds[((e as { detail?: { kind?: number } }).detail)?.kind ?? -1] ?? 'other';
      const g = gc.get(kind) ?? { n: 0, total: 0, max: 0 };
      g.n++;
      g.total += e.duration;
      g.max = Math.max(g.max, e.duration);
      gc.set(kind, g);
    }
  }).observe({ entryTypes: ['gc'] });
}

const opts = JSON.parse(process.argv[2] ?? '{}') as { id: number; listen: string; peerListen: string; peers: [number, string][]; data: string; peerToken?: string };
// BENCH_MEMBER_OPTS: extra KvServerOptions as JSON (e.g. '{"snapshotEntries":10000}') for experiments.
const extra = JSON.parse(process.env.BENCH_MEMBER_OPTS ?? '{}') as Record<string, unknown>;
// BENCH_MEMBER_LOG=1: the member's diagnostics on stderr (elections, refused peer connections).
const log = process.env.BENCH_MEMBER_LOG === '1' ? (line: string) => void process.stderr.write(`${line}\n`) : undefined;
const server = await startKvServer({ ...opts, ...extra, peers: new Map(opts.peers), ...(log ? { log } : {}) });
process.stdout.write(`ready ${server.clientUrl}\n`);
const stop = () => {
  if (process.env.BENCH_ELD) {
    process.stderr.write(`member ${opts.id}: event-loop delay p50 ${(eld.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(eld.percentile(99) / 1e6).toFixed(1)} ms, max ${(eld.max / 1e6).toFixed(1)} ms; leader=${String(server.node.isLeader())}\n`);
    const kinds = [...gc].map(([k, g]) => `${k} ${g.n}× total ${g.total.toFixed(0)} ms max ${g.max.toFixed(1)} ms`).join('; ');
    process.stderr.write(`member ${opts.id}: gc ${kinds}\n`);
  }
  void server.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

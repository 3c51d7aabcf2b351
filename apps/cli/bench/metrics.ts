// /metrics latency (issue 16, Speed): with 1,000 hosts and 30,000 instances in the store
// (seeded), how long a scrape of `flo server`'s /metrics takes, against its /healthz and a GET
// of one key in the same run; and the same for the /metrics that `flo controller
// --metrics-listen` serves (its registry, its flotilla_instances/flotilla_hosts gauges kept from
// a watch of that store, its HTTP server: the code of the command, run here without the
// controllers so 30,000 instances are not started), against its /healthz.
// Requests are interleaved (metrics, peer, metrics, peer, …) so machine load falls on both.
// Needs the built CLI (npx nx run flotilla:build). Usage, from the repository root:
//   node --conditions=@flotilla/source --import tsx apps/cli/bench/metrics.ts [ROUNDS]   (default 60)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KvClient } from '@flotilla/raft/client';
import { freePorts } from '@flotilla/raft/testing';
import { ClusterStore, openRaftStore } from '@flotilla/cluster';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { prometheusControllerMetrics } from '@flotilla/reconcile/prometheus';
import { startMetricsServer } from '../src/observability/http.js';
import { clusterMetrics } from '../src/observability/cluster-metrics.js';

const HOSTS = 1000;
const INSTANCES = 30_000;
const rounds = Number(process.argv[2] ?? 60);
const bin = fileURLToPath(new URL('../bin/flo.js', import.meta.url));

async function time(url: string): Promise<number> {
  const t = process.hrtime.bigint();
  const res = await fetch(url);
  await res.text();
  if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function stats(xs: number[]): { median: number; p95: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, p95: s[Math.min(s.length - 1, Math.floor(s.length * 0.95))]! };
}

async function compare(label: string, cases: Record<string, string>): Promise<void> {
  for (let i = 0; i < 5; i++) for (const u of Object.values(cases)) await time(u);
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let i = 0; i < rounds; i++) for (const [k, u] of Object.entries(cases)) times[k]!.push(await time(u));
  const names = Object.keys(cases);
  const first = stats(times[names[0]!]!);
  console.log(`\n${label} (${rounds} rounds each, interleaved)`);
  for (const k of names) {
    const st = stats(times[k]!);
    console.log(`  ${k.padEnd(40)} median ${st.median.toFixed(2)} ms  p95 ${st.p95.toFixed(2)} ms  ${k === names[0] ? '' : `(/metrics is ${(first.median / st.median).toFixed(1)}× this)`}`);
  }
}

const dir = mkdtempSync(path.join(tmpdir(), 'flo-bench-metrics-'));
const [client, peer] = await freePorts(2);
const server = spawn(process.execPath, [bin, 'server', '--id', '1', '--listen', `127.0.0.1:${client}`, '--peer-listen', `127.0.0.1:${peer}`, '--peers', `1=127.0.0.1:${peer}`, '--data', path.join(dir, 'data')], { stdio: ['ignore', 'ignore', 'inherit'] });
const base = `http://127.0.0.1:${client}`;
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (i > 600) throw new Error('flo server not ready after 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const kv = new KvClient({ endpoints: [base] });
  const started = Date.now();
  const objects: [string, string][] = [];
  for (let h = 0; h < HOSTS; h++) {
    const name = `h${String(h).padStart(4, '0')}`;
    objects.push([`/flotilla/v1/hosts/${name}`, JSON.stringify({ apiVersion: 'flotilla.dev/v1', kind: 'Host', metadata: { name, labels: { zone: `z${h % 3}` }, generation: 1 }, spec: { address: `10.0.${h >> 8}.${h & 255}`, capacity: { cpu: 32, memory: '128Gi' } }, status: { ready: h % 10 !== 0, load1: 0.5 } })]);
  }
  const phases = ['Running', 'Running', 'Running', 'Pending', 'Starting', 'Failed'];
  for (let i = 0; i < INSTANCES; i++) {
    const name = `web-${i.toString(36).padStart(4, '0')}`;
    objects.push([
      `/flotilla/v1/instances/${name}`,
      JSON.stringify({
        apiVersion: 'flotilla.dev/v1',
        kind: 'Instance',
        metadata: { name, labels: { app: 'web', 'flotilla.dev/replicaset': 'web' }, generation: 1 },
        spec: { replicaSet: 'web', host: `h${String(i % HOSTS).padStart(4, '0')}`, template: { command: ['node', 'server.js'], resources: { cpu: '100m', memory: '64Mi' } } },
        status: { phase: phases[i % phases.length], ready: i % 6 < 3, ports: { http: 30000 + (i % 1000) }, restarts: 0, pid: 1000 + i },
      }),
    ]);
  }
  const batch = 100;
  const batches: [string, string][][] = [];
  for (let i = 0; i < objects.length; i += batch) batches.push(objects.slice(i, i + batch));
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < batches.length) {
        const b = batches[next++]!;
        await kv.txn({ compare: [], success: b.map(([key, value]) => ({ put: { key, value } })), failure: [] });
      }
    }),
  );
  console.log(`seeded ${HOSTS} hosts and ${INSTANCES} instances in ${((Date.now() - started) / 1000).toFixed(1)} s; machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, load ${loadavg()[0]?.toFixed(2)}`);

  await compare('flo server (its client port)', {
    'GET /metrics': `${base}/metrics`,
    'GET /healthz': `${base}/healthz`,
    'GET /v1/kv/<one instance>': `${base}/v1/kv/${encodeURIComponent('/flotilla/v1/instances/web-0000')}`,
  });

  // flo controller --metrics-listen: the same registry, gauges and server as the command.
  const store = new ClusterStore(await openRaftStore([base]));
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  prometheusControllerMetrics({ registry });
  const ac = new AbortController();
  const cluster = clusterMetrics(registry, { hosts: store.hosts, instances: store.instances }, ac.signal);
  const listed = Date.now();
  while (!cluster.synced()) await new Promise((r) => setTimeout(r, 50));
  console.log(`\ncontroller gauges listed and watching after ${((Date.now() - listed) / 1000).toFixed(1)} s`);
  const ms = await startMetricsServer({ listen: '127.0.0.1:0', flag: '--metrics-listen', registry, ready: [] });
  const text = await (await fetch(`${ms.url}/metrics`)).text();
  console.log(text.split('\n').filter((l) => l.startsWith('flotilla_')).join('\n'));
  await compare('flo controller --metrics-listen (its registry and gauges, no controllers running)', {
    'GET /metrics': `${ms.url}/metrics`,
    'GET /healthz': `${ms.url}/healthz`,
  });
  ac.abort();
  await ms.close();
  await store.close();
  kv.close();
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}

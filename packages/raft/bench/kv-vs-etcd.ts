// Flotilla KV vs etcd: a 3-member etcd cluster and a 3-member Flotilla cluster on loopback
// (not etcd's default ports), data on the same disk, driven by the same HTTP load generator
// (etcd through its JSON gateway: POST /v3/kv/put and /v3/kv/range with base64 keys and
// values). Runs alternate between the two systems.
//
//   npm run bench:kv -w @flotilla/raft        (installs Debian's etcd-server when missing and root)
//
// Environment: BENCH_SECONDS (per run, default 5), BENCH_ROUNDS (default 2), BENCH_DIR (data
// directory parent, default the OS temp dir), BENCH_PEER_AUTH (default 1: also run a second
// Flotilla cluster whose members authenticate each other with a peer token, to measure what
// peer authentication costs; 0 = only the open-peer cluster), BENCH_CONTROL (1: also a second
// identical open-peer cluster, the noise floor of that cost), BENCH_FRESH (1: new Flotilla
// clusters every round).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '@flotilla/raft/testing';

const here = path.dirname(fileURLToPath(import.meta.url));
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const root = mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'flo-bench-'));
const children: ChildProcess[] = [];

function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

function ensureEtcd(): string {
  const found = ['/usr/bin/etcd', '/usr/local/bin/etcd'].find((p) => existsSync(p));
  if (found) return found;
  if (process.getuid?.() !== 0) throw new Error('etcd is not installed and this is not root: apt-get install -y etcd-server');
  log('installing etcd-server with apt-get…');
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', 'etcd-server'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return '/usr/bin/etcd';
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });

function request(url: string, method: string, body: string | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function until(what: string, f: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await f()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One system under test: how to put and get a key over HTTP. */
interface System {
  name: string;
  endpoints: string[];
  put(endpoint: string, key: string, value: string): Promise<void>;
  get(endpoint: string, key: string): Promise<void>;
  /** Stops the system's processes (Flotilla clusters started fresh per round). */
  stop?(): Promise<void>;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

async function startEtcd(bin: string): Promise<System> {
  const ports = await freePorts(6);
  const names = ['e1', 'e2', 'e3'];
  const initial = names.map((n, i) => `${n}=http://127.0.0.1:${ports[2 * i + 1]}`).join(',');
  names.forEach((name, i) => {
    const client = `http://127.0.0.1:${ports[2 * i]}`;
    const peer = `http://127.0.0.1:${ports[2 * i + 1]}`;
    const child = spawn(bin, [
      '--name', name, '--data-dir', path.join(root, `etcd-${name}`),
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', 'flo-bench',
      '--log-level', 'error',
    ], { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.arch === 'x64' ? '' : process.arch } });
    children.push(child);
  });
  const endpoints = names.map((_, i) => `http://127.0.0.1:${ports[2 * i]}`);
  const sys: System = {
    name: 'etcd',
    endpoints,
    async put(ep, key, value) {
      const r = await request(`${ep}/v3/kv/put`, 'POST', JSON.stringify({ key: b64(key), value: b64(value) }));
      if (r.status !== 200) throw new Error(`etcd put: ${r.status} ${r.body}`);
    },
    async get(ep, key) {
      const r = await request(`${ep}/v3/kv/range`, 'POST', JSON.stringify({ key: b64(key) }));
      if (r.status !== 200) throw new Error(`etcd range: ${r.status} ${r.body}`);
    },
  };
  for (const ep of endpoints) await until(`etcd at ${ep}`, async () => (await request(`${ep}/v3/kv/put`, 'POST', JSON.stringify({ key: b64('warm'), value: b64('x') }))).status === 200);
  return sys;
}

async function startFlotilla(name = 'flotilla', extra: { peerToken?: string } = {}): Promise<System> {
  const ports = await freePorts(6);
  const peers = [1, 2, 3].map((id) => [id, `127.0.0.1:${ports[2 * (id - 1) + 1]}`] as [number, string]);
  const mine: ChildProcess[] = [];
  const dir = mkdtempSync(path.join(root, `${name}-`));
  for (const [id, peer] of peers) {
    const opts = { id, listen: `127.0.0.1:${ports[2 * (id - 1)]}`, peerListen: peer, peers, data: path.join(dir, `m${id}`), ...extra };
    const prof = [...(process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : []), ...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? [])];
    const child = spawn(process.execPath, [...prof, '--conditions=@flotilla/source', '--import', 'tsx', path.join(here, 'kv-member.ts'), JSON.stringify(opts)], { cwd: path.join(here, '..'), stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(child);
    mine.push(child);
  }
  const endpoints = [1, 2, 3].map((id) => `http://127.0.0.1:${ports[2 * (id - 1)]}`);
  const sys: System = {
    name,
    endpoints,
    async stop() {
      for (const c of mine) c.kill('SIGTERM');
      await Promise.all(mine.map((c) => new Promise<void>((r) => (c.exitCode !== null ? r() : c.once('exit', () => r())))));
      rmSync(dir, { recursive: true, force: true });
    },
    async put(ep, key, value) {
      const r = await request(`${ep}/v1/kv/${encodeURIComponent(key)}`, 'PUT', JSON.stringify({ value }));
      if (r.status !== 200) throw new Error(`flotilla put: ${r.status} ${r.body}`);
    },
    async get(ep, key) {
      const r = await request(`${ep}/v1/kv/${encodeURIComponent(key)}`, 'GET', undefined);
      if (r.status !== 200) throw new Error(`flotilla get: ${r.status} ${r.body}`);
    },
  };
  for (const ep of endpoints) await until(`flotilla at ${ep}`, async () => (await request(`${ep}/v1/kv/warm`, 'PUT', JSON.stringify({ value: 'x' }))).status === 200);
  return sys;
}

interface Result {
  ops: number;
  opsPerSec: number;
  p50: number;
  p99: number;
  errors: number;
}

/** `clients` concurrent loops, each bound to one endpoint (round-robin), for `seconds`. */
async function load(sys: System, kind: 'put' | 'get', clients: number, runSeconds = seconds): Promise<Result> {
  const value = 'v'.repeat(256);
  const keys = Array.from({ length: 1000 }, (_, i) => `bench/key-${i}`);
  if (kind === 'get') for (const k of keys.slice(0, 100)) await sys.put(sys.endpoints[0]!, k, value);
  const lat: number[] = [];
  const perEndpoint = sys.endpoints.map(() => [] as number[]);
  let errors = 0;
  let stop = false;
  const begin = performance.now();
  const loops = Array.from({ length: clients }, async (_, c) => {
    const ep = sys.endpoints[c % sys.endpoints.length]!;
    let i = c;
    while (!stop) {
      const key = kind === 'get' ? keys[i % 100]! : keys[i % keys.length]!;
      i += clients;
      const t0 = performance.now();
      try {
        if (kind === 'put') await sys.put(ep, key, value);
        else await sys.get(ep, key);
        const d = performance.now() - t0;
        lat.push(d);
        perEndpoint[c % sys.endpoints.length]!.push(d);
      } catch {
        errors++;
      }
    }
  });
  await new Promise((r) => setTimeout(r, runSeconds * 1000));
  stop = true;
  await Promise.all(loops);
  const elapsed = (performance.now() - begin) / 1000;
  lat.sort((a, b) => a - b);
  if (process.env.BENCH_DETAIL) {
    for (const [i, xs] of perEndpoint.entries()) {
      xs.sort((a, b) => a - b);
      log(`  ${sys.name} endpoint ${i + 1}: n=${xs.length} p50 ${xs[Math.floor(xs.length / 2)]?.toFixed(1)} p99 ${xs[Math.floor(xs.length * 0.99)]?.toFixed(1)} max ${xs[xs.length - 1]?.toFixed(1)}`);
    }
  }
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
  return { ops: lat.length, opsPerSec: lat.length / elapsed, p50: q(0.5), p99: q(0.99), errors };
}

const workloads: { label: string; kind: 'put' | 'get'; clients: number }[] = [
  { label: 'sequential puts, 1 client', kind: 'put', clients: 1 },
  { label: 'puts, 16 clients', kind: 'put', clients: 16 },
  { label: 'puts, 64 clients', kind: 'put', clients: 64 },
  { label: 'linearizable gets, 64 clients', kind: 'get', clients: 64 },
];

const only = process.env.BENCH_ONLY;
if (only) workloads.splice(0, workloads.length, ...workloads.filter((w) => w.label.includes(only)));

async function main(): Promise<void> {
  const etcdBin = ensureEtcd();
  const version = execFileSync(etcdBin, ['--version']).toString().split('\n')[0];
  const peerAuth = process.env.BENCH_PEER_AUTH !== '0';
  log(`etcd: ${version}; data under ${root}; ${seconds} s per run, ${rounds} rounds${peerAuth ? '; Flotilla with open and with authenticated peers' : ''}`);
  const etcd = await startEtcd(etcdBin);
  const control = process.env.BENCH_CONTROL === '1';
  // BENCH_FRESH=1: new Flotilla clusters every round, so that which cluster happens to be
  // faster on this machine (leader placement, scheduling) is redrawn each round instead of
  // deciding every round the same way.
  const fresh = process.env.BENCH_FRESH === '1';
  const warmSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
  const startFloSystems = async (): Promise<System[]> => {
    const out = [await startFlotilla()];
    // The same members, with a shared peer secret: every peer connection's hello is a challenge–response.
    if (peerAuth) out.push(await startFlotilla('flotilla+auth', { peerToken: randomBytes(32).toString('base64') }));
    // BENCH_CONTROL=1: a second, identical open-peer cluster, to show how far two identical
    // clusters differ on this machine (the noise floor of the peer-auth cost).
    if (control) out.push(await startFlotilla('flotilla-ctl'));
    // Warm-up (JIT, connections, first snapshot of the page cache), not measured.
    for (const sys of out) await load(sys, 'put', 16, warmSeconds);
    return out;
  };
  await load(etcd, 'put', 16, warmSeconds);
  let floSystems = await startFloSystems();
  const results = new Map<string, Map<string, Result[]>>();
  for (let round = 0; round < rounds; round++) {
    if (fresh && round > 0) {
      for (const sys of floSystems) await sys.stop?.();
      floSystems = await startFloSystems();
    }
    const systems = [etcd, ...floSystems];
    for (const w of workloads) {
      // Rotate which system goes first.
      const order = systems.map((_, i) => systems[(i + round) % systems.length]!);
      for (const sys of order) {
        const r = await load(sys, w.kind, w.clients);
        log(`round ${round + 1} ${sys.name.padEnd(13)} ${w.label.padEnd(32)} ${r.opsPerSec.toFixed(0).padStart(7)} ops/s  p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms  errors ${r.errors}`);
        const entry = results.get(w.label) ?? new Map<string, Result[]>();
        entry.set(sys.name, [...(entry.get(sys.name) ?? []), r]);
        results.set(w.label, entry);
      }
    }
  }
  const med = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const lines = peerAuth
    ? [
        '| workload | Flotilla ops/s | etcd ops/s | ratio | Flotilla p50 / p99 ms | etcd p50 / p99 ms | Flotilla, authenticated peers ops/s | ratio to etcd | p50 / p99 ms | cost of peer auth |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ]
    : ['| workload | Flotilla ops/s | etcd ops/s | ratio | Flotilla p50 / p99 ms | etcd p50 / p99 ms |', '|---|---:|---:|---:|---:|---:|'];
  for (const w of workloads) {
    const r = results.get(w.label)!;
    const stats = (name: string) => {
      const xs = r.get(name) ?? [];
      return { ops: med(xs.map((x) => x.opsPerSec)), lat: `${med(xs.map((x) => x.p50)).toFixed(1)} / ${med(xs.map((x) => x.p99)).toFixed(1)}` };
    };
    const f = stats('flotilla');
    const e = stats('etcd');
    let line = `| ${w.label} | ${f.ops.toFixed(0)} | ${e.ops.toFixed(0)} | ${(f.ops / e.ops).toFixed(2)}× | ${f.lat} | ${e.lat} |`;
    if (peerAuth) {
      const a = stats('flotilla+auth');
      line += ` ${a.ops.toFixed(0)} | ${(a.ops / e.ops).toFixed(2)}× | ${a.lat} | ${(((f.ops - a.ops) / f.ops) * 100).toFixed(1)} % |`;
    }
    lines.push(line);
    // Paired by round: the median of per-round ratios is less sensitive to a slow round.
    const paired = (name: string) => med((r.get(name) ?? []).map((x, i) => x.opsPerSec / r.get('flotilla')![i]!.opsPerSec));
    if (peerAuth) log(`${w.label}: median per-round ratio authenticated / open peers ${paired('flotilla+auth').toFixed(3)}`);
    if (control) {
      const k = stats('flotilla-ctl');
      log(`${w.label}: control (identical open cluster) ${k.ops.toFixed(0)} ops/s, ${(((f.ops - k.ops) / f.ops) * 100).toFixed(1)} % below open; median per-round ratio control / open ${paired('flotilla-ctl').toFixed(3)}`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n(medians of ${rounds} rotating runs of ${seconds} s, 256-byte values; cost of peer auth = 1 − authenticated / open)\n`);
}

try {
  await main();
} finally {
  for (const c of children) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1000));
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  agent.destroy();
  rmSync(root, { recursive: true, force: true });
}

// DNS answer latency of Flotilla's per-host resolver (host/dns-server.mjs, run as a program as
// on a host) against dnsmasq (Debian's dnsmasq-base) serving the same names, in the same run:
// one client socket, one query in flight, queries alternating between the two servers in
// rounds so both see the same machine load. Reports p50, p99 and max of the round trip.
// Run from the repo root (needs dnsmasq: apt-get install -y dnsmasq-base):
//   node --conditions=@flotilla/source --import tsx packages/cluster/bench/dns.ts [--queries 20000] [--services 200]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { dnsHostProgram, dnsRecordTable, respondDnsQuery, type Service } from '../src/index.js';
import { respondGeneral } from '../host/dns-server.mjs';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const queries = arg('queries', 20_000);
const serviceCount = arg('services', 200);
const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

if (spawnSync('dnsmasq', ['--version']).status !== 0) {
  console.error('cannot run: dnsmasq is not installed (apt-get install -y dnsmasq-base)');
  process.exit(2);
}
async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

// the cluster: services with a VIP, 3 endpoints each (names: VIP, hostname, instances)
const services: Service[] = Array.from({ length: serviceCount }, (_, i) => ({
  apiVersion: 'flotilla.dev/v1',
  kind: 'Service',
  metadata: { name: `svc-${i}` },
  spec: { selector: `app=s${i}`, ports: [{ port: 80 }], hostnames: [`s${i}.example.com`] },
  status: {
    clusterIP: `10.96.${Math.floor((i + 1) / 256)}.${(i + 1) % 256}`,
    endpoints: [0, 1, 2].map((k) => ({ instance: `svc-${i}-e${k}`, address: `10.244.${k}.${(i % 250) + 2}`, port: 8080 })),
  },
}));
const table = dnsRecordTable({}, services);
const names = Object.keys(table.records);
const dir = mkdtempSync(join(tmpdir(), 'flotilla-dns-bench-'));
writeFileSync(join(dir, 'records.json'), JSON.stringify(table));
// dnsmasq: the same names from a hosts file, authoritative for nothing else, no upstream
writeFileSync(join(dir, 'hosts'), names.flatMap((n) => table.records[n]!.map((ip) => `${ip} ${n}\n`)).join(''));

const children: ChildProcess[] = [];
try {
  const ours = await freeUdpPort();
  const peer = await freeUdpPort();
  const program = dnsHostProgram();
  const flo = spawn(process.execPath, [program.script, '--listen', `127.0.0.1:${ours}`, '--records', join(dir, 'records.json')], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(flo);
  const dm = spawn(
    'dnsmasq',
    ['--keep-in-foreground', '--no-daemon', '--no-resolv', '--no-hosts', `--addn-hosts=${join(dir, 'hosts')}`, '--listen-address=127.0.0.1', '--bind-interfaces', `--port=${peer}`, '--user=root', '--pid-file=', '--cache-size=10000', '--log-facility=/dev/null', '--local=/flotilla.local/'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  children.push(dm);
  await sleep(1000);

  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  let pending: ((m: Buffer) => void) | undefined;
  sock.on('message', (m) => pending?.(m));
  let id = 0;
  const ask = async (port: number, name: string): Promise<number> => {
    id = (id + 1) & 0xffff;
    const q = dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
    const start = process.hrtime.bigint();
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer from 127.0.0.1:${port} for ${name}`)), 2000);
      pending = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
      sock.send(q, port, '127.0.0.1');
    });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const d = dnsPacket.decode(reply);
    if ((d.answers ?? []).length === 0) throw new Error(`no A record from 127.0.0.1:${port} for ${name}`);
    return ms;
  };
  // warm up both (and check they answer the same names)
  for (const n of names.slice(0, 200)) {
    await ask(ours, n);
    await ask(peer, n);
  }
  console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`${names.length} names (${serviceCount} services), ${queries} queries to each server, one in flight, alternating in rounds of 100`);
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < queries; i += 100) {
    for (let k = 0; k < 100; k++) a.push(await ask(ours, names[(i + k) % names.length]!));
    for (let k = 0; k < 100; k++) b.push(await ask(peer, names[(i + k) % names.length]!));
  }
  sock.close();
  const line = (what: string, xs: number[]): string => `${what}: p50 ${quantile(xs, 0.5).toFixed(3)} ms, p99 ${quantile(xs, 0.99).toFixed(3)} ms, max ${Math.max(...xs).toFixed(3)} ms`;
  console.log(line('flotilla dns-server.mjs', a));
  console.log(line('dnsmasq 2.90 (peer)    ', b));
  console.log(`ratio flotilla/dnsmasq: p50 ${(quantile(a, 0.5) / quantile(b, 0.5)).toFixed(2)}x, p99 ${(quantile(a, 0.99) / quantile(b, 0.99)).toFixed(2)}x; load after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  // The resolver's own work per query, in this process (no sockets, no scheduler): the direct
  // path (memoised answers written straight into the response) against the general path
  // (dns-packet decode + encode, what every query took before), alternating blocks.
  const msgs = names.map((n, k) => dnsPacket.encode({ id: k, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: n }] }));
  const perQuery = { direct: [] as number[], general: [] as number[] };
  for (let round = 0; round < 20; round++) {
    for (const [which, fn] of round % 2 ? ([['general', respondGeneral], ['direct', respondDnsQuery]] as const) : ([['direct', respondDnsQuery], ['general', respondGeneral]] as const)) {
      const t = process.hrtime.bigint();
      for (let k = 0; k < 5000; k++) fn(table, msgs[k % msgs.length]!);
      perQuery[which].push(Number(process.hrtime.bigint() - t) / 5000 / 1000);
    }
  }
  console.log(`respond() per query, in process (median of 10 blocks of 5,000): direct ${quantile(perQuery.direct, 0.5).toFixed(2)} µs, dns-packet path ${quantile(perQuery.general, 0.5).toFixed(2)} µs (${(quantile(perQuery.direct, 0.5) / quantile(perQuery.general, 0.5)).toFixed(2)}x)`);
} finally {
  for (const c of children) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}

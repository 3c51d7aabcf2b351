/**
 * Benchmark: a request through a service VIP against the same request to the pod IP directly,
 * measured in the same run (issue 14, Speed: VIP ≤ 1.1× direct — kernel DNAT, no user-space proxy).
 *
 *   node --conditions=@flotilla/source --import tsx packages/deploy/bench/network.ts [--requests 400] [--rounds 6]
 *
 * (from the repository root, as root: it starts a fleet of two network-namespace hosts,
 * 10.254.92.x (--subnet), users fltnb*.) A pod on host 1 (client) and a pod on host 2 (a Node
 * HTTP server) on pod subnets routed host-gw; the VIP's nft rules (applyServiceRules) send
 * VIP:80 to the server pod's 8080. The client, a Node process in pod 1's network namespace,
 * makes `requests` sequential HTTP GETs per block, each on a new TCP connection (DNAT is decided
 * per connection), alternating direct and VIP blocks (order swapped every round). Reported:
 * median and p99 of per-request latency for each, and the ratio VIP / direct.
 */
import { cpus, loadavg } from 'node:os';
import { Connection } from '../src/index.js';
import { applyServiceRules, attachPodNetwork, syncRoutes } from '../src/network/index.js';
import { startFleet } from '../src/testing/index.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
};
const requests = Number(arg('requests', '400'));
const rounds = Number(arg('rounds', '6'));
const subnet = Number(arg('subnet', '92'));

const CLIENT = `
const http = require('http');
const [direct, vip, n, rounds] = [process.argv[2], process.argv[3], +process.argv[4], +process.argv[5]];
const agent = new http.Agent({ keepAlive: false });
function once(url) {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    http.get(url, { agent }, (res) => { res.resume(); res.on('end', () => resolve(Number(process.hrtime.bigint() - t) / 1e3)); }).on('error', reject);
  });
}
(async () => {
  const times = { direct: [], vip: [] };
  for (let i = 0; i < 50; i++) { await once(direct); await once(vip); } // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const which of r % 2 ? ['vip', 'direct'] : ['direct', 'vip']) {
      const url = which === 'vip' ? vip : direct;
      for (let i = 0; i < n; i++) times[which].push(await once(url));
    }
  }
  process.stdout.write(JSON.stringify(times));
})().catch((e) => { console.error(e); process.exit(1); });
`;

const SERVER = `require('http').createServer((q, s) => s.end('ok')).listen(8080)`;

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

const fleet = await startFleet({ size: 2, subnet, userPrefix: 'fltnb', namePrefix: 'nb', netns: true, sudo: 'nopasswd' });
const cs = fleet.hosts.map((h) => Connection.ssh(h.name, { sshConfigFiles: [fleet.sshConfigFile] }));
try {
  const subnets = ['10.94.0.0/24', '10.94.1.0/24'];
  const [client, server] = await Promise.all(cs.map((c, i) => attachPodNetwork(c, `bench${i + 1}`, { subnet: subnets[i]! })));
  await syncRoutes(cs[0]!, { routes: [{ subnet: subnets[1]!, via: fleet.hosts[1]!.address }] });
  await syncRoutes(cs[1]!, { routes: [{ subnet: subnets[0]!, via: fleet.hosts[0]!.address }] });
  await applyServiceRules(cs[0]!, { services: [{ name: 'bench', vip: '10.95.0.10', port: 80, endpoints: [{ ip: server!.podIP, port: 8080 }] }] });
  await cs[1]!.run(`sudo -n nsenter --net=${server!.netns} setsid nohup node -e "${SERVER}" >/dev/null 2>&1 < /dev/null &`);
  await cs[0]!.run('cat > "$HOME/bench-client.cjs"', { input: CLIENT });
  await cs[0]!.run(`for i in $(seq 100); do sudo -n nsenter --net=${client!.netns} curl -sf --max-time 1 http://${server!.podIP}:8080/ >/dev/null && exit 0; sleep 0.1; done; exit 1`);
  const r = await cs[0]!.run(`sudo -n nsenter --net=${client!.netns} node "$HOME/bench-client.cjs" http://${server!.podIP}:8080/ http://10.95.0.10/ ${requests} ${rounds}`, { hide: true });
  const times = JSON.parse(r.stdout) as { direct: number[]; vip: number[] };
  const row = (xs: number[]) => ({ p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), n: xs.length });
  const d = row(times.direct);
  const v = row(times.vip);
  const out = {
    date: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? '?'}, load ${loadavg()[0]!.toFixed(2)}`,
    command: `node --conditions=@flotilla/source --import tsx packages/deploy/bench/network.ts --requests ${requests} --rounds ${rounds}`,
    direct_us: d,
    vip_us: v,
    ratio_p50: Number((v.p50 / d.p50).toFixed(3)),
    ratio_p99: Number((v.p99 / d.p99).toFixed(3)),
  };
  console.log(JSON.stringify(out, null, 2));
} finally {
  await Promise.all(cs.map((c) => c.close()));
  await fleet.stop();
}

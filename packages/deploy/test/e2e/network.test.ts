// The host side of networking on a fleet of network-namespace hosts (each host its own network
// namespace on a bridge, its own sshd, passwordless sudo): host-gw routes, service VIPs as nft
// (and iptables) DNAT rules balancing across endpoints on both hosts, hairpin, atomic rewrites
// under a looping client, stale rules replaced, everything removed, and the root namespace's
// routes and rules exactly as before. Needs root, sshd, ip, nft, curl; without them it says so
// and skips, except under CI=true, where it must run.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection } from '../../src/index.js';
import { applyServiceRules, assertNetworkTools, detectNetworkTools, readServiceRules, removeServiceRules, syncRoutes, ROUTE_PROTO, type ServiceVip } from '../../src/network/index.js';
import { fleetAvailability, startFleet, type Fleet } from '../../src/testing/index.js';
import { rootNetworkState } from '../network/root-state.js';

const avail = fleetAvailability({ netns: true });
const haveTools = ['nft', 'curl'].every((t) => {
  try {
    execFileSync('sh', ['-c', `command -v ${t} || [ -x /usr/sbin/${t} ]`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
const skip = (!avail.ok || !haveTools) && !process.env.CI;
if (skip) console.warn(`\n*** SKIPPING @flotilla/deploy network end-to-end tests: ${avail.ok ? 'nft or curl missing' : avail.reason} (they run under CI=true) ***\n`);

/** A tiny HTTP server answering its name: run in the background on the host of `c`, as the login user. */
async function serve(c: Connection, id: string, address: string, port: number): Promise<void> {
  const js = `require('http').createServer((q,s)=>s.end(process.argv[1])).listen(+process.argv[2],process.argv[3])`;
  await c.run(`setsid nohup node -e "${js}" ${id} ${port} ${address} >/dev/null 2>&1 < /dev/null &`);
  await c.run(`for i in $(seq 100); do curl -sf --max-time 1 http://${address}:${port}/ >/dev/null && exit 0; sleep 0.1; done; exit 1`);
}

/** `n` requests to `url` from the host of `c`: the answers, and how many failed. */
async function requests(c: Connection, url: string, n: number): Promise<{ answers: Map<string, number>; failed: number }> {
  const r = await c.run(`for i in $(seq ${n}); do curl -s --max-time 2 ${url} || printf FAIL; echo; done`, { hide: true });
  const answers = new Map<string, number>();
  let failed = 0;
  for (const line of r.stdout.split('\n').slice(0, n)) {
    if (line === 'FAIL' || line === '') failed++;
    else answers.set(line, (answers.get(line) ?? 0) + 1);
  }
  return { answers, failed };
}

describe.skipIf(skip)('networking on network-namespace hosts', () => {
  let fleet: Fleet;
  let before: string;
  const cs: Connection[] = [];
  const addr = (i: number): string => fleet.hosts[i]!.address;

  beforeAll(async () => {
    before = rootNetworkState();
    fleet = await startFleet({ size: 2, subnet: 90, userPrefix: 'fltnd', namePrefix: 'nd', netns: true, sudo: 'nopasswd' });
    for (const h of fleet.hosts) cs.push(Connection.ssh(h.name, { sshConfigFiles: [fleet.sshConfigFile] }));
    await serve(cs[0]!, 'h1', addr(0), 8080);
    await serve(cs[1]!, 'h2', addr(1), 8080);
  });

  afterAll(async () => {
    await Promise.all(cs.map((c) => c.close()));
    await fleet?.stop();
    // Nothing outside the test's namespaces changed: not a route, rule, link or namespace.
    if (fleet) expect(rootNetworkState()).toBe(before);
  });

  it('each host has its own namespace, address, /sys and /run; no default route', async () => {
    const r = await cs[0]!.run('ip -4 -o addr show dev eth0; ip route; ls /sys/class/net; ls /sys/fs/cgroup >/dev/null && echo cgroup-ok; sudo -n ip netns add probe && sudo -n ip netns list && sudo -n ip netns del probe');
    expect(r.stdout).toContain(`inet ${addr(0)}/24`);
    expect(r.stdout).not.toContain('default');
    expect(r.stdout).toMatch(/^eth0\nlo\n/m);
    expect(r.stdout).toContain('cgroup-ok');
    expect(r.stdout).toContain('probe');
    // The namespace made on the host is the host's alone.
    expect(execFileSync('sh', ['-c', 'ls /run/netns'], { encoding: 'utf8' })).not.toContain('probe');
  });

  it('detects nft, iptables, ip, the CNI plugins and sudo', async () => {
    const tools = assertNetworkTools(await detectNetworkTools(cs[0]!));
    expect(tools).toMatchObject({ privilege: 'sudo', firewall: 'nft', plugins: { bridge: true, 'host-local': true, portmap: true, loopback: true }, missing: [] });
    const elsewhere = await detectNetworkTools(cs[0]!, { cniBinDir: '/nonexistent/cni' });
    expect(() => assertNetworkTools(elsewhere)).toThrow(/CNI plugins bridge, host-local, portmap, loopback in \/nonexistent\/cni/);
  });

  it('host-gw: a subnet on host 2 answers host 1 through the route; a sync without it removes it', async () => {
    // Host 2 has a bridge with the first address of its pod subnet (as CNI makes it); host 1 routes the subnet via host 2.
    await cs[1]!.run('sudo -n ip link add flo-test type bridge && sudo -n ip addr add 10.90.1.1/24 dev flo-test && sudo -n ip link set flo-test up');
    await serve(cs[1]!, 'h2-subnet', '10.90.1.1', 8081);
    const url = 'http://10.90.1.1:8081/';
    expect((await requests(cs[0]!, url, 1)).failed).toBe(1);
    const first = await syncRoutes(cs[0]!, { routes: [{ subnet: '10.90.1.0/24', via: addr(1) }] });
    expect(first.added).toEqual([{ subnet: '10.90.1.0/24', via: addr(1) }]);
    expect((await requests(cs[0]!, url, 3)).answers.get('h2-subnet')).toBe(3);
    // Idempotent.
    const again = await syncRoutes(cs[0]!, { routes: [{ subnet: '10.90.1.0/24', via: addr(1) }] });
    expect(again).toMatchObject({ added: [], removed: [], routes: [{ subnet: '10.90.1.0/24', via: addr(1) }] });
    // A route the host had before (not ours) is never touched; a route of ours not wanted is removed.
    await cs[0]!.run(`sudo -n ip route add 10.90.7.0/24 via ${addr(1)} && sudo -n ip route add 10.90.8.0/24 via ${addr(1)} proto ${ROUTE_PROTO}`);
    const synced = await syncRoutes(cs[0]!, { routes: [] });
    expect(synced.removed.map((r) => r.subnet).sort()).toEqual(['10.90.1.0/24', '10.90.8.0/24']);
    const left = await cs[0]!.run('ip -4 route');
    expect(left.stdout).toContain('10.90.7.0/24');
    expect(left.stdout).not.toContain('10.90.1.0/24');
    await cs[0]!.run('sudo -n ip route del 10.90.7.0/24');
    expect((await requests(cs[0]!, url, 1)).failed).toBe(1);
    await cs[1]!.run('sudo -n ip link del flo-test');
    // A next hop on no connected network: refused by the kernel, said with the route.
    await expect(syncRoutes(cs[0]!, { routes: [{ subnet: '10.90.2.0/24', via: '10.77.0.1' }] })).rejects.toThrow(/10\.90\.2\.0\/24 via 10\.77\.0\.1/);
  });

  const vip = (endpoints: number[], extra: Partial<ServiceVip> = {}): ServiceVip => ({ name: 'web:http', vip: '10.91.0.10', port: 80, endpoints: endpoints.map((i) => ({ ip: addr(i), port: 8080 })), ...extra });

  it('a VIP balances across endpoints on both hosts, from either host (nft); hairpin: an endpoint reaches itself', async () => {
    for (const c of cs) {
      await syncRoutes(c, { routes: [], serviceCIDR: '10.91.0.0/16' });
      const applied = await applyServiceRules(c, { services: [vip([0, 1])] });
      expect(applied).toMatchObject({ firewall: 'nft', services: 1, endpoints: 2 });
    }
    for (const c of cs) {
      const { answers, failed } = await requests(c, 'http://10.91.0.10/', 60);
      expect(failed).toBe(0);
      // Random with equal shares: each of the two gets some of 60 (a miss has probability 2^-59).
      expect([...answers.keys()].sort()).toEqual(['h1', 'h2']);
    }
    // Hairpin: host 1's own process, sent by the VIP to host 1's endpoint only.
    await applyServiceRules(cs[0]!, { services: [vip([0])] });
    expect(await requests(cs[0]!, 'http://10.91.0.10/', 5)).toEqual({ answers: new Map([['h1', 5]]), failed: 0 });
  });

  it('a VIP without endpoints refuses at once; the service gone, its VIP is gone', async () => {
    await applyServiceRules(cs[0]!, { services: [vip([])] });
    const r = await cs[0]!.run('curl -s --max-time 5 -o /dev/null -w "%{http_code} %{time_total}" http://10.91.0.10/; echo " $?"', { warn: true });
    // curl exit 7: connection refused (not 28, a timeout).
    expect(r.stdout.trim().split(' ').pop()).toBe('7');
    await applyServiceRules(cs[0]!, { services: [] });
    expect((await readServiceRules(cs[0]!)).text).not.toContain('10.91.0.10');
  });

  it('rewrites are atomic: a client looping through the VIP during 20 rewrites sees no failure', async () => {
    await applyServiceRules(cs[0]!, { services: [vip([0, 1])] });
    const loop = cs[0]!.run('ok=0; bad=0; for i in $(seq 400); do if curl -sf --max-time 2 http://10.91.0.10/ >/dev/null; then ok=$((ok+1)); else bad=$((bad+1)); fi; done; echo "$ok $bad"', { hide: true });
    const sets = [[0], [1], [0, 1], [1, 0], [0]];
    for (let i = 0; i < 20; i++) await applyServiceRules(cs[0]!, { services: [vip(sets[i % sets.length]!), { name: `other-${i}`, vip: `10.91.1.${i + 1}`, port: 80, endpoints: [{ ip: addr(1), port: 8080 }] }] });
    const [ok, bad] = (await loop).stdout.trim().split(' ').map(Number);
    expect(bad).toBe(0);
    expect(ok).toBe(400);
    // The services of earlier rewrites are gone: only the last one's VIPs are left.
    const text = (await readServiceRules(cs[0]!)).text;
    expect(text).toContain('10.91.1.20');
    expect(text).not.toContain('10.91.1.19 ');
  });

  it('stale rules (a host back after a while) are replaced by the next apply', async () => {
    // What a stale ruleset looks like: an endpoint that no longer exists, and a chain left over.
    await applyServiceRules(cs[1]!, { services: [{ ...vip([]), endpoints: [{ ip: '10.254.90.99', port: 8080 }] }] });
    await cs[1]!.run('sudo -n nft add chain ip flotilla leftover');
    await applyServiceRules(cs[1]!, { services: [vip([0, 1])] });
    const text = (await readServiceRules(cs[1]!)).text;
    expect(text).not.toContain('10.254.90.99');
    expect(text).not.toContain('leftover');
    expect((await requests(cs[1]!, 'http://10.91.0.10/', 10)).failed).toBe(0);
  });

  it('iptables where nft is not wanted: same balancing, stale chains dropped, removal leaves none', async () => {
    const c = cs[1]!;
    await removeServiceRules(c, { firewall: 'nft' });
    expect((await readServiceRules(c)).text.trim()).toBe('');
    const applied = await applyServiceRules(c, { services: [vip([0, 1]), { name: 'old', vip: '10.91.2.1', port: 80, endpoints: [{ ip: addr(0), port: 8080 }] }], firewall: 'iptables' });
    expect(applied.firewall).toBe('iptables');
    await applyServiceRules(c, { services: [vip([0, 1])], firewall: 'iptables' });
    const saved = await c.run('sudo -n iptables-save -t nat');
    expect(saved.stdout.match(/^:FLO-SVC-/gm)).toHaveLength(1);
    expect(saved.stdout).not.toContain('10.91.2.1');
    const { answers, failed } = await requests(c, 'http://10.91.0.10/', 40);
    expect(failed).toBe(0);
    expect([...answers.keys()].sort()).toEqual(['h1', 'h2']);
    await removeServiceRules(c, { firewall: 'iptables' });
    const none = await c.run('sudo -n iptables-save');
    expect(none.stdout).not.toContain('FLO-');
  });

  it('removes everything it made: no table, no route of ours', async () => {
    for (const c of cs) {
      await removeServiceRules(c);
      await syncRoutes(c, { routes: [] });
      const r = await c.run(`sudo -n nft list tables; sudo -n iptables-save; echo @routes; ip route show proto ${ROUTE_PROTO}`);
      // (iptables-nft leaves its empty built-in tables where iptables was used.)
      expect(r.stdout).not.toContain('flotilla');
      expect(r.stdout).not.toContain('FLO-');
      expect(r.stdout.split('@routes')[1]!.trim()).toBe('');
    }
  });
});

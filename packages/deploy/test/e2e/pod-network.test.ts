// Pod networking with the real CNI plugins (Debian's containernetworking-plugins in /usr/lib/cni)
// on a fleet of network-namespace hosts: each pod a namespace of its own on the host's bridge
// flo0, host-gw routes between the hosts' subnets, a VIP over pods on both hosts, hairpin, CHECK,
// DEL from saved state (idempotent), portmap; the root namespace untouched. Needs root, sshd, ip,
// nft, curl and the plugins; without them it says so and skips, except under CI=true.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileContentStore, buildImage, containerStatuses, execInContainer, loadImage, runContainer, stopContainer } from '../../src/image/index.js';
import { requireTools } from '../image/helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection, shellQuote } from '../../src/index.js';
import { applyServiceRules, attachPodNetwork, checkPodNetwork, detachPodNetwork, isCniError, syncRoutes, type PodAttachment } from '../../src/network/index.js';
import { fleetAvailability, startFleet, type Fleet } from '../../src/testing/index.js';
import { rootNetworkState } from '../network/root-state.js';

const avail = fleetAvailability({ netns: true });
const plugins = ['bridge', 'host-local', 'portmap', 'loopback'].every((p) => existsSync(`/usr/lib/cni/${p}`));
const skip = (!avail.ok || !plugins || !requireTools(['runc', 'busybox'])) && !process.env.CI;
if (skip) console.warn(`\n*** SKIPPING @flotilla/deploy pod network end-to-end tests: ${avail.ok ? 'CNI plugins missing in /usr/lib/cni (apt-get install -y containernetworking-plugins)' : avail.reason} (they run under CI=true) ***\n`);

/** Runs a command in pod `name`'s network namespace on the host of `c` (as root). */
function inPod(c: Connection, name: string, command: string): Promise<{ stdout: string; exitCode: number | null }> {
  return c.run(`sudo -n nsenter --net=/run/netns/flo-${name} sh -c ${shellQuote(command)}`, { warn: true, hide: true });
}

async function servePod(c: Connection, name: string): Promise<void> {
  const js = `require('http').createServer((q,s)=>s.end(process.argv[1])).listen(8080)`;
  await c.run(`sudo -n nsenter --net=/run/netns/flo-${name} setsid nohup node -e "${js}" ${name} >/dev/null 2>&1 < /dev/null &`);
  const r = await inPod(c, name, 'for i in $(seq 100); do curl -sf --max-time 1 http://127.0.0.1:8080/ && exit 0; sleep 0.1; done; exit 1');
  expect(r.stdout).toBe(name);
}

async function fromPod(c: Connection, pod: string, url: string, n: number): Promise<string[]> {
  const r = await inPod(c, pod, `for i in $(seq ${n}); do curl -s --max-time 2 ${url} || printf FAIL; echo; done`);
  return r.stdout.split('\n').slice(0, n);
}

describe.skipIf(skip)('pod networking with the real CNI plugins', () => {
  let fleet: Fleet;
  let before: string;
  const cs: Connection[] = [];
  const pods: PodAttachment[] = [];
  const subnets = ['10.92.0.0/24', '10.92.1.0/24'];

  beforeAll(async () => {
    before = rootNetworkState();
    fleet = await startFleet({ size: 2, subnet: 91, userPrefix: 'fltnp', namePrefix: 'np', netns: true, sudo: 'nopasswd' });
    for (const h of fleet.hosts) cs.push(Connection.ssh(h.name, { sshConfigFiles: [fleet.sshConfigFile] }));
  });

  afterAll(async () => {
    await Promise.all(cs.map((c) => c.close()));
    await fleet?.stop();
    if (fleet) expect(rootNetworkState()).toBe(before);
  });

  it('ADD: each pod gets an address of its host subnet behind the bridge flo0 (gateway = the first address)', async () => {
    for (const [i, c] of cs.entries()) pods.push(await attachPodNetwork(c, `p${i + 1}`, { subnet: subnets[i]! }));
    expect(pods[0]).toMatchObject({ podIP: expect.stringMatching(/^10\.92\.0\.\d+$/), gateway: '10.92.0.1', netns: '/run/netns/flo-p1' });
    expect(pods[1]).toMatchObject({ podIP: expect.stringMatching(/^10\.92\.1\.\d+$/), gateway: '10.92.1.1' });
    const host = await cs[0]!.run('ip -4 -o addr show dev flo0; cat /sys/class/net/flo0/brif/*/hairpin_mode');
    expect(host.stdout).toContain('inet 10.92.0.1/24');
    expect(host.stdout.trim().split('\n').pop()).toBe('1');
    const pod = await inPod(cs[0]!, 'p1', 'ip -4 -o addr show dev eth0; ip route; ip -o link show lo');
    expect(pod.stdout).toContain(`inet ${pods[0]!.podIP}/24`);
    expect(pod.stdout).toContain('default via 10.92.0.1 dev eth0');
    expect(pod.stdout).toMatch(/lo: <LOOPBACK,UP/);
    // host-local's state is under the host user's home, not /var/lib/cni.
    expect(existsSync(join(fleet.hosts[0]!.home, '.flotilla/cni/ipam/flotilla', pods[0]!.podIP))).toBe(true);
    expect(await checkPodNetwork(cs[0]!, 'p1')).toBe('ok');
  });

  it('host-gw: a pod on host 1 reaches the pod IP of a pod on host 2, and back', async () => {
    await syncRoutes(cs[0]!, { routes: [{ subnet: subnets[1]!, via: fleet.hosts[1]!.address }] });
    await syncRoutes(cs[1]!, { routes: [{ subnet: subnets[0]!, via: fleet.hosts[0]!.address }] });
    await servePod(cs[0]!, 'p1');
    await servePod(cs[1]!, 'p2');
    expect(await fromPod(cs[0]!, 'p1', `http://${pods[1]!.podIP}:8080/`, 3)).toEqual(['p2', 'p2', 'p2']);
    expect(await fromPod(cs[1]!, 'p2', `http://${pods[0]!.podIP}:8080/`, 3)).toEqual(['p1', 'p1', 'p1']);
  });

  it('a VIP balances over the pods of both hosts; hairpin: a pod reaches itself through its VIP', async () => {
    const svc = (ips: string[]) => [{ name: 'web:http', vip: '10.93.0.10', port: 80, endpoints: ips.map((ip) => ({ ip, port: 8080 })) }];
    await applyServiceRules(cs[0]!, { services: svc([pods[0]!.podIP, pods[1]!.podIP]) });
    const answers = await fromPod(cs[0]!, 'p1', 'http://10.93.0.10/', 40);
    expect(answers.filter((a) => a === 'FAIL')).toEqual([]);
    expect([...new Set(answers)].sort()).toEqual(['p1', 'p2']);
    // Only itself behind the VIP: without the hairpin masquerade the reply would come from its own address and be dropped.
    await applyServiceRules(cs[0]!, { services: svc([pods[0]!.podIP]) });
    expect(await fromPod(cs[0]!, 'p1', 'http://10.93.0.10/', 5)).toEqual(['p1', 'p1', 'p1', 'p1', 'p1']);
    await applyServiceRules(cs[0]!, { services: svc([pods[0]!.podIP]), hairpin: false });
    expect(await fromPod(cs[0]!, 'p1', 'http://10.93.0.10/', 1)).toEqual(['FAIL']);
    await applyServiceRules(cs[0]!, { services: [] });
  });

  it('CHECK finds a broken attachment; DEL works from saved state, twice, from a connection that never saw the ADD', async () => {
    await inPod(cs[0]!, 'p1', 'ip link del eth0');
    const broken = await checkPodNetwork(cs[0]!, 'p1').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCniError(broken)).toBe(true);
    expect(String(broken)).toMatch(/CNI CHECK failed in plugin/);
    const fresh = Connection.ssh(fleet.hosts[0]!.name, { sshConfigFiles: [fleet.sshConfigFile] });
    cs.push(fresh);
    expect(await detachPodNetwork(fresh, 'p1')).toBe('deleted');
    expect(existsSync(join(fleet.hosts[0]!.home, '.flotilla/cni/ipam/flotilla', pods[0]!.podIP))).toBe(false);
    expect(await detachPodNetwork(fresh, 'p1')).toBe('absent');
    expect(await checkPodNetwork(fresh, 'p1')).toBe('absent');
    // A namespace deleted behind our back (the host was away): DEL still releases the address.
    await cs[1]!.run('sudo -n ip netns del flo-p2');
    expect(await detachPodNetwork(cs[1]!, 'p2')).toBe('deleted');
    expect(existsSync(join(fleet.hosts[1]!.home, '.flotilla/cni/ipam/flotilla', pods[1]!.podIP))).toBe(false);
  });

  it('portmap: a host port forwards to the pod', async () => {
    const p = await attachPodNetwork(cs[0]!, 'p3', { subnet: subnets[0]!, portMappings: [{ hostPort: 18080, containerPort: 8080 }] });
    await servePod(cs[0]!, 'p3');
    const r = await cs[1]!.run(`curl -s --max-time 2 http://${fleet.hosts[0]!.address}:18080/`, { warn: true });
    expect(r.stdout).toBe('p3');
    // CHECK passes with port mappings on an IPv4-only pod (portmap <= 1.1 looks for an IPv6 chain too: that alone is no failure)
    expect(await checkPodNetwork(cs[0]!, 'p3')).toBe('ok');
    await cs[0]!.run('sudo -n iptables -t nat -S | grep -o "CNI-DN-[0-9a-f]*" | sort -u | while read c; do sudo -n iptables -t nat -F "$c"; done');
    await expect(checkPodNetwork(cs[0]!, 'p3')).rejects.toThrow(/CNI CHECK failed in plugin/); // its IPv4 rules gone: a failure
    expect(await detachPodNetwork(cs[0]!, 'p3')).toBe('deleted');
    expect(existsSync(join(fleet.hosts[0]!.home, '.flotilla/cni/ipam/flotilla', p.podIP))).toBe(false);
  });

  it('containers (runc) in pods: a container on host 1 reaches the pod IP of a container on host 2 and a VIP over both; resolv.conf names the bridge; stop deletes the attachment', async () => {
    const work = mkdtempSync(join(tmpdir(), 'flo-e2e-podctr-'));
    try {
      const store = new FileContentStore(join(work, 'store'));
      mkdirSync(join(work, 'root/bin'), { recursive: true });
      mkdirSync(join(work, 'root/www'), { recursive: true });
      chmodSync(join(work, 'root/www'), 0o777); // the container's root writes its name there (it has no CAP_DAC_OVERRIDE)
      copyFileSync('/bin/busybox', join(work, 'root/bin/busybox'));
      symlinkSync('busybox', join(work, 'root/bin/sh'));
      await buildImage({ dir: join(work, 'root'), out: join(work, 'web.oci.tar'), entrypoint: ['/bin/sh', '-c'], cmd: ['hostname > /www/index.html; exec busybox httpd -f -p 8080 -h /www'] });
      const image = await loadImage(join(work, 'web.oci.tar'), { store });
      const started = await Promise.all(
        cs.slice(0, 2).map((c, i) => runContainer(c, { name: `web-${i + 1}`, image, store, gracePeriodSeconds: 1, network: { subnet: subnets[i]!, dns: { search: ['flotilla.local'] } } })),
      );
      for (const [i, st] of started.entries()) {
        expect(st).toMatchObject({ state: 'running', rootless: false, podIP: expect.stringMatching(new RegExp(`^10\\.92\\.${i}\\.\\d+$`)) });
        // The status read back (another round trip, as a controller observes) has it too.
        expect((await containerStatuses(cs[i]!, [`web-${i + 1}`])).get(`web-${i + 1}`)!.podIP).toBe(st.podIP);
      }
      const [a, b] = [started[0]!.podIP!, started[1]!.podIP!];
      // An HTTP GET from inside a container with busybox nc (its static wget crashes resolving service names); the body is the last line.
      const wget = async (c: Connection, name: string, url: string): Promise<{ code: number; stdout: string }> => {
        const [, host, port] = /^http:\/\/([\d.]+):?(\d*)\//.exec(url)!;
        const r = await execInContainer(c, name, ['sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 ${host} ${port || '80'}`]);
        return { code: r.code, stdout: r.code === 0 ? `${r.stdout.trim().split('\n').pop()!.trim()}\n` : r.stdout };
      };
      // (httpd may still be starting: a few tries.)
      let first = await wget(cs[0]!, 'web-1', `http://${b}:8080/`);
      for (let i = 0; i < 50 && first.stdout.trim() !== 'web-2'; i++) {
        await new Promise((r) => setTimeout(r, 200));
        first = await wget(cs[0]!, 'web-1', `http://${b}:8080/`);
      }
      expect(first).toMatchObject({ code: 0, stdout: 'web-2\n' });
      expect((await wget(cs[1]!, 'web-2', `http://${a}:8080/`)).stdout.trim()).toBe('web-1');
      const resolv = await execInContainer(cs[0]!, 'web-1', ['busybox', 'cat', '/etc/resolv.conf']);
      expect(resolv.stdout).toBe('nameserver 10.92.0.1\nsearch flotilla.local\noptions ndots:2\n');
      // The same container again: no second ADD (the same address); the VIP over both, from inside web-1 (its own pod among them).
      expect((await runContainer(cs[0]!, { name: 'web-1', image, store, gracePeriodSeconds: 1, network: { subnet: subnets[0]!, dns: { search: ['flotilla.local'] } } })).podIP).toBe(a);
      await applyServiceRules(cs[0]!, { services: [{ name: 'web', vip: '10.93.0.20', port: 80, endpoints: [a, b].map((ip) => ({ ip, port: 8080 })) }] });
      const seen = new Set<string>();
      for (let i = 0; i < 30; i++) seen.add((await wget(cs[0]!, 'web-1', 'http://10.93.0.20/')).stdout.trim());
      expect([...seen].sort()).toEqual(['web-1', 'web-2']);
      for (const [i, c] of cs.slice(0, 2).entries()) {
        await stopContainer(c, `web-${i + 1}`, { gracePeriodSeconds: 0 });
        expect(existsSync(join(fleet.hosts[i]!.home, '.flotilla/cni/ipam/flotilla', started[i]!.podIP!))).toBe(false);
        expect((await c.run('ls /run/netns')).stdout).not.toContain(`flo-web-${i + 1}`);
      }
      await applyServiceRules(cs[0]!, { services: [] });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('refuses a bad plugin directory with the plugin named', async () => {
    const e = await attachPodNetwork(cs[0]!, 'p4', { subnet: subnets[0]!, binDir: '/nonexistent' }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(String(e)).toMatch(/CNI ADD failed in plugin bridge/);
    expect((await cs[0]!.run('ls /run/netns')).stdout).not.toContain('flo-p4');
  });
});

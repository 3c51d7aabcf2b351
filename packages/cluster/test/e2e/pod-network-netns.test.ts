// Issue 14's "Done means", through the cluster's own runtime path, on a fleet of
// network-namespace hosts (each its own namespace, sshd and passwordless sudo): a Network, the
// sample app as a container image (busybox httpd) — env=prod on both hosts, env=test on one — and
// the talk's services. The controllers (DeployRuntime: CNI ADD for each container, podIP in its
// status; DeployNetworkDriver: routes, nft VIP rules, the DNS resolver) do everything; the test
// only looks, from inside a container on host 1:
// - the pod IP of a container on host 2 answers;
// - web.flotilla.local resolves to the VIP and answers from both hosts' instances;
// - beta.example.com answers from the test and prod instances;
// - <instance>.web.flotilla.local is that pod's IP, and only while it is a ready endpoint;
// - a pod reaches itself through its own service's VIP (hairpin);
// - after killing an instance, the VIP never sends to it once it is not ready;
// - host 2 frozen (NotReady): its route leaves host 1 and its pods leave the VIP; its instance is
//   evicted meanwhile; when it answers again the instance is stopped there with CNI DEL (its
//   address released, its namespace gone) and host 2's stale rules are replaced.
// Host 2 names its CNI plugins' directory (spec.cniBinDir: wrappers that log each call and run
// the real plugin): its pods are added and checked with those; and when its cniBinDir is changed
// while it is away, its evicted pods are still deleted with the plugins their ADD ran.
// The root namespace's routes, rules, links and namespaces are as before afterwards.
// Needs root, ip, nft, runc, busybox-static and the CNI plugins; skips loudly otherwise,
// required with CI=true.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readServiceRules } from '@flotilla/deploy/network';
import { execInContainer } from '@flotilla/deploy/image';
import { fleetAvailability, startFleet, type Fleet } from '@flotilla/deploy/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterControllers, DeployRuntime, applyManifests, convergence, eventsFor, loadManifests, openStore, type ClusterStore, type Host, type Instance } from '../../src/index.js';
import { NETWORK_DEMO_SERVICES, buildSampleImage, networkDemoNetwork } from '../../src/demo/index.js';

const avail = fleetAvailability({ netns: true });
const has = (t: string): boolean => {
  try {
    execFileSync('sh', ['-c', `command -v ${t} || [ -x /usr/sbin/${t} ]`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const plugins = ['bridge', 'host-local', 'portmap'].every((p) => existsSync(`/usr/lib/cni/${p}`));
const why = !avail.ok ? avail.reason : !['nft', 'runc'].every(has) ? 'nft or runc missing' : !existsSync('/bin/busybox') ? 'busybox-static missing' : !plugins ? 'CNI plugins missing in /usr/lib/cni' : undefined;
if (why !== undefined && process.env.CI === 'true') throw new Error(`CI=true but the pod network e2e cannot run: ${why}`);
if (why !== undefined) process.stderr.write(`\n*** SKIPPING cluster pod network e2e: ${why} ***\n\n`);

function rootNetworkState(): string {
  return execFileSync('sh', ['-c', 'PATH=$PATH:/usr/sbin:/sbin; ip -4 route show table all; nft list ruleset; ip -o link | cut -d: -f2 | sort; ls /run/netns 2>/dev/null; true'], { encoding: 'utf8' });
}

async function poll<T>(what: string, fn: () => Promise<T | undefined>, ms = 180_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe.runIf(why === undefined)('pod networking through the cluster runtime: the issue\'s "Done means"', { timeout: 900_000 }, () => {
  let fleet: Fleet;
  let before: string;
  let work: string;
  let store: ClusterStore;
  let runtime: DeployRuntime;
  let abort: AbortController;
  let running: Promise<void> | undefined;
  let hosts: Host[];
  let client: Instance; // a prod container on host 1: where the requests come from
  let cni: string; // host 2's plugin directories: a/ (its cniBinDir at first), b/ (set while it is away)

  /** Each plugin of /usr/lib/cni as a wrapper in `dir` that logs "<plugin> <command> <container>" to `dir`.log and runs the real one. */
  function wrappedPlugins(dir: string): void {
    mkdirSync(dir, { mode: 0o755 });
    for (const p of readdirSync('/usr/lib/cni')) {
      writeFileSync(join(dir, p), `#!/bin/sh\nprintf '%s %s %s\\n' ${p} "$CNI_COMMAND" "$CNI_CONTAINERID" >> ${dir}.log\nexec /usr/lib/cni/${p} "$@"\n`);
      chmodSync(join(dir, p), 0o755);
    }
  }
  /** The calls the plugins of host 2's directory `which` logged: "<plugin> <command> <container>". */
  const calls = (which: 'a' | 'b'): string[] => (existsSync(join(cni, `${which}.log`)) ? readFileSync(join(cni, `${which}.log`), 'utf8').trim().split('\n') : []);

  /** Runs `script` with busybox sh inside the container of `instance`. */
  async function inside(instance: Instance, script: string): Promise<string> {
    const host = hosts.find((h) => h.metadata.name === instance.spec.host)!;
    const r = await execInContainer(runtime.connection(host), instance.metadata.name, ['sh', '-c', script], { timeoutMs: 120_000 });
    return r.stdout;
  }

  /**
   * `n` HTTP requests from inside `from` to `target` (`NAME` or `IP:PORT`): a name is resolved
   * for each request by busybox nslookup (through the container's resolv.conf), then busybox nc
   * makes the request (the image's static wget cannot resolve names). Which instance answered each
   * (the sample page names its container), and how many failed.
   */
  async function requests(from: Instance, target: string, n: number): Promise<{ answers: Map<string, number>; failed: number }> {
    const ip = /^[\d.]+:\d+$/.test(target)
      ? `a=${target.split(':')[0]}; p=${target.split(':')[1]}`
      : `a=$(nslookup -type=a ${target} 2>/dev/null); a=\${a##*Address: }; a=\${a%%[!0-9.]*}; p=80`;
    const out = await inside(from, `i=0; while [ $i -lt ${n} ]; do ${ip}; [ -n "$a" ] && printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 "$a" "$p" 2>/dev/null; echo @@; i=$((i+1)); done`);
    const answers = new Map<string, number>();
    let failed = 0;
    const replies = out.split('@@').slice(0, n);
    expect(replies).toHaveLength(n);
    for (const reply of replies) {
      const m = / from (\S+) /.exec(reply);
      if (!m) failed++;
      else answers.set(m[1]!, (answers.get(m[1]!) ?? 0) + 1);
    }
    return { answers, failed };
  }

  /** The A records busybox nslookup prints for `name` inside `from` (its resolv.conf: the host's bridge address), or 'NXDOMAIN'. */
  async function lookup(from: Instance, name: string): Promise<string[] | 'NXDOMAIN'> {
    const out = await inside(from, `nslookup -type=a ${name} 2>&1; true`);
    if (/NXDOMAIN|can't find/i.test(out)) return 'NXDOMAIN';
    const after = out.slice(out.indexOf(`Name:`));
    const addrs = [...after.matchAll(/Address(?: \d+)?:\s*([\d.]+)/g)].map((m) => m[1]!);
    if (addrs.length === 0) throw new Error(`nslookup ${name}: no answer: ${out}`);
    return addrs.sort();
  }

  const instances = async (labels: string): Promise<Instance[]> =>
    (await store.instances.items()).filter((i) => i.metadata.deletionTimestamp === undefined && labels.split(',').every((kv) => i.metadata.labels?.[kv.split('=')[0]!] === kv.split('=')[1]));

  beforeAll(async () => {
    before = rootNetworkState();
    fleet = await startFleet({ size: 2, subnet: 96, userPrefix: 'fltpc', namePrefix: 'pc', netns: true, sudo: 'nopasswd' });
    work = mkdtempSync(join(tmpdir(), 'flotilla-podnet-e2e-'));
    // (the hosts' users look for the plugins there: readable by all)
    cni = mkdtempSync(join(tmpdir(), 'flotilla-podnet-cni-'));
    chmodSync(cni, 0o755);
    wrappedPlugins(join(cni, 'a'));
    wrappedPlugins(join(cni, 'b'));
    const image = await buildSampleImage(join(work, 'build'));
    store = await openStore(`file://${join(work, 'store')}`, { artifactDir: join(work, 'artifacts') });
    const hostsYaml = fleet.hosts
      .map((h, i) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${h.name}}\nspec: {address: ${h.name}, capacity: {cpu: 4, memory: 4Gi}${i === 1 ? `, cniBinDir: ${join(cni, 'a')}` : ''}}\n`)
      .join('---\n');
    const rs = (env: string, replicas: number): string => `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web-${env}}
spec:
  replicas: ${replicas}
  selector: "app=web,env=${env}"
  placement: spread
  template:
    metadata: {labels: {app: web, env: ${env}}}
    spec:
      image: ${JSON.stringify(`oci-archive:${image.path}`)}
      ports: [{name: http}]
      resources: {cpu: 250m, memory: 64Mi}
      antiAffinity: {labelSelector: {app: web, env: ${env}}, topologyKey: kubernetes.io/hostname}
      healthCheck: {http: {path: /healthz, port: http}, periodSeconds: 1, failureThreshold: 1}
      restartPolicy: Never
      terminationGracePeriodSeconds: 2
`;
    // the network demo's Network (with ranges of this suite's own) and the talk's services
    const app = `${networkDemoNetwork({ podCIDR: '10.246.0.0/16', serviceCIDR: '10.97.0.0/16' })}---
${rs('prod', 2)}---
${rs('test', 1)}---
${NETWORK_DEMO_SERVICES.web}---
${NETWORK_DEMO_SERVICES.beta}---
apiVersion: flotilla.dev/v1
kind: Service
metadata: {name: test}
spec:
  selector: "env=test,app=web"
  ports: [{name: http, port: 80, targetPort: http}]
`;
    await applyManifests(store, loadManifests([{ text: hostsYaml }, { text: app }]), { baseDirs: Array(10).fill(work) as string[] });
    runtime = new DeployRuntime({ sshConfigFiles: [fleet.sshConfigFile], podNetworkCheckMs: 5000 });
    const controllers = new ClusterControllers({ store, runtime, hostProbeIntervalMs: 1000, hostGracePeriodMs: 6000 });
    abort = new AbortController();
    running = controllers.run(abort.signal);
    hosts = await store.hosts.items();
  }, 600_000);

  afterAll(async () => {
    abort?.abort();
    await running;
    // stop what is left (CNI DEL included) before the fleet goes
    if (store && runtime)
      for (const i of await store.instances.items().catch(() => [])) {
        const h = hosts?.find((x) => x.metadata.name === i.spec.host);
        if (h) await runtime.stop(h, i, 2000).catch(() => undefined);
      }
    await runtime?.close();
    await store?.close();
    await fleet?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
    if (cni) rmSync(cni, { recursive: true, force: true });
    if (fleet) expect(rootNetworkState()).toBe(before);
  });

  it('from inside a container on host 1: a pod IP on host 2, web.flotilla.local and beta.example.com through their VIPs, instance names, hairpin', async () => {
    await poll('converged with pod IPs', async () => ((await convergence(store)).done && (await instances('app=web')).length === 3 && (await instances('app=web')).every((i) => i.status?.podIP !== undefined) ? true : undefined)).catch(async (e: unknown) => {
      const events = (await store.events.items()).map((x) => `${x.involved.kind}/${x.involved.name} ${x.reason}: ${x.message}`);
      const st = (await store.instances.items()).map((i) => `${i.metadata.name} ${JSON.stringify(i.status)}`);
      throw new Error(`${String(e)}\nevents:\n${events.join('\n')}\ninstances:\n${st.join('\n')}`);
    });
    await poll('both hosts networked', async () => {
      for (const h of fleet.hosts) if (!(await eventsFor(store, 'Host', h.name)).some((e) => e.reason === 'NetworkReady')) return undefined;
      return true;
    });
    expect((await store.events.items()).filter((e) => ['NetworkSyncFailed', 'NetworkUnavailable', 'NetworkCheckFailed'].includes(e.reason)).map((e) => e.message)).toEqual([]);
    const [h1, h2] = fleet.hosts.map((h) => h.name) as [string, string];
    const prod = await instances('env=prod');
    client = prod.find((i) => i.spec.host === h1)!;
    const server2 = prod.find((i) => i.spec.host === h2)!;
    expect(client).toBeDefined();
    expect(server2).toBeDefined();
    // each pod's address is in its host's subnet
    for (const i of await instances('app=web')) {
      const subnet = (await store.hosts.get(i.spec.host))!.status!.podSubnet!;
      expect(i.status!.podIP!.split('.').slice(0, 3).join('.'), i.metadata.name).toBe(subnet.split('.').slice(0, 3).join('.'));
    }
    // the pod IP of the container on host 2, from inside the container on host 1 (host-gw routes)
    const direct = await poll('the pod IP on host 2', async () => {
      const r = await requests(client, `${server2.status!.podIP}:${server2.status!.ports.http}`, 3);
      return r.failed === 0 ? r : undefined;
    }, 60_000);
    expect([...direct.answers.keys()]).toEqual([server2.metadata.name]);
    // web.flotilla.local: the VIP, answering from both hosts' instances
    const web = (await store.services.get('web'))!.status!;
    expect(web.endpoints.map((e) => e.address).sort()).toEqual(prod.map((i) => i.status!.podIP!).sort());
    await poll('web.flotilla.local → the VIP', async () => ((await lookup(client, 'web.flotilla.local')).toString() === web.clusterIP ? true : undefined), 60_000);
    expect(await lookup(client, 'example.com')).toEqual([web.clusterIP]);
    let seen = '';
    const spread = await poll('both instances through web.flotilla.local', async () => {
      const r = await requests(client, 'web.flotilla.local', 30);
      seen = JSON.stringify([...r.answers]);
      return r.failed === 0 && r.answers.size === 2 ? r : undefined;
    }, 90_000).catch((e: unknown) => {
      throw new Error(`${String(e)}: last ${seen}`);
    });
    expect([...spread.answers.keys()].sort()).toEqual(prod.map((i) => i.metadata.name).sort());
    // beta.example.com: the test and the prod instances
    const beta = (await store.services.get('beta'))!.status!;
    expect(await lookup(client, 'beta.example.com')).toEqual([beta.clusterIP]);
    const all = (await instances('app=web')).map((i) => i.metadata.name).sort();
    const betaSpread = await poll('all three through beta.example.com', async () => {
      const r = await requests(client, 'beta.example.com', 45);
      seen = JSON.stringify([...r.answers]);
      return r.failed === 0 && r.answers.size === 3 ? r : undefined;
    }, 90_000).catch((e: unknown) => {
      throw new Error(`${String(e)}: last ${seen}`);
    });
    expect([...betaSpread.answers.keys()].sort()).toEqual(all);
    // <instance>.<service>.<domain>: the pod's own address
    expect(await lookup(client, `${server2.metadata.name}.web.flotilla.local`)).toEqual([server2.status!.podIP]);
    expect(await lookup(client, 'nothing.flotilla.local')).toBe('NXDOMAIN');
    // hairpin: the test pod through its own service's VIP (it is the only endpoint)
    const [testPod] = await instances('env=test');
    const self = await requests(testPod!, 'test.flotilla.local', 10);
    expect(self).toEqual({ answers: new Map([[testPod!.metadata.name, 10]]), failed: 0 });
    // host 2's pods were added with the plugins of its cniBinDir (saved with their CNI state), and are checked with them; host 1's were not
    for (const i of await instances('app=web')) {
      const mine = i.spec.host === h2;
      expect(calls('a').includes(`bridge ADD ${i.metadata.name}`), `${i.metadata.name} on ${i.spec.host}: ${calls('a').join(', ')}`).toBe(mine);
      if (mine) expect(readFileSync(join(fleet.hosts[1]!.home, `.flotilla/cni/flotilla/${i.metadata.name}-eth0/bindir`), 'utf8')).toBe(join(cni, 'a'));
    }
    await poll("a CNI CHECK of host 2's pod with its plugins", () => Promise.resolve(calls('a').includes(`bridge CHECK ${server2.metadata.name}`) ? true : undefined), 60_000);
  });

  it('after killing an instance, the VIP never sends to it once it is not ready; its name leaves DNS', async () => {
    const [, h2] = fleet.hosts.map((h) => h.name) as [string, string];
    const victim = (await instances('env=prod')).find((i) => i.spec.host === h2)!;
    const host2 = hosts.find((h) => h.metadata.name === h2)!;
    await runtime.connection(host2).run(`sudo -n kill -9 ${Number(victim.status!.pid)}`, { hide: true });
    await poll('the victim not ready', async () => ((await store.instances.get(victim.metadata.name))?.status?.ready === true ? undefined : true), 60_000);
    // from here on it is no endpoint; once the rules have caught up, no request reaches it, and none fails
    await poll('the VIP without it', async () => {
      const r = await requests(client, 'web.flotilla.local', 10);
      return r.failed === 0 && !r.answers.has(victim.metadata.name) ? true : undefined;
    }, 60_000);
    const after = await requests(client, 'web.flotilla.local', 30);
    expect(after.failed).toBe(0);
    expect(after.answers.has(victim.metadata.name)).toBe(false);
    await poll('its name gone from DNS', async () => ((await lookup(client, `${victim.metadata.name}.web.flotilla.local`)) === 'NXDOMAIN' ? true : undefined), 30_000);
    // the ReplicaSet replaces it (restartPolicy: Never): a new pod on host 2, reachable through the VIP
    await poll('replaced', async () => {
      const prod = await instances('env=prod');
      return (await convergence(store)).done && prod.length === 2 && !prod.some((i) => i.metadata.name === victim.metadata.name) && prod.every((i) => i.status?.ready === true) ? true : undefined;
    });
    await poll('the new pod through the VIP', async () => {
      const r = await requests(client, 'web.flotilla.local', 20);
      return r.failed === 0 && r.answers.size === 2 ? true : undefined;
    }, 60_000);
  });

  it('host 2 away: its route and pods leave host 1; back: its evicted instance is stopped with CNI DEL and its stale rules replaced', async () => {
    const [h1, h2] = fleet.hosts.map((h) => h.name) as [string, string];
    const host1 = hosts.find((h) => h.metadata.name === h1)!;
    let host2 = hosts.find((h) => h.metadata.name === h2)!;
    const address2 = fleet.hosts[1]!.address;
    const subnet2 = (await store.hosts.get(h2))!.status!.podSubnet!;
    const away = (await instances('app=web')).filter((i) => i.spec.host === h2);
    expect(away.length).toBeGreaterThan(0);
    const ipam = (i: Instance): string => join(fleet.hosts[1]!.home, '.flotilla/cni/ipam/flotilla', i.status!.podIP!);
    for (const i of away) expect(existsSync(ipam(i)), ipam(i)).toBe(true);
    const routes1 = async (): Promise<string> => (await runtime.connection(host1).run('ip -4 route', { hide: true })).stdout;
    expect(await routes1()).toContain(`${subnet2} via ${address2}`);
    const frozen = fleet.freeze(h2, { sessions: true, listener: true });
    try {
      // meanwhile host 2's plugins move: its pods added before must still be deleted with the plugins that added them
      host2 = (await store.hosts.mutate(h2, (h) => {
        h.spec.cniBinDir = join(cni, 'b');
        return h;
      }))!;
      // (the test reaches host 2 as the controllers do now: the runtime keeps one connection per host and spec)
      hosts = hosts.map((h) => (h.metadata.name === h2 ? host2 : h));
      await poll('host 2 NotReady', async () => ((await store.hosts.get(h2))?.status?.ready === false ? true : undefined), 120_000);
      await poll('host 2 gone from host 1', async () => {
        const rules = (await readServiceRules(runtime.connection(host1))).text;
        return !(await routes1()).includes(subnet2) && away.every((i) => !rules.includes(i.status!.podIP!)) ? true : undefined;
      }, 30_000);
      const r = await requests(client, 'web.flotilla.local', 20);
      expect(r).toEqual({ answers: new Map([[client.metadata.name, 20]]), failed: 0 });
      // evicted: Terminating until host 2 answers
      await poll('evicted', async () => (await Promise.all(away.map((i) => store.instances.get(i.metadata.name)))).every((i) => i?.metadata.deletionTimestamp !== undefined) ? true : undefined, 60_000);
    } finally {
      frozen.thaw();
    }
    await poll('host 2 back, its evicted instances stopped', async () => ((await store.hosts.get(h2))?.status?.ready === true && (await Promise.all(away.map((i) => store.instances.get(i.metadata.name)))).every((i) => i === undefined) ? true : undefined), 180_000);
    // CNI DEL ran from the state ADD saved: addresses released, namespaces gone
    for (const i of away) expect(existsSync(ipam(i)), ipam(i)).toBe(false);
    for (const i of away) {
      expect(calls('a'), i.metadata.name).toContain(`bridge DEL ${i.metadata.name}`);
      expect(calls('b').filter((l) => l.endsWith(` ${i.metadata.name}`)), i.metadata.name).toEqual([]);
    }
    const netns = (await runtime.connection(host2).run('ls /run/netns', { hide: true })).stdout;
    for (const i of away) expect(netns).not.toContain(`flo-${i.metadata.name}`);
    // host 2's stale rules (its own evicted pods) are replaced by the current endpoints; host 1 routes to it again
    await poll('host 2 rules current, host 1 routes to it', async () => {
      const rules = (await readServiceRules(runtime.connection(host2))).text;
      const endpoints = (await store.services.get('web'))!.status!.endpoints;
      return away.every((i) => !rules.includes(`${i.status!.podIP!} `) && !rules.includes(`${i.status!.podIP!}:`)) && endpoints.every((e) => rules.includes(e.address)) && (await routes1()).includes(`${subnet2} via ${address2}`) ? true : undefined;
    }, 60_000);
  });
});

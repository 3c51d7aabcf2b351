// Issue 14's cluster side on a fleet of network-namespace hosts (each host its own network
// namespace, sshd and passwordless sudo; @flotilla/deploy/testing's netns fleet): a Network,
// process instances of the sample app on both hosts, a Service with a virtual IP and a
// hostname; the controllers (DeployRuntime, so the DeployNetworkDriver) lease subnets, write
// routes, nft DNAT rules and DNS records on every host and run the resolver there. From host 1:
// the VIP answers from both hosts' instances; web.flotilla.local and example.com resolve to it
// on the host's bridge address; an instance that is deleted stops getting requests through
// the VIP; the root namespace is as before afterwards. Needs root, ip, nft, curl, the CNI
// plugins; skips loudly otherwise, required with CI=true.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@flotilla/deploy';
import { fleetAvailability, startFleet, type Fleet } from '@flotilla/deploy/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterControllers, DeployRuntime, applyManifests, convergence, deleteObject, eventsFor, loadManifests, openStore, type ClusterStore } from '../../src/index.js';
import { NETWORK_DEMO_SERVICES, networkDemoNetwork, writeSampleArtifact } from '../../src/demo/index.js';

const avail = fleetAvailability({ netns: true });
const haveTools = ['nft', 'curl'].every((t) => {
  try {
    execFileSync('sh', ['-c', `command -v ${t} || [ -x /usr/sbin/${t} ]`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
const why = !avail.ok ? avail.reason : !haveTools ? 'nft or curl missing' : undefined;
if (why !== undefined && process.env.CI === 'true') throw new Error(`CI=true but the network e2e cannot run: ${why}`);
if (why !== undefined) process.stderr.write(`\n*** SKIPPING cluster network e2e: ${why} ***\n\n`);

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

/** `n` requests from the host of `c`: which instance answered each (the sample app says), and how many failed. */
async function requests(c: Connection, url: string, n: number): Promise<{ answers: Map<string, number>; failed: number }> {
  const r = await c.run(`for i in $(seq ${n}); do curl -s --max-time 2 ${url} || printf FAIL; echo; done`, { hide: true });
  const answers = new Map<string, number>();
  let failed = 0;
  // the sample app ends its answer with a newline, and the loop adds one: empty lines are not requests
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  for (const line of lines) {
    const m = / from (\S+) /.exec(line);
    if (!m) failed++;
    else answers.set(m[1]!, (answers.get(m[1]!) ?? 0) + 1);
  }
  expect(lines).toHaveLength(n);
  return { answers, failed };
}

describe.runIf(why === undefined)('a Network on network-namespace hosts: VIP, DNS, endpoints leaving', { timeout: 600_000 }, () => {
  let fleet: Fleet;
  let before: string;
  let work: string;
  let store: ClusterStore;
  let runtime: DeployRuntime;
  let abort: AbortController;
  let running: Promise<void> | undefined;
  let c1: Connection;

  beforeAll(async () => {
    before = rootNetworkState();
    fleet = await startFleet({ size: 2, subnet: 95, userPrefix: 'fltnc', namePrefix: 'nc', netns: true, sudo: 'nopasswd' });
    work = mkdtempSync(join(tmpdir(), 'flotilla-net-e2e-'));
    await writeSampleArtifact(work);
    store = await openStore(`file://${join(work, 'store')}`, { artifactDir: join(work, 'artifacts') });
    const hosts = fleet.hosts.map((h) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${h.name}}\nspec: {address: ${h.name}, capacity: {cpu: 2, memory: 2Gi}}\n`).join('---\n');
    const app = `${networkDemoNetwork()}---
apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 2
  selector: "app=web,env=prod"
  placement: spread
  template:
    metadata: {labels: {app: web, env: prod}}
    spec:
      artifact: ./sample-app.tar.gz
      command: [node, server.js]
      ports: [{name: http}]
      resources: {cpu: 500m, memory: 64Mi}
      antiAffinity: {labelSelector: {app: web}, topologyKey: kubernetes.io/hostname}
      healthCheck: {http: {path: /healthz, port: http}, periodSeconds: 1}
---
${NETWORK_DEMO_SERVICES.web}`;
    await applyManifests(store, loadManifests([{ text: hosts }, { text: app }]), { baseDirs: [work, work, work, work, work] });
    runtime = new DeployRuntime({ sshConfigFiles: [fleet.sshConfigFile] });
    const controllers = new ClusterControllers({ store, runtime, hostProbeIntervalMs: 1000, hostGracePeriodMs: 60_000 });
    abort = new AbortController();
    running = controllers.run(abort.signal);
    c1 = Connection.ssh(fleet.hosts[0]!.name, { sshConfigFiles: [fleet.sshConfigFile] });
  }, 300_000);

  afterAll(async () => {
    abort?.abort();
    await running;
    await c1?.close();
    await runtime?.close();
    await store?.close();
    await fleet?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
    if (fleet) expect(rootNetworkState()).toBe(before);
  });

  it('the VIP answers from both hosts; the names resolve on the bridge address; a deleted instance gets no more requests', async () => {
    await poll('converged', async () => ((await convergence(store)).done ? true : undefined));
    const vip = await poll('a VIP', async () => (await store.services.get('web'))?.status?.clusterIP);
    await poll('both hosts networked', async () => {
      for (const h of fleet.hosts) if (!(await eventsFor(store, 'Host', h.name)).some((e) => e.reason === 'NetworkReady')) return undefined;
      return true;
    });
    const failures = (await store.events.items()).filter((e) => e.reason === 'NetworkSyncFailed' || e.reason === 'NetworkUnavailable');
    expect(failures.map((e) => e.message)).toEqual([]);
    const instances = (await store.instances.items()).map((i) => i.metadata.name).sort();
    expect(instances).toHaveLength(2);
    // through the VIP, from host 1: both instances answer (one on each host)
    let seen = '';
    const spread = await poll('both instances through the VIP', async () => {
      const r = await requests(c1, `http://${vip}:80/`, 30);
      seen = `${JSON.stringify([...r.answers])}, ${r.failed} failed`;
      return r.failed === 0 && r.answers.size === 2 ? r : undefined;
    }, 60_000).catch((e: unknown) => {
      throw new Error(`${String(e)}: last ${seen}`);
    });
    expect([...spread.answers.keys()].sort()).toEqual(instances);
    // DNS on the host's bridge address
    const subnet = (await store.hosts.get(fleet.hosts[0]!.name))!.status!.podSubnet!;
    const bridge = subnet.replace(/0\/24$/, '1');
    const resolve = async (name: string): Promise<string> =>
      (await c1.run(`node -e "const r=new (require('dns').promises.Resolver)();r.setServers(['${bridge}']);r.resolve4('${name}').then(a=>console.log(a.join(',')),e=>console.log(e.code))"`, { hide: true })).stdout.trim();
    await poll('the resolver answers', async () => ((await resolve('web.flotilla.local')) === vip ? true : undefined), 60_000);
    expect(await resolve('example.com')).toBe(vip);
    expect(await resolve('nothing.flotilla.local')).toBe('ENOTFOUND');
    const [gone] = instances;
    const endpoint = (await store.services.get('web'))!.status!.endpoints.find((e) => e.instance === gone)!;
    expect(await resolve(`${gone}.web.flotilla.local`)).toBe(endpoint.address);
    // an instance deleted: once it is not an endpoint, the VIP never sends to it
    await deleteObject(store, 'Instance', gone!);
    await poll('the endpoint gone', async () => ((await store.services.get('web'))!.status!.endpoints.some((e) => e.instance === gone) ? undefined : true));
    await poll('the rules without it', async () => {
      const r = await requests(c1, `http://${vip}:80/`, 10);
      return r.failed === 0 && !r.answers.has(gone!) ? true : undefined;
    }, 30_000);
    const after = await requests(c1, `http://${vip}:80/`, 30);
    expect(after.answers.has(gone!)).toBe(false);
    expect(after.failed).toBe(0);
  });
});

// The talk's services on a cluster with a Network (fake clock, fake runtime, all controllers):
// example.com selects env=prod,app=web; beta.example.com selects env=test,app=web OR
// env=prod,app=web. Hosts lease subnets, services with ports lease virtual IPs, endpoints
// record the selector that matched them, and deleting things releases their leases.
import { afterEach, describe, expect, it } from 'vitest';
import { SUBNET_LEASE_PREFIX, CLUSTER_IP_LEASE_PREFIX, parseManifests, viewHosts, viewServices, type ReplicaSet } from '../../src/index.js';
import { NETWORK_DEMO_SERVICES, networkDemoNetwork } from '../../src/demo/index.js';
import { FakeNetworkDriver } from '../../src/testing/index.js';
import { hostsYaml, startHarness, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const network = networkDemoNetwork();
const web = (env: string, replicas: number): string => `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web-${env}}
spec:
  replicas: ${replicas}
  selector: "app=web,env=${env}"
  template:
    metadata: {labels: {app: web, env: ${env}}}
    spec:
      command: [node, server.js]
      ports: [{name: http}]
      resources: {cpu: 500m, memory: 256Mi}
      healthCheck: {http: {path: /healthz, port: http}, periodSeconds: 1, failureThreshold: 2}
`;
// the talk's three services (README example): the network demo's two, and one by port name
const services = `${NETWORK_DEMO_SERVICES.web}---
${NETWORK_DEMO_SERVICES.beta}---
apiVersion: flotilla.dev/v1
kind: Service
metadata: {name: test}
spec:
  selector: "env=test,app=web"
  port: http
`;

describe('network controller: leases; services: selectors (OR), ports, hostnames', () => {
  it("the talk's services: VIPs from serviceCIDR, endpoints with the selector that matched, subnets per host", async () => {
    h = await startHarness();
    await h.apply(`${hostsYaml(2)}---\n${network}`);
    await h.apply(`${web('prod', 2)}---\n${web('test', 1)}---\n${services}`);
    await h.until('endpoints', async () => {
      const v = await viewServices(h!.store);
      return v.find((s) => s.name === 'beta')?.endpoints.length === 3 && v.find((s) => s.name === 'web')?.endpoints.length === 2 && v.every((s) => s.name === 'test' || s.clusterIP !== undefined);
    });
    const hosts = await viewHosts(h.store);
    expect(hosts.map((x) => x.podSubnet).sort()).toEqual(['10.244.0.0/24', '10.244.1.0/24']);
    const views = Object.fromEntries((await viewServices(h.store)).map((v) => [v.name, v]));
    expect(new Set([views.web!.clusterIP, views.beta!.clusterIP])).toEqual(new Set(['10.96.0.1', '10.96.0.2']));
    expect(views.test!.clusterIP).toBeUndefined(); // port: (no ports:) has endpoints, no VIP
    expect(views.beta!.selector).toBe('env=test,app=web OR env=prod,app=web');
    expect(views.beta!.hostnames).toEqual(['beta.example.com']);
    expect(views.web!.ports).toEqual(['80→http']);
    const instances = await h.store.instances.items();
    const envOf = new Map(instances.map((i) => [i.metadata.name, i.metadata.labels!.env]));
    for (const e of views.beta!.endpoints) {
      expect(e.selector).toBe(envOf.get(e.instance) === 'test' ? 'env=test,app=web' : 'env=prod,app=web');
      const inst = instances.find((i) => i.metadata.name === e.instance)!;
      expect(e.ports).toEqual({ http: inst.status!.ports.http });
      expect(e.port).toBe(inst.status!.ports.http);
      expect(e.host).toBe(inst.spec.host);
    }
    expect(views.web!.endpoints.map((e) => envOf.get(e.instance))).toEqual(['prod', 'prod']);
    expect(views.test!.endpoints.map((e) => e.instance)).toEqual(instances.filter((i) => i.metadata.labels!.env === 'test').map((i) => i.metadata.name));
    expect((await h.store.networks.get('default'))!.status).toEqual({ leases: 2, capacity: 256 });
    // a not-ready instance is not an endpoint of either service
    const prod = instances.find((i) => i.metadata.labels!.env === 'prod')!;
    h.runtime.processes().find((p) => p.name === prod.metadata.name)!.healthy = false;
    await h.until('prod instance leaves both', async () => {
      const v = Object.fromEntries((await viewServices(h!.store)).map((s) => [s.name, s]));
      return !v.web!.endpoints.some((e) => e.instance === prod.metadata.name) && !v.beta!.endpoints.some((e) => e.instance === prod.metadata.name);
    });
    // deleting a service and a host releases their leases
    await h.store.services.delete('web');
    await h.apply(web('prod', 0));
    await h.apply(web('test', 0));
    await h.until('instances gone', async () => (await h!.store.instances.items()).length === 0);
    await h.store.hosts.delete('h2');
    await h.until('leases released', async () => (await h!.store.kv.range(SUBNET_LEASE_PREFIX)).items.length === 1 && (await h!.store.kv.range(CLUSTER_IP_LEASE_PREFIX)).items.length === 1);
    // and without the Network, every lease goes and status forgets them
    await h.store.networks.delete('default');
    await h.until('all released', async () => (await h!.store.kv.range('/flotilla/v1/subnets/')).items.length === 0 && (await h!.store.kv.range(CLUSTER_IP_LEASE_PREFIX)).items.length === 0);
    expect((await h.store.hosts.get('h1'))!.status?.podSubnet).toBeUndefined();
    expect((await h.store.services.get('beta'))!.status?.clusterIP).toBeUndefined();
  });
});

describe('network controller: drives every Ready host (fake driver, fake clock)', () => {
  it('routes, VIP rules and DNS on each host; a NotReady host leaves routes and VIPs within 2 s; when it returns its state is replaced in full; a host without tools is refused', async () => {
    const driver = new FakeNetworkDriver();
    driver.missing.set('h3', ['nft or iptables (apt-get install -y nftables)']);
    h = await startHarness({ networkDriver: driver, hostGracePeriodMs: 3000 });
    await h.apply(`${hostsYaml(3)}---\n${network}`);
    await h.until('hosts ready', async () => (await h!.store.hosts.items()).every((x) => x.status?.ready === true));
    await h.apply(`${web('prod', 4)}---\n${services.split('---')[0]!}`);
    const subnetOf = async (name: string): Promise<string> => (await h!.store.hosts.get(name))!.status!.podSubnet!;
    const endpointsOn = (host: string): string[] => (driver.stateOf(host)?.services.find((v) => v.name === 'web/http')?.endpoints ?? []).map((e) => `${e.ip}:${e.port}`).sort();
    const readyEndpoints = async (): Promise<string[]> => ((await h!.store.services.get('web'))?.status?.endpoints ?? []).map((e) => `${e.address}:${e.port}`).sort();
    await h.until('h1 and h2 planned with 4 endpoints', async () => (await readyEndpoints()).length === 4 && endpointsOn('h1').length === 4 && endpointsOn('h2').length === 4 && driver.stateOf('h1')?.routes.length === 2);
    // h3 lacks its tools: refused (event, Network status), never applied; still a route target of the others? no: only hosts that can network are routed to
    expect(driver.stateOf('h3')).toBeUndefined();
    expect((await h.store.networks.get('default'))!.status!.refused).toEqual({ h3: 'h3 cannot join the Network: it lacks nft or iptables (apt-get install -y nftables)' });
    expect((await h.store.events.items()).some((e) => e.involved.name === 'h3' && e.reason === 'NetworkUnavailable')).toBe(true);
    const plan1 = driver.stateOf('h1')!;
    expect(plan1.bridgeAddress).toBe(`${(await subnetOf('h1')).replace(/0\/24$/, '1')}`);
    expect(plan1.routes).toEqual([
      { subnet: await subnetOf('h2'), via: '127.0.0.12' },
      { subnet: await subnetOf('h3'), via: '127.0.0.13' },
    ]);
    const vip = (await h.store.services.get('web'))!.status!.clusterIP!;
    expect(plan1.dns.records['web.flotilla.local']).toEqual([vip]);
    expect(plan1.dns.records['example.com']).toEqual([vip]);
    expect(endpointsOn('h1')).toEqual(await readyEndpoints());
    // h2 stops answering: once NotReady, its route leaves h1 and its endpoints leave the VIP, within 2 s (fake time) of the status write
    const h2Instances = (await h.store.instances.items()).filter((i) => i.spec.host === 'h2');
    const onH2 = h2Instances.map((i) => `127.0.0.12:${i.status!.ports.http}`);
    expect(onH2.length).toBeGreaterThan(0);
    h.runtime.down.add('h2');
    await h.until('h2 NotReady', async () => (await h!.store.hosts.get('h2'))!.status!.ready === false);
    const took = await h.until('h2 gone from h1', () => driver.stateOf('h1')!.routes.every((r) => r.via !== '127.0.0.12') && !endpointsOn('h1').some((e) => onH2.includes(e)));
    expect(took).toBeLessThanOrEqual(2000);
    for (const i of h2Instances) expect(Object.keys(driver.stateOf('h1')!.dns.records)).not.toContain(`${i.metadata.name}.web.flotilla.local`);
    // h2 returns: the whole plan is applied to it again (stale rules replaced), and h1 routes to it again
    const appliedBefore = driver.history.filter((x) => x.host === 'h2').length;
    h.runtime.down.delete('h2');
    await h.until('h2 back', async () => (await h!.store.hosts.get('h2'))!.status!.ready === true && driver.history.filter((x) => x.host === 'h2').length > appliedBefore && driver.stateOf('h1')!.routes.some((r) => r.via === '127.0.0.12'));
    const replanned = driver.stateOf('h2')!;
    expect(replanned.routes.map((r) => r.via)).toEqual(['127.0.0.11', '127.0.0.13']);
    expect(endpointsOn('h2')).toEqual(await readyEndpoints());
    // h3 gets its tools: checked again once it is retried, then planned
    driver.missing.delete('h3');
    await h.until('h3 planned', () => driver.stateOf('h3') !== undefined, 60_000);
    expect((await h.store.networks.get('default'))!.status!.refused).toBeUndefined();
  });
});

describe('network controller: one host per runner', () => {
  it('a host whose apply hangs delays no other host: an endpoint change reaches h1 within 2 s; only changes are sent until the resync', async () => {
    const driver = new FakeNetworkDriver();
    h = await startHarness({ networkDriver: driver });
    await h.apply(`${hostsYaml(2)}---\n${network}`);
    await h.apply(`${web('prod', 2)}---\n${services.split('---')[0]!}`);
    const endpointsOn = (host: string): number => driver.stateOf(host)?.services.find((v) => v.name === 'web/http')?.endpoints.length ?? -1;
    await h.until('both planned with 2 endpoints', () => endpointsOn('h1') === 2 && endpointsOn('h2') === 2);
    expect(driver.history.find((x) => x.host === 'h1')!.full).toBe(true);
    driver.hanging.add('h2');
    await h.apply(web('prod', 3));
    const took = await h.until('h1 has the third endpoint', () => endpointsOn('h1') === 3);
    expect(took).toBeLessThanOrEqual(2000);
    expect(endpointsOn('h2')).toBe(2);
    expect(driver.history.filter((x) => x.host === 'h1').at(-1)!.full).toBe(false);
    // h2's apply times out; its runner retries with the newest plan
    driver.release();
    await h.until('h2 has the third endpoint', () => endpointsOn('h2') === 3);
    expect(driver.history.filter((x) => x.host === 'h2').at(-1)!.full).toBe(true); // after a failure: everything again
  });
});

describe('pod networking: containers get a pod IP on their host subnet (fake runtime)', () => {
  const pods = `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web-pods}
spec:
  replicas: 3
  selector: "app=web,env=prod"
  template:
    metadata: {labels: {app: web, env: prod}}
    spec:
      image: oci-archive:./web.oci.tar
      ports: [{name: http}]
      resources: {cpu: 500m, memory: 256Mi}
`;

  /** Stores the ReplicaSet as apply would after storing its image (the fake runtime runs any digest). */
  async function applyPods(replicas: number): Promise<void> {
    const r = parseManifests(pods.replace('replicas: 3', `replicas: ${replicas}`));
    expect(r.issues).toEqual([]);
    const rs = r.objects[0] as ReplicaSet;
    rs.spec.template.spec.image = { ref: 'web:1', digest: `sha256:${'a'.repeat(64)}`, store: 'fake' };
    await h!.store.replicaSets.create(rs);
  }

  it('podIP in the instance status; endpoints and VIP rules use podIP:targetPort; a failed CNI CHECK takes the pod out of the VIP until it passes', async () => {
    const driver = new FakeNetworkDriver();
    h = await startHarness({ networkDriver: driver });
    await h.apply(`${hostsYaml(2)}---\n${network}`);
    await h.until('subnets leased', async () => (await h!.store.hosts.items()).every((x) => x.status?.podSubnet !== undefined && x.status.ready === true));
    await applyPods(3);
    await h.apply(services.split('---')[0]!);
    await h.until('3 endpoints', async () => ((await h!.store.services.get('web'))?.status?.endpoints.length ?? 0) === 3);
    const instances = await h.store.instances.items();
    const subnets = new Map((await h.store.hosts.items()).map((x) => [x.metadata.name, x.status!.podSubnet!]));
    for (const i of instances) {
      const subnet = subnets.get(i.spec.host)!;
      expect(i.status!.podIP, i.metadata.name).toMatch(new RegExp(`^${subnet.replace(/\.0\/24$/, '').replace(/\./g, '\\.')}\\.\\d+$`));
      expect(i.status!.podIP).not.toBe(subnet.replace(/0\/24$/, '1')); // the gateway is the bridge's
    }
    const endpoints = (await h.store.services.get('web'))!.status!.endpoints;
    expect(endpoints.map((e) => `${e.address}:${e.port}`).sort()).toEqual(instances.map((i) => `${i.status!.podIP}:${i.status!.ports.http}`).sort());
    const onHost = (host: string): string[] => (driver.stateOf(host)?.services.find((v) => v.name === 'web/http')?.endpoints ?? []).map((e) => `${e.ip}:${e.port}`).sort();
    await h.until('VIP rules with pod IPs', () => onHost('h1').length === 3);
    expect(onHost('h1')).toEqual(endpoints.map((e) => `${e.address}:${e.port}`).sort());
    expect(driver.stateOf('h1')!.hairpin).toBe(true);
    // the pod's DNS name is its pod IP
    const one = instances[0]!;
    expect(driver.stateOf('h2')!.dns.records[`${one.metadata.name}.web.flotilla.local`]).toEqual([one.status!.podIP]);
    // CHECK finds the pod's network broken: not ready, out of the VIP and DNS, an event; back when it passes
    const proc = h.runtime.processes().find((p) => p.name === one.metadata.name)!;
    proc.networkProblem = 'CNI CHECK failed: veth gone';
    await h.until('out of the VIP', () => onHost('h1').length === 2 && !onHost('h1').includes(`${one.status!.podIP}:${one.status!.ports.http}`));
    expect(driver.stateOf('h1')!.dns.records[`${one.metadata.name}.web.flotilla.local`]).toBeUndefined();
    expect((await h.store.instances.get(one.metadata.name))!.status).toMatchObject({ ready: false, message: 'CNI CHECK failed: veth gone' });
    expect((await h.store.events.items()).filter((e) => e.involved.name === one.metadata.name && e.reason === 'NetworkCheckFailed')).toHaveLength(1);
    delete proc.networkProblem;
    await h.until('back in the VIP', () => onHost('h1').length === 3);
    expect((await h.store.instances.get(one.metadata.name))!.status!.message).toBeUndefined();
  });

  it('with a Network a container gets a pod IP of its host subnet; without one it has none', async () => {
    h = await startHarness();
    await h.apply(hostsYaml(1));
    await h.until('host ready', async () => (await h!.store.hosts.get('h1'))?.status?.ready === true);
    await h.apply(network);
    await applyPods(1);
    await h.until('running with a pod IP', async () => (await h!.store.instances.items()).some((i) => i.status?.podIP?.startsWith('10.244.0.') === true));
    // no Network: a container shares its host's network (no pod IP)
    await h.stop();
    h = await startHarness();
    await h.apply(hostsYaml(1));
    await applyPods(1);
    await h.until('running', async () => (await h!.store.instances.items()).some((i) => i.status?.phase === 'Running'));
    expect((await h.store.instances.items())[0]!.status!.podIP).toBeUndefined();
  });
});

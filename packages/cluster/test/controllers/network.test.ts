// The talk's services on a cluster with a Network (fake clock, fake runtime, all controllers):
// example.com selects env=prod,app=web; beta.example.com selects env=test,app=web OR
// env=prod,app=web. Hosts lease subnets, services with ports lease virtual IPs, endpoints
// record the selector that matched them, and deleting things releases their leases.
import { afterEach, describe, expect, it } from 'vitest';
import { SUBNET_LEASE_PREFIX, CLUSTER_IP_LEASE_PREFIX, viewHosts, viewServices } from '../../src/index.js';
import { hostsYaml, startHarness, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const network = `apiVersion: flotilla.dev/v1
kind: Network
metadata: {name: default}
spec: {podCIDR: 10.244.0.0/16, hostSubnetPrefix: 24, serviceCIDR: 10.96.0.0/16, domain: flotilla.local, backend: host-gw}
`;
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
      healthCheck: {http: {path: /healthz, port: http}, periodSeconds: 1, failureThreshold: 2}
`;
// the talk's three services (README example)
const services = `apiVersion: flotilla.dev/v1
kind: Service
metadata: {name: web}
spec:
  selector: "env=prod,app=web"
  ports: [{name: http, port: 80, targetPort: http}]
  hostnames: [example.com]
---
apiVersion: flotilla.dev/v1
kind: Service
metadata: {name: beta}
spec:
  selector: ["env=test,app=web", "env=prod,app=web"]
  ports: [{name: http, port: 80, targetPort: http}]
  hostnames: [beta.example.com]
---
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

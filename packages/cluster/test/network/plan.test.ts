// planHostNetworks, the pure core of the network controller: what each Ready host's routes,
// VIP rules and DNS records should be.
import { describe, expect, it } from 'vitest';
import { planHostNetworks, type Host, type NetworkSpec, type Service } from '../../src/index.js';

const NET: NetworkSpec = { podCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/16' };
const host = (name: string, address: string, podSubnet: string | undefined, ready = true): Host => ({
  apiVersion: 'flotilla.dev/v1',
  kind: 'Host',
  metadata: { name },
  spec: { address },
  status: { ready, ...(podSubnet ? { podSubnet } : {}) },
});
const web = (endpoints: { instance: string; address: string; host: string; port: number }[]): Service => ({
  apiVersion: 'flotilla.dev/v1',
  kind: 'Service',
  metadata: { name: 'web' },
  spec: { selector: 'app=web', ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
  status: { clusterIP: '10.96.0.1', endpoints: endpoints.map((e) => ({ ...e, ports: { http: e.port } })) },
});

describe('planHostNetworks', () => {
  it('routes to the other Ready hosts, endpoints on Ready hosts only, no hairpin for process endpoints, hosts without a subnet or NotReady left out', () => {
    const hosts = [host('a', '192.0.2.1', '10.244.0.0/24'), host('b', '192.0.2.2', '10.244.1.0/24'), host('c', '192.0.2.3', '10.244.2.0/24', false), host('d', '192.0.2.4', undefined)];
    const svc = web([
      { instance: 'web-1', address: '192.0.2.1', host: 'a', port: 31000 },
      { instance: 'web-2', address: '192.0.2.3', host: 'c', port: 31001 },
    ]);
    const { plans, problems } = planHostNetworks(NET, hosts, [svc], (h) => h.spec.address!);
    expect(problems).toEqual([]);
    expect(plans.map((p) => [p.host, p.bridgeAddress, p.routes, p.hairpin])).toEqual([
      ['a', '10.244.0.1', [{ subnet: '10.244.1.0/24', via: '192.0.2.2' }], false],
      ['b', '10.244.1.1', [{ subnet: '10.244.0.0/24', via: '192.0.2.1' }], false],
    ]);
    expect(plans[0]!.services).toEqual([{ name: 'web/http', vip: '10.96.0.1', port: 80, protocol: 'tcp', endpoints: [{ ip: '192.0.2.1', port: 31000 }] }]);
    expect(plans[0]!.dns.records).toEqual({ 'web-1.web.flotilla.local': ['192.0.2.1'], 'web.flotilla.local': ['10.96.0.1'] });
  });

  it('hairpin when an endpoint is a pod IP; a host whose address is no IPv4 address is a problem, not a route', () => {
    const svc = web([{ instance: 'web-1', address: '10.244.0.5', host: 'a', port: 8080 }]);
    const { plans, problems } = planHostNetworks(NET, [host('a', '192.0.2.1', '10.244.0.0/24'), host('b', 'b.example', '10.244.1.0/24')], [svc], (h) => h.spec.address!);
    expect(plans.map((p) => [p.host, p.hairpin, p.routes])).toEqual([['a', true, []]]);
    expect(problems).toEqual([{ host: 'b', message: 'host-gw routes go via a host\'s IPv4 address, and b\'s address is "b.example": set spec.address to its IPv4 address on the hosts\' network' }]);
  });
});

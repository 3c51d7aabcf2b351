// The Network kind and the Service's new fields: CIDR arithmetic (property tests against a
// reference on bit strings), validation of bad input with paths, and apply's checks across
// objects (a second Network, a changed block, too many hosts, a hostname two services claim)
// — each refused before anything is written.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ClusterStore,
  MemoryKvStore,
  applyManifests,
  containsCidr,
  formatCidr,
  isManifestError,
  nthSubnet,
  overlaps,
  parseCidr,
  parseManifests,
  subnetCount,
  validateManifest,
  viewNetworks,
  type Cidr,
  type Manifest,
} from '../../src/index.js';

const network = (spec: string, name = 'default'): string => `apiVersion: flotilla.dev/v1
kind: Network
metadata: {name: ${name}}
spec: ${spec}
`;
const host = (name: string): string => `apiVersion: flotilla.dev/v1
kind: Host
metadata: {name: ${name}}
spec: {address: 10.0.0.${name.length}}
`;
const messages = (yaml: string): string[] => parseManifests(yaml).issues.map((i) => `${i.path}: ${i.message}`);
const objects = (yaml: string): Manifest[] => {
  const r = parseManifests(yaml);
  expect(r.issues).toEqual([]);
  return r.objects;
};
const memoryStore = (): ClusterStore => new ClusterStore(new MemoryKvStore({ progressIntervalMs: 0 }));

// the reference: a block as the set of its 32-bit prefixes written as bit strings
const bits = (ip: number): string => ip.toString(2).padStart(32, '0');
const refContains = (outer: Cidr, inner: Cidr): boolean => inner.prefix >= outer.prefix && bits(inner.base).slice(0, outer.prefix) === bits(outer.base).slice(0, outer.prefix);
const arbCidr = fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 32 })).map(([ip, prefix]): Cidr => {
  const base = prefix === 0 ? 0 : Number.parseInt(bits(ip).slice(0, prefix).padEnd(32, '0'), 2);
  return { base, prefix };
});

describe('CIDR arithmetic', () => {
  it('parse → format round-trips, and containment and overlap agree with a bit-string reference', () => {
    fc.assert(
      fc.property(arbCidr, arbCidr, (a, b) => {
        expect(parseCidr(formatCidr(a))).toEqual(a);
        expect(containsCidr(a, b)).toBe(refContains(a, b));
        expect(overlaps(a, b)).toBe(refContains(a, b) || refContains(b, a));
      }),
      { numRuns: 2000 },
    );
  });

  it('the subnets of a block are disjoint, inside it, and as many as 2^(sub-prefix − prefix)', () => {
    fc.assert(
      fc.property(arbCidr.filter((c) => c.prefix >= 16), fc.integer({ min: 0, max: 8 }), (c, extra) => {
        const sub = Math.min(32, c.prefix + extra);
        const n = subnetCount(c, sub);
        expect(n).toBe(2 ** (sub - c.prefix));
        const picks = [0, n - 1, Math.floor(n / 2)].map((i) => nthSubnet(c, sub, i));
        for (const p of picks) expect(refContains(c, p)).toBe(true);
        if (n > 1) expect(overlaps(picks[0]!, picks[1]!)).toBe(false);
      }),
    );
    expect(() => nthSubnet(parseCidr('10.0.0.0/24') as Cidr, 25, 2)).toThrow(/subnet 2 is outside 10.0.0.0\/24 \(it has 2 \/25 subnets\)/);
  });

  it('invalid text says what is wrong and how it should look', () => {
    expect(parseCidr('10.244.0.0')).toMatch(/not a CIDR block: expected ADDRESS\/PREFIX, e.g. 10.244.0.0\/16/);
    expect(parseCidr('10.244.0.256/16')).toMatch(/"256" is not a number 0-255/);
    expect(parseCidr('10.244.0.0/33')).toMatch(/the prefix "33" is not a number 0-32/);
    expect(parseCidr('10.244.1.0/16')).toMatch(/has host bits set: the block is 10.244.0.0\/16/);
    expect(parseCidr('010.1.1.1/8')).toMatch(/not an IPv4 address/);
  });
});

describe('Network validation', () => {
  it('the DESIGN example is valid, and defaults are filled in the view', async () => {
    const store = memoryStore();
    await applyManifests(store, objects(network('{podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/16}')));
    expect(await viewNetworks(store)).toEqual([
      { name: 'default', podCIDR: '10.244.0.0/16', hostSubnetPrefix: 24, serviceCIDR: '10.96.0.0/16', domain: 'flotilla.local', backend: 'host-gw', leases: 0, capacity: 256 },
    ]);
  });

  it('bad input is refused with the field and the fix', () => {
    expect(messages(network('{podCIDR: 10.244.0.0, serviceCIDR: 10.96.0.0/16}'))).toEqual([
      'spec.podCIDR: "10.244.0.0" is not a CIDR block: expected ADDRESS/PREFIX, e.g. 10.244.0.0/16',
    ]);
    expect(messages(network('{podCIDR: 10.244.0.0/16, serviceCIDR: 10.244.128.0/20}'))).toEqual([
      'spec.serviceCIDR: 10.244.128.0/20 is inside podCIDR 10.244.0.0/16: virtual IPs must not be pod addresses — choose a block outside it (e.g. 10.96.0.0/16 with 10.244.0.0/16)',
    ]);
    expect(messages(network('{podCIDR: 10.244.0.0/16, serviceCIDR: 10.0.0.0/8}'))).toEqual([
      'spec.serviceCIDR: 10.0.0.0/8 overlaps podCIDR 10.244.0.0/16 (the pod block is inside it): choose two blocks that do not overlap (e.g. 10.244.0.0/16 and 10.96.0.0/16)',
    ]);
    expect(messages(network('{podCIDR: 10.244.0.0/24, hostSubnetPrefix: 16, serviceCIDR: 10.96.0.0/16}'))).toEqual([
      'spec.hostSubnetPrefix: a host subnet /16 is larger than podCIDR 10.244.0.0/24: give a hostSubnetPrefix of at least 24 (/24 gives one host)',
    ]);
    expect(messages(network('{podCIDR: 127.0.0.0/16, serviceCIDR: 10.96.0.0/16, backend: vxlan, domain: Bad_Domain}'))).toEqual([
      'spec.podCIDR: 127.0.0.0/16 overlaps loopback (127.0.0.0/8): choose a private block (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), e.g. 10.244.0.0/16',
      'spec.backend: "vxlan" is not one of: host-gw',
      'spec.domain: "Bad_Domain" is not a valid domain: lowercase letters, digits and \'-\' in dot-separated labels of at most 63 characters (e.g. beta.example.com)',
    ]);
    expect(messages(network('{podCIDR: 10.0.0.0/4, serviceCIDR: 10.96.0.0/16}'))).toEqual([
      'spec.podCIDR: "10.0.0.0/4" has host bits set: the block is 0.0.0.0/4',
    ]);
    expect(messages(network('{serviceCIDR: 10.96.0.0/16, extra: 1}'))).toEqual([
      'spec.extra: unknown field (expected one of: podCIDR, hostSubnetPrefix, serviceCIDR, domain, backend)',
      'spec.podCIDR: is required (e.g. 10.244.0.0/16)',
    ].sort((a, b) => (a < b ? 1 : -1)));
  });
});

describe('apply: checks across objects, before anything is written', () => {
  it('a second Network is refused, naming the one that exists', async () => {
    const store = memoryStore();
    await applyManifests(store, objects(network('{podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/16}')));
    const e = await applyManifests(store, objects(`${host('a')}---\n${network('{podCIDR: 10.245.0.0/16, serviceCIDR: 10.97.0.0/16}', 'other')}`)).catch((x: unknown) => x);
    expect(isManifestError(e) && e.issues.map((i) => [i.path, i.line, i.message])).toEqual([
      ['metadata.name', 8, 'a cluster has one Network and network/default exists: edit that one (metadata.name: default) or delete it first (flo delete network/default)'],
    ]);
    expect(await store.hosts.items()).toEqual([]); // nothing written, not even the valid host
    const two = await applyManifests(memoryStore(), objects(`${network('{podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/16}')}---\n${network('{podCIDR: 10.245.0.0/16, serviceCIDR: 10.97.0.0/16}', 'b')}`)).catch((x: unknown) => x);
    expect((two as Error).message).toContain('a cluster has one Network, and network/default is declared too: merge them into one');
  });

  it('a podCIDR too small for the hosts is refused, with the numbers', async () => {
    const store = memoryStore();
    await applyManifests(store, objects([host('a'), host('bb'), host('ccc')].join('---\n')));
    const e = await applyManifests(store, objects(network('{podCIDR: 10.244.0.0/23, serviceCIDR: 10.96.0.0/16}'))).catch((x: unknown) => x);
    expect((e as Error).message).toContain(
      'spec.podCIDR: podCIDR 10.244.0.0/23 in /24 subnets has room for 2 host(s), and the cluster would have 3: give a larger podCIDR or a longer hostSubnetPrefix',
    );
    expect(await store.networks.items()).toEqual([]);
    // and a host that would not fit under an existing Network
    await applyManifests(store, objects(network('{podCIDR: 10.244.0.0/23, hostSubnetPrefix: 25, serviceCIDR: 10.96.0.0/16}')));
    const more = await applyManifests(store, objects([host('dddd'), host('eeeee')].join('---\n'))).catch((x: unknown) => x);
    expect((more as Error).message).toContain('has room for 4 host(s), and the cluster would have 5');
    expect(await store.hosts.get('dddd')).toBeUndefined();
  });

  it('podCIDR, hostSubnetPrefix and serviceCIDR cannot change under existing leases; domain can', async () => {
    const store = memoryStore();
    await applyManifests(store, objects(network('{podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/16}')));
    const e = await applyManifests(store, objects(network('{podCIDR: 10.245.0.0/16, hostSubnetPrefix: 25, serviceCIDR: 10.96.0.0/16}'))).catch((x: unknown) => x);
    expect(isManifestError(e) && e.issues.map((i) => i.path)).toEqual(['spec.podCIDR', 'spec.hostSubnetPrefix']);
    expect((e as Error).message).toContain('cannot change from 10.244.0.0/16 to 10.245.0.0/16: hosts and services hold leases of it; delete network/default');
    expect(await applyManifests(store, objects(network('{podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/16, domain: corp.internal}')))).toEqual([
      { kind: 'Network', name: 'default', action: 'configured' },
    ]);
  });
});

const service = (name: string, spec: string): string => `apiVersion: flotilla.dev/v1
kind: Service
metadata: {name: ${name}}
spec: ${spec}
`;

describe('Service: several selectors, ports, hostnames', () => {
  it("the talk's three services are valid", () => {
    expect(
      messages(
        [
          service('web', '{selector: "env=prod,app=web", ports: [{name: http, port: 80, targetPort: http}], hostnames: [example.com]}'),
          service('beta', '{selector: ["env=test,app=web", "env=prod,app=web"], ports: [{name: http, port: 80, targetPort: http}], hostnames: [beta.example.com]}'),
          service('old', '{selector: {app: web}, port: http}'),
        ].join('---\n'),
      ),
    ).toEqual([]);
  });

  it('bad ports, selectors and hostnames are refused with paths', () => {
    expect(messages(service('s', '{selector: [], ports: [{port: 80}, {name: b, port: 80, targetPort: "Bad Name"}], hostnames: [Example.COM, ok.example, ok.example]}'))).toEqual([
      'spec.selector: must not be empty: give at least one selector',
      'spec.ports[0].name: is required when a service has more than one port',
      'spec.ports[1].port: port 80 is listed twice',
      'spec.ports[1].targetPort: "Bad Name" is not a valid port name (a name from the instances\' template ports, or a number)',
      'spec.hostnames[0]: "Example.COM" is not a valid hostname: lowercase letters, digits and \'-\' in dot-separated labels of at most 63 characters (e.g. beta.example.com)',
      'spec.hostnames[2]: "ok.example" is listed twice',
    ]);
    expect(messages(service('s', '{selector: ["app in (", {app: web}], port: 80, ports: [{port: 81}]}'))[0]).toMatch(/^spec.selector\[0\]: invalid selector "app in \("/);
    expect(messages(service('s', '{selector: "app=web", port: 80, ports: [{port: 81}]}'))).toEqual(['spec.ports: set either port (the endpoints-only form) or ports (the virtual IP form), not both']);
    expect(messages(service('s', '{selector: "app=web"}'))).toEqual(['spec.port: is required (or ports: [{name, port, targetPort}] for a virtual IP)']);
  });

  it('a hostname another service has is refused at apply', async () => {
    const store = memoryStore();
    await applyManifests(store, objects(service('a', '{selector: "app=a", ports: [{port: 80}], hostnames: [www.example.com]}')));
    const e = await applyManifests(store, objects(service('b', '{selector: "app=b", ports: [{port: 80}], hostnames: [api.example.com, www.example.com]}'))).catch((x: unknown) => x);
    expect(isManifestError(e) && e.issues.map((i) => `${i.path}: ${i.message}`)).toEqual(['spec.hostnames[1]: www.example.com is already a hostname of service/a: a name answers with one virtual IP']);
    expect(await store.services.get('b')).toBeUndefined();
  });

  it('validateManifest agrees on a plain value', () => {
    expect(validateManifest({ apiVersion: 'flotilla.dev/v1', kind: 'Network', metadata: { name: 'n' }, spec: { podCIDR: '10.1.0.0/16', serviceCIDR: '10.2.0.0/16' } })).toEqual([]);
  });
});

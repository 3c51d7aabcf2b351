/**
 * Validation of the two network kinds, `Service` and `Network` (the cluster's one pod and
 * service address plan), and the defaults a Network takes.
 */
import { parseSelector } from '@flotilla/labels';
import { ENUMS, NETWORK_SPEC, SERVICE_SPEC, fieldsAt } from './model.js';
import { containsCidr, formatCidr, overlaps, parseCidr, type Cidr } from '../network/cidr.js';
import { PORT_NAME, errorText, expectEnum, expectInt, expectObj, expectString, selectorField, show, unknownFields, type Issues, type Path } from './checks.js';

/** A Network's `hostSubnetPrefix` when it gives none. */
export const DEFAULT_HOST_SUBNET_PREFIX = 24;
/** A Network's `domain` when it gives none. */
export const DEFAULT_DOMAIN = 'flotilla.local';

/** A DNS name as `hostnames` and `domain` take it: lowercase labels of letters, digits and '-'. */
const DNS_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

function dnsName(out: Issues, path: Path, v: unknown, what: string): string | undefined {
  const name = expectString(out, path, v, true);
  if (name === undefined || name === '') return undefined;
  if (name.length > 253 || !DNS_NAME.test(name)) {
    out.add(path, `${JSON.stringify(name)} is not a valid ${what}: lowercase letters, digits and '-' in dot-separated labels of at most 63 characters (e.g. beta.example.com)`);
    return undefined;
  }
  return name;
}

export function validateServiceSpec(out: Issues, v: unknown): void {
  const s = expectObj(out, ['spec'], v, true);
  if (!s) return;
  unknownFields(out, ['spec'], s, fieldsAt(SERVICE_SPEC));
  if (Array.isArray(s.selector)) {
    if (s.selector.length === 0) out.add(['spec', 'selector'], 'must not be empty: give at least one selector');
    s.selector.forEach((item: unknown, i) => selectorField(out, ['spec', 'selector', i], item, { plainMapAllowed: true, required: true }));
  } else selectorField(out, ['spec', 'selector'], s.selector, { plainMapAllowed: true, required: true });
  const hasPort = s.port !== undefined && s.port !== null;
  const hasPorts = s.ports !== undefined && s.ports !== null;
  if (hasPort && hasPorts) out.add(['spec', 'ports'], 'set either port (the endpoints-only form) or ports (the virtual IP form), not both');
  else if (!hasPort && !hasPorts) out.add(['spec', 'port'], 'is required (or ports: [{name, port, targetPort}] for a virtual IP)');
  if (typeof s.port === 'string') {
    if (!PORT_NAME.test(s.port)) out.add(['spec', 'port'], `${JSON.stringify(s.port)} is not a valid port name`);
  } else if (hasPort) expectInt(out, ['spec', 'port'], s.port, 1, 65535);
  if (hasPorts) {
    if (!Array.isArray(s.ports)) out.add(['spec', 'ports'], 'must be a list of {name, port, targetPort}');
    else {
      if (s.ports.length === 0) out.add(['spec', 'ports'], 'must not be empty');
      const names = new Set<string>();
      const numbers = new Set<number>();
      s.ports.forEach((pt: unknown, i) => {
        const p = ['spec', 'ports', i];
        const m = expectObj(out, p, pt, true);
        if (!m) return;
        unknownFields(out, p, m, fieldsAt(SERVICE_SPEC, 'ports'));
        const name = expectString(out, [...p, 'name'], m.name);
        if (name !== undefined) {
          if (name.length > 15 || !PORT_NAME.test(name) || !/[a-z]/.test(name))
            out.add([...p, 'name'], `${JSON.stringify(name)} is not a valid port name: at most 15 lowercase letters, digits and '-', with a letter`);
          else if (names.has(name)) out.add([...p, 'name'], `duplicate port name ${JSON.stringify(name)}`);
          names.add(name);
        } else if ((s.ports as unknown[]).length > 1) out.add([...p, 'name'], 'is required when a service has more than one port');
        const port = expectInt(out, [...p, 'port'], m.port, 1, 65535, true);
        if (port !== undefined) {
          if (numbers.has(port)) out.add([...p, 'port'], `port ${port} is listed twice`);
          numbers.add(port);
        }
        if (typeof m.targetPort === 'string') {
          if (!PORT_NAME.test(m.targetPort)) out.add([...p, 'targetPort'], `${JSON.stringify(m.targetPort)} is not a valid port name (a name from the instances' template ports, or a number)`);
        } else if (m.targetPort !== undefined && m.targetPort !== null) expectInt(out, [...p, 'targetPort'], m.targetPort, 1, 65535);
      });
    }
  }
  if (s.hostnames !== undefined && s.hostnames !== null) {
    if (!Array.isArray(s.hostnames)) out.add(['spec', 'hostnames'], 'must be a list of DNS names');
    else {
      const seen = new Set<string>();
      s.hostnames.forEach((h: unknown, i) => {
        const name = dnsName(out, ['spec', 'hostnames', i], h, 'hostname');
        if (name === undefined) return;
        if (seen.has(name)) out.add(['spec', 'hostnames', i], `${JSON.stringify(name)} is listed twice`);
        seen.add(name);
      });
    }
  }
  if (s.render !== undefined && s.render !== null) {
    const r = expectObj(out, ['spec', 'render'], s.render);
    if (r) {
      unknownFields(out, ['spec', 'render'], r, fieldsAt(SERVICE_SPEC, 'render'));
      const hosts = expectString(out, ['spec', 'render', 'hosts'], r.hosts, true);
      if (hosts !== undefined)
        try {
          parseSelector(hosts);
        } catch (e) {
          out.add(['spec', 'render', 'hosts'], `invalid selector ${JSON.stringify(hosts)}: ${errorText(e)}`);
        }
      const p = expectString(out, ['spec', 'render', 'path'], r.path, true);
      if (p?.split('/').includes('..')) out.add(['spec', 'render', 'path'], 'must not contain ..');
    }
  }
}

/** Blocks a pod or service CIDR may not touch: routing them to pods would break the hosts. */
const RESERVED_BLOCKS: readonly { cidr: string; what: string }[] = [
  { cidr: '0.0.0.0/8', what: '"this network" (0.0.0.0/8)' },
  { cidr: '127.0.0.0/8', what: 'loopback (127.0.0.0/8)' },
  { cidr: '169.254.0.0/16', what: 'link-local (169.254.0.0/16)' },
  { cidr: '224.0.0.0/3', what: 'multicast and reserved (224.0.0.0/3)' },
];

function networkCidr(out: Issues, path: Path, v: unknown, example: string): Cidr | undefined {
  if (v === undefined || v === null) {
    out.add(path, `is required (e.g. ${example})`);
    return undefined;
  }
  if (typeof v !== 'string') {
    out.add(path, `must be a CIDR string like ${example}, not ${show(v)}`);
    return undefined;
  }
  const c = parseCidr(v);
  if (typeof c === 'string') {
    out.add(path, c);
    return undefined;
  }
  if (c.prefix < 8 || c.prefix > 30) {
    out.add(path, `${v} is a /${c.prefix}: give a block between /8 and /30 (e.g. ${example})`);
    return undefined;
  }
  for (const r of RESERVED_BLOCKS) {
    if (overlaps(c, parseCidr(r.cidr) as Cidr)) {
      out.add(path, `${v} overlaps ${r.what}: choose a private block (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), e.g. ${example}`);
      return undefined;
    }
  }
  return c;
}

export function validateNetworkSpec(out: Issues, v: unknown): void {
  const s = expectObj(out, ['spec'], v, true);
  if (!s) return;
  unknownFields(out, ['spec'], s, fieldsAt(NETWORK_SPEC));
  const pod = networkCidr(out, ['spec', 'podCIDR'], s.podCIDR, '10.244.0.0/16');
  const svc = networkCidr(out, ['spec', 'serviceCIDR'], s.serviceCIDR, '10.96.0.0/16');
  const hostPrefix = expectInt(out, ['spec', 'hostSubnetPrefix'], s.hostSubnetPrefix, 8, 30);
  if (pod) {
    const prefix = hostPrefix ?? (s.hostSubnetPrefix === undefined || s.hostSubnetPrefix === null ? DEFAULT_HOST_SUBNET_PREFIX : undefined);
    if (prefix !== undefined && prefix < pod.prefix)
      out.add(
        ['spec', 'hostSubnetPrefix'],
        `a host subnet /${prefix} is larger than podCIDR ${formatCidr(pod)}: give a hostSubnetPrefix of at least ${pod.prefix} (${pod.prefix + 8 <= 30 ? `/${pod.prefix + 8} gives ${2 ** 8} hosts` : `/${pod.prefix} gives one host`})`,
      );
  }
  if (pod && svc) {
    if (containsCidr(pod, svc))
      out.add(['spec', 'serviceCIDR'], `${formatCidr(svc)} is inside podCIDR ${formatCidr(pod)}: virtual IPs must not be pod addresses — choose a block outside it (e.g. 10.96.0.0/16 with 10.244.0.0/16)`);
    else if (overlaps(pod, svc))
      out.add(['spec', 'serviceCIDR'], `${formatCidr(svc)} overlaps podCIDR ${formatCidr(pod)} (the pod block is inside it): choose two blocks that do not overlap (e.g. 10.244.0.0/16 and 10.96.0.0/16)`);
  }
  if (s.domain !== undefined && s.domain !== null) dnsName(out, ['spec', 'domain'], s.domain, 'domain');
  expectEnum(out, ['spec', 'backend'], s.backend, ENUMS.networkBackend);
}

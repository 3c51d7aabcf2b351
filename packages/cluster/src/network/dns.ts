/**
 * DNS for a cluster with a Network: the record table the controller writes to every host
 * (a pure function of the store's objects), and the resolver itself — `host/dns-server.mjs`,
 * one plain-JavaScript file on dns-packet that the tests run in-process and every host runs
 * as a supervised process on its bridge address, port 53.
 *
 * Names (lowercase, in `domain`, default `flotilla.local`):
 * - `<service>.<domain>` → the service's virtual IP; a service without one (the `port:` form)
 *   answers with its ready endpoints' addresses instead (as a headless service does);
 * - each of a service's `hostnames` → the same;
 * - `<instance>.<service>.<domain>` → that ready endpoint's address (its pod IP, or its
 *   host's address for a process);
 * - anything else → NXDOMAIN; nothing is forwarded.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { NetworkSpec, Service } from '../manifest/types.js';
import { DEFAULT_DOMAIN } from '../manifest/validate.js';
import type { RecordTable } from '../../host/dns-server.mjs';

export { answer as answerDnsQuery, respond as respondDnsQuery, startDnsServer, readRecords as readDnsRecords, watchRecords as watchDnsRecords } from '../../host/dns-server.mjs';
export type { RecordTable as DnsRecordTable, Answer as DnsAnswer } from '../../host/dns-server.mjs';

/** The TTL of every answer, in seconds: short, as endpoints change. */
export const DNS_TTL_SECONDS = 5;

/**
 * The record table for a Network and its services (each with its status: `clusterIP`,
 * `endpoints`). Names are sorted, addresses deduplicated and sorted, so the same cluster state
 * always gives the same text (the controller rewrites a host's file only when it changes).
 */
export function dnsRecordTable(network: Pick<NetworkSpec, 'domain'>, services: readonly Service[]): RecordTable {
  const domain = (network.domain ?? DEFAULT_DOMAIN).toLowerCase();
  const records = new Map<string, Set<string>>();
  const add = (name: string, addresses: readonly string[]): void => {
    if (addresses.length === 0) return;
    const key = name.toLowerCase();
    const set = records.get(key) ?? new Set<string>();
    for (const a of addresses) set.add(a);
    records.set(key, set);
  };
  for (const s of services) {
    const endpoints = s.status?.endpoints ?? [];
    const vip = s.status?.clusterIP;
    const addresses = vip !== undefined ? [vip] : [...new Set(endpoints.map((e) => e.address))];
    add(`${s.metadata.name}.${domain}`, addresses);
    for (const h of s.spec.hostnames ?? []) add(h, addresses);
    for (const e of endpoints) add(`${e.instance}.${s.metadata.name}.${domain}`, [e.address]);
  }
  const byIp = (a: string, b: string): number => {
    const n = (ip: string): number => ip.split('.').reduce((x, o) => x * 256 + Number(o), 0);
    return n(a) - n(b);
  };
  return {
    domain,
    ttl: DNS_TTL_SECONDS,
    records: Object.fromEntries([...records.keys()].sort().map((k) => [k, [...records.get(k)!].sort(byIp)])),
  };
}

/** The files a host needs to run the resolver: the program and the dns-packet library it imports (with its one dependency). */
export interface DnsHostProgram {
  /** `host/dns-server.mjs`. */
  script: string;
  /** Package directories to place under `node_modules/` beside it, by package name. */
  packages: Record<string, string>;
}

/** The directory of the package `name` that holds `file` (its exports may not include package.json). */
function packageRoot(file: string, name: string): string {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      if ((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name === name) return dir;
    } catch {
      // not here
    }
  }
  throw new Error(`cannot find the directory of ${name} above ${file}`);
}

/** Where this installation keeps the resolver's files (to copy them to hosts). */
export function dnsHostProgram(): DnsHostProgram {
  const require = createRequire(import.meta.url);
  // beside the package's dist/ (built) or two levels up from src/network/ (from source)
  const script = ['../host/dns-server.mjs', '../../host/dns-server.mjs'].map((p) => fileURLToPath(new URL(p, import.meta.url))).find((p) => existsSync(p));
  if (script === undefined) throw new Error(`cannot find host/dns-server.mjs of @flotilla/cluster near ${fileURLToPath(import.meta.url)}`);
  const dnsPacket = dirname(require.resolve('dns-packet/package.json'));
  const ipCodec = packageRoot(createRequire(`${dnsPacket}/`).resolve('@leichtgewicht/ip-codec'), '@leichtgewicht/ip-codec');
  return { script, packages: { 'dns-packet': dnsPacket, '@leichtgewicht/ip-codec': ipCodec } };
}

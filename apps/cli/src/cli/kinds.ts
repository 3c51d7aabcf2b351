/** The words that name each resource kind on the command line (`flo get hosts`, `rs/web`, `svc`). */

/** The kinds `flo get`, `describe` and `delete` take. */
export type KindName = 'Host' | 'ReplicaSet' | 'Service' | 'Instance' | 'Network';

const KIND_OF: Readonly<Record<string, KindName>> = {
  host: 'Host',
  hosts: 'Host',
  replicaset: 'ReplicaSet',
  replicasets: 'ReplicaSet',
  rs: 'ReplicaSet',
  service: 'Service',
  services: 'Service',
  svc: 'Service',
  instance: 'Instance',
  instances: 'Instance',
  network: 'Network',
  networks: 'Network',
};

/** host|hosts → Host, replicaset|replicasets|rs → ReplicaSet, … (any case); undefined for other words. */
export function canonicalKind(word: string): KindName | undefined {
  const k = word.toLowerCase();
  return Object.hasOwn(KIND_OF, k) ? KIND_OF[k] : undefined;
}

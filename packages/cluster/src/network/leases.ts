/**
 * Address leases in the store (flannel's subnet manager idea): a lease is a key created with
 * compare-and-set, so the store, not any controller's memory, says who holds what.
 *
 * - Host subnets: `/flotilla/v1/subnets/<a.b.c.d>-<prefix>` → `{holder: <host>}`, a
 *   `/hostSubnetPrefix` of the Network's `podCIDR`; the host's `status.podSubnet` names it.
 * - Service virtual IPs: `/flotilla/v1/clusterips/<a.b.c.d>` → `{holder: <service>}`, an
 *   address of `serviceCIDR` (never its first or last); the service's `status.clusterIP`.
 *
 * Guarantees, with any number of allocators racing on one store (two controllers during a
 * leader hand-over, `apply --wait` beside `flo controller`):
 * - one lease key per address, created only if absent: no two holders ever share a subnet or VIP;
 * - an object's status names an address only after its holder wrote the lease (or renewed it
 *   by compare-and-set after finding it): a status never names another holder's lease;
 * - stable: an object whose status names a lease it holds keeps it (a restarted controller
 *   finds it in the store); a lease of a deleted object, and a second lease an object got in
 *   a race it lost, are released by {@link collectLeases} with compare-and-set on the lease's
 *   revision, so a lease renewed meanwhile is kept.
 */
import { ClusterError, isClusterError, isConflictError } from '../errors.js';
import type { Host, NetworkSpec, Service } from '../manifest/types.js';
import { DEFAULT_HOST_SUBNET_PREFIX } from '../manifest/validate.js';
import { KEY_PREFIX, type ClusterStore, type ResourceStore } from '../store/resources.js';
import type { KeyValue, KvStore } from '../store/types.js';
import { formatCidr, formatIpv4, nthSubnet, parseCidr, parseIpv4, sizeOf, subnetCount } from './cidr.js';

/** Where host subnet leases live. */
export const SUBNET_LEASE_PREFIX = `${KEY_PREFIX}subnets/`;
/** Where service virtual IP leases live. */
export const CLUSTER_IP_LEASE_PREFIX = `${KEY_PREFIX}clusterips/`;

/** What a lease key holds. */
export interface AddressLease {
  /** The object (host or service) holding it. */
  holder: string;
  /** The address as status shows it (`10.244.3.0/24`, `10.96.0.10`). */
  address: string;
}

/** A pool of addresses, each a lease key. */
export interface LeasePool {
  /** Key prefix of its leases. */
  readonly prefix: string;
  /** How many addresses it holds. */
  readonly size: number;
  /** The `i`-th address as status shows it. */
  addressAt(i: number): string;
  /** The index of an address, or undefined when it is not in the pool. */
  indexOf(address: string): number | undefined;
}

/** The pool of `/hostSubnetPrefix` subnets of `podCIDR`. */
export function subnetPool(network: NetworkSpec): LeasePool {
  const pod = parseCidr(network.podCIDR);
  if (typeof pod === 'string') throw new ClusterError('manifest-invalid', `network podCIDR: ${pod}`);
  const prefix = network.hostSubnetPrefix ?? DEFAULT_HOST_SUBNET_PREFIX;
  const size = subnetCount(pod, prefix);
  return {
    prefix: SUBNET_LEASE_PREFIX,
    size,
    addressAt: (i) => formatCidr(nthSubnet(pod, prefix, i)),
    indexOf: (address) => {
      const c = parseCidr(address);
      if (typeof c === 'string' || c.prefix !== prefix || c.base < pod.base) return undefined;
      const i = (c.base - pod.base) / 2 ** (32 - prefix);
      return Number.isInteger(i) && i < size ? i : undefined;
    },
  };
}

/** The pool of virtual IPs of `serviceCIDR`: every address but its first and last. */
export function clusterIpPool(network: NetworkSpec): LeasePool {
  const svc = parseCidr(network.serviceCIDR);
  if (typeof svc === 'string') throw new ClusterError('manifest-invalid', `network serviceCIDR: ${svc}`);
  const size = Math.max(0, sizeOf(svc) - 2);
  return {
    prefix: CLUSTER_IP_LEASE_PREFIX,
    size,
    addressAt: (i) => formatIpv4(svc.base + 1 + i),
    indexOf: (address) => {
      const ip = parseIpv4(address);
      if (typeof ip === 'string') return undefined;
      const i = ip - svc.base - 1;
      return i >= 0 && i < size ? i : undefined;
    },
  };
}

/** The number of subnets a Network's podCIDR gives (how many hosts it can take). */
export function subnetCapacity(network: NetworkSpec): number {
  return subnetPool(network).size;
}

function keyOfAddress(pool: LeasePool, address: string): string {
  return `${pool.prefix}${address.replace('/', '-')}`;
}

interface HeldLease extends AddressLease {
  key: string;
  revision: number;
}

function decode(kv: KeyValue): HeldLease | undefined {
  try {
    const v = JSON.parse(kv.value) as Partial<AddressLease>;
    if (typeof v.holder !== 'string' || typeof v.address !== 'string') return undefined;
    return { holder: v.holder, address: v.address, key: kv.key, revision: kv.modRevision };
  } catch {
    return undefined;
  }
}

/** Every lease under the pool's prefix, by address, and the revision of that snapshot. */
export async function listLeases(kv: KvStore, prefix: string): Promise<{ leases: Map<string, HeldLease>; revision: number }> {
  const { items, revision } = await kv.range(prefix);
  const leases = new Map<string, HeldLease>();
  for (const item of items) {
    const l = decode(item);
    if (l) leases.set(l.address, l);
  }
  return { leases, revision };
}

async function deleteIfUnchanged(kv: KvStore, key: string, revision: number): Promise<boolean> {
  try {
    return (await kv.delete(key, { prevRevision: revision })) !== undefined;
  } catch (e) {
    if (isConflictError(e)) return false;
    throw e;
  }
}

async function putIfUnchanged(kv: KvStore, key: string, value: AddressLease, revision: number): Promise<number | undefined> {
  try {
    return await kv.put(key, JSON.stringify(value), { prevRevision: revision });
  } catch (e) {
    if (isConflictError(e)) return undefined;
    throw e;
  }
}

/** An object that holds a leased address in its status. */
interface Binding<T extends Host | Service> {
  objects: ResourceStore<T>;
  pool: LeasePool;
  /** The address its status names. */
  read(o: T): string | undefined;
  /** Sets (or, with undefined, removes) the address in its status. */
  write(o: T, address: string | undefined): void;
  /** What the object is, for messages (`host/web-1`). */
  what: string;
}

function hostBinding(store: ClusterStore, network: NetworkSpec): Binding<Host> {
  return {
    objects: store.hosts,
    pool: subnetPool(network),
    read: (h) => h.status?.podSubnet,
    write: (h, address) => {
      const status = h.status ?? { ready: false };
      if (address === undefined) delete status.podSubnet;
      else status.podSubnet = address;
      h.status = status;
    },
    what: 'host',
  };
}

function serviceBinding(store: ClusterStore, network: NetworkSpec): Binding<Service> {
  return {
    objects: store.services,
    pool: clusterIpPool(network),
    read: (s) => s.status?.clusterIP,
    write: (s, address) => {
      const status = s.status ?? { endpoints: [] };
      if (address === undefined) delete status.clusterIP;
      else status.clusterIP = address;
      s.status = status;
    },
    what: 'service',
  };
}

/** Options of {@link assignHostSubnet} and {@link assignClusterIp}. */
export interface AssignOptions {
  /** Read-modify-write attempts before a `ConflictError` (each after a concurrent change). @default 50 */
  attempts?: number;
}

async function assign<T extends Host | Service>(kv: KvStore, b: Binding<T>, name: string, options: AssignOptions): Promise<string | undefined> {
  const attempts = options.attempts ?? 50;
  let mine: HeldLease | undefined; // a lease this call created or renewed and has not yet bound
  const releaseMine = async (keep?: string): Promise<void> => {
    if (mine && mine.address !== keep) await deleteIfUnchanged(kv, mine.key, mine.revision);
    mine = undefined;
  };
  for (let attempt = 0; attempt < attempts; attempt++) {
    const object = await b.objects.get(name);
    if (!object) {
      await releaseMine();
      return undefined;
    }
    const { leases } = await listLeases(kv, b.pool.prefix);
    const current = b.read(object);
    if (current !== undefined && b.pool.indexOf(current) !== undefined && leases.get(current)?.holder === name) {
      await releaseMine(current);
      return current; // bound and held: stable
    }
    // pick: the lease this call holds, else one the object already holds (a restart, a lost
    // race), else the address its status names when free, else the lowest free one
    if (mine && leases.get(mine.address)?.revision !== mine.revision) mine = undefined;
    if (!mine) {
      const held = [...leases.values()].filter((l) => l.holder === name && b.pool.indexOf(l.address) !== undefined).sort((x, y) => b.pool.indexOf(x.address)! - b.pool.indexOf(y.address)!);
      const found = held.find((l) => l.address === current) ?? held[0];
      if (found) {
        // renew it by compare-and-set, so a collector that saw the object absent cannot drop it now
        const revision = await putIfUnchanged(kv, found.key, { holder: name, address: found.address }, found.revision);
        if (revision === undefined) continue;
        mine = { ...found, revision };
      } else {
        const wanted = current !== undefined && b.pool.indexOf(current) !== undefined && !leases.has(current) ? b.pool.indexOf(current)! : undefined;
        let index = wanted;
        if (index === undefined) for (let i = 0; i < b.pool.size; i++) if (!leases.has(b.pool.addressAt(i))) { index = i; break; }
        if (index === undefined)
          throw new ClusterError('exhausted', `no free address for ${b.what}/${name}: all ${b.pool.size} of the pool are leased (${b.what === 'host' ? 'give the Network a larger podCIDR or a longer hostSubnetPrefix' : 'give the Network a larger serviceCIDR, or delete services'})`);
        const address = b.pool.addressAt(index);
        const key = keyOfAddress(b.pool, address);
        const revision = await putIfUnchanged(kv, key, { holder: name, address }, 0);
        if (revision === undefined) continue; // someone took it: look again
        mine = { key, holder: name, address, revision };
      }
    }
    // bind: the object's status names the lease, by compare-and-set on the object
    const next = structuredClone(object);
    b.write(next, mine.address);
    try {
      await b.objects.update(next, { expectedRevision: object.metadata.resourceVersion! });
      const bound = mine.address;
      mine = undefined;
      return bound;
    } catch (e) {
      // changed meanwhile (a heartbeat, or another allocator bound it) or deleted: look again, keeping ours
      if (!isConflictError(e) && !(isClusterError(e) && e.code === 'not-found')) throw e;
    }
  }
  await releaseMine();
  throw new ClusterError('conflict', `could not lease an address for ${b.what}/${name}: it changed during each of ${attempts} attempts — try again`);
}

/**
 * Gives the host a pod subnet of the Network's `podCIDR` (its `status.podSubnet`), or
 * confirms the one it holds; returns it (`undefined` when the host does not exist).
 * Throws a `ClusterError` `exhausted` when every subnet is leased.
 */
export function assignHostSubnet(store: ClusterStore, network: NetworkSpec, host: string, options: AssignOptions = {}): Promise<string | undefined> {
  return assign(store.kv, hostBinding(store, network), host, options);
}

/** Gives the service a virtual IP of `serviceCIDR` (its `status.clusterIP`), or confirms the one it holds. */
export function assignClusterIp(store: ClusterStore, network: NetworkSpec, service: string, options: AssignOptions = {}): Promise<string | undefined> {
  return assign(store.kv, serviceBinding(store, network), service, options);
}

/** What {@link collectLeases} released. */
export interface CollectedLeases {
  /** Addresses whose holder no longer exists (or is outside the pool: a Network that changed or went). */
  released: string[];
  /** Objects whose status named an address they do not hold, or none when there is no Network (status cleared). */
  cleared: string[];
}

async function collect<T extends Host | Service>(
  kv: KvStore,
  b: Binding<T> | undefined,
  prefix: string,
  objects: ResourceStore<T>,
  read: (o: T) => string | undefined,
  clear: (o: T) => void,
  keep: (o: T) => boolean = () => true,
): Promise<CollectedLeases> {
  const { items, revision: listed } = await objects.list();
  const byName = new Map(items.map((e) => [e.object.metadata.name, e]));
  const { leases } = await listLeases(kv, prefix);
  const released: string[] = [];
  for (const l of leases.values()) {
    const holder = byName.get(l.holder);
    const orphan = (holder === undefined || !keep(holder.object)) && l.revision < (holder?.revision ?? listed);
    const outside = b?.pool.indexOf(l.address) === undefined;
    // a second lease of a holder bound (after the lease was written) to another address
    const extra = holder !== undefined && !outside && read(holder.object) !== undefined && read(holder.object) !== l.address && l.revision < holder.revision && leases.get(read(holder.object)!)?.holder === l.holder;
    if ((orphan || outside || extra) && (await deleteIfUnchanged(kv, l.key, l.revision))) released.push(l.address);
  }
  const cleared: string[] = [];
  for (const { object } of items) {
    const address = read(object);
    if (address === undefined) continue;
    const holder = leases.get(address)?.holder;
    // held by it, or by nobody yet (assign renews or replaces it): kept; no Network, outside its block, or another's: cleared
    if (b !== undefined && keep(object) && b.pool.indexOf(address) !== undefined && (holder === object.metadata.name || holder === undefined)) continue;
    const done = await objects.mutate(object.metadata.name, (cur) => {
      if (read(cur) !== address) return undefined;
      clear(cur);
      return cur;
    });
    if (done) cleared.push(object.metadata.name);
  }
  return { released, cleared };
}

/**
 * Releases the leases nobody should hold, each by compare-and-set on its revision (a lease
 * renewed meanwhile stays): those of deleted hosts and services (written before the listing
 * that found them gone), a holder's extra lease from a lost race, and — with no Network,
 * or outside its blocks — all of them, clearing `podSubnet` and `clusterIP` from status.
 */
/** Options of {@link collectLeases}. */
export interface CollectLeasesOptions {
  /** Which services keep a virtual IP (the others' are released). @default every service */
  keepClusterIp?: (service: Service) => boolean;
}

export async function collectLeases(store: ClusterStore, network: NetworkSpec | undefined, options: CollectLeasesOptions = {}): Promise<{ subnets: CollectedLeases; clusterIPs: CollectedLeases }> {
  const subnets = await collect(
    store.kv,
    network ? hostBinding(store, network) : undefined,
    SUBNET_LEASE_PREFIX,
    store.hosts,
    (h) => h.status?.podSubnet,
    (h) => {
      if (h.status) delete h.status.podSubnet;
    },
  );
  const clusterIPs = await collect(
    store.kv,
    network ? serviceBinding(store, network) : undefined,
    CLUSTER_IP_LEASE_PREFIX,
    store.services,
    (s) => s.status?.clusterIP,
    (s) => {
      if (s.status) delete s.status.clusterIP;
    },
    options.keepClusterIp,
  );
  return { subnets, clusterIPs };
}

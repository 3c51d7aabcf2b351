/**
 * A host's agent lease (kubelet's node lease, on the store's TTL leases): the key
 * `/flotilla/v1/hostleases/<host>` holds a {@link HostLeaseRecord} and is attached to a store
 * lease of TTL `leaseDurationSeconds` (default 40 = hostGracePeriodSeconds) that the agent
 * keeps alive every 10 s. The store deletes the key when the agent stops renewing it, so
 * whether a host's agent is alive is judged by the store's clock — never by the host's
 * (whose clock may be skewed by minutes) and never by comparing timestamps of two machines.
 *
 * Claiming is compare-and-set: a key that exists and names another holder refuses the claim
 * at once; the same holder (the agent restarted: its identity is kept on the host) takes it
 * over, moving the key to a fresh store lease.
 */
import { ClusterError, ConflictError, isConflictError } from '../errors.js';
import { KEY_PREFIX } from '../store/resources.js';
import { hasLeases, type KvLeases, type KvStore } from '../store/types.js';

/** The key of a host's agent lease. */
export function hostLeaseKey(host: string): string {
  return `${KEY_PREFIX}hostleases/${host}`;
}

/** The prefix of every host's agent lease (what controllers watch). */
export const HOST_LEASE_PREFIX = `${KEY_PREFIX}hostleases/`;

/** What a host lease key holds. Times in it are the agent's, for people only: nothing compares them. */
export interface HostLeaseRecord {
  /** The host's name. */
  host: string;
  /** The holding agent's identity (kept on the host across restarts). */
  holderIdentity: string;
  /** The store lease the key is attached to. */
  storeLease: string;
  /** Its TTL: the host is NotReady this long after the agent's last renewal. */
  leaseDurationSeconds: number;
  /** The machine the agent runs on, and its pid (to name it in errors). */
  machine: string;
  pid: number;
  /** When the agent took the lease (agent's clock; informational). */
  acquireTime: string;
}

/** A held lease: the key's revision and the store lease it is attached to. */
export interface HeldLease {
  record: HostLeaseRecord;
  modRevision: number;
}

/** The store, checked to have TTL leases; otherwise a `lease-unsupported` error saying which stores do. */
export function leaseStore(kv: KvStore, where: string): KvStore & KvLeases {
  if (!hasLeases(kv))
    throw new ClusterError(
      'lease-unsupported',
      `the store ${where} has no TTL leases, which agents need (a host's readiness is its agent's lease, expired by the store): use a Flotilla KV (flotilla://h:p,…) or etcd (etcd://h:p,…) store`,
    );
  return kv;
}

/** Reads a host's lease record, or `undefined`. */
export async function readHostLease(kv: KvStore, host: string): Promise<HeldLease | undefined> {
  const kvp = await kv.get(hostLeaseKey(host));
  return kvp ? heldLeaseOf(host, kvp) : undefined;
}

function heldLeaseOf(host: string, kvp: { value: string; modRevision: number }): HeldLease {
  try {
    return { record: JSON.parse(kvp.value) as HostLeaseRecord, modRevision: kvp.modRevision };
  } catch {
    return { record: { host, holderIdentity: '', storeLease: '', leaseDurationSeconds: 0, machine: '?', pid: 0, acquireTime: '' }, modRevision: kvp.modRevision };
  }
}

/** Every host's lease record, by host, read a page at a time (one range of the prefix instead of a read per host). */
export async function readHostLeases(kv: KvStore, pageSize = 5000): Promise<Map<string, HeldLease>> {
  const out = new Map<string, HeldLease>();
  for (let after: string | undefined; ; ) {
    const page = await kv.range(HOST_LEASE_PREFIX, { limit: pageSize, ...(after !== undefined ? { after } : {}) });
    for (const kvp of page.items) {
      const host = kvp.key.slice(HOST_LEASE_PREFIX.length);
      out.set(host, heldLeaseOf(host, kvp));
    }
    if (page.more !== true || page.items.length === 0) return out;
    after = page.items.at(-1)!.key;
  }
}

/**
 * Claims a host's lease for `identity`: creates the key on a fresh store lease, or takes it
 * over from the same identity (a restarted agent). Throws a `host-claimed` error naming the
 * other holder when another identity holds it; its key goes away only when that agent stops
 * renewing (after its TTL) or `flo host leave` revokes it. `known`: the key as the caller
 * just read it (`null`: absent), so the first attempt needs no read of its own (a fleet that
 * read every host's lease in one range); a claim that loses a race reads it again.
 */
export async function claimHostLease(kv: KvStore & KvLeases, options: Omit<HostLeaseRecord, 'storeLease'>, known?: HeldLease | null): Promise<HeldLease> {
  const { host, holderIdentity } = options;
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = attempt === 0 && known !== undefined ? (known ?? undefined) : await readHostLease(kv, host);
    if (current && current.record.holderIdentity !== holderIdentity) {
      const r = current.record;
      throw new ClusterError(
        'host-claimed',
        `host ${host} is already claimed by another agent (identity ${r.holderIdentity}, pid ${r.pid} on ${r.machine}, since ${r.acquireTime}): its lease is alive in the store. Stop that agent (or run flo host leave ${host}); its lease then expires ${r.leaseDurationSeconds} s after its last renewal`,
      );
    }
    const granted = await kv.grantLease(options.leaseDurationSeconds);
    const record: HostLeaseRecord = { ...options, storeLease: granted.id };
    try {
      const modRevision = await kv.put(hostLeaseKey(host), JSON.stringify(record), { prevRevision: current?.modRevision ?? 0, lease: granted.id });
      // the key now lives on the new lease; the old one (ours, from before a restart) holds nothing
      if (current && current.record.storeLease !== '' && current.record.storeLease !== granted.id) await kv.revokeLease(current.record.storeLease).catch(() => undefined);
      return { record, modRevision };
    } catch (e) {
      await kv.revokeLease(granted.id).catch(() => undefined);
      if (!isConflictError(e)) throw e;
    }
  }
  throw new ConflictError(hostLeaseKey(host), 0, 0, 5);
}

/** Revokes the store lease of a host's agent, deleting its lease key (`flo host leave`). */
export async function releaseHostLease(kv: KvStore & KvLeases, host: string): Promise<boolean> {
  const current = await readHostLease(kv, host);
  if (!current) return false;
  if (current.record.storeLease !== '') await kv.revokeLease(current.record.storeLease);
  await kv.delete(hostLeaseKey(host), { prevRevision: current.modRevision }).catch(() => undefined);
  return true;
}

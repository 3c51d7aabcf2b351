/**
 * What the controllers read: informer caches of the store (list once, then watch: issue 15),
 * or — the path before caches, kept as the benchmark's peer — the store itself on every read.
 * Writes always go to the store, with compare-and-set.
 */
import { Informer, type Clock, type ListOptions, type ListResult, type LoggerLike, type StoreCallOptions, type WatchableStore, type WatchEvent } from '@flotilla/reconcile';
import { HOST_LEASE_PREFIX, hostLeaseKey, readHostLease, type HeldLease, type HostLeaseRecord } from '../agent/lease.js';
import type { Host, Instance, ReplicaSet, Service } from '../manifest/types.js';
import type { ClusterStore } from '../store/resources.js';
import type { KvStore } from '../store/types.js';

/** The kinds the controllers read, and write to with read-your-writes. */
export type CachedKind = 'hosts' | 'instances' | 'replicaSets' | 'services';

/**
 * The controllers' reads. Objects returned may be shared with a cache: read-only.
 */
export interface ClusterReads {
  /** True for caches (reads cost no store round trip). */
  readonly cached: boolean;
  host(name: string): Promise<Host | undefined>;
  hosts(): Promise<Host[]>;
  replicaSet(name: string): Promise<ReplicaSet | undefined>;
  instance(name: string): Promise<Instance | undefined>;
  /** Every instance. */
  instances(): Promise<Instance[]>;
  /** The instances of a replica set (`spec.replicaSet`). */
  instancesOf(replicaSet: string): Promise<Instance[]>;
  /** The instances bound to a host (`spec.host`). */
  instancesOn(host: string): Promise<Instance[]>;
  service(name: string): Promise<Service | undefined>;
  services(): Promise<Service[]>;
  /** The agent lease of a host, when held. */
  hostLease(host: string): Promise<HeldLease | undefined>;
  /** Notes a write of ours to `kind` at `revision`: later reads wait until they reflect it (see {@link ClusterReads.caughtUp}). */
  wrote(kind: CachedKind, revision: number | undefined): void;
  /**
   * Waits until every read reflects every write noted with `wrote` (at most `timeoutMs`);
   * false when some cache is still behind then — act on nothing, try again later.
   */
  caughtUp(timeoutMs: number): Promise<boolean>;
}

/** Reads straight from the store, every time (the path before caches). */
export class StoreReads implements ClusterReads {
  readonly cached = false;
  constructor(readonly store: ClusterStore) {}
  host(name: string): Promise<Host | undefined> {
    return this.store.hosts.get(name);
  }
  hosts(): Promise<Host[]> {
    return this.store.hosts.items();
  }
  replicaSet(name: string): Promise<ReplicaSet | undefined> {
    return this.store.replicaSets.get(name);
  }
  instance(name: string): Promise<Instance | undefined> {
    return this.store.instances.get(name);
  }
  instances(): Promise<Instance[]> {
    return this.store.instances.items();
  }
  async instancesOf(replicaSet: string): Promise<Instance[]> {
    return (await this.store.instances.items()).filter((i) => i.spec.replicaSet === replicaSet);
  }
  async instancesOn(host: string): Promise<Instance[]> {
    return (await this.store.instances.items()).filter((i) => i.spec.host === host);
  }
  service(name: string): Promise<Service | undefined> {
    return this.store.services.get(name);
  }
  services(): Promise<Service[]> {
    return this.store.services.items();
  }
  hostLease(host: string): Promise<HeldLease | undefined> {
    return readHostLease(this.store.kv, host);
  }
  wrote(): void {
    /* every read is fresh */
  }
  caughtUp(): Promise<boolean> {
    return Promise.resolve(true);
  }
}

/** Options of {@link ClusterCaches}. */
export interface ClusterCachesOptions {
  /** Timers of the informers (watch deadline, re-list backoff). @default systemClock */
  clock?: Clock;
  /** @default silent */
  logger?: LoggerLike;
  /** See `InformerOptions.watchTimeoutMs`. @default 30000 */
  watchTimeoutMs?: number;
  /**
   * Objects per list request (`InformerOptions.listPageSize`): 150,000 instances are listed
   * 150 requests of 1,000, each with its own deadline and retried alone, instead of one
   * request that a loaded store does not answer in time. 0: one request. @default 1000
   */
  listPageSize?: number;
  /** See `InformerOptions.listPageTimeoutMs`. @default 30000 */
  listPageTimeoutMs?: number;
}

/** Index of instances by host (`spec.host`). */
export const BY_HOST = 'host';
/** Index of instances by replica set (`spec.replicaSet`). */
export const BY_REPLICA_SET = 'replicaSet';

/**
 * Informer caches of hosts, instances (indexed by host and by replica set), replica sets,
 * services and host agent leases: one list and one watch per kind, shared by every
 * controller. Run it (`run`), wait for `waitForSync` before acting, read; note your own writes
 * with `wrote` and `caughtUp` waits until the caches reflect them (so a replica set never
 * re-creates instances it created a moment ago because the watch had not yet brought them).
 *
 * ```ts
 * const caches = new ClusterCaches(store);
 * void caches.run(signal);
 * await caches.waitForSync(signal);
 * const web = await caches.instancesOf('web');       // no store read
 * const onH1 = caches.instancesInformer.byIndex(BY_HOST, 'h1');
 * ```
 */
export class ClusterCaches implements ClusterReads {
  readonly cached = true;
  readonly hostsInformer: Informer<Host>;
  readonly instancesInformer: Informer<Instance>;
  readonly replicaSetsInformer: Informer<ReplicaSet>;
  readonly servicesInformer: Informer<Service>;
  readonly leasesInformer: Informer<HostLeaseRecord>;
  readonly #store: ClusterStore;
  readonly #written = new Map<CachedKind, number>();

  constructor(store: ClusterStore, options: ClusterCachesOptions = {}) {
    this.#store = store;
    const common = {
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.watchTimeoutMs !== undefined ? { watchTimeoutMs: options.watchTimeoutMs } : {}),
      listPageSize: options.listPageSize ?? 1000,
      listPageTimeoutMs: options.listPageTimeoutMs ?? 30_000,
    };
    this.hostsInformer = new Informer(store.hosts, { ...common, name: 'hosts' });
    this.instancesInformer = new Informer(store.instances, {
      ...common,
      name: 'instances',
      indexers: { [BY_HOST]: (i) => i.spec.host, [BY_REPLICA_SET]: (i) => i.spec.replicaSet },
    });
    this.replicaSetsInformer = new Informer(store.replicaSets, { ...common, name: 'replicasets' });
    this.servicesInformer = new Informer(store.services, { ...common, name: 'services' });
    this.leasesInformer = new Informer(hostLeasesStore(store.kv), { ...common, name: 'hostleases' });
  }

  #all(): Informer<unknown>[] {
    return [this.hostsInformer, this.instancesInformer, this.replicaSetsInformer, this.servicesInformer, this.leasesInformer] as Informer<unknown>[];
  }

  #informer(kind: CachedKind): Informer<unknown> {
    switch (kind) {
      case 'hosts':
        return this.hostsInformer as Informer<unknown>;
      case 'instances':
        return this.instancesInformer as Informer<unknown>;
      case 'replicaSets':
        return this.replicaSetsInformer as Informer<unknown>;
      case 'services':
        return this.servicesInformer as Informer<unknown>;
    }
  }

  /** Runs every informer until `signal` aborts. Runs once. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all(this.#all().map((i) => i.run(signal)));
  }

  /** Has every informer listed once? */
  hasSynced(): boolean {
    return this.#all().every((i) => i.hasSynced());
  }

  /** Resolves true once every informer has listed; false if `signal` aborts first. */
  async waitForSync(signal?: AbortSignal): Promise<boolean> {
    const results = await Promise.all(this.#all().map((i) => i.waitForSync(signal)));
    return results.every(Boolean);
  }

  /** How many lists the informers made in all (one per kind while their watches live). */
  get lists(): number {
    return this.#all().reduce((n, i) => n + i.lists, 0);
  }

  host(name: string): Promise<Host | undefined> {
    return Promise.resolve(this.hostsInformer.get(this.#store.hosts.keyOf(name)));
  }
  hosts(): Promise<Host[]> {
    return Promise.resolve(this.hostsInformer.list());
  }
  replicaSet(name: string): Promise<ReplicaSet | undefined> {
    return Promise.resolve(this.replicaSetsInformer.get(this.#store.replicaSets.keyOf(name)));
  }
  instance(name: string): Promise<Instance | undefined> {
    return Promise.resolve(this.instancesInformer.get(this.#store.instances.keyOf(name)));
  }
  instances(): Promise<Instance[]> {
    return Promise.resolve(this.instancesInformer.list());
  }
  instancesOf(replicaSet: string): Promise<Instance[]> {
    return Promise.resolve(this.instancesInformer.byIndex(BY_REPLICA_SET, replicaSet));
  }
  instancesOn(host: string): Promise<Instance[]> {
    return Promise.resolve(this.instancesInformer.byIndex(BY_HOST, host));
  }
  service(name: string): Promise<Service | undefined> {
    return Promise.resolve(this.servicesInformer.get(this.#store.services.keyOf(name)));
  }
  services(): Promise<Service[]> {
    return Promise.resolve(this.servicesInformer.list());
  }
  hostLease(host: string): Promise<HeldLease | undefined> {
    const entry = this.leasesInformer.getEntry(hostLeaseKey(host));
    return Promise.resolve(entry ? { record: entry.object, modRevision: entry.revision } : undefined);
  }

  wrote(kind: CachedKind, revision: number | undefined): void {
    if (revision === undefined) return;
    if (revision > (this.#written.get(kind) ?? 0)) this.#written.set(kind, revision);
  }

  async caughtUp(timeoutMs: number): Promise<boolean> {
    for (const [kind, revision] of this.#written) {
      const informer = this.#informer(kind);
      if (informer.revision >= revision) continue;
      if (!(await informer.waitForRevision(revision, { timeoutMs }))) return false;
    }
    // One transaction's objects (a replica set's 50 creates) all carry its revision, and the
    // informers apply a revision's events together: at `revision`, all of them are in.
    return true;
  }
}

/** Every host's agent lease (`HOST_LEASE_PREFIX`), listed and watched as a reconcile store. */
export function hostLeasesStore(kv: KvStore): WatchableStore<HostLeaseRecord> {
  return kvPrefixStore(kv, HOST_LEASE_PREFIX, parseLease);
}

function parseLease(key: string, value: string): HostLeaseRecord {
  try {
    return JSON.parse(value) as HostLeaseRecord;
  } catch {
    return { host: key.slice(HOST_LEASE_PREFIX.length), holderIdentity: '', storeLease: '', leaseDurationSeconds: 0, machine: '?', pid: 0, acquireTime: '' };
  }
}

/** The keys under `prefix` of a KV store as reconcile's `WatchableStore` (values decoded by `decode`). */
export function kvPrefixStore<T>(kv: KvStore, prefix: string, decode: (key: string, value: string) => T): WatchableStore<T> {
  return {
    /** With `limit`, one page (`continue`: the last key and the first page's revision, at which etcd reads the next). */
    async list(options: ListOptions = {}): Promise<ListResult<T>> {
      options.signal?.throwIfAborted();
      let token: { k: string; r: number } | undefined;
      if (options.continue !== undefined) {
        try {
          token = JSON.parse(Buffer.from(options.continue, 'base64url').toString('utf8')) as { k: string; r: number };
        } catch {
          token = undefined;
        }
        if (typeof token?.k !== 'string' || !token.k.startsWith(prefix) || !Number.isInteger(token.r))
          throw new TypeError(`continue: ${JSON.stringify(options.continue)} is not a continue token of this list (pass the \`continue\` of the previous page, unchanged)`);
      }
      const page = await kv.range(prefix, { ...(options.limit !== undefined ? { limit: options.limit } : {}), ...(token ? { after: token.k, revision: token.r } : {}) });
      const revision = token?.r ?? page.revision;
      const last = page.items.at(-1);
      return {
        items: page.items.map((i) => ({ key: i.key, object: decode(i.key, i.value), revision: i.modRevision })),
        revision,
        ...(page.more === true && last !== undefined ? { continue: Buffer.from(JSON.stringify({ k: last.key, r: revision })).toString('base64url') } : {}),
      };
    },
    async *watch(fromRevision: number, options: StoreCallOptions = {}): AsyncIterable<WatchEvent<T>> {
      for await (const ev of kv.watch(prefix, { ...(fromRevision > 0 ? { fromRevision } : {}), ...(options.signal ? { signal: options.signal } : {}) })) {
        switch (ev.type) {
          case 'put':
            yield { type: ev.version === 1 ? 'added' : 'modified', key: ev.key, object: decode(ev.key, ev.value), revision: ev.modRevision };
            break;
          case 'delete':
            yield { type: 'deleted', key: ev.key, object: decode(ev.key, ev.prevValue ?? '{}'), revision: ev.modRevision };
            break;
          case 'progress':
            yield { type: 'progress', revision: ev.revision };
            break;
          case 'expired':
            yield { type: 'expired', revision: ev.compactRevision };
            return;
        }
      }
    },
  };
}

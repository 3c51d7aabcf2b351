/**
 * The typed layer over a {@link KvStore}: one {@link ResourceStore} per kind, which is
 * reconcile's `WatchableStore<T>` (list with a revision, watch from a revision) plus
 * get/create/update/delete with compare-and-set on `metadata.resourceVersion`.
 *
 * Keys: `/flotilla/v1/<plural>/<name>`; values: the object as JSON.
 */
import { ClusterError, ConflictError, isConflictError } from '../errors.js';
import type { ClusterEvent, ClusterObject, Host, Instance, Kind, ReplicaSet, Service } from '../manifest/types.js';
import type { KvStore, KvWatchEvent } from './types.js';

/** One stored object with its key and modRevision (reconcile's `StoreEntry`). */
export interface StoreEntry<T> {
  readonly key: string;
  readonly object: T;
  readonly revision: number;
}

/** What a watch of a {@link ResourceStore} yields (reconcile's `WatchEvent`). */
export type ResourceWatchEvent<T> =
  | { readonly type: 'added' | 'modified' | 'deleted'; readonly key: string; readonly object: T; readonly revision: number }
  | { readonly type: 'progress'; readonly revision: number }
  | { readonly type: 'expired'; readonly revision: number };

/** The key prefix of every Flotilla object. */
export const KEY_PREFIX = '/flotilla/v1/';

const PLURAL: Record<Kind | 'Lease', string> = {
  Host: 'hosts',
  ReplicaSet: 'replicasets',
  Service: 'services',
  Instance: 'instances',
  Event: 'events',
  Lease: 'leases',
};

/** The store key of an object. */
export function keyOf(kind: Kind | 'Lease', name: string): string {
  return `${KEY_PREFIX}${PLURAL[kind]}/${name}`;
}

function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, value: unknown) => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      return Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return value;
  });
}

/** Options of {@link ResourceStore.update} and {@link ResourceStore.delete}. */
export interface PreconditionOptions {
  /** Compare-and-set: only if the object's revision is this. @default the object's metadata.resourceVersion on update; none on delete */
  expectedRevision?: number;
}

/** Objects of one kind in a store. */
export class ResourceStore<T extends ClusterObject> {
  readonly kind: T['kind'];
  readonly #kv: KvStore;
  readonly #prefix: string;
  readonly #now: () => Date;

  constructor(kv: KvStore, kind: T['kind'], now: () => Date = () => new Date()) {
    this.#kv = kv;
    this.kind = kind;
    this.#prefix = `${KEY_PREFIX}${PLURAL[kind]}/`;
    this.#now = now;
  }

  #decode(value: string, revision: number): T {
    const object = JSON.parse(value) as T;
    object.metadata.resourceVersion = revision;
    return object;
  }

  #encode(object: T): string {
    const { resourceVersion: _rv, ...metadata } = object.metadata;
    return JSON.stringify({ ...object, metadata });
  }

  /** Every object of this kind, ordered by name, and the snapshot's revision. */
  async list(): Promise<{ items: StoreEntry<T>[]; revision: number }> {
    const { items, revision } = await this.#kv.range(this.#prefix);
    return { items: items.map((kv) => ({ key: kv.key, object: this.#decode(kv.value, kv.modRevision), revision: kv.modRevision })), revision };
  }

  /** The objects alone. */
  async items(): Promise<T[]> {
    return (await this.list()).items.map((e) => e.object);
  }

  /** Changes from `fromRevision` (inclusive; 0 = from now). */
  async *watch(fromRevision: number, options: { signal?: AbortSignal } = {}): AsyncIterable<ResourceWatchEvent<T>> {
    const events = this.#kv.watch(this.#prefix, { ...(fromRevision > 0 ? { fromRevision } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    for await (const ev of events) {
      const mapped = this.#map(ev);
      if (mapped) yield mapped;
      if (ev.type === 'expired') return;
    }
  }

  #map(ev: KvWatchEvent): ResourceWatchEvent<T> | undefined {
    switch (ev.type) {
      case 'put':
        return { type: ev.version === 1 ? 'added' : 'modified', key: ev.key, object: this.#decode(ev.value, ev.modRevision), revision: ev.modRevision };
      case 'delete': {
        const name = ev.key.slice(this.#prefix.length);
        const object =
          ev.prevValue !== undefined ? this.#decode(ev.prevValue, ev.modRevision) : ({ kind: this.kind, metadata: { name } } as unknown as T);
        return { type: 'deleted', key: ev.key, object, revision: ev.modRevision };
      }
      case 'progress':
        return { type: 'progress', revision: ev.revision };
      case 'expired':
        return { type: 'expired', revision: ev.compactRevision };
    }
  }

  /** The object, or `undefined`. */
  async get(name: string): Promise<T | undefined> {
    const kv = await this.#kv.get(keyOf(this.kind, name));
    return kv ? this.#decode(kv.value, kv.modRevision) : undefined;
  }

  /** Creates the object; `ConflictError` when it exists. Sets generation 1 and creationTimestamp. */
  async create(object: T): Promise<T> {
    const stored = {
      ...object,
      metadata: { ...object.metadata, generation: 1, creationTimestamp: object.metadata.creationTimestamp ?? this.#now().toISOString() },
    } as T;
    const rev = await this.#kv.put(keyOf(this.kind, object.metadata.name), this.#encode(stored), { prevRevision: 0 });
    stored.metadata.resourceVersion = rev;
    return stored;
  }

  /**
   * Replaces the object if its revision is still `expectedRevision` (default: the
   * object's `metadata.resourceVersion`). `metadata.generation` increases when `spec`
   * changed. Throws `ConflictError` otherwise, `not-found` when absent.
   */
  async update(object: T, options: PreconditionOptions = {}): Promise<T> {
    const key = keyOf(this.kind, object.metadata.name);
    const current = await this.#kv.get(key);
    if (!current) throw new ClusterError('not-found', `${this.kind}/${object.metadata.name} not found`);
    const expected = options.expectedRevision ?? object.metadata.resourceVersion ?? current.modRevision;
    if (current.modRevision !== expected) throw new ConflictError(key, expected, current.modRevision);
    const old = JSON.parse(current.value) as T;
    const specChanged = 'spec' in old && stableJson((old as { spec: unknown }).spec) !== stableJson((object as { spec?: unknown }).spec);
    const generation = (old.metadata.generation ?? 1) + (specChanged ? 1 : 0);
    const stored = {
      ...object,
      metadata: { ...object.metadata, generation, creationTimestamp: old.metadata.creationTimestamp ?? object.metadata.creationTimestamp },
    } as T;
    const rev = await this.#kv.put(key, this.#encode(stored), { prevRevision: expected });
    stored.metadata.resourceVersion = rev;
    return stored;
  }

  /**
   * Read-modify-write with retries on conflict: `fn` gets the current object and returns
   * the new one (or `undefined` to leave it). Returns the stored result (`undefined` when
   * the object is absent). When another writer changes the object between the read and
   * the write, it starts again from the fresh object, up to `retries` more times; then a
   * `ConflictError` says how many attempts failed.
   */
  async mutate(name: string, fn: (current: T) => T | undefined, retries = 20): Promise<T | undefined> {
    for (let i = 0; ; i++) {
      const current = await this.get(name);
      if (!current) return undefined;
      const next = fn(structuredClone(current));
      if (!next) return current;
      try {
        return await this.update(next, { expectedRevision: current.metadata.resourceVersion! });
      } catch (e) {
        if (!isConflictError(e)) throw e;
        if (i >= retries) throw i === 0 ? e : new ConflictError(e.key, current.metadata.resourceVersion!, e.modRevision, i + 1);
      }
    }
  }

  /** Creates or replaces (apply semantics); returns the stored object. */
  async upsert(object: T): Promise<T> {
    for (let i = 0; ; i++) {
      const current = await this.get(object.metadata.name);
      try {
        if (!current) return await this.create(object);
        return await this.update({ ...object, metadata: { ...object.metadata, resourceVersion: current.metadata.resourceVersion } });
      } catch (e) {
        if (!isConflictError(e) || i >= 20) throw e;
      }
    }
  }

  /** Deletes the object; returns false when it was absent. */
  async delete(name: string, options: PreconditionOptions = {}): Promise<boolean> {
    const rev = await this.#kv.delete(keyOf(this.kind, name), options.expectedRevision !== undefined ? { prevRevision: options.expectedRevision } : {});
    return rev !== undefined;
  }
}

/**
 * JSON values at arbitrary keys with compare-and-set: reconcile's `CompareAndSetStore`,
 * what its `LeaderElector` needs (leases live under `/flotilla/v1/leases/`).
 */
export class JsonCasStore<T> {
  readonly #kv: KvStore;
  constructor(kv: KvStore) {
    this.#kv = kv;
  }

  async get(key: string): Promise<StoreEntry<T> | undefined> {
    const kv = await this.#kv.get(key);
    return kv ? { key, object: JSON.parse(kv.value) as T, revision: kv.modRevision } : undefined;
  }

  async compareAndSet(key: string, object: T, expectedRevision: number): Promise<{ succeeded: boolean; revision: number }> {
    try {
      const revision = await this.#kv.put(key, JSON.stringify(object), { prevRevision: expectedRevision });
      return { succeeded: true, revision };
    } catch (e) {
      if (isConflictError(e)) return { succeeded: false, revision: e.modRevision };
      throw e;
    }
  }
}

/** Typed access to every kind in one store. */
export class ClusterStore {
  readonly kv: KvStore;
  readonly hosts: ResourceStore<Host>;
  readonly replicaSets: ResourceStore<ReplicaSet>;
  readonly services: ResourceStore<Service>;
  readonly instances: ResourceStore<Instance>;
  readonly events: ResourceStore<ClusterEvent>;
  readonly leases: JsonCasStore<unknown>;
  /** Where `apply` copies artifacts, when the store has a local directory. */
  readonly artifactDir: string | undefined;

  constructor(kv: KvStore, options: { now?: () => Date; artifactDir?: string } = {}) {
    const now = options.now ?? (() => new Date());
    this.kv = kv;
    this.hosts = new ResourceStore<Host>(kv, 'Host', now);
    this.replicaSets = new ResourceStore<ReplicaSet>(kv, 'ReplicaSet', now);
    this.services = new ResourceStore<Service>(kv, 'Service', now);
    this.instances = new ResourceStore<Instance>(kv, 'Instance', now);
    this.events = new ResourceStore<ClusterEvent>(kv, 'Event', now);
    this.leases = new JsonCasStore(kv);
    this.artifactDir = options.artifactDir;
  }

  close(): Promise<void> {
    return this.kv.close();
  }
}

/**
 * The typed layer over a {@link KvStore}: one {@link ResourceStore} per kind, which is
 * reconcile's `WatchableStore<T>` (list with a revision, watch from a revision) plus
 * get/create/update/delete with compare-and-set on `metadata.resourceVersion`.
 *
 * Kinds: the built-in ones (Host, ReplicaSet, Service, Network, Instance, Event) and any kind an
 * embedder defines with {@link defineKind} and registers with {@link ClusterStore.register}.
 *
 * Keys: `/flotilla/v1/<plural>/<name>` for the built-in kinds (the layout every store has
 * always had), `/flotilla/<group>/<version>/<plural>/<name>` for a defined kind of
 * apiVersion `<group>/<version>` (its group has a dot, so the two never overlap);
 * values: the object as JSON. The kinds and their keys are defined in kinds.ts.
 *
 * Why one file of ~870 lines: most of it is the one class ResourceStore (~610 lines), whose
 * compare-and-set writes, batched transactions, paged lists and per-host index entries share
 * its private state (the KV, the codec, the index keys); split across files they would need
 * that state made public. The kinds, the watch plumbing and the views already live apart
 * (kinds.ts, ../watch.ts, ../views.ts). A next split would move ClusterStore (the end of the file).
 *
 * Over 600 lines: one class, `ResourceStore`, whose reads, compare-and-set writes, index upkeep
 * and batched writes (`updateMany`/`deleteMany`) share one key layout, encoding and index.
 */
import type { CompareAndSetResult, CompareAndSetStore, ListResult, LeaseRecord, StoreCallOptions, StoreEntry, WatchableStore, WatchEvent } from '@flotilla/reconcile';
import { ClusterError, ConflictError, ManifestError, isConflictError } from '../errors.js';
import type { ClusterEvent, Host, Instance, Kind, Manifest, ManifestKind, Network, ReplicaSet, Service } from '../manifest/types.js';
import type { KvCompare, KvStore, KvTxnOp, KvWatchEvent } from './types.js';
import { Channel } from './channel.js';
import { stableJson } from '../controllers/template.js';
import { badDefinition, builtInKind, indexMarkerKey, issuesOf, type Resource, type ResourceKind } from './kinds.js';

// The kinds (keys, defineKind, the built-in kinds) are in kinds.ts; re-exported for the modules that import them from here.
export { KEY_PREFIX, ROOT_PREFIX, HOST_INDEX_PREFIX, keyOf, defineKind, builtInKind } from './kinds.js';
export type { Resource, ResourceIssue, ResourceKindDefinition, ResourceKind, ResourceIndex } from './kinds.js';

export type { StoreEntry };

/** What a watch of a {@link ResourceStore} yields: reconcile's `WatchEvent<T>`. */
export type ResourceWatchEvent<T> = WatchEvent<T>;

/**
 * Objects per transaction of {@link ResourceStore.updateMany} and {@link ResourceStore.deleteMany}:
 * with an index entry each, 100 writes — within etcd's default `--max-txn-ops` (128) and the
 * Raft KV's limit (128).
 */
export const BATCH_OBJECTS = 50;
/** Comparisons a transaction may hold: etcd's default `--max-txn-ops` and the Raft KV's limit. */
const MAX_TXN_COMPARES = 128;
/** Options of {@link ResourceStore.list}. */
export interface ListOptions extends StoreCallOptions {
  /**
   * At most this many objects (a page, kubectl's `--chunk-size`); the result's `continue`
   * then fetches the next. @default every object
   */
  limit?: number;
  /** The `continue` token of the previous page. */
  continue?: string;
}

/** A page of objects: {@link ListResult} plus the token of the next page, if any. */
export interface ListPage<T> extends ListResult<T> {
  items: StoreEntry<T>[];
  /** Pass as `continue` to get the next page; absent on the last one. */
  continue?: string;
}

interface ContinueToken {
  /** The last key of the page. */
  k: string;
  /** The first page's revision (etcd reads later pages at it). */
  r: number;
}

/** A written object carries the revision that wrote it. */
function stampRevision<O extends { metadata: { resourceVersion?: number } }>(o: O, revision: number): O {
  o.metadata.resourceVersion = revision;
  return o;
}

function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

function decodeContinue(token: string, prefix: string): ContinueToken {
  let t: Partial<ContinueToken> | undefined;
  try {
    t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<ContinueToken>;
  } catch {
    t = undefined;
  }
  if (typeof t?.k !== 'string' || !t.k.startsWith(prefix) || !Number.isInteger(t.r))
    throw new TypeError(`continue: ${JSON.stringify(token.length > 40 ? `${token.slice(0, 40)}…` : token)} is not a continue token of this list (pass the \`continue\` of the previous page, unchanged)`);
  return t as ContinueToken;
}

/** Options of {@link ResourceStore.update} and {@link ResourceStore.delete}. */
export interface PreconditionOptions {
  /** Compare-and-set: only if the object's revision is this. @default the object's metadata.resourceVersion on update; none on delete */
  expectedRevision?: number;
}

/** What {@link ResourceStore}'s batched writes do with each object (createMany, updateMany, deleteMany). */
interface BatchWrite<T, R> {
  /** Per object, in order: what `done` made of it, or its error. */
  out: (R | Error)[];
  /** The operations that write the object (its key and, where indexed, its index entry). */
  opsOf: (o: T) => KvTxnOp[];
  /** The result for an object written at `revision`. */
  done: (o: T, revision: number) => R;
  /** The revision the object is compared at. @default its `metadata.resourceVersion` */
  expected?: (o: T) => number;
  /** More comparisons the object is written under, in the same transaction. */
  conditions?: (o: T) => readonly KvCompare[];
}

/**
 * Objects of one kind in a store: reconcile's `WatchableStore<T>` (so a reconcile
 * `Controller` watches it directly), plus reads and compare-and-set writes.
 *
 * - `list()` is a consistent snapshot of the kind at one store revision; `watch(rev)`
 *   yields every change from `rev` on (inclusive) in revision order, `progress` while idle,
 *   and `expired` (then ends) when `rev` was compacted — the store's guarantees, kind by kind.
 * - Every write is a compare-and-set on the object's `metadata.resourceVersion` (its key's
 *   modRevision): a concurrent writer makes it fail with a `ConflictError`, never lose data.
 * - `metadata.resourceVersion` is set on every object read or written and never stored;
 *   `metadata.generation` starts at 1 and grows when `spec` changes; `creationTimestamp` is kept.
 * - A defined kind's objects are checked before every write (`ManifestError` with every
 *   problem); built-in kinds are checked where manifests are parsed.
 */
export class ResourceStore<T extends Resource> implements WatchableStore<T> {
  /** The kind's name (`Host`, or a defined kind's). */
  readonly kind: T['kind'];
  /** The kind this store serves. */
  readonly definition: ResourceKind<T>;
  readonly #kv: KvStore;
  readonly #prefix: string;
  readonly #now: () => Date;

  /**
   * @param kv the backend (file, Raft KV, etcd, memory)
   * @param kind a built-in kind's name, or a kind made by {@link defineKind}
   * @param now the clock for `creationTimestamp`
   */
  constructor(kv: KvStore, kind: T['kind'] | ResourceKind<T>, now: () => Date = () => new Date()) {
    this.#kv = kv;
    this.definition = typeof kind === 'string' ? (builtInKind(kind as Kind) as unknown as ResourceKind<T>) : kind;
    this.kind = this.definition.kind;
    this.#prefix = this.definition.prefix;
    this.#now = now;
  }

  /** The store key of the object called `name`. */
  keyOf(name: string): string {
    return `${this.#prefix}${name}`;
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

  #check(object: T): void {
    if (this.definition.builtIn) return;
    const issues = issuesOf(this.definition, object);
    if (issues.length > 0) throw new ManifestError(issues.map((i) => ({ ...i, file: `${this.definition.plural}/${object.metadata?.name ?? ''}` })));
  }

  /**
   * Every object of this kind, ordered by name, and the snapshot's revision; with `limit`,
   * one page of them and a `continue` token for the next (etcd reads every page at the
   * first page's revision; the Raft KV, file and memory stores read each page at the
   * current one, so an object changed between pages shows its newer state or, when
   * created or deleted meanwhile, may be missed or seen — kubectl's inconsistent continue).
   */
  async list(options: ListOptions = {}): Promise<ListPage<T>> {
    return this.#listUnder(this.#prefix, options);
  }

  async #listUnder(prefix: string, options: ListOptions): Promise<ListPage<T>> {
    options.signal?.throwIfAborted();
    if (options.limit !== undefined && (!Number.isInteger(options.limit) || options.limit < 1))
      throw new TypeError(`limit: expected a positive integer, received ${String(options.limit)}`);
    const token = options.continue !== undefined ? decodeContinue(options.continue, prefix) : undefined;
    const page = await this.#kv.range(prefix, {
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
      ...(token ? { after: token.k, revision: token.r } : {}),
    });
    options.signal?.throwIfAborted();
    const nameAt = prefix.length;
    const items = page.items.map((kv) => ({ key: this.keyOf(kv.key.slice(nameAt)), object: this.#decode(kv.value, kv.modRevision), revision: kv.modRevision }));
    const revision = token?.r ?? page.revision;
    const last = page.items.at(-1);
    return { items, revision, ...(page.more === true && last ? { continue: encodeContinue({ k: last.key, r: revision }) } : {}) };
  }

  /** Is the kind's index kept in this store? */
  get indexed(): boolean {
    return this.definition.index !== undefined && typeof this.#kv.txn === 'function';
  }

  #indexKey(object: T): string | undefined {
    const index = this.definition.index;
    const value = index?.valueOf(object);
    return index && value !== undefined ? `${index.prefix}${value}/${object.metadata.name}` : undefined;
  }

  #indexPrefix(value: string): string {
    const index = this.definition.index;
    if (!index) throw new TypeError(`${this.kind} has no index`);
    if (typeof value !== 'string' || value === '' || value.includes('/')) throw new TypeError(`index value: expected a non-empty string without '/', received ${JSON.stringify(value)}`);
    return `${index.prefix}${value}/`;
  }

  /**
   * The objects whose index value (an Instance's host) is `value`: read from the index when
   * the store keeps it, else filtered from the whole kind. Same paging as {@link list}.
   */
  async listIndexed(value: string, options: ListOptions = {}): Promise<ListPage<T>> {
    const prefix = this.#indexPrefix(value);
    if (this.indexed) return this.#listUnder(prefix, options);
    const all = await this.list(options.signal ? { signal: options.signal } : {});
    const index = this.definition.index!;
    const items = all.items.filter((e) => index.valueOf(e.object) === value);
    if (options.limit === undefined && options.continue === undefined) return { items, revision: all.revision };
    // paging over a filtered list: the token's key is the index key of the page's last object
    const token = options.continue !== undefined ? decodeContinue(options.continue, prefix) : undefined;
    const after = token ? token.k.slice(prefix.length) : undefined;
    const rest = after === undefined ? items : items.filter((e) => e.object.metadata.name > after);
    const limit = options.limit ?? rest.length;
    const page = rest.slice(0, limit);
    const last = page.at(-1);
    return { items: page, revision: all.revision, ...(rest.length > limit && last ? { continue: encodeContinue({ k: `${prefix}${last.object.metadata.name}`, r: all.revision }) } : {}) };
  }

  /**
   * Changes of the objects whose index value is `value`, from `fromRevision` (inclusive; 0 =
   * from now): an object that enters the value is `added`, one that leaves or is deleted is
   * `deleted`. From the index when the store keeps it (the watch sees only those keys), else
   * filtered from the kind's watch. `deletedNamesOnly`: the caller needs only the name of a
   * deleted object (its event's object may then be just `metadata.name`), so the store's watch
   * need not read the keys under the prefix first (a Raft KV watch skips that read).
   */
  async *watchIndexed(value: string, fromRevision: number, options: StoreCallOptions & { deletedNamesOnly?: boolean } = {}): AsyncIterable<ResourceWatchEvent<T>> {
    const prefix = this.#indexPrefix(value);
    const indexed = this.indexed;
    const index = this.definition.index!;
    const valueOf = (object: T): string | undefined => index.valueOf(object);
    const events = this.#kv.watch(indexed ? prefix : this.#prefix, {
      ...(fromRevision > 0 ? { fromRevision } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      // the index's delete events need no previous value unless the caller wants the whole object
      ...(indexed && options.deletedNamesOnly === true ? { prevValues: false } : {}),
    });
    for await (const ev of events) {
      if (ev.type === 'progress' || ev.type === 'expired') {
        yield ev.type === 'progress' ? { type: 'progress', revision: ev.revision } : { type: 'expired', revision: ev.compactRevision };
        if (ev.type === 'expired') return;
        continue;
      }
      const name = ev.key.slice(indexed ? prefix.length : this.#prefix.length);
      const key = this.keyOf(name);
      if (ev.type === 'put') {
        const object = this.#decode(ev.value, ev.modRevision);
        if (indexed) {
          yield { type: ev.version === 1 ? 'added' : 'modified', key, object, revision: ev.modRevision };
          continue;
        }
        const was = ev.prevValue !== undefined ? valueOf(JSON.parse(ev.prevValue) as T) === value : false;
        const is = valueOf(object) === value;
        if (is) yield { type: was ? 'modified' : 'added', key, object, revision: ev.modRevision };
        else if (was) yield { type: 'deleted', key, object: this.#decode(ev.prevValue!, ev.modRevision), revision: ev.modRevision };
      } else {
        if (ev.prevValue === undefined) {
          if (indexed) yield { type: 'deleted', key, object: { apiVersion: this.definition.apiVersion, kind: this.kind, metadata: { name } } as unknown as T, revision: ev.modRevision };
          continue;
        }
        const object = this.#decode(ev.prevValue, ev.modRevision);
        if (indexed || valueOf(object) === value) yield { type: 'deleted', key, object, revision: ev.modRevision };
      }
    }
  }

  /**
   * {@link watchIndexed} of several values at once (a `flo agent --hollow` process's hosts):
   * the changes of the objects whose index value is one of `values`, from `fromRevision`.
   * Where the store keeps the index and watches many prefixes on one stream
   * ({@link KvStore.watchPrefixes}: the Raft KV, memory), one watch of their index prefixes —
   * every change once, in revision order, with the store's progress events; elsewhere one
   * {@link watchIndexed} per value, merged (each value's changes in revision order; progress
   * once every value's watch has reported one, their lowest). Ends after an `expired` event.
   */
  async *watchIndexedMany(values: readonly string[], fromRevision: number, options: StoreCallOptions & { deletedNamesOnly?: boolean } = {}): AsyncIterable<ResourceWatchEvent<T>> {
    if (values.length === 0) throw new TypeError('values: expected at least one index value');
    const prefixes = values.map((v) => this.#indexPrefix(v));
    if (values.length === 1) {
      yield* this.watchIndexed(values[0]!, fromRevision, options);
      return;
    }
    const kv = this.#kv;
    if (!this.indexed || typeof kv.watchPrefixes !== 'function') {
      yield* this.#mergeIndexed(values, fromRevision, options);
      return;
    }
    const root = this.definition.index!.prefix;
    const events = kv.watchPrefixes(prefixes, {
      ...(fromRevision > 0 ? { fromRevision } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.deletedNamesOnly === true ? { prevValues: false } : {}),
    });
    for await (const ev of events) {
      if (ev.type === 'progress' || ev.type === 'expired') {
        yield ev.type === 'progress' ? { type: 'progress', revision: ev.revision } : { type: 'expired', revision: ev.compactRevision };
        if (ev.type === 'expired') return;
        continue;
      }
      // <index prefix><value>/<name>
      const rest = ev.key.slice(root.length);
      const name = rest.slice(rest.indexOf('/') + 1);
      const key = this.keyOf(name);
      if (ev.type === 'put') yield { type: ev.version === 1 ? 'added' : 'modified', key, object: this.#decode(ev.value, ev.modRevision), revision: ev.modRevision };
      else if (ev.prevValue === undefined) yield { type: 'deleted', key, object: { apiVersion: this.definition.apiVersion, kind: this.kind, metadata: { name } } as unknown as T, revision: ev.modRevision };
      else yield { type: 'deleted', key, object: this.#decode(ev.prevValue, ev.modRevision), revision: ev.modRevision };
    }
  }

  /** {@link watchIndexedMany} as one {@link watchIndexed} per value, merged. */
  async *#mergeIndexed(values: readonly string[], fromRevision: number, options: StoreCallOptions & { deletedNamesOnly?: boolean }): AsyncIterable<ResourceWatchEvent<T>> {
    const abort = new AbortController();
    const onAbort = (): void => abort.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) abort.abort();
    const channel = new Channel<ResourceWatchEvent<T> | { type: 'error'; error: unknown }>();
    const progress = new Map<string, number>();
    let reported = 0;
    let open = values.length;
    for (const value of values) {
      void (async () => {
        try {
          for await (const ev of this.watchIndexed(value, fromRevision, { ...options, signal: abort.signal })) {
            if (ev.type !== 'progress') {
              channel.push(ev);
              continue;
            }
            progress.set(value, ev.revision);
            if (progress.size < values.length) continue;
            const lowest = Math.min(...progress.values());
            if (lowest > reported) channel.push({ type: 'progress', revision: (reported = lowest) });
          }
        } catch (error) {
          if (!abort.signal.aborted) channel.push({ type: 'error', error });
        } finally {
          if (--open === 0) channel.close();
        }
      })();
    }
    try {
      for await (const item of channel) {
        if (item.type === 'error') throw item.error;
        yield item;
        if (item.type === 'expired') return;
      }
    } finally {
      abort.abort();
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** A reconcile `WatchableStore` of the objects with index value `value` (an agent's own instances: `store.instancesOn(host)`). */
  view(value: string): WatchableStore<T> {
    this.#indexPrefix(value);
    return {
      list: (options?: StoreCallOptions) => this.listIndexed(value, options ?? {}),
      watch: (fromRevision: number, options?: StoreCallOptions) => this.watchIndexed(value, fromRevision, options ?? {}),
    };
  }

  /**
   * Brings the kind's index up to date with its objects (objects written before the index
   * existed, or by a writer without it) and records that it is; returns how many objects
   * were re-indexed and stale index entries removed. Runs only once per store (a marker key
   * remembers it) unless `force`. A no-op when the store keeps no index.
   */
  async reindex(options: { force?: boolean } = {}): Promise<{ indexed: number; removed: number }> {
    const index = this.definition.index;
    if (!index || !this.indexed) return { indexed: 0, removed: 0 };
    const marker = indexMarkerKey(this.definition);
    if (options.force !== true && (await this.#kv.get(marker)) !== undefined) return { indexed: 0, removed: 0 };
    const [objects, entries] = await Promise.all([this.#kv.range(this.#prefix), this.#kv.range(index.prefix)]);
    const byKey = new Map(entries.items.map((kv) => [kv.key, kv]));
    const wanted = new Set<string>();
    let indexed = 0;
    let removed = 0;
    for (const kv of objects.items) {
      const object = JSON.parse(kv.value) as T;
      const idx = this.#indexKey(object);
      if (idx === undefined) continue;
      wanted.add(idx);
      const entry = byKey.get(idx);
      if (entry?.modRevision === kv.modRevision && entry.value === kv.value) continue;
      // rewrite both, so that they share a revision again
      const r = await this.#kv.txn!([{ key: kv.key, modRevision: kv.modRevision }], [
        { type: 'put', key: kv.key, value: kv.value },
        { type: 'put', key: idx, value: kv.value },
      ]);
      if (r.succeeded) indexed++;
    }
    for (const entry of entries.items) {
      if (wanted.has(entry.key)) continue;
      const r = await this.#kv.txn!([{ key: entry.key, modRevision: entry.modRevision }], [{ type: 'delete', key: entry.key }]);
      if (r.succeeded) removed++;
    }
    await this.#kv.put(marker, JSON.stringify({ version: 1, revision: objects.revision }));
    return { indexed, removed };
  }

  /** The objects alone. */
  async items(): Promise<T[]> {
    return (await this.list()).items.map((e) => e.object);
  }

  /** Changes from `fromRevision` (inclusive; 0 = from now). */
  async *watch(fromRevision: number, options: StoreCallOptions = {}): AsyncIterable<ResourceWatchEvent<T>> {
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
          ev.prevValue !== undefined
            ? this.#decode(ev.prevValue, ev.modRevision)
            : ({ apiVersion: this.definition.apiVersion, kind: this.kind, metadata: { name } } as unknown as T);
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
    const kv = await this.#kv.get(this.keyOf(name));
    return kv ? this.#decode(kv.value, kv.modRevision) : undefined;
  }

  /**
   * Creates the object; `ConflictError` when it exists. Sets generation 1 and
   * creationTimestamp. A defined kind's object that fails its checks is a `ManifestError`.
   */
  async create(object: T): Promise<T> {
    this.#check(object);
    const stored = {
      ...object,
      metadata: { ...object.metadata, generation: 1, creationTimestamp: object.metadata.creationTimestamp ?? this.#now().toISOString() },
    } as T;
    const key = this.keyOf(object.metadata.name);
    const value = this.#encode(stored);
    const idx = this.indexed ? this.#indexKey(stored) : undefined;
    if (idx !== undefined) {
      const r = await this.#kv.txn!([{ key, modRevision: 0 }], [{ type: 'put', key, value }, { type: 'put', key: idx, value }]);
      if (!r.succeeded) throw new ConflictError(key, 0, r.current?.[0] ?? 0);
      stored.metadata.resourceVersion = r.revision;
      return stored;
    }
    const rev = await this.#kv.put(key, value, { prevRevision: 0 });
    stored.metadata.resourceVersion = rev;
    return stored;
  }

  /**
   * Replaces the object if its revision is still `expectedRevision` (default: the
   * object's `metadata.resourceVersion`). `metadata.generation` increases when `spec`
   * changed. Throws `ConflictError` otherwise, `not-found` when absent (and, for a defined
   * kind, `ManifestError` when the object fails its checks).
   */
  async update(object: T, options: PreconditionOptions = {}): Promise<T> {
    this.#check(object);
    const key = this.keyOf(object.metadata.name);
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
    const value = this.#encode(stored);
    if (this.indexed) {
      const idx = this.#indexKey(stored);
      const oldIdx = this.#indexKey(old);
      const ops: KvTxnOp[] = [{ type: 'put', key, value }];
      if (idx !== undefined) ops.push({ type: 'put', key: idx, value });
      if (oldIdx !== undefined && oldIdx !== idx) ops.push({ type: 'delete', key: oldIdx });
      const r = await this.#kv.txn!([{ key, modRevision: expected }], ops);
      if (!r.succeeded) throw new ConflictError(key, expected, r.current?.[0] ?? 0);
      stored.metadata.resourceVersion = r.revision;
      return stored;
    }
    const rev = await this.#kv.put(key, value, { prevRevision: expected });
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

  /**
   * Creates several objects — the instances a replica set adds, the events recorded for them —
   * in as few round trips as the store allows: one transaction per {@link BATCH_OBJECTS}
   * objects (each only if absent, its index entry written with it) where the store has `txn`,
   * else one {@link create} each. Each object is stored as {@link create} stores it
   * (generation 1, creationTimestamp). An object that exists gets a `ConflictError` and the
   * others of its transaction are written again without it. Returns, per object in order,
   * the stored object or its error.
   */
  async createMany(objects: readonly T[]): Promise<(T | Error)[]> {
    for (const o of objects) this.#check(o);
    if (!this.#kv.txn) {
      const out: (T | Error)[] = [];
      for (const o of objects) out.push(await this.create(o).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))));
      return out;
    }
    const created = this.#now().toISOString();
    const stored = objects.map((o) => ({ ...o, metadata: { ...o.metadata, generation: 1, creationTimestamp: o.metadata.creationTimestamp ?? created } }));
    const out = new Array<T | Error>(objects.length);
    await this.#batches(stored, { out, opsOf: (o) => this.#putOps(o), done: stampRevision, expected: () => 0 });
    return out;
  }

  /**
   * Writes new versions of several objects whose `spec` is unchanged — status reports, as a
   * hollow agent writes thousands of "Running" — in as few round trips as the store allows:
   * one transaction per {@link BATCH_OBJECTS} objects (each compared on its
   * `metadata.resourceVersion`, its index entry written with it) where the store has `txn`,
   * else one {@link update} each. A transaction is all or none: when some comparisons fail,
   * those objects get a `ConflictError` (or a `not-found` `ClusterError` when gone) and the
   * others are written again without them. `metadata.generation` is kept as given (the spec
   * must not have changed). Returns, per object in order, the stored object or its error.
   *
   * `conditions`: more comparisons an object is written under, in the same transaction (e.g.
   * "this host's agent lease key is absent": `{ key, modRevision: 0 }`); one that fails gives
   * that object a `ConflictError` on the condition's key (`error.key`), and the others are
   * written without it. Transactions then hold fewer objects, so that their comparisons stay
   * within the stores' limit (128). Needs a store with `txn` (a `TypeError` without).
   */
  async updateMany(objects: readonly T[], options: { conditions?: (o: T) => readonly KvCompare[] } = {}): Promise<(T | Error)[]> {
    for (const o of objects) this.#check(o);
    const { conditions } = options;
    if (conditions && !this.#kv.txn) throw new TypeError(`${this.kind}: updateMany with conditions needs a store with transactions (txn)`);
    if (!this.#kv.txn) return Promise.all(objects.map((o) => this.update(o).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))))));
    const out = new Array<T | Error>(objects.length);
    const stored = objects.map((o) => ({ ...o, metadata: { ...o.metadata } }));
    await this.#batches(stored, { out, opsOf: (o) => this.#putOps(o), done: stampRevision, ...(conditions ? { conditions } : {}) });
    return out;
  }

  /**
   * Deletes several objects, each only if it is still at its `metadata.resourceVersion`, in
   * one transaction per {@link BATCH_OBJECTS} objects where the store has `txn` (index
   * entries with them), else one {@link delete} each. Returns, per object, `true` or its
   * error (`ConflictError`, or `not-found` when already gone).
   */
  async deleteMany(objects: readonly T[]): Promise<(true | Error)[]> {
    const out = new Array<true | Error>(objects.length);
    if (!this.#kv.txn) {
      await Promise.all(
        objects.map(async (o, i) => {
          try {
            const gone = await this.delete(o.metadata.name, { expectedRevision: o.metadata.resourceVersion! });
            out[i] = gone ? true : new ClusterError('not-found', `${this.kind}/${o.metadata.name} not found`);
          } catch (e) {
            out[i] = e instanceof Error ? e : new Error(String(e));
          }
        }),
      );
      return out;
    }
    await this.#batches(objects, {
      out,
      opsOf: (o) => {
        const idx = this.indexed ? this.#indexKey(o) : undefined;
        return [{ type: 'delete', key: this.keyOf(o.metadata.name) }, ...(idx !== undefined ? [{ type: 'delete' as const, key: idx }] : [])];
      },
      done: () => true as const,
    });
    return out;
  }

  /** The puts that store one object: its key and, where the kind is indexed, its index entry. */
  #putOps(o: T): KvTxnOp[] {
    const value = this.#encode(o);
    const idx = this.indexed ? this.#indexKey(o) : undefined;
    return [{ type: 'put', key: this.keyOf(o.metadata.name), value }, ...(idx !== undefined ? [{ type: 'put' as const, key: idx, value }] : [])];
  }

  /**
   * Runs compare-and-set transactions of up to BATCH_OBJECTS objects, dropping the ones whose
   * comparison fails. Each object is compared at `expected(o)`: by default the revision it was
   * read at (`metadata.resourceVersion`), 0 (absent) for creates.
   */
  async #batches<R>(objects: readonly T[], w: BatchWrite<T, R>): Promise<void> {
    const { conditions } = w;
    // with conditions, fewer objects a transaction: its comparisons within the stores' limit
    const most = conditions ? objects.reduce((m, o) => Math.max(m, conditions(o).length), 0) : 0;
    const size = Math.max(1, Math.min(BATCH_OBJECTS, Math.floor(MAX_TXN_COMPARES / (1 + most))));
    // the transactions go out together (a Raft leader appends them in one round; etcd pipelines them)
    const starts: number[] = [];
    for (let start = 0; start < objects.length; start += size) starts.push(start);
    const settled = await Promise.allSettled(starts.map((start) => this.#batch(objects, start, size, w)));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** One transaction of {@link ResourceStore.#batches} (again without those whose comparison failed, until none fails). */
  async #batch<R>(objects: readonly T[], start: number, size: number, w: BatchWrite<T, R>): Promise<void> {
    const { out, opsOf, done, expected, conditions } = w;
    let batch = objects.slice(start, start + size).map((o, j) => ({ o, at: start + j }));
    while (batch.length > 0) {
      if (!expected)
        for (const b of batch) {
          if (typeof b.o.metadata.resourceVersion !== 'number') throw new TypeError(`${this.kind}/${b.o.metadata.name}: metadata.resourceVersion is required (the revision it was read at)`);
        }
      // each object's own comparison, then its conditions'; `first[j]`: where object j's begin
      const compare: KvCompare[] = [];
      const first: number[] = [];
      for (const b of batch) {
        first.push(compare.length);
        compare.push({ key: this.keyOf(b.o.metadata.name), modRevision: expected ? expected(b.o) : b.o.metadata.resourceVersion! });
        if (conditions) compare.push(...conditions(b.o));
      }
      first.push(compare.length);
      const r = await this.#kv.txn!(compare, batch.flatMap((b) => opsOf(b.o)));
      if (r.succeeded) {
        for (const b of batch) out[b.at] = done(b.o, r.revision);
        break;
      }
      const current = r.current;
      const next: typeof batch = [];
      batch.forEach((b, j) => {
        const own = first[j]!;
        const now = current?.[own];
        if (now !== undefined && now !== compare[own]!.modRevision) {
          out[b.at] = now === 0 ? new ClusterError('not-found', `${this.kind}/${b.o.metadata.name} not found`) : new ConflictError(compare[own]!.key, compare[own]!.modRevision, now);
          return;
        }
        for (let c = own + 1; c < first[j + 1]!; c++) {
          const cur = current?.[c];
          if (cur !== undefined && cur !== compare[c]!.modRevision) {
            out[b.at] = new ConflictError(compare[c]!.key, compare[c]!.modRevision, cur);
            return;
          }
        }
        next.push(b);
      });
      if (next.length === batch.length) {
        // the store said which comparison failed in no way we understand: give up on all of them
        for (const b of batch) out[b.at] = new ConflictError(this.keyOf(b.o.metadata.name), expected ? expected(b.o) : b.o.metadata.resourceVersion!, 0);
        break;
      }
      batch = next;
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
    const key = this.keyOf(name);
    if (this.indexed) {
      const expected = options.expectedRevision;
      for (let i = 0; ; i++) {
        const current = await this.#kv.get(key);
        if (!current) {
          if (expected !== undefined && expected !== 0) throw new ConflictError(key, expected, 0);
          return false;
        }
        if (expected !== undefined && current.modRevision !== expected) throw new ConflictError(key, expected, current.modRevision);
        const idx = this.#indexKey(JSON.parse(current.value) as T);
        const ops: KvTxnOp[] = [{ type: 'delete', key }];
        if (idx !== undefined) ops.push({ type: 'delete', key: idx });
        const r = await this.#kv.txn!([{ key, modRevision: current.modRevision }], ops);
        if (r.succeeded) return true;
        if (expected !== undefined || i >= 20) throw new ConflictError(key, current.modRevision, r.current?.[0] ?? 0, i + 1);
      }
    }
    const rev = await this.#kv.delete(key, options.expectedRevision !== undefined ? { prevRevision: options.expectedRevision } : {});
    return rev !== undefined;
  }
}

/**
 * JSON values at arbitrary keys with compare-and-set: reconcile's `CompareAndSetStore`,
 * what its `LeaderElector` needs (leases live under `/flotilla/v1/leases/`).
 */
export class JsonCasStore<T> implements CompareAndSetStore<T> {
  readonly #kv: KvStore;
  constructor(kv: KvStore) {
    this.#kv = kv;
  }

  async get(key: string): Promise<StoreEntry<T> | undefined> {
    const kv = await this.#kv.get(key);
    return kv ? { key, object: JSON.parse(kv.value) as T, revision: kv.modRevision } : undefined;
  }

  async compareAndSet(key: string, object: T, expectedRevision: number): Promise<CompareAndSetResult> {
    try {
      const revision = await this.#kv.put(key, JSON.stringify(object), { prevRevision: expectedRevision });
      return { succeeded: true, revision };
    } catch (e) {
      if (isConflictError(e)) return { succeeded: false, revision: e.modRevision };
      throw e;
    }
  }
}

/** The store of one manifest kind (each kind's store only ever receives objects of its kind). */
export function resourcesOf(store: ClusterStore, kind: ManifestKind): ResourceStore<Manifest> {
  switch (kind) {
    case 'Host':
      return store.hosts;
    case 'ReplicaSet':
      return store.replicaSets;
    case 'Service':
      return store.services;
    case 'Network':
      return store.networks;
  }
}

/** Typed access to every kind in one store: the built-in ones, and those you {@link ClusterStore.register}. */
export class ClusterStore {
  readonly kv: KvStore;
  readonly hosts: ResourceStore<Host>;
  readonly replicaSets: ResourceStore<ReplicaSet>;
  readonly services: ResourceStore<Service>;
  /** The cluster's Network (at most one). */
  readonly networks: ResourceStore<Network>;
  readonly instances: ResourceStore<Instance>;
  readonly events: ResourceStore<ClusterEvent>;
  /** Leader leases (reconcile's `LeaseRecord`), what `LeaderElector` takes as its store. */
  readonly leases: JsonCasStore<LeaseRecord>;
  /** Where `apply` copies artifacts, when the store has a local directory. */
  readonly artifactDir: string | undefined;
  readonly #now: () => Date;
  readonly #registered = new Map<string, ResourceStore<Resource>>();

  constructor(kv: KvStore, options: { now?: () => Date; artifactDir?: string } = {}) {
    const now = options.now ?? (() => new Date());
    this.#now = now;
    this.kv = kv;
    this.hosts = new ResourceStore<Host>(kv, 'Host', now);
    this.replicaSets = new ResourceStore<ReplicaSet>(kv, 'ReplicaSet', now);
    this.services = new ResourceStore<Service>(kv, 'Service', now);
    this.networks = new ResourceStore<Network>(kv, 'Network', now);
    this.instances = new ResourceStore<Instance>(kv, 'Instance', now);
    this.events = new ResourceStore<ClusterEvent>(kv, 'Event', now);
    this.leases = new JsonCasStore<LeaseRecord>(kv);
    this.artifactDir = options.artifactDir;
  }

  /**
   * Registers a kind made by {@link defineKind} and returns its typed store, which is a
   * reconcile `WatchableStore<T>`. Registering the same definition again returns the same
   * store; another definition with the same apiVersion and kind, or the same key prefix,
   * is a `TypeError`.
   */
  register<T extends Resource>(kind: ResourceKind<T>): ResourceStore<T> {
    if (typeof kind !== 'object' || kind === null || typeof kind.prefix !== 'string' || kind.builtIn)
      badDefinition('kind', 'a kind made by defineKind()', kind);
    for (const [id, store] of this.#registered) {
      if (store.definition === kind) return store as unknown as ResourceStore<T>;
      if (id === `${kind.apiVersion}/${kind.kind}` || store.definition.prefix === kind.prefix)
        throw new TypeError(`kind ${kind.apiVersion} ${kind.kind} (${kind.prefix}) is already registered by another definition (${store.definition.apiVersion} ${store.definition.kind}, ${store.definition.prefix})`);
    }
    const store = new ResourceStore<T>(this.kv, kind, this.#now);
    this.#registered.set(`${kind.apiVersion}/${kind.kind}`, store);
    return store;
  }

  /**
   * Instances, one page or all of them (`limit`/`continue` as {@link ResourceStore.list});
   * with `host`, only that host's, read from the per-host index
   * (`/flotilla/v1/hostinstances/<host>/<name>`) so the cost does not grow with the
   * number of hosts.
   */
  listInstances(options: ListOptions & { host?: string } = {}): Promise<ListPage<Instance>> {
    const { host, ...rest } = options;
    return host === undefined ? this.instances.list(rest) : this.instances.listIndexed(host, rest);
  }

  /**
   * Instance changes from `fromRevision` (inclusive; 0 = from now); with `host`, only that
   * host's — the store's watch covers that host's index prefix alone, so a write reaches the
   * watchers of its own host, not every agent. `deletedNamesOnly` (with `host`): see
   * {@link ResourceStore.watchIndexed}.
   */
  watchInstances(fromRevision: number, options: StoreCallOptions & { host?: string; deletedNamesOnly?: boolean } = {}): AsyncIterable<ResourceWatchEvent<Instance>> {
    const { host, ...rest } = options;
    return host === undefined ? this.instances.watch(fromRevision, rest) : this.instances.watchIndexed(host, fromRevision, rest);
  }

  /**
   * The instances of every host in `hosts` (a `flo agent --hollow` process's), from
   * `fromRevision`, as one watch: one stream to the store where it has one (see
   * {@link ResourceStore.watchIndexedMany}), so a process of thousands of hosts holds one
   * connection and the store writes each change once for it, not once per host.
   */
  watchInstancesOn(hosts: readonly string[], fromRevision: number, options: StoreCallOptions & { deletedNamesOnly?: boolean } = {}): AsyncIterable<ResourceWatchEvent<Instance>> {
    return this.instances.watchIndexedMany(hosts, fromRevision, options);
  }

  /**
   * The instances bound to `host` as a reconcile `WatchableStore` (list once, then watch):
   * what an agent gives `controller(...).watches(...)` or a shared informer.
   */
  instancesOn(host: string): WatchableStore<Instance> {
    return this.instances.view(host);
  }

  /**
   * Makes sure the secondary indexes cover objects written before they existed (a store
   * from an older flo): once per store, then a marker key says so. `flo controller` and
   * `flo agent` call it at start.
   */
  async ensureIndexes(): Promise<void> {
    await this.instances.reindex();
  }

  close(): Promise<void> {
    return this.kv.close();
  }
}

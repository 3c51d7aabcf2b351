/**
 * The etcd backend (`etcd://host:port,...`) through the `etcd3` client: for users who run
 * etcd already. etcd's data model is the contract's model (revisions, modRevision,
 * compare-and-set as a transaction, watch from a revision with previous values), so this
 * is a thin translation.
 *
 * etcd3 is an optional peer dependency: it loads only in {@link openEtcdStore} (see
 * `etcd-client.ts`), and the public types here do not mention it, so a program that never
 * opens an etcd store type-checks and runs without it installed.
 */
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { ClusterError, ConflictError } from '../errors.js';
import { loadEtcd3, tolerateDetachedWatchResponses } from './etcd-client.js';
import { Channel } from './channel.js';
import { checkRangeOptions, checkTxn } from './kv-state.js';
import type { KeyValue, KvCompare, KvRangeOptions, KvLeases, KvStore, KvTxnOp, KvTxnResult, KvWatchEvent, KvWatchOptions, WriteOptions } from './types.js';

/** Options of {@link openEtcdStore}. */
export interface EtcdStoreOptions {
  /** Interval of `progress` events on watches; 0 disables them. @default 5000 */
  progressIntervalMs?: number;
  /** Passed to the etcd3 client (its `IOptions` without `hosts`: credentials, auth, ...). @default {} */
  client?: EtcdClientOptions;
}

/**
 * Options of the etcd3 client (etcd3's `IOptions` without `hosts`). The common ones are
 * spelled out; any other etcd3 option passes through as it is. Declared here so that this
 * package's types do not need etcd3 installed.
 */
export interface EtcdClientOptions {
  /** TLS: the CA certificate, and a client certificate and key for mutual TLS. */
  credentials?: { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer };
  /** etcd user and password (etcd's auth). */
  auth?: { username: string; password: string; [option: string]: unknown };
  /** How long to wait for a connection, in milliseconds. */
  dialTimeout?: number;
  /** Other etcd3 options (grpcOptions, defaultCallOptions, faultHandling, ...). */
  [option: string]: unknown;
}

/** An `Etcd3` client of the etcd3 package (typed loosely so that these types need no etcd3). */
export interface Etcd3Client {
  close(): void;
}

function toKv(kv: IKeyValue): KeyValue {
  return {
    key: kv.key.toString('utf8'),
    value: kv.value.toString('utf8'),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    version: Number(kv.version),
  };
}

/** grpc's message on one line, without its timestamp and empty resolution note. */
function oneLine(message: string): string {
  return message
    .replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)\.?/g, '')
    .replace(/\.?\s*Resolution note:\s*$/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

function unavailable(e: unknown): ClusterError {
  return new ClusterError('store-unavailable', `etcd: ${oneLine(e instanceof Error ? e.message : String(e))}`, { cause: e });
}

/**
 * The revision of a compare-and-set transaction (`if mod_revision == prev then … else get
 * key`) that succeeded; a {@link ConflictError} with the key's current revision when not.
 */
function casRevision(res: { succeeded: boolean; header: { revision: string }; responses: { response_range?: { kvs: IKeyValue[] } }[] }, key: string, prev: number): number {
  if (res.succeeded) return Number(res.header.revision);
  const current = res.responses[0]?.response_range?.kvs[0];
  throw new ConflictError(key, prev, current ? Number(current.mod_revision) : 0);
}

/** A conflict as it is; anything else from the client is the store being unavailable. */
function asStoreError(e: unknown): Error {
  return e instanceof ConflictError ? e : unavailable(e);
}

/** The first key after every key with `prefix` (etcd's prefix range end). */
function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i]!++;
      return end;
    }
  }
  return Buffer.from([0]);
}

/** A {@link KvStore} on an etcd cluster. */
export class EtcdKvStore implements KvStore, KvLeases {
  readonly #client: Etcd3;
  readonly #progressIntervalMs: number;
  readonly #watchers = new Set<() => void>();

  /** `client` is an `Etcd3` instance of the etcd3 package; {@link openEtcdStore} makes one. */
  constructor(client: Etcd3Client, options: EtcdStoreOptions = {}) {
    this.#client = client as Etcd3;
    this.#progressIntervalMs = options.progressIntervalMs ?? 5000;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    try {
      const res = await this.#client.get(key).exec();
      const kv = res.kvs[0];
      return kv ? toKv(kv) : undefined;
    } catch (e) {
      throw unavailable(e);
    }
  }

  /**
   * A page is read at `options.revision` when given (consistent paging); a compacted one is
   * a `ClusterError` coded `compacted`. Without a limit, every key is fetched 5,000 a request,
   * each request at the first one's revision (one response for 150,000 instances would pass
   * gRPC's 4 MiB message limit).
   */
  async range(prefix: string, options?: KvRangeOptions): Promise<{ items: KeyValue[]; revision: number; more?: boolean }> {
    checkRangeOptions(options);
    if (options?.limit === undefined) {
      const items: KeyValue[] = [];
      let page = await this.#range(prefix, { ...options, limit: 5000 });
      for (;;) {
        for (const kv of page.items) items.push(kv);
        if (page.more !== true || page.items.length === 0) break;
        page = await this.#range(prefix, { limit: 5000, after: page.items.at(-1)!.key, revision: page.revision });
      }
      return { items, revision: page.revision };
    }
    return this.#range(prefix, options);
  }

  async #range(prefix: string, options: KvRangeOptions): Promise<{ items: KeyValue[]; revision: number; more?: boolean }> {
    try {
      const start = options.after !== undefined ? Buffer.concat([Buffer.from(options.after), Buffer.from([0])]) : Buffer.from(prefix);
      let q = this.#client.getAll().inRange({ start: Buffer.compare(start, Buffer.from(prefix)) > 0 ? start : Buffer.from(prefix), end: prefix === '' ? Buffer.from([0]) : prefixEnd(prefix) }).sort('Key', 'Ascend');
      if (options.limit !== undefined) q = q.limit(options.limit);
      if (options.revision !== undefined && options.revision > 0) q = q.revision(options.revision);
      const res = await q.exec();
      return { items: res.kvs.map(toKv), revision: options.revision !== undefined && options.revision > 0 ? options.revision : Number(res.header.revision), more: res.more };
    } catch (e) {
      if (/compacted/i.test(e instanceof Error ? e.message : String(e)))
        throw new ClusterError('compacted', `etcd: revision ${options.revision ?? '?'} was compacted: list again from the start`, { cause: e });
      throw unavailable(e);
    }
  }

  async txn(compare: readonly KvCompare[], ops: readonly KvTxnOp[]): Promise<KvTxnResult> {
    checkTxn(compare, ops);
    try {
      const client = this.#client;
      const writes = ops.map((op) => (op.type === 'put' ? client.put(op.key).value(op.value) : client.delete().key(op.key)));
      const reads = compare.map((c) => client.get(c.key));
      let res;
      if (compare.length === 0) {
        // etcd's txn without a comparison always succeeds; etcd3 needs one: mod > -1 holds for any key
        if (ops.length === 0) return { succeeded: true, revision: Number((await client.get('\0').exec()).header.revision) };
        res = await client.if(ops[0]!.key, 'Mod', '>', -1).then(...writes).commit();
      }
      else {
        let cmp = client.if(compare[0]!.key, 'Mod', '==', compare[0]!.modRevision);
        for (const c of compare.slice(1)) cmp = cmp.and(c.key, 'Mod', '==', c.modRevision);
        res = await cmp.then(...writes).else(...reads).commit();
      }
      if (res.succeeded) return { succeeded: true, revision: Number(res.header.revision) };
      const current = res.responses.map((r) => Number(r.response_range?.kvs[0]?.mod_revision ?? 0));
      return { succeeded: false, revision: Number(res.header.revision), current };
    } catch (e) {
      throw unavailable(e);
    }
  }

  async put(key: string, value: string, options: WriteOptions = {}): Promise<number> {
    const prev = options.prevRevision;
    try {
      const builder = (): ReturnType<Etcd3['put']> => {
        const b = this.#client.put(key).value(value);
        // set on the request itself: inside a transaction the builder's lease() is not applied
        if (options.lease !== undefined) (b as unknown as { request: { lease?: string } }).request.lease = options.lease;
        return b;
      };
      if (prev === undefined) {
        const res = await builder().exec();
        return Number(res.header.revision);
      }
      const txn = prev === 0 ? this.#client.if(key, 'Create', '==', 0) : this.#client.if(key, 'Mod', '==', prev);
      const res = await txn.then(builder()).else(this.#client.get(key)).commit();
      return casRevision(res, key, prev);
    } catch (e) {
      throw asStoreError(e);
    }
  }

  async delete(key: string, options: WriteOptions = {}): Promise<number | undefined> {
    const prev = options.prevRevision;
    try {
      if (prev === undefined) {
        const res = await this.#client.delete().key(key).exec();
        return Number(res.deleted) > 0 ? Number(res.header.revision) : undefined;
      }
      if (prev === 0) {
        const current = await this.get(key);
        if (current) throw new ConflictError(key, 0, current.modRevision);
        return undefined;
      }
      const res = await this.#client.if(key, 'Mod', '==', prev).then(this.#client.delete().key(key)).else(this.#client.get(key)).commit();
      return casRevision(res, key, prev);
    } catch (e) {
      throw asStoreError(e);
    }
  }

  async grantLease(ttlSeconds: number): Promise<{ id: string; ttlSeconds: number }> {
    try {
      // etcd's own lease ids are random 63-bit numbers, which the etcd3 client's gRPC loader
      // rounds (it passes int64 through a JS number): choose an id that survives the trip
      const id = 1 + Math.floor(Math.random() * (Number.MAX_SAFE_INTEGER - 1));
      const res = await this.#client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: id });
      return { id: String(res.ID), ttlSeconds: Number(res.TTL) };
    } catch (e) {
      throw unavailable(e);
    }
  }

  async keepAliveLease(id: string): Promise<number | undefined> {
    try {
      const stream = await this.#client.leaseClient.leaseKeepAlive();
      const res = await new Promise<{ TTL: string }>((resolve, reject) => {
        stream.on('data', resolve);
        stream.on('error', reject);
        stream.write({ ID: id });
      }).finally(() => stream.end());
      const ttl = Number(res.TTL);
      return ttl > 0 ? ttl : undefined;
    } catch (e) {
      throw unavailable(e);
    }
  }

  /** All of them over one keep-alive stream (etcd answers each request on it, in order). */
  async keepAliveMany(ids: readonly string[]): Promise<(number | undefined)[]> {
    if (ids.length === 0) return [];
    try {
      const stream = await this.#client.leaseClient.leaseKeepAlive();
      const out: (number | undefined)[] = [];
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (res: { TTL: string }) => {
          const ttl = Number(res.TTL);
          out.push(ttl > 0 ? ttl : undefined);
          if (out.length === ids.length) resolve();
        });
        stream.on('error', reject);
        stream.on('end', () => (out.length < ids.length ? reject(new Error(`etcd closed the keep-alive stream after ${out.length} of ${ids.length} answers`)) : resolve()));
        for (const id of ids) stream.write({ ID: id });
      }).finally(() => stream.end());
      return out;
    } catch (e) {
      throw unavailable(e);
    }
  }

  async revokeLease(id: string): Promise<void> {
    try {
      await this.#client.leaseClient.leaseRevoke({ ID: id });
    } catch (e) {
      if (/requested lease not found/i.test(e instanceof Error ? e.message : String(e))) return;
      throw unavailable(e);
    }
  }

  watch(prefix: string, options: KvWatchOptions = {}): AsyncIterable<KvWatchEvent> {
    let watcher: Watcher | undefined;
    let timer: ReturnType<typeof setInterval> | undefined;
    let delivered = 0;
    const stop = (): void => {
      this.#watchers.delete(stop);
      options.signal?.removeEventListener('abort', stop);
      if (timer) clearInterval(timer);
      channel.close();
      void watcher?.cancel().catch(() => undefined);
    };
    const channel = new Channel<KvWatchEvent>(stop);
    this.#watchers.add(stop);
    options.signal?.addEventListener('abort', stop, { once: true });
    const start = async (): Promise<void> => {
      let from = options.fromRevision;
      if (from === undefined) {
        const res = await this.#client.get('\0').exec();
        from = Number(res.header.revision) + 1;
      }
      delivered = from - 1;
      const builder = this.#client.watch().prefix(prefix).withPreviousKV().startRevision(String(from));
      // ask etcd for progress notifications too (the builder has no setter for it)
      (builder as unknown as { request: { progress_notify?: boolean } }).request.progress_notify = true;
      if (channel.closed) return;
      watcher = await builder.create();
      if (channel.closed) {
        void watcher.cancel().catch(() => undefined);
        return;
      }
      watcher.on('data', (res) => {
        for (const ev of res.events) {
          const kv = ev.kv;
          const prevValue = ev.prev_kv ? ev.prev_kv.value.toString('utf8') : undefined;
          if (ev.type === 'Put') channel.push({ type: 'put', ...toKv(kv), ...(prevValue !== undefined ? { prevValue } : {}) });
          else
            channel.push({
              type: 'delete',
              key: kv.key.toString('utf8'),
              modRevision: Number(kv.mod_revision),
              ...(prevValue !== undefined ? { prevValue } : {}),
            });
        }
        delivered = Math.max(delivered, Number(res.header.revision));
      });
      watcher.on('error', (err) => {
        if (/compacted/i.test(err.message)) channel.push({ type: 'expired', compactRevision: from });
        else channel.push({ type: 'expired', compactRevision: 0 });
        stop();
      });
      // progress is reported only while etcd's stream is up: a watch whose stream is gone must
      // fall silent, so that its reader's deadline notices it (issue 15: at 5,000 hosts a kept
      // informer behind a dead stream went on hearing made-up progress and never re-watched)
      let connected = true;
      watcher.on('disconnected', () => (connected = false));
      watcher.on('connected', () => (connected = true));
      if (this.#progressIntervalMs > 0) {
        timer = setInterval(() => {
          if (connected) channel.push({ type: 'progress', revision: delivered });
        }, this.#progressIntervalMs);
        timer.unref();
      }
    };
    start().catch((e: unknown) => {
      const message = e instanceof Error ? e.message : String(e);
      channel.push({ type: 'expired', compactRevision: /compacted/i.test(message) ? (options.fromRevision ?? 0) : 0 });
      stop();
    });
    if (options.signal?.aborted) stop();
    return channel;
  }

  /** Compacts etcd's history up to `revision` (tests and maintenance). */
  async compact(revision: number): Promise<void> {
    await this.#client.kv.compact({ revision: String(revision), physical: true });
  }

  async close(): Promise<void> {
    for (const stop of [...this.#watchers]) stop();
    this.#client.close();
    return Promise.resolve();
  }
}

/**
 * Connects to etcd at `hosts` (e.g. `["127.0.0.1:23790"]`). The etcd3 module loads only here;
 * without it installed this throws a {@link ClusterError} with code `dependency-missing` that
 * says `npm i etcd3`.
 */
export async function openEtcdStore(hosts: readonly string[], options: EtcdStoreOptions = {}): Promise<EtcdKvStore> {
  const { Etcd3 } = await loadEtcd3();
  const client = new Etcd3({ ...options.client, hosts: hosts.map((h) => (/^https?:\/\//.test(h) ? h : `http://${h}`)) });
  tolerateDetachedWatchResponses(client);
  return new EtcdKvStore(client, options);
}

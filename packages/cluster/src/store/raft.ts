/**
 * The Flotilla Raft KV backend (`flotilla://host:port,...`) through `@flotilla/raft/client`.
 * The KV's model is etcd's (revisions, modRevision compare-and-set, watch from a revision),
 * so this is a thin translation; a delete event's previous value comes from a per-watch
 * cache of the keys seen (filled by a range at the watch's start revision).
 */
import type { KvClient, KvClientOptions } from '@flotilla/raft/client';
import { ClusterError, ConflictError } from '../errors.js';
import { Channel } from './channel.js';
import { checkRangeOptions, checkTxn } from './kv-state.js';
import type { KeyValue, KvCompare, KvRangeOptions, KvLeases, KvStore, KvTxnOp, KvTxnResult, KvWatchEvent, KvWatchOptions, WriteOptions } from './types.js';

/** Options of {@link openRaftStore}. */
export interface RaftStoreOptions {
  /** Passed to the KvClient (token, CA, client certificate, timeouts). @default {} */
  client?: Omit<KvClientOptions, 'endpoints'>;
  /** How `host:port` endpoints are spoken to. @default `https` when `client.ca` or `client.cert` is given, else `http` */
  scheme?: 'http' | 'https';
  /** Keys one range request asks for: unlimited ranges and a watch's first read are paged by it. @default 5000 */
  pageSize?: number;
}

function kvCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null ? ((e as { code?: unknown }).code as string | undefined) : undefined;
}

function translate(e: unknown, key: string, expected: number | undefined): Error {
  if (kvCode(e) === 'conflict' && expected !== undefined) return new ConflictError(key, expected, (e as { modRevision?: number }).modRevision ?? 0);
  if (e instanceof ClusterError) return e;
  return new ClusterError('store-unavailable', `flotilla KV: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

const strip = (kv: KeyValue): KeyValue => ({ key: kv.key, value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version });

/** A {@link KvStore} on the Flotilla Raft KV. */
export class RaftKvStore implements KvStore, KvLeases {
  readonly #client: KvClient;
  readonly #watchers = new Set<() => void>();
  readonly #pageSize: number;

  /** @param options.pageSize keys a range request asks for (a watch's first read, unlimited ranges) @default 5000 */
  constructor(client: KvClient, options: { pageSize?: number } = {}) {
    this.#client = client;
    this.#pageSize = options.pageSize ?? 5000;
    if (!Number.isInteger(this.#pageSize) || this.#pageSize < 1) throw new TypeError(`pageSize: expected a positive integer, received ${String(options.pageSize)}`);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    try {
      const kv = await this.#client.get(key);
      return kv ? strip(kv) : undefined;
    } catch (e) {
      throw translate(e, key, undefined);
    }
  }

  /**
   * Without a limit, every key (fetched 5,000 a request); the Raft KV keeps no versions, so
   * a page is read at the current revision (`options.revision` is not honoured).
   */
  async range(prefix: string, options?: KvRangeOptions): Promise<{ items: KeyValue[]; revision: number; more?: boolean }> {
    checkRangeOptions(options);
    try {
      if (options?.limit !== undefined) {
        const page = await this.#client.range({ prefix, limit: options.limit, ...(options.after !== undefined ? { after: options.after } : {}) });
        return { items: page.items.map(strip), revision: page.revision, more: page.more };
      }
      const items: KeyValue[] = [];
      let after = options?.after;
      let revision = 0;
      for (;;) {
        const page = await this.#client.range({ prefix, limit: this.#pageSize, ...(after !== undefined ? { after } : {}) });
        for (const kv of page.items) items.push(strip(kv));
        if (revision === 0) revision = page.revision;
        if (!page.more || page.items.length === 0) break;
        after = page.items.at(-1)!.key;
      }
      return { items, revision };
    } catch (e) {
      throw translate(e, prefix, undefined);
    }
  }

  async txn(compare: readonly KvCompare[], ops: readonly KvTxnOp[]): Promise<KvTxnResult> {
    checkTxn(compare, ops);
    try {
      const res = await this.#client.txn({
        compare: compare.map((c) => ({ key: c.key, modRevision: c.modRevision })),
        success: ops.map((op) => (op.type === 'put' ? { put: { key: op.key, value: op.value } } : { delete: { key: op.key } })),
        failure: compare.map((c) => ({ get: { key: c.key } })),
      });
      if (res.succeeded) return { succeeded: true, revision: res.revision };
      const current = res.results.map((r) => ((r as { get?: { modRevision?: number } | null }).get?.modRevision ?? 0));
      return { succeeded: false, revision: res.revision, current };
    } catch (e) {
      throw translate(e, compare[0]?.key ?? ops[0]?.key ?? '', undefined);
    }
  }

  async put(key: string, value: string, options: WriteOptions = {}): Promise<number> {
    try {
      return await this.#client.put(key, value, { ...(options.prevRevision !== undefined ? { prevRevision: options.prevRevision } : {}), ...(options.lease !== undefined ? { lease: options.lease } : {}) });
    } catch (e) {
      throw translate(e, key, options.prevRevision);
    }
  }

  async delete(key: string, options: WriteOptions = {}): Promise<number | undefined> {
    if (options.prevRevision === 0) {
      const cur = await this.get(key);
      if (cur) throw new ConflictError(key, 0, cur.modRevision);
      return undefined;
    }
    let revision: number | undefined;
    try {
      revision = await this.#client.delete(key, options.prevRevision !== undefined ? { prevRevision: options.prevRevision } : {});
    } catch (e) {
      throw translate(e, key, options.prevRevision);
    }
    if (revision === undefined && options.prevRevision !== undefined) throw new ConflictError(key, options.prevRevision, 0);
    return revision;
  }

  watch(prefix: string, options: KvWatchOptions = {}): AsyncIterable<KvWatchEvent> {
    return this.#watch([prefix], options);
  }

  /** One watch of the union of `prefixes` on one connection (`POST /v1/watch`; see {@link KvStore.watchPrefixes}). */
  watchPrefixes(prefixes: readonly string[], options: KvWatchOptions = {}): AsyncIterable<KvWatchEvent> {
    if (prefixes.length === 0) throw new TypeError('prefixes: expected at least one');
    return this.#watch([...new Set(prefixes)], options);
  }

  #watch(prefixes: readonly string[], options: KvWatchOptions): AsyncIterable<KvWatchEvent> {
    const abort = new AbortController();
    const stop = (): void => {
      this.#watchers.delete(stop);
      options.signal?.removeEventListener('abort', stop);
      abort.abort();
      channel.close();
    };
    const channel = new Channel<KvWatchEvent>(stop);
    this.#watchers.add(stop);
    options.signal?.addEventListener('abort', stop, { once: true });
    const run = async (): Promise<void> => {
      // previous values for delete events: the keys under the prefix, read a page at a time
      // (a watch of 150,000 instances must not ask a member for one 150 MB answer)
      const values = new Map<string, string>();
      let revision = 0;
      for (const prefix of options.prevValues !== false ? prefixes : []) {
        for (let after: string | undefined; ; ) {
          const page = await this.#client.range({ prefix, limit: this.#pageSize, ...(after !== undefined ? { after } : {}) });
          if (revision === 0) revision = page.revision;
          for (const kv of page.items) values.set(kv.key, kv.value);
          if (!page.more || page.items.length === 0) break;
          after = page.items.at(-1)!.key;
          if (abort.signal.aborted) return;
        }
      }
      // without previous values and a start revision, the watch starts at the member's next revision
      const from = options.fromRevision ?? (revision > 0 ? revision + 1 : undefined);
      // from an older revision the values read are from after the start: not previous values
      if (from !== undefined && from <= revision) values.clear();
      const events = this.#client.watch(prefixes.length === 1 ? prefixes[0]! : prefixes, {
        ...(from !== undefined ? { fromRevision: from } : {}),
        signal: abort.signal,
        onProgress: (revision) => channel.push({ type: 'progress', revision }),
      });
      for await (const ev of events) {
        if (ev.type === 'put') {
          const prevValue = values.get(ev.key);
          values.set(ev.key, ev.value);
          channel.push({ type: 'put', key: ev.key, value: ev.value, createRevision: ev.createRevision, modRevision: ev.modRevision, version: ev.version, ...(prevValue !== undefined ? { prevValue } : {}) });
        } else {
          const prevValue = values.get(ev.key);
          values.delete(ev.key);
          channel.push({ type: 'delete', key: ev.key, modRevision: ev.modRevision, ...(prevValue !== undefined ? { prevValue } : {}) });
        }
      }
    };
    run()
      .catch((e: unknown) => {
        if (abort.signal.aborted) return;
        const compactRevision = (e as { compactRevision?: number }).compactRevision;
        channel.push({ type: 'expired', compactRevision: kvCode(e) === 'compacted' ? (compactRevision ?? 0) : 0 });
      })
      .finally(stop);
    if (options.signal?.aborted) stop();
    return channel;
  }

  async grantLease(ttlSeconds: number): Promise<{ id: string; ttlSeconds: number }> {
    try {
      return await this.#client.grantLease(ttlSeconds);
    } catch (e) {
      throw translate(e, '(lease)', undefined);
    }
  }

  async keepAliveLease(id: string): Promise<number | undefined> {
    try {
      return (await this.#client.keepAlive(id)).ttlSeconds;
    } catch (e) {
      if (kvCode(e) === 'lease-not-found') return undefined;
      throw translate(e, `(lease ${id})`, undefined);
    }
  }

  /** One request and one log entry per 10,000 leases (`POST /v1/keepalive`). */
  async keepAliveMany(ids: readonly string[]): Promise<(number | undefined)[]> {
    const out: (number | undefined)[] = [];
    try {
      for (let i = 0; i < ids.length; i += 10_000) {
        for (const l of await this.#client.keepAliveMany(ids.slice(i, i + 10_000))) out.push(l.ttlSeconds > 0 ? l.ttlSeconds : undefined);
      }
    } catch (e) {
      throw translate(e, `(${ids.length} leases)`, undefined);
    }
    return out;
  }

  async revokeLease(id: string): Promise<void> {
    try {
      await this.#client.revokeLease(id);
    } catch (e) {
      if (kvCode(e) === 'lease-not-found') return;
      throw translate(e, `(lease ${id})`, undefined);
    }
  }

  /** Compacts the KV's history up to `revision`. */
  compact(revision: number): Promise<void> {
    return this.#client.compact(revision);
  }

  close(): Promise<void> {
    for (const stop of [...this.#watchers]) stop();
    this.#client.close();
    return Promise.resolve();
  }
}

/** Connects to Flotilla KV members (`["127.0.0.1:2479"]` or URLs). */
export async function openRaftStore(endpoints: readonly string[], options: RaftStoreOptions = {}): Promise<RaftKvStore> {
  const { KvClient } = await import('@flotilla/raft/client');
  const scheme = options.scheme ?? (options.client?.ca !== undefined || options.client?.cert !== undefined ? 'https' : 'http');
  const client = new KvClient({ ...options.client, endpoints: endpoints.map((h) => (/^https?:\/\//.test(h) ? h : `${scheme}://${h}`)) });
  return new RaftKvStore(client, options.pageSize !== undefined ? { pageSize: options.pageSize } : {});
}

/**
 * Opening a store from its URL: the file store by default, etcd through etcd3 (loaded
 * only then), the Raft KV through its client.
 */
import { join } from 'node:path';
import { openEtcdStore, type EtcdStoreOptions } from './etcd.js';
import { openFileStore, type FileKvStoreOptions } from './file.js';
import { checkFileStore, countKinds, type FileStoreReport } from './file-repair.js';
import { openRaftStore, type RaftStoreOptions } from './raft.js';
import { ClusterStore, ROOT_PREFIX } from './resources.js';
import type { KvStore } from './types.js';
import { parseStoreUrl, type StoreLocation } from './url.js';

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** Directory the default `.flotilla/` is relative to. @default process.cwd() */
  cwd?: string;
  /** Where `apply` copies artifacts. @default `<dir>/artifacts` for a file store, else `.flotilla/artifacts` under cwd */
  artifactDir?: string;
  /**
   * `false` for read-only use: a file store that does not exist yet is not created, and
   * opening fails with a `ClusterError` coded `store-missing` naming the directory. Remote
   * stores are unaffected. @default true
   */
  create?: boolean;
  /** File store options. @default {} */
  file?: FileKvStoreOptions;
  /** etcd options. @default {} */
  etcd?: EtcdStoreOptions;
  /** Flotilla Raft KV options. @default {} */
  raft?: RaftStoreOptions;
}

/** Opens the key-value store a location names. */
export async function openKvStore(location: StoreLocation, options: OpenStoreOptions = {}): Promise<KvStore> {
  switch (location.type) {
    case 'file':
      return openFileStore(location.dir, options.create === false ? { ...options.file, create: false } : options.file);
    case 'etcd':
      return openEtcdStore(location.endpoints, location.auth ? { ...options.etcd, client: { ...options.etcd?.client, auth: location.auth } } : options.etcd);
    case 'flotilla':
      return openRaftStore(location.endpoints, options.raft);
  }
}

/** Opens the {@link ClusterStore} at `url` (`undefined` = `.flotilla/` in cwd). */
export async function openStore(url: string | undefined, options: OpenStoreOptions = {}): Promise<ClusterStore> {
  const cwd = options.cwd ?? process.cwd();
  const location = parseStoreUrl(url, cwd);
  const kv = await openKvStore(location, options);
  const artifactDir = options.artifactDir ?? (location.type === 'file' ? join(location.dir, 'artifacts') : join(cwd, '.flotilla', 'artifacts'));
  return new ClusterStore(kv, { artifactDir });
}

/** What {@link checkStore} found: a file store's full report, or a remote store's reachability. */
export type StoreCheck =
  | ({ type: 'file' } & FileStoreReport)
  | {
      type: 'flotilla' | 'etcd';
      endpoints: string[];
      /** `ok`: every Flotilla object could be listed; `unreachable`: the list failed (`error` says why). */
      status: 'ok' | 'unreachable';
      revision?: number;
      keys?: number;
      kinds?: Record<string, number>;
      error?: string;
      /** What a check means for this kind of store. */
      note: string;
    };

const REMOTE_NOTE =
  'a flotilla:// or etcd:// store keeps its data on its servers, which verify it themselves (a Flotilla member refuses to start on a damaged WAL or snapshot, as etcd does): this check lists every Flotilla object through the store (reachable, readable, consistent at one revision). Repair applies to file stores only.';

/**
 * Checks the store at `url` (`undefined` = `.flotilla/` in cwd) without changing it: a file
 * store is verified record by record ({@link checkFileStore}); a Raft KV or etcd store is
 * listed under Flotilla's prefix. Never throws for damage or an unreachable store: it reports.
 */
export async function checkStore(url: string | undefined, options: OpenStoreOptions = {}): Promise<StoreCheck> {
  const location = parseStoreUrl(url, options.cwd ?? process.cwd());
  if (location.type === 'file') return { type: 'file', ...(await checkFileStore(location.dir)) };
  let kv: KvStore | undefined;
  try {
    kv = await openKvStore(location, options);
    const { items, revision } = await kv.range(ROOT_PREFIX);
    return { type: location.type, endpoints: location.endpoints, status: 'ok', revision, keys: items.length, kinds: countKinds(items.map((i) => i.key)), note: REMOTE_NOTE };
  } catch (e) {
    return { type: location.type, endpoints: location.endpoints, status: 'unreachable', error: e instanceof Error ? e.message : String(e), note: REMOTE_NOTE };
  } finally {
    await kv?.close().catch(() => undefined);
  }
}

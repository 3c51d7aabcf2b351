/**
 * Opening a store from its URL: the file store by default, etcd through etcd3 (loaded
 * only then), the Raft KV through its client.
 */
import { join } from 'node:path';
import { openEtcdStore, type EtcdStoreOptions } from './etcd.js';
import { openFileStore, type FileKvStoreOptions } from './file.js';
import { openRaftStore, type RaftStoreOptions } from './raft.js';
import { ClusterStore } from './resources.js';
import type { KvStore } from './types.js';
import { parseStoreUrl, type StoreLocation } from './url.js';

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** Directory the default `.flotilla/` is relative to. @default process.cwd() */
  cwd?: string;
  /** Where `apply` copies artifacts. @default `<dir>/artifacts` for a file store, else `.flotilla/artifacts` under cwd */
  artifactDir?: string;
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
      return openFileStore(location.dir, options.file);
    case 'etcd':
      return openEtcdStore(location.endpoints, options.etcd);
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

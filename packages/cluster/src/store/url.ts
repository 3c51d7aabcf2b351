/**
 * Store URLs (`--store`): `file:///abs/dir` (the default is `.flotilla/` in the current
 * directory), `flotilla://host:port,host:port` (the Raft KV), `etcd://host:port,...`.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClusterError } from '../errors.js';

export type StoreLocation = { type: 'file'; dir: string } | { type: 'flotilla'; endpoints: string[] } | { type: 'etcd'; endpoints: string[] };

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

function endpoints(url: string, scheme: string): string[] {
  const rest = url.slice(scheme.length + 3).replace(/\/+$/, '');
  const list = rest.split(',').map((s) => s.trim());
  const bad = list.filter((e) => {
    const m = HOST_PORT.exec(e);
    return !m || Number(m[2]) < 1 || Number(m[2]) > 65535;
  });
  if (list.length === 0 || rest === '' || bad.length > 0)
    throw new ClusterError(
      'store-url-invalid',
      `invalid store URL "${url}": expected ${scheme}://host:port[,host:port...]${bad.length > 0 ? ` (bad: ${bad.map((b) => JSON.stringify(b)).join(', ')})` : ''}`,
    );
  return list;
}

/**
 * Parses a store URL. `undefined` or `''` means the default, `.flotilla/` under `cwd`.
 * Throws a `ClusterError` with code `store-url-invalid` naming what was expected.
 */
export function parseStoreUrl(url: string | undefined, cwd: string = process.cwd()): StoreLocation {
  if (url === undefined || url === '') return { type: 'file', dir: resolve(cwd, '.flotilla') };
  if (url.startsWith('file://')) {
    let dir: string;
    try {
      dir = fileURLToPath(url);
    } catch (e) {
      throw new ClusterError('store-url-invalid', `invalid store URL "${url}": expected file:///absolute/dir`, { cause: e });
    }
    return { type: 'file', dir };
  }
  if (url.startsWith('flotilla://')) return { type: 'flotilla', endpoints: endpoints(url, 'flotilla') };
  if (url.startsWith('etcd://')) return { type: 'etcd', endpoints: endpoints(url, 'etcd') };
  throw new ClusterError('store-url-invalid', `invalid store URL "${url}": expected file:///dir, flotilla://host:port,... or etcd://host:port,...`);
}

/**
 * Store URLs (`--store`): `file:///abs/dir` (the default is `.flotilla/` in the current
 * directory), `flotilla://host:port,host:port` (the Raft KV), `etcd://[user:password@]host:port,...`
 * (etcd's own authentication). A password never appears in an error: see {@link redactStoreUrl}.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClusterError } from '../errors.js';

export type StoreLocation =
  | { type: 'file'; dir: string }
  | { type: 'flotilla'; endpoints: string[] }
  | { type: 'etcd'; endpoints: string[]; /** From `etcd://user:password@…` (percent-decoded). */ auth?: { username: string; password: string } };

/** `url` with the password of its `user:password@` replaced by `***`: what may be printed or logged. */
export function redactStoreUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@/i, (_m, scheme: string, userinfo: string) => {
    const i = userinfo.indexOf(':');
    return `${scheme}${i >= 0 ? `${userinfo.slice(0, i)}:***` : userinfo}@`;
  });
}

function decode(part: string, url: string): string {
  try {
    return decodeURIComponent(part);
  } catch (e) {
    throw new ClusterError('store-url-invalid', `invalid store URL "${redactStoreUrl(url)}": bad percent-encoding in the user or password`, { cause: e });
  }
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

function endpoints(url: string, scheme: string, rest: string = url.slice(scheme.length + 3)): string[] {
  rest = rest.replace(/\/+$/, '');
  const list = rest.split(',').map((s) => s.trim());
  const bad = list.filter((e) => {
    const m = HOST_PORT.exec(e);
    return !m || Number(m[2]) < 1 || Number(m[2]) > 65535;
  });
  if (list.length === 0 || rest === '' || bad.length > 0)
    throw new ClusterError(
      'store-url-invalid',
      `invalid store URL "${redactStoreUrl(url)}": expected ${scheme}://${scheme === 'etcd' ? '[user:password@]' : ''}host:port[,host:port...]${bad.length > 0 ? ` (bad: ${bad.map((b) => JSON.stringify(b)).join(', ')})` : ''}`,
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
      throw new ClusterError('store-url-invalid', `invalid store URL "${redactStoreUrl(url)}": expected file:///absolute/dir`, { cause: e });
    }
    return { type: 'file', dir };
  }
  if (url.startsWith('flotilla://')) {
    if (url.slice('flotilla://'.length).includes('@'))
      throw new ClusterError(
        'store-url-invalid',
        `invalid store URL "${redactStoreUrl(url)}": a flotilla:// store takes no user or password; give its bearer token in a file (flo --store-token-file FILE, or $FLO_STORE_TOKEN_FILE)`,
      );
    return { type: 'flotilla', endpoints: endpoints(url, 'flotilla') };
  }
  if (url.startsWith('etcd://')) {
    const rest = url.slice('etcd://'.length);
    const at = rest.lastIndexOf('@');
    if (at < 0) return { type: 'etcd', endpoints: endpoints(url, 'etcd') };
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    const username = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo, url);
    if (username === '' || colon < 0)
      throw new ClusterError('store-url-invalid', `invalid store URL "${redactStoreUrl(url)}": expected etcd://user:password@host:port[,host:port...] (both the user and the password)`);
    return { type: 'etcd', endpoints: endpoints(url, 'etcd', rest.slice(at + 1)), auth: { username, password: decode(userinfo.slice(colon + 1), url) } };
  }
  throw new ClusterError('store-url-invalid', `invalid store URL "${redactStoreUrl(url)}": expected file:///dir, flotilla://host:port,... or etcd://host:port,...`);
}

/**
 * Loading the `etcd3` client. etcd3 (with grpc-js and protobufjs, ≈15 MB installed) is an
 * optional peer dependency of this package: only `etcd://` stores need it, so it loads here,
 * on first use, and a missing install is a {@link ClusterError} (`dependency-missing`) that
 * says how to add it.
 */
import type * as etcd3 from 'etcd3';
import { ClusterError } from '../errors.js';

/** The etcd3 module, as `import('etcd3')` gives it. */
export type Etcd3Module = typeof etcd3;

const importEtcd3 = (): Promise<Etcd3Module> => import('etcd3');

function isModuleNotFound(e: unknown): e is Error & { code: string } {
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof Error && (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND');
}

/**
 * Imports etcd3 (through `importModule`, which tests replace). Throws `dependency-missing` when
 * etcd3, or a module it needs, cannot be found; any other failure passes through.
 */
export async function loadEtcd3(importModule: () => Promise<Etcd3Module> = importEtcd3): Promise<Etcd3Module> {
  try {
    return await importModule();
  } catch (e) {
    if (!isModuleNotFound(e)) throw e;
    // Node names the package it could not find: "Cannot find package 'etcd3' imported from …"
    // for etcd3 itself, "Cannot find module '@grpc/grpc-js'" for a broken etcd3 install.
    if (/['"]etcd3['"]/.test(e.message))
      throw new ClusterError(
        'dependency-missing',
        'etcd:// stores need the etcd3 package, which is not installed (it is an optional peer dependency of @flotilla/cluster, left out so other installs stay small). Install it beside @flotilla/cluster: npm i etcd3',
        { cause: e },
      );
    throw new ClusterError(
      'dependency-missing',
      `etcd:// stores need the etcd3 package, which is installed but cannot load: ${e.message}. Reinstall it: npm i etcd3`,
      { cause: e },
    );
  }
}

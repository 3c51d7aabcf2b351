/**
 * Reading a secret (a token, a private key) from a file, refusing one that others can read —
 * as OpenSSH refuses an unprotected private key: the secret has already leaked to every
 * account that can read the file, and a file others can write could be swapped for theirs.
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { SysError } from './errors.js';
import { formatMode } from './private-files.js';

/** Options of {@link readSecretFileSync}. */
export interface ReadSecretOptions {
  /** What the file holds, for the message (e.g. `--token-file`). @default 'a secret' */
  what?: string;
}

/**
 * Reads a secret file, refusing (with `unprotected-secret-file` and the `chmod 600` fix in
 * the message) when its mode lets group or others do anything with a file the current user
 * owns, or lets others (not the group) do anything with a file someone else owns (a root-owned
 * key readable by a service's group is allowed, as OpenSSH allows it). Not checked on Windows.
 */
export function readSecretFileSync(path: string, options: ReadSecretOptions = {}): Buffer {
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new SysError('not-a-file', path, `${path} is not a regular file`);
    if (process.platform !== 'win32') {
      const uid = process.getuid?.();
      const mask = uid === undefined || st.uid === uid ? 0o077 : 0o007;
      if ((st.mode & mask) !== 0) {
        const what = options.what ?? 'a secret';
        throw new SysError(
          'unprotected-secret-file',
          path,
          `${path} holds ${what} but its permissions ${formatMode(st.mode)} are too open: ${mask === 0o077 ? 'group and others' : 'others'} must have no access; ` +
            `fix: chmod 600 ${path}`,
        );
      }
    }
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The one way flo reads a secret named on the command line — bearer tokens (`--token-file`,
 * `--peer-token-file`, `--store-token-file`) and private keys (`--tls-key`, `--store-key`):
 * a file that group or others can access is refused with the `chmod 600` fix, as OpenSSH
 * refuses an unprotected private key. (ssh identity files are left to ssh itself.)
 */
import path from 'node:path';
import { isSysError, readSecretFileSync } from '@flotilla/sys';
import { UsageError } from './args.js';

/**
 * Reads the secret file `file` (relative to `cwd`) given as `--<option>` (or as the
 * environment variable `$NAME` when `option` is `$NAME`). Throws a
 * {@link UsageError} (exit 2) naming the option when it cannot be read or is not private.
 */
export function readSecretFile(cwd: string, option: string, file: string, what = /key/i.test(option) ? 'a private key' : 'a token'): Buffer {
  const abs = path.resolve(cwd, file);
  const label = optionLabel(option);
  try {
    return readSecretFileSync(abs, { what: `${what} (${label})` });
  } catch (e) {
    if (isSysError(e)) throw new UsageError(`${label}: ${e.message}`);
    throw new UsageError(`${label} ${file}: ${(e as Error).message}`);
  }
}

/** How an option is named in messages: `--token-file`, or `$FLO_STORE_TOKEN_FILE` for an environment variable (given as `$NAME`). */
export function optionLabel(option: string): string {
  return option.startsWith('$') ? option : `--${option}`;
}

/** A bearer token from a secret file: trimmed; an empty file is a usage error. */
export function readTokenFile(cwd: string, option: string, file: string): string {
  const token = readSecretFile(cwd, option, file, 'a token').toString('utf8').trim();
  if (!token) throw new UsageError(`${optionLabel(option)} ${file} is empty`);
  return token;
}

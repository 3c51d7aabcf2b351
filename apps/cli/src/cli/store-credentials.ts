/**
 * Credentials for secured stores (DESIGN.md, apps/cli): `--store-token-file`, `--store-ca`,
 * `--store-cert`/`--store-key`, else `$FLO_STORE_TOKEN_FILE`, `$FLO_STORE_CA`,
 * `$FLO_STORE_CERT`, `$FLO_STORE_KEY`. Secrets (the token, the private key) are read through
 * {@link readSecretFile}, which refuses files that group or others can read; they never reach
 * argv, logs or messages. A `flotilla://` store is spoken to over https when a CA or a
 * certificate is given, with the token as a bearer token; an `etcd://` store over TLS, with the
 * user and password of its URL (`etcd://user:password@host:port`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError, type OptionSpec } from './args.js';
import type { CommandContext } from './registry.js';
import { optionLabel, readSecretFile, readTokenFile } from './secret-file.js';

/** The credential options of every command that talks to a store (cluster commands, `flo kv`, `flo store`). */
export const storeCredentialOptions: readonly OptionSpec[] = [
  { name: 'store-token-file', type: 'string', value: 'FILE', description: 'bearer token for a flotilla:// store, from a file only you can read (default $FLO_STORE_TOKEN_FILE)' },
  { name: 'store-ca', type: 'string', value: 'FILE', description: 'CA (PEM) the store\'s certificate must chain to; flotilla:// is then spoken over https, etcd:// over TLS (default $FLO_STORE_CA)' },
  { name: 'store-cert', type: 'string', value: 'FILE', description: 'client certificate (PEM) for mutual TLS with the store (default $FLO_STORE_CERT)' },
  { name: 'store-key', type: 'string', value: 'FILE', description: 'private key (PEM) of --store-cert, in a file only you can read (default $FLO_STORE_KEY)' },
];

/** What {@link storeCredentials} read. `tls` is true when a CA or a certificate was given. */
export interface StoreCredentials {
  token?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  tls: boolean;
}

/** Older spellings a command keeps accepting (`flo kv --token-file`, `--tls-ca`). */
export interface CredentialAliases {
  token?: string;
  ca?: string;
}

function given(ctx: CommandContext, flag: string, env: string, alias?: string): { option: string; file: string } | undefined {
  for (const name of [flag, alias]) {
    if (name === undefined) continue;
    const v = ctx.args.options[name];
    const file = Array.isArray(v) ? v.at(-1) : typeof v === 'string' ? v : undefined;
    if (file !== undefined) {
      if (file === '') throw new UsageError(`--${name}: expected a file name`);
      return { option: name, file };
    }
  }
  const fromEnv = ctx.env[env];
  return fromEnv !== undefined && fromEnv !== '' ? { option: `$${env}`, file: fromEnv } : undefined;
}

function readPublic(cwd: string, option: string, file: string): Buffer {
  try {
    return readFileSync(path.resolve(cwd, file));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    throw new UsageError(`${optionLabel(option)} ${file}: ${why}`);
  }
}

/** Reads the store credentials given by flags or environment; a bad file is a usage error (exit 2) naming its option. */
export function storeCredentials(ctx: CommandContext, aliases: CredentialAliases = {}): StoreCredentials {
  const token = given(ctx, 'store-token-file', 'FLO_STORE_TOKEN_FILE', aliases.token);
  const ca = given(ctx, 'store-ca', 'FLO_STORE_CA', aliases.ca);
  const cert = given(ctx, 'store-cert', 'FLO_STORE_CERT');
  const key = given(ctx, 'store-key', 'FLO_STORE_KEY');
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError(cert ? `${optionLabel(cert.option)} needs --store-key (or $FLO_STORE_KEY): the private key of the certificate` : `${optionLabel(key!.option)} needs --store-cert (or $FLO_STORE_CERT): the certificate of the key`);
  }
  const creds: StoreCredentials = { tls: ca !== undefined || cert !== undefined };
  if (token) creds.token = readTokenFile(ctx.cwd, token.option, token.file);
  if (ca) creds.ca = readPublic(ctx.cwd, ca.option, ca.file);
  if (cert && key) {
    creds.cert = readPublic(ctx.cwd, cert.option, cert.file);
    creds.key = readSecretFile(ctx.cwd, key.option, key.file, 'a private key');
  }
  return creds;
}


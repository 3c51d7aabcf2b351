/**
 * known_hosts, as OpenSSH reads it: `[@marker] patterns keytype base64-key [comment]`, where
 * patterns are comma-separated names with `*`/`?`/`!` wildcards, `[host]:port` for
 * non-default ports, or hashed `|1|salt|hmac` entries (HMAC-SHA1 of the name keyed by the salt).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DeployError } from './errors.js';
import { matchPatternList } from './ssh-config.js';

/** One parsed known_hosts line. */
export interface KnownHostEntry {
  marker: 'cert-authority' | 'revoked' | null;
  /** The raw host field: a pattern list or a hashed `|1|salt|hash`. */
  hosts: string;
  keyType: string;
  key: Buffer;
  file: string;
  line: number;
}

/** The result of checking a presented key. */
export type HostKeyStatus = 'ok' | 'changed' | 'unknown' | 'revoked';

/** Parses known_hosts text; malformed lines are skipped as OpenSSH does. */
export function parseKnownHosts(text: string, file = '<known_hosts>'): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const words = raw.split(/[ \t]+/);
    let marker: KnownHostEntry['marker'] = null;
    if (words[0]!.startsWith('@')) {
      const m = words.shift()!;
      if (m === '@cert-authority') marker = 'cert-authority';
      else if (m === '@revoked') marker = 'revoked';
      else continue;
    }
    const [hosts, keyType, b64] = words;
    if (!hosts || !keyType || !b64 || !/^[A-Za-z0-9+/]+=*$/.test(b64)) continue;
    out.push({ marker, hosts, keyType, key: Buffer.from(b64, 'base64'), file, line: i + 1 });
  }
  return out;
}

/** Reads known_hosts files; missing files count as empty. */
export function loadKnownHosts(files: readonly string[]): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
      throw new DeployError('known-hosts', `cannot read known_hosts file ${f}: ${(e as Error).message}`, { cause: e });
    }
    out.push(...parseKnownHosts(text, f));
  }
  return out;
}

/** The name known_hosts uses for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** True when an entry's host field names `name` (hashed or patterns). */
export function hostFieldMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) {
    const [, , salt, hash] = hosts.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  return matchPatternList(name.toLowerCase(), hosts.toLowerCase().split(','));
}

/** The key type (`ssh-ed25519`, …) inside an ssh wire-format public key blob. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** OpenSSH's `SHA256:…` fingerprint of a public key blob. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Checks a presented key against the entries for `name` (see {@link knownHostsName}). */
export function checkHostKey(entries: readonly KnownHostEntry[], name: string, blob: Buffer): HostKeyStatus {
  const type = keyTypeOf(blob);
  let sameType = false;
  for (const e of entries) {
    if (e.marker === 'revoked' && e.key.equals(blob)) return 'revoked';
  }
  for (const e of entries) {
    if (e.marker !== null || !hostFieldMatches(e.hosts, name)) continue;
    if (e.key.equals(blob)) return 'ok';
    if (e.keyType === type) sameType = true;
  }
  return sameType ? 'changed' : 'unknown';
}

/** Key types known for `name`, in file order (used to prefer them in key exchange). */
export function knownKeyTypes(entries: readonly KnownHostEntry[], name: string): string[] {
  const types: string[] = [];
  for (const e of entries) {
    if (e.marker === null && hostFieldMatches(e.hosts, name) && !types.includes(e.keyType)) types.push(e.keyType);
  }
  return types;
}

/** Formats a known_hosts line, hashed when asked (`HashKnownHosts yes`). */
export function formatKnownHostsLine(name: string, blob: Buffer, options: { hash?: boolean } = {}): string {
  let hosts = name;
  if (options.hash) {
    const salt = randomBytes(20);
    hosts = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
  }
  return `${hosts} ${keyTypeOf(blob)} ${blob.toString('base64')}`;
}

/** Appends a key to a known_hosts file (creating the file and its directory). */
export function appendKnownHost(file: string, name: string, blob: Buffer): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let prefix = '';
  try {
    const cur = readFileSync(file, 'utf8');
    if (cur.length > 0 && !cur.endsWith('\n')) prefix = '\n';
  } catch {
    /* new file */
  }
  appendFileSync(file, `${prefix}${formatKnownHostsLine(name, blob)}\n`, { mode: 0o600 });
}

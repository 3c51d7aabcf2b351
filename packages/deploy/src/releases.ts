/**
 * Releases on a host: `~/.flotilla/apps/<app>/releases/<sha256>/` holds each unpacked artifact,
 * `current` is a symlink switched atomically (a new symlink renamed over the old one), the
 * newest `keep` releases are kept, and `rollback` switches back. Every step before the switch
 * works on temporary names, so a failure or interruption at any step leaves `current`
 * untouched.
 */
import { open, stat } from 'node:fs/promises';
import type { Connection } from './connection.js';
import { sha256File } from './connection.js';
import { DeployError, badOption, isCommandFailedError } from './errors.js';
import { shellQuote } from './quote.js';
import { VERIFY_SNIPPET } from './signing.js';

/** Options of {@link deployRelease}. */
export interface DeployReleaseOptions {
  /** App name: letters, digits, `.`, `_`, `-`. */
  app: string;
  /** Local artifact: a `.tar.gz` (or `.tar`) whose contents become the release directory. */
  artifact: string;
  /** Local signature file. @default `${artifact}.sig` when it exists */
  signature?: string;
  /** Releases kept on the host (the current one is always kept). @default 5 */
  keep?: number;
  signal?: AbortSignal;
}

/** What {@link deployRelease} did. */
export interface ReleaseResult {
  app: string;
  sha256: string;
  /** Release directory on the host (`~/.flotilla/apps/<app>/releases/<sha256>`). */
  dir: string;
  /** The release `current` pointed to before, if any. */
  previous: string | null;
  /** False when the host already had the artifact. */
  uploaded: boolean;
}

const APP = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function checkApp(app: string): void {
  if (typeof app !== 'string' || !APP.test(app)) badOption('app', 'a name of letters, digits, ".", "_" and "-"', app);
}

/** `~/.flotilla/apps/<app>` as a quoted sh word. */
function baseOf(app: string): string {
  return `"$HOME"/.flotilla/apps/${shellQuote(app)}`;
}

/** sh that switches `current` to releases/$sha atomically and records history. */
const SWITCH_SNIPPET = `
prev=$(readlink "$base/current" 2>/dev/null | sed 's#^releases/##') || prev=
ln -sfn "releases/$sha" "$base/.current.tmp"
mv -T "$base/.current.tmp" "$base/current" 2>/dev/null || mv -fh "$base/.current.tmp" "$base/current"
[ "$prev" = "$sha" ] || [ "\${record:-1}" = 0 ] || printf '%s\\n' "$sha" >> "$base/history"
printf 'previous=%s\\n' "$prev"
`;

/** sh that removes releases beyond the newest $keep (by history), never the current one. */
const PRUNE_SNIPPET = `
keepers=$(sed -n '1!G;h;$p' "$base/history" 2>/dev/null | awk 'NF && !seen[$0]++' | head -n "$keep")
for d in "$base"/releases/*; do
  [ -d "$d" ] || continue
  r=\${d##*/}
  [ "$r" = "$sha" ] && continue
  case " $(echo $keepers) " in *" $r "*) continue ;; esac
  rm -rf "$d" "$base/incoming/$r.artifact" "$base/incoming/$r.artifact.sig"
done
rm -rf "$base"/releases/.tmp-* 2>/dev/null || true
`;

async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(2);
    await fh.read(b, 0, 2, 0);
    return b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Uploads an artifact (skipped when the host has it), verifies its signature where the host
 * trusts signers, unpacks it into `releases/<sha256>` via a temporary directory, then
 * switches `current` by renaming a new symlink over it, and prunes old releases.
 */
export async function deployRelease(c: Connection, options: DeployReleaseOptions): Promise<ReleaseResult> {
  checkApp(options.app);
  const keep = options.keep ?? 5;
  if (!Number.isInteger(keep) || keep < 1) badOption('keep', 'an integer >= 1', options.keep);
  const sha = await sha256File(options.artifact);
  const gz = await isGzip(options.artifact);
  const sigLocal = options.signature ?? ((await exists(`${options.artifact}.sig`)) ? `${options.artifact}.sig` : undefined);
  const base = baseOf(options.app);
  const sig = options.signal ? { signal: options.signal } : {};
  await c.run(`mkdir -p ${base}/releases ${base}/incoming`, { hide: true, ...sig });
  const remoteArt = `~/.flotilla/apps/${options.app}/incoming/${sha}.artifact`;
  const put = await c.put(options.artifact, remoteArt, { mode: 0o600, ...sig });
  if (sigLocal) await c.put(sigLocal, `${remoteArt}.sig`, { mode: 0o600, ...sig });
  else await c.run(`rm -f ${base}/incoming/${sha}.artifact.sig`, { hide: true, ...sig });
  const script = [
    'set -e',
    `base=${base}`,
    `sha=${sha}`,
    `keep=${keep}`,
    'art="$base/incoming/$sha.artifact"',
    VERIFY_SNIPPET,
    'if [ ! -d "$base/releases/$sha" ]; then',
    '  tmp="$base/releases/.tmp-$sha-$$"',
    '  rm -rf "$tmp"; mkdir -p "$tmp"',
    `  if ! ${gz ? 'gzip -dc "$art" | tar -C "$tmp" -xf -' : 'tar -C "$tmp" -xf "$art"'}; then rm -rf "$tmp"; echo "cannot unpack the artifact" >&2; exit 1; fi`,
    '  mv "$tmp" "$base/releases/$sha"',
    'fi',
    SWITCH_SNIPPET,
    PRUNE_SNIPPET,
  ].join('\n');
  let out: string;
  try {
    out = (await c.run(script, { hide: true, ...sig })).stdout;
  } catch (e) {
    if (isCommandFailedError(e) && e.result.exitCode === 65)
      throw new DeployError('signature', `${c.host}: ${e.result.stderr.trim()}`, { host: c.host, cause: e });
    if (isCommandFailedError(e)) throw new DeployError('release', `${c.host}: release ${sha.slice(0, 12)} of ${options.app} failed: ${e.result.stderr.trim()}`, { host: c.host, cause: e });
    throw e;
  }
  const prev = /^previous=(.*)$/m.exec(out)?.[1] ?? '';
  return { app: options.app, sha256: sha, dir: `~/.flotilla/apps/${options.app}/releases/${sha}`, previous: prev || null, uploaded: !put.skipped };
}

/** Releases on a host, newest first, and the current one. */
export async function listReleases(c: Connection, app: string): Promise<{ current: string | null; releases: string[] }> {
  checkApp(app);
  const base = baseOf(app);
  const r = await c.run(
    `base=${base}; readlink "$base/current" 2>/dev/null | sed 's#^releases/##' || true; echo ---; sed -n '1!G;h;$p' "$base/history" 2>/dev/null | awk 'NF && !seen[$0]++' | while read -r s; do [ -d "$base/releases/$s" ] && echo "$s"; done; true`,
    { hide: true },
  );
  const [cur, list] = r.stdout.split('---\n');
  return { current: cur?.trim() || null, releases: (list ?? '').split('\n').filter(Boolean) };
}

/** Switches `current` back to the previous release (or to `to`). Atomic like a deploy. */
export async function rollback(c: Connection, app: string, options: { to?: string } = {}): Promise<{ from: string | null; to: string }> {
  const { current, releases } = await listReleases(c, app);
  // The release deployed before the current one (rollbacks do not rewrite history).
  const target = options.to ?? (current === null ? undefined : releases[releases.indexOf(current) + 1]);
  if (!target) throw new DeployError('release', `${c.host}: no earlier release of ${app} to roll back to`, { host: c.host });
  if (!/^[0-9a-f]{64}$/.test(target) || !releases.includes(target))
    throw new DeployError('release', `${c.host}: release ${target} of ${app} is not on the host`, { host: c.host });
  await c.run(['set -e', `base=${baseOf(app)}`, `sha=${target}`, 'record=0', SWITCH_SNIPPET].join('\n'), { hide: true });
  return { from: current, to: target };
}

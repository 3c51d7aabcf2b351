/**
 * Runs a network script on a host with the privileges it needs: as is when the login user is
 * root, under `sudo -n` when the user may, and otherwise not at all (exit 126 with a message
 * that says so). The script travels on stdin (no argv length limit) and gets the login
 * directory as `$1` (sudo may reset `$HOME`).
 */
import type { Connection } from '../connection.js';
import { DeployError } from '../errors.js';
import type { CommandResult } from '../errors.js';

/** The exit code of the wrapper when the host user is neither root nor allowed `sudo -n`. */
export const NOT_PRIVILEGED = 126;

const NOT_PRIVILEGED_TEXT = '@@flotilla-network-needs-root';

/** The PATH additions every network script starts with (nft, ip and iptables live in sbin). */
export const SBIN_PATH = 'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; export PATH';

const WRAPPER = [
  // Made as the login user: what root makes below it must not leave ~/.flotilla root's.
  'mkdir -p "$HOME/.flotilla/cni" || exit 1',
  'f=$(mktemp "${TMPDIR:-/tmp}/flotilla-net.XXXXXXXX") || exit 1',
  'cat > "$f"',
  'if [ "$(id -u)" = 0 ]; then sh "$f" "$HOME"; rc=$?',
  'elif sudo -n true 2>/dev/null; then sudo -n sh "$f" "$HOME"; rc=$?',
  `else echo ${NOT_PRIVILEGED_TEXT} >&2; rc=${NOT_PRIVILEGED}; fi`,
  'rm -f "$f"',
  'exit $rc',
].join('\n');

/**
 * Runs `script` (POSIX sh) as root on the host of `c`. Resolves with the result whatever the
 * exit code (callers read it); throws `network` when the host user may not become root.
 */
export async function runPrivileged(c: Connection, script: string, o: { signal?: AbortSignal; timeoutMs?: number; what?: string } = {}): Promise<CommandResult> {
  const r = await c.run(WRAPPER, {
    input: `${SBIN_PATH}\nH="$1"\n${script}\n`,
    hide: true,
    warn: true,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
  });
  if (r.exitCode === NOT_PRIVILEGED && r.stderr.includes(NOT_PRIVILEGED_TEXT)) {
    throw new DeployError('network', `${c.host}: ${o.what ?? 'network setup'} needs root: log in as root, or give the user passwordless sudo (NOPASSWD in /etc/sudoers.d)`, { host: c.host });
  }
  return r;
}

/** The data directory's LOCK: one process at a time appends to a member's write-ahead log. */
import { readFileSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createLockFileSync, currentHolder, formatHolder, judgeLock, parseHolder, readLock, removeLockIf, type LockVerdict } from '@flotilla/sys';
import { RaftError } from '../errors.js';

/** The file that says which process uses a data directory. */
export const LOCK_FILE = 'LOCK';

/** An empty or unparsable LOCK older than this was left by a process killed while writing it. */
const UNREADABLE_LOCK_STALE_MS = 5000;

/**
 * Judges a LOCK: its holder's process gone (exited, a zombie, its pid reused — see
 * @flotilla/sys), an empty/unparsable LOCK older than a few seconds, or a LOCK of this very
 * process (an earlier FileStorage it abandoned without closing, as crash tests do) is stale.
 */
function judgeDirLock(text: string, ageMs: number): LockVerdict {
  const holder = parseHolder(text);
  if (holder?.pid === process.pid && holder.host === hostname()) {
    return { kind: 'stale', holder, reason: `this process (${process.pid}) opened it earlier and did not close it` };
  }
  return judgeLock(text, ageMs, { unreadableStaleMs: UNREADABLE_LOCK_STALE_MS });
}

/**
 * Takes the data directory: `LOCK` (mode 0600) holds this process's `PID HOST start=… boot=…`,
 * written to a temp file and linked into place, so it is created exclusively and never seen
 * half-written. A LOCK of a live process — here, or of another host (which cannot be checked)
 * — refuses with `storage-misuse`: two processes appending to one WAL would corrupt it. A LOCK
 * whose process has died (crash, SIGKILL — also while still a zombie not yet reaped by its
 * parent, or when its pid now belongs to another process) is taken over with a warning; so is
 * an empty or unparsable one older than a few seconds, and one of this very process. Returns
 * the content written, which {@link releaseDirLock} checks before removing the file.
 */
export function acquireDirLock(dir: string, warn: (message: string) => void): string {
  const path = join(dir, LOCK_FILE);
  const me = `${formatHolder(currentHolder())}\n`;
  for (let attempt = 0; attempt < 8; attempt++) {
    if (createLockFileSync(path, me)) return me;
    const found = readLock(path);
    if (found === undefined) continue; // removed meanwhile: try again
    const verdict = judgeDirLock(found.text, found.ageMs);
    if (verdict.kind !== 'stale') {
      const who = verdict.holder ? `process ${verdict.holder.pid} on ${verdict.holder.host}` : 'another process';
      const why = verdict.kind === 'elsewhere' ? ', another machine: it cannot be checked from here' : verdict.holder ? '' : `: ${verdict.reason}`;
      throw new RaftError(
        'storage-misuse',
        `${dir} is in use by ${who} (its ${LOCK_FILE} file${why}); ` + `stop that process first — or, if no process uses this directory, delete ${path}`,
      );
    }
    // Move the stale LOCK aside: of several processes breaking it at once, one rename wins,
    // and a LOCK that changed meanwhile is put back.
    if (removeLockIf(path, (text, ageMs) => judgeDirLock(text, ageMs).kind === 'stale') && verdict.holder?.pid !== process.pid) {
      warn(`took over ${path}: ${verdict.reason}`);
    }
  }
  throw new RaftError('storage-misuse', `cannot take ${path}: other processes keep replacing it`);
}

export function releaseDirLock(dir: string, token: string): void {
  const path = join(dir, LOCK_FILE);
  try {
    if (readFileSync(path, 'utf8') === token) unlinkSync(path);
  } catch {
    /* already gone */
  }
}

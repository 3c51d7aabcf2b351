/**
 * The file store's durable-write helpers, shared by the store (file.ts) and its repair
 * (file-repair.ts): write-then-fsync, fsync of a directory after a rename, and a file's inode
 * (to tell a log replaced under a reader).
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { openPrivateFile } from '@flotilla/sys';

/** The inode of `path`, 0 when it does not exist. */
export async function inodeOf(path: string): Promise<number> {
  return stat(path).then(
    (st) => st.ino,
    () => 0,
  );
}

/** Writes `data` to `path` (0600) and fsyncs it (then rename it into place). */
export async function writeDurably(path: string, data: string): Promise<void> {
  const fh = await openPrivateFile(path, 'w');
  try {
    await fh.write(data, null, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsyncs a directory, so the renames in it are durable. */
export function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // some file systems refuse fsync on directories; the rename is still atomic
  }
}

/**
 * How many times a reader reads the snapshot and log again when a writer replaced the log
 * while it read them (each time is a compaction finished elsewhere: progress, not damage).
 */
export const STORE_REREADS = 100;

/** A pause before reread `n`: none for the first few, then growing to 20 ms. */
export async function rereadPause(n: number): Promise<void> {
  if (n < 3) return;
  await new Promise((r) => setTimeout(r, Math.min(20, n)));
}

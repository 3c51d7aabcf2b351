/**
 * Private data on disk: directories 0700 and files 0600 whatever the umask (the mode is set
 * explicitly after creation, since the umask only ever removes bits), and existing ones
 * tightened — with a warning, because someone may rely on the old mode.
 */
import { chmodSync, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/** The mode of a private directory. */
export const PRIVATE_DIR_MODE = 0o700;
/** The mode of a private file. */
export const PRIVATE_FILE_MODE = 0o600;

/** Receives a warning a person should read (e.g. written to stderr or a log). */
export type WarningSink = (message: string) => void;

/** `0644`-style text of a mode's permission bits. */
export function formatMode(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

/**
 * Creates `dir` (and missing parents) with mode 0700, whatever the umask. An existing
 * directory that group or others may enter is tightened to 0700, with a warning.
 */
export function ensurePrivateDir(dir: string, onWarning?: WarningSink): void {
  const abs = resolve(dir);
  const created = mkdirSync(abs, { recursive: true, mode: PRIVATE_DIR_MODE });
  // mkdir returns the first directory it created: every one from there down is new.
  if (created !== undefined) {
    for (let d = abs; ; d = dirname(d)) {
      chmodSync(d, PRIVATE_DIR_MODE);
      if (d === created || d === dirname(d)) break;
    }
    return;
  }
  tightenPath(dir, PRIVATE_DIR_MODE, onWarning);
}

/**
 * Sets `path` (a file or directory) to `mode` when it grants group or others anything;
 * warns when it changed. Returns the mode it had, or undefined when it was already private or
 * is missing.
 */
export function tightenPath(path: string, mode: number, onWarning?: WarningSink): number | undefined {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return undefined;
  }
  if (st.isSymbolicLink() || (st.mode & 0o077) === 0) return undefined;
  chmodSync(path, mode);
  onWarning?.(`${path} was ${formatMode(st.mode)}; set to ${formatMode(mode)}: it holds private data`);
  return st.mode & 0o777;
}

/**
 * Tightens a directory tree holding private data: the directory and its subdirectories to
 * 0700, its files to 0600. One warning names what changed (the first few paths and a count),
 * so an old data directory produces one line, not one per WAL segment.
 */
export function tightenPrivateTree(dir: string, onWarning?: WarningSink): number {
  const changed: string[] = [];
  const visit = (path: string): void => {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return;
    }
    if (st.isSymbolicLink()) return;
    const isDir = st.isDirectory();
    if ((st.mode & 0o077) !== 0) {
      chmodSync(path, isDir ? PRIVATE_DIR_MODE : PRIVATE_FILE_MODE);
      changed.push(`${path} (${formatMode(st.mode)})`);
    }
    if (isDir) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
  if (changed.length > 0) {
    const shown = changed.slice(0, 3).join(', ');
    onWarning?.(
      `tightened ${changed.length} path${changed.length === 1 ? '' : 's'} under ${dir} to 0700 (directories) / 0600 (files): ${shown}${changed.length > 3 ? ', …' : ''}; they hold private data`,
    );
  }
  return changed.length;
}

/**
 * Opens a file with mode 0600 whatever the umask (an existing file is set to 0600 too: the
 * data written through the handle is private). `flags` as for `fs.open` ('w', 'a', 'wx', …).
 */
export async function openPrivateFile(path: string, flags: string): Promise<FileHandle> {
  const fh = await open(path, flags, PRIVATE_FILE_MODE);
  try {
    if (((await fh.stat()).mode & 0o777) !== PRIVATE_FILE_MODE) await fh.chmod(PRIVATE_FILE_MODE);
  } catch (e) {
    await fh.close();
    throw e;
  }
  return fh;
}

/** The synchronous {@link openPrivateFile}: returns a file descriptor. */
export function openPrivateFileSync(path: string, flags: string): number {
  const fd = openSync(path, flags, PRIVATE_FILE_MODE);
  if ((fstatSync(fd).mode & 0o777) !== PRIVATE_FILE_MODE) fchmodSync(fd, PRIVATE_FILE_MODE);
  return fd;
}

/** The permission bits of `path` (tests and diagnostics). */
export function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

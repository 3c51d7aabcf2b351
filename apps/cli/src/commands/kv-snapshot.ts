/** `flo kv snapshot save FILE`: a 0600 backup for `flo server --restore`. */
import { closeSync, fsyncSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { openPrivateFileSync } from '@flotilla/sys';
import { UsageError } from '../cli/args.js';
import { kvArgs, type KvCall } from '../cli/kv-context.js';

export async function run({ ctx, client }: KvCall): Promise<number> {
  const [action, file] = kvArgs(ctx, 2, 'snapshot save FILE');
  if (action !== 'save') throw new UsageError(`snapshot ${action}: expected save`);
  const data = await client.snapshot();
  // The snapshot holds every value: 0600 whatever the umask (the temp file is private
  // from its creation, and the rename keeps its mode).
  const target = path.resolve(ctx.cwd, file!);
  const fd = openPrivateFileSync(`${target}.part`, 'w');
  try {
    for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(`${target}.part`, target);
  ctx.stderr.write(`flo: saved a snapshot of ${data.length} bytes to ${file}; restore with flo server --restore ${file}\n`);
  return 0;
}

/**
 * Where manifests come from (`apply`, `delete`, `diff`): `-f FILE`, `-f DIR` (its .yaml, .yml
 * and .json files, sorted; `-R` for subdirectories too), `-f -` (stdin), several `-f`. A path
 * that does not exist is a usage error (exit 2) naming it, never a raw ENOENT.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { UsageError, type OptionSpec } from './args.js';
import { listOption } from './cluster-context.js';
import type { CommandContext } from './registry.js';

/** `-f` and `-R`, as apply, delete and diff take them. */
export function filenameOptions(verb: string): OptionSpec[] {
  return [
    {
      name: 'filename',
      short: 'f',
      type: 'string',
      multiple: true,
      value: 'FILE|DIR|-',
      description: `manifests to ${verb}: a file, a directory (its .yaml, .yml and .json files, in name order), or - for stdin; repeatable`,
    },
    { name: 'recursive', short: 'R', type: 'boolean', description: 'with -f DIR, the files of its subdirectories too' },
  ];
}

/** One manifest source: the name used in messages, its text, and the directory relative paths in it start from. */
export interface ManifestSource {
  file: string;
  text: string;
  baseDir: string;
}

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

async function filesOf(dir: string, recursive: boolean): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: string[] = [];
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (recursive) out.push(...(await filesOf(p, true)));
    } else if (MANIFEST_EXTENSIONS.has(extname(e.name).toLowerCase())) out.push(p);
  }
  return out;
}

async function readStdin(ctx: CommandContext): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of ctx.stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks).toString('utf8');
}

/** The `-f` arguments given (empty when none). */
export function filenames(ctx: CommandContext): string[] {
  return listOption(ctx, 'filename');
}

/**
 * Reads every `-f` source, in the order given (a directory's files in name order). Throws a
 * {@link UsageError} for a path that does not exist, a directory without manifest files, or
 * `-f -` given twice.
 */
export async function readManifestSources(ctx: CommandContext): Promise<ManifestSource[]> {
  const given = filenames(ctx);
  const recursive = ctx.args.options.recursive === true;
  if (given.filter((f) => f === '-').length > 1) throw new UsageError('-f -: stdin can be read only once');
  const sources: ManifestSource[] = [];
  for (const f of given) {
    if (f === '-') {
      sources.push({ file: '<stdin>', text: await readStdin(ctx), baseDir: ctx.cwd });
      continue;
    }
    const path = resolve(ctx.cwd, f);
    let isDir: boolean;
    try {
      isDir = (await stat(path)).isDirectory();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UsageError(code === 'ENOENT' || code === 'ENOTDIR' ? `-f ${f}: no such file or directory` : `-f ${f}: ${(e as Error).message}`);
    }
    const files = isDir ? await filesOf(path, recursive) : [path];
    if (isDir && files.length === 0) throw new UsageError(`-f ${f}: no .yaml, .yml or .json files in this directory${recursive ? ' or below' : ' (-R for its subdirectories)'}`);
    for (const file of files) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        throw new UsageError(`-f ${f}: ${(e as Error).message}`);
      }
      sources.push({ file: isDir ? join(f, file.slice(path.length + 1)) : f, text, baseDir: dirname(file) });
    }
  }
  return sources;
}

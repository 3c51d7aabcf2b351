/**
 * `flo image build DIR`: an OCI image from a directory, without Docker (same input, same
 * digest).
 */
import { UsageError } from '../cli/args.js';
import { isDocumentFormat, outputFormat, printDocument } from '../output/format.js';
import { imageFormats } from './image-inspect.js';
import type { CommandContext } from '../cli/registry.js';

function strings(ctx: CommandContext, name: string): string[] {
  const v = ctx.args.options[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}
function last(ctx: CommandContext, name: string): string | undefined {
  return strings(ctx, name).at(-1);
}

/**
 * A command line given as one option value: a JSON array (`'["/bin/sh","-c","echo hi"]'`)
 * is taken as is; otherwise words split as sh does with quotes and backslashes (no expansion).
 */
export function parseWords(text: string, option: string): string[] {
  if (text.trimStart().startsWith('[')) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new UsageError(`--${option}: not a JSON array of strings: ${(e as Error).message}`);
    }
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new UsageError(`--${option}: expected a JSON array of strings`);
    return v as string[];
  }
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new UsageError(`--${option}: unterminated ' quote`);
      cur += text.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && j + 1 < text.length && '"\\$`'.includes(text[j + 1]!)) j++;
        cur += text[j];
      }
      if (j >= text.length) throw new UsageError(`--${option}: unterminated " quote`);
      i = j;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** `flo image build DIR --out FILE [...]`. */
export async function imageBuild(ctx: CommandContext): Promise<number> {
  const [, dir, ...extra] = ctx.args.positionals;
  if (!dir || extra.length) throw new UsageError('image build: expected one DIR (the image\'s root filesystem)');
  const out = last(ctx, 'out');
  if (!out) throw new UsageError('image build: --out FILE is required (the oci-archive to write, e.g. web.oci.tar)');
  const format = outputFormat(ctx, imageFormats);
  const env = strings(ctx, 'env');
  for (const kv of env) if (!/^[^=]+=/.test(kv)) throw new UsageError(`--env ${kv}: expected K=V`);
  const workdir = last(ctx, 'workdir');
  if (workdir !== undefined && !workdir.startsWith('/')) throw new UsageError(`--workdir ${workdir}: expected an absolute path`);
  const tags = strings(ctx, 'tag');
  for (const t of tags) if (!/^[A-Za-z0-9][A-Za-z0-9._\-/:@+]*$/.test(t)) throw new UsageError(`--tag ${t}: expected NAME[:TAG] (letters, digits and . _ - / : @ +)`);
  const entrypoint = last(ctx, 'entrypoint');
  const cmd = last(ctx, 'cmd');
  const base = last(ctx, 'base');
  const user = last(ctx, 'user');
  const { buildImage } = await import('@flotilla/deploy/image');
  const built = await buildImage({
    dir,
    out,
    cwd: ctx.cwd,
    ...(base !== undefined ? { base } : {}),
    ...(entrypoint !== undefined ? { entrypoint: parseWords(entrypoint, 'entrypoint') } : {}),
    ...(cmd !== undefined ? { cmd: parseWords(cmd, 'cmd') } : {}),
    ...(env.length ? { env } : {}),
    ...(workdir !== undefined ? { workdir } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(tags.length ? { tags } : {}),
  });
  if (isDocumentFormat(format)) {
    await printDocument(ctx, format, { digest: built.digest, path: built.path, tags: built.tags, layers: built.layers.map((l) => ({ digest: l.digest, size: l.size })) });
  } else {
    ctx.stderr.write(`flo: wrote ${built.path} (${built.layers.length} layer${built.layers.length === 1 ? '' : 's'}${built.tags.length ? `, tagged ${built.tags.join(', ')}` : ''})\n`);
    ctx.stdout.write(`${built.digest}\n`);
  }
  return 0;
}

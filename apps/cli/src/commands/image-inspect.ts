/**
 * `flo image inspect IMAGE`: an image's manifest, config, layers and signature check.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { UsageError } from '../cli/args.js';
import type { CommandContext } from '../cli/registry.js';
import { outputFormat, printDocument, type OutputFormat } from '../output/format.js';
import { formatTable } from '../output/table.js';

/** The formats of `flo image build` and `flo image inspect`. */
export const imageFormats: readonly OutputFormat[] = ['text', 'json', 'yaml'];

function last(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.args.options[name];
  return Array.isArray(v) ? v.at(-1) : typeof v === 'string' ? v : undefined;
}

/** The JSON shape of `flo image inspect -o json` (DESIGN.md, Containers). */
export interface ImageInspectJson {
  digest: string;
  tags: string[];
  layers: { digest: string; size: number }[];
  config: { entrypoint: string[] | null; cmd: string[] | null; env: string[]; workingDir: string | null; user: string | null };
  signedBy?: string;
}

function size(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * `flo image inspect IMAGE [-o json] [--allowed-signers FILE]`. `signedBy` is shown when the
 * image has a signature (`<path>.sig`) and an allowed_signers file is known: `--allowed-signers`
 * (then a missing or bad signature fails, exit 1), else `$FLO_ALLOWED_SIGNERS`, else
 * `~/.flotilla/allowed_signers` when it exists (then a bad signature is a warning).
 */
export async function imageInspect(ctx: CommandContext): Promise<number> {
  const [, ref, ...extra] = ctx.args.positionals;
  if (!ref || extra.length) throw new UsageError('image inspect: expected one IMAGE (oci:DIR[:tag], oci-archive:FILE, docker-archive:FILE or a path)');
  const format = outputFormat(ctx, imageFormats);
  const explicit = last(ctx, 'allowed-signers');
  const home = ctx.env.HOME ?? homedir();
  const expand = (p: string): string => resolve(ctx.cwd, p.startsWith('~/') ? `${home}/${p.slice(2)}` : p);
  const fallback = ctx.env.FLO_ALLOWED_SIGNERS ?? `${home}/.flotilla/allowed_signers`;
  const signers = explicit !== undefined ? expand(explicit) : existsSync(expand(fallback)) ? expand(fallback) : undefined;
  if (explicit !== undefined && !existsSync(signers!)) throw new UsageError(`--allowed-signers ${explicit}: no such file`);

  const { loadImage, imageSignaturePath, verifyImageSignature } = await import('@flotilla/deploy/image');
  const img = await loadImage(ref, { cwd: ctx.cwd });
  let signedBy: string | undefined;
  const sig = imageSignaturePath(img.reference);
  if (signers !== undefined && (existsSync(sig) || explicit !== undefined)) {
    try {
      signedBy = await verifyImageSignature(img.digest, { signature: sig, allowedSigners: signers, image: ref });
    } catch (e) {
      if (explicit !== undefined) throw e;
      ctx.stderr.write(`flo: warning: ${(e as Error).message}\n`);
    }
  }
  const c = img.config.config ?? {};
  const view: ImageInspectJson = {
    digest: img.digest,
    tags: img.tags,
    layers: img.layers.map((l) => ({ digest: l.digest, size: l.size })),
    config: {
      entrypoint: c.Entrypoint ?? null,
      cmd: c.Cmd ?? null,
      env: c.Env ?? [],
      workingDir: c.WorkingDir ? c.WorkingDir : null,
      user: c.User ? c.User : null,
    },
    ...(signedBy !== undefined ? { signedBy } : {}),
  };
  if (format === 'json' || format === 'yaml') {
    await printDocument(ctx, format, view);
    return 0;
  }
  const rows: string[][] = [
    ['digest', view.digest],
    ['tags', view.tags.join(', ') || '-'],
    ['platform', `${img.platform.os}/${img.platform.architecture}${img.platform.variant ? `/${img.platform.variant}` : ''}`],
    ['signedBy', view.signedBy ?? '-'],
    ['entrypoint', view.config.entrypoint ? JSON.stringify(view.config.entrypoint) : '-'],
    ['cmd', view.config.cmd ? JSON.stringify(view.config.cmd) : '-'],
    ['env', view.config.env.join(' ') || '-'],
    ['workingDir', view.config.workingDir ?? '-'],
    ['user', view.config.user ?? '-'],
    ...view.layers.map((l, i) => [i === 0 ? 'layers' : '', `${l.digest}  ${size(l.size)}`]),
  ];
  ctx.stdout.write(formatTable(rows));
  return 0;
}

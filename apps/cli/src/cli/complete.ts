/**
 * Shell completion's engine: `flo __complete WORD… CURRENT` (hidden) prints the candidates
 * for the last word, one per line — commands, subcommands, flags, `-o` formats, kinds, and
 * object names read from the current store. The scripts of `flo completion bash|zsh|fish`
 * call it and filter by the typed prefix. A line `:files` alone asks the shell to complete
 * file names instead. Reading the store is bounded (`FLO_COMPLETE_TIMEOUT` seconds, default
 * 2): an unreachable or missing store gives no names, never a hang, and nothing on stderr.
 */
import { Writable } from 'node:stream';
import { firstPositional, type OptionSpec } from './args.js';
import { canonicalKind } from './kinds.js';
import type { CommandContext, CommandEntry, CommandModule } from './registry.js';
import { OUTPUT_FORMATS } from '../output/format.js';

/** What the engine needs from `cli.ts`: the commands and each one's options. */
export interface CompletionSources {
  commands: readonly CommandEntry[];
  /** Words answered besides the commands (`help`, `version`). */
  builtinWords: readonly string[];
  /** Options understood before a command word (global, deploy and task options). */
  globalSpecs: readonly OptionSpec[];
  /** A command's options, as its `--help` lists them. */
  specsOf(entry: CommandEntry, mod: CommandModule): readonly OptionSpec[];
}

/** The line that asks the shell to complete file names. */
export const FILES = ':files';

const KIND_WORDS = ['hosts', 'replicasets', 'instances', 'services', 'networks'];
const KIND_REFS = ['host/', 'replicaset/', 'service/', 'instance/', 'network/'];
const SHELLS = ['bash', 'zsh', 'fish'];

function findSpec(specs: readonly OptionSpec[], token: string): OptionSpec | undefined {
  if (token.startsWith('--')) return specs.find((s) => s.name === token.slice(2));
  if (token.startsWith('-') && token.length === 2) return specs.find((s) => s.short === token.slice(1));
  return undefined;
}

/** Options and positionals of a partial command line (unknown options are skipped, not errors). */
function scan(words: readonly string[], specs: readonly OptionSpec[]): { options: Record<string, string>; positionals: string[] } {
  const options: Record<string, string> = {};
  const positionals: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === '--') {
      positionals.push(...words.slice(i + 1));
      break;
    }
    if (w.startsWith('--') && w.includes('=')) {
      options[w.slice(2, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
      continue;
    }
    if (w.startsWith('-') && w.length > 1) {
      const spec = findSpec(specs, w);
      if (spec?.type === 'string' && i + 1 < words.length) options[spec.name] = words[++i]!;
      continue;
    }
    positionals.push(w);
  }
  return { options, positionals };
}

/** Candidates for the value of an option: `-o` formats, `:files` for files and directories. */
function optionValues(spec: OptionSpec, mod: CommandModule | undefined): string[] {
  if (spec.name === 'output') return [...(mod?.formats ?? OUTPUT_FORMATS)];
  if (/FILE|DIR|KEY|CERT/.test(spec.value ?? '')) return [FILES];
  return [];
}

/** Long flags of these specs (`--name`), each once. */
function flags(specs: readonly OptionSpec[]): string[] {
  return [...new Set(specs.map((s) => `--${s.name}`))];
}

/** Names of one kind in the store `options` select, within the time limit; none on any failure. */
async function storeNames(kind: 'Host' | 'ReplicaSet' | 'Service' | 'Instance' | 'Network', options: Record<string, string>, io: Pick<CommandContext, 'env' | 'cwd' | 'stdin' | 'stdout'>): Promise<string[]> {
  const seconds = Number(io.env.FLO_COMPLETE_TIMEOUT ?? '2');
  const limitMs = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 2000;
  const quiet = new Writable({ write: (_c, _e, done) => done() });
  const ctx: CommandContext = {
    args: { options: { ...(options.store !== undefined ? { store: options.store } : {}), 'request-timeout': String(limitMs / 1000) }, positionals: [] },
    stdout: io.stdout,
    stderr: quiet,
    stdin: io.stdin,
    env: io.env,
    cwd: io.cwd,
    reserved: [],
  };
  const work = (async (): Promise<string[]> => {
    const { openCluster } = await import('./cluster-context.js');
    const s = await openCluster(ctx, { readOnly: true });
    try {
      const store = kind === 'Host' ? s.store.hosts : kind === 'ReplicaSet' ? s.store.replicaSets : kind === 'Service' ? s.store.services : kind === 'Network' ? s.store.networks : s.store.instances;
      return (await store.items()).map((o) => o.metadata.name).sort();
    } finally {
      void s.close().catch(() => undefined);
    }
  })().catch(() => [] as string[]);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string[]>((resolve) => {
    timer = setTimeout(() => resolve([]), limitMs);
    timer.unref();
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}


/** `kind/name` candidates: the kinds (`host/`, …) until a `/` is typed, then that kind's names. */
async function refs(current: string, allowed: readonly string[], options: Record<string, string>, io: Pick<CommandContext, 'env' | 'cwd' | 'stdin' | 'stdout'>): Promise<string[]> {
  const slash = current.indexOf('/');
  if (slash < 0) return KIND_REFS.filter((r) => allowed.includes(canonicalKind(r.slice(0, -1))!));
  const word = current.slice(0, slash);
  const kind = canonicalKind(word);
  if (kind === undefined || !allowed.includes(kind)) return [];
  return (await storeNames(kind, options, io)).map((n) => `${word}/${n}`);
}

/**
 * The candidates for the last of `words` (the words after `flo`, the one being completed
 * last, possibly empty). Every candidate is returned; the shell keeps those that start with
 * what is typed.
 */
export async function completionCandidates(words: readonly string[], src: CompletionSources, io: Pick<CommandContext, 'env' | 'cwd' | 'stdin' | 'stdout'>): Promise<string[]> {
  const current = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  const first = firstPositional(before, src.globalSpecs);
  const entry = first ? src.commands.find((c) => c.name === first.value) : undefined;
  if (first?.value === 'help') return before.length === first.index + 1 ? src.commands.map((c) => c.name) : [];
  if (!first || !entry) {
    if (first) return []; // a deployfile task (or `version`): free text
    const prevSpec = before.length > 0 ? findSpec(src.globalSpecs, before.at(-1)!) : undefined;
    if (prevSpec?.type === 'string') return optionValues(prevSpec, undefined);
    if (current.startsWith('-')) return flags(src.globalSpecs);
    return [...src.commands.map((c) => c.name), ...src.builtinWords];
  }
  const mod = (await entry.load()).command;
  const specs = src.specsOf(entry, mod);
  const rest = [...before.slice(0, first.index), ...before.slice(first.index + 1)];
  const prevSpec = rest.length > 0 && !rest.at(-1)!.includes('=') ? findSpec(specs, rest.at(-1)!) : undefined;
  if (prevSpec?.type === 'string') return optionValues(prevSpec, mod);
  if (current.startsWith('-')) return flags(specs);
  const { options, positionals } = scan(rest, specs);
  const n = positionals.length;
  switch (entry.name) {
    case 'completion':
      return n === 0 ? SHELLS : [];
    case 'get': {
      if (n === 0) return current.includes('/') ? refs(current, ['Host', 'ReplicaSet', 'Service', 'Instance', 'Network'], options, io) : KIND_WORDS;
      const kind = canonicalKind(positionals[0]!);
      if (kind === undefined) return current.includes('/') ? refs(current, ['Host', 'ReplicaSet', 'Service', 'Instance', 'Network'], options, io) : [];
      return storeNames(kind, options, io);
    }
    case 'describe':
    case 'delete':
      return n === 0 && options.filename === undefined ? refs(current, ['Host', 'ReplicaSet', 'Service', 'Instance', 'Network'], options, io) : [];
    case 'scale':
      return n === 0 ? refs(current, ['ReplicaSet'], options, io) : [];
    case 'rollout':
      return n === 0 ? ['undo'] : n === 1 ? refs(current, ['ReplicaSet'], options, io) : [];
    case 'logs':
      return n === 0 ? refs(current, ['Instance'], options, io) : [];
    case 'cordon':
    case 'uncordon':
    case 'drain':
      return n === 0 ? storeNames('Host', options, io) : [];
    default:
      if (n === 0 && mod.subcommands !== undefined) return [...mod.subcommands];
      return [FILES];
  }
}

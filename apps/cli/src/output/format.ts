/**
 * The one output module of `flo` (issue 17, issue 18 §3): which formats a command prints
 * (`-o`), and printing in them. Every command that prints objects declares its formats in
 * its {@link CommandModule.formats}; `cli.ts` checks `-o` against them before the command
 * runs (an unknown format exits 2 naming the allowed ones), and the command prints through
 * {@link printOutput} or the small printers below.
 *
 * - `text` (default; `table` is the same): human tables and lines; `--no-headers` drops a
 *   table's header row.
 * - `wide`: the text table with more columns.
 * - `json`: one JSON document on stdout (two-space indented); streams print one compact
 *   JSON document per line.
 * - `yaml`: one YAML document, or a stream of documents separated by `---` (the `yaml`
 *   package loads only here, so `flo --version` never pays for it).
 * - `name`: `kind/name` lines, one per object (kubectl's `-o name`).
 */
import { UsageError, type OptionSpec } from '../cli/args.js';
import type { CommandContext } from '../cli/registry.js';
import { formatTable } from './table.js';

/** Every output format `flo` knows. */
export const OUTPUT_FORMATS = ['text', 'wide', 'json', 'yaml', 'name'] as const;
/** One output format. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
/** The formats that print one machine-readable document on stdout. */
export type DocumentFormat = 'json' | 'yaml';

/** Is this format a machine-readable document (so human lines go to stderr, or nowhere)? */
export function isDocumentFormat(format: OutputFormat): format is DocumentFormat {
  return format === 'json' || format === 'yaml';
}

/** The `-o FORMAT` option as a command that prints these formats shows it in its help. */
export function outputOptionSpec(formats: readonly OutputFormat[]): OptionSpec {
  return {
    name: 'output',
    short: 'o',
    type: 'string',
    value: formats.join('|'),
    description: `output format: ${formats.map((f, i) => (i === 0 ? `${f} (default)` : f)).join(', ')}`,
  };
}

/** `--no-headers`: a text table without its header row. */
export const noHeadersOption: OptionSpec = { name: 'no-headers', type: 'boolean', description: 'print tables without their header row' };

function rawOutput(ctx: Pick<CommandContext, 'args'>): string | undefined {
  const v = ctx.args.options.output;
  if (Array.isArray(v)) return v.at(-1);
  return typeof v === 'string' ? v : undefined;
}

/**
 * The `-o` format of this command line, checked against the formats the command prints
 * (`table` is another name for `text`). Throws a {@link UsageError} (exit 2) naming the
 * allowed formats. Without `-o`, the first allowed format.
 */
export function outputFormat(ctx: Pick<CommandContext, 'args'>, formats: readonly OutputFormat[]): OutputFormat {
  const raw = rawOutput(ctx);
  if (raw === undefined) return formats[0] ?? 'text';
  const f = raw === 'table' ? 'text' : raw;
  if (!(formats as readonly string[]).includes(f)) {
    const known = (OUTPUT_FORMATS as readonly string[]).includes(f);
    throw new UsageError(`-o ${raw}: ${known ? 'not printed by this command' : 'unknown output format'}; expected one of ${formats.join(', ')}`);
  }
  return f as OutputFormat;
}

/** Writes one JSON document (indented) on stdout. */
export function printJson(ctx: Pick<CommandContext, 'stdout'>, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Writes one compact JSON document on one line (for streams such as `kv watch -o json`). */
export function printJsonLine(ctx: Pick<CommandContext, 'stdout'>, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value)}\n`);
}

/** YAML text of a value (block style, keys in the value's order). Loads `yaml` on first use. */
export async function toYaml(value: unknown): Promise<string> {
  const { stringify } = await import('yaml');
  return stringify(value, { lineWidth: 0 });
}

/** Writes one YAML document on stdout. */
export async function printYaml(ctx: Pick<CommandContext, 'stdout'>, value: unknown): Promise<void> {
  ctx.stdout.write(await toYaml(value));
}

/** Writes a YAML stream: one document per value, separated by `---` (nothing for none). */
export async function printYamlDocuments(ctx: Pick<CommandContext, 'stdout'>, values: readonly unknown[]): Promise<void> {
  const docs = await Promise.all(values.map((v) => toYaml(v)));
  ctx.stdout.write(docs.join('---\n'));
}

/** Writes a value as one document in a document format. */
export async function printDocument(ctx: Pick<CommandContext, 'stdout'>, format: DocumentFormat, value: unknown): Promise<void> {
  if (format === 'json') printJson(ctx, value);
  else await printYaml(ctx, value);
}

/** An object reference as `-o name` prints it. */
export interface ObjectRef {
  kind: string;
  name: string;
}

/** `kind/name`: the kind in lower case, as kubectl prints `-o name` and as `flo describe` takes it. */
export function refText(ref: ObjectRef): string {
  return `${ref.kind.toLowerCase()}/${ref.name}`;
}

/** Writes `kind/name` lines. */
export function printNames(ctx: Pick<CommandContext, 'stdout'>, refs: readonly ObjectRef[]): void {
  ctx.stdout.write(refs.map((r) => `${refText(r)}\n`).join(''));
}

/** A text table: a header and rows (the last column is not padded). */
export interface Table {
  header: readonly string[];
  rows: readonly (readonly string[])[];
}

/** Writes a table on stdout; `--no-headers` drops the header row. */
export function printTable(ctx: Pick<CommandContext, 'stdout' | 'args'>, table: Table): void {
  const headers = ctx.args.options['no-headers'] !== true;
  ctx.stdout.write(formatTable(table.rows, headers ? { header: table.header } : {}));
}

/**
 * How a command prints its result in each format it declares; {@link printOutput} calls the
 * one `-o` chose. A format a command declares must have its printer here.
 */
export interface Printers {
  /** The human output (`text`); `wide` is passed `true` for `-o wide`. */
  text?: (wide: boolean) => void | Promise<void>;
  /** The value `-o json` prints (and `-o yaml`, unless `yaml` is given). */
  json?: () => unknown;
  /** What `-o yaml` prints: one value, or a {@link YamlStream} of documents. @default json() */
  yaml?: () => unknown;
  /** The objects `-o name` lists. */
  names?: () => readonly ObjectRef[];
}

/** A YAML stream for {@link Printers.yaml}: each value is its own document (`---` between). */
export class YamlStream {
  constructor(readonly documents: readonly unknown[]) {}
}

/** Prints a command's result in `format` with its printers. */
export async function printOutput(ctx: Pick<CommandContext, 'stdout' | 'args'>, format: OutputFormat, printers: Printers): Promise<void> {
  const missing = (): never => {
    throw new Error(`internal: no printer for -o ${format}`);
  };
  switch (format) {
    case 'text':
    case 'wide':
      await (printers.text ?? missing)(format === 'wide');
      return;
    case 'json':
      printJson(ctx, (printers.json ?? missing)());
      return;
    case 'yaml': {
      const value = (printers.yaml ?? printers.json ?? missing)();
      if (value instanceof YamlStream) await printYamlDocuments(ctx, value.documents);
      else await printYaml(ctx, value);
      return;
    }
    case 'name':
      printNames(ctx, (printers.names ?? missing)());
      return;
  }
}

/**
 * What a command that changes objects did (apply, delete, cordon, uncordon, drain, scale,
 * rollout undo): `{kind, name, action}` plus details (e.g. scale's `replicas`). `-o json|yaml`
 * print `{"items":[…]}`, `-o name` the `kind/name` lines, text one line each.
 */
export interface Change {
  kind: string;
  name: string;
  action: string;
}

/** The formats of a command that reports {@link Change}s. */
export const changeFormats: readonly OutputFormat[] = ['text', 'json', 'yaml', 'name'];

/** `host/h1 cordoned`: a change as a text line (without the newline). */
export function changeLine(change: Change): string {
  return `${refText(change)} ${change.action}`;
}

/** Prints changes in `format` (`text`: {@link changeLine}, or `textLine` for a fuller line). */
export async function printChanges<T extends Change>(ctx: Pick<CommandContext, 'stdout' | 'args'>, format: OutputFormat, changes: readonly T[], textLine: (c: T) => string = changeLine): Promise<void> {
  await printOutput(ctx, format, {
    text: () => void ctx.stdout.write(changes.map((c) => `${textLine(c)}\n`).join('')),
    json: () => ({ items: changes }),
    names: () => changes,
  });
}

/**
 * A writer of YAML documents one at a time (`---` between them), for output that comes as a
 * stream (`kv watch -o yaml`) or from code that prints JSON documents line by line. Loads
 * `yaml` once, here.
 */
export async function yamlDocumentWriter(ctx: Pick<CommandContext, 'stdout'>): Promise<(value: unknown) => void> {
  const { stringify } = await import('yaml');
  let written = 0;
  return (value) => void ctx.stdout.write(`${written++ > 0 ? '---\n' : ''}${stringify(value, { lineWidth: 0 })}`);
}

/** `formatTable`'s header option, or none with `--no-headers`. */
export function headerUnlessNoHeaders(ctx: Pick<CommandContext, 'args'>, header: readonly string[]): { header?: readonly string[] } {
  return ctx.args.options['no-headers'] === true ? {} : { header };
}

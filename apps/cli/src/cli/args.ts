/**
 * The one argument parser of `flo`: long options (`--name value`, `--name=value`), short
 * options (`-H value`, `-Hvalue`), boolean flags, repeatable options, and `--` to end options.
 */

/** One option a command accepts. */
export interface OptionSpec {
  /** Long name without dashes, e.g. `hosts`. */
  name: string;
  /** One-letter alias, e.g. `H`. */
  short?: string;
  /** `string` options take a value; `boolean` ones do not. */
  type: 'string' | 'boolean';
  /** May be given several times (values collected in order). */
  multiple?: boolean;
  /** Placeholder in help, e.g. `N|P%`. */
  value?: string;
  description: string;
}

/** Parsed command line. */
export interface ParsedArgs {
  options: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Bad usage: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

function find(specs: readonly OptionSpec[], token: string): OptionSpec | undefined {
  if (token.startsWith('--')) return specs.find((s) => s.name === token.slice(2));
  return specs.find((s) => s.short === token.slice(1));
}

/** Parses argv against `specs`; throws {@link UsageError} on unknown options or missing values. */
export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): ParsedArgs {
  const options: ParsedArgs['options'] = {};
  const positionals: string[] = [];
  const set = (spec: OptionSpec, value: string | boolean): void => {
    if (spec.multiple) {
      const cur = options[spec.name];
      options[spec.name] = [...(Array.isArray(cur) ? cur : []), String(value)];
    } else options[spec.name] = value;
  };
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      const name = eq >= 0 ? tok.slice(0, eq) : tok;
      const spec = find(specs, name);
      if (!spec) throw new UsageError(`unknown option ${name}`);
      if (spec.type === 'boolean') {
        if (eq >= 0) throw new UsageError(`option ${name} takes no value`);
        set(spec, true);
      } else if (eq >= 0) set(spec, tok.slice(eq + 1));
      else {
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`option ${name} needs a value${spec.value ? ` (${spec.value})` : ''}`);
        set(spec, v);
      }
    } else if (tok.startsWith('-') && tok.length > 1 && !/^-\d/.test(tok)) {
      const spec = find(specs, tok.slice(0, 2));
      if (!spec) throw new UsageError(`unknown option ${tok.slice(0, 2)}`);
      if (spec.type === 'boolean') {
        if (tok.length > 2) throw new UsageError(`option ${tok.slice(0, 2)} takes no value`);
        set(spec, true);
      } else if (tok.length > 2) set(spec, tok.slice(2));
      else {
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`option ${tok} needs a value${spec.value ? ` (${spec.value})` : ''}`);
        set(spec, v);
      }
    } else positionals.push(tok);
  }
  return { options, positionals };
}

/** The first positional, scanning with `specs` (to skip option values); `undefined` if none. */
export function firstPositional(argv: readonly string[], specs: readonly OptionSpec[]): { value: string; index: number } | undefined {
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') return argv[i + 1] === undefined ? undefined : { value: argv[i + 1]!, index: i + 1 };
    if (tok.startsWith('--')) {
      const spec = find(specs, tok.includes('=') ? tok.slice(0, tok.indexOf('=')) : tok);
      if (spec?.type === 'string' && !tok.includes('=')) i++;
    } else if (tok.startsWith('-') && tok.length > 1) {
      const spec = find(specs, tok.slice(0, 2));
      if (spec?.type === 'string' && tok.length === 2) i++;
    } else return { value: tok, index: i };
  }
  return undefined;
}

/** Help text for options. */
export function formatOptions(specs: readonly OptionSpec[]): string {
  const rows = specs.map((s) => [`${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.type === 'string' ? ` ${s.value ?? 'VALUE'}` : ''}`, s.description]);
  const w = Math.max(...rows.map((r) => r[0]!.length));
  return rows.map(([a, b]) => `  ${a!.padEnd(w)}  ${b}`).join('\n');
}

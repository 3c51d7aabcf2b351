// Logs of the long-running commands (flo server, flo controller, flo ui): --log-format
// text|json and --log-level, on stderr. JSON is one object a line: time (ISO 8601), level,
// msg, then the fields. Text is for people and stays as flo always printed it:
// `flo controller ID: msg key=value …`, with `warning:`/`error:`/`debug:` before the message
// below or above info.
import type { OptionSpec } from '../cli/args.js';
import { UsageError } from '../cli/args.js';
import type { CommandContext } from '../cli/registry.js';

export const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type Level = (typeof LEVELS)[number];
export type LogFormat = 'text' | 'json';

export const logOptions: readonly OptionSpec[] = [
  { name: 'log-format', type: 'string', value: 'text|json', description: 'log lines as text (default) or one JSON object a line (time, level, msg, fields)' },
  { name: 'log-level', type: 'string', value: 'LEVEL', description: 'debug, info (default), warn or error' },
];

/** A message-first logger (reconcile's `Logger`) with bound fields. */
export interface CliLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): CliLogger;
}

function fieldValue(v: unknown): unknown {
  if (v instanceof Error) {
    const code = (v as { code?: unknown }).code;
    return { type: v.name, message: v.message, ...(code !== undefined ? { code } : {}) };
  }
  return v;
}

function textValue(v: unknown): string {
  const f = fieldValue(v);
  if (typeof f === 'string') return /^[^\s"=]+$/.test(f) ? f : JSON.stringify(f);
  if (f instanceof Object && 'message' in f && 'type' in f) return JSON.stringify((f as { message: string }).message);
  return JSON.stringify(f) ?? String(f);
}

/** A logger writing to `out` in `format`, dropping levels below `level`. */
export function createLogger(out: NodeJS.WritableStream, format: LogFormat, level: Level, prefix: string, bound: Record<string, unknown> = {}, now: () => Date = () => new Date()): CliLogger {
  const min = LEVELS.indexOf(level);
  const write = (lvl: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (LEVELS.indexOf(lvl) < min) return;
    const all = { ...bound, ...fields };
    if (format === 'json') {
      const obj: Record<string, unknown> = { time: now().toISOString(), level: lvl, msg };
      for (const [k, v] of Object.entries(all)) if (!(k in obj)) obj[k] = fieldValue(v);
      out.write(JSON.stringify(obj) + '\n');
    } else {
      const kv = Object.entries(fields ?? {}).map(([k, v]) => ` ${k}=${textValue(v)}`).join('');
      const tag = lvl === 'info' ? '' : lvl === 'warn' ? 'warning: ' : `${lvl}: `;
      out.write(`${prefix}: ${tag}${msg}${kv}\n`);
    }
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger(out, format, level, prefix, { ...bound, ...fields }, now),
  };
}

/** The logger a command's `--log-format` and `--log-level` ask for (usage errors otherwise). */
export function loggerFor(ctx: CommandContext, prefix: string, bound: Record<string, unknown> = {}): CliLogger {
  const opt = (name: string): string | undefined => {
    const v = ctx.args.options[name];
    if (Array.isArray(v)) return v[v.length - 1];
    return typeof v === 'string' ? v : undefined;
  };
  const format = opt('log-format') ?? 'text';
  if (format !== 'text' && format !== 'json') throw new UsageError(`--log-format ${format}: expected text or json`);
  const level = opt('log-level') ?? 'info';
  if (!(LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level ${level}: expected one of ${LEVELS.join(', ')}`);
  return createLogger(ctx.stderr, format, level as Level, prefix, bound);
}

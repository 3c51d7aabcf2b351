/**
 * Tasks and deployfiles. A deployfile (`flotilla.config.ts`, `.mts`, `.js` or `.mjs`, found in
 * the current directory or above) exports tasks made with {@link task}. On the command line,
 * `flo deploy:app,canary=true` calls `deploy(c, 'app', { canary: 'true' })` on every selected
 * host (Fabric 1's syntax; `\,`, `\:`, `\=` and `\\` escape).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Connection } from './connection.js';
import { DeployError, badOption } from './errors.js';

const TASK = Symbol.for('flotilla.task');

/** Options of a task. */
export interface TaskOptions {
  /** One line shown by `flo --list`. @default '' */
  help?: string;
  /** Hosts used when the command line selects none: `-H`-style names, or a label selector string. @default undefined (a host selection is required) */
  hosts?: string[] | string;
  /** Run once, on this machine, with a local-only context (e.g. a build step). @default false */
  once?: boolean;
}

/** A task function: the host's connection, then positional arguments, then (when given) the `key=value` arguments. */
export type TaskFn<A extends unknown[] = string[]> = (c: Connection, ...args: A) => unknown;

/** A task, as exported by a deployfile. */
export interface Task<A extends unknown[] = never[]> {
  readonly [TASK]: true;
  readonly fn: TaskFn<A>;
  readonly help: string;
  readonly hosts: string[] | string | undefined;
  readonly once: boolean;
}

/**
 * Makes a task. `fn(c, ...positional, kwargs?)` receives the host's {@link Connection}, the
 * positional arguments as strings and, when `key=value` arguments were given, one more
 * argument: a `Record<string, string>` of them.
 */
export function task<A extends unknown[]>(fn: TaskFn<A>, options: TaskOptions = {}): Task<A> {
  if (typeof fn !== 'function') badOption('fn', 'a function (c, ...args) => …', fn);
  if (options.hosts !== undefined && typeof options.hosts !== 'string' && !Array.isArray(options.hosts)) badOption('hosts', 'a string[] or a selector string', options.hosts);
  return { [TASK]: true, fn, help: options.help ?? '', hosts: options.hosts, once: options.once ?? false };
}

/** True for a value made by {@link task} (works across duplicate installs). */
export function isTask(v: unknown): v is Task<unknown[]> {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[TASK] === true;
}

/** One `name:arg,key=value` on the command line. */
export interface TaskInvocation {
  name: string;
  args: string[];
  /** `undefined` when no `key=value` was given. */
  kwargs: Record<string, string> | undefined;
}

/** Splits on unescaped `sep`, removing backslash escapes from the pieces only at the end. */
function escapeSplit(text: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length) {
      cur += ch + text[i + 1]!;
      i++;
    } else if (ch === sep) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, '$1');
}

/** Parses `name[:arg[,arg…][,key=value…]]` (Fabric 1's syntax). */
export function parseTaskInvocation(text: string): TaskInvocation {
  const [rawName, ...rest] = escapeSplit(text, ':');
  const name = unescape(rawName!);
  if (name === '') throw new DeployError('task-arguments', `no task name in "${text}"`);
  const args: string[] = [];
  let kwargs: Record<string, string> | undefined;
  if (rest.length) {
    const argText = rest.join(':');
    for (const piece of escapeSplit(argText, ',')) {
      const kv = escapeSplit(piece, '=');
      if (kv.length > 1) {
        const key = unescape(kv[0]!);
        if (key === '') throw new DeployError('task-arguments', `empty key in "${piece}" of "${text}"`);
        kwargs ??= {};
        kwargs[key] = unescape(kv.slice(1).join('='));
      } else args.push(unescape(piece));
    }
  }
  return { name, args, kwargs };
}

/** The arguments a task function receives after the connection. */
export function taskArguments(inv: TaskInvocation): unknown[] {
  return inv.kwargs ? [...inv.args, inv.kwargs] : [...inv.args];
}

/** `deployApp` → `deploy-app`, `HTTPServer` → `http-server`, `build_all` → `build-all`. */
export function kebabCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1-$2')
    .replace(/_/g, '-')
    .toLowerCase();
}

/** Deployfile names, in lookup order. */
export const DEPLOYFILE_NAMES = ['flotilla.config.ts', 'flotilla.config.mts', 'flotilla.config.js', 'flotilla.config.mjs'] as const;

/** Finds the deployfile in `cwd` or the nearest directory above. */
export function findDeployfile(cwd = process.cwd()): string | undefined {
  let dir = resolve(cwd);
  for (;;) {
    for (const n of DEPLOYFILE_NAMES) {
      const p = join(dir, n);
      if (existsSync(p)) return p;
    }
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** A task loaded from a deployfile, under its command name. */
export interface LoadedTask {
  /** Command name (kebab-case of the export name; `default` exports are not tasks). */
  name: string;
  exportName: string;
  task: Task<unknown[]>;
}

/**
 * Loads a deployfile with jiti (TypeScript without a build step). Exports made with
 * {@link task} become commands; other exports are ignored. A task whose command name is in
 * `reserved` (built-in commands) is rejected.
 */
export async function loadDeployfile(file: string, options: { reserved?: readonly string[] } = {}): Promise<Map<string, LoadedTask>> {
  const { createJiti } = await import('jiti');
  const self = fileURLToPath(import.meta.url);
  const entry = self.endsWith('.ts') ? join(dirname(self), 'index.ts') : join(dirname(self), 'index.js');
  const jiti = createJiti(resolve(file), {
    alias: { '@flotilla/deploy': entry },
    moduleCache: false,
    interopDefault: false,
  });
  let mod: Record<string, unknown>;
  try {
    mod = await jiti.import<Record<string, unknown>>(resolve(file));
  } catch (e) {
    throw new DeployError('deployfile', `cannot load deployfile ${file}: ${(e as Error).message}`, { cause: e });
  }
  const tasks = new Map<string, LoadedTask>();
  const problems: string[] = [];
  for (const [exportName, v] of Object.entries(mod)) {
    if (!isTask(v) || exportName === 'default') continue;
    const name = kebabCase(exportName);
    if (options.reserved?.includes(name)) {
      problems.push(`task "${exportName}" would be the command "${name}", which is a built-in command; rename it`);
      continue;
    }
    if (tasks.has(name)) {
      problems.push(`tasks "${tasks.get(name)!.exportName}" and "${exportName}" are both the command "${name}"`);
      continue;
    }
    tasks.set(name, { name, exportName, task: v });
  }
  if (problems.length) throw new DeployError('deployfile', `deployfile ${file}:\n  ${problems.join('\n  ')}`);
  return tasks;
}

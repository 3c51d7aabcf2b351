/**
 * `~/.ssh/config` parsing with OpenSSH's rules: keywords are case-insensitive and may be
 * separated from their value by spaces or `=`; `Host` blocks match with `*`, `?` and `!`
 * patterns; the first value found for a keyword wins (IdentityFile accumulates); unknown
 * keywords are ignored. `Match all|host|originalhost|user|localuser` blocks are understood;
 * other `Match` criteria (exec, canonical, …) never match. `Include` works as in OpenSSH:
 * glob(3) on every path component, `~` expansion, relative paths under `~/.ssh` (user
 * config) or `/etc/ssh` (system config), several files per Include in sorted order, and an
 * Include inside a `Host`/`Match` block applies only when that block does.
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { DeployError } from './errors.js';
import { expandTilde, globPaths } from './ssh-glob.js';

/** One `Keyword value...` line, with the block condition it sits in. */
interface Directive {
  keyword: string;
  args: string[];
  line: number;
  file: string;
}
type Condition = { kind: 'host'; patterns: string[] } | { kind: 'match'; criteria: [string, string | undefined][] };
interface Block {
  /**
   * Every condition must hold, outermost first: empty before any Host/Match (applies
   * everywhere); an included file's blocks add their own Host/Match to the block that
   * included them.
   */
  conditions: readonly Condition[];
  directives: Directive[];
}

/** A parsed ssh_config (possibly several files, with `Include`s expanded). */
export interface SshConfig {
  readonly blocks: readonly Block[];
}

/** What ssh_config says about one host, after OpenSSH's matching. */
export interface ResolvedSshConfig {
  /** The name given (alias) and the address to connect to. */
  alias: string;
  hostName: string;
  user: string | undefined;
  port: number | undefined;
  identityFiles: string[];
  identitiesOnly: boolean;
  /** ProxyJump hops in order (`[user@]host[:port]`), or empty. */
  proxyJump: string[];
  userKnownHostsFiles: string[] | undefined;
  globalKnownHostsFiles: string[] | undefined;
  connectTimeoutMs: number | undefined;
  strictHostKeyChecking: StrictHostKeyChecking | undefined;
  identityAgent: string | undefined;
}

/** `yes` refuses unknown keys; `accept-new` records them; `no` accepts them with a warning; `ask` is `yes` unless `--accept-new-host-keys`. A changed key is always refused. */
export type StrictHostKeyChecking = 'yes' | 'no' | 'accept-new' | 'ask';

/** Splits a line into words; double quotes group words (OpenSSH's argv_split). */
function splitWords(text: string, file: string, line: number): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quoted = false;
  for (const ch of text) {
    if (quoted) {
      if (ch === '"') quoted = false;
      else cur += ch;
      continue;
    }
    if (ch === '"') {
      quoted = true;
      inWord = true;
    } else if (ch === ' ' || ch === '\t') {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else if (ch === '#' && !inWord) {
      break;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quoted) throw new DeployError('ssh-config', `${file}:${line}: unterminated quote`);
  if (inWord) out.push(cur);
  return out;
}

function expandHome(p: string, home: string): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return join(home, p.slice(2));
  return p;
}

const compiled = new Map<string, RegExp>();

function globToRegExp(glob: string): RegExp {
  const hit = compiled.get(glob);
  if (hit) return hit;
  let src = '';
  for (const ch of glob) {
    if (ch === '*') src += '.*';
    else if (ch === '?') src += '.';
    else src += ch.replace(/[\\^$.+()[\]{}|]/g, '\\$&');
  }
  const re = new RegExp(`^${src}$`, 's');
  if (compiled.size < 10_000) compiled.set(glob, re);
  return re;
}

/** OpenSSH `match_pattern`: `*` and `?` wildcards, whole-string match. */
export function matchPattern(text: string, pattern: string): boolean {
  return globToRegExp(pattern).test(text);
}

/**
 * OpenSSH `match_pattern_list`: true when some pattern matches and no negated (`!`)
 * pattern matches.
 */
export function matchPatternList(text: string, patterns: readonly string[]): boolean {
  let matched = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const p = negated ? raw.slice(1) : raw;
    if (matchPattern(text, p)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** Options for {@link parseSshConfig}. */
export interface ParseSshConfigOptions {
  /** File name used in error messages. @default '<ssh_config>' */
  file?: string;
  /** Home directory for `~`; relative `Include`s of a user config are under `<home>/.ssh`. @default os.homedir() */
  home?: string;
  /**
   * A system-wide config (OpenSSH's `/etc/ssh/ssh_config`): its relative `Include`s are
   * under {@link systemDir} and a `~` in them is an error, as in OpenSSH. @default false
   */
  system?: boolean;
  /** Where a system config's relative `Include`s live. @default '/etc/ssh' */
  systemDir?: string;
}

interface ParseContext {
  home: string;
  system: boolean;
  systemDir: string;
}

/** Parses ssh_config text. */
export function parseSshConfig(text: string, options: ParseSshConfigOptions = {}): SshConfig {
  const blocks: Block[] = [];
  const ctx: ParseContext = { home: options.home ?? homedir(), system: options.system ?? false, systemDir: options.systemDir ?? '/etc/ssh' };
  parseInto(blocks, text, options.file ?? '<ssh_config>', ctx, 0, []);
  return { blocks };
}

/** OpenSSH refuses an included file that others could have written. */
function checkIncludedFile(path: string, from: string): boolean {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false; // a dangling link: skipped, as ssh does
    throw new DeployError('ssh-config', `${from}: cannot read included file ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (!st.isFile()) return false; // a directory matched by the glob reads as empty
  const uid = process.getuid?.();
  if ((uid !== undefined && st.uid !== 0 && st.uid !== uid) || (st.mode & 0o022) !== 0)
    throw new DeployError(
      'ssh-config',
      `${from}: bad owner or permissions on included file ${path} (writable by group or others, or owned by another user); ssh refuses it too — fix with: chmod go-w ${path}`,
    );
  return true;
}

function parseInto(blocks: Block[], text: string, file: string, ctx: ParseContext, depth: number, outer: readonly Condition[]): void {
  if (depth > 16) throw new DeployError('ssh-config', `${file}: Include nested too deeply (more than 16 levels; an Include loop?)`);
  // The block directives of this file go to; an Include's files return to it afterwards.
  let current: Block = { conditions: outer, directives: [] };
  blocks.push(current);
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let raw = lines[i]!.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const m = /^([A-Za-z][A-Za-z0-9]*)\s*(?:=\s*|\s+)(.*)$/.exec(raw) ?? /^([A-Za-z][A-Za-z0-9]*)()$/.exec(raw);
    if (!m) throw new DeployError('ssh-config', `${file}:${lineNo}: cannot parse "${raw}"`);
    const keyword = m[1]!.toLowerCase();
    raw = m[2]!;
    const args = splitWords(raw, file, lineNo);
    if (keyword === 'host') {
      if (args.length === 0) throw new DeployError('ssh-config', `${file}:${lineNo}: Host needs at least one pattern`);
      current = { conditions: [...outer, { kind: 'host', patterns: args.map((a) => a.toLowerCase()) }], directives: [] };
      blocks.push(current);
    } else if (keyword === 'match') {
      const criteria: [string, string | undefined][] = [];
      for (let j = 0; j < args.length; j++) {
        const c = args[j]!.toLowerCase();
        if (c === 'all' || c === 'canonical' || c === 'final') criteria.push([c, undefined]);
        else criteria.push([c, args[++j]]);
      }
      current = { conditions: [...outer, { kind: 'match', criteria }], directives: [] };
      blocks.push(current);
    } else if (keyword === 'include') {
      if (args.length === 0) throw new DeployError('ssh-config', `${file}:${lineNo}: Include needs at least one path`);
      for (const a of args) {
        if (ctx.system && a.startsWith('~'))
          throw new DeployError('ssh-config', `${file}:${lineNo}: bad include path ${a}: a system config cannot use ~ (name the path in full)`);
        const pattern = isAbsolute(a) || a.startsWith('~') ? a : join(ctx.system ? ctx.systemDir : join(ctx.home, '.ssh'), a);
        for (const f of globPaths(pattern, { home: ctx.home })) {
          if (!checkIncludedFile(f, `${file}:${lineNo}`)) continue;
          let body: string;
          try {
            body = readFileSync(f, 'utf8');
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
            throw new DeployError('ssh-config', `${file}:${lineNo}: cannot read included file ${f}: ${(e as Error).message}`, { cause: e });
          }
          // The included file starts in the including block (its Host/Match lines narrow it
          // further); afterwards the including file continues in its own block, whatever
          // blocks the included file opened.
          parseInto(blocks, body, f, ctx, depth + 1, current.conditions);
          blocks.push((current = { conditions: current.conditions, directives: [] }));
        }
      }
    } else {
      current.directives.push({ keyword, args, line: lineNo, file });
    }
  }
}

/** Options for {@link loadSshConfig}. */
export interface LoadSshConfigOptions {
  /** Home directory for `~` and user configs' relative `Include`s. @default os.homedir() */
  home?: string;
  /** Which of the files are system-wide configs (see {@link ParseSshConfigOptions.system}). @default ['/etc/ssh/ssh_config'] */
  systemFiles?: readonly string[];
  /** Where a system config's relative `Include`s live. @default '/etc/ssh' */
  systemDir?: string;
}

/** Reads and parses ssh_config files (missing files count as empty). */
export function loadSshConfig(files: readonly string[], options: LoadSshConfigOptions = {}): SshConfig {
  const home = options.home ?? homedir();
  const systemFiles = options.systemFiles ?? ['/etc/ssh/ssh_config'];
  const blocks: Block[] = [];
  for (const f of files) {
    let text: string;
    const path = expandTilde(f, { home });
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new DeployError('ssh-config', `cannot read ssh config ${f}: ${(e as Error).message}`, { cause: e });
    }
    const system = systemFiles.includes(f) || systemFiles.includes(path);
    const sub = parseSshConfig(text, { file: f, home, system, ...(options.systemDir === undefined ? {} : { systemDir: options.systemDir }) });
    blocks.push(...sub.blocks);
  }
  return { blocks };
}

/** Options for {@link resolveSshConfig}. */
export interface ResolveSshConfigOptions {
  /** The remote user given on the command line (used by `Match user` and `%r`). */
  user?: string;
  /** Home directory for `~` and `%d`. @default os.homedir() */
  home?: string;
  /** Local user name for `%u`. @default os.userInfo().username */
  localUser?: string;
}

function parsePort(v: string, where: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new DeployError('ssh-config', `${where}: bad port "${v}"`);
  return n;
}

/** Applies ssh_config to a host name as OpenSSH does (first value wins). */
export function resolveSshConfig(config: SshConfig, host: string, options: ResolveSshConfigOptions = {}): ResolvedSshConfig {
  const home = options.home ?? homedir();
  const alias = host;
  const lower = host.toLowerCase();
  const values = new Map<string, Directive>();
  const identityFiles: Directive[] = [];
  const firstHostName = (): string => values.get('hostname')?.args[0]?.replace(/%h/g, alias) ?? alias;
  // Each Host/Match is decided once, when first reached (OpenSSH decides it at its line), and
  // shared by the blocks of the files it includes.
  const decided = new Map<Condition, boolean>();
  const holds = (c: Condition): boolean => {
    let v = decided.get(c);
    if (v === undefined) {
      v = conditionHolds(c, lower, () => firstHostName().toLowerCase(), () => values.get('user')?.args[0] ?? options.user);
      decided.set(c, v);
    }
    return v;
  };
  for (const block of config.blocks) {
    if (!block.conditions.every(holds)) continue;
    for (const d of block.directives) {
      if (d.keyword === 'identityfile') identityFiles.push(d);
      else if (!values.has(d.keyword)) values.set(d.keyword, d);
    }
  }
  const hostName = firstHostName();
  const userD = values.get('user');
  const user = options.user ?? userD?.args[0];
  const portD = values.get('port');
  const port = portD?.args[0] === undefined ? undefined : parsePort(portD.args[0], `${portD.file}:${portD.line}`);
  const localUser = options.localUser ?? safeLocalUser();
  const expand = (p: string): string =>
    expandHome(
      p.replace(/%(.)/g, (_m, t: string) => {
        switch (t) {
          case '%':
            return '%';
          case 'd':
            return home;
          case 'h':
            return hostName;
          case 'n':
            return alias;
          case 'u':
            return localUser;
          case 'r':
            return user ?? localUser;
          case 'p':
            return String(port ?? 22);
          default:
            return `%${t}`;
        }
      }),
      home,
    );
  const files = (k: string): string[] | undefined => {
    const d = values.get(k);
    if (!d) return undefined;
    if (d.args.length === 1 && d.args[0]!.toLowerCase() === 'none') return [];
    return d.args.map(expand);
  };
  const pj = values.get('proxyjump');
  let proxyJump: string[] = [];
  if (pj?.args[0] && pj.args[0].toLowerCase() !== 'none') {
    proxyJump = pj.args.join(',').split(',').map((s) => s.trim()).filter(Boolean);
  }
  const ct = values.get('connecttimeout');
  const shk = values.get('stricthostkeychecking')?.args[0]?.toLowerCase();
  let strict: StrictHostKeyChecking | undefined;
  if (shk === 'yes') strict = 'yes';
  else if (shk === 'no' || shk === 'off') strict = 'no';
  else if (shk === 'accept-new') strict = 'accept-new';
  else if (shk === 'ask') strict = 'ask';
  const io = values.get('identitiesonly')?.args[0]?.toLowerCase();
  const agentD = values.get('identityagent')?.args[0];
  return {
    alias,
    hostName,
    user,
    port,
    identityFiles: identityFiles.flatMap((d) => d.args.filter((a) => a.toLowerCase() !== 'none').map(expand)),
    identitiesOnly: io === 'yes',
    proxyJump,
    userKnownHostsFiles: files('userknownhostsfile'),
    globalKnownHostsFiles: files('globalknownhostsfile'),
    connectTimeoutMs: ct?.args[0] === undefined ? undefined : Number(ct.args[0]) * 1000,
    strictHostKeyChecking: strict,
    identityAgent: agentD === undefined ? undefined : agentD.toLowerCase() === 'none' ? 'none' : expand(agentD.replace(/^\$SSH_AUTH_SOCK$/, process.env.SSH_AUTH_SOCK ?? '')),
  };
}

function safeLocalUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'root';
  }
}

function conditionHolds(c: Condition, host: string, hostName: () => string, user: () => string | undefined): boolean {
  if (c.kind === 'host') return matchPatternList(host, c.patterns);
  for (const [criterion, arg] of c.criteria) {
    const list = (arg ?? '').split(',');
    switch (criterion) {
      case 'all':
        break;
      case 'host':
        if (!matchPatternList(hostName(), list)) return false;
        break;
      case 'originalhost':
        if (!matchPatternList(host, list)) return false;
        break;
      case 'user': {
        const u = user();
        if (u === undefined || !matchPatternList(u, list)) return false;
        break;
      }
      case 'localuser':
        if (!matchPatternList(safeLocalUser(), list)) return false;
        break;
      default:
        return false; // exec, canonical, final, …: not supported, never match
    }
  }
  return true;
}

/** A `[user@]host[:port]` (or `ssh://user@host:port`) destination. */
export interface Destination {
  user: string | undefined;
  host: string;
  port: number | undefined;
}

/** Parses `[user@]host[:port]`, `[user@][v6addr]:port` or `ssh://[user@]host[:port]`. */
export function parseDestination(text: string): Destination {
  let s = text.startsWith('ssh://') ? text.slice(6) : text;
  let user: string | undefined;
  const at = s.lastIndexOf('@');
  if (at >= 0) {
    user = s.slice(0, at);
    s = s.slice(at + 1);
  }
  let port: number | undefined;
  let host = s;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) {
    host = v6[1]!;
    if (v6[2]) port = parsePort(v6[2], text);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon >= 0 && s.indexOf(':') === colon) {
      host = s.slice(0, colon);
      port = parsePort(s.slice(colon + 1), `destination "${text}"`);
    }
  }
  if (!host) throw new DeployError('ssh-config', `destination "${text}" has no host`);
  if (user === '') throw new DeployError('ssh-config', `destination "${text}" has an empty user`);
  return { user, host, port };
}

/**
 * Path globbing as OpenSSH's `Include` does it (glob(3) with GLOB_TILDE, as in OpenSSH's
 * portable glob): every path component may hold `*`, `?` and `[...]` (ranges, `!` negation,
 * `[:class:]`); a backslash quotes the next character; wildcards never match `/`, and a name
 * starting with `.` is matched only by a pattern starting with a literal `.`; `~` and `~user`
 * at the start expand; a `[` without a closing `]` is literal. The result is every existing
 * path that matches, sorted by byte value (strcmp) over the whole path, as glob(3) sorts it.
 */
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

type SetItem = { kind: 'char'; ch: string } | { kind: 'range'; lo: number; hi: number } | { kind: 'class'; test: (ch: string) => boolean };
/** One token of a path component's pattern; `quoted` literals come from a backslash. */
type Token =
  | { kind: 'lit'; ch: string; quoted: boolean }
  | { kind: 'star' }
  | { kind: 'one' }
  | { kind: 'set'; negated: boolean; items: SetItem[] };

const CLASSES: Record<string, (ch: string) => boolean> = {
  alnum: (c) => /^[A-Za-z0-9]$/.test(c),
  alpha: (c) => /^[A-Za-z]$/.test(c),
  blank: (c) => c === ' ' || c === '\t',
  cntrl: (c) => c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127,
  digit: (c) => /^[0-9]$/.test(c),
  graph: (c) => c.charCodeAt(0) > 32 && c.charCodeAt(0) < 127,
  lower: (c) => /^[a-z]$/.test(c),
  print: (c) => c.charCodeAt(0) >= 32 && c.charCodeAt(0) < 127,
  punct: (c) => /^[!-/:-@[-`{-~]$/.test(c),
  space: (c) => /^[ \t\n\v\f\r]$/.test(c),
  upper: (c) => /^[A-Z]$/.test(c),
  xdigit: (c) => /^[0-9A-Fa-f]$/.test(c),
};

/** Splits one path component's pattern into tokens (glob(3)'s `glob0` rules). */
export function tokenizeGlob(pattern: string): Token[] {
  const chars = [...pattern];
  const out: Token[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\\') {
      // A trailing backslash is itself.
      if (i + 1 < chars.length) out.push({ kind: 'lit', ch: chars[++i]!, quoted: true });
      else out.push({ kind: 'lit', ch: '\\', quoted: false });
    } else if (c === '*') {
      out.push({ kind: 'star' });
    } else if (c === '?') {
      out.push({ kind: 'one' });
    } else if (c === '[') {
      const set = parseSet(chars, i + 1);
      if (set === undefined) out.push({ kind: 'lit', ch: '[', quoted: false });
      else {
        out.push(set.token);
        i = set.end;
      }
    } else {
      out.push({ kind: 'lit', ch: c, quoted: false });
    }
  }
  return out;
}

/** Parses a bracket expression starting after `[`; undefined when it has no closing `]`. */
function parseSet(chars: string[], start: number): { token: Token; end: number } | undefined {
  let i = start;
  let negated = false;
  if (chars[i] === '!') {
    negated = true;
    i++;
  }
  // The first character (even `]`) belongs to the set; the set needs a `]` after it.
  if (i >= chars.length || !chars.slice(i + 1).includes(']')) return undefined;
  const items: SetItem[] = [];
  let first = true;
  while (i < chars.length && (first || chars[i] !== ']')) {
    first = false;
    let c = chars[i]!;
    if (c === '[' && chars[i + 1] === ':') {
      const close = chars.indexOf(':', i + 2);
      if (close > 0 && chars[close + 1] === ']') {
        const test = CLASSES[chars.slice(i + 2, close).join('')];
        if (test) {
          items.push({ kind: 'class', test });
          i = close + 2;
          continue;
        }
      }
    }
    if (c === '\\' && i + 1 < chars.length) c = chars[++i]!;
    if (chars[i + 1] === '-' && i + 2 < chars.length && chars[i + 2] !== ']') {
      let hi = chars[i + 2]!;
      let next = i + 3;
      if (hi === '\\' && i + 3 < chars.length) {
        hi = chars[i + 3]!;
        next = i + 4;
      }
      items.push({ kind: 'range', lo: c.codePointAt(0)!, hi: hi.codePointAt(0)! });
      i = next;
      continue;
    }
    items.push({ kind: 'char', ch: c });
    i++;
  }
  if (i >= chars.length) return undefined;
  return { token: { kind: 'set', negated, items }, end: i };
}

function hasMagic(tokens: readonly Token[]): boolean {
  return tokens.some((t) => t.kind !== 'lit');
}

function matchOne(t: Token, ch: string): boolean {
  switch (t.kind) {
    case 'lit':
      return t.ch === ch;
    case 'one':
      return true;
    case 'star':
      return false;
    case 'set': {
      const cp = ch.codePointAt(0)!;
      const hit = t.items.some((it) => (it.kind === 'char' ? it.ch === ch : it.kind === 'range' ? it.lo <= cp && cp <= it.hi : it.test(ch)));
      return hit !== t.negated;
    }
  }
}

/** Whether one file name matches one component's tokens (a leading `.` needs a literal `.`). */
export function globMatchName(name: string, tokens: readonly Token[]): boolean {
  const s = [...name];
  const first = tokens[0];
  if (s[0] === '.' && !(first?.kind === 'lit' && first.ch === '.' && !first.quoted)) return false;
  // Iterative wildcard match: remember the last `*` and retry from one character further.
  let si = 0;
  let ti = 0;
  let starT = -1;
  let starS = 0;
  while (si < s.length) {
    const t = tokens[ti];
    if (t?.kind === 'star') {
      starT = ti++;
      starS = si;
    } else if (t !== undefined && matchOne(t, s[si]!)) {
      si++;
      ti++;
    } else if (starT >= 0) {
      ti = starT + 1;
      si = ++starS;
    } else {
      return false;
    }
  }
  while (tokens[ti]?.kind === 'star') ti++;
  return ti === tokens.length;
}

/** How to find home directories for `~` and `~user`. */
export interface TildeOptions {
  /** The home directory for a bare `~`. */
  home: string;
  /** Looks up another user's home directory. @default reads /etc/passwd */
  userHome?: (user: string) => string | undefined;
}

function passwdHome(user: string): string | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === user && f.length >= 7) return f[5];
    }
  } catch {
    /* no passwd file: leave ~user as it is */
  }
  return undefined;
}

/** `~` and `~user` at the start of a path (GLOB_TILDE); an unknown user leaves it as it is. */
export function expandTilde(path: string, options: TildeOptions): string {
  if (!path.startsWith('~')) return path;
  const slash = path.indexOf('/');
  const name = slash < 0 ? path.slice(1) : path.slice(1, slash);
  const rest = slash < 0 ? '' : path.slice(slash);
  const dir = name === '' ? options.home : (options.userHome ?? passwdHome)(name);
  if (dir === undefined) return path;
  return dir + rest;
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Every existing path matching `pattern`, sorted as glob(3) sorts (byte order of the
 * whole path). A pattern without wildcards gives itself when it exists. A relative pattern is
 * relative to the current directory.
 */
export function globPaths(pattern: string, options: TildeOptions): string[] {
  const expanded = expandTilde(pattern, options);
  const absolute = isAbsolute(expanded);
  const components = expanded.split('/').filter((c) => c !== '');
  let prefixes = [absolute ? '/' : ''];
  for (const component of components) {
    const tokens = tokenizeGlob(component);
    if (!hasMagic(tokens)) {
      const literal = tokens.map((t) => (t.kind === 'lit' ? t.ch : '')).join('');
      prefixes = prefixes.map((p) => (p === '' ? literal : join(p, literal)));
      continue;
    }
    const next: string[] = [];
    for (const p of prefixes) {
      let names: string[];
      try {
        names = readdirSync(p === '' ? '.' : p);
      } catch {
        continue; // not a directory, or unreadable: nothing below it matches
      }
      for (const n of names) if (globMatchName(n, tokens)) next.push(p === '' ? n : join(p, n));
    }
    prefixes = next;
    if (prefixes.length === 0) return [];
  }
  return prefixes
    .filter((p) => p !== '' && exists(p))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

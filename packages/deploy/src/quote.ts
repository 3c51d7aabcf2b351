/**
 * Quoting for POSIX sh. Every argument or path that reaches a remote shell goes through
 * {@link shellQuote}: the result is a single word whose value is exactly the input, whatever
 * it contains (quotes, `$`, backticks, newlines, `;`, globs).
 */

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one argument for POSIX sh. `shellQuote("it's")` → `'it'\''s'`. */
export function shellQuote(arg: string): string {
  if (arg === '') return "''";
  if (SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Quotes each argument and joins them with spaces. */
export function shellJoin(args: readonly string[]): string {
  return args.map(shellQuote).join(' ');
}

/**
 * Quotes a remote path. A leading `~/` stays unquoted so the remote shell expands it to the
 * login directory; the rest is quoted. Relative paths are relative to the login directory.
 */
export function quotePath(path: string): string {
  if (path === '~') return '"$HOME"';
  if (path.startsWith('~/')) return `"$HOME"/${shellQuote(path.slice(2))}`;
  return shellQuote(path);
}

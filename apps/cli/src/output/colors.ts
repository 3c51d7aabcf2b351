/**
 * Colours on a TTY (not `TERM=dumb`), or wherever `FORCE_COLOR` is set (CI logs, `less -R`;
 * `FORCE_COLOR=0` or `false` turns them off), and never with `NO_COLOR`
 * (https://no-color.org), which wins over both.
 */
export interface Colors {
  enabled: boolean;
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  /** A stable colour per host name. */
  host(name: string): string;
}

const codes = [36, 35, 34, 33, 32, 96, 95, 94];

export function colorsFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): Colors {
  const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== '';
  const force = env.FORCE_COLOR;
  const forced = force === undefined ? undefined : !/^(0|false)$/i.test(force);
  const enabled = !noColor && (forced ?? (stream.isTTY === true && env.TERM !== 'dumb'));
  const wrap = (code: number) => (s: string) => (enabled ? `\x1b[${code}m${s}\x1b[0m` : s);
  return {
    enabled,
    bold: wrap(1),
    dim: wrap(2),
    red: wrap(31),
    green: wrap(32),
    yellow: wrap(33),
    cyan: wrap(36),
    host: (name) => {
      let h = 0;
      for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
      return wrap(codes[h % codes.length]!)(name);
    },
  };
}

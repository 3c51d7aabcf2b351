// A small data-driven test runner in the style of etcd's datadriven package (written anew):
// a script is a series of cases, each a command line, a `----` line and the expected output,
// ended by a blank line. Lines starting with `#` and blank lines between cases are comments.
//
//   campaign 1
//   ----
//   > 1 handling Ready
//   ...
//
// Run with REWRITE=1 to write the actual outputs into the script (then review the diff).
import { readFileSync, writeFileSync } from 'node:fs';

/** A parsed command line: `name pos1 pos2 key=value key=(a,b)`. */
export interface Command {
  readonly name: string;
  readonly args: readonly string[];
  readonly options: ReadonlyMap<string, string>;
  /** `file:line` of the command, for failure messages. */
  readonly where: string;
}

type Item = { kind: 'text'; text: string } | { kind: 'case'; line: number; command: string; expected: string };

function parseScript(text: string): Item[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const items: Item[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '' || line.startsWith('#')) {
      items.push({ kind: 'text', text: line });
      continue;
    }
    const command = line;
    const start = i + 1;
    if (lines[i + 1] !== '----') throw new Error(`line ${start}: expected "----" after the command ${JSON.stringify(command)}`);
    i += 2;
    const out: string[] = [];
    while (i < lines.length && lines[i] !== '') out.push(lines[i++]!);
    items.push({ kind: 'case', line: start, command, expected: out.join('\n') });
    if (i < lines.length) items.push({ kind: 'text', text: '' });
  }
  return items;
}

export function parseCommand(line: string, where: string): Command {
  const tokens = line.trim().split(/\s+/);
  const args: string[] = [];
  const options = new Map<string, string>();
  for (const t of tokens.slice(1)) {
    const eq = t.indexOf('=');
    if (eq > 0) options.set(t.slice(0, eq), t.slice(eq + 1));
    else args.push(t);
  }
  return { name: tokens[0]!, args, options, where };
}

/** A case's outcome: its command, what it printed, what the script expects. */
export interface CaseResult {
  readonly where: string;
  readonly command: string;
  readonly actual: string;
  readonly expected: string;
}

/**
 * Runs every case of the script at `path` through `run` (which returns the case's output; an
 * empty output is written `ok`) and returns each case's actual and expected output. With
 * REWRITE=1 in the environment the script's expected outputs are replaced by the actual ones.
 */
export function runScript(path: string, run: (c: Command) => string): CaseResult[] {
  const items = parseScript(readFileSync(path, 'utf8'));
  const results: CaseResult[] = [];
  const name = path.split('/').at(-1)!;
  for (const item of items) {
    if (item.kind !== 'case') continue;
    const where = `${name}:${item.line}`;
    let actual: string;
    try {
      actual = run(parseCommand(item.command, where)).trimEnd();
    } catch (err) {
      actual = `error: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (actual === '') actual = 'ok';
    results.push({ where, command: item.command, actual, expected: item.expected });
    item.expected = actual;
  }
  if (process.env.REWRITE === '1') {
    const text = items.map((it) => (it.kind === 'text' ? it.text : `${it.command}\n----\n${it.expected}`)).join('\n');
    writeFileSync(path, `${text}\n`);
  }
  return results;
}

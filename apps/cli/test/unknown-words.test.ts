/**
 * Issue 17, "Unknown words": a word that is neither a built-in command nor a task of a found
 * deployfile exits 2 with `unknown command or task "X"` and the nearest names (it used to
 * answer "no deployfile…", or load `-f app.yaml` as a deployfile); `flo help [command]` and
 * `flo version`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { editDistance, nearestNames } from '../src/cli/suggest.js';
import { main } from '../src/cli.js';

function io(cwd: string) {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (c: Buffer) => out.push(c.toString()));
  stderr.on('data', (c: Buffer) => err.push(c.toString()));
  return { io: { stdout, stderr, stdin: new PassThrough(), env: {}, cwd }, out: () => out.join(''), err: () => err.join('') };
}

async function flo(argv: string[], cwd: string) {
  const t = io(cwd);
  const code = await main(argv, t.io);
  return { code, out: t.out(), err: t.err() };
}

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** An empty directory: no deployfile here or above. */
function empty(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flo-words-'));
  made.push(dir);
  return dir;
}

/** A project with a deployfile (tasks greet, build) and local hosts a, b. */
function project(): string {
  const dir = empty();
  writeFileSync(
    join(dir, 'hosts.yaml'),
    ['a', 'b'].map((n) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${n}}\nspec: {local: {dir: ./hosts/${n}}}\n`).join('---\n'),
  );
  writeFileSync(
    join(dir, 'flotilla.config.ts'),
    `import { task, shellQuote } from '@flotilla/deploy';
export const greet = task(async (c, who: string) => { await c.run('echo hello ' + shellQuote(who)); }, { help: 'print a greeting' });
export const build = task(async (c) => { await c.run('echo built'); }, { once: true, help: 'build here' });
`,
  );
  return dir;
}

const version = (JSON.parse(readFileSync(join(import.meta.dirname, '../package.json'), 'utf8')) as { version: string }).version;

describe('nearest names', () => {
  it('Damerau–Levenshtein: a transposition costs 1', () => {
    expect(editDistance('gett', 'get')).toBe(1);
    expect(editDistance('aplpy', 'apply')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });
  it('only reasonably close names, nearest first, at most 3', () => {
    const names = ['get', 'put', 'run', 'describe', 'delete', 'drain', 'apply', 'help'];
    expect(nearestNames('gett', names)).toEqual(['get']);
    expect(nearestNames('aplpy', names)).toEqual(['apply']);
    expect(nearestNames('desc', names)).toEqual(['describe']);
    expect(nearestNames('frobnicate', names)).toEqual([]);
    expect(nearestNames('events', names)).toEqual([]);
    expect(nearestNames('gut', names)).toEqual(['get', 'put']);
    expect(nearestNames('ab', ['abf', 'abe', 'abd', 'abc'])).toEqual(['abc', 'abd', 'abe']);
    expect(nearestNames('x', names)).toEqual([]);
  });
});

describe('unknown words (issue 17)', { timeout: 90_000 }, () => {
  it('flo frobnicate without a deployfile: unknown command or task, exit 2, no "did you mean" when nothing is close', async () => {
    const r = await flo(['frobnicate'], empty());
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^flo: unknown command or task "frobnicate"$/m);
    expect(r.err).not.toMatch(/did you mean/);
    expect(r.err).toMatch(/flo --help/);
    expect(r.out).toBe('');
  });

  it('flo gett hosts suggests get first (then agent, two edits away)', async () => {
    const r = await flo(['gett', 'hosts'], empty());
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^flo: unknown command or task "gett"$/m);
    expect(r.err).toMatch(/^did you mean: get, agent$/m);
  });

  it('flo top and flo patch -f app.yaml (commands that do not exist) are unknown words, not deployfile errors', async () => {
    const dir = empty();
    writeFileSync(join(dir, 'app.yaml'), 'apiVersion: flotilla.dev/v1\nkind: ReplicaSet\nmetadata: {name: web}\n');
    const top = await flo(['top'], dir);
    expect(top.code).toBe(2);
    expect(top.err).toMatch(/^flo: unknown command or task "top"$/m);
    const diff = await flo(['patch', '-f', 'app.yaml'], dir);
    expect(diff.code).toBe(2);
    expect(diff.err).toMatch(/^flo: unknown command or task "patch"$/m);
    expect(diff.err).toMatch(/-f app\.yaml is not a deployfile/);
    expect(diff.err).not.toMatch(/cannot load deployfile/);
  });

  it('flo help prints the general help (as flo --help); flo help get prints get\'s (as flo get --help)', async () => {
    const dir = empty();
    const general = await flo(['--help'], dir);
    const help = await flo(['help'], dir);
    expect(help.code).toBe(0);
    expect(help.out).toBe(general.out);
    expect(help.out).toMatch(/flo help \[command\]/);
    const getHelp = await flo(['get', '--help'], dir);
    const helpGet = await flo(['help', 'get'], dir);
    expect(helpGet.code).toBe(0);
    expect(helpGet.out).toBe(getHelp.out);
    expect(helpGet.out).toMatch(/^Usage: flo get/);
  });

  it('flo help <unknown> exits 2 with the unknown-word message and the nearest names', async () => {
    const r = await flo(['help', 'aplpy'], empty());
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^flo: unknown command or task "aplpy"$/m);
    expect(r.err).toMatch(/^did you mean: apply$/m);
    expect(r.out).toBe('');
  });

  it('flo version is an alias of flo --version; flo vesrion suggests it', async () => {
    const r = await flo(['version'], empty());
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${version}\n`);
    const typo = await flo(['vesrion'], empty());
    expect(typo.code).toBe(2);
    expect(typo.err).toMatch(/^did you mean: version$/m);
  });

  it('with a deployfile: a typo of a task suggests the task (before any host is touched); a real task still runs', async () => {
    const dir = project();
    const typo = await flo(['-H', 'a', 'gret:world'], dir);
    expect(typo.code).toBe(2);
    expect(typo.err).toMatch(/^flo: unknown command or task "gret"$/m);
    expect(typo.err).toMatch(/^did you mean: get, greet$/m);
    expect(typo.err).toMatch(/has no such task; flo --list shows its tasks/);
    expect(typo.out).toBe('');
    const cmdTypo = await flo(['gett', 'hosts'], dir);
    expect(cmdTypo.code).toBe(2);
    expect(cmdTypo.err).toMatch(/^did you mean: get, agent, greet$/m); // nearest first, then by name
    const second = await flo(['-H', 'a', 'greet:x', 'biuld'], dir);
    expect(second.code).toBe(2);
    expect(second.err).toMatch(/^flo: unknown command or task "biuld"$/m);
    expect(second.err).toMatch(/^did you mean: build$/m);
    expect(second.out).toBe('');
    const real = await flo(['-H', 'a', 'greet:world'], dir);
    expect(real.err).toMatch(/task greet on a/);
    expect(real.code).toBe(0);
    expect(real.out).toBe('a: hello world\n');
  });
});

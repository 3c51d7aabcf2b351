import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { quotePath, shellJoin, shellQuote } from '../src/index.js';

/** What /bin/sh makes of a quoted word: printf each argument NUL-terminated. */
function shWords(line: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

describe('shellQuote', () => {
  it.each([
    ['', "''"],
    ['plain', 'plain'],
    ['a/b.c-d_e', 'a/b.c-d_e'],
    ["it's", "'it'\\''s'"],
    ['a b', "'a b'"],
    ['$(rm -rf /)', "'$(rm -rf /)'"],
  ])('quotes %j as %s', (input, expected) => {
    expect(shellQuote(input)).toBe(expected);
  });

  it('round-trips metacharacters through a real sh', () => {
    const nasty = ['; rm -rf ~', '`id`', '$(id)', '$HOME', "'", '"', '\\', '\n', '*', 'a&&b', '|', '>x', '#c', '~', '-n', '!', '{a,b}'];
    expect(shWords(shellJoin(nasty))).toEqual(nasty);
  });

  it('agrees with sh for any string (property)', () => {
    const arb = fc.array(fc.string({ unit: fc.constantFrom(...'ab $`"\'\\;|&<>()*?[]{}~#!\n\t-=%'.split('')), maxLength: 12 }), { minLength: 1, maxLength: 8 });
    const samples = fc.sample(arb, { numRuns: 60, seed: 7 });
    // One sh per sample keeps this fast; each sample is a whole argv.
    for (const argv of samples) expect(shWords(shellJoin(argv))).toEqual(argv);
  });

  it('quotePath keeps ~/ expandable and quotes the rest', () => {
    expect(quotePath('~/a b')).toBe(`"$HOME"/'a b'`);
    expect(quotePath('~')).toBe('"$HOME"');
    const home = execFileSync('/bin/sh', ['-c', `printf %s ${quotePath('~/x;y')}`], { encoding: 'utf8', env: { HOME: '/h', PATH: process.env.PATH } });
    expect(home).toBe('/h/x;y');
  });
});

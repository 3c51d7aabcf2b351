/**
 * The unified diff `flo diff` and `flo apply --dry-run` print: checked against GNU diff -u on
 * this machine (same hunks for simple edits) and by GNU patch (any edit script, applied to
 * the old text, gives the new one).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { unifiedDiff } from '../src/output/diff.js';

const dir = mkdtempSync(join(tmpdir(), 'flo-diff-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function gnuDiff(a: string, b: string): string {
  writeFileSync(join(dir, 'a'), a);
  writeFileSync(join(dir, 'b'), b);
  try {
    execFileSync('diff', ['-u', '--label', 'LIVE/x', '--label', 'MERGED/x', 'a', 'b'], { cwd: dir, encoding: 'utf8' });
    return '';
  } catch (e) {
    const err = e as { status?: number; stdout?: string };
    if (err.status !== 1) throw e;
    return err.stdout ?? '';
  }
}

const text = (lines: readonly string[]): string => lines.map((l) => `${l}\n`).join('');
const names = { from: 'LIVE/x', to: 'MERGED/x' };

describe('unifiedDiff', () => {
  const base = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`);
  it.each([
    ['one line changed', base, base.map((l, i) => (i === 9 ? 'changed' : l))],
    ['a line added at the start', base, ['new', ...base]],
    ['a line removed at the end', base, base.slice(0, -1)],
    ['two changes far apart (two hunks)', base, base.map((l, i) => (i === 2 || i === 17 ? `${l}!` : l))],
    ['two changes close together (one hunk)', base, base.map((l, i) => (i === 5 || i === 10 ? `${l}!` : l))],
    ['a new object', [], ['apiVersion: flotilla.dev/v1', 'kind: Host']],
    ['a deleted object', ['apiVersion: flotilla.dev/v1', 'kind: Host'], []],
    ['one-line files', ['a'], ['b']],
  ])('%s: as GNU diff -u', (_name, a, b) => {
    expect(unifiedDiff(text(a), text(b), names)).toBe(gnuDiff(text(a), text(b)));
  });

  it('equal texts: no diff', () => {
    expect(unifiedDiff(text(base), text(base), names)).toBe('');
  });

  it('any edit: GNU patch applied to the old text gives the new one', () => {
    let seed = 17;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 40; round++) {
      const a = Array.from({ length: random(30) }, () => `v${random(6)}`);
      const b = a.flatMap((l) => {
        const r = random(10);
        return r === 0 ? [] : r === 1 ? [l, `v${random(6)}`] : r === 2 ? [`w${random(6)}`] : [l];
      });
      if (random(3) === 0) b.unshift('head');
      const patch = unifiedDiff(text(a), text(b), names);
      writeFileSync(join(dir, 'old'), text(a));
      if (patch === '') {
        expect(text(a)).toBe(text(b));
        continue;
      }
      writeFileSync(join(dir, 'p'), patch);
      execFileSync('patch', ['-s', '-o', 'new', 'old', 'p'], { cwd: dir });
      expect(readFileSync(join(dir, 'new'), 'utf8'), `round ${round}\n${patch}`).toBe(text(b));
      rmSync(join(dir, 'new'));
    }
  });
});

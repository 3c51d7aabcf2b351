/**
 * "Did you mean": the names nearest a mistyped word, for the unknown-word usage error.
 */
import { UsageError } from './args.js';

/**
 * Damerau–Levenshtein distance (optimal string alignment): insertions, deletions,
 * substitutions and transpositions of adjacent characters each cost 1.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * At most `max` candidates near `word`, nearest first: within an edit distance that grows
 * with the word's length (1 up to 3 characters, 2 up to 6, else 3), or starting with the word
 * (at least 2 characters of it). Comparison ignores case.
 */
export function nearestNames(word: string, candidates: Iterable<string>, max = 3): string[] {
  const w = word.toLowerCase();
  const limit = w.length <= 3 ? 1 : w.length <= 6 ? 2 : 3;
  const scored: { name: string; d: number }[] = [];
  for (const name of new Set(candidates)) {
    const n = name.toLowerCase();
    if (n === w) continue;
    const d = editDistance(w, n);
    if (d <= limit && d < w.length) scored.push({ name, d });
    else if (w.length >= 2 && n.startsWith(w)) scored.push({ name, d: limit + 1 });
  }
  scored.sort((x, y) => x.d - y.d || x.name.localeCompare(y.name));
  return scored.slice(0, max).map((s) => s.name);
}

/**
 * The usage error for a word that is neither a built-in command nor a deployfile task:
 * `unknown command or task "X"`, the nearest names, and `note` (e.g. why no task matched).
 */
export function unknownWordError(word: string, candidates: Iterable<string>, note?: string): UsageError {
  const near = nearestNames(word, candidates);
  const lines = [`unknown command or task "${word}"`];
  if (near.length) lines.push(`did you mean: ${near.join(', ')}`);
  if (note) lines.push(note);
  return new UsageError(lines.join('\n'));
}

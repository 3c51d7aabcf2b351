/**
 * Unified diffs (`diff -u` format) of text lines, and of the objects `apply` would change
 * (`flo diff`, `flo apply --dry-run`): the live object against the object apply would write,
 * both as YAML manifests with only the fields a user sets (apiVersion, kind, metadata name,
 * labels and annotations, spec), as `kubectl diff` compares LIVE with MERGED.
 */
import type * as Cluster from '@flotilla/cluster';
import type { Colors } from './colors.js';
import { refText, toYaml } from './format.js';

type Op = { op: ' ' | '-' | '+'; line: string };

/** The edit script from `a` to `b` (longest common subsequence; common ends trimmed first). */
function editScript(a: readonly string[], b: readonly string[]): Op[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const n = endA - start;
  const m = endB - start;
  // lcs[i][j]: LCS length of a[start+i..endA) and b[start+j..endB)
  const lcs = new Uint32Array((n + 1) * (m + 1));
  const at = (i: number, j: number): number => lcs[i * (m + 1) + j]!;
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * (m + 1) + j] = a[start + i] === b[start + j] ? at(i + 1, j + 1) + 1 : Math.max(at(i + 1, j), at(i, j + 1));
    }
  }
  const ops: Op[] = a.slice(0, start).map((line) => ({ op: ' ', line }));
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[start + i] === b[start + j]) {
      ops.push({ op: ' ', line: a[start + i]! });
      i++;
      j++;
    } else if (j >= m || (i < n && at(i + 1, j) >= at(i, j + 1))) {
      // a removal first where either keeps the longest common part: diff's order
      ops.push({ op: '-', line: a[start + i]! });
      i++;
    } else {
      ops.push({ op: '+', line: b[start + j]! });
      j++;
    }
  }
  for (const line of a.slice(endA)) ops.push({ op: ' ', line });
  return ops;
}

function range(start: number, count: number): string {
  // diff -u: a one-line range is just its line; an empty one names the line before it
  if (count === 1) return String(start + 1);
  return `${count === 0 ? start : start + 1},${count}`;
}

function lines(text: string): string[] {
  if (text === '') return [];
  const all = text.split('\n');
  if (all.at(-1) === '') all.pop();
  return all;
}

/**
 * The unified diff of two texts with `context` lines around each change (`diff -u`'s 3),
 * under `--- fromName` / `+++ toName` headers; '' when they are equal.
 */
export function unifiedDiff(from: string, to: string, names: { from: string; to: string }, context = 3): string {
  const ops = editScript(lines(from), lines(to));
  if (ops.every((o) => o.op === ' ')) return '';
  const out = [`--- ${names.from}`, `+++ ${names.to}`];
  // positions in a and b before each op
  const posA: number[] = [];
  const posB: number[] = [];
  let pa = 0;
  let pb = 0;
  for (const o of ops) {
    posA.push(pa);
    posB.push(pb);
    if (o.op !== '+') pa++;
    if (o.op !== '-') pb++;
  }
  const changed = ops.map((o, k) => (o.op === ' ' ? -1 : k)).filter((k) => k >= 0);
  let k = 0;
  while (k < changed.length) {
    let first = changed[k]!;
    let last = first;
    while (k + 1 < changed.length && changed[k + 1]! - last <= 2 * context + 1) last = changed[++k]!;
    k++;
    first = Math.max(0, first - context);
    last = Math.min(ops.length - 1, last + context);
    const hunk = ops.slice(first, last + 1);
    const countA = hunk.filter((o) => o.op !== '+').length;
    const countB = hunk.filter((o) => o.op !== '-').length;
    out.push(`@@ -${range(posA[first]!, countA)} +${range(posB[first]!, countB)} @@`);
    for (const o of hunk) out.push(`${o.op}${o.line}`);
  }
  return `${out.join('\n')}\n`;
}

/** Paints a unified diff: headers bold, removals red, additions green (nothing without colours). */
export function paintDiff(diff: string, c: Colors): string {
  if (!c.enabled) return diff;
  return diff
    .split('\n')
    .map((l) => (l.startsWith('---') || l.startsWith('+++') ? c.bold(l) : l.startsWith('@@') ? c.cyan(l) : l.startsWith('-') ? c.red(l) : l.startsWith('+') ? c.green(l) : l))
    .join('\n');
}

/**
 * The diff of each planned change that changes something: `--- LIVE/kind/name` (empty for
 * an object apply would create) against `+++ MERGED/kind/name` (empty for one `--prune`
 * would delete). '' when nothing would change.
 */
export async function diffPlan(cluster: Pick<typeof Cluster, 'manifestOf'>, plan: readonly Cluster.PlannedChange[]): Promise<string> {
  const parts: string[] = [];
  for (const c of plan) {
    if (c.action === 'unchanged') continue;
    const ref = refText(c);
    const live = c.live ? await toYaml(cluster.manifestOf(c.live)) : '';
    const merged = c.applied && c.action !== 'pruned' ? await toYaml(cluster.manifestOf(c.applied)) : '';
    parts.push(unifiedDiff(live, merged, { from: `LIVE/${ref}`, to: `MERGED/${ref}` }));
  }
  return parts.join('');
}

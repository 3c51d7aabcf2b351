/**
 * binpack against a brute-force optimal packer on tiny instances (≤ 8 pods).
 *
 * With identical nodes and one resource, binpack is best-fit decreasing (pods largest
 * first; each goes to the fullest node in use that fits; a node is opened only when none
 * does), so Johnson's bound for BFD holds: nodes used ≤ ⌊11/9 · OPT + 6/9⌋. With two
 * resources the guarantee known for First-Fit-type packing is (d + 7/10) · OPT + c
 * (Garey, Graham, Johnson and Yao, 1976); here we check ≤ 2 · OPT and the bound these
 * instances show, OPT + 1.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { schedule, type Node, type Pod } from '../src/index.js';

/** The fewest nodes (identical, capacity `cap` per resource) that hold every item, by exhaustive search. */
function optimalBins(items: number[][], cap: number[]): number {
  const n = items.length;
  if (n === 0) return 0;
  const order = items.map((_, i) => i).sort((a, b) => Math.max(...items[b]!.map((v, d) => v / cap[d]!)) - Math.max(...items[a]!.map((v, d) => v / cap[d]!)));
  let best = n;
  const loads: number[][] = [];
  const place = (k: number): void => {
    if (loads.length >= best) return;
    if (k === n) {
      best = loads.length;
      return;
    }
    const item = items[order[k]!]!;
    for (const load of loads) {
      if (item.every((v, d) => load[d]! + v <= cap[d]!)) {
        item.forEach((v, d) => (load[d]! += v));
        place(k + 1);
        item.forEach((v, d) => (load[d]! -= v));
      }
    }
    loads.push([...item]);
    place(k + 1);
    loads.pop();
  };
  place(0);
  return best;
}

function run(items: number[][], cap: number[]): number {
  const nodes: Node[] = items.map((_, i) => ({ name: `n${i}`, capacity: { cpu: cap[0]!, memory: cap[1] ?? 0 } }));
  const pods: Pod[] = items.map((item, i) => ({ name: `p${i}`, requests: { cpu: item[0]!, memory: item[1] ?? 0 } }));
  const result = schedule({ nodes, pods, strategy: 'binpack' });
  expect(result.unschedulable).toEqual([]);
  return new Set(result.assignments.values()).size;
}

describe('binpack near the optimum', () => {
  it('the brute-force packer is right on known cases', () => {
    expect(optimalBins([[6], [4], [5], [5]], [10])).toBe(2);
    expect(optimalBins([[7], [7], [7]], [10])).toBe(3);
    expect(optimalBins([[3], [3], [3], [3], [4], [4]], [10])).toBe(2);
    expect(optimalBins([[5, 1], [5, 9], [5, 9], [5, 1]], [10, 10])).toBe(2);
  });

  it('one resource: within Johnson’s BFD bound ⌊11/9·OPT + 6/9⌋, and optimal when everything fits one node', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 8 }), (sizes) => {
        const items = sizes.map((s) => [s * 10]);
        const opt = optimalBins(items, [1000]);
        const used = run(items, [1000]);
        expect(used).toBeGreaterThanOrEqual(opt);
        expect(used).toBeLessThanOrEqual(Math.floor((11 / 9) * opt + 6 / 9));
        if (opt === 1) expect(used).toBe(1);
      }),
      { numRuns: 300, seed: 11 },
    );
  });

  it('two resources: never more than 2·OPT nodes, and at most OPT + 1 on these instances', () => {
    let worst = 0;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 60 })), { minLength: 1, maxLength: 8 }),
        (pairs) => {
          const items = pairs.map(([c, m]) => [c * 10, m * 10]);
          const opt = optimalBins(items, [1000, 1000]);
          const used = run(items, [1000, 1000]);
          worst = Math.max(worst, used - opt);
          expect(used).toBeGreaterThanOrEqual(opt);
          expect(used).toBeLessThanOrEqual(2 * opt);
          expect(used).toBeLessThanOrEqual(opt + 1);
        },
      ),
      { numRuns: 300, seed: 12 },
    );
    expect(worst).toBeLessThanOrEqual(1);
  });
});

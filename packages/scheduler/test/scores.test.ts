import { describe, expect, it } from 'vitest';
import {
  balancedAllocationScore,
  leastAllocatedScore,
  loadPerCore,
  lowestLoadScore,
  mostAllocatedScore,
  schedule,
  taintTolerationScore,
  type Node,
} from '../src/index.js';

describe('score formulas', () => {
  // kube-scheduler's NodeResourcesFit examples: node 4000m/10000Mi, requested 3000m/5000Mi.
  it('most-allocated: weighted mean of requested/capacity', () => {
    expect(mostAllocatedScore([3000, 5000], [4000, 10000], [1, 1])).toBeCloseTo(62.5, 10);
    expect(mostAllocatedScore([3000, 5000], [4000, 10000], [3, 1])).toBeCloseTo((3 * 75 + 50) / 4, 10);
    // Over capacity counts as full; a resource without capacity is left out.
    expect(mostAllocatedScore([5000, 5000], [4000, 10000], [1, 1])).toBeCloseTo(75, 10);
    expect(mostAllocatedScore([3000, 5000], [4000, 0], [1, 1])).toBeCloseTo(75, 10);
    expect(mostAllocatedScore([1, 1], [0, 0], [1, 1])).toBe(0);
  });
  it('least-allocated: weighted mean of free/capacity', () => {
    expect(leastAllocatedScore([3000, 5000], [4000, 10000], [1, 1])).toBeCloseTo(37.5, 10);
    expect(leastAllocatedScore([5000, 5000], [4000, 10000], [1, 1])).toBeCloseTo(25, 10);
    expect(leastAllocatedScore([0, 0], [4000, 10000], [1, 1])).toBe(100);
  });
  it('balanced allocation: 100·(1 − σ)', () => {
    expect(balancedAllocationScore([3000, 5000], [4000, 10000], [1, 1])).toBeCloseTo(100 * (1 - 0.125), 10);
    expect(balancedAllocationScore([2000, 5000], [4000, 10000], [1, 1])).toBe(100);
    // Three resources: population standard deviation.
    const f = [0.5, 0.25, 1];
    const mean = (0.5 + 0.25 + 1) / 3;
    const sigma = Math.sqrt(f.reduce((a, x) => a + (x - mean) ** 2, 0) / 3);
    expect(balancedAllocationScore([2, 1, 4], [4, 4, 4], [1, 1, 1])).toBeCloseTo(100 * (1 - sigma), 10);
  });
  it('taint toleration: 100·(1 − c/cMax)', () => {
    expect(taintTolerationScore(0, 0)).toBe(100);
    expect(taintTolerationScore(0, 2)).toBe(100);
    expect(taintTolerationScore(1, 2)).toBe(50);
    expect(taintTolerationScore(2, 2)).toBe(0);
  });
  it('load per core counts placed cpu as load', () => {
    expect(loadPerCore(2, 0, 4000)).toBe(0.5);
    expect(loadPerCore(2, 2000, 4000)).toBe(1);
    expect(loadPerCore(0, 0, 0)).toBe(Number.POSITIVE_INFINITY);
    expect(lowestLoadScore(0)).toBe(100);
    expect(lowestLoadScore(1)).toBe(50);
  });
});

const node = (name: string, cpu: number, memory: number, extra: Partial<Node> = {}): Node => ({
  name,
  labels: {},
  capacity: { cpu, memory },
  ...extra,
});
const pod = (name: string, cpu: number, memory: number) => ({ name, labels: {}, requests: { cpu, memory } });

describe('strategies choose by their score', () => {
  const nodes = [node('small', 2000, 4096, { allocated: { cpu: 1000, memory: 2048 } }), node('big', 8000, 16384, { allocated: { cpu: 1000, memory: 2048 } })];
  it('binpack puts a pod on the most allocated node that fits', () => {
    expect(schedule({ nodes, pods: [pod('p', 500, 512)], strategy: 'binpack' }).assignments.get('p')).toBe('small');
  });
  it('spread puts a pod on the least allocated node', () => {
    expect(schedule({ nodes, pods: [pod('p', 500, 512)], strategy: 'spread' }).assignments.get('p')).toBe('big');
  });
  it('binpack fills nodes in use before opening an empty one, and opens the roomiest', () => {
    const cluster = [node('a', 2000, 4096), node('b', 8000, 16384), node('c', 8000, 16384, { allocated: { cpu: 7000, memory: 1024 } })];
    const result = schedule({ nodes: cluster, pods: [pod('fits-c', 1000, 1024), pod('opens', 3000, 1024)], strategy: 'binpack' });
    expect(result.assignments.get('fits-c')).toBe('c');
    expect(result.assignments.get('opens')).toBe('b');
  });
  it('lowest-load picks the lowest load per core and counts what the batch placed', () => {
    const cluster = [
      node('busy', 4000, 8192, { loadAverage: 3 }),
      node('idle', 4000, 8192, { loadAverage: 0.2 }),
      node('quiet', 8000, 8192, { loadAverage: 1.2 }),
    ];
    const pods = [pod('p1', 1000, 10), pod('p2', 1000, 10), pod('p3', 1000, 10)];
    const result = schedule({ nodes: cluster, pods, strategy: 'lowest-load' });
    // idle: 0.05/core → p1; then idle (0.2+1)/4 = 0.3 vs quiet 1.2/8 = 0.15 → p2 to quiet;
    // then idle 0.3 vs quiet (1.2+1)/8 = 0.275 → p3 to quiet.
    expect([...result.assignments]).toEqual([
      ['p1', 'idle'],
      ['p2', 'quiet'],
      ['p3', 'quiet'],
    ]);
  });
  it('PreferNoSchedule taints lower the score; tolerating them lifts it', () => {
    const cluster = [node('tainted', 4000, 8192, { taints: [{ key: 'spot', effect: 'PreferNoSchedule' }] }), node('clean', 4000, 8192)];
    expect(schedule({ nodes: cluster, pods: [pod('p', 100, 100)], strategy: 'spread' }).assignments.get('p')).toBe('clean');
    const tolerant = { ...pod('t', 100, 100), tolerations: [{ key: 'spot', operator: 'Exists' as const }] };
    expect(schedule({ nodes: cluster, pods: [tolerant], strategy: 'spread' }).assignments.get('t')).toBe('tainted');
  });
  it('ties go to the earlier node', () => {
    const cluster = [node('n1', 4000, 8192), node('n2', 4000, 8192)];
    expect(schedule({ nodes: cluster, pods: [pod('p', 100, 100)], strategy: 'spread' }).assignments.get('p')).toBe('n1');
    expect(schedule({ nodes: cluster, pods: [pod('p', 100, 100)], strategy: 'binpack' }).assignments.get('p')).toBe('n1');
  });
  it('balanced allocation weight prefers the node that evens cpu and memory', () => {
    const cluster = [
      node('cpu-heavy', 4000, 4096, { allocated: { cpu: 3000, memory: 0 } }),
      node('even', 4000, 4096, { allocated: { cpu: 1000, memory: 1024 } }),
    ];
    const p = pod('p', 500, 512);
    expect(schedule({ nodes: cluster, pods: [p], strategy: 'spread', weights: { strategy: 0, balancedAllocation: 1 } }).assignments.get('p')).toBe('even');
  });
  it('resource weights change what most-allocated means', () => {
    const cluster = [
      node('cpu-full', 4000, 4096, { allocated: { cpu: 3000, memory: 0 } }),
      node('mem-full', 4000, 4096, { allocated: { cpu: 0, memory: 3072 } }),
    ];
    const p = pod('p', 100, 100);
    expect(schedule({ nodes: cluster, pods: [p], strategy: 'binpack', weights: { resources: { cpu: 5, memory: 1 } } }).assignments.get('p')).toBe('cpu-full');
    expect(schedule({ nodes: cluster, pods: [p], strategy: 'binpack', weights: { resources: { cpu: 1, memory: 5 } } }).assignments.get('p')).toBe('mem-full');
  });
  it('refuses bad options with TypeErrors naming what was expected', () => {
    expect(() => schedule({ nodes: [], pods: [], strategy: 'best' as 'binpack' })).toThrow(/one of 'binpack', 'spread', 'lowest-load', received the string "best"/);
    expect(() => schedule({ nodes: [], pods: [], weights: { strategy: -1 } })).toThrow(TypeError);
    expect(() => schedule({ nodes: {} as unknown as Node[], pods: [] })).toThrow(TypeError);
  });
});

/**
 * Property tests: for random clusters and batches, every rule holds in every result; a pod
 * reported unschedulable fits nowhere at the moment it was considered (checked by replaying
 * the decisions against the reference model); and the index answers exactly what scoring
 * every node answers.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClusterState, schedule, scheduleOne, type Node, type Pod, type Strategy, type Taint } from '../src/index.js';
import { ReferenceCluster, verifyPlacement } from '../src/testing/index.js';

const ZONES = ['a', 'b', 'c'];

const taintArb: fc.Arbitrary<Taint> = fc.record({
  key: fc.constantFrom('dedicated', 'spot'),
  value: fc.constantFrom('db', 'x'),
  effect: fc.constantFrom('NoSchedule', 'NoExecute', 'PreferNoSchedule'),
});

function nodeArb(index: number): fc.Arbitrary<Node> {
  return fc
    .record({
      shape: fc.constantFrom([1000, 1024], [2000, 4096], [4000, 4096], [4000, 16384]),
      zone: fc.option(fc.constantFrom(...ZONES), { nil: undefined, freq: 6 }),
      disk: fc.constantFrom('ssd', 'hdd'),
      cores: fc.integer({ min: 1, max: 16 }),
      taints: fc.option(fc.array(taintArb, { maxLength: 2 }), { nil: undefined, freq: 2 }),
      unschedulable: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
      allocatedCpu: fc.option(fc.constantFrom(0, 250, 500), { nil: undefined }),
      load: fc.constantFrom(0, 0.5, 1, 3),
      gpu: fc.option(fc.constantFrom(1, 2), { nil: undefined, freq: 4 }),
    })
    .map((r) => ({
      name: `n${index}`,
      labels: { disk: r.disk, cores: String(r.cores), ...(r.zone === undefined ? {} : { zone: r.zone }) },
      capacity: { cpu: r.shape[0], memory: r.shape[1], ...(r.gpu === undefined ? {} : { 'example.com/gpu': r.gpu }) },
      ...(r.allocatedCpu === undefined ? {} : { allocated: { cpu: r.allocatedCpu } }),
      ...(r.taints === undefined ? {} : { taints: r.taints }),
      ...(r.unschedulable === true ? { unschedulable: true } : {}),
      loadAverage: r.load,
    }));
}

/** An app template: all replicas share requests and constraints. */
const appArb = fc.record({
  cpu: fc.constantFrom(100, 250, 500, 1000, 1500),
  memory: fc.constantFrom(64, 256, 1024, 2048),
  gpu: fc.option(fc.constant(1), { nil: undefined, freq: 6 }),
  selector: fc.option(
    fc.oneof(
      fc.record({ disk: fc.constantFrom('ssd', 'hdd') }),
      fc.record({ zone: fc.constantFrom(...ZONES) }),
      fc.constant({ matchExpressions: [{ key: 'cores', operator: 'Gt' as const, values: ['4'] }] }),
      fc.constant({ matchExpressions: [{ key: 'zone', operator: 'In' as const, values: ['a', 'b'] }], matchLabels: { disk: 'ssd' } }),
    ),
    { nil: undefined, freq: 3 },
  ),
  tolerate: fc.option(fc.constantFrom('dedicated', 'all', 'cordon'), { nil: undefined, freq: 3 }),
  anti: fc.option(fc.constantFrom('kubernetes.io/hostname', 'zone'), { nil: undefined, freq: 3 }),
  antiOther: fc.boolean(),
  antiTier: fc.boolean(),
  spread: fc.option(fc.record({ key: fc.constantFrom('zone', 'kubernetes.io/hostname'), maxSkew: fc.integer({ min: 1, max: 2 }) }), {
    nil: undefined,
    freq: 3,
  }),
  port: fc.option(fc.constantFrom(80, 443), { nil: undefined, freq: 5 }),
});

const clusterArb = fc
  .record({
    nodeCount: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 33, max: 45 })),
    apps: fc.array(appArb, { minLength: 1, maxLength: 5 }),
    podApps: fc.array(fc.nat(), { maxLength: 30 }),
  })
  .chain(({ nodeCount, apps, podApps }) =>
    fc.tuple(fc.tuple(...Array.from({ length: nodeCount }, (_, i) => nodeArb(i))), fc.constant(apps), fc.constant(podApps)),
  )
  .map(([nodes, apps, podApps]) => {
    const pods: Pod[] = podApps.map((n, i) => {
      const a = n % apps.length;
      const app = apps[a]!;
      const tolerations =
        app.tolerate === 'dedicated'
          ? [{ key: 'dedicated', operator: 'Exists' as const }]
          : app.tolerate === 'all'
            ? [{ operator: 'Exists' as const }]
            : app.tolerate === 'cordon'
              ? [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists' as const, effect: 'NoSchedule' as const }]
              : undefined;
      return {
        name: `p${i}`,
        labels: { app: `app${a}`, tier: i % 3 === 0 ? 'a' : 'b' },
        requests: { cpu: app.cpu, memory: app.memory, ...(app.gpu === undefined ? {} : { 'example.com/gpu': app.gpu }) },
        ...(app.selector === undefined ? {} : { nodeSelector: app.selector }),
        ...(tolerations === undefined ? {} : { tolerations }),
        ...(app.anti === undefined
          ? {}
          : {
              antiAffinity: {
                labelSelector: app.antiTier
                  ? {
                      matchLabels: { app: app.antiOther ? `app${(a + 1) % apps.length}` : `app${a}` },
                      matchExpressions: [{ key: 'tier', operator: 'NotIn' as const, values: ['b'] }],
                    }
                  : { app: app.antiOther ? `app${(a + 1) % apps.length}` : `app${a}` },
                topologyKey: app.anti,
              },
            }),
        ...(app.spread === undefined ? {} : { spread: { topologyKey: app.spread.key, maxSkew: app.spread.maxSkew } }),
        ...(app.port === undefined ? {} : { hostPorts: [app.port] }),
      };
    });
    return { nodes: [...nodes], pods };
  });

const strategyArb = fc.constantFrom<Strategy>('binpack', 'spread', 'lowest-load');

describe('schedule: properties', () => {
  it('keeps every rule, reports unschedulable only pods that fit nowhere then, and the index equals exhaustive scoring', () => {
    fc.assert(
      fc.property(clusterArb, strategyArb, ({ nodes, pods }, strategy) => {
        const decisions: [Pod, string | undefined][] = [];
        const result = schedule({ nodes, pods, strategy, onDecision: (pod, node) => decisions.push([pod, node]) });
        expect(verifyPlacement(nodes, pods, result)).toEqual([]);
        expect(result.assignments.size + result.unschedulable.length).toBe(pods.length);
        // Replay against the reference model.
        const reference = new ReferenceCluster(nodes);
        expect(decisions).toHaveLength(pods.length);
        for (const [pod, nodeName] of decisions) {
          if (nodeName === undefined) {
            expect(reference.fitsAnywhere(pod), `${pod.name} reported unschedulable`).toBe(false);
          } else {
            const node = reference.node(nodeName);
            expect(reference.fits(pod, node), `${pod.name} on ${nodeName}`).toBeUndefined();
            reference.place(pod, node);
          }
        }
        // Exact: the index changes nothing.
        const exhaustive = schedule({ nodes, pods, strategy, exhaustive: true });
        expect([...result.assignments]).toEqual([...exhaustive.assignments]);
        expect(result.unschedulable).toEqual(exhaustive.unschedulable);
        for (const u of result.unschedulable) expect(u.message).toMatch(/^0\/\d+ nodes are available: .+\.$/);
      }),
      { numRuns: 150, seed: 20261126 },
    );
  });

  it('scheduleOne on a live state keeps the rules and equals exhaustive scoring', () => {
    fc.assert(
      fc.property(clusterArb, strategyArb, fc.array(fc.nat(), { maxLength: 6 }), ({ nodes, pods }, strategy, removals) => {
        const fast = new ClusterState(nodes);
        const slow = new ClusterState(nodes);
        const reference = new ReferenceCluster(nodes);
        const bound: Pod[] = [];
        pods.forEach((pod, i) => {
          const a = scheduleOne(pod, fast, { strategy });
          const b = scheduleOne(pod, slow, { strategy, exhaustive: true });
          expect(a).toEqual(b);
          if (a.scheduled) {
            expect(reference.fits(pod, reference.node(a.node))).toBeUndefined();
            reference.place(pod, reference.node(a.node));
            bound.push(pod);
          } else {
            expect(reference.fitsAnywhere(pod)).toBe(false);
          }
          // Now and then remove a bound pod from all three.
          const r = removals[i % Math.max(1, removals.length)];
          if (removals.length > 0 && r !== undefined && r % 4 === 0 && bound.length > 0) {
            const victim = bound.splice(r % bound.length, 1)[0]!;
            expect(fast.removePod(victim.name)).toBe(true);
            expect(slow.removePod(victim.name)).toBe(true);
            reference.placed.splice(
              reference.placed.findIndex((p) => p.pod === victim),
              1,
            );
          }
        });
      }),
      { numRuns: 100, seed: 7 },
    );
  });
});

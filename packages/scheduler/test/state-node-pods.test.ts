// removeNode/updateNode find a node's pods through a per-node index (not a pass over every
// pod): checked against a plain reference map of pod → node over random sequences of node
// and pod changes, including a node removed and one of the same name added again.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClusterState, type Node, type Pod } from '../src/index.js';

const NODES = ['n0', 'n1', 'n2', 'n3'];
const node = (name: string, cpu = 64_000): Node => ({ name, labels: { zone: name === 'n0' ? 'a' : 'b' }, capacity: { cpu, memory: 1 << 20 } });
const pod = (name: string): Pod => ({ name, labels: { app: name.slice(0, 2) }, requests: { cpu: 100, memory: 16 } });

type Op =
  | { op: 'addPod'; pod: number; node: number }
  | { op: 'removePod'; pod: number }
  | { op: 'removeNode'; node: number }
  | { op: 'addNode'; node: number }
  | { op: 'updateNode'; node: number; cpu: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('addPod' as const), pod: fc.nat(40), node: fc.nat(NODES.length - 1) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('removePod' as const), pod: fc.nat(40) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('removeNode' as const), node: fc.nat(NODES.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('addNode' as const), node: fc.nat(NODES.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('updateNode' as const), node: fc.nat(NODES.length - 1), cpu: fc.integer({ min: 32_000, max: 96_000 }) }) },
);

describe('ClusterState: the pods of a node', () => {
  it('removeNode evicts exactly the pods bound to that node, and allocations stay the sum of the bound pods', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
        const state = new ClusterState(NODES.map((n) => node(n)));
        const ref = new Map<string, string>(); // pod → node
        const live = new Set(NODES);
        for (const o of ops) {
          if (o.op === 'addPod') {
            const name = `p${o.pod}`;
            const n = NODES[o.node]!;
            if (ref.has(name) || !live.has(n)) continue;
            state.addPod(pod(name), n);
            ref.set(name, n);
          } else if (o.op === 'removePod') {
            // mostly a bound pod (picked among them), sometimes a name never bound
            const bound = [...ref.keys()];
            const name = bound.length > 0 && o.pod % 8 !== 0 ? bound[o.pod % bound.length]! : `gone-${o.pod}`;
            expect(state.removePod(name)).toBe(ref.delete(name));
          } else if (o.op === 'removeNode') {
            const n = NODES[o.node]!;
            if (!live.has(n)) continue;
            const expected = [...ref].filter(([, on]) => on === n).map(([p]) => p);
            expect(state.removeNode(n).sort()).toEqual(expected.sort());
            for (const p of expected) ref.delete(p);
            live.delete(n);
          } else if (o.op === 'addNode') {
            const n = NODES[o.node]!;
            if (live.has(n)) continue;
            state.addNode(node(n));
            live.add(n);
          } else {
            const n = NODES[o.node]!;
            if (!live.has(n)) continue;
            state.updateNode(node(n, o.cpu));
          }
        }
        expect(state.podCount).toBe(ref.size);
        for (const n of live) {
          const count = [...ref.values()].filter((on) => on === n).length;
          expect(state.allocated(n)).toEqual({ cpu: 100 * count, memory: 16 * count });
        }
        for (const [p, n] of ref) expect(state.nodeOf(p)).toBe(n);
      }),
      { numRuns: 300 },
    );
  });
});

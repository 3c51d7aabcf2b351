import { describe, expect, it } from 'vitest';
import { schedule, isSchedulerError, type Node, type Pod } from '../src/index.js';

const node = (name: string, extra: Partial<Node> = {}): Node => ({
  name,
  labels: { 'kubernetes.io/hostname': name, ...(extra.labels ?? {}) },
  capacity: { cpu: 4000, memory: 8192 },
  ...extra,
});
const pod = (name: string, extra: Partial<Pod> = {}): Pod => ({ name, labels: {}, requests: { cpu: 100, memory: 128 }, ...extra });

function placeOne(nodes: Node[], p: Pod, strategy: 'binpack' | 'spread' = 'spread') {
  const result = schedule({ nodes, pods: [p], strategy });
  const exhaustive = schedule({ nodes, pods: [p], strategy, exhaustive: true });
  expect([...exhaustive.assignments]).toEqual([...result.assignments]);
  return { node: result.assignments.get(p.name), failure: result.unschedulable[0] };
}

describe('filters and their reasons', () => {
  it('resources: every dimension must fit; reasons name each insufficient resource', () => {
    const nodes = [
      node('a', { capacity: { cpu: 1000, memory: 8192 } }),
      node('b', { capacity: { cpu: 4000, memory: 512 } }),
      node('c', { capacity: { cpu: 500, memory: 256 } }),
      node('d', { capacity: { cpu: 4000, memory: 8192, 'nvidia.com/gpu': 1 } }),
      node('e', { capacity: { cpu: 4000, memory: 8192 }, allocated: { cpu: 3500 } }),
    ];
    const p = pod('p', { requests: { cpu: '1.5', memory: '1Gi', 'nvidia.com/gpu': 2 } });
    const { node: placed, failure } = placeOne(nodes, p);
    expect(placed).toBeUndefined();
    expect(failure!.message).toBe('0/5 nodes are available: 2 Insufficient memory, 3 Insufficient cpu, 5 Insufficient nvidia.com/gpu.');
    expect(failure!.reasons).toEqual(['2 Insufficient memory', '3 Insufficient cpu', '5 Insufficient nvidia.com/gpu']);
    const fits = pod('q', { requests: { cpu: '1.5', memory: '1Gi', 'nvidia.com/gpu': 1 } });
    expect(placeOne(nodes, fits).node).toBe('d');
  });

  it('node selector: a map or a LabelSelector with Gt/Lt; the message is Kubernetes-worded and sorted as Kubernetes sorts', () => {
    const nodes = [
      node('n1', { labels: { zone: 'a', cores: '2' }, capacity: { cpu: 500, memory: 8192 } }),
      node('n2', { labels: { zone: 'a', cores: '16' }, capacity: { cpu: 500, memory: 8192 } }),
      node('n3', { labels: { zone: 'a', cores: '16' }, capacity: { cpu: 500, memory: 8192 } }),
      node('n4', { labels: { zone: 'b', cores: '16' } }),
      node('n5', { labels: { zone: 'b', cores: '16' } }),
    ];
    const p = pod('p', { requests: { cpu: 1000, memory: 128 }, nodeSelector: { zone: 'a' } });
    const { failure } = placeOne(nodes, p);
    expect(failure!.message).toBe("0/5 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 3 Insufficient cpu.");
    const gt = pod('g', { nodeSelector: { matchExpressions: [{ key: 'cores', operator: 'Gt', values: ['4'] }], matchLabels: { zone: 'b' } } });
    expect(placeOne(nodes, gt).node).toBe('n4');
    const lt = pod('l', { nodeSelector: { matchExpressions: [{ key: 'cores', operator: 'Lt', values: ['4'] }] } });
    expect(placeOne(nodes, lt).node).toBe('n1');
  });

  it('taints: NoSchedule and NoExecute filter unless tolerated', () => {
    const nodes = [
      node('ns', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] }),
      node('ne', { taints: [{ key: 'gpu', effect: 'NoExecute' }] }),
    ];
    const { failure } = placeOne(nodes, pod('p'));
    expect(failure!.message).toBe(
      '0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 1 node(s) had untolerated taint {gpu: }.',
    );
    expect(placeOne(nodes, pod('t', { tolerations: [{ key: 'gpu', operator: 'Exists', effect: 'NoExecute' }] })).node).toBe('ne');
    expect(placeOne(nodes, pod('t', { tolerations: [{ key: 'dedicated', value: 'db' }] })).node).toBe('ns');
    expect(placeOne(nodes, pod('t', { tolerations: [{ operator: 'Exists' }] })).node).toBe('ns');
  });

  it('cordoned nodes take no pods, unless the pod tolerates the unschedulable taint', () => {
    const nodes = [node('c', { unschedulable: true })];
    expect(placeOne(nodes, pod('p')).failure!.message).toBe('0/1 nodes are available: 1 node(s) were unschedulable.');
    const tolerant = pod('t', { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] });
    expect(placeOne(nodes, tolerant).node).toBe('c');
  });

  it('host ports: two pods asking for the same port never share a node', () => {
    const nodes = [node('a'), node('b')];
    const pods = [pod('p1', { hostPorts: [8080] }), pod('p2', { hostPorts: [8080, 9090] }), pod('p3', { hostPorts: [9090] }), pod('p4', { hostPorts: [8080] })];
    const result = schedule({ nodes, pods, strategy: 'binpack' });
    expect(result.assignments.get('p1')).not.toBe(result.assignments.get('p2'));
    expect(result.assignments.get('p3')).not.toBe(result.assignments.get('p2'));
    expect(result.unschedulable.map((u) => u.pod)).toEqual(['p4']);
    expect(result.unschedulable[0]!.message).toMatch(/didn't have free ports for the requested pod ports/);
  });

  it('anti-affinity: a pod avoids domains with pods its term selects', () => {
    const nodes = [node('a', { labels: { zone: 'z1' } }), node('b', { labels: { zone: 'z1' } }), node('c', { labels: { zone: 'z2' } })];
    const web = (name: string) =>
      pod(name, { labels: { app: 'web' }, antiAffinity: { labelSelector: { app: 'web' }, topologyKey: 'zone' } });
    const result = schedule({ nodes, pods: [web('w1'), web('w2'), web('w3')], strategy: 'binpack' });
    expect(result.assignments.size).toBe(2);
    const zones = [...result.assignments.values()].map((n) => (n === 'c' ? 'z2' : 'z1'));
    expect(new Set(zones).size).toBe(2);
    // The pods already placed repel it first (kube-scheduler checks existing pods' terms first).
    expect(result.unschedulable[0]!.message).toBe("0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules.");
    // A pod whose own term forbids every domain, though nothing there repels it:
    const picky = pod('picky', { labels: { app: 'picky' }, antiAffinity: { labelSelector: { app: 'web' }, topologyKey: 'zone' } });
    const webs = [pod('x1', { labels: { app: 'web' } }), pod('x2', { labels: { app: 'web' } })];
    const state = schedule({ nodes: [node('a', { labels: { zone: 'z1' } })], pods: [...webs, picky], strategy: 'binpack' });
    expect(state.unschedulable[0]!.message).toBe("0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules.");
  });

  it('anti-affinity is symmetric: a pod may not join a domain whose pods repel it', () => {
    const nodes = [node('a'), node('b')];
    const loner = pod('loner', { labels: { app: 'loner' }, requests: { cpu: 2000, memory: 128 }, antiAffinity: [{ labelSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['noisy'] }] }, topologyKey: 'kubernetes.io/hostname' }] });
    const noisy = (name: string) => pod(name, { labels: { app: 'noisy' } });
    const result = schedule({ nodes, pods: [loner, noisy('n1'), noisy('n2')], strategy: 'binpack' });
    const lonerNode = result.assignments.get('loner');
    expect(lonerNode).toBeDefined();
    expect(result.assignments.get('n1')).not.toBe(lonerNode);
    expect(result.assignments.get('n2')).not.toBe(lonerNode);
    // With only the loner's node left, the noisy pod is refused with the existing-pod reason.
    const one = schedule({ nodes: [node('a')], pods: [loner, noisy('n1')], strategy: 'binpack' });
    expect(one.unschedulable[0]!.message).toBe("0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules.");
  });

  it('topology spread: max skew over the eligible domains, default selector = the app label', () => {
    const nodes = [
      node('a1', { labels: { zone: 'a' } }),
      node('a2', { labels: { zone: 'a' } }),
      node('b1', { labels: { zone: 'b' } }),
      node('c1', { labels: { zone: 'c' }, capacity: { cpu: 100, memory: 8192 } }),
      node('x', { labels: {} }),
    ];
    const spreadPod = (name: string) => pod(name, { labels: { app: 'api' }, spread: { topologyKey: 'zone', maxSkew: 1 } });
    const pods = [1, 2, 3, 4, 5].map((i) => spreadPod(`s${i}`));
    const result = schedule({ nodes, pods, strategy: 'binpack' });
    // Zone c is eligible but full after one pod: counts can reach a:2, b:2, c:1 at most.
    const perZone = new Map<string, number>();
    for (const n of result.assignments.values()) {
      const zone = nodes.find((x) => x.name === n)!.labels!.zone!;
      perZone.set(zone, (perZone.get(zone) ?? 0) + 1);
    }
    expect(perZone.get('a')).toBe(2);
    expect(perZone.get('b')).toBe(2);
    expect(perZone.get('c')).toBe(1);
    expect(result.unschedulable).toHaveLength(0);
    // A sixth pod: zone c has no room, a and b are at skew limit, x lacks the label.
    const six = schedule({ nodes, pods: [...pods, spreadPod('s6')], strategy: 'binpack' });
    expect(six.unschedulable.map((u) => u.pod)).toEqual(['s6']);
    expect(six.unschedulable[0]!.message).toBe(
      "0/5 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match pod topology spread constraints (missing required label), 3 node(s) didn't match pod topology spread constraints.",
    );
  });

  it('spread counts only domains of nodes the pod selects, whatever their room', () => {
    const nodes = [node('a1', { labels: { zone: 'a' } }), node('b1', { labels: { zone: 'b', pool: 'x' } }), node('b2', { labels: { zone: 'b', pool: 'x' } })];
    const p = (name: string) => pod(name, { labels: { app: 'db' }, nodeSelector: { pool: 'x' }, spread: { topologyKey: 'zone', maxSkew: 1 } });
    // Only zone b is eligible: skew is always 0, so all three pods land in zone b.
    const result = schedule({ nodes, pods: [p('d1'), p('d2'), p('d3')], strategy: 'binpack' });
    expect(result.unschedulable).toHaveLength(0);
    expect(new Set(result.assignments.values())).not.toContain('a1');
  });

  it('no nodes at all', () => {
    const result = schedule({ nodes: [], pods: [pod('p')] });
    expect(result.unschedulable).toEqual([{ pod: 'p', reasons: [], message: 'no nodes available to schedule pods' }]);
  });
});

describe('batch semantics', () => {
  it('every pod appears exactly once; later pods see earlier ones', () => {
    const nodes = [node('a', { capacity: { cpu: 1000, memory: 1024 } })];
    const pods = [1, 2, 3, 4, 5].map((i) => pod(`p${i}`, { requests: { cpu: 300, memory: 100 } }));
    const result = schedule({ nodes, pods, strategy: 'spread' });
    expect(result.assignments.size).toBe(3);
    expect(result.unschedulable.map((u) => u.pod)).toEqual(['p4', 'p5']);
    expect(result.unschedulable[0]!.message).toBe('0/1 nodes are available: 1 Insufficient cpu.');
  });

  it('places larger pods first (dominant share), ties in input order', () => {
    const order: string[] = [];
    const nodes = [node('a', { capacity: { cpu: 4000, memory: 4000 } })];
    const pods = [pod('small', { requests: { cpu: 100, memory: 100 } }), pod('memory-big', { requests: { cpu: 100, memory: 3000 } }), pod('cpu-mid', { requests: { cpu: 2000, memory: 100 } }), pod('small2', { requests: { cpu: 100, memory: 100 } })];
    schedule({ nodes, pods, strategy: 'binpack', onDecision: (p) => order.push(p.name) });
    expect(order).toEqual(['memory-big', 'cpu-mid', 'small', 'small2']);
  });

  it('rejects duplicate pod and node names', () => {
    expect(() => schedule({ nodes: [node('a')], pods: [pod('p'), pod('p')] })).toThrow(/appears more than once/);
    let caught: unknown;
    try {
      schedule({ nodes: [node('a'), node('a')], pods: [] });
    } catch (error) {
      caught = error;
    }
    expect(isSchedulerError(caught) && caught.code).toBe('duplicate-node');
  });

  it('rejects malformed pods and quantities with typed errors', () => {
    expect(() => schedule({ nodes: [node('a')], pods: [pod('p', { requests: { cpu: '1x' } })] })).toThrow(/invalid quantity "1x" for cpu/);
    expect(() => schedule({ nodes: [node('a')], pods: [pod('p', { spread: { topologyKey: 'zone', maxSkew: 0 } })] })).toThrow(/maxSkew/);
    expect(() => schedule({ nodes: [node('a')], pods: [pod('p', { hostPorts: [70000] })] })).toThrow(/host port/);
    expect(() => schedule({ nodes: [node('a')], pods: [{ name: '', requests: {} }] })).toThrow(/non-empty string name/);
  });
});

// The controller's scheduler cache (issue 15) is fed by the informers' events — hosts and
// instances added, changed and deleted — and keeps its scheduler state between placements,
// as kube-scheduler's cache. Whatever the sequence of events, each placement must be the one
// a fresh scheduler state (schedulerPlacer) gives on the same hosts and instances: the Ready
// hosts in the order they were first seen, every placed (non-terminating) instance, and the
// instances it placed that were neither created nor forgotten yet.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  API_VERSION,
  PlacementCache,
  planPlacement,
  schedulerPlacer,
  type Host,
  type Instance,
  type InstanceTemplateSpec,
  type Placement,
  type PlacementRequest,
  type ReplicaSet,
} from '../../src/index.js';

const HOSTS = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'];
const APPS = ['web', 'api', 'db'] as const;

const host = (name: string, cpu: number, ready: boolean | undefined, cordon: boolean, zone: string): Host => ({
  apiVersion: API_VERSION,
  kind: 'Host',
  metadata: { name, labels: { zone } },
  spec: { address: '127.0.0.1', capacity: { cpu, memory: '4Gi' }, ...(cordon ? { unschedulable: true } : {}) },
  ...(ready === undefined ? {} : { status: { ready } }),
});

/** web: plain; api: spread over zones; db: one per host (anti-affinity). */
const template = (app: (typeof APPS)[number], cpu: string): InstanceTemplateSpec => ({
  command: ['node', 'server.js'],
  resources: { cpu, memory: '64Mi' },
  ...(app === 'api' ? { spread: { topologyKey: 'zone', maxSkew: 1 } } : {}),
  ...(app === 'db' ? { antiAffinity: { labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'kubernetes.io/hostname' } } : {}),
});

const instance = (name: string, hostName: string, app: string, t: InstanceTemplateSpec, state: 'Pending' | 'Running' | 'Terminating' = 'Pending'): Instance => ({
  apiVersion: API_VERSION,
  kind: 'Instance',
  metadata: { name, labels: { app }, ...(state === 'Terminating' ? { deletionTimestamp: '2026-01-01T00:00:00.000Z' } : {}) },
  spec: { replicaSet: app, host: hostName, templateHash: 'h', template: t },
  status: { phase: state, ready: state === 'Running', ports: {}, restarts: 0 },
});

type Op =
  | { op: 'host'; name: string; cpu: number; ready: boolean | undefined; cordon: boolean; zone: string }
  | { op: 'removeHost'; pick: number }
  | { op: 'instance'; host: string; app: (typeof APPS)[number]; cpu: string; running: boolean }
  | { op: 'status'; pick: number }
  | { op: 'terminate'; pick: number }
  | { op: 'relabel'; pick: number }
  | { op: 'removeInstance'; pick: number }
  | { op: 'place'; app: (typeof APPS)[number]; cpu: string; count: number; strategy: Placement; fate: number[] }
  | { op: 'settle'; fate: number[] }
  /** Another writer's instance of a name placed here (the create that follows conflicts). */
  | { op: 'clash'; pick: number; host: string };

const cpuArb = fc.constantFrom('100m', '250m', '500m', '1');
const appArb = fc.constantFrom(...APPS);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('host' as const), name: fc.constantFrom(...HOSTS), cpu: fc.integer({ min: 1, max: 4 }), ready: fc.constantFrom(true, true, true, false, undefined), cordon: fc.constantFrom(false, false, false, true), zone: fc.constantFrom('a', 'b') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('removeHost' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('instance' as const), host: fc.constantFrom(...HOSTS, 'gone'), app: appArb, cpu: cpuArb, running: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('status' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('terminate' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('relabel' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('removeInstance' as const), pick: fc.nat() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('place' as const),
      app: appArb,
      cpu: cpuArb,
      count: fc.integer({ min: 1, max: 5 }),
      strategy: fc.constantFrom<Placement>('spread', 'binpack'),
      fate: fc.array(fc.nat({ max: 9 }), { minLength: 5, maxLength: 5 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clash' as const), pick: fc.nat(), host: fc.constantFrom(...HOSTS) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('settle' as const), fate: fc.array(fc.nat({ max: 9 }), { minLength: 8, maxLength: 8 }) }) },
);

/** Runs the ops on a cache and on a plain model; every placement is checked against schedulerPlacer on the model. */
function check(ops: readonly Op[]): { placements: number; rebuilds: number } {
  const cache = new PlacementCache();
  const hosts = new Map<string, Host>(); // insertion order: the order first seen
  const instances = new Map<string, Instance>();
  /** Placed by the cache, neither created nor forgotten yet. */
  const outstanding = new Map<string, Instance>();
  let counter = 0;
  let placements = 0;
  const nth = <T>(m: Map<string, T>, k: number): [string, T] | undefined => (m.size === 0 ? undefined : [...m][k % m.size]);
  /** Removes the `pick`th entry of `m` (if any) from the model and, with `remove`, from the cache. */
  const removeNth = <T>(m: Map<string, T>, pick: number, remove: (name: string) => void): void => {
    const e = nth(m, pick);
    if (!e) return;
    m.delete(e[0]);
    remove(e[0]);
  };
  const create = (i: Instance): void => {
    outstanding.delete(i.metadata.name);
    instances.set(i.metadata.name, i);
    cache.setInstance(i);
  };
  const settle = (names: string[], fate: readonly number[]): void => {
    names.forEach((name, k) => {
      const f = fate[k % fate.length]!;
      const i = outstanding.get(name)!;
      if (f < 6) create(i); // created: its informer event
      else if (f < 9) {
        outstanding.delete(name); // its create failed
        cache.forget([name]);
      } // else still in flight
    });
  };
  for (const o of ops) {
    switch (o.op) {
      case 'host': {
        const h = host(o.name, o.cpu, o.ready, o.cordon, o.zone);
        hosts.set(o.name, h);
        cache.setHost(h);
        break;
      }
      case 'removeHost':
        removeNth(hosts, o.pick, (name) => cache.removeHost(name));
        break;
      case 'instance': {
        const i = instance(`x-${counter++}`, o.host, o.app, template(o.app, o.cpu), o.running ? 'Running' : 'Pending');
        instances.set(i.metadata.name, i);
        cache.setInstance(i);
        break;
      }
      case 'status':
      case 'terminate':
      case 'relabel': {
        const e = nth(instances, o.pick);
        if (!e) break;
        const [name, was] = e;
        const next: Instance =
          o.op === 'status'
            ? { ...structuredClone(was), status: { ...was.status!, phase: 'Running', ready: true } }
            : o.op === 'terminate'
              ? { ...structuredClone(was), metadata: { ...was.metadata, deletionTimestamp: '2026-01-01T00:00:00.000Z' } }
              : { ...structuredClone(was), metadata: { ...was.metadata, labels: { app: was.metadata.labels?.app === 'web' ? 'db' : 'web' } } };
        instances.set(name, next);
        cache.setInstance(next);
        break;
      }
      case 'removeInstance':
        removeNth(instances, o.pick, (name) => cache.removeInstance(name));
        break;
      case 'place': {
        const t = template(o.app, o.cpu);
        const pods: PlacementRequest[] = Array.from({ length: o.count }, () => ({ name: `p-${counter++}`, labels: { app: o.app }, template: t }));
        const placed = [...[...instances.values()].filter((i) => i.metadata.deletionTimestamp === undefined), ...outstanding.values()];
        const ready = [...hosts.values()].filter((h) => h.status?.ready === true);
        const expected = schedulerPlacer({ hosts: ready, placed, pods, strategy: o.strategy });
        expect(cache.waitingForHosts()).toBe([...hosts.values()].some((h) => h.status === undefined));
        const got = cache.place(pods, o.strategy);
        placements++;
        expect([...got.assignments]).toEqual([...expected.assignments]);
        expect(got.unschedulable).toEqual(expected.unschedulable);
        for (const [name, on] of got.assignments) outstanding.set(name, instance(name, on, o.app, t));
        settle([...got.assignments.keys()], o.fate);
        break;
      }
      case 'settle':
        settle([...outstanding.keys()], o.fate);
        break;
      case 'clash': {
        const e = nth(outstanding, o.pick);
        if (!e) break;
        create(instance(e[0], o.host, 'db', template('db', '250m'), 'Running'));
        cache.forget([e[0]]); // its own create conflicted
        break;
      }
    }
    for (const name of ['x-0', 'p-1', `x-${counter}`]) expect(cache.taken(name)).toBe(instances.has(name) || outstanding.has(name));
    expect(cache.placed).toBe([...instances.values()].filter((i) => i.metadata.deletionTimestamp === undefined).length + outstanding.size);
  }
  return { placements, rebuilds: cache.rebuilds };
}

describe('PlacementCache', () => {
  it('places as a fresh scheduler state does, over random sequences of host and instance events, placements, creates and forgets', () => {
    let placements = 0;
    let rebuilds = 0;
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 80, size: 'max' }), (ops) => {
        const r = check(ops);
        placements += r.placements;
        rebuilds += r.rebuilds;
      }),
      { numRuns: 300, seed: 15 },
    );
    // the property was exercised: many placements, most of them without a rebuild
    expect(placements).toBeGreaterThan(1000);
    expect(rebuilds).toBeLessThan(placements);
  }, 120_000);

  it('holds what it placed until the instance is seen or forgotten: a second placement does not reuse the capacity', () => {
    const cache = new PlacementCache();
    cache.setHost(host('h1', 1, true, false, 'a'));
    const t = template('web', '500m');
    const pods = (...names: string[]): PlacementRequest[] => names.map((name) => ({ name, labels: { app: 'web' }, template: t }));
    expect([...cache.place(pods('a', 'b'), 'spread').assignments.values()]).toEqual(['h1', 'h1']);
    expect(cache.place(pods('c'), 'spread').unschedulable[0]?.message).toMatch(/Insufficient cpu/);
    // a was created (its event arrives), b's create failed
    cache.setInstance(instance('a', 'h1', 'web', t));
    cache.forget(['a', 'b']); // a is an instance now: forgetting it changes nothing
    expect(cache.taken('a')).toBe(true);
    expect(cache.taken('b')).toBe(false);
    expect(cache.place(pods('d'), 'spread').assignments.get('d')).toBe('h1');
    expect(cache.place(pods('e'), 'spread').assignments.size).toBe(0);
    // a terminating: its capacity is free, its name still taken
    cache.setInstance(instance('a', 'h1', 'web', t, 'Terminating'));
    expect(cache.taken('a')).toBe(true);
    expect(cache.place(pods('f'), 'spread').assignments.get('f')).toBe('h1');
  });

  it('adds a new Ready host and its instances without rebuilding; a host changed while Ready is rebuilt once, at the next placement', () => {
    const cache = new PlacementCache();
    const t = template('web', '1');
    cache.setHost(host('h1', 2, true, false, 'a'));
    cache.place([{ name: 'a', labels: { app: 'web' }, template: t }], 'spread');
    expect(cache.rebuilds).toBe(1);
    cache.setInstance(instance('i-on-h2', 'h2', 'web', t, 'Running')); // before its host is known
    cache.setHost(host('h2', 2, undefined, false, 'b')); // not probed yet
    expect(cache.waitingForHosts()).toBe(true);
    cache.setHost(host('h2', 2, true, false, 'b'));
    expect(cache.waitingForHosts()).toBe(false);
    // h1 has a (assumed), h2 has i-on-h2: one cpu left on each
    const r = cache.place(['b', 'c', 'd'].map((name) => ({ name, labels: { app: 'web' }, template: t })), 'spread');
    expect([...r.assignments.values()].sort()).toEqual(['h1', 'h2']);
    expect(cache.rebuilds).toBe(1);
    cache.setHost(host('h1', 8, true, false, 'a'));
    cache.setHost(host('h1', 8, true, false, 'a')); // the same node again: nothing to do
    expect(cache.place([{ name: 'e', labels: { app: 'web' }, template: t }], 'spread').assignments.get('e')).toBe('h1');
    expect(cache.rebuilds).toBe(2);
  });

  it('is what planPlacement places with (view): names checked against every instance by key, terminating ones included', () => {
    const cache = new PlacementCache();
    cache.setHost(host('h1', 4, true, false, 'a'));
    cache.setInstance(instance('web-aaaaa', 'h1', 'web', template('web', '100m'), 'Terminating'));
    const rs: ReplicaSet = {
      apiVersion: API_VERSION,
      kind: 'ReplicaSet',
      metadata: { name: 'web' },
      spec: { replicas: 2, selector: 'app=web', template: { metadata: { labels: { app: 'web' } }, spec: template('web', '100m') } },
    };
    const suffixes = ['aaaaa', 'bbbbb', 'bbbbb', 'ccccc'];
    let k = 0;
    const p = planPlacement({ replicaSet: rs, templateHash: 'h', count: 2, suffix: () => suffixes[k++]!, view: cache });
    expect(p.instances.map((i) => [i.metadata.name, i.spec.host])).toEqual([
      ['web-bbbbb', 'h1'],
      ['web-ccccc', 'h1'],
    ]);
    expect(cache.taken('web-ccccc')).toBe(true); // assumed until created or forgotten
  });
});

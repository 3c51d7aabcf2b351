// incrementalPlacer keeps its scheduler state between calls (issue 15: rebuilding it from every
// placed instance on each reconcile dominated the controller at scale). Its answers must be
// schedulerPlacer's on the same input, whatever happened between the calls: instances created,
// replaced by a newer version, deleted, placed but never created; hosts changed or gone.
import { seededRandom } from '@flotilla/reconcile';
import { describe, expect, it } from 'vitest';
import { API_VERSION, incrementalPlacer, schedulerPlacer, type Host, type Instance, type InstanceTemplateSpec, type Placement, type PlacementRequest } from '../../src/index.js';

const host = (name: string, cpu: number, extra: Partial<Host['spec']> = {}): Host => ({
  apiVersion: API_VERSION,
  kind: 'Host',
  metadata: { name, labels: { zone: name.endsWith('1') || name.endsWith('3') ? 'a' : 'b' } },
  spec: { address: '127.0.0.1', capacity: { cpu, memory: '4Gi' }, ...extra },
  status: { ready: true },
});

const template = (cpu: string, spread: boolean): InstanceTemplateSpec => ({
  command: ['node', 'server.js'],
  resources: { cpu, memory: '64Mi' },
  ...(spread ? { spread: { topologyKey: 'zone', maxSkew: 1 } } : {}),
});

const instance = (name: string, hostName: string, app: string, t: InstanceTemplateSpec, phase: 'Pending' | 'Running' = 'Pending'): Instance => ({
  apiVersion: API_VERSION,
  kind: 'Instance',
  metadata: { name, labels: { app } },
  spec: { replicaSet: app, host: hostName, templateHash: 'h', template: t },
  status: { phase, ready: phase === 'Running', ports: {}, restarts: 0 },
});

describe('incrementalPlacer', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`answers as schedulerPlacer over 60 calls with changes between them (seed ${seed})`, () => {
      const random = seededRandom(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
      const incremental = incrementalPlacer();
      let hosts = ['h1', 'h2', 'h3', 'h4', 'h5'].map((n) => host(n, 2));
      let placed: Instance[] = [];
      let counter = 0;
      let rebuilt = 0;
      for (let call = 0; call < 60; call++) {
        const app = pick(['web', 'api']);
        const t = template(pick(['100m', '250m', '500m']), app === 'api');
        const pods: PlacementRequest[] = Array.from({ length: 1 + Math.floor(random() * 6) }, () => ({ name: `${app}-${counter++}`, labels: { app }, template: t }));
        const strategy = pick<Placement>(['spread', 'binpack']);
        const input = { hosts, placed, pods, strategy };
        const expected = schedulerPlacer(input);
        const got = incremental(input);
        expect([...got.assignments]).toEqual([...expected.assignments]);
        expect(got.unschedulable).toEqual(expected.unschedulable);
        // what happens before the next call
        const created = pods.filter((p) => got.assignments.has(p.name) && random() < 0.8); // some never created
        placed = [...placed, ...created.map((p) => instance(p.name, got.assignments.get(p.name)!, app, t))];
        const change = random();
        if (change < 0.25 && placed.length > 0) {
          // deleted (or terminating: no longer placed)
          const gone = pick(placed).metadata.name;
          placed = placed.filter((i) => i.metadata.name !== gone);
        } else if (change < 0.5 && placed.length > 0) {
          // a newer version of an instance (its status written): a new object of the same name
          const k = Math.floor(random() * placed.length);
          placed = placed.map((i, j) => (j === k ? { ...i, status: { ...i.status!, phase: 'Running', ready: true } } : i));
        } else if (change < 0.6) {
          // a host changed (more capacity, or cordoned) or one left and another came
          const k = Math.floor(random() * hosts.length);
          if (random() < 0.5) {
            const cpu = 2 + Math.floor(random() * 3);
            const cordon = random() < 0.3;
            hosts = hosts.map((h, j) => (j === k ? host(h.metadata.name, cpu, cordon ? { unschedulable: true } : {}) : h));
          } else hosts = [...hosts.filter((_, j) => j !== k), host(`n${call}`, 3)];
          rebuilt++;
        }
      }
      expect(rebuilt).toBeGreaterThan(0);
    });
  }

  it('binds what it placed until the next call: a second batch in the same state does not reuse the capacity', () => {
    const incremental = incrementalPlacer();
    const hosts = [host('h1', 1)];
    const t = template('500m', false);
    const first = incremental({ hosts, placed: [], pods: [{ name: 'a', labels: { app: 'x' }, template: t }, { name: 'b', labels: { app: 'x' }, template: t }], strategy: 'spread' });
    expect(first.assignments.size).toBe(2);
    // created: both placed now, same objects again on the next call
    const placed = [instance('a', 'h1', 'x', t), instance('b', 'h1', 'x', t)];
    const full = incremental({ hosts, placed, pods: [{ name: 'c', labels: { app: 'x' }, template: t }], strategy: 'spread' });
    expect(full.assignments.size).toBe(0);
    expect(full.unschedulable[0]?.message).toMatch(/Insufficient cpu/);
    // one deleted: its capacity is free again
    const again = incremental({ hosts, placed: placed.slice(1), pods: [{ name: 'd', labels: { app: 'x' }, template: t }], strategy: 'spread' });
    expect(again.assignments.get('d')).toBe('h1');
  });
});

// planReplicaSet and planPlacement as tables: input state → plan (issue 18: the replica set's
// decisions as a pure function, carried out by the controller).
import { describe, expect, it } from 'vitest';
import { countedStatus, planPlacement, planReplicaSet, schedulerPlacer, templateHash, type Host, type Instance, type InstanceStatus, type ReplicaSet, type ReplicaSetPlan } from '../../src/index.js';

const NOW = Date.UTC(2026, 0, 1, 12);
const iso = (msAgo: number): string => new Date(NOW - msAgo).toISOString();

function template(version: string): ReplicaSet['spec']['template'] {
  return { metadata: { labels: { app: 'web' } }, spec: { command: ['node', 'server.js'], env: { VERSION: version } } };
}
const V1 = templateHash(template('v1'));
const V2 = templateHash(template('v2'));

function rs(replicas: number, version = 'v1', extra: Partial<ReplicaSet['spec']> = {}, status?: ReplicaSet['status']): ReplicaSet {
  return {
    apiVersion: 'flotilla.dev/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'web', generation: 2 },
    spec: { replicas, selector: 'app=web', template: template(version), ...extra },
    ...(status ? { status } : {}),
  };
}

/** A status as the controller leaves it after running template `version` (history holds v1, then v2 when `version` is v2). */
function ran(version: 'v1' | 'v2', rollout?: NonNullable<ReplicaSet['status']>['rollout']): ReplicaSet['status'] {
  const history = [{ hash: V1, template: template('v1') }, ...(version === 'v2' ? [{ hash: V2, template: template('v2') }] : [])];
  return { replicas: 3, readyReplicas: 3, observedGeneration: 1, currentTemplateHash: version === 'v1' ? V1 : V2, history, ...(rollout ? { rollout } : {}) };
}

type State = 'ready' | 'unready' | 'pending' | 'failed' | 'terminating' | 'crashloop' | 'unhealthy';
/** `web-<n>` of template `version`, created `ageMs` ago, in `state`. */
function inst(n: number, version: 'v1' | 'v2', state: State, ageMs = 60_000): Instance {
  const status: InstanceStatus =
    state === 'pending'
      ? { phase: 'Pending', ready: false, ports: {}, restarts: 0 }
      : state === 'failed'
        ? { phase: 'Failed', ready: false, ports: {}, restarts: 0, message: 'exited with code 1' }
        : state === 'crashloop'
          ? { phase: 'Running', ready: true, ports: {}, restarts: 5 }
          : state === 'unhealthy'
            ? { phase: 'Running', ready: false, ports: {}, restarts: 0, healthFailures: 3 }
            : { phase: 'Running', ready: state !== 'unready', ports: {}, restarts: 0 };
  return {
    apiVersion: 'flotilla.dev/v1',
    kind: 'Instance',
    metadata: { name: `web-${n}`, creationTimestamp: iso(ageMs), ...(state === 'terminating' ? { deletionTimestamp: iso(0) } : {}) },
    spec: { replicaSet: 'web', host: `h${n}`, templateHash: version === 'v1' ? V1 : V2, template: template(version).spec },
    status,
  };
}

/** A plan in words: the steps in order, then what to create, roll back and requeue. */
function summary(plan: ReplicaSetPlan): string[] {
  const out = plan.steps.map((s) => (s.do === 'delete' ? `delete ${s.instance.metadata.name} (${s.reason})` : `event ${s.event.kind}/${s.event.name} ${s.event.reason}`));
  if (plan.create > 0) out.push(`create ${plan.create}`);
  if (plan.rollback) out.push(`rollback to ${templateHash(plan.rollback.template)} (${plan.rollback.status.rollout?.state})`);
  if (plan.requeueAfterMs !== undefined) out.push(`requeue ${plan.requeueAfterMs}`);
  return out;
}

const plan = (replicaSet: ReplicaSet | undefined, instances: Instance[]): ReplicaSetPlan =>
  planReplicaSet({ replicaSet, instances, nowMs: NOW, progressDeadlineMs: 30_000, rolloutMaxRestarts: 2 });

describe('planReplicaSet', () => {
  const cases: { name: string; rs: ReplicaSet | undefined; instances: Instance[]; want: string[]; rollout?: string }[] = [
    { name: 'a new replica set creates every replica', rs: rs(3), instances: [], want: ['create 3'] },
    { name: 'converged: nothing to do', rs: rs(3, 'v1', {}, ran('v1')), instances: [inst(1, 'v1', 'ready'), inst(2, 'v1', 'ready'), inst(3, 'v1', 'ready')], want: [] },
    {
      name: 'deleted: every instance not yet terminating is deleted',
      rs: undefined,
      instances: [inst(1, 'v1', 'ready'), inst(2, 'v1', 'terminating')],
      want: ['delete web-1 (replica set deleted)'],
    },
    {
      name: 'scale-down removes the least healthy, then the newest',
      rs: rs(2, 'v1', {}, ran('v1')),
      instances: [inst(1, 'v1', 'ready', 90_000), inst(2, 'v1', 'ready', 10_000), inst(3, 'v1', 'unready', 120_000), inst(4, 'v1', 'ready', 50_000)],
      want: ['delete web-3 (scale-down)', 'event ReplicaSet/web ScaledDown', 'delete web-2 (scale-down)', 'event ReplicaSet/web ScaledDown'],
    },
    {
      name: 'a failed instance is replaced; terminating ones do not count',
      rs: rs(3, 'v1', {}, ran('v1')),
      instances: [inst(1, 'v1', 'ready'), inst(2, 'v1', 'failed'), inst(3, 'v1', 'ready'), inst(4, 'v1', 'terminating')],
      want: ['delete web-2 (failed: exited with code 1)', 'event Instance/web-2 Replaced', 'create 1'],
    },
    {
      name: 'a new template starts a rollout: surge 1, then one old ready instance leaves (unavailable 1)',
      rs: rs(3, 'v2', {}, ran('v1')),
      instances: [inst(1, 'v1', 'ready', 30_000), inst(2, 'v1', 'ready', 20_000), inst(3, 'v1', 'ready', 10_000)],
      want: ['event ReplicaSet/web RollingUpdate', 'delete web-3 (rolling update)', 'event ReplicaSet/web RollingUpdate', 'create 1', 'requeue 2000'],
      rollout: 'Progressing',
    },
    {
      name: 'an unready old instance leaves at once, whatever the budget',
      rs: rs(3, 'v2', { updateStrategy: { maxSurge: 0, maxUnavailable: 0 } }, ran('v2', { from: V1, to: V2, state: 'Progressing' })),
      instances: [inst(1, 'v1', 'unready'), inst(2, 'v1', 'ready'), inst(3, 'v2', 'pending', 1000)],
      // surge 0 and unavailable 0 would deadlock: unavailable becomes 1; budget = 1 ready − (3 − 1) < 0
      want: ['delete web-1 (rolling update)', 'event ReplicaSet/web RollingUpdate', 'requeue 2000'],
      rollout: 'Progressing',
    },
    {
      name: 'percentages: surge rounds up, unavailable rounds down',
      rs: rs(4, 'v2', { updateStrategy: { maxSurge: '30%', maxUnavailable: '30%' } }, ran('v1')),
      instances: [1, 2, 3, 4].map((n) => inst(n, 'v1', 'ready', n * 1000)),
      // surge ceil(1.2) = 2 → create 2; unavailable floor(1.2) = 1 → one old (the newest) leaves
      want: ['event ReplicaSet/web RollingUpdate', 'delete web-1 (rolling update)', 'event ReplicaSet/web RollingUpdate', 'create 2', 'requeue 2000'],
      rollout: 'Progressing',
    },
    {
      name: 'the rollout completes once only new instances are left and all are ready',
      rs: rs(2, 'v2', {}, ran('v2', { from: V1, to: V2, state: 'Progressing' })),
      instances: [inst(1, 'v2', 'ready', 5000), inst(2, 'v2', 'ready', 5000)],
      want: ['event ReplicaSet/web RolloutComplete', 'requeue 2000'],
      rollout: 'Complete',
    },
    {
      name: 'a new instance that failed rolls back to the previous template',
      rs: rs(2, 'v2', {}, ran('v2', { from: V1, to: V2, state: 'Progressing' })),
      instances: [inst(1, 'v1', 'ready'), inst(2, 'v2', 'failed', 5000)],
      want: ['event ReplicaSet/web RolledBack', `rollback to ${V1} (RolledBack)`, 'requeue 0'],
    },
    {
      name: 'a crash-looping new instance rolls back',
      rs: rs(2, 'v2', {}, ran('v2', { from: V1, to: V2, state: 'Progressing' })),
      instances: [inst(1, 'v1', 'ready'), inst(2, 'v2', 'crashloop', 5000)],
      want: ['event ReplicaSet/web RolledBack', `rollback to ${V1} (RolledBack)`, 'requeue 0'],
    },
    {
      name: 'a new instance failing its health check threshold rolls back',
      rs: rs(2, 'v2', {}, ran('v2', { from: V1, to: V2, state: 'Progressing' })),
      instances: [inst(1, 'v1', 'ready'), inst(2, 'v2', 'unhealthy', 5000)],
      want: ['event ReplicaSet/web RolledBack', `rollback to ${V1} (RolledBack)`, 'requeue 0'],
    },
    {
      name: 'a new instance not ready within the progress deadline rolls back',
      rs: rs(2, 'v2', {}, ran('v2', { from: V1, to: V2, state: 'Progressing' })),
      instances: [inst(1, 'v1', 'ready'), inst(2, 'v2', 'unready', 30_001)],
      want: ['event ReplicaSet/web RolledBack', `rollback to ${V1} (RolledBack)`, 'requeue 0'],
    },
    {
      name: 'a new instance still within the deadline: the rollout waits',
      rs: rs(2, 'v2', {}, ran('v2', { from: V1, to: V2, state: 'Progressing' })),
      instances: [inst(1, 'v1', 'ready'), inst(3, 'v1', 'ready'), inst(2, 'v2', 'unready', 29_000)],
      // 3 active, replicas 2 + surge 1: no room to create; ready 2 − (2 − 1) = 1 old may go
      want: ['delete web-3 (rolling update)', 'event ReplicaSet/web RollingUpdate', 'requeue 2000'],
      rollout: 'Progressing',
    },
    {
      name: 'after a rollback, returning to the old template is no new rollout',
      rs: rs(2, 'v1', {}, ran('v2', { from: V2, to: V1, state: 'RolledBack', message: 'x' })),
      instances: [inst(1, 'v1', 'ready'), inst(2, 'v2', 'ready')],
      want: ['delete web-2 (rolling update)', 'event ReplicaSet/web RollingUpdate', 'create 1', 'requeue 2000'],
      rollout: 'RolledBack',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = plan(c.rs, c.instances);
      expect(summary(p)).toEqual(c.want);
      if (c.rs) expect(p.status?.rollout?.state).toBe(c.rollout);
    });
  }

  it('keeps the last 10 templates, the current one last, and the status counts what is active', () => {
    const history = Array.from({ length: 10 }, (_, k) => ({ hash: templateHash(template(`old${k}`)), template: template(`old${k}`) }));
    history.splice(3, 0, { hash: V1, template: template('v1') });
    const r = rs(2, 'v1', {}, { replicas: 0, readyReplicas: 0, observedGeneration: 1, currentTemplateHash: V1, history });
    const p = plan(r, [inst(1, 'v1', 'ready'), inst(2, 'v1', 'unready')]);
    expect(p.status?.history).toHaveLength(10);
    expect(p.status?.history?.at(-1)?.hash).toBe(V1);
    expect(p.status?.history?.filter((h) => h.hash === V1)).toHaveLength(1);
    expect(p.status?.history?.[0]?.hash).toBe(history[1]!.hash); // the oldest went
    expect(countedStatus(p, r, [inst(1, 'v1', 'ready'), inst(2, 'v1', 'unready')])).toMatchObject({ replicas: 2, readyReplicas: 1, observedGeneration: 2, currentTemplateHash: V1 });
  });

  it('is pure: the input is left as it was, and the same input gives the same plan', () => {
    const r = rs(3, 'v2', {}, ran('v1'));
    const instances = [inst(1, 'v1', 'ready'), inst(2, 'v1', 'failed'), inst(3, 'v1', 'ready')];
    const before = structuredClone({ r, instances });
    const a = plan(r, instances);
    expect({ r, instances }).toEqual(before);
    expect(plan(r, instances)).toEqual(a);
  });
});

describe('planPlacement', () => {
  const host = (name: string, ready: boolean | undefined, cpu = 4): Host =>
    ({ apiVersion: 'flotilla.dev/v1', kind: 'Host', metadata: { name }, spec: { address: name, capacity: { cpu, memory: '8Gi' } }, ...(ready === undefined ? {} : { status: { ready } }) });
  const withCpu = (r: ReplicaSet, cpu: string): ReplicaSet => ({ ...r, spec: { ...r.spec, template: { ...r.spec.template, spec: { ...r.spec.template.spec, resources: { cpu } } } } });
  const suffixes = (...s: string[]): (() => string) => {
    let k = 0;
    return () => s[k++ % s.length]!;
  };

  it('places on Ready hosts only, spreading, with labels and a Pending status', () => {
    const p = planPlacement({ replicaSet: withCpu(rs(2), '1'), templateHash: V1, count: 2, hosts: [host('a', true), host('b', false), host('c', true)], placed: [], suffix: suffixes('x1', 'x2'), placer: schedulerPlacer });
    expect(p.waitingForHosts).toBe(false);
    expect(p.instances.map((i) => [i.metadata.name, i.spec.host])).toEqual([
      ['web-x1', 'a'],
      ['web-x2', 'c'],
    ]);
    expect(p.instances[0]!.spec.template.resources).toEqual({ cpu: '1' });
    expect(p.instances[0]!.metadata.labels).toEqual({ app: 'web', 'flotilla.dev/replicaset': 'web', 'flotilla.dev/template-hash': V1 });
    expect(p.instances[0]!.status).toEqual({ phase: 'Pending', ready: false, ports: {}, restarts: 0 });
  });

  it('waits while a host has not been probed (no name drawn, nothing placed)', () => {
    let drawn = 0;
    const p = planPlacement({ replicaSet: rs(1), templateHash: V1, count: 1, hosts: [host('a', true), host('b', undefined)], placed: [], suffix: () => `s${drawn++}`, placer: schedulerPlacer });
    expect(p).toEqual({ instances: [], unschedulable: [], waitingForHosts: true });
    expect(drawn).toBe(0);
  });

  it('draws again when a name is taken', () => {
    const p = planPlacement({ replicaSet: rs(1), templateHash: V1, count: 1, hosts: [host('a', true)], placed: [inst(9, 'v1', 'ready')].map((i) => ({ ...i, metadata: { ...i.metadata, name: 'web-aaaaa' } })), suffix: suffixes('aaaaa', 'bbbbb'), placer: schedulerPlacer });
    expect(p.instances.map((i) => i.metadata.name)).toEqual(['web-bbbbb']);
  });

  it("reports what cannot be placed in the scheduler's words", () => {
    const p = planPlacement({ replicaSet: withCpu(rs(2), '3'), templateHash: V1, count: 2, hosts: [host('a', true, 4)], placed: [], suffix: suffixes('p', 'q'), placer: schedulerPlacer });
    expect(p.instances.map((i) => i.spec.host)).toEqual(['a']);
    expect(p.unschedulable).toEqual([{ name: 'web-q', message: expect.stringMatching(/Insufficient cpu/) }]);
  });
});

// A replica-set-like controller over the in-memory store: the talk's loop, for real.
import { describe, expect, it } from 'vitest';
import { controller, diff, seededRandom, type Controller, type ReconcileResult } from '../src/index.js';
import { FakeClock, MemoryStore, settle } from '../src/testing/index.js';

interface ReplicaSet {
  replicas: number;
  app: string;
}
interface Instance {
  app: string;
  owner: string;
}

class FlakyError extends Error {}

function replicaSetController(options: {
  clock: FakeClock;
  replicaSets: MemoryStore<ReplicaSet>;
  instances: MemoryStore<Instance>;
  failureRate: number;
  seed: number;
  concurrency?: number;
}): { ctrl: Controller; stats: { calls: number; failures: number } } {
  const { replicaSets, instances } = options;
  const random = seededRandom(options.seed);
  const stats = { calls: 0, failures: 0 };
  let serial = 0;
  const maybeFail = (): void => {
    if (random() < options.failureRate) {
      stats.failures++;
      throw new FlakyError('injected failure');
    }
  };
  const reconcile = (name: string): ReconcileResult | void => {
    stats.calls++;
    maybeFail();
    const rs = replicaSets.read(name)?.object;
    const owned = instances.entries().filter((e) => e.object.owner === name);
    // Desired: the first `replicas` owned instances (oldest keys first) plus new ones.
    const keep = rs === undefined ? [] : owned.slice(0, rs.replicas).map((e) => e.key);
    while (rs !== undefined && keep.length < rs.replicas) keep.push(`${name}-${++serial}`);
    const todo = diff(
      keep,
      owned.map((e) => e.key),
      { key: (k) => k },
    );
    for (const key of todo.create) {
      maybeFail(); // may fail half-way: level-based, the next run picks up from what exists
      instances.create(key, { app: rs!.app, owner: name });
    }
    for (const key of todo.delete) {
      maybeFail();
      instances.delete(key);
    }
  };
  const ctrl = controller('replicasets')
    .watches(replicaSets)
    .watches(instances, (inst) => inst.owner)
    .withOptions({ clock: options.clock, concurrency: options.concurrency ?? 2 })
    .complete(reconcile);
  return { ctrl, stats };
}

function converged(replicaSets: MemoryStore<ReplicaSet>, instances: MemoryStore<Instance>): boolean {
  const counts = new Map<string, number>();
  for (const e of instances.entries()) counts.set(e.object.owner, (counts.get(e.object.owner) ?? 0) + 1);
  for (const [owner, n] of counts) if (n !== (replicaSets.read(owner)?.object.replicas ?? 0)) return false;
  for (const rs of replicaSets.entries()) if ((counts.get(rs.key) ?? 0) !== rs.object.replicas) return false;
  return true;
}

async function scenario(failureRate: number, seed: number) {
  const clock = new FakeClock();
  const replicaSets = new MemoryStore<ReplicaSet>({ clock });
  const instances = new MemoryStore<Instance>({ clock });
  for (let i = 0; i < 10; i++) replicaSets.put(`rs${i}`, { replicas: 1 + (i % 5), app: `app${i}` });
  const { ctrl, stats } = replicaSetController({ clock, replicaSets, instances, failureRate, seed });
  const ac = new AbortController();
  const running = ctrl.run(ac.signal);
  await ctrl.waitForSync();

  // Chaos: random creates and deletes of instances, and scaling, while the controller runs.
  const chaos = seededRandom(seed + 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(chaos() * xs.length)]!;
  for (let round = 0; round < 200; round++) {
    const r = chaos();
    if (r < 0.4 && instances.size > 0) instances.delete(pick(instances.entries()).key);
    else if (r < 0.7) instances.put(`stray-${round}`, { app: 'x', owner: pick(replicaSets.entries()).key });
    else if (r < 0.9) {
      const rs = pick(replicaSets.entries());
      replicaSets.put(rs.key, { ...rs.object, replicas: Math.floor(chaos() * 6) });
    } else if (replicaSets.size > 5) replicaSets.delete(pick(replicaSets.entries()).key);
    else replicaSets.put(`rs-new-${round}`, { replicas: 3, app: 'new' });
    await clock.advanceAsync(Math.floor(chaos() * 20));
  }
  // Chaos stops: the controller converges with no further help.
  let waited = 0;
  while (!converged(replicaSets, instances) || ctrl.queue.len() > 0 || ctrl.queue.processingCount() > 0) {
    await clock.advanceAsync(100);
    waited += 100;
    if (waited > 600_000) break;
  }
  expect(converged(replicaSets, instances)).toBe(true);
  // And stays converged.
  await clock.runFor(60_000, 1000);
  expect(converged(replicaSets, instances)).toBe(true);
  ac.abort();
  await running;
  await settle();
  return { stats, waited };
}

describe('example: a replica-set controller over the in-memory store', () => {
  it('converges replicas=N after random creates and deletes', async () => {
    const { stats } = await scenario(0, 1);
    expect(stats.failures).toBe(0);
  });

  for (const seed of [11, 12, 13]) {
    it(`converges when reconcile fails randomly 20% of the time (seed ${seed})`, async () => {
      const { stats } = await scenario(0.2, seed);
      expect(stats.failures).toBeGreaterThan(10);
    });
  }
});

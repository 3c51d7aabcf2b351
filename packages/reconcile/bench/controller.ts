// A controller converging 10,000 objects: wall time and reconcile calls per object.
//   node --conditions=@flotilla/source --import tsx packages/reconcile/bench/controller.ts
// 10,000 replica-set-like objects (replicas: 1) are in an in-memory store before the
// controller starts; the reconciler creates each one's instance in a second watched store,
// whose events map back to the owner (so each owner is typically reconciled twice:
// once to act, once to observe its own write). Converged = every owner has exactly one
// instance and the queue is idle.
import { controller } from '../src/index.js';
import { MemoryStore } from '../src/testing/index.js';

interface ReplicaSet {
  replicas: number;
}
interface Instance {
  owner: string;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The reconciler's body, the same with and without the controller: create each missing instance of replica set `name`. */
async function createMissing(replicaSets: MemoryStore<ReplicaSet>, instances: MemoryStore<Instance>, name: string): Promise<void> {
  const rs = await replicaSets.get(name);
  const want = rs?.object.replicas ?? 0;
  for (let i = 0; i < want; i++) {
    const key = `${name}-${i}`;
    if ((await instances.get(key)) === undefined) instances.create(key, { owner: name });
  }
}

async function converge(n: number, concurrency: number): Promise<{ ms: number; reconcilesPerObject: number }> {
  const replicaSets = new MemoryStore<ReplicaSet>();
  const instances = new MemoryStore<Instance>();
  for (let i = 0; i < n; i++) replicaSets.put(`rs-${i}`, { replicas: 1 });
  let calls = 0;
  const c = controller('replicasets')
    .watches(replicaSets)
    .watches(instances, (inst) => inst.owner)
    .withOptions({ concurrency })
    .complete(async (name) => {
      calls++;
      await createMissing(replicaSets, instances, name);
    });
  const ac = new AbortController();
  const t0 = performance.now();
  const running = c.run(ac.signal);
  for (;;) {
    await turn();
    if (instances.size === n && c.queue.len() === 0 && c.queue.processingCount() === 0) break;
  }
  const ms = performance.now() - t0;
  ac.abort();
  await running;
  return { ms, reconcilesPerObject: calls / n };
}

/**
 * The in-run baseline: the same reconcile work with no controller at all — list the
 * stores, then call the reconciler body twice per object in a plain loop (act, then
 * observe), with the same store writes. What the controller adds on top of it is its
 * machinery: watches, event mapping, the queue, workers.
 */
async function plainLoop(n: number): Promise<{ ms: number; reconcilesPerObject: number }> {
  const replicaSets = new MemoryStore<ReplicaSet>();
  const instances = new MemoryStore<Instance>();
  for (let i = 0; i < n; i++) replicaSets.put(`rs-${i}`, { replicas: 1 });
  let calls = 0;
  const reconcile = async (name: string): Promise<void> => {
    calls++;
    await createMissing(replicaSets, instances, name);
  };
  const t0 = performance.now();
  const { items } = await replicaSets.list();
  await instances.list();
  for (let pass = 0; pass < 2; pass++) for (const item of items) await reconcile(item.key);
  const ms = performance.now() - t0;
  if (instances.size !== n) throw new Error('baseline did not converge');
  return { ms, reconcilesPerObject: calls / n };
}

await converge(2_000, 1); // warm up
await plainLoop(2_000);
const N = 10_000;
const RUNS = 7;
const base: number[] = [];
const ours = new Map<number, { ms: number; reconcilesPerObject: number }[]>([
  [1, []],
  [8, []],
]);
for (let i = 0; i < RUNS; i++) {
  // Alternate, so machine noise hits all alike.
  base.push((await plainLoop(N)).ms);
  for (const [concurrency, runs] of ours) runs.push(await converge(N, concurrency));
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const baseMedian = median(base);
console.log(JSON.stringify({ scenario: `BASELINE plain loop, ${N} objects, 2 calls each, no controller`, medianMs: Math.round(baseMedian) }));
for (const [concurrency, runs] of ours) {
  const ms = runs.map((r) => r.ms);
  console.log(
    JSON.stringify({
      scenario: `controller, ${N} objects, concurrency ${concurrency}`,
      medianMs: Math.round(median(ms)),
      bestMs: Math.round(Math.min(...ms)),
      worstMs: Math.round(Math.max(...ms)),
      reconcilesPerObject: Number((runs.reduce((a, r) => a + r.reconcilesPerObject, 0) / runs.length).toFixed(3)),
      ratioToBaseline: Number((median(ms) / baseMedian).toFixed(2)),
    }),
  );
}

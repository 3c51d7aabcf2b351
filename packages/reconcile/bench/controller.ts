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
      const rs = await replicaSets.get(name);
      const want = rs?.object.replicas ?? 0;
      for (let i = 0; i < want; i++) {
        const key = `${name}-${i}`;
        if ((await instances.get(key)) === undefined) instances.create(key, { owner: name });
      }
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

await converge(2_000, 1); // warm up
for (const concurrency of [1, 8]) {
  const runs = [];
  for (let i = 0; i < 5; i++) runs.push(await converge(10_000, concurrency));
  runs.sort((a, b) => a.ms - b.ms);
  const median = runs[2]!;
  console.log(
    JSON.stringify({
      scenario: `10,000 objects, concurrency ${concurrency}`,
      medianMs: Math.round(median.ms),
      bestMs: Math.round(runs[0]!.ms),
      worstMs: Math.round(runs[4]!.ms),
      reconcilesPerObject: Number(median.reconcilesPerObject.toFixed(3)),
    }),
  );
}

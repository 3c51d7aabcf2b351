// Queue throughput: add + get + done cycles per second.
//   node --conditions=@flotilla/source --import tsx packages/reconcile/bench/queue.ts
import { WorkQueue } from '../src/index.js';

function syncCycles(n: number): number {
  const q = new WorkQueue<string>();
  const keys = Array.from({ length: 1000 }, (_, i) => `ns/obj-${i}`);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const k = keys[i % 1000]!;
    q.add(k);
    const got = q.tryGet()!;
    q.done(got);
  }
  return n / ((performance.now() - t0) / 1000);
}

async function asyncCycles(n: number, workers: number, dup: number): Promise<number> {
  const q = new WorkQueue<string>();
  const keys = Array.from({ length: 1000 }, (_, i) => `ns/obj-${i}`);

  const t0 = performance.now();
  const run = async (): Promise<void> => {
    for (;;) {
      const item = await q.get();
      if (item.shutdown) return;

      q.done(item.key);
    }
  };
  const ws = Array.from({ length: workers }, run);
  let adds = 0;
  while (adds < n) {
    for (let j = 0; j < 1000 && adds < n; j++, adds++) {
      const k = keys[(adds / dup) | 0 % 1000]!;
      q.add(k);
    }
    await Promise.resolve();
    await new Promise((r) => setImmediate(r));
  }
  q.shutDown();
  await Promise.all(ws);
  const s = (performance.now() - t0) / 1000;
  return n / s;
}

for (let r = 0; r < 3; r++) {
  console.log('sync', Math.round(syncCycles(2_000_000)));
  console.log('async1', Math.round(await asyncCycles(1_000_000, 1, 1)));
  console.log('async8', Math.round(await asyncCycles(1_000_000, 8, 1)));
}

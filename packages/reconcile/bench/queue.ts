// Work queue throughput: add + get + done cycles per second.
//   node --conditions=@flotilla/source --import tsx packages/reconcile/bench/queue.ts
// (or `npm run bench -w @flotilla/reconcile`). Prints one JSON line per scenario, best of 5.
import { WorkQueue } from '../src/index.js';

const KEYS = Array.from({ length: 1000 }, (_, i) => `default/object-${i}`);
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** client-go's BenchmarkQueue shape: a fresh queue, then 100 × (add, get, done), one consumer. */
function clientGoShape(iterations: number): number {
  const keys = KEYS.slice(0, 100);
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) {
    const q = new WorkQueue<string>();
    for (let j = 0; j < 100; j++) {
      q.add(keys[j]!);
      q.done(q.tryGet()!);
    }
  }
  return (iterations * 100) / ((performance.now() - t0) / 1000);
}

/** Same shape through the promise API: `await q.get()` per item. */
async function clientGoShapeAwait(iterations: number): Promise<number> {
  const keys = KEYS.slice(0, 100);
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) {
    const q = new WorkQueue<string>();
    for (let j = 0; j < 100; j++) {
      q.add(keys[j]!);
      const item = await q.get();
      q.done(item.key!);
    }
  }
  return (iterations * 100) / ((performance.now() - t0) / 1000);
}

type Mode = 'get' | 'fast';

/**
 * A producer adds `total` keys in bursts of 1000 (each distinct key added `dup` times in a
 * row, so dup−1 of every dup adds are absorbed), yielding to the event loop between bursts;
 * `workers` consumers take keys (`await get()` per key, or the `tryGet` fast path falling
 * back to `get` when empty) and mark them done. Returns processed cycles/s and adds/s.
 */
async function producerConsumers(total: number, workers: number, dup: number, mode: Mode): Promise<{ cycles: number; adds: number }> {
  const q = new WorkQueue<string>();
  let processed = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      let key = mode === 'fast' ? q.tryGet() : undefined;
      if (key === undefined) {
        const item = await q.get();
        if (item.shutdown) return;
        key = item.key;
      }
      processed++;
      q.done(key);
    }
  };
  const t0 = performance.now();
  const running = Array.from({ length: workers }, worker);
  let adds = 0;
  let k = 0;
  while (adds < total) {
    for (let j = 0; j < 1000 && adds < total; j += dup) {
      const key = KEYS[k++ % KEYS.length]!;
      for (let d = 0; d < dup; d++) q.add(key);
      adds += dup;
    }
    await turn();
  }
  while (q.len() > 0 || q.processingCount() > 0) await turn();
  q.shutDown();
  await Promise.all(running);
  const s = (performance.now() - t0) / 1000;
  return { cycles: processed / s, adds: adds / s };
}

async function best<T extends Record<string, number>>(runs: number, f: () => T | Promise<T>, by: keyof T): Promise<T> {
  let top: T | undefined;
  for (let i = 0; i < runs; i++) {
    const r = await f();
    if (top === undefined || r[by]! > top[by]!) top = r;
  }
  return top!;
}

const round = (x: number): number => Math.round(x);
const report = (name: string, r: Record<string, number>): void =>
  console.log(JSON.stringify({ scenario: name, ...Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round(v)])) }));

// Warm up the JIT.
clientGoShape(2000);
await clientGoShapeAwait(2000);
await producerConsumers(200_000, 1, 1, 'fast');
await producerConsumers(200_000, 8, 1, 'get');

report('client-go BenchmarkQueue shape, tryGet, 1 consumer', await best(5, () => ({ cycles: clientGoShape(20_000) }), 'cycles'));
report('client-go BenchmarkQueue shape, await get(), 1 consumer', await best(5, async () => ({ cycles: await clientGoShapeAwait(20_000) }), 'cycles'));
for (const workers of [1, 8]) {
  for (const mode of ['fast', 'get'] as const) {
    report(`producer + ${workers} worker(s), ${mode === 'fast' ? 'tryGet fast path' : 'await get() per key'}, distinct keys`,
      await best(5, () => producerConsumers(1_000_000, workers, 1, mode), 'cycles'));
    report(`producer + ${workers} worker(s), ${mode === 'fast' ? 'tryGet fast path' : 'await get() per key'}, each key added 10×`,
      await best(5, () => producerConsumers(2_000_000, workers, 10, mode), 'cycles'));
  }
}

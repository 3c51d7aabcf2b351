// The KV state machine at issue 15's scale: N instances written as Flotilla writes them (a txn
// putting /flotilla/v1/instances/<name> and its per-host index entry), W per-host watchers,
// then a snapshot and a restore. Run: npx tsx packages/raft/bench/kv-scale.ts [N] [W] [MODULE]
import type { KvStateMachine as KvStateMachineType } from '../src/kv/state-machine.js';
// (MODULE: another copy of kv/state-machine.ts to compare, e.g. an older commit's, as the peer).
const [n = '150000', w = '5000', module = new URL('../src/kv/state-machine.ts', import.meta.url).pathname] = process.argv.slice(2);
const { KvStateMachine } = (await import(module)) as { KvStateMachine: typeof KvStateMachineType };
const N = Number(n);
const W = Number(w);
const sm = new KvStateMachine();
let delivered = 0;
for (let h = 0; h < W; h++) sm.watch(`/flotilla/v1/hostinstances/hollow-${h}/`, undefined, { onEvents: (e) => (delivered += e.length), onCompacted: () => undefined });
const value = 'x'.repeat(900);
let t = performance.now();
for (let i = 0; i < N; i++) {
  const h = (i * 7919) % Math.max(W, 1);
  const name = `rs-${i % 1500}-${((i * 2654435761) >>> 0).toString(36)}`;
  const key = `/flotilla/v1/instances/${name}`;
  sm.apply({ op: 'txn', compare: [{ key, modRevision: 0 }], success: [{ put: { key, value } }, { put: { key: `/flotilla/v1/hostinstances/hollow-${h}/${name}`, value } }], failure: [] });
}
console.log(`apply ${N} txns (${2 * N} keys, ${W} watchers): ${(performance.now() - t).toFixed(0)} ms, ${delivered} events delivered`);
t = performance.now();
const snap = sm.snapshot();
console.log(`snapshot: ${(performance.now() - t).toFixed(0)} ms, ${(snap.length / 1e6).toFixed(1)} MB`);
t = performance.now();
try {
  new KvStateMachine().restore(snap);
  console.log(`restore: ${(performance.now() - t).toFixed(0)} ms`);
} catch (e) {
  console.log(`restore: failed after ${(performance.now() - t).toFixed(0)} ms: ${(e as Error).message} (${String((e as { cause?: Error }).cause?.message)})`);
}

// LabelIndex.select vs a linear scan over 1,000,000 objects with 8 labels each.
// Run from the repository root:
//   node --max-old-space-size=8192 --conditions=@flotilla/source --import tsx packages/labels/bench/index-vs-scan.ts
// (or `npm run bench -w @flotilla/labels`). Not a test: it prints figures.
import { performance } from 'node:perf_hooks';
import { LabelIndex, parseSelector, type Selector } from '../src/index.js';

const OBJECTS = Number(process.env.BENCH_OBJECTS ?? 1_000_000);

/** mulberry32: a small seeded PRNG, so every run builds the same objects. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(20261126);
const pick = (n: number): number => Math.floor(random() * n);
const envs = ['prod', 'staging', 'dev', 'test'];

function labelsFor(): Record<string, string> {
  return {
    app: `app-${pick(1000)}`,
    env: envs[pick(4)]!,
    tier: `t${pick(10)}`,
    zone: `zone-${pick(20)}`,
    team: `team-${pick(50)}`,
    region: `region-${pick(5)}`,
    version: String(1 + pick(100)),
    'example.com/owner': `owner-${pick(5000)}`,
  };
}

const print = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Median milliseconds per run of `fn`, running it for at least `minMs` and `minRuns` times. */
function time(fn: () => number, minRuns: number, minMs: number): { ms: number; result: number } {
  let result = fn(); // warm-up
  const samples: number[] = [];
  const started = performance.now();
  while (samples.length < minRuns || performance.now() - started < minMs) {
    const t0 = performance.now();
    result = fn();
    samples.push(performance.now() - t0);
    if (samples.length >= 10_000) break;
  }
  return { ms: median(samples), result };
}

print(`Building ${OBJECTS.toLocaleString('en-US')} objects with 8 labels each...`);
const objects: { id: string; labels: Record<string, string> }[] = [];
for (let i = 0; i < OBJECTS; i++) objects.push({ id: `obj-${i}`, labels: labelsFor() });

const buildStarted = performance.now();
const index = new LabelIndex<string>();
for (const { id, labels } of objects) index.add(id, labels);
const buildMs = performance.now() - buildStarted;
if (typeof globalThis.gc === 'function') globalThis.gc();
print(
  `LabelIndex built in ${(buildMs / 1000).toFixed(2)} s (${Math.round(OBJECTS / (buildMs / 1000)).toLocaleString('en-US')} adds/s); heap used ${(process.memoryUsage().heapUsed / 2 ** 30).toFixed(2)} GiB`,
);

function scan(selector: Selector): number {
  const out: string[] = [];
  for (const object of objects) if (selector.matches(object.labels)) out.push(object.id);
  return out.length;
}

const queries: { name: string; text: string }[] = [
  { name: 'selective (~0.1%)', text: 'app=app-42,tier!=t9' },
  { name: 'broad (~30%)', text: 'tier in (t0,t1,t2)' },
  { name: 'broad, negative (~30%)', text: 'tier notin (t3,t4,t5,t6,t7,t8,t9)' },
  { name: 'range (~5%)', text: 'version>95,env!=dev' },
];

print();
print('| query | selector | matched | LabelIndex.select | linear scan | speed-up |');
print('|---|---|---:|---:|---:|---:|');
for (const { name, text } of queries) {
  const selector = parseSelector(text);
  const indexed = time(() => index.select(selector).length, 20, 2000);
  const scanned = time(() => scan(selector), 5, 3000);
  if (indexed.result !== scanned.result) {
    throw new Error(`mismatch for ${text}: index ${indexed.result}, scan ${scanned.result}`);
  }
  const share = ((100 * indexed.result) / OBJECTS).toFixed(2);
  print(
    `| ${name} | \`${text}\` | ${indexed.result.toLocaleString('en-US')} (${share}%) | ${indexed.ms.toFixed(3)} ms | ${scanned.ms.toFixed(1)} ms | ${(scanned.ms / indexed.ms).toFixed(1)}× |`,
  );
}

// Parse throughput (selectors/s) and match throughput (matches/s), each with a baseline
// measured in the same run. Run from the repository root:
//   node --conditions=@flotilla/source --import tsx packages/labels/bench/throughput.ts
// Not a test: it prints figures.
import { performance } from 'node:perf_hooks';
import { parseSelector, selectorFromLabelSelector, type LabelSelector } from '../src/index.js';

const print = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

/** Operations per second of `fn(i)`, measured for about `ms` milliseconds after a warm-up. */
function rate(fn: (i: number) => unknown, ms = 3000): number {
  let sink = 0;
  for (let i = 0; i < 50_000; i++) if (fn(i)) sink++;
  let operations = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 10_000; i++) if (fn(operations + i)) sink++;
    operations += 10_000;
    elapsed = performance.now() - started;
  }
  if (sink < 0) print('unreachable');
  return operations / (elapsed / 1000);
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

// --- parse -------------------------------------------------------------------------------
const texts = [
  'app=web',
  'app=web,env=prod',
  'env in (prod,staging),tier notin (db,cache),!canary',
  'example.com/team=platform,version>3,region',
  'app==web, env != dev, zone in (zone-a, zone-b, zone-c)',
  'x notin (abc,,def),bar,z in (),w',
  'app.kubernetes.io/name=flotilla,app.kubernetes.io/component in (api,worker)',
  'shard<100,shard>10,!deprecated',
];
// Baseline: the same selectors as LabelSelector JSON, decoded by JSON.parse and converted.
const equivalents: LabelSelector[] = texts.map((text) => {
  const selector = parseSelector(text);
  return {
    matchLabels: {},
    matchExpressions: selector.requirements.map((r) => ({
      key: r.key,
      operator: r.operator === 'notin' ? 'NotIn' : r.operator === '!' ? 'DoesNotExist' : r.operator === 'exists' ? 'Exists' : 'In',
      values: [...r.values],
    })),
  };
});
const json = equivalents.map((selector) => JSON.stringify(selector));

const parseRate = rate((i) => parseSelector(texts[i % texts.length]!));
const jsonRate = rate((i) => JSON.parse(json[i % json.length]!) as unknown);
const jsonConvertRate = rate((i) => selectorFromLabelSelector(JSON.parse(json[i % json.length]!) as LabelSelector));

// --- match -------------------------------------------------------------------------------
const selector = parseSelector('app=web,env in (prod,staging),!canary,version>3');
const labelSets: Record<string, string>[] = [];
const envs = ['prod', 'staging', 'dev'];
for (let i = 0; i < 1024; i++) {
  const labels: Record<string, string> = {
    app: i % 3 === 0 ? 'web' : 'api',
    env: envs[i % 3]!,
    version: String(i % 7),
    zone: `zone-${i % 5}`,
    team: `team-${i % 11}`,
    region: `region-${i % 2}`,
    tier: i % 2 === 0 ? 'front' : 'back',
  };
  if (i % 13 === 0) labels.canary = 'true';
  labelSets.push(labels);
}
// Baseline: the same condition hand-written in JavaScript.
const handWritten = (labels: Record<string, string>): boolean => {
  if (labels.app !== 'web') return false;
  if (labels.env !== 'prod' && labels.env !== 'staging') return false;
  if (Object.hasOwn(labels, 'canary')) return false;
  const version = labels.version;
  return version !== undefined && /^[+-]?[0-9]+$/.test(version) && BigInt(version) > 3n;
};
for (const labels of labelSets) {
  if (selector.matches(labels) !== handWritten(labels)) throw new Error('baseline disagrees');
}
const matchRate = rate((i) => selector.matches(labelSets[i & 1023]!));
const handRate = rate((i) => handWritten(labelSets[i & 1023]!));
const setSelector = parseSelector('app=web,env=prod');
const setRate = rate((i) => setSelector.matches(labelSets[i & 1023]!));

print('| measure | figure | baseline (same run) | ratio |');
print('|---|---:|---:|---:|');
print(
  `| parseSelector, 8 selectors of 1–4 requirements | ${fmt(parseRate)} selectors/s | JSON.parse of the equivalent LabelSelector: ${fmt(jsonRate)}/s; JSON.parse + selectorFromLabelSelector: ${fmt(jsonConvertRate)}/s | ${(parseRate / jsonRate).toFixed(2)}× / ${(parseRate / jsonConvertRate).toFixed(2)}× |`,
);
print(
  `| Selector.matches, \`${selector.toString()}\` | ${fmt(matchRate)} matches/s | hand-written JS predicate: ${fmt(handRate)}/s | ${(matchRate / handRate).toFixed(2)}× |`,
);
print(`| Selector.matches, \`${setSelector.toString()}\` | ${fmt(setRate)} matches/s | | |`);

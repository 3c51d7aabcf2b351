/**
 * The benchmark's own workloads (seed 42, full size), placed with binpack and spread: a
 * digest of each result (bench/digest.ts) is compared with bench/placement-digests.json,
 * which was recorded by the scheduler as it was before the split of state.ts (commit
 * 6a17e84). The unit test test/placements.test.ts does the same at smaller sizes.
 *
 *   node --conditions=@flotilla/source --import tsx bench/digests.ts            # check
 *   node --conditions=@flotilla/source --import tsx bench/digests.ts --record   # rewrite (only on purpose)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { schedule, type Strategy } from '@flotilla/scheduler';
import { generateWorkload, type WorkloadKind } from '@flotilla/scheduler/testing';
import { placementDigest } from './digest.js';

const DATA = new URL('./placement-digests.json', import.meta.url);
const WORKLOADS: { name: string; kind: WorkloadKind; nodes: number; pods: number }[] = [
  { name: 'mixed-1k', kind: 'mixed', nodes: 1_000, pods: 10_000 },
  { name: 'mixed-5k', kind: 'mixed', nodes: 5_000, pods: 100_000 },
  { name: 'labels-10k', kind: 'labels', nodes: 10_000, pods: 1_000_000 },
  { name: 'identical-10k', kind: 'identical', nodes: 10_000, pods: 1_000_000 },
];
const record = process.argv.includes('--record');
let expected: Record<string, string> = {};
try {
  expected = JSON.parse(readFileSync(DATA, 'utf8')) as Record<string, string>;
} catch {
  if (!record) throw new Error(`no ${DATA.pathname}: run with --record first`);
}
const digests: Record<string, string> = {};
let failed = 0;
for (const workload of WORKLOADS) {
  for (const strategy of ['binpack', 'spread'] as Strategy[]) {
    const { nodes, pods } = generateWorkload({ kind: workload.kind, nodes: workload.nodes, pods: workload.pods, seed: 42 });
    const key = `${workload.name} ${strategy}`;
    const digest = placementDigest(schedule({ nodes, pods, strategy }));
    digests[key] = digest;
    const same = expected[key] === digest;
    if (!record && !same) failed++;
    console.log(`${key.padEnd(24)} ${digest} ${record ? 'recorded' : same ? 'same' : `DIFFERENT (expected ${expected[key]})`}`);
  }
}
if (record) writeFileSync(DATA, `${JSON.stringify(digests, null, 2)}\n`);
process.exit(failed === 0 ? 0 : 1);

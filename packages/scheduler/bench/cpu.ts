/**
 * The scheduler alone, for before/after comparisons of its own code: CPU seconds of
 * `schedule()` (binpack) on one of the benchmark's seed-42 workloads, after three tenth-size
 * warm-ups, `runs` times in this process (a fresh copy of the workload and gc() before each).
 *
 *   node --expose-gc --conditions=@flotilla/source --import tsx bench/cpu.ts [mixed-5k|labels-10k|identical-10k] [runs]
 *
 * Run it alternately from two checkouts on the same machine: the interleaving, not one run,
 * tells a change from the machine's noise.
 */
import { schedule } from '@flotilla/scheduler';
import { generateWorkload, type WorkloadKind } from '@flotilla/scheduler/testing';

const WORKLOADS: Record<string, { kind: WorkloadKind; nodes: number; pods: number }> = {
  'mixed-5k': { kind: 'mixed', nodes: 5_000, pods: 100_000 },
  'labels-10k': { kind: 'labels', nodes: 10_000, pods: 1_000_000 },
  'identical-10k': { kind: 'identical', nodes: 10_000, pods: 1_000_000 },
};
const [name = 'labels-10k', runsText = '3'] = process.argv.slice(2);
const workload = WORKLOADS[name];
if (workload === undefined) throw new Error(`unknown workload ${name}: one of ${Object.keys(WORKLOADS).join(', ')}`);
for (let i = 0; i < 3; i++) {
  const w = generateWorkload({ kind: workload.kind, nodes: workload.nodes / 10, pods: workload.pods / 10, seed: 7 + i });
  schedule({ ...w, strategy: 'binpack' });
}
const cpu: number[] = [];
for (let run = 0; run < Number(runsText); run++) {
  const input = generateWorkload({ kind: workload.kind, nodes: workload.nodes, pods: workload.pods, seed: 42 });
  global.gc?.();
  const before = process.cpuUsage();
  schedule({ ...input, strategy: 'binpack' });
  const used = process.cpuUsage(before);
  cpu.push((used.user + used.system) / 1e6);
}
console.log(JSON.stringify({ workload: name, cpuSeconds: cpu }));

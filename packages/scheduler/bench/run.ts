/**
 * Scheduler benchmark: the four seeded workloads, the scheduler against a naive
 * Kubernetes-style scorer and first-fit decreasing, measured in the same run.
 *
 *   node --conditions=@flotilla/source --import tsx packages/scheduler/bench/run.ts [names...]
 *
 * names: mixed-1k, mixed-5k, labels-10k, identical-10k (default: all); --skip-naive skips the
 * naive scorer.
 * Reports CPU seconds (user + system of this process), placements per CPU-second, nodes
 * used, unschedulable pods, the lower bound, and constraint violations (independently
 * checked with verifyPlacement).
 */
import { schedule, type Node, type Pod, type ScheduleResult } from '@flotilla/scheduler';
import { generateWorkload, verifyPlacement, type WorkloadKind } from '@flotilla/scheduler/testing';
import { ffdSchedule, naiveSchedule } from './baselines.js';
import { identicalLowerBound, mixedLowerBound } from './bounds.js';

interface Workload {
  name: string;
  kind: WorkloadKind;
  nodes: number;
  pods: number;
  naive: boolean;
}

const WORKLOADS: Workload[] = [
  { name: 'mixed-1k', kind: 'mixed', nodes: 1_000, pods: 10_000, naive: true },
  { name: 'mixed-5k', kind: 'mixed', nodes: 5_000, pods: 100_000, naive: true },
  { name: 'labels-10k', kind: 'labels', nodes: 10_000, pods: 1_000_000, naive: false },
  { name: 'identical-10k', kind: 'identical', nodes: 10_000, pods: 1_000_000, naive: false },
];

function cpuSeconds<T>(run: () => T): { result: T; seconds: number } {
  const before = process.cpuUsage();
  const result = run();
  const used = process.cpuUsage(before);
  return { result, seconds: (used.user + used.system) / 1e6 };
}

function nodesUsed(result: ScheduleResult): number {
  return new Set(result.assignments.values()).size;
}

interface Row {
  workload: string;
  scheduler: string;
  cpuSeconds: number;
  placementsPerCpuSecond: number;
  placed: number;
  nodesUsed: number;
  unschedulable: number;
  lowerBound: number;
  overBound: string;
  violations: number;
}

function measure(workload: Workload, name: string, nodes: Node[], pods: Pod[], bound: number, run: () => ScheduleResult): Row {
  global.gc?.();
  const { result, seconds } = cpuSeconds(run);
  const violations = verifyPlacement(nodes, pods, result);
  if (violations.length > 0) console.error(name, workload.name, violations.slice(0, 5));
  const used = nodesUsed(result);
  return {
    workload: workload.name,
    scheduler: name,
    cpuSeconds: Number(seconds.toFixed(3)),
    placementsPerCpuSecond: Math.round(result.assignments.size / seconds),
    placed: result.assignments.size,
    nodesUsed: used,
    unschedulable: result.unschedulable.length,
    lowerBound: bound,
    overBound: `${(((used - bound) / bound) * 100).toFixed(2)}%`,
    violations: violations.length,
  };
}

const args = process.argv.slice(2);
const skipNaive = args.includes('--skip-naive');
const selected = args.filter((a) => !a.startsWith('--'));
const rows: Row[] = [];
for (const workload of WORKLOADS) {
  if (selected.length > 0 && !selected.includes(workload.name)) continue;
  // Warm up the JIT: every scheduler runs three times on a tenth-size instance of the same kind.
  {
    const small = generateWorkload({ kind: workload.kind, nodes: workload.nodes / 10, pods: workload.pods / 10, seed: 7 });
    for (let i = 0; i < 3; i++) {
      schedule({ ...small, strategy: 'binpack' });
      ffdSchedule(small.nodes, small.pods);
      ffdSchedule(small.nodes, small.pods, { cursor: true });
      if (workload.naive && !skipNaive) naiveSchedule(small.nodes, small.pods);
    }
  }
  const { nodes, pods } = generateWorkload({ kind: workload.kind, nodes: workload.nodes, pods: workload.pods, seed: 42 });
  let bound: number;
  if (workload.kind === 'identical') {
    const { l1, l2 } = identicalLowerBound(nodes[0]!, pods);
    bound = Math.max(l1, l2);
    console.log(`${workload.name}: L1 ${l1}, Martello–Toth L2 ${l2}`);
  } else {
    bound = mixedLowerBound(nodes, pods);
  }
  rows.push(measure(workload, 'flotilla binpack', nodes, pods, bound, () => schedule({ nodes, pods, strategy: 'binpack' })));
  rows.push(measure(workload, 'FFD', nodes, pods, bound, () => ffdSchedule(nodes, pods)));
  rows.push(measure(workload, 'FFD + type cursor', nodes, pods, bound, () => ffdSchedule(nodes, pods, { cursor: true })));
  if (workload.naive && !skipNaive) rows.push(measure(workload, 'naive kube-style', nodes, pods, bound, () => naiveSchedule(nodes, pods)));
  const ours = rows.find((r) => r.workload === workload.name && r.scheduler === 'flotilla binpack')!;
  for (const row of rows.filter((r) => r.workload === workload.name)) {
    console.log(
      `${row.workload.padEnd(14)} ${row.scheduler.padEnd(17)} cpu ${row.cpuSeconds.toFixed(3).padStart(8)} s  ` +
        `${String(row.placementsPerCpuSecond).padStart(9)} placements/cpu-s  ` +
        `(${(ours.placementsPerCpuSecond / row.placementsPerCpuSecond).toFixed(2)}× ours)  nodes ${row.nodesUsed} ` +
        `(bound ${row.lowerBound}, +${row.overBound})  unschedulable ${row.unschedulable}  violations ${row.violations}`,
    );
  }
}
console.log(JSON.stringify(rows, null, 2));

/** Profiles one workload with the scheduler only: node --cpu-prof ... bench/profile.ts <kind> <nodes> <pods> */
import { schedule } from '@flotilla/scheduler';
import { generateWorkload, type WorkloadKind } from '@flotilla/scheduler/testing';

const [kind = 'mixed', nodes = '5000', pods = '100000', strategy = 'binpack'] = process.argv.slice(2);
const workload = generateWorkload({ kind: kind as WorkloadKind, nodes: Number(nodes), pods: Number(pods), seed: 42 });
const before = process.cpuUsage();
const result = schedule({ ...workload, strategy: strategy as 'binpack' });
const used = process.cpuUsage(before);
console.log(`${kind} ${nodes}/${pods} ${strategy}: ${((used.user + used.system) / 1e6).toFixed(3)} cpu-s, placed ${result.assignments.size}, unschedulable ${result.unschedulable.length}`);

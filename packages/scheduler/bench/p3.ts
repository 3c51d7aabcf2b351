import { schedule } from '@flotilla/scheduler';
import { generateWorkload, verifyPlacement } from '@flotilla/scheduler/testing';
for (const kind of ['mixed', 'identical', 'labels'] as const) for (const strategy of ['binpack', 'spread'] as const) {
  const w = generateWorkload({ kind, nodes: 300, pods: 3000, seed: 3, load: 0.9 });
  const a = schedule({ ...w, strategy });
  const b = schedule({ ...w, strategy, exhaustive: true });
  let diff = 0;
  for (const [k, v] of a.assignments) if (b.assignments.get(k) !== v) diff++;
  console.log(kind, strategy, 'diff', diff, a.assignments.size, b.assignments.size, a.unschedulable.length, 'violations', verifyPlacement(w.nodes, w.pods, a).length);
}

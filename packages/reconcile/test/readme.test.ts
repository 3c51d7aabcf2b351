// The README's example controller, verbatim apart from the harness around it.
import { expect, it } from 'vitest';
import { controller, diff } from '../src/index.js';
import { MemoryStore, settle } from '../src/testing/index.js';

it('the README example converges and stops', async () => {
  interface ReplicaSet { replicas: number }
  interface Instance { owner: string }

  const replicaSets = new MemoryStore<ReplicaSet>();
  const instances = new MemoryStore<Instance>();
  let serial = 0;

  const ctrl = controller('replicasets')
    .watches(replicaSets)                          // key = the replica set's key
    .watches(instances, (inst) => inst.owner)      // an instance event → its owner's key
    .withOptions({ concurrency: 4 })
    .complete(async (name) => {
      // Level-based: look at the whole state, not at "what changed".
      const rs = (await replicaSets.get(name))?.object;
      const owned = instances.entries().filter((e) => e.object.owner === name).map((e) => e.key);
      const keep = owned.slice(0, rs?.replicas ?? 0);
      while (rs !== undefined && keep.length < rs.replicas) keep.push(`${name}-${++serial}`);
      const todo = diff(keep, owned, { key: (k) => k });
      for (const key of todo.create) instances.create(key, { owner: name });
      for (const key of todo.delete) instances.delete(key);
    });

  const stop = new AbortController();
  const running = ctrl.run(stop.signal);
  replicaSets.put('web', { replicas: 3 });
  replicaSets.put('db', { replicas: 1 });
  const count = (owner: string): number => instances.entries().filter((e) => e.object.owner === owner).length;
  while (count('web') !== 3 || count('db') !== 1) await settle(1);
  replicaSets.put('web', { replicas: 1 });
  replicaSets.delete('db');
  while (count('web') !== 1 || count('db') !== 0) await settle(1);
  stop.abort();
  await running;
  expect(instances.size).toBe(1);
});

// The cluster README's API example: what `flo apply -f app.yaml --wait` and `flo delete -f
// app.yaml` do, as library calls. test/examples.test.ts runs it on a local host.

// #region tour
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DeployRuntime, applyManifests, converge, deleteResources, loadManifests, openStore, viewInstances, type InstanceView } from '@flotilla/cluster';

/** Applies `<dir>/app.yaml`, runs the controllers until it converged, lists the instances, then deletes it all. */
export async function tour(dir: string): Promise<InstanceView[]> {
  const store = await openStore(undefined, { cwd: dir }); // <dir>/.flotilla (or a URL: etcd://…, flotilla://…)
  try {
    const text = await readFile(join(dir, 'app.yaml'), 'utf8');
    const loaded = loadManifests([{ file: 'app.yaml', text, baseDir: dir }]); // every problem at once: throws ManifestError
    await applyManifests(store, loaded, { onApplied: (c) => process.stdout.write(`${c.kind}/${c.name} ${c.action}\n`) });
    const runtime = new DeployRuntime(); // instances on hosts over ssh, or local: {dir} hosts
    await converge({ store, runtime, onProgress: (waiting) => process.stderr.write(`waiting: ${waiting.join(', ')}\n`) }); // until every replica set is ready
    const instances = await viewInstances(store);
    await deleteResources(
      loaded.map(({ object: o }) => ({ kind: o.kind, name: o.metadata.name })),
      { store, runtime }, // instances stopped first, hosts last
    );
    return instances;
  } finally {
    await store.close();
  }
}
// #endregion tour

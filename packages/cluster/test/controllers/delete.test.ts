// Deleting hosts together with what runs on them (issue 12 §6: `flo delete -f` on a file
// with both the Hosts and the ReplicaSet left the instances running, untracked).
import { describe, expect, it } from 'vitest';
import {
  ClusterStore,
  MemoryKvStore,
  applyManifests,
  converge,
  deleteObject,
  deleteResources,
  isClusterError,
  isHostInUseError,
  parseManifests,
  type DeleteResult,
  type DeleteTarget,
} from '../../src/index.js';
import { FakeRuntime } from '../../src/testing/index.js';
import { hostsYaml, webYaml } from './harness.js';

const fast = { hostProbeIntervalMs: 50, pollIntervalMs: 20, lease: { leaseDurationMs: 1000, renewDeadlineMs: 500, retryPeriodMs: 100 } };

/** Two hosts running `web` (3 replicas), converged with the fake runtime. */
async function cluster(extra = ''): Promise<{ store: ClusterStore; runtime: FakeRuntime }> {
  const store = new ClusterStore(new MemoryKvStore({ progressIntervalMs: 0 }));
  const runtime = new FakeRuntime();
  await applyManifests(store, parseManifests(hostsYaml(2)).objects);
  await applyManifests(store, parseManifests(webYaml(3, { health: false }) + extra).objects);
  await converge({ store, runtime, ...fast, timeoutMs: 30_000 });
  expect(runtime.running()).toHaveLength(extra === '' ? 3 : 5);
  return { store, runtime };
}

const all = (names: string[]): DeleteTarget[] => names.map((n): DeleteTarget => ({ kind: n.startsWith('h') ? 'Host' : 'ReplicaSet', name: n }));

const other = `---
apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: api}
spec:
  replicas: 2
  selector: "app=api"
  template:
    metadata: {labels: {app: api}}
    spec: {command: [node, api.js], resources: {cpu: 100m, memory: 64Mi}}
`;

describe('deleteResources', () => {
  it('hosts and the replica set on them: the replica set first, its instances stopped, then the hosts', async () => {
    const { store, runtime } = await cluster();
    const seen: { result: DeleteResult; running: number }[] = [];
    const results = await deleteResources(all(['h1', 'h2', 'web']), {
      store,
      runtime,
      ...fast,
      timeoutMs: 30_000,
      // what runs when each deletion is reported
      onDeleted: (result) => seen.push({ result, running: runtime.running().length }),
    });
    expect(results.map((r) => `${r.kind}/${r.name} ${r.result}`)).toEqual(['ReplicaSet/web deleted', 'Host/h1 deleted', 'Host/h2 deleted']);
    expect(seen.map((s) => s.result)).toEqual(results);
    // by the time the first host went, nothing ran any more
    expect(seen[1]!.running).toBe(0);
    expect(runtime.running()).toEqual([]);
    expect(runtime.calls.filter((c) => c.startsWith('stop'))).toHaveLength(3);
    expect(await store.instances.items()).toEqual([]);
    expect(await store.hosts.items()).toEqual([]);
  });

  it('a host that runs instances nobody deletes is refused at once, naming them; the rest goes on', async () => {
    const { store, runtime } = await cluster(other);
    const onH1 = (await store.instances.items()).filter((i) => i.spec.host === 'h1' && i.spec.replicaSet === 'api').map((i) => i.metadata.name);
    const results = await deleteResources(all(['h1', 'h2', 'web']), { store, runtime, ...fast, timeoutMs: 30_000 });
    const byName = new Map(results.map((r) => [r.name, r]));
    expect(byName.get('web')!.result).toBe('deleted');
    // api runs on both hosts (spread): both are refused, before anything was deleted
    expect(results[0]!.result).toBe('refused');
    expect(byName.get('h1')).toMatchObject({ result: 'refused', instances: onH1.map((name) => ({ name, replicaSet: 'api', terminating: false })) });
    expect(byName.get('h1')!.message).toMatch(new RegExp(`^host/h1 is not deleted: 1 instance\\(s\\) are bound to it — ${onH1[0]} \\(replicaset/api\\);.*flo drain h1`));
    expect((await store.hosts.items()).map((h) => [h.metadata.name, h.spec.unschedulable ?? false])).toEqual([
      ['h1', false],
      ['h2', false],
    ]);
    expect(runtime.running().map((p) => p.name.split('-')[0])).toEqual(['api', 'api']);
  });

  it('without waiting, a host whose instances are still stopping is refused and says so', async () => {
    const { store, runtime } = await cluster();
    const results = await deleteResources(all(['h1', 'web']), { store, runtime, wait: false });
    expect(results.map((r) => r.result)).toEqual(['deleted', 'refused']);
    expect(results[1]!.message).toMatch(/^host\/h1 is not deleted: its \d instance\(s\) \(.*\) are still being stopped \(not waited for\); run the delete again once they are gone, or use --force/);
    expect(await store.hosts.get('h1')).toBeDefined();
  });

  it('a host that does not answer: the wait times out, the host is kept and the reason given', async () => {
    const { store, runtime } = await cluster();
    runtime.down.add('h1');
    const reported: DeleteResult[] = [];
    const err = await deleteResources(all(['h1', 'h2', 'web']), { store, runtime, ...fast, timeoutMs: 1500, onDeleted: (r) => reported.push(r) }).catch((e: unknown) => e);
    expect(isClusterError(err) && err.code).toBe('timeout');
    expect((err as Error).message).toMatch(/host\/h1: stopping \d instance\(s\)/);
    const h1 = reported.find((r) => r.name === 'h1')!;
    expect(h1.result).toBe('refused');
    expect(h1.message).toMatch(/were still being stopped when the wait ended \(is the host reachable\?\)/);
    expect(reported.find((r) => r.name === 'h2')!.result).toBe('deleted');
    expect((await store.hosts.get('h1'))?.spec.unschedulable).toBe(true); // cordoned meanwhile
    // --force then deletes it; what still runs there stays untracked
    const forced = await deleteResources(all(['h1']), { store, runtime, force: true, ...fast, timeoutMs: 30_000 });
    expect(forced).toEqual([{ kind: 'Host', name: 'h1', result: 'deleted' }]);
    expect(await store.hosts.get('h1')).toBeUndefined();
  });

  it('deleteObject refuses a host with instances bound to it (HostInUseError), unless forced; absent objects are not found', async () => {
    const { store, runtime } = await cluster();
    const err = await deleteObject(store, 'Host', 'h2').catch((e: unknown) => e);
    expect(isHostInUseError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'in-use', host: 'h2' });
    expect(await deleteObject(store, 'Host', 'h2', { force: true })).toBe(true);
    expect(await deleteResources([{ kind: 'Host', name: 'nope' }], { store, runtime })).toEqual([{ kind: 'Host', name: 'nope', result: 'not-found' }]);
    // apply --prune keeps a host that still has instances, says why, and prunes the rest
    await applyManifests(store, parseManifests(hostsYaml(1)).objects);
    const prune = await applyManifests(store, [], { prune: 'zone=a' }).catch((e: unknown) => e);
    expect(isHostInUseError(prune)).toBe(true);
    expect(await store.hosts.get('h1')).toBeDefined();
  });
});

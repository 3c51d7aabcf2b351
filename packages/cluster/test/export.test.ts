/**
 * manifestOf and planApply (issue 17): a stored object printed as a manifest is taken back
 * by apply as unchanged; the plan of an apply shows both sides of each change, changing nothing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { ClusterStore, MemoryKvStore, applyManifests, manifestOf, parseManifests, planApply, setUnschedulable } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const manifests = `apiVersion: flotilla.dev/v1
kind: Host
metadata: {name: h1, labels: {zone: a}}
spec: {local: {dir: ./hosts/h1}, capacity: {cpu: 2, memory: 4Gi}, taints: [{key: dedicated, value: db, effect: NoSchedule}]}
---
apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web, labels: {app: web}, annotations: {owner: team-a}}
spec:
  replicas: 2
  selector: "app=web"
  template:
    metadata: {labels: {app: web}}
    spec: {command: [node, s.js], artifact: ./app.tgz, resources: {cpu: 250m, memory: 128Mi}}
---
apiVersion: flotilla.dev/v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, port: http}
`;

function newStore(): ClusterStore {
  return new ClusterStore(new MemoryKvStore({ progressIntervalMs: 0 }), { artifactDir: join(dir, 'artifacts') });
}

describe('manifestOf', () => {
  it('gives manifests that apply takes back unchanged (quantities as written, artifact as its stored copy, status ignored)', async () => {
    writeFileSync(join(dir, 'app.tgz'), 'bytes');
    const store = newStore();
    await applyManifests(store, parseManifests(manifests).objects, { baseDirs: [dir, dir, dir] });
    await setUnschedulable(store, 'h1', true);
    await store.replicaSets.mutate('web', (cur) => ({ ...cur, status: { replicas: 2, readyReplicas: 1, observedGeneration: 1 } }));
    const objects = [await store.hosts.get('h1'), await store.replicaSets.get('web'), await store.services.get('web')];
    const printed = objects.map((o) => stringify(manifestOf(o!, { status: true }))).join('---\n');
    const host = manifestOf(objects[0]!);
    expect(host).toEqual({
      apiVersion: 'flotilla.dev/v1',
      kind: 'Host',
      metadata: { name: 'h1', labels: { zone: 'a' } },
      spec: { local: { dir: join(dir, 'hosts/h1') }, capacity: { cpu: 2, memory: '4Gi' }, taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }], unschedulable: true },
    });
    const rs = manifestOf(objects[1]!, { status: true }) as { spec: { template: { spec: { artifact: unknown } } }; status: unknown; metadata: unknown };
    expect(rs.spec.template.spec.artifact).toMatch(new RegExp(`^${join(dir, 'artifacts')}/[0-9a-f]{64}$`));
    expect(rs.status).toEqual({ replicas: 2, readyReplicas: 1, observedGeneration: 1 });
    expect(rs.metadata).toEqual({ name: 'web', labels: { app: 'web' }, annotations: { owner: 'team-a' } });
    const parsed = parseManifests(printed);
    expect(parsed.issues).toEqual([]);
    const again = await applyManifests(store, parsed.objects);
    expect(again.map((c) => c.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    // into an empty store, the status in the manifest is not written: controllers observe it
    const fresh = newStore();
    await applyManifests(fresh, parsed.objects);
    expect((await fresh.replicaSets.get('web'))!.status).toBeUndefined();
  });
});

describe('planApply', () => {
  it('reports both sides of each change and changes nothing; an unchanged local artifact is unchanged', async () => {
    writeFileSync(join(dir, 'app.tgz'), 'bytes');
    const store = newStore();
    const objects = parseManifests(manifests).objects;
    const created = await planApply(store, objects, { baseDirs: [dir, dir, dir] });
    expect(created.map((c) => [c.action, c.live === undefined, c.applied?.metadata.name])).toEqual([
      ['created', true, 'h1'],
      ['created', true, 'web'],
      ['created', true, 'web'],
    ]);
    expect(await store.hosts.items()).toEqual([]);
    await applyManifests(store, objects, { baseDirs: [dir, dir, dir] });
    const same = await planApply(store, objects, { baseDirs: [dir, dir, dir] });
    expect(same.map((c) => c.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    const changed = parseManifests(manifests.replace('replicas: 2', 'replicas: 4')).objects;
    const plan = await planApply(store, changed, { baseDirs: [dir, dir, dir], prune: 'zone=a' });
    const rs = plan.find((c) => c.kind === 'ReplicaSet')!;
    expect(rs.action).toBe('configured');
    expect((rs.live as { spec: { replicas: number } }).spec.replicas).toBe(2);
    expect((rs.applied as { spec: { replicas: number } }).spec.replicas).toBe(4);
    expect((await store.replicaSets.get('web'))!.spec.replicas).toBe(2);
    const pruned = await planApply(store, objects.filter((o) => o.kind !== 'Host'), { baseDirs: [dir, dir], prune: 'zone=a' });
    expect(pruned.at(-1)).toMatchObject({ kind: 'Host', name: 'h1', action: 'pruned', live: { kind: 'Host' } });
    expect(await store.hosts.get('h1')).toBeDefined();
  });
});

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ClusterStore,
  MemoryKvStore,
  applyManifests,
  isClusterError,
  parseManifests,
  parseStoreUrl,
  rolloutUndo,
  scaleReplicaSet,
  selectorInputText,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-ops-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rs = (replicas: number, extra = ''): string => `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web, labels: {team: a}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {command: [node, s.js], artifact: ./app.tgz${extra}}
`;
const svc = (name: string): string => `apiVersion: flotilla.dev/v1
kind: Service
metadata: {name: ${name}, labels: {team: a}}
spec: {selector: "app=web", port: http}
`;

describe('applyManifests', () => {
  it('creates, configures, keeps status, copies artifacts content-addressed, and a later apply overrides scale', async () => {
    writeFileSync(join(dir, 'app.tgz'), 'artifact bytes');
    const store = new ClusterStore(new MemoryKvStore({ progressIntervalMs: 0 }), { artifactDir: join(dir, 'artifacts') });
    const first = await applyManifests(store, parseManifests(rs(3)).objects, { baseDirs: [dir] });
    expect(first).toEqual([{ kind: 'ReplicaSet', name: 'web', action: 'created' }]);
    const stored = (await store.replicaSets.get('web'))!;
    const artifact = stored.spec.template.spec.artifact as { path: string; sha256: string };
    expect(artifact.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(artifact.path).toBe(join(dir, 'artifacts', artifact.sha256));
    expect(readFileSync(artifact.path, 'utf8')).toBe('artifact bytes');
    expect(stored.metadata.generation).toBe(1);
    // status written by a controller survives apply
    await store.replicaSets.mutate('web', (cur) => ({ ...cur, status: { replicas: 3, readyReplicas: 3, observedGeneration: 1 } }));
    expect(await applyManifests(store, parseManifests(rs(3)).objects, { baseDirs: [dir] })).toEqual([{ kind: 'ReplicaSet', name: 'web', action: 'unchanged' }]);
    await scaleReplicaSet(store, 'web', 7);
    expect((await store.replicaSets.get('web'))!.spec.replicas).toBe(7);
    expect(await applyManifests(store, parseManifests(rs(3)).objects, { baseDirs: [dir] })).toEqual([{ kind: 'ReplicaSet', name: 'web', action: 'configured' }]);
    const after = (await store.replicaSets.get('web'))!;
    expect(after.spec.replicas).toBe(3);
    expect(after.status).toEqual({ replicas: 3, readyReplicas: 3, observedGeneration: 1 });
    expect(after.metadata.generation).toBe(3);
    await expect(scaleReplicaSet(store, 'nope', 1)).rejects.toThrow(/replicaset\/nope not found/);
    await expect(scaleReplicaSet(store, 'web', -1)).rejects.toThrow(TypeError);
  });

  it('--dry-run changes nothing; --prune deletes only matching objects missing from the files', async () => {
    writeFileSync(join(dir, 'app.tgz'), 'artifact bytes');
    const store = new ClusterStore(new MemoryKvStore({ progressIntervalMs: 0 }), { artifactDir: join(dir, 'artifacts') });
    const dry = await applyManifests(store, parseManifests(`${svc('a')}---\n${svc('b')}`).objects, { dryRun: true });
    expect(dry.map((c) => c.action)).toEqual(['created', 'created']);
    expect(await store.services.items()).toEqual([]);
    await applyManifests(store, parseManifests(`${svc('a')}---\n${svc('b')}---\n${svc('c').replace('team: a', 'team: b')}`).objects);
    const pruned = await applyManifests(store, parseManifests(svc('a')).objects, { prune: 'team=a' });
    expect(pruned).toEqual([
      { kind: 'Service', name: 'a', action: 'unchanged' },
      { kind: 'Service', name: 'b', action: 'pruned' },
    ]);
    expect((await store.services.items()).map((s) => s.metadata.name)).toEqual(['a', 'c']);
  });

  it('rollout undo needs a previous template', async () => {
    const store = new ClusterStore(new MemoryKvStore({ progressIntervalMs: 0 }));
    const text = rs(1).replace(', artifact: ./app.tgz', '');
    await applyManifests(store, parseManifests(text).objects);
    const err = await rolloutUndo(store, 'web').catch((e: unknown) => e);
    expect(isClusterError(err) && err.code).toBe('not-found');
    const set = (await store.replicaSets.get('web'))!;
    expect(selectorInputText(set.spec.selector)).toBe('app=web');
  });
});

describe('parseStoreUrl', () => {
  const ok: [string | undefined, unknown][] = [
    [undefined, { type: 'file', dir: '/work/x/.flotilla' }],
    ['', { type: 'file', dir: '/work/x/.flotilla' }],
    ['file:///var/lib/flo', { type: 'file', dir: '/var/lib/flo' }],
    ['etcd://127.0.0.1:2379', { type: 'etcd', endpoints: ['127.0.0.1:2379'] }],
    ['etcd://a:1,b:2/', { type: 'etcd', endpoints: ['a:1', 'b:2'] }],
    ['flotilla://10.0.0.1:2479,10.0.0.2:2479', { type: 'flotilla', endpoints: ['10.0.0.1:2479', '10.0.0.2:2479'] }],
    ['flotilla://[::1]:2479', { type: 'flotilla', endpoints: ['[::1]:2479'] }],
  ];
  it.each(ok)('%j', (url, expected) => {
    expect(parseStoreUrl(url, '/work/x')).toEqual(expected);
  });
  const bad = ['http://x:1', 'etcd://', 'etcd://host', 'etcd://h:99999', 'flotilla://a:1,,b:2', 'file://relative/dir', 'redis://x:1'];
  it.each(bad)('rejects %j with store-url-invalid', (url) => {
    let err: unknown;
    try {
      parseStoreUrl(url, '/work/x');
    } catch (e) {
      err = e;
    }
    expect(isClusterError(err) && err.code).toBe('store-url-invalid');
  });
});

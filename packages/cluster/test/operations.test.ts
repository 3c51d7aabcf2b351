import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AppliedChange, WriteOptions } from '../src/index.js';
import {
  ClusterStore,
  MemoryKvStore,
  applyManifests,
  isClusterError,
  isConflictError,
  keyOf,
  loadManifests,
  parseManifests,
  parseStoreUrl,
  redactStoreUrl,
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
  it('an artifact that cannot be read is a manifest-invalid ClusterError naming it (apply and --dry-run), and nothing is written', async () => {
    const store = new ClusterStore(new MemoryKvStore({ progressIntervalMs: 0 }), { artifactDir: join(dir, 'artifacts') });
    const missing = rs(1).replace('./app.tgz', './no-such.tgz');
    for (const dryRun of [false, true]) {
      const error = await applyManifests(store, parseManifests(missing).objects, { baseDirs: [dir], dryRun }).catch((e: unknown) => e);
      expect(isClusterError(error) && error.code).toBe('manifest-invalid');
      expect((error as Error).message).toContain(`artifact ${join(dir, 'no-such.tgz')} cannot be read: ENOENT`);
    }
    expect(await store.replicaSets.get('web')).toBeUndefined();
  });

  it('loadManifests gives each object its file and base directory, and apply resolves relative paths against its own file', async () => {
    // two files in two directories, the first with two documents: each object's ./app.tgz is its own file's
    const [one, two] = [join(dir, 'one'), join(dir, 'two')];
    for (const [d, bytes] of [[one, 'bytes of one'], [two, 'bytes of two']] as const) {
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'app.tgz'), bytes);
    }
    const hostText = 'apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: h1}\nspec: {local: {dir: ./h1}}\n';
    const loaded = loadManifests([
      { file: 'one/app.yaml', text: `${hostText}---\n${rs(1).replace('name: web,', 'name: web1,')}`, baseDir: one },
      { file: 'two/app.yaml', text: rs(1).replace('name: web,', 'name: web2,'), baseDir: two },
    ]);
    expect(loaded.map((l) => [l.object.kind, l.object.metadata.name, l.file, l.baseDir])).toEqual([
      ['Host', 'h1', 'one/app.yaml', one],
      ['ReplicaSet', 'web1', 'one/app.yaml', one],
      ['ReplicaSet', 'web2', 'two/app.yaml', two],
    ]);
    const store = new ClusterStore(new MemoryKvStore({ progressIntervalMs: 0 }), { artifactDir: join(dir, 'artifacts-2') });
    // a base directory by index (baseDirs) is only for objects given without one
    await applyManifests(store, loaded, { baseDirs: [dir, dir, dir] });
    const read = async (name: string): Promise<string> => readFileSync((((await store.replicaSets.get(name))!.spec.template.spec.artifact) as { path: string }).path, 'utf8');
    expect(await read('web1')).toBe('bytes of one');
    expect(await read('web2')).toBe('bytes of two');
    expect((await store.hosts.get('h1'))!.spec.local).toEqual({ dir: join(one, 'h1') });
  });

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

/**
 * A memory KV whose `other` writer gets in between a read and a conditional write of
 * `key` (`times` times): just before such a write, it changes the stored object with
 * `change`, as a controller writing status or a second `flo apply` would.
 */
class InterferingKv extends MemoryKvStore {
  interferences = 0;
  constructor(
    readonly key: string,
    readonly times: number,
    readonly change: (value: string | undefined) => string,
  ) {
    super({ progressIntervalMs: 0 });
  }
  override async put(key: string, value: string, options: WriteOptions = {}): Promise<number> {
    if (key === this.key && (options.prevRevision ?? 0) > 0 && this.interferences < this.times) {
      this.interferences++;
      await super.put(key, this.change((await this.get(key))?.value));
    }
    return super.put(key, value, options);
  }
}

describe('apply under concurrent writers (issue 12 §6: a conflicting apply used to fail at once)', () => {
  const readyStatus = (value: string | undefined): string => {
    const o = JSON.parse(value!) as { status?: unknown };
    o.status = { replicas: 3, readyReplicas: 3, observedGeneration: 1 };
    return JSON.stringify(o);
  };
  const text = rs(3).replace(', artifact: ./app.tgz', '');

  it('retries the read-modify-write from the fresh object: the spec is applied and the other writer\'s status kept', async () => {
    const kv = new InterferingKv(keyOf('ReplicaSet', 'web'), 1, readyStatus);
    const store = new ClusterStore(kv);
    await applyManifests(store, parseManifests(text).objects);
    expect(kv.interferences).toBe(0); // a create is not a read-modify-write
    const changes = await applyManifests(store, parseManifests(text.replace('replicas: 3', 'replicas: 5')).objects);
    expect(kv.interferences).toBe(1);
    expect(changes).toEqual([{ kind: 'ReplicaSet', name: 'web', action: 'configured' }]);
    const stored = (await store.replicaSets.get('web'))!;
    expect(stored.spec.replicas).toBe(5);
    expect(stored.status).toEqual({ replicas: 3, readyReplicas: 3, observedGeneration: 1 });
  });

  it('an object created by someone else between the read and the create is configured instead', async () => {
    const kv = new MemoryKvStore({ progressIntervalMs: 0 });
    const store = new ClusterStore(kv);
    const original = kv.put.bind(kv);
    let raced = false;
    kv.put = async (key: string, value: string, options: WriteOptions = {}): Promise<number> => {
      if (!raced && options.prevRevision === 0) {
        raced = true;
        await original(key, value.replace('"app=web"', '"app=other"'));
      }
      return original(key, value, options);
    };
    expect(await applyManifests(store, parseManifests(svc('a')).objects)).toEqual([{ kind: 'Service', name: 'a', action: 'configured' }]);
    expect((await store.services.get('a'))!.spec.selector).toBe('app=web');
  });

  it('gives up after conflictRetries with a ConflictError that names the object and the attempts', async () => {
    const kv = new InterferingKv(keyOf('ReplicaSet', 'web'), Infinity, readyStatus);
    const store = new ClusterStore(kv);
    await applyManifests(store, parseManifests(text).objects);
    const err = await applyManifests(store, parseManifests(text.replace('replicas: 3', 'replicas: 5')).objects, { conflictRetries: 3 }).catch((e: unknown) => e);
    expect(isConflictError(err)).toBe(true);
    expect(err).toMatchObject({ attempts: 4, key: '/flotilla/v1/replicasets/web' });
    expect((err as Error).message).toMatch(/^"\/flotilla\/v1\/replicasets\/web" was changed by another writer during each of 4 read-modify-write attempts .*try again$/);
    expect(kv.interferences).toBe(4);
    expect((await store.replicaSets.get('web'))!.spec.replicas).toBe(3);
    await expect(applyManifests(store, [], { conflictRetries: -1 })).rejects.toThrow(TypeError);
  });
});

describe('apply progress (issue 12 §6: results used to come only at the end)', () => {
  it('reports each object to onApplied as soon as it is written, in order, then the pruned ones', async () => {
    const kv = new MemoryKvStore({ progressIntervalMs: 0 });
    const store = new ClusterStore(kv);
    await applyManifests(store, parseManifests(`${svc('a')}---\n${svc('old')}`).objects);
    const seen: { change: AppliedChange; stored: string[] }[] = [];
    const names = async (): Promise<string[]> => (await kv.range('/flotilla/v1/')).items.map((i) => i.key.split('/').slice(-2).join('/'));
    // onApplied is synchronous: record what the store holds at that moment, after the call returns
    const pending: Promise<void>[] = [];
    const changes = await applyManifests(store, parseManifests(`${svc('b')}---\n${svc('a')}---\n${svc('c')}`).objects, {
      prune: 'team=a',
      onApplied: (change) => {
        const entry = { change, stored: [] as string[] };
        seen.push(entry);
        pending.push(names().then((n) => void (entry.stored = n)));
      },
    });
    await Promise.all(pending);
    expect(seen.map((s) => s.change)).toEqual(changes);
    expect(changes).toEqual([
      { kind: 'Service', name: 'b', action: 'created' },
      { kind: 'Service', name: 'a', action: 'unchanged' },
      { kind: 'Service', name: 'c', action: 'created' },
      { kind: 'Service', name: 'old', action: 'pruned' },
    ]);
    // when b was reported, b was in the store and c not yet
    expect(seen[0]!.stored).toContain('services/b');
    expect(seen[0]!.stored).not.toContain('services/c');
    expect(seen[3]!.stored).not.toContain('services/old');
  });

  it('an apply that fails half-way has reported what it wrote before the failure', async () => {
    const kv = new MemoryKvStore({ progressIntervalMs: 0 });
    const store = new ClusterStore(kv);
    const original = kv.put.bind(kv);
    kv.put = async (key: string, value: string, options?: WriteOptions): Promise<number> => {
      if (key.endsWith('/c')) throw new Error('store went away');
      return original(key, value, options);
    };
    const reported: string[] = [];
    const err = await applyManifests(store, parseManifests(`${svc('a')}---\n${svc('b')}---\n${svc('c')}`).objects, {
      onApplied: (c) => reported.push(`${c.name} ${c.action}`),
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('store went away');
    expect(reported).toEqual(['a created', 'b created']);
  });

  it('creates ten or more consecutive new objects of one kind in transactions (issue 15: 1,500 replica sets were 1,500 consensus rounds), in order, an existing one configured on its own', async () => {
    const kv = new MemoryKvStore({ progressIntervalMs: 0 });
    const store = new ClusterStore(kv);
    await applyManifests(store, parseManifests(svc('s-60')).objects);
    const txns: number[] = [];
    const txn = kv.txn.bind(kv);
    kv.txn = (compare, ops) => {
      txns.push(ops.filter((o) => o.type === 'put' && o.key.startsWith('/flotilla/v1/services/')).length);
      return txn(compare, ops);
    };
    let puts = 0;
    const put = kv.put.bind(kv);
    kv.put = (key: string, value: string, options?: WriteOptions): Promise<number> => {
      puts++;
      return put(key, value, options);
    };
    const names = Array.from({ length: 121 }, (_, k) => `s-${k}`);
    const changes = await applyManifests(store, parseManifests(names.map((n) => svc(n).replace('app=web', n === 's-60' ? 'app=changed' : 'app=web')).join('---\n')).objects);
    expect(changes.map((c) => `${c.name} ${c.action}`)).toEqual(names.map((n) => `${n} ${n === 's-60' ? 'configured' : 'created'}`));
    // 60 new ones, one existing, 60 new ones: transactions of at most 50 for the runs, one write for s-60
    expect(txns.filter((n) => n > 0).sort((a, b) => b - a)).toEqual([50, 50, 10, 10]);
    expect(puts).toBe(1);
    // a short run (fewer than 10) is written one object at a time, as before
    txns.length = 0;
    await applyManifests(store, parseManifests(['t-1', 't-2', 't-3'].map(svc).join('---\n')).objects);
    expect(txns.filter((n) => n > 0)).toEqual([]);
    expect(puts).toBe(4);
    expect((await store.services.items()).length).toBe(124);
    expect((await store.services.get('s-60'))!.spec.selector).toBe('app=changed');
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
    ['etcd://root:s3cret@127.0.0.1:2379,127.0.0.1:2381', { type: 'etcd', endpoints: ['127.0.0.1:2379', '127.0.0.1:2381'], auth: { username: 'root', password: 's3cret' } }],
    ['etcd://ops%40corp:p%40ss:w@rd@h:1', { type: 'etcd', endpoints: ['h:1'], auth: { username: 'ops@corp', password: 'p@ss:w@rd' } }],
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
  it.each([
    ['etcd://root:hunter2@host', /etcd:\/\/root:\*\*\*@host/],
    ['etcd://root:hunter2@', /expected etcd:\/\/\[user:password@\]host:port/],
    ['etcd://root@h:1', /both the user and the password/],
    ['flotilla://u:hunter2@h:1', /takes no user or password; give its bearer token in a file/],
    ['etcd://u:%E0%A4%A@h:1', /bad percent-encoding/],
  ])('%j: the error never shows the password', (url, message) => {
    let err: unknown;
    try {
      parseStoreUrl(url, '/work/x');
    } catch (e) {
      err = e;
    }
    expect(isClusterError(err) && err.code).toBe('store-url-invalid');
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toMatch(/hunter2|%E0/);
  });
  it('redactStoreUrl hides only the password', () => {
    expect(redactStoreUrl('etcd://root:pw@a:1,b:2')).toBe('etcd://root:***@a:1,b:2');
    expect(redactStoreUrl('etcd://a:1')).toBe('etcd://a:1');
  });
});

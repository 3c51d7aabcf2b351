// Containers in the cluster layer (issue 13): the template's image field, validated with
// file/line/path; apply reads every blob, stores it once beside the artifacts and records the
// digest; the digest is part of the template hash (rolls out, rolls back); a bad image is
// refused before anything is written; instance status and JSON say what runs.
import { buildImage } from '@flotilla/deploy/image';
import { FakeClock } from '@flotilla/reconcile/testing';
import { seededRandom } from '@flotilla/reconcile';
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ClusterControllers,
  ClusterStore,
  MemoryKvStore,
  applyManifests,
  eventsFor,
  isManifestError,
  loadManifests,
  openStoredImage,
  parseManifests,
  rolloutUndo,
  templateHash,
  viewInstances,
  type ImageRef,
  type ManifestError,
} from '../src/index.js';
import { FakeRuntime, type FakeRuntimeOptions } from '../src/testing/index.js';

let dir: string;
let v1: { path: string; digest: string };
let v2: { path: string; digest: string };

async function build(name: string, content: string, options: { platform?: { os: string; architecture: string } } = {}): Promise<{ path: string; digest: string }> {
  const src = join(dir, `${name}-src`);
  await mkdir(join(src, 'www'), { recursive: true });
  await writeFile(join(src, 'www', 'index.html'), content);
  await writeFile(join(src, 'base.txt'), 'the same lower file in every version\n'.repeat(100));
  const out = join(dir, `${name}.oci.tar`);
  const b = await buildImage({ dir: src, out, entrypoint: ['/bin/httpd'], cmd: ['-f'], ...(options.platform ? { platform: options.platform } : {}) });
  return { path: out, digest: b.digest };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flo-images-'));
  v1 = await build('web-v1', 'v1\n');
  v2 = await build('web-v2', 'v2\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A ReplicaSet whose template line `image:` (line 11) and others can be replaced. */
function rs(patch: { image?: string; command?: string; args?: string; artifact?: string; resources?: string; limits?: string; ro?: string; health?: string } = {}): string {
  return [
    'apiVersion: flotilla.dev/v1',
    'kind: ReplicaSet',
    'metadata: {name: web}',
    'spec:',
    '  replicas: 2',
    '  selector: "app=web"',
    '  template:',
    '    metadata: {labels: {app: web}}',
    '    spec:',
    patch.command ?? '',
    patch.image ?? '      image: oci-archive:./web-v1.oci.tar',
    patch.args ?? '',
    patch.artifact ?? '',
    patch.resources ?? '      resources: {cpu: 250m, memory: 64Mi}',
    patch.limits ?? '',
    patch.ro ?? '',
    patch.health ?? '',
    '      ports: [{name: http}]',
  ]
    .filter((l) => l !== '')
    .join('\n');
}

describe('image: in templates, validated with file, line and path', () => {
  it('accepts every transport, {url, digest}, args without command, limits above requests, readOnlyRootFilesystem, and a host containerRuntime', () => {
    for (const image of ['oci-archive:./web.tar', 'oci:./layout', 'oci:./layout:v1', 'docker-archive:./web.tar', 'docker-archive:./web.tar:web:1', './web.oci.tar', '/abs/web.tar', `{url: "https://example.com/web.tar", digest: "sha256:${'a'.repeat(64)}"}`]) {
      const r = parseManifests(rs({ image: `      image: ${image}`, args: '      args: [-p, "8080"]', limits: '      limits: {cpu: 500m, memory: 128Mi}', ro: '      readOnlyRootFilesystem: true' }));
      expect(r.issues, image).toEqual([]);
    }
    const host = parseManifests('apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: h1}\nspec: {address: 127.0.0.1, containerRuntime: /usr/sbin/runc}\n');
    expect(host.issues).toEqual([]);
  });

  // Each row: the change, the path reported, a fragment of the message, the line.
  const table: [string, Parameters<typeof rs>[0], string, string, number][] = [
    ['unknown transport', { image: '      image: docker://busybox' }, 'spec.template.spec.image', 'transport docker: is not supported: flotilla reaches no registry', 10],
    ['made-up transport', { image: '      image: ocii:./web' }, 'spec.template.spec.image', 'unknown transport ocii:; expected oci:DIR[:tag], oci-archive:FILE', 10],
    ['transport without path', { image: '      image: "oci-archive:"' }, 'spec.template.spec.image', 'oci-archive: needs a path', 10],
    ['empty image', { image: '      image: ""' }, 'spec.template.spec.image', 'must not be empty', 10],
    ['bad digest', { image: '      image: {url: "https://x/web.tar", digest: "sha256:abc"}' }, 'spec.template.spec.image.digest', 'is not an image digest: expected sha256: and 64 lowercase hex digits', 10],
    ['digest without algorithm', { image: `      image: {url: "https://x/web.tar", digest: "${'a'.repeat(64)}"}` }, 'spec.template.spec.image.digest', 'is not an image digest', 10],
    ['url not http', { image: `      image: {url: "ftp://x/web.tar", digest: "sha256:${'a'.repeat(64)}"}` }, 'spec.template.spec.image.url', 'must be an http(s) URL', 10],
    ['image field unknown', { image: `      image: {url: "https://x/w", digest: "sha256:${'a'.repeat(64)}", tag: v1}` }, 'spec.template.spec.image.tag', 'unknown field', 10],
    ['artifact and image', { artifact: '      artifact: ./web.tar.gz' }, 'spec.template.spec.image', 'set either artifact (a process) or image (a container), not both', 10],
    ['command without image', { image: '      env: {A: b}' }, 'spec.template.spec.command', 'is required (or set image: to run a container', 9],
    ['empty command with image', { command: '      command: []' }, 'spec.template.spec.command', "leave it out to run the image's Entrypoint and Cmd", 10],
    ['args item', { args: '      args: [-p, 8080]' }, 'spec.template.spec.args[1]', 'must be a string', 11],
    ['memory limit below request', { limits: '      limits: {memory: 32Mi}' }, 'spec.template.spec.limits.memory', '"32Mi" is below the request spec.template.spec.resources.memory ("64Mi"): a limit must be at least its request', 12],
    ['cpu limit below request', { limits: '      limits: {cpu: 100m}' }, 'spec.template.spec.limits.cpu', 'is below the request spec.template.spec.resources.cpu', 12],
    ['limit one byte below', { limits: '      limits: {memory: 67108863}' }, 'spec.template.spec.limits.memory', 'is below the request', 12],
    ['limit not a quantity', { limits: '      limits: {memory: lots}' }, 'spec.template.spec.limits.memory', '"lots" is not a quantity', 12],
    ['limit of other resource', { limits: '      limits: {gpu: 1}' }, 'spec.template.spec.limits.gpu', 'unknown field (expected one of: cpu, memory)', 12],
    ['limits on a process', { image: '      command: [node, app.js]', limits: '      limits: {memory: 128Mi}' }, 'spec.template.spec.limits', 'applies to containers only', 12],
    ['readOnlyRootFilesystem on a process', { image: '      command: [node, app.js]', ro: '      readOnlyRootFilesystem: true' }, 'spec.template.spec.readOnlyRootFilesystem', 'applies to containers only', 12],
    ['readOnlyRootFilesystem not bool', { ro: '      readOnlyRootFilesystem: yes please' }, 'spec.template.spec.readOnlyRootFilesystem', 'must be true or false', 12],
  ];

  it.each(table)('%s', (_name, patch, path, fragment, line) => {
    const r = parseManifests(rs(patch), { file: 'web.yaml' });
    expect(r.objects).toEqual([]);
    const issue = r.issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(r.issues)).toBeDefined();
    expect(issue!.message).toContain(fragment);
    expect(issue!.file).toBe('web.yaml');
    expect(issue!.line).toBe(line);
  });

  it('a replica set of containers has a name of at most 57 characters (its instances name containers and hostnames, 63 at most)', () => {
    const r = parseManifests(rs().replace('name: web}', `name: ${'w'.repeat(58)}}`).replace('selector: "app=web"', 'selector: "app=web"'), { file: 'web.yaml' });
    expect(r.issues).toMatchObject([{ path: 'metadata.name', line: 3, file: 'web.yaml' }]);
    expect(r.issues[0]!.message).toContain('is 58 characters; a replica set that runs containers may have at most 57');
    expect(parseManifests(rs({ image: '      command: [node, app.js]' }).replace('name: web}', `name: ${'w'.repeat(58)}}`)).issues).toEqual([]);
    expect(parseManifests(rs().replace('name: web}', `name: ${'w'.repeat(57)}}`)).issues).toEqual([]);
  });

  it('a host containerRuntime with spaces is refused', () => {
    const r = parseManifests('apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: h1}\nspec:\n  address: 127.0.0.1\n  containerRuntime: "runc --debug"\n', { file: 'hosts.yaml' });
    expect(r.issues).toMatchObject([{ path: 'spec.containerRuntime', line: 6, file: 'hosts.yaml' }]);
    expect(r.issues[0]!.message).toContain('is not a program');
  });
});

async function newStore(): Promise<{ store: ClusterStore; artifacts: string; kv: MemoryKvStore }> {
  const artifacts = await mkdtemp(join(dir, 'artifacts-'));
  const kv = new MemoryKvStore({ progressIntervalMs: 0 });
  return { store: new ClusterStore(kv, { artifactDir: artifacts }), artifacts, kv };
}

async function applyText(store: ClusterStore, text: string, file = join(dir, 'web.yaml')) {
  const objects = loadManifests([{ file, text }]);
  return applyManifests(store, objects, { baseDirs: objects.map(() => dir) });
}

async function applyError(store: ClusterStore, text: string): Promise<ManifestError> {
  let error: unknown;
  try {
    await applyText(store, text);
  } catch (e) {
    error = e;
  }
  expect(isManifestError(error), String(error)).toBe(true);
  return error as ManifestError;
}

async function blobFiles(artifacts: string): Promise<Map<string, number>> {
  const d = join(artifacts, 'images', 'blobs', 'sha256');
  const out = new Map<string, number>();
  for (const f of await readdir(d)) out.set(f, (await stat(join(d, f))).ino);
  return out;
}

describe('apply with images', () => {
  it('reads every blob, stores the blobs once beside the artifacts, copies the signature, records {ref, digest, store}', async () => {
    const { store, artifacts, kv } = await newStore();
    await writeFile(`${v1.path}.sig`, 'not checked here: the host checks it\n');
    try {
      expect(await applyText(store, rs())).toEqual([{ kind: 'ReplicaSet', name: 'web', action: 'created' }]);
      const image = (await store.replicaSets.get('web'))!.spec.template.spec.image as ImageRef;
      expect(image).toEqual({ ref: `oci-archive:${v1.path}`, digest: v1.digest, store: join(artifacts, 'images') });
      const blobs = await blobFiles(artifacts);
      expect(blobs.size).toBe(3); // manifest, config, one layer
      expect([...blobs.keys()]).toContain(v1.digest.slice(7));
      expect(await readFile(join(artifacts, 'images', 'signatures', `${v1.digest.slice(7)}.sig`), 'utf8')).toContain('not checked here');
      // the image can be rebuilt from the store by its digest alone
      const handle = await openStoredImage(image);
      expect(handle.image.digest).toBe(v1.digest);
      expect(handle.image.config.config?.Entrypoint).toEqual(['/bin/httpd']);
      expect(handle.signature).toBe(join(artifacts, 'images', 'signatures', `${v1.digest.slice(7)}.sig`));
      // a second apply reads and hashes again, writes no blob again, changes nothing
      expect(await applyText(store, rs())).toEqual([{ kind: 'ReplicaSet', name: 'web', action: 'unchanged' }]);
      expect(await blobFiles(artifacts)).toEqual(blobs);
      // v2 shares nothing but is stored beside v1; both stay until collected
      await applyText(store, rs({ image: '      image: ./web-v2.oci.tar' }));
      expect(((await store.replicaSets.get('web'))!.spec.template.spec.image as ImageRef).digest).toBe(v2.digest);
      expect((await blobFiles(artifacts)).size).toBe(6);
    } finally {
      await rm(`${v1.path}.sig`, { force: true });
      await kv.close();
    }
  });

  it('the manifest digest is part of the template hash: a new image version changes it, the same one does not', async () => {
    const { store, kv } = await newStore();
    try {
      await applyText(store, rs());
      const h1 = templateHash((await store.replicaSets.get('web'))!.spec.template);
      await applyText(store, rs());
      expect(templateHash((await store.replicaSets.get('web'))!.spec.template)).toBe(h1);
      // the same path, rebuilt with other content: a new digest, a new hash
      const same = join(dir, 'rebuilt.oci.tar');
      await writeFile(same, await readFile(v1.path));
      await applyText(store, rs({ image: '      image: oci-archive:./rebuilt.oci.tar' }));
      const hA = templateHash((await store.replicaSets.get('web'))!.spec.template);
      await writeFile(same, await readFile(v2.path));
      await applyText(store, rs({ image: '      image: oci-archive:./rebuilt.oci.tar' }));
      const hB = templateHash((await store.replicaSets.get('web'))!.spec.template);
      expect(hB).not.toBe(hA);
    } finally {
      await kv.close();
    }
  });

  it('refuses a bad image with file, line and path, before anything is written (the running version stays)', async () => {
    const { store, artifacts, kv } = await newStore();
    try {
      await applyText(store, rs());
      const before = await store.replicaSets.get('web');
      // a tampered image: v2 as a layout directory, one byte of its layer flipped
      const tampered = join(dir, 'tampered');
      await mkdir(tampered, { recursive: true });
      execFileSync('tar', ['-xf', v2.path, '-C', tampered]);
      const blobsDir = join(tampered, 'blobs', 'sha256');
      const index = JSON.parse(await readFile(join(tampered, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      const manifest = JSON.parse(await readFile(join(blobsDir, index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
      const layer = manifest.layers[0]!.digest.slice(7);
      const bytes = await readFile(join(blobsDir, layer));
      bytes[100] = bytes[100]! ^ 0xff;
      await writeFile(join(blobsDir, layer), bytes);
      const arm = await build('web-s390x', 'other arch\n', { platform: { os: 'linux', architecture: 's390x' } });
      const text = [
        rs({ image: '      image: oci:./tampered' }),
        '---',
        rs({ image: '      image: oci-archive:./missing.oci.tar' }).replace('name: web}', 'name: web-missing}'),
        '---',
        rs({ image: `      image: oci-archive:./${arm.path.split('/').pop()!}` }).replace('name: web}', 'name: web-s390x}'),
      ].join('\n');
      const error = await applyError(store, text);
      expect(error.issues).toHaveLength(3);
      const [a, b, c] = error.issues;
      expect(a).toMatchObject({ file: join(dir, 'web.yaml'), line: 10, path: 'spec.template.spec.image', document: 0 });
      expect(a!.message).toBe(`blob sha256:${layer} of oci:./tampered hashes to ${/hashes to (sha256:[0-9a-f]{64})/.exec(a!.message)?.[1]} (tampered or corrupt); refusing it`);
      expect(b).toMatchObject({ line: 23, path: 'spec.template.spec.image', document: 1 });
      expect(b!.message).toContain('missing.oci.tar does not exist');
      expect(c).toMatchObject({ line: 36, path: 'spec.template.spec.image', document: 2 });
      expect(c!.message).toMatch(/is for linux\/s390x; this machine needs linux\//);
      expect(error.message).toContain(`${join(dir, 'web.yaml')}:10:`);
      // nothing was written
      expect(await store.replicaSets.get('web')).toEqual(before);
      expect(await store.replicaSets.get('web-missing')).toBeUndefined();
      // the tampered layer never became a blob
      expect((await blobFiles(artifacts)).has(layer)).toBe(false);
    } finally {
      await kv.close();
    }
  });

  it('a dry run reads and checks the image and writes no blob', async () => {
    const { store, artifacts, kv } = await newStore();
    try {
      const objects = loadManifests([{ file: 'web.yaml', text: rs() }]);
      expect(await applyManifests(store, objects, { baseDirs: [dir], dryRun: true })).toEqual([{ kind: 'ReplicaSet', name: 'web', action: 'created' }]);
      await expect(stat(join(artifacts, 'images'))).rejects.toThrow(/ENOENT/);
      await applyText(store, rs());
      expect(await applyManifests(store, objects, { baseDirs: [dir], dryRun: true })).toEqual([{ kind: 'ReplicaSet', name: 'web', action: 'unchanged' }]);
    } finally {
      await kv.close();
    }
  });

  it('{url, digest}: apply (the operator) fetches the archive, refuses another digest; the runtime needs no URL after', async () => {
    const { createServer } = await import('node:http');
    const archive = await readFile(v1.path);
    const requests: string[] = [];
    const server = createServer((req, res) => {
      requests.push(req.url ?? '');
      if (req.url === '/web.tar') res.end(archive);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const { store, artifacts, kv } = await newStore();
    try {
      await applyText(store, rs({ image: `      image: {url: "http://127.0.0.1:${port}/web.tar", digest: "${v1.digest}"}` }));
      expect((await store.replicaSets.get('web'))!.spec.template.spec.image).toEqual({ url: `http://127.0.0.1:${port}/web.tar`, digest: v1.digest, store: join(artifacts, 'images') });
      expect((await blobFiles(artifacts)).size).toBe(3);
      expect(requests).toEqual(['/web.tar', '/web.tar.sig']);
      // What a host is sent comes from apply's store, by digest: the server is not asked again.
      const recorded = (await store.replicaSets.get('web'))!.spec.template.spec.image;
      const handle = await openStoredImage(recorded as Parameters<typeof openStoredImage>[0]);
      expect(handle.image.digest).toBe(v1.digest);
      expect(requests).toHaveLength(2);
      const error = await applyError(store, rs({ image: `      image: {url: "http://127.0.0.1:${port}/web.tar", digest: "${v2.digest}"}` }));
      expect(error.issues[0]).toMatchObject({ line: 10, path: 'spec.template.spec.image' });
      expect(error.issues[0]!.message).toContain(`has manifest digest ${v1.digest}, not ${v2.digest}`);
      const gone = await applyError(store, rs({ image: `      image: {url: "http://127.0.0.1:${port}/nothing.tar", digest: "${v2.digest}"}` }));
      expect(gone.issues[0]!.message).toContain('cannot be fetched: HTTP 404');
    } finally {
      server.close();
      await kv.close();
    }
  });
});

// ------------------------------------------------------------- controllers, fake runtime

interface Cluster {
  store: ClusterStore;
  runtime: FakeRuntime;
  clock: FakeClock;
  stop(): Promise<void>;
  until(what: string, cond: () => Promise<boolean>): Promise<void>;
}

async function startCluster(runtimeOptions: FakeRuntimeOptions = {}): Promise<Cluster> {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const kv = new MemoryKvStore({ progressIntervalMs: 0 });
  const artifacts = await mkdtemp(join(dir, 'artifacts-'));
  const store = new ClusterStore(kv, { now: () => new Date(clock.now()), artifactDir: artifacts });
  const runtime = new FakeRuntime(runtimeOptions);
  const controllers = new ClusterControllers({ store, runtime, clock, random: seededRandom(7), hostProbeIntervalMs: 1000, hostGracePeriodMs: 5000, progressDeadlineMs: 20_000, retryUnschedulableMs: 1000 });
  const abort = new AbortController();
  const running = controllers.run(abort.signal);
  await applyText(store, ['h1', 'h2'].map((h, i) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${h}}\nspec: {address: 127.0.0.${21 + i}, capacity: {cpu: 4, memory: 4Gi}}\n`).join('---\n'));
  return {
    store,
    runtime,
    clock,
    async stop() {
      abort.abort();
      for (let i = 0; i < 50; i++) await clock.advanceAsync(1000);
      await running;
      await kv.close();
    },
    async until(what, cond) {
      for (let t = 0; t < 200_000; t += 250) {
        if (await cond()) return;
        await clock.advanceAsync(250);
      }
      throw new Error(`timed out waiting for ${what}`);
    },
  };
}

async function readyWith(c: Cluster, digest: string, replicas = 2): Promise<boolean> {
  const live = (await c.store.instances.items()).filter((i) => i.metadata.deletionTimestamp === undefined);
  return live.length === replicas && live.every((i) => i.status?.ready === true && i.status.imageDigest === digest) && c.runtime.running().length === replicas;
}

describe('containers under the controllers (FakeRuntime)', () => {
  let c: Cluster | undefined;
  afterEach(async () => {
    await c?.stop();
    c = undefined;
  });

  it('converges, rolls out a new image version with the rolling update, and rolls back with rollout undo', async () => {
    c = await startCluster();
    await applyText(c.store, rs());
    await c.until('v1 running', () => readyWith(c!, v1.digest));
    expect(c.runtime.running().every((p) => p.imageDigest === v1.digest && !p.rootless)).toBe(true);
    const [first] = await viewInstances(c.store);
    expect(first).toMatchObject({ runtime: 'oci', image: `oci-archive:${v1.path}`, imageDigest: v1.digest, conditions: [{ type: 'LimitsEnforced', status: 'True' }] });
    await applyText(c.store, rs({ image: '      image: oci-archive:./web-v2.oci.tar' }));
    await c.until('v2 running', () => readyWith(c!, v2.digest));
    const set = (await c.store.replicaSets.get('web'))!;
    expect(set.status?.rollout?.state).toBe('Complete');
    await rolloutUndo(c.store, 'web');
    await c.until('back on v1', () => readyWith(c!, v1.digest));
  });

  it('a host that refuses the new image (unsigned, tampered) keeps the running version and the rollout rolls back', async () => {
    c = await startCluster({ refuseImage: (_h, d) => (d === v2.digest ? 'bad signature' : undefined) });
    await applyText(c.store, rs().replace('  selector: "app=web"', '  selector: "app=web"\n  updateStrategy: {maxUnavailable: 0, maxSurge: 1}'));
    await c.until('v1 running', () => readyWith(c!, v1.digest));
    const v1Names = (await c.store.instances.items()).map((i) => i.metadata.name).sort();
    const noUnavailable = (text: string): string => text.replace('  selector: "app=web"', '  selector: "app=web"\n  updateStrategy: {maxUnavailable: 0, maxSurge: 1}');
    await applyText(c.store, noUnavailable(rs({ image: '      image: oci-archive:./web-v2.oci.tar' })));
    await c.until('rolled back', async () => (await c!.store.replicaSets.get('web'))?.status?.rollout?.state === 'RolledBack' && readyWith(c!, v1.digest));
    const live = (await c.store.instances.items()).filter((i) => i.metadata.deletionTimestamp === undefined);
    expect(live.map((i) => i.metadata.name).sort()).toEqual(v1Names);
    const failed = (await c.store.events.items()).filter((e) => e.reason === 'FailedStart');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0]!.message).toContain('refused image');
  });

  it('rootless hosts: LimitsEnforced False with a reason, and one LimitsNotEnforced event per instance', async () => {
    c = await startCluster({ rootless: (h) => h.metadata.name === 'h2', signedBy: () => 'alice@example.com' });
    await applyText(c.store, rs({ health: '      healthCheck: {exec: [/bin/true], periodSeconds: 1}' }));
    await c.until('running', () => readyWith(c!, v1.digest));
    for (let i = 0; i < 10; i++) await c.clock.advanceAsync(1000);
    const views = await viewInstances(c.store);
    const onH2 = views.find((v) => v.host === 'h2')!;
    const onH1 = views.find((v) => v.host === 'h1')!;
    expect(onH2.conditions).toEqual([{ type: 'LimitsEnforced', status: 'False', reason: 'Rootless', message: expect.stringContaining('rootless') as string }]);
    expect(onH1.conditions).toEqual([{ type: 'LimitsEnforced', status: 'True' }]);
    expect(onH2.signedBy).toBe('alice@example.com');
    const events = await eventsFor(c.store, 'Instance', onH2.name);
    expect(events.filter((e) => e.reason === 'LimitsNotEnforced')).toHaveLength(1);
    expect((await eventsFor(c.store, 'Instance', onH1.name)).filter((e) => e.reason === 'LimitsNotEnforced')).toHaveLength(0);
    // exec health checks ran inside the container
    expect(c.runtime.running().every((p) => (p.execs ?? []).some((x) => x[0] === '/bin/true'))).toBe(true);
    // Adoption: a controller that stopped after starting the container but before recording it
    // leaves the instance Pending; the next start adopts the running container and says nothing twice.
    const pid = onH2.pid;
    await c.store.instances.mutate(onH2.name, (cur) => {
      cur.status = { phase: 'Pending', ready: false, ports: {}, restarts: 0 };
      return cur;
    });
    await c.until('adopted', async () => {
      const i = await c!.store.instances.get(onH2.name);
      return i?.status?.phase === 'Running' && i.status.pid === pid;
    });
    expect(c.runtime.calls.filter((x) => x === `start h2 ${onH2.name}`)).toHaveLength(2);
    expect((await eventsFor(c.store, 'Instance', onH2.name)).filter((e) => e.reason === 'LimitsNotEnforced')).toHaveLength(1);
  });

  it('an OOM kill shows reason OOMKilled in the status and a Warning event; the container is restarted', async () => {
    c = await startCluster();
    await applyText(c.store, rs({ limits: '      limits: {memory: 128Mi}' }));
    await c.until('running', () => readyWith(c!, v1.digest));
    const victim = c.runtime.running()[0]!;
    c.runtime.oomKill(victim.name);
    await c.until('OOMKilled seen', async () => (await c!.store.instances.get(victim.name))?.status?.reason === 'OOMKilled');
    const view = (await viewInstances(c.store)).find((v) => v.name === victim.name)!;
    expect(view).toMatchObject({ reason: 'OOMKilled', restarts: 1, phase: 'Running' });
    const oom = (await eventsFor(c.store, 'Instance', victim.name)).filter((e) => e.reason === 'OOMKilled');
    expect(oom).toHaveLength(1);
    expect(oom[0]).toMatchObject({ type: 'Warning' });
    expect(oom[0]!.message).toContain('memory limit 128Mi');
  });

  it('process instances say runtime "process" and carry no image fields', async () => {
    c = await startCluster();
    await applyText(c.store, rs({ image: '      command: [node, app.js]' }));
    await c.until('running', () => Promise.resolve(c!.runtime.running().length === 2));
    const views = await viewInstances(c.store);
    expect(views.every((v) => v.runtime === 'process' && !('image' in v) && !('imageDigest' in v) && !('conditions' in v))).toBe(true);
  });
});


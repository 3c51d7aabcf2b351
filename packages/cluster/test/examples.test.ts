// The guides' code (issue 17): each guide under docs/guides shows regions of example files, and
// must show them exactly; the embedding example (examples/backup-controller.ts) runs here
// against a real etcd and a real 3-member Flotilla Raft KV, as the guide says it does.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@flotilla/raft/testing';
import { docExampleProblems, docExamples, writeDocExamples } from './doc-examples.js';
import { tour } from '../examples/api-tour.js';
import { BackupKind, main, scheduleBackup, type Backup } from '../examples/backup-controller.js';
import { isManifestError, openStore } from '../src/index.js';
import { writeSampleArtifact } from '../src/demo/index.js';
import { etcdUnavailable, startEtcd, type EtcdServer } from './etcd-server.js';
import { startRaftKvCluster, type RaftKvCluster } from './raft-kv-cluster.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const guides = readdirSync(join(root, 'docs', 'guides'))
  .filter((f) => f.endsWith('.md'))
  .map((f) => `docs/guides/${f}`);
/** Every Markdown file of the repository that shows an example file (the guides, READMEs). */
const withExamples = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.md'], { cwd: root, encoding: 'utf8' })
  .split('\n')
  .filter((f) => f !== '' && docExamples(readFileSync(join(root, f), 'utf8')).length > 0);

describe('guides show their examples exactly', () => {
  it('there are guides, each with example blocks', () => {
    expect(guides.length).toBeGreaterThanOrEqual(3);
    for (const g of guides) expect(docExamples(writeDocExamples(root, g)).length, g).toBeGreaterThan(0);
  });

  it.each(withExamples)('%s', (file) => {
    expect(docExampleProblems(root, file)).toEqual([]);
  });

  it('the cluster README shows the kind of the embedding example', () => {
    expect(withExamples).toEqual(expect.arrayContaining([...guides, 'packages/cluster/README.md']));
  });

  it('a guide whose block differs from its example is reported, with the line and the fix', () => {
    const guide = 'docs/guides/embed-a-reconcile-loop.md';
    const text = writeDocExamples(root, guide).replace("plural: 'backups',", "plural: 'backup',");
    expect(docExampleProblems(root, guide, text)).toEqual([
      expect.stringMatching(/^docs\/guides\/embed-a-reconcile-loop\.md:\d+: the block differs from packages\/cluster\/examples\/backup-controller\.ts#kind at its line 14: guide " {2}plural: 'backup', \/\/ keys/),
    ]);
    expect(docExampleProblems(root, guide, text.replace('#reconciler -->', '#nosuch -->'))).toContainEqual(expect.stringContaining('has no region nosuch'));
  });
});

/** Runs the guide's program against a store URL: two backups run once each, a bad one is refused. */
async function runGuideProgram(url: string): Promise<void> {
  const stop = new AbortController();
  const runs: string[] = [];
  const running = main(url, {
    signal: stop.signal,
    identity: 'examples-test',
    runBackup: (backup) => {
      runs.push(backup.metadata.name);
      return Promise.resolve();
    },
  });
  try {
    await scheduleBackup(url, 'nightly', 'orders', 1);
    await scheduleBackup(url, 'hourly', 'users', 60);
    const refused = await scheduleBackup(url, 'broken', 'orders', 0).catch((e: unknown) => e);
    expect(isManifestError(refused) && refused.issues.map((i) => `${i.path}: ${i.message}`)).toEqual(['spec.everyMinutes: must be a whole number of minutes >= 1, not 0']);
    const store = await openStore(url);
    try {
      const backups = store.register(BackupKind);
      const deadline = Date.now() + 60_000;
      let items: Backup[] = [];
      while (Date.now() < deadline) {
        items = await backups.items();
        if (items.length === 2 && items.every((b) => b.status?.runs === 1)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(items.map((b) => [b.metadata.name, b.status?.runs, b.status?.observedGeneration])).toEqual([
        ['hourly', 1, 1],
        ['nightly', 1, 1],
      ]);
      expect(await store.kv.get('/flotilla/example.com/v1/backups/nightly')).toBeDefined();
      expect((await store.leases.get('/flotilla/example.com/v1/leases/backup-controller'))?.object.holderIdentity).toBe('examples-test');
    } finally {
      await store.close();
    }
    expect(runs.sort()).toEqual(['hourly', 'nightly']);
  } finally {
    stop.abort();
    await running;
  }
}

describe('examples/backup-controller.ts (docs/guides/embed-a-reconcile-loop.md)', () => {
  const skipEtcd = etcdUnavailable();
  let etcd: EtcdServer | undefined;
  let raft: RaftKvCluster | undefined;
  beforeAll(async () => {
    raft = await startRaftKvCluster();
    if (!skipEtcd) etcd = await startEtcd(await freePort(), await freePort());
  }, 120_000);
  afterAll(async () => {
    await etcd?.stop();
    await raft?.stop();
  });

  it('runs against the Flotilla Raft KV (flotilla://)', async () => {
    await runGuideProgram(`flotilla://${raft!.endpoints.map((e) => e.replace(/^http:\/\//, '')).join(',')}`);
  }, 120_000);

  it.skipIf(skipEtcd !== undefined)('runs against etcd (etcd://)', async () => {
    await runGuideProgram(`etcd://${etcd!.endpoint}`);
  }, 120_000);
});

describe("examples/api-tour.ts (the cluster README's API example)", () => {
  it('applies, converges on a local host with real processes, lists, and deletes everything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-api-tour-'));
    try {
      await writeSampleArtifact(dir);
      writeFileSync(
        join(dir, 'app.yaml'),
        `apiVersion: flotilla.dev/v1
kind: Host
metadata: {name: here}
spec: {local: {dir: ${join(dir, 'host')}}, capacity: {cpu: 2, memory: 1Gi}}
---
apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 2
  selector: "app=web"
  template:
    metadata: {labels: {app: web}}
    spec:
      artifact: ./sample-app.tar.gz
      command: [node, server.js]
      ports: [{name: http}]
      healthCheck: {http: {path: /healthz, port: http}, periodSeconds: 1}
      terminationGracePeriodSeconds: 2
`,
      );
      const instances = await tour(dir);
      expect(instances.map((i) => [i.replicaSet, i.host, i.phase, i.ready])).toEqual([
        ['web', 'here', 'Running', true],
        ['web', 'here', 'Running', true],
      ]);
      for (const i of instances) expect(() => process.kill(i.pid!, 0), `instance ${i.name} (pid ${i.pid}) was stopped`).toThrow();
      const store = await openStore(undefined, { cwd: dir });
      try {
        expect([await store.hosts.items(), await store.replicaSets.items(), await store.instances.items()]).toEqual([[], [], []]);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});

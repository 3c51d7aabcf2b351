// The cluster flows through the built `flo` on local-transport hosts (real processes).
import { rmSync } from 'node:fs';
import path from 'node:path';
import { writeSampleArtifact } from '@flotilla/cluster/demo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appYaml, makeFlo, processOf, until, write, type Flo, type InstanceJson } from './cluster-harness.js';

const hostsYaml = (dir: string): string =>
  Array.from(
    { length: 6 },
    (_, i) => `apiVersion: flotilla.dev/v1
kind: Host
metadata: {name: l${i + 1}, labels: {zone: ${i % 2 ? 'b' : 'a'}}}
spec: {local: {dir: ${path.join(dir, `hosts/l${i + 1}`)}}, capacity: {cpu: 2, memory: 2Gi}}
---
`,
  ).join('');

let flo: Flo;
const instances = (): InstanceJson[] => flo.json<{ items: InstanceJson[] }>(['get', 'instances']).items;
const live = (): InstanceJson[] => instances().filter((i) => i.phase !== 'Terminating');

beforeAll(async () => {
  flo = makeFlo();
  await writeSampleArtifact(flo.dir);
});
afterAll(async () => {
  await flo.stopController();
  try {
    flo.run(['delete', 'replicaset/web']);
  } catch {
    // already gone
  }
  rmSync(flo.dir, { recursive: true, force: true });
});

describe('flo apply/get/scale/delete on local hosts', () => {
  it('apply --wait places 5 replicas over 6 hosts; every pid is a real `node server.js` process', () => {
    write(flo.dir, 'app.yaml', hostsYaml(flo.dir) + appYaml({ replicas: 5, artifact: './sample-app.tar.gz' }));
    const out = flo.run(['apply', '-f', 'app.yaml', '--wait']);
    expect(out.stdout).toContain('replicaset/web created');
    const items = instances();
    expect(items).toHaveLength(5);
    expect(new Set(items.map((i) => i.host)).size).toBe(5); // spread
    for (const i of items) {
      expect(i).toMatchObject({ replicaSet: 'web', phase: 'Running', ready: true, restarts: 0, address: '127.0.0.1' });
      expect(processOf(i.pid!)?.args).toBe('node server.js');
    }
    const rs = flo.json<{ items: { name: string; replicas: number; readyReplicas: number }[] }>(['get', 'replicasets']).items;
    expect(rs).toEqual([{ name: 'web', labels: { app: 'web' }, selector: 'app=web', replicas: 5, readyReplicas: 5, observedGeneration: 1 }]);
  });

  it('instances outlive flo; flo controller heals a SIGKILLed instance (new pid, restarts counted)', async () => {
    flo.startController();
    const victim = live()[0]!;
    process.kill(victim.pid!, 'SIGKILL');
    const healed = await until('healed', () => {
      const cur = live().find((i) => i.name === victim.name);
      return cur?.ready && cur.pid !== victim.pid && cur.restarts >= 1 ? cur : undefined;
    });
    expect(processOf(healed.pid!)?.args).toBe('node server.js');
    const describe = flo.run(['describe', `instance/${victim.name}`]).stdout;
    expect(describe).toMatch(/Restarted/);
  });

  it('scales up and down', async () => {
    flo.run(['scale', 'replicaset/web', '--replicas', '8', '--wait']);
    expect(live().filter((i) => i.ready)).toHaveLength(8);
    const before = live();
    flo.run(['scale', 'replicaset/web', '--replicas', '3', '--wait']);
    const after = live();
    expect(after).toHaveLength(3);
    const gone = before.filter((b) => !after.some((a) => a.name === b.name));
    await until('stopped processes', () => gone.every((g) => processOf(g.pid!) === undefined));
    const svc = flo.json<{ items: { endpoints: { port: number }[] }[] }>(['get', 'services']).items[0]!;
    await until('3 endpoints', () => flo.json<{ items: { endpoints: unknown[] }[] }>(['get', 'services']).items[0]!.endpoints.length === 3);
    expect(svc).toBeDefined();
  });

  it('a rolling update whose health check fails is rolled back', async () => {
    write(flo.dir, 'bad.yaml', appYaml({ replicas: 3, artifact: './sample-app.tar.gz', env: { GREETING: 'hello', FAIL_HEALTH: '1' } }));
    flo.run(['apply', '-f', 'bad.yaml']);
    await until(
      'rolled back',
      () => flo.run(['describe', 'replicaset/web']).stdout.includes('RolledBack') && live().every((i) => i.ready) && live().length === 3,
      150_000,
    );
    const events = flo.run(['describe', 'replicaset/web']).stdout;
    expect(events).toMatch(/RolledBack .*rolling back to/);
    const all = live();
    for (const i of all) expect(processOf(i.pid!)?.args).toBe('node server.js');
  });

  it('reports invalid manifests with file, line and path, changing nothing', () => {
    write(flo.dir, 'broken.yaml', appYaml({ replicas: 3, artifact: './sample-app.tar.gz' }).replace('cpu: 250m', 'cpu: lots'));
    const r = flo.run(['apply', '-f', 'broken.yaml'], 1);
    expect(r.stderr).toMatch(/broken\.yaml:\d+:\d+: spec\.template\.spec\.resources\.cpu: "lots" is not a quantity/);
  });

  it('several flo controller processes: one leads; another takes over when it stops (--leader-identity, and the deprecated --identity ID)', async () => {
    await flo.stopController();
    const { spawn } = await import('node:child_process');
    const { floArgv } = await import('./cluster-harness.js');
    const start = (id: string, flag = '--leader-identity') => {
      const p = spawn(process.execPath, [...floArgv(), 'controller', flag, id, '--store', `file://${flo.dir}/store`], { cwd: flo.dir, stdio: ['ignore', 'ignore', 'pipe'] });
      const out = { p, text: '' };
      p.stderr.on('data', (d: Buffer) => (out.text += d.toString()));
      return out;
    };
    const a = start('ctl-a');
    const b = start('ctl-b', '--identity');
    try {
      await until('the deprecation warning of --identity ID', () => b.text.includes('flo: warning: --identity ctl-b is not a file: taken as the leader-election identity') && b.text.includes('use --leader-identity ctl-b'));
      const first = await until('a leader', () => (a.text.includes('ctl-a: leading') ? a : b.text.includes('ctl-b: leading') ? b : undefined));
      const other = first === a ? b : a;
      await new Promise((r) => setTimeout(r, 3000));
      expect(other.text).not.toMatch(/: leading/);
      const exited = new Promise((r) => first.p.once('exit', r));
      process.kill(first.p.pid!, 'SIGTERM'); // releases the lease on the way out
      await exited;
      await until('takeover', () => other.text.includes(': leading'), 60_000);
    } finally {
      for (const x of [a, b]) if (x.p.exitCode === null) {
        const gone = new Promise((r) => x.p.once('exit', r));
        process.kill(x.p.pid!, 'SIGTERM');
        await gone;
      }
    }
  });

  it('delete stops every instance', async () => {
    await flo.stopController();
    const pids = live().map((i) => i.pid!);
    flo.run(['delete', 'replicaset/web']);
    expect(instances()).toEqual([]);
    for (const p of pids) expect(processOf(p)).toBeUndefined();
  });
});

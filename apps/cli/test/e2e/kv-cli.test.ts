import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FloCluster, floCommand, freePortRange, freePorts, runFlo, until } from './kv-harness.js';

describe('flo kv … against a running cluster, and backups with flo server --restore', () => {
  const cluster = new FloCluster();
  const restored = new FloCluster();
  let ep: string;
  beforeAll(async () => {
    await cluster.start(3);
    ep = cluster.urls().join(',');
  });
  afterAll(async () => {
    await cluster.stop();
    await restored.stop();
  });

  it('put, get, get --prefix, del, compare-and-set, txn, members', async () => {
    expect(await runFlo(['kv', 'put', 'app/a', 'one', '--endpoints', ep])).toMatchObject({ code: 0, stdout: '2\n' });
    expect(await runFlo(['kv', 'put', 'app/b', 'two', '--endpoints', ep])).toMatchObject({ code: 0, stdout: '3\n' });
    expect(await runFlo(['kv', 'get', 'app/a', '--endpoints', ep])).toMatchObject({ code: 0, stdout: 'one\n' });
    const json = await runFlo(['kv', 'get', 'app/a', '-o', 'json', '--endpoints', ep]);
    expect(JSON.parse(json.stdout)).toEqual({ key: 'app/a', value: 'one', createRevision: 2, modRevision: 2, version: 1 });
    const list = await runFlo(['kv', 'get', '--prefix', 'app/', '-o', 'json', '--endpoints', ep]);
    expect((JSON.parse(list.stdout) as { key: string }[]).map((i) => i.key)).toEqual(['app/a', 'app/b']);
    const conflict = await runFlo(['kv', 'put', 'app/a', 'x', '--prev-revision', '0', '--endpoints', ep]);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(/modRevision 2/);
    const txn = await runFlo(['kv', 'txn', '-o', 'json', '--endpoints', ep], {
      input: JSON.stringify({ compare: [{ key: 'app/a', modRevision: 2 }], success: [{ put: { key: 'app/c', value: 'three' } }, { get: { key: 'app/b' } }] }),
    });
    expect(txn.code).toBe(0);
    expect(JSON.parse(txn.stdout)).toMatchObject({ succeeded: true, revision: 4, results: [{ put: { revision: 4 } }, { get: { value: 'two' } }] });
    expect(await runFlo(['kv', 'del', 'app/b', '--endpoints', ep])).toMatchObject({ code: 0, stdout: '5\n' });
    expect((await runFlo(['kv', 'get', 'app/b', '--endpoints', ep])).code).toBe(1);
    const members = await runFlo(['kv', 'members', '--endpoints', ep]);
    expect(members.code).toBe(0);
    expect(members.stdout).toMatch(/^ID\s+ROLE\s+PEER\s+CLIENT/);
    expect(members.stdout.trim().split('\n')).toHaveLength(4);
    expect(members.stdout).toMatch(/leader/);
  });

  it('watch streams history from a revision, then live changes', async () => {
    const child = spawn(process.execPath, [...floCommand(), 'kv', 'watch', '--prefix', 'app/', '--from-revision', '2', '--endpoints', ep], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until('history lines', () => out.split('\n').length > 4);
      await runFlo(['kv', 'put', 'app/live', 'now', '--endpoints', ep]);
      await until('the live event', () => out.includes('PUT app/live'));
      expect(out.split('\n').slice(0, 4)).toEqual(['PUT app/a 2 one', 'PUT app/b 3 two', 'PUT app/c 4 three', 'DELETE app/b 5']);
    } finally {
      child.kill('SIGINT');
    }
  });

  it('usage errors exit 2', async () => {
    expect((await runFlo(['kv', 'get', '--endpoints', ep])).code).toBe(2);
    expect((await runFlo(['kv', 'frobnicate', '--endpoints', ep])).code).toBe(2);
    expect((await runFlo(['server', '--data', cluster.dir])).code).toBe(2);
    expect((await runFlo(['server', '--id', '1', '--peers', 'nonsense', '--data', cluster.dir])).code).toBe(2);
  });

  it('snapshot save, then a new cluster founded from it with flo server --restore', async () => {
    const file = path.join(cluster.dir, 'backup.snap');
    const saved = await runFlo(['kv', 'snapshot', 'save', file, '--endpoints', ep]);
    expect(saved.code).toBe(0);
    expect(existsSync(file)).toBe(true);
    const [client, peer] = await freePorts(2);
    restored.members.set(1, {
      id: 1,
      args: ['server', '--id', '1', '--listen', `127.0.0.1:${client}`, '--peer-listen', `127.0.0.1:${peer}`, '--peers', `1=127.0.0.1:${peer}`, '--data', restored.dataDir(1), '--restore', file, '--tick-ms', '50'],
      clientPort: client!,
      peerPort: peer!,
      proc: undefined,
      log: '',
    });
    restored.spawn(1);
    await restored.waitForLeader();
    const got = await runFlo(['kv', 'get', 'app/c', '-o', 'json', '--endpoints', restored.url(1)]);
    expect(JSON.parse(got.stdout)).toMatchObject({ key: 'app/c', value: 'three', modRevision: 4 });
    // The revision continues from the backup's.
    const put = await runFlo(['kv', 'put', 'after-restore', 'x', '--endpoints', restored.url(1)]);
    expect(Number(put.stdout)).toBeGreaterThan(5);
    // A file that is not a backup is refused, and nothing is founded.
    const bad = path.join(cluster.dir, 'not-a-backup');
    writeFileSync(bad, 'garbage');
    const [p2] = await freePorts(1);
    const refused = await runFlo(['server', '--id', '1', '--listen', '127.0.0.1:0', '--peer-listen', `127.0.0.1:${p2}`, '--peers', `1=127.0.0.1:${p2}`, '--data', path.join(cluster.dir, 'bad-restore'), '--restore', bad]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/not a Flotilla KV snapshot/);
  });

  it('flo server --dev-cluster 3 runs a whole cluster in one process and stops cleanly on SIGTERM', async () => {
    // Its six ports (three client, three peer) are consecutive; other suites take ports at the
    // same time, so a start that lost one of them to a race (EADDRINUSE) is tried again.
    for (let attempt = 1; ; attempt++) {
      const base = await freePortRange(6);
      const dev = spawn(process.execPath, [...floCommand(), 'server', '--dev-cluster', '3', '--data', path.join(cluster.dir, `dev${attempt}`), '--listen', `127.0.0.1:${base}`, '--tick-ms', '50'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let log = '';
      dev.stderr.on('data', (d: Buffer) => (log += d.toString()));
      let code: number | null | undefined;
      const exited = new Promise<number | null>((r) => dev.once('exit', (c) => r((code = c))));
      try {
        const eps = [0, 2, 4].map((d) => `http://127.0.0.1:${base + d}`).join(',');
        const outcome = await until('the dev cluster to accept writes', async () => {
          if (code !== undefined) return 'exited' as const;
          return (await runFlo(['kv', 'put', 'dev/k', 'v', '--endpoints', eps])).code === 0 ? ('up' as const) : false;
        }).catch((e: unknown) => {
          throw new Error(`${(e as Error).message}; flo server said: ${log}`);
        });
        if (outcome === 'exited') {
          if (log.includes('EADDRINUSE') && attempt < 3) continue;
          throw new Error(`flo server --dev-cluster exited with ${code}: ${log}`);
        }
        expect((await runFlo(['kv', 'get', 'dev/k', '--endpoints', `http://127.0.0.1:${base + 4}`])).stdout).toBe('v\n');
        expect(log).toMatch(/dev cluster of 3 up/);
      } finally {
        dev.kill('SIGTERM');
      }
      expect(await exited).toBe(0);
      return;
    }
  });
});

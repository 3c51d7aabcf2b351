import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
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
    // -o yaml: the same documents as YAML (one per JSON document; a list stays one document)
    const yaml = await runFlo(['kv', 'get', 'app/a', '-o', 'yaml', '--endpoints', ep]);
    expect(yaml.code).toBe(0);
    expect(parseAllDocuments(yaml.stdout).map((d) => d.toJS() as unknown)).toEqual([JSON.parse(json.stdout)]);
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

  it('lease grant, put --lease, list, keepalive --once, revoke (the key goes with it), as etcdctl words them', async () => {
    const granted = await runFlo(['kv', 'lease', 'grant', '60', '--endpoints', ep]);
    expect(granted.code).toBe(0);
    const id = /^lease (\d+) granted with TTL\(60s\)\n$/.exec(granted.stdout)?.[1];
    expect(id, granted.stdout).toBeDefined();
    expect((await runFlo(['kv', 'put', 'leased/k', 'v', '--lease', id!, '--endpoints', ep])).code).toBe(0);
    const list = await runFlo(['kv', 'lease', 'list', '-o', 'json', '--endpoints', ep]);
    expect(JSON.parse(list.stdout)).toContainEqual({ id, ttlSeconds: 60, keys: ['leased/k'] });
    expect((await runFlo(['kv', 'lease', 'list', '--endpoints', ep])).stdout).toMatch(/^found \d+ leases\nID\s+TTL\s+KEYS\n/);
    expect(await runFlo(['kv', 'lease', 'keepalive', id!, '--once', '--endpoints', ep])).toMatchObject({ code: 0, stdout: `lease ${id} keepalived with TTL(60)\n` });
    expect(await runFlo(['kv', 'lease', 'revoke', id!, '--endpoints', ep])).toMatchObject({ code: 0, stdout: `lease ${id} revoked\n` });
    expect((await runFlo(['kv', 'get', 'leased/k', '--endpoints', ep])).code).toBe(1);
    const gone = await runFlo(['kv', 'lease', 'keepalive', id!, '--once', '--endpoints', ep]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/lease .* not found/);
    expect((await runFlo(['kv', 'lease', 'grant', '0', '--endpoints', ep])).code).toBe(2);
    expect((await runFlo(['kv', 'lease', 'frob', '--endpoints', ep])).code).toBe(2);
  });

  it('lease keepalive without --once renews until interrupted', async () => {
    const granted = await runFlo(['kv', 'lease', 'grant', '3', '-o', 'json', '--endpoints', ep]);
    const { id } = JSON.parse(granted.stdout) as { id: string };
    const child = spawn(process.execPath, [...floCommand(), 'kv', 'lease', 'keepalive', id, '--endpoints', ep], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until('three renewals', () => out.split('\n').filter((l) => l.startsWith(`lease ${id} keepalived`)).length >= 3);
    } finally {
      child.kill('SIGINT');
    }
    expect(await new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', r)))).toBe(0);
  });

  it('del --prefix deletes every key under the prefix and prints how many (etcdctl del --prefix)', async () => {
    for (let i = 0; i < 150; i += 50) {
      const success = Array.from({ length: 50 }, (_, j) => ({ put: { key: `bulk/${String(i + j).padStart(3, '0')}`, value: 'x' } }));
      expect((await runFlo(['kv', 'txn', '--endpoints', ep], { input: JSON.stringify({ success }) })).code).toBe(0);
    }
    await runFlo(['kv', 'put', 'bulkhead', 'stays', '--endpoints', ep]);
    expect(await runFlo(['kv', 'del', '--prefix', 'bulk/', '--endpoints', ep])).toMatchObject({ code: 0, stdout: '150\n' });
    expect((await runFlo(['kv', 'get', '--prefix', 'bulk/', '-o', 'json', '--endpoints', ep])).stdout).toBe('[]\n');
    expect(await runFlo(['kv', 'get', 'bulkhead', '--endpoints', ep])).toMatchObject({ code: 0, stdout: 'stays\n' });
    expect(JSON.parse((await runFlo(['kv', 'del', '--prefix', 'bulk/', '-o', 'json', '--endpoints', ep])).stdout)).toMatchObject({ deleted: 0 });
    expect((await runFlo(['kv', 'del', '--prefix', '', '--endpoints', ep])).code).toBe(2);
    expect((await runFlo(['kv', 'del', '--prefix', 'x', '--prev-revision', '3', '--endpoints', ep])).code).toBe(2);
  });

  it('endpoint health: each endpoint healthy with its time; one that is down makes it exit 1; endpoint status', async () => {
    const healthy = await runFlo(['kv', 'endpoint', 'health', '--endpoints', ep]);
    expect(healthy.code).toBe(0);
    const lines = healthy.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).toMatch(/^http:\/\/127\.0\.0\.1:\d+ is healthy: took = [\d.]+ms$/);
    const [dead] = await freePorts(1);
    const mixed = await runFlo(['kv', 'endpoint', 'health', '-o', 'json', '--request-timeout', '3', '--endpoints', `${ep},http://127.0.0.1:${dead}`]);
    expect(mixed.code).toBe(1);
    const rows = JSON.parse(mixed.stdout) as { endpoint: string; health: boolean; took: string; error: string }[];
    expect(rows.filter((r) => r.health)).toHaveLength(3);
    expect(rows.find((r) => !r.health)).toMatchObject({ endpoint: `http://127.0.0.1:${dead}`, error: expect.stringMatching(/connection refused/) });
    const status = await runFlo(['kv', 'endpoint', 'status', '--endpoints', ep]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^ENDPOINT\s+ID\s+IS LEADER\s+TERM\s+REVISION\s+APPLIED/);
    expect(status.stdout.match(/\btrue\b/g)).toHaveLength(1);
  });

  it('usage errors exit 2', async () => {
    expect((await runFlo(['kv', 'get', '--endpoints', ep])).code).toBe(2);
    expect((await runFlo(['kv', 'frobnicate', '--endpoints', ep])).code).toBe(2);
    const name = await runFlo(['kv', 'get', 'app/a', '-o', 'name', '--endpoints', ep]);
    expect(name.code).toBe(2);
    expect(name.stderr).toContain('-o name: not printed by this command; expected one of text, json, yaml');
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

// /metrics, /healthz and /readyz of real `flo server` and `flo controller` processes, read
// with a Prometheus text parser; values must move with what the processes do.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { writeSampleArtifact } from '@flotilla/cluster/demo';
import { afterAll, describe, expect, it } from 'vitest';
import { appYaml, makeFlo, until, write } from './cluster-harness.js';
import { floCommand, freePorts, runFlo } from './kv-harness.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.pid !== undefined) {
      const exited = new Promise((r) => c.once('exit', r));
      process.kill(c.pid, 'SIGTERM');
      await exited;
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Scrape {
  contentType: string;
  text: string;
  /** The value of the series of `name` whose labels include `labels`. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  type(name: string): string | undefined;
}

async function scrape(base: string): Promise<Scrape> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  return {
    contentType: res.headers.get('content-type') ?? '',
    text,
    value(name, labels = {}) {
      const m = families.get(name)?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
      return m?.value === undefined ? undefined : Number(m.value);
    },
    type: (name) => families.get(name)?.type,
  };
}

async function status(url: string): Promise<number> {
  try {
    return (await fetch(url)).status;
  } catch {
    return 0;
  }
}

describe('flo server: /metrics, /healthz, /readyz on the client port', () => {
  it('is ready once it leads; counts the puts made through flo kv', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'flo-obs-server-'));
    dirs.push(dir);
    const [client, peer] = await freePorts(2);
    const base = `http://127.0.0.1:${client}`;
    const server = spawn(process.execPath, [...floCommand(), 'server', '--id', '1', '--listen', `127.0.0.1:${client}`, '--peer-listen', `127.0.0.1:${peer}`, '--peers', `1=127.0.0.1:${peer}`, '--data', path.join(dir, 'data'), '--tick-ms', '20', '--log-format', 'json'], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(server);
    let stderr = '';
    server.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await until('flo server ready', async () => (await status(`${base}/readyz`)) === 200);
    expect(await status(`${base}/healthz`)).toBe(200);
    const before = await scrape(base);
    expect(before.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(before.value('flotilla_server_has_leader')).toBe(1);
    expect(before.value('flotilla_server_is_leader')).toBe(1);
    expect(before.value('flotilla_server_leader_changes_seen_total')).toBe(1);
    expect(before.type('flotilla_disk_wal_fsync_duration_seconds')).toBe('HISTOGRAM');
    for (let i = 0; i < 3; i++) {
      const r = await runFlo(['kv', 'put', `k${i}`, `v${i}`, '--endpoints', base]);
      expect(r.code).toBe(0);
    }
    const after = await scrape(base);
    expect(after.value('flotilla_mvcc_put_total')! - before.value('flotilla_mvcc_put_total')!).toBe(3);
    expect(after.value('flotilla_server_proposals_committed_total')! - before.value('flotilla_server_proposals_committed_total')!).toBeGreaterThanOrEqual(3);
    expect(after.text).toMatch(/^flotilla_disk_wal_fsync_duration_seconds_count [1-9]\d*$/m);
    // --log-format json: every stderr line is one JSON object with time, level and msg.
    const lines = stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as { time: string; level: string; msg: string });
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const l of lines) {
      expect(Number.isNaN(Date.parse(l.time))).toBe(false);
      expect(['debug', 'info', 'warn', 'error']).toContain(l.level);
      expect(typeof l.msg).toBe('string');
    }
    expect(lines.map((l) => l.msg)).toContain('member 1: founded a new cluster of 1');
  });
});

const hostsYaml = (dir: string): string =>
  ['o1', 'o2']
    .map((h) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${h}}\nspec: {local: {dir: ${path.join(dir, 'hosts', h)}}, capacity: {cpu: 2, memory: 2Gi}}\n---\n`)
    .join('');

describe('flo controller --metrics-listen', () => {
  it('counts reconciles by controller and result, and instances by phase, as the cluster changes', async () => {
    const flo = makeFlo();
    dirs.push(flo.dir);
    await writeSampleArtifact(flo.dir);
    write(flo.dir, 'app.yaml', hostsYaml(flo.dir) + appYaml({ replicas: 2, artifact: './sample-app.tar.gz' }));
    flo.run(['apply', '-f', 'app.yaml', '--wait']);
    const [port] = await freePorts(1);
    const base = `http://127.0.0.1:${port}`;
    const controller = flo.startController(['--metrics-listen', `127.0.0.1:${port}`, '--log-level', 'warn']);
    children.push(controller);
    await until('controller ready (holds the lease, store listed)', async () => (await status(`${base}/readyz`)) === 200);
    expect(await status(`${base}/healthz`)).toBe(200);
    // Ready means leading with the store listed; each controller registers its series as it
    // starts and counts as it works, so one scrape is taken once all of them are there (the
    // replica sets' workers gauge was once still missing when the hosts had been probed).
    const first = await until('hosts probed, instances observed, the replica set controller started', async () => {
      const s = await scrape(base);
      const counted =
        s.value('flotilla_hosts', { ready: 'true' }) === 2 &&
        s.value('flotilla_instances', { phase: 'Running' }) === 2 &&
        s.value('controller_runtime_max_concurrent_reconciles', { controller: 'replicasets' }) !== undefined &&
        s.value('controller_runtime_reconcile_total', { controller: 'replicasets', result: 'success' }) !== undefined &&
        (s.value('workqueue_adds_total', { name: 'instances' }) ?? 0) >= 2;
      return counted ? s : undefined;
    });
    expect(first.value('flotilla_hosts', { ready: 'false' })).toBe(0);
    expect(first.type('controller_runtime_reconcile_total')).toBe('COUNTER');
    // the replica-set controller runs at least 16 workers (its reconciles wait on the store)
    expect(first.value('controller_runtime_max_concurrent_reconciles', { controller: 'replicasets' })).toBe(16);
    const rsBefore = first.value('controller_runtime_reconcile_total', { controller: 'replicasets', result: 'success' })!;

    flo.run(['scale', 'replicaset/web', '--replicas', '3']);
    const scaled = await until('the third instance running and counted', async () => {
      const s = await scrape(base);
      return s.value('flotilla_instances', { phase: 'Running' }) === 3 ? s : undefined;
    });
    expect(scaled.value('controller_runtime_reconcile_total', { controller: 'replicasets', result: 'success' })).toBeGreaterThan(rsBefore);
    expect(scaled.text).toMatch(/^controller_runtime_reconcile_time_seconds_count\{controller="replicasets"\} [1-9]\d*$/m);
    expect(scaled.text).toMatch(/^workqueue_queue_duration_seconds_bucket\{le="\+Inf",name="replicasets"\} [1-9]\d*$/m);
    await flo.stopController();
    flo.run(['delete', 'replicaset/web']);
  });
});

describe('flo ui: --log-level and --log-format', () => {
  it('--log-level warn keeps the info lines out; --log-format json writes the same as objects; bad values exit 2', async () => {
    const flo = makeFlo();
    dirs.push(flo.dir);
    write(flo.dir, 'hosts.yaml', hostsYaml(flo.dir));
    flo.run(['apply', '-f', 'hosts.yaml']);
    const serve = async (extra: string[]): Promise<{ stderr: string; code: number | null }> => {
      const [port] = await freePorts(1);
      const ui = spawn(process.execPath, [...floCommand(), 'ui', '--listen', `127.0.0.1:${port}`, '--store', `file://${flo.dir}/store`, ...extra], { cwd: flo.dir, stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(ui);
      let stderr = '';
      ui.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      await until('flo ui ready (the store listed)', async () => (await status(`http://127.0.0.1:${port}/readyz`)) === 200);
      const exited = new Promise<number | null>((r) => ui.once('exit', (code) => r(code)));
      process.kill(ui.pid!, 'SIGTERM');
      return { stderr, code: await exited };
    };
    const quiet = await serve(['--log-level', 'warn']);
    expect(quiet).toEqual({ stderr: '', code: 0 });
    const chatty = await serve(['--log-level', 'debug', '--log-format', 'json']);
    expect(chatty.code).toBe(0);
    const lines = chatty.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ level: 'info', msg: expect.stringMatching(/^dashboard on http:\/\/127\.0\.0\.1:\d+\/ \(no token: read-only view and actions open on loopback\)$/) as unknown });
    for (const l of lines) expect(Number.isNaN(Date.parse(String(l.time)))).toBe(false);
    const text = await serve([]);
    expect(text.stderr).toMatch(/^flo ui: dashboard on http:\/\/127\.0\.0\.1:\d+\/ /);
    for (const [flag, value, said] of [['--log-format', 'xml', /--log-format xml: expected text or json/], ['--log-level', 'loud', /--log-level loud: expected one of debug, info, warn, error/]] as const) {
      const r = await runFlo(['ui', flag, value, '--store', `file://${flo.dir}/store`]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(said);
    }
  });
});

describe('flo controller: --log-format json and --log-level', () => {
  it('writes one JSON object a line (time, level, msg, its identity bound); --log-level warn keeps the info lines out', async () => {
    const flo = makeFlo();
    dirs.push(flo.dir);
    write(flo.dir, 'hosts.yaml', hostsYaml(flo.dir));
    flo.run(['apply', '-f', 'hosts.yaml']);
    const run = async (extra: string[]): Promise<string> => {
      const [port] = await freePorts(1);
      const c = spawn(process.execPath, [...floCommand(), 'controller', '--leader-identity', 'c-json', '--metrics-listen', `127.0.0.1:${port}`, '--store', `file://${flo.dir}/store`, ...extra], { cwd: flo.dir, stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(c);
      let stderr = '';
      c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      await until('flo controller ready (leading)', async () => (await status(`http://127.0.0.1:${port}/readyz`)) === 200);
      const exited = new Promise((r) => c.once('exit', r));
      process.kill(c.pid!, 'SIGTERM');
      await exited;
      return stderr;
    };
    const lines = (await run(['--log-format', 'json'])).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const l of lines) {
      expect(Number.isNaN(Date.parse(String(l.time)))).toBe(false);
      expect(['debug', 'info', 'warn', 'error']).toContain(l.level);
      expect(typeof l.msg).toBe('string');
      expect(l.identity).toBe('c-json');
    }
    expect(lines.map((l) => l.msg)).toContain('leading');
    expect(lines.find((l) => l.msg === 'leading')).toMatchObject({ level: 'info' });
    const quiet = await run(['--log-format', 'json', '--log-level', 'warn']);
    expect(quiet.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { level: string }).level).filter((lv) => lv === 'info' || lv === 'debug')).toEqual([]);
  });
});

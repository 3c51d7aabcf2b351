// `flo agent --metrics-listen` (issue 16): a real agent process for a host of a real `flo
// server` store, scraped and read with a Prometheus text parser while the cluster changes —
// its lease renewals, the instances it starts and stops, its status writes are counted and
// typed as counters; /healthz and /readyz answer; --log-format json / --log-level hold for its
// stderr. Runs on this machine without sshd: the agent runs its instances itself (the local
// transport), in a throwaway HOME.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { writeSampleArtifact } from '@flotilla/cluster/demo';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { appYaml, floArgv, processOf, until, write, type InstanceJson } from './cluster-harness.js';
import { FloCluster, freePorts, runFlo } from './kv-harness.js';

vi.setConfig({ testTimeout: 240_000 });

let kv: FloCluster;
let dir: string;
let store: string;
let metrics: string;
let controller: ChildProcess | undefined;
let agent: ChildProcess | undefined;
let agentErr = '';
const pids = new Set<number>();

async function flo(args: string[]): Promise<string> {
  const r = await runFlo([...args, '--store', store], { env: { ...process.env, NO_COLOR: '1' } });
  if (r.code !== 0) throw new Error(`flo ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}
const instances = async (): Promise<InstanceJson[]> => (JSON.parse(await flo(['get', 'instances', '-o', 'json'])) as { items: InstanceJson[] }).items;

interface Scrape {
  value(name: string, labels?: Record<string, string>): number | undefined;
  type(name: string): string | undefined;
  names(): string[];
}
async function scrape(): Promise<Scrape> {
  const res = await fetch(`${metrics}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  const families = new Map(parsePrometheusTextFormat(await res.text()).map((f) => [f.name, f]));
  return {
    value(name, labels = {}) {
      const m = families.get(name)?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
      return m?.value === undefined ? undefined : Number(m.value);
    },
    type: (name) => families.get(name)?.type,
    names: () => [...families.keys()],
  };
}
async function status(url: string): Promise<number> {
  try {
    return (await fetch(url)).status;
  } catch {
    return 0;
  }
}
async function stop(p: ChildProcess | undefined): Promise<number | null> {
  if (p?.pid === undefined || p.exitCode !== null || p.signalCode !== null) return p?.exitCode ?? null;
  const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
  process.kill(p.pid, 'SIGTERM');
  return exited;
}

beforeAll(async () => {
  kv = new FloCluster();
  await kv.start(1);
  store = `flotilla://${kv.url(1).replace(/^https?:\/\//, '')}`;
  dir = mkdtempSync(path.join(tmpdir(), 'flotilla-agent-metrics-'));
  mkdirSync(path.join(dir, 'home'));
  await writeSampleArtifact(dir);
  write(dir, 'host.yaml', 'apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: m1}\nspec: {address: 127.0.0.1, agent: true, capacity: {cpu: 4, memory: 4Gi}}\n');
  await flo(['apply', '-f', path.join(dir, 'host.yaml')]);
  const [port] = await freePorts(1);
  metrics = `http://127.0.0.1:${port}`;
  // HOME: where the agent keeps its state and runs the instances (~/.flotilla), thrown away after
  agent = spawn(
    process.execPath,
    [...floArgv(), 'agent', '--host', 'm1', '--store', store, '--lease-duration', '6', '--renew-interval', '1', '--sync-interval', '1', '--metrics-listen', `127.0.0.1:${port}`, '--log-format', 'json', '--log-level', 'info'],
    { cwd: dir, env: { ...process.env, HOME: path.join(dir, 'home'), NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  agent.stderr!.on('data', (d: Buffer) => (agentErr += d.toString()));
  controller = spawn(process.execPath, [...floArgv(), 'controller', '--probe-interval', '1', '--log-level', 'warn', '--store', store], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
}, 120_000);

afterAll(async () => {
  // the agent leaves its instances running when it stops (by design): stop them first
  try {
    await flo(['delete', 'replicaset/web']);
    await until('the agent to stop the instances', async () => (await instances()).length === 0, 60_000);
  } catch {
    // the pids below
  }
  await stop(controller);
  await stop(agent);
  for (const pid of pids) if (processOf(pid)?.args === 'node server.js') process.kill(pid, 'SIGKILL');
  await kv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('flo agent --metrics-listen', () => {
  it('is ready once it holds its lease; counts lease renewals; serves the process metrics too', async () => {
    await until('the agent ready (/readyz 200)', async () => (await status(`${metrics}/readyz`)) === 200);
    expect(await status(`${metrics}/healthz`)).toBe(200);
    const first = await scrape();
    expect(first.value('flotilla_agent_lease_held')).toBe(1);
    expect(first.value('flotilla_agent_store_reachable')).toBe(1);
    for (const name of ['flotilla_agent_lease_renewals_total', 'flotilla_agent_status_writes_total', 'flotilla_agent_instances_started_total', 'flotilla_agent_instances_stopped_total'])
      expect([name, first.type(name)]).toEqual([name, 'COUNTER']);
    expect(first.type('flotilla_agent_instances')).toBe('GAUGE');
    expect(first.names()).toContain('process_resident_memory_bytes');
    const renewals = first.value('flotilla_agent_lease_renewals_total')!;
    // renewed every second: the counter moves between scrapes (and never goes back)
    const later = await until('a lease renewal counted', async () => {
      const s = await scrape();
      return s.value('flotilla_agent_lease_renewals_total')! >= renewals + 2 ? s : undefined;
    });
    expect(later.value('flotilla_agent_lease_held')).toBe(1);
    // the host is Ready through the agent's lease, as the controllers see it
    await until('host m1 Ready', async () => (JSON.parse(await flo(['get', 'hosts', '-o', 'json'])) as { items: { name: string; ready: boolean }[] }).items.find((h) => h.name === 'm1')?.ready === true);
  });

  it('counts the instances it starts and stops as the replica set is applied and scaled', async () => {
    const before = await scrape();
    const started0 = before.value('flotilla_agent_instances_started_total')!;
    const stopped0 = before.value('flotilla_agent_instances_stopped_total')!;
    const writes0 = before.value('flotilla_agent_status_writes_total')!;
    write(dir, 'app.yaml', appYaml({ replicas: 2, artifact: path.join(dir, 'sample-app.tar.gz') }));
    await flo(['apply', '-f', path.join(dir, 'app.yaml')]);
    const two = await until('2 instances running and ready on m1', async () => {
      const l = (await instances()).filter((i) => i.phase !== 'Terminating');
      return l.length === 2 && l.every((i) => i.ready && i.host === 'm1' && i.pid !== undefined) ? l : undefined;
    }, 150_000);
    for (const i of two) {
      pids.add(i.pid!);
      expect(processOf(i.pid!)?.args).toBe('node server.js');
    }
    const running = await until('the agent to count both', async () => {
      const s = await scrape();
      return s.value('flotilla_agent_instances_started_total')! >= started0 + 2 && s.value('flotilla_agent_instances') === 2 ? s : undefined;
    });
    expect(running.value('flotilla_agent_status_writes_total')).toBeGreaterThan(writes0);

    await flo(['scale', 'replicaset/web', '--replicas', '1']);
    const one = await until('the agent to stop one and count it', async () => {
      const s = await scrape();
      return s.value('flotilla_agent_instances_stopped_total')! >= stopped0 + 1 && s.value('flotilla_agent_instances') === 1 ? s : undefined;
    }, 120_000);
    // counters never go back
    expect(one.value('flotilla_agent_instances_started_total')).toBeGreaterThanOrEqual(running.value('flotilla_agent_instances_started_total')!);
    expect(one.value('flotilla_agent_status_writes_total')).toBeGreaterThanOrEqual(running.value('flotilla_agent_status_writes_total')!);
  });

  it('--log-format json: every stderr line is one object (time, level, msg, the host bound); --log-level info leaves debug out', () => {
    const lines = agentErr.trimEnd().split('\n').map((l) => JSON.parse(l) as { time: string; level: string; msg: string; host?: string });
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) {
      expect(Number.isNaN(Date.parse(l.time))).toBe(false);
      expect(['info', 'warn', 'error']).toContain(l.level);
      expect(typeof l.msg).toBe('string');
      expect(l.host).toBe('m1');
    }
    expect(lines.some((l) => /^agent m1-[0-9a-f]{16} runs the instances of host m1 /.test(l.msg))).toBe(true);
    expect(lines.some((l) => l.msg === `metrics on ${metrics}/metrics (also /healthz, /readyz)`)).toBe(true);
  });

  it('refuses bad --log-format and --log-level values (exit 2, naming the flag and the choices)', async () => {
    const format = await runFlo(['agent', '--host', 'm1', '--store', store, '--log-format', 'xml']);
    expect(format.code).toBe(2);
    expect(format.stderr).toMatch(/--log-format xml: expected text or json/);
    const level = await runFlo(['agent', '--host', 'm1', '--store', store, '--log-level', 'loud']);
    expect(level.code).toBe(2);
    expect(level.stderr).toMatch(/--log-level loud: expected one of debug, info, warn, error/);
  });
});

// `flo agent --hollow N` end to end (issue 15): a real `flo server` as the store, a real `flo
// controller`, and hollow-agent processes. Twenty hollow hosts register and hold their
// leases, an applied replica set runs (every instance reported Running by its hollow host),
// a second hollow process brings ten more hosts, and the first is SIGKILLed: its hosts' leases
// expire in the store (TTL 8 s here) and their instances are Running on the second process's
// hosts. Bad flags exit 2 with a message saying what to give instead. No fleet needed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { floArgv } from './cluster-harness.js';
import { FloCluster, runFlo, until } from './kv-harness.js';

vi.setConfig({ testTimeout: 300_000, hookTimeout: 120_000 });

let kv: FloCluster;
let store: string;
let dir: string;
const children: ChildProcess[] = [];

function start(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [...floArgv(), ...args], { cwd: dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal === null) process.stderr.write(`flo ${args[0]} exited ${code}:\n${log}\n`);
  });
  children.push(child);
  return child;
}

async function json<T>(args: string[]): Promise<T> {
  const r = await runFlo([...args, '--store', store, '-o', 'json']);
  if (r.code !== 0) throw new Error(`flo ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
const hosts = () => json<{ items: { name: string; ready: boolean }[] }>(['get', 'hosts']).then((r) => r.items);
const instances = () => json<{ items: { name: string; host: string; phase: string; ready: boolean }[] }>(['get', 'instances']).then((r) => r.items);

beforeAll(async () => {
  kv = new FloCluster();
  await kv.start(1);
  store = `flotilla://${kv.url(1).replace(/^https?:\/\//, '')}`;
  dir = mkdtempSync(path.join(tmpdir(), 'flotilla-hollow-e2e-'));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await Promise.all(children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => c.once('exit', r))));
  await kv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('flo agent --hollow', () => {
  it('refuses bad flags (exit 2) and a store without TTL leases (exit 1), saying what to do', async () => {
    const cases: [string[], number, RegExp][] = [
      [['agent', '--hollow', '0', '--store', 'flotilla://127.0.0.1:1'], 2, /--hollow 0: expected the number of hollow hosts/],
      [['agent', '--hollow', '3', '--host', 'h1', '--store', 'flotilla://127.0.0.1:1'], 2, /give one or the other/],
      [['agent', '--hollow-prefix', 'x-', '--host', 'h1', '--store', 'flotilla://127.0.0.1:1'], 2, /--hollow-prefix is for hollow hosts: give --hollow N too/],
      [['agent', '--hollow', '3', '--hollow-capacity', 'cpu', '--store', 'flotilla://127.0.0.1:1'], 2, /expected RESOURCE=QUANTITY pairs/],
      [['agent', '--hollow', '3', '--hollow-capacity', 'cpu=lots', '--store', 'flotilla://127.0.0.1:1'], 2, /cpu=lots is not a quantity/],
      [['agent', '--hollow', '3', '--hollow-prefix', 'Bad_', '--store', 'flotilla://127.0.0.1:1'], 2, /--hollow-prefix Bad_: expected lowercase/],
      [['agent', '--hollow', '3', '--store', `file://${tmpdir()}/no-leases`], 1, /has no TTL leases/],
    ];
    for (const [args, code, message] of cases) {
      const r = await runFlo(args);
      expect({ args, code: r.code }).toEqual({ args, code });
      expect(r.stderr).toMatch(message);
    }
  });

  it("20 hollow hosts run a replica set; SIGKILL their process and the instances run on another process's hosts after the lease TTL", async () => {
    const first = start(['agent', '--hollow', '20', '--hollow-prefix', 'hh-', '--hollow-capacity', 'cpu=4,memory=8Gi', '--lease-duration', '8', '--renew-interval', '2', '--store', store]);
    start(['controller', '--store', store]);
    await until('20 Ready hollow hosts', async () => (await hosts()).filter((h) => h.ready).length === 20, 120_000);
    expect((await hosts()).map((h) => h.name).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `hh-${i}`).sort());
    writeFileSync(
      path.join(dir, 'app.yaml'),
      `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 60
  selector: "app=web"
  template:
    metadata: {labels: {app: web}}
    spec:
      command: [node, server.js]
      ports: [{name: http}]
      resources: {cpu: 100m, memory: 64Mi}
`,
    );
    const applied = await runFlo(['apply', '-f', path.join(dir, 'app.yaml'), '--store', store]);
    expect(applied.code).toBe(0);
    await until('60 instances Running', async () => (await instances()).filter((i) => i.phase === 'Running' && i.ready).length === 60, 180_000);
    expect(new Set((await instances()).map((i) => i.host)).size).toBeGreaterThan(10); // spread over the hollow hosts

    start(['agent', '--hollow', '10', '--hollow-prefix', 'hh-', '--hollow-start', '20', '--hollow-capacity', 'cpu=8,memory=16Gi', '--lease-duration', '8', '--renew-interval', '2', '--store', store]);
    await until('30 Ready hollow hosts', async () => (await hosts()).filter((h) => h.ready).length === 30, 120_000);
    first.kill('SIGKILL');
    await until('hh-0 … hh-19 NotReady', async () => (await hosts()).filter((h) => !h.ready).length === 20, 120_000);
    await until('60 instances Running on hh-20 … hh-29', async () => {
      const running = (await instances()).filter((i) => i.phase === 'Running' && i.ready);
      return running.length === 60 && running.every((i) => Number(i.host.slice(3)) >= 20);
    }, 180_000);
  });
});

// Agent mode end to end (issue 15): a real sshd fleet (3 loopback hosts, each its own unix
// user), a real `flo server` as the store, `flo host join` over ssh, then the cluster flows of
// cluster-ssh.test.ts in agent mode — apply, heal, rolling update, rollout undo, scale, service
// endpoints and a render: file written by each agent — and the faults: the agent
// SIGKILLed (restarted by its supervisor, instances adopted, not duplicated), a second agent
// for a joined host (refused by the lease), an agent for a Host that does not exist; then
// `flo host leave`; the store (flo server) restarted under the joined agents. More faults
// (wrong credentials, etcd://, a retry-only store outage) are in agent-faults.test.ts; a
// skewed host clock and a dead agent's lease expiring are tested on the agent core
// (packages/cluster/test/agent/host-agent.test.ts).
// Needs root (skipped loudly otherwise; required with CI=true). Fleet block 110 (TEAM.md).
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeSampleArtifact } from '@flotilla/cluster/demo';
import { fleetAvailability, startFleet, type Fleet } from '@flotilla/deploy/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.setConfig({ testTimeout: 300_000 });
import { appYaml, floArgv, processOf, until, write, type InstanceJson } from './cluster-harness.js';
import { FloCluster } from './kv-harness.js';

const avail = fleetAvailability();
if (!avail.ok) {
  if (process.env.CI === 'true') throw new Error(`CI=true but the sshd fleet cannot run: ${avail.reason}`);
  process.stderr.write(`\n*** SKIPPING cluster-agent e2e: ${avail.reason} ***\n\n`);
}

let fleet: Fleet;
let kv: FloCluster;
let dir: string;
let store: string;
let controller: ReturnType<typeof spawn> | undefined;

function flo(args: string[], expectCode = 0, extra: string[] = ['--store', store, '--ssh-config', fleet.sshConfigFile]): { stdout: string; stderr: string } {
  let stdout = '';
  let stderr = '';
  let code = 0;
  try {
    stdout = execFileSync(process.execPath, [...floArgv(), ...args, ...extra], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    code = err.status ?? 1;
    stdout = err.stdout ?? '';
    stderr = err.stderr ?? '';
  }
  if (code !== expectCode) throw new Error(`flo ${args.join(' ')} exited ${code} (expected ${expectCode})\n${stdout}\n${stderr}`);
  return { stdout, stderr };
}
const json = <T>(args: string[]): T => JSON.parse(flo([...args, '-o', 'json']).stdout) as T;
const instances = (): InstanceJson[] => json<{ items: InstanceJson[] }>(['get', 'instances']).items;
const live = (): InstanceJson[] => instances().filter((i) => i.phase !== 'Terminating');
const userOf = (host: string): string => fleet.hosts.find((h) => h.name === host)!.user;
const homeOf = (host: string): string => fleet.hosts.find((h) => h.name === host)!.home;
const agentPid = (host: string): number => Number(readFileSync(path.join(homeOf(host), '.flotilla/services/flo-agent/pid'), 'utf8').trim());
const agentLog = (host: string): string => readFileSync(path.join(homeOf(host), '.flotilla/services/flo-agent/log'), 'utf8');
/** A process's environment, from /proc. */
function environOf(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}
/** `node server.js` processes of a host's user: what really runs there. */
function serversOf(host: string): number[] {
  const out = execFileSync('ps', ['-u', userOf(host), '-o', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.trim().endsWith('node server.js'))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

beforeAll(async () => {
  if (!avail.ok) return;
  fleet = await startFleet({ size: 3, subnet: 110, userPrefix: 'fltag', namePrefix: 'g' });
  kv = new FloCluster();
  await kv.start(1);
  store = `flotilla://${kv.url(1).replace(/^https?:\/\//, '')}`;
  dir = mkdtempSync(path.join(tmpdir(), 'flotilla-agent-e2e-'));
  chmodSync(dir, 0o755); // the hosts' users read the artifacts apply copies here
  await writeSampleArtifact(dir);
  const hosts = fleet.hosts
    .map((h) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${h.name}}\nspec: {address: ${h.name}, capacity: {cpu: 2, memory: 2Gi}}\n`)
    .join('---\n');
  write(dir, 'hosts.yaml', hosts);
  flo(['apply', '-f', 'hosts.yaml']);
}, 180_000);

afterAll(async () => {
  if (!avail.ok) return;
  if (controller?.pid !== undefined && controller.exitCode === null) {
    const exited = new Promise((r) => controller!.once('exit', r));
    process.kill(controller.pid, 'SIGTERM');
    await exited;
  }
  await fleet.stop(); // stops the agents and instances (the fleet users' processes)
  await kv.stop();
  rmSync(dir, { recursive: true, force: true });
}, 180_000);

describe.skipIf(!avail.ok)('agent mode on a real sshd fleet (flo host join, flo agent)', () => {
  it('flo host join installs the agent as a release and starts it as the host user; it takes the lease', () => {
    for (const h of fleet.hosts) {
      // the agent's own settings pass through join (the sync interval: how soon the agent sees an instance die)
      const r = flo(['host', 'join', h.name, '--sync-interval', '1', '--log-level', 'info']);
      expect(r.stdout).toMatch(new RegExp(`^${h.name} joined: agent ${h.name}-[0-9a-f]{16} \\(pid \\d+, release [0-9a-f]{12}\\) holds its lease$`, 'm'));
      expect(processOf(agentPid(h.name))).toMatchObject({ user: h.user });
      expect(processOf(agentPid(h.name))?.args).toMatch(/\.flotilla\/apps\/flo-agent\/current\/bin\/flo\.mjs agent --host /);
      expect(processOf(agentPid(h.name))?.args).toMatch(/ --sync-interval 1 --log-level info( |$)/);
    }
    const hosts = json<{ items: { name: string }[] }>(['get', 'hosts']).items;
    expect(hosts.map((h) => h.name).sort()).toEqual(fleet.hosts.map((h) => h.name).sort());
    const leases = flo(['kv', 'get', '--prefix', '/flotilla/v1/hostleases/'], 0, ['--endpoints', kv.url(1)]).stdout;
    for (const h of fleet.hosts) expect(leases).toContain(`/flotilla/v1/hostleases/${h.name}`);
  });

  it('flo apply runs on the agent hosts: the agents start the instances, each as its host user', async () => {
    controller = spawn(process.execPath, [...floArgv(), 'controller', '--probe-interval', '1', '--store', store, '--ssh-config', fleet.sshConfigFile], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    await until('hosts Ready (their leases)', () => json<{ items: { ready: boolean }[] }>(['get', 'hosts']).items.every((h) => h.ready), 120_000);
    write(dir, 'app.yaml', appYaml({ replicas: 3, artifact: './sample-app.tar.gz' }));
    flo(['apply', '-f', 'app.yaml']);
    const ready = await until('3 ready', () => {
      const l = live();
      return l.length === 3 && l.every((i) => i.ready) ? l : undefined;
    }, 150_000);
    for (const i of ready) expect(processOf(i.pid!)).toEqual({ user: userOf(i.host), args: 'node server.js' });
    expect(flo(['describe', `instance/${ready[0]!.name}`]).stdout).toMatch(/Started .*\(agent\)/);
  });

  it('heals: a SIGKILLed instance is restarted on its host and the agent reports the new pid', async () => {
    const victim = live()[0]!;
    process.kill(victim.pid!, 'SIGKILL');
    const healed = await until('healed', () => {
      const cur = live().find((i) => i.name === victim.name);
      return cur?.ready && cur.pid !== victim.pid && cur.restarts >= 1 ? cur : undefined;
    }, 120_000);
    expect(processOf(healed.pid!)).toEqual({ user: userOf(healed.host), args: 'node server.js' });
  });

  it('rolls out a new template with the replica-set logic unchanged', async () => {
    const v1 = new Set(instances().map((i) => i.name));
    write(dir, 'app2.yaml', appYaml({ replicas: 3, artifact: './sample-app.tar.gz', env: { GREETING: 'v2' } }));
    flo(['apply', '-f', 'app2.yaml']);
    const rolled = await until('v2 everywhere', () => {
      const all = instances();
      return all.length === 3 && all.every((i) => i.ready && i.phase === 'Running') && all.every((i) => !v1.has(i.name)) ? all : undefined;
    }, 240_000);
    for (const i of rolled) expect(processOf(i.pid!)?.user).toBe(userOf(i.host));
    // what runs is exactly what the store says: no instance left behind, none twice
    for (const h of fleet.hosts) expect(serversOf(h.name).sort()).toEqual(rolled.filter((i) => i.host === h.name).map((i) => i.pid!).sort());
  });

  it('rollout undo returns to the previous template: what runs has the old environment', async () => {
    const v2 = new Set(instances().map((i) => i.name));
    flo(['rollout', 'undo', 'replicaset/web']);
    const back = await until('v1 again everywhere', () => {
      const all = instances();
      return all.length === 3 && all.every((i) => i.ready && i.phase === 'Running' && !v2.has(i.name)) ? all : undefined;
    }, 240_000);
    for (const i of back) expect(environOf(i.pid!)).toMatchObject({ GREETING: 'hello' });
    for (const h of fleet.hosts) expect(serversOf(h.name).sort()).toEqual(back.filter((i) => i.host === h.name).map((i) => i.pid!).sort());
  });

  it('scales up and down: the agents start and stop exactly the instances the store holds', async () => {
    flo(['scale', 'replicaset/web', '--replicas', '5']);
    const five = await until('5 ready', () => {
      const l = live();
      return l.length === 5 && l.every((i) => i.ready) ? l : undefined;
    }, 180_000);
    for (const i of five) expect(processOf(i.pid!)).toEqual({ user: userOf(i.host), args: 'node server.js' });
    flo(['scale', 'replicaset/web', '--replicas', '3']);
    const three = await until('3 left, the others stopped', () => {
      const all = instances();
      if (all.length !== 3 || !all.every((i) => i.ready)) return undefined;
      return fleet.hosts.every((h) => serversOf(h.name).sort().join() === all.filter((i) => i.host === h.name).map((i) => i.pid!).sort().join()) ? all : undefined;
    }, 180_000);
    expect(three.every((i) => five.some((f) => f.name === i.name))).toBe(true);
  });

  it("service endpoints, and a render: file written on each agent host by its agent (as the host's user, not over ssh)", async () => {
    const ready = live();
    const svc = await until('endpoints of the 3 instances', () => {
      const s = json<{ items: { name: string; endpoints: { address: string; port: number; instance: string }[] }[] }>(['get', 'services']).items.find((x) => x.name === 'web');
      return s?.endpoints.length === 3 ? s : undefined;
    }, 120_000);
    const expected = ready.map((i) => `${i.address}:${i.ports.http}`).sort();
    expect(svc.endpoints.map((e) => `${e.address}:${e.port}`).sort()).toEqual(expected);
    write(dir, 'render.yaml', 'apiVersion: flotilla.dev/v1\nkind: Service\nmetadata: {name: web-file}\nspec: {selector: {app: web}, port: http, render: {hosts: "!norender", path: web.endpoints}}\n');
    flo(['apply', '-f', 'render.yaml']);
    const file = (host: string): string | undefined => {
      try {
        return readFileSync(path.join(homeOf(host), 'web.endpoints'), 'utf8');
      } catch {
        return undefined;
      }
    };
    await until('the file on every agent host', () => fleet.hosts.every((h) => file(h.name)?.split('\n').filter(Boolean).sort().join() === expected.join()), 120_000);
    for (const h of fleet.hosts) expect(statSync(path.join(homeOf(h.name), 'web.endpoints')).uid).toBe(Number(execFileSync('id', ['-u', h.user], { encoding: 'utf8' }).trim()));
    expect(flo(['describe', 'service/web-file']).stdout).toMatch(/Rendered .*wrote 3 endpoint\(s\) to .*\(agent\)/);
    // endpoints change (an instance restarted elsewhere would too): scale to 2 and the files follow
    flo(['scale', 'replicaset/web', '--replicas', '2']);
    await until('the files follow', () => {
      const now = live().filter((i) => i.ready).map((i) => `${i.address}:${i.ports.http}`).sort();
      return now.length === 2 && fleet.hosts.every((h) => file(h.name)?.split('\n').filter(Boolean).sort().join() === now.join());
    }, 180_000);
    flo(['scale', 'replicaset/web', '--replicas', '3']);
    await until('3 ready again', () => live().length === 3 && live().every((i) => i.ready), 180_000);
  });

  it('an agent SIGKILLed is restarted by its supervisor and adopts its instances (none started twice)', async () => {
    const before = live();
    const host = before[0]!.host;
    const old = agentPid(host);
    process.kill(old, 'SIGKILL');
    await until('agent restarted', () => {
      try {
        const p = agentPid(host);
        return p !== old && processOf(p) !== undefined;
      } catch {
        return false;
      }
    }, 60_000);
    await until('agent holds the lease again', () => agentLog(host).split('\n').filter((l) => l.includes('holding the lease')).length >= 2, 60_000);
    await new Promise((r) => setTimeout(r, 5000)); // a few sync rounds of the new agent
    const after = live();
    expect(after.map((i) => [i.name, i.pid, i.restarts]).sort()).toEqual(before.map((i) => [i.name, i.pid, i.restarts]).sort());
    for (const h of fleet.hosts) expect(serversOf(h.name).sort()).toEqual(after.filter((i) => i.host === h.name).map((i) => i.pid!).sort());
  });

  it('the store (flo server) restarted under the agents: each says so and that it is back, keeps its instances and heals after', async () => {
    const before = live();
    const lines = (host: string, re: RegExp): number => agentLog(host).split('\n').filter((l) => re.test(l)).length;
    const down0 = new Map(fleet.hosts.map((h) => [h.name, lines(h.name, /store .* unreachable/)]));
    const back0 = new Map(fleet.hosts.map((h) => [h.name, lines(h.name, /reachable again after/)]));
    await kv.kill(1);
    await until('every agent says the store is unreachable', () => fleet.hosts.every((h) => lines(h.name, /store .* unreachable/) > down0.get(h.name)!), 120_000);
    kv.spawn(1);
    await kv.waitForLeader();
    await until('every agent says the store is reachable again', () => fleet.hosts.every((h) => lines(h.name, /reachable again after/) > back0.get(h.name)!), 120_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${fleet.hosts.map((h) => `--- ${h.name}\n${agentLog(h.name).split('\n').slice(-30).join('\n')}`).join('\n')}`);
    });
    // the agents were never restarted, their instances never stopped
    await until('hosts Ready', () => json<{ items: { ready: boolean }[] }>(['get', 'hosts']).items.every((h) => h.ready), 120_000);
    expect(live().map((i) => [i.name, i.pid]).sort()).toEqual(before.map((i) => [i.name, i.pid]).sort());
    // their watches and writes work again: a killed instance is healed and reported
    const victim = before[1]!;
    process.kill(victim.pid!, 'SIGKILL');
    await until('healed after the store restart', () => {
      const cur = live().find((i) => i.name === victim.name);
      return cur?.ready && cur.pid !== victim.pid ? cur : undefined;
    }, 120_000);
  });

  it('a second agent for a joined host is refused through the lease; an agent for a Host that does not exist is refused', () => {
    const own = mkdtempSync(path.join(tmpdir(), 'flo-agent-second-'));
    try {
      const second = flo(['agent', '--host', fleet.hosts[0]!.name, '--state-dir', own], 1, ['--store', store]);
      expect(second.stderr).toMatch(new RegExp(`host ${fleet.hosts[0]!.name} is already claimed by another agent \\(identity ${fleet.hosts[0]!.name}-[0-9a-f]{16}, pid \\d+ on `));
      const ghost = flo(['agent', '--host', 'ghost', '--state-dir', own], 1, ['--store', store]);
      expect(ghost.stderr).toMatch(/host ghost does not exist in flotilla:\/\/[^ ]+: add it first/);
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  });

  it('flo host leave stops the agent and releases its lease; the instances keep running and the controller adopts them over ssh', async () => {
    const host = fleet.hosts[2]!.name;
    const agent = agentPid(host);
    const mine = live().filter((i) => i.host === host);
    const r = flo(['host', 'leave', host]);
    expect(r.stdout).toMatch(new RegExp(`^${host} left: its agent is stopped and its lease released`, 'm'));
    expect(processOf(agent)).toBeUndefined();
    const leases = flo(['kv', 'get', '--prefix', '/flotilla/v1/hostleases/'], 0, ['--endpoints', kv.url(1)]).stdout;
    expect(leases).not.toContain(`/flotilla/v1/hostleases/${host}`);
    await new Promise((r2) => setTimeout(r2, 5000));
    for (const i of mine) expect(live().find((x) => x.name === i.name)).toMatchObject({ pid: i.pid, ready: true });
    expect(json<{ items: { name: string; ready: boolean }[] }>(['get', 'hosts']).items.find((h) => h.name === host)?.ready).toBe(true);
  });
});


// Agents under faults, end to end (issue 15, "Bad input and faults"): real `flo agent`
// processes (each with its own HOME, as a host would have) against a real `flo server`, then
// against a real etcd:
// - the store restarted under three agents: each says the store went away and that it is
//   back, keeps its instances running, holds its lease again, and its watch and status writes
//   work after the restart (a SIGKILLed instance is healed and reported, a scale-up started);
// - an agent whose store credentials are wrong (token, TLS CA) exits at once, saying what and
//   how to fix, and never retries forever;
// - an agent whose --store is etcd:// holds its lease and runs its instances — the agent release
//   (dist/agent, what flo host join installs) run from outside the repository, so it must
//   carry etcd3 itself.
// The agents run as this user on loopback (no sshd needed); cluster-agent*.test.ts cover hosts
// joined over ssh.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSampleArtifact } from '@flotilla/cluster/demo';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { appYaml, floArgv, processOf, until, write, type InstanceJson } from './cluster-harness.js';
import { FloCluster, freePorts } from './kv-harness.js';

vi.setConfig({ testTimeout: 300_000 });

const cliRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = fileURLToPath(new URL('../../../../packages/raft/test/fixtures/tls/', import.meta.url));

/** A `flo agent` process for one host, with its own HOME (where its instances live) and its stderr kept. */
class AgentProc {
  readonly home: string;
  log = '';
  proc: ChildProcess | undefined;
  constructor(
    readonly host: string,
    readonly root: string,
    readonly args: string[],
    readonly argv: string[] = floArgv(),
  ) {
    this.home = path.join(root, `home-${host}`);
    mkdirSync(this.home, { recursive: true });
  }
  start(): this {
    this.proc = spawn(process.execPath, [...this.argv, 'agent', '--host', this.host, '--lease-duration', '12', '--renew-interval', '2', '--sync-interval', '1', ...this.args], {
      cwd: this.root,
      env: { ...process.env, HOME: this.home, NO_COLOR: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.log += d.toString();
    });
    return this;
  }
  count(re: RegExp): number {
    return this.log.split('\n').filter((l) => re.test(l)).length;
  }
  exited(): Promise<number | null> {
    const p = this.proc!;
    if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode);
    return new Promise((r) => p.once('exit', (code) => r(code)));
  }
  async stop(): Promise<void> {
    const p = this.proc;
    if (p?.exitCode !== null || p.signalCode !== null) return;
    const done = this.exited();
    p.kill('SIGTERM');
    const late = setTimeout(() => p.kill('SIGKILL'), 30_000); // it stops within 5 s; never hang the suite
    await done;
    clearTimeout(late);
  }
}

/** Runs flo to completion. */
function floSync(dir: string, args: string[], expectCode = 0): { stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...floArgv(), ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
  if (r.status !== expectCode) throw new Error(`flo ${args.join(' ')} exited ${r.status} (expected ${expectCode})\n${r.stdout}\n${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

const hostsYaml = (names: string[]): string =>
  names.map((n) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${n}}\nspec: {address: 127.0.0.1, agent: true, capacity: {cpu: 2, memory: 2Gi}}\n`).join('---\n');

/** `node server.js` processes whose cwd is under `home` (an agent's instances). */
function serversUnder(home: string): number[] {
  const out = execFileSync('ps', ['-e', '-o', 'pid=,args='], { encoding: 'utf8' });
  const pids: number[] = [];
  for (const l of out.split('\n')) {
    if (!l.trim().endsWith('node server.js')) continue;
    const pid = Number(l.trim().split(/\s+/)[0]);
    try {
      if (execFileSync('readlink', [`/proc/${pid}/cwd`], { encoding: 'utf8' }).startsWith(home)) pids.push(pid);
    } catch {
      // gone
    }
  }
  return pids;
}

describe('the store (flo server) restarted under three agents', () => {
  const kv = new FloCluster();
  const dir = mkdtempSync(path.join(tmpdir(), 'flo-agent-faults-'));
  const names = ['fa1', 'fa2', 'fa3'];
  const agents: AgentProc[] = [];
  let store = '';
  let controller: ChildProcess | undefined;
  const flo = (args: string[], code = 0) => floSync(dir, [...args, '--store', store], code);
  const instances = (): InstanceJson[] => (JSON.parse(flo(['get', 'instances', '-o', 'json']).stdout) as { items: InstanceJson[] }).items.filter((i) => i.phase !== 'Terminating');

  beforeAll(async () => {
    await kv.start(1);
    store = `flotilla://127.0.0.1:${kv.members.get(1)!.clientPort}`;
    chmodSync(dir, 0o755);
    await writeSampleArtifact(dir);
    write(dir, 'hosts.yaml', hostsYaml(names));
    flo(['apply', '-f', 'hosts.yaml']);
    for (const n of names) agents.push(new AgentProc(n, dir, ['--store', store, '--request-timeout', '300']).start());
    await until('three agents hold their leases', () => agents.every((a) => a.count(/holding the lease of host/) >= 1), 120_000);
    controller = spawn(process.execPath, [...floArgv(), 'controller', '--probe-interval', '1', '--store', store], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  }, 180_000);

  afterAll(async () => {
    if (controller?.pid !== undefined && controller.exitCode === null) {
      const exited = new Promise((r) => controller!.once('exit', r));
      controller.kill('SIGTERM');
      await exited;
    }
    for (const a of agents) await a.stop();
    // the agents leave their instances running (as a host's would): stop them by pid
    for (const a of agents) for (const pid of serversUnder(a.home)) process.kill(pid, 'SIGKILL');
    await kv.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('each agent reports the outage and the recovery, keeps its instances, and its watch and status writes work again', async () => {
    write(dir, 'app.yaml', appYaml({ replicas: 3, artifact: './sample-app.tar.gz' }));
    flo(['apply', '-f', 'app.yaml']);
    const before = await until('3 ready', () => {
      const l = instances();
      return l.length === 3 && l.every((i) => i.ready) ? l : undefined;
    }, 180_000);

    // the agents' store calls retry for 300 s (--request-timeout) and so never fail while the
    // store is down for seconds: the outage is still reported (by the client's first retry)
    // and its end too — before, an agent reported only a call that gave up, and a store
    // restarted within one call's retry window went unreported, then 'back' never came
    await kv.kill(1);
    await until('every agent says the store is unreachable', () => agents.every((a) => a.count(/store .* unreachable \(http:\/\/127\.0\.0\.1:\d+: connection refused\)/) >= 1), 120_000);
    for (const i of before) expect(processOf(i.pid!)?.args).toBe('node server.js'); // still running
    kv.spawn(1);
    await kv.waitForLeader();
    const back = await until(
      'every agent says the store is reachable again',
      () => agents.every((a) => a.count(/store .* reachable again after/) >= 1),
      120_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${agents.map((a) => `--- ${a.host}\n${a.log.split('\n').slice(-25).join('\n')}`).join('\n')}`);
    });
    expect(back).toBe(true);
    for (const a of agents) expect(a.proc!.exitCode).toBeNull();
    const leases = floSync(dir, ['kv', 'get', '--prefix', '/flotilla/v1/hostleases/', '--endpoints', kv.url(1)]).stdout;
    for (const n of names) expect(leases).toContain(`/flotilla/v1/hostleases/${n}`);
    await until('hosts Ready', () => (JSON.parse(flo(['get', 'hosts', '-o', 'json']).stdout) as { items: { ready: boolean }[] }).items.every((h) => h.ready), 120_000);
    // nothing was restarted by the outage
    const same = instances();
    expect(same.map((i) => [i.name, i.pid]).sort()).toEqual(before.map((i) => [i.name, i.pid]).sort());

    // the agents' watches and writes work again: a killed instance is healed and reported…
    const victim = same[0]!;
    process.kill(victim.pid!, 'SIGKILL');
    await until('healed after the restart', () => {
      const cur = instances().find((i) => i.name === victim.name);
      return cur?.ready && cur.pid !== victim.pid && cur.restarts >= 1 ? cur : undefined;
    }, 120_000);
    // …and new instances bound to them after the restart are started
    flo(['scale', 'replicaset/web', '--replicas', '6']);
    await until('6 ready after the restart', () => {
      const l = instances();
      return l.length === 6 && l.every((i) => i.ready) ? l : undefined;
    }, 180_000);
  });
});

describe('an agent whose store credentials are wrong: one clear line and exit 1, never a retry loop', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'flo-agent-creds-'));
  const secret = (name: string, content: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, content);
    chmodSync(p, 0o600);
    return p;
  };
  const token = randomBytes(18).toString('base64url');
  const wrong = randomBytes(18).toString('base64url');
  const tokenFile = secret('client.token', `${token}\n`);
  const wrongFile = secret('wrong.token', `${wrong}\n`);
  const peerFile = secret('peer.token', `${randomBytes(24).toString('base64url')}\n`);
  const ca = path.join(fixtures, 'ca.crt');
  const cert = secret('member.crt', readFileSync(path.join(fixtures, 'member.crt'), 'utf8'));
  const key = secret('member.key', readFileSync(path.join(fixtures, 'member.key'), 'utf8'));
  const plain = new FloCluster({ extraArgs: ['--token-file', tokenFile, '--peer-token-file', peerFile], auth: { token } });
  const tls = new FloCluster({ extraArgs: ['--token-file', tokenFile, '--peer-token-file', peerFile, '--tls-cert', cert, '--tls-key', key], auth: { token, ca: readFileSync(ca) } });
  const storeOf = (c: FloCluster): string => `flotilla://127.0.0.1:${c.members.get(1)!.clientPort}`;

  beforeAll(async () => {
    await plain.start(1);
    await tls.start(1);
    write(dir, 'hosts.yaml', hostsYaml(['cred1']));
    floSync(dir, ['apply', '-f', 'hosts.yaml', '--store', storeOf(plain), '--store-token-file', tokenFile]);
    floSync(dir, ['apply', '-f', 'hosts.yaml', '--store', storeOf(tls), '--store-token-file', tokenFile, '--store-ca', ca]);
  }, 120_000);
  afterAll(async () => {
    await plain.stop();
    await tls.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['no token', () => ['--store', storeOf(plain)], /a valid bearer token is required.*--store-token-file FILE/],
    ['a wrong token', () => ['--store', storeOf(plain), '--store-token-file', wrongFile], /bearer token is required/],
    ['a wrong token over https', () => ['--store', storeOf(tls), '--store-ca', ca, '--store-token-file', wrongFile], /bearer token is required/],
    ['https without the CA', () => ['--store', storeOf(tls), '--store-token-file', tokenFile, '--store-cert', cert, '--store-key', key], /TLS handshake failed: .*--store-ca FILE/],
  ])('%s', async (_what, args, message) => {
    const agent = new AgentProc('cred1', dir, [...args(), '--state-dir', path.join(dir, `state-${randomBytes(4).toString('hex')}`)]).start();
    const code = await agent.exited();
    expect(code, agent.log).toBe(1);
    expect(agent.log).toMatch(message);
    expect(agent.log).not.toMatch(/retrying in/);
    expect(agent.log).not.toContain(token);
    expect(agent.log).not.toContain(wrong);
    expect(agent.count(/holding the lease/)).toBe(0);
  });

  it('the right credentials (token and CA over https): the agent holds its lease', async () => {
    const agent = new AgentProc('cred1', dir, ['--store', storeOf(tls), '--store-token-file', tokenFile, '--store-ca', ca, '--state-dir', path.join(dir, 'state-ok')]).start();
    try {
      await until('the lease held', () => agent.count(/holding the lease of host cred1/) === 1, 60_000);
      expect(agent.log).not.toContain(token);
    } finally {
      await agent.stop();
    }
  });
});

const etcdMissing = spawnSync('etcd', ['--version']).status !== 0;
if (etcdMissing && process.env.CI === 'true') throw new Error('CI=true but etcd is not installed (apt-get install -y etcd-server)');
if (etcdMissing) process.stderr.write('\n*** etcd is not installed (apt-get install -y etcd-server): SKIPPING the etcd:// agent test ***\n\n');

describe.skipIf(etcdMissing)('an agent whose --store is etcd:// (the agent release, run outside the repository)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'flo-agent-etcd-'));
  const release = path.join(dir, 'release'); // as flo host join installs it: no node_modules around it but its own
  let etcd: ChildProcess | undefined;
  let etcdArgs: string[] = [];
  let store = '';
  let controller: ChildProcess | undefined;
  let agent: AgentProc | undefined;
  const flo = (args: string[], code = 0) => floSync(dir, [...args, '--store', store], code);
  const instances = (): InstanceJson[] => (JSON.parse(flo(['get', 'instances', '-o', 'json']).stdout) as { items: InstanceJson[] }).items.filter((i) => i.phase !== 'Terminating');
  const startEtcd = async (): Promise<void> => {
    etcd = spawn('etcd', etcdArgs, { stdio: ['ignore', 'ignore', 'ignore'] });
    await until('etcd up', async () => {
      try {
        return (await fetch(`http://${store.slice('etcd://'.length)}/health`)).ok;
      } catch {
        return false;
      }
    }, 60_000);
  };
  const stopEtcd = async (signal: NodeJS.Signals): Promise<void> => {
    if (etcd?.exitCode !== null || etcd.signalCode !== null) return;
    const exited = new Promise((r) => etcd!.once('exit', r));
    etcd.kill(signal);
    await exited;
  };

  beforeAll(async () => {
    const built = path.join(cliRoot, 'dist/agent');
    if (!existsSync(path.join(built, 'bin/flo.mjs'))) throw new Error('apps/cli/dist/agent is missing: build the CLI first (npx nx run flotilla:build)');
    cpSync(built, release, { recursive: true });
    const [client, peer] = await freePorts(2);
    store = `etcd://127.0.0.1:${client}`;
    etcdArgs = [
      '--name', 'agent-etcd',
      '--data-dir', path.join(dir, 'etcd'),
      '--listen-client-urls', `http://127.0.0.1:${client}`,
      '--advertise-client-urls', `http://127.0.0.1:${client}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `agent-etcd=http://127.0.0.1:${peer}`,
      '--log-level', 'error',
    ];
    await startEtcd();
    chmodSync(dir, 0o755);
    await writeSampleArtifact(dir);
    write(dir, 'hosts.yaml', hostsYaml(['et1']));
    flo(['apply', '-f', 'hosts.yaml']);
  }, 120_000);

  afterAll(async () => {
    if (controller?.pid !== undefined && controller.exitCode === null) {
      const exited = new Promise((r) => controller!.once('exit', r));
      controller.kill('SIGTERM');
      await exited;
    }
    await agent?.stop();
    if (agent) for (const pid of serversUnder(agent.home)) process.kill(pid, 'SIGKILL');
    await stopEtcd('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('holds its lease in etcd, runs its instances, and rides out an etcd restart', async () => {
    agent = new AgentProc('et1', dir, ['--store', store], [path.join(release, 'bin/flo.mjs')]).start();
    await until('the lease held in etcd', () => agent!.count(/holding the lease of host et1/) === 1 || (agent!.proc!.exitCode !== null && Promise.reject(new Error(agent!.log))), 60_000);
    controller = spawn(process.execPath, [...floArgv(), 'controller', '--probe-interval', '1', '--store', store], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    write(dir, 'app.yaml', appYaml({ replicas: 2, artifact: './sample-app.tar.gz' }));
    flo(['apply', '-f', 'app.yaml']);
    const ready = await until('2 ready on the etcd agent', () => {
      const l = instances();
      return l.length === 2 && l.every((i) => i.ready) ? l : undefined;
    }, 180_000);
    for (const i of ready) expect(serversUnder(agent.home)).toContain(i.pid);
    expect(flo(['describe', `instance/${ready[0]!.name}`]).stdout).toMatch(/Started .*\(agent\)/);

    await stopEtcd('SIGKILL');
    await until('the agent says etcd is unreachable', () => agent!.count(/store etcd:\/\/.* unreachable/) >= 1, 120_000);
    await startEtcd();
    await until('the agent says etcd is reachable again', () => agent!.count(/store etcd:\/\/.* reachable again after/) >= 1, 120_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${agent!.log.split('\n').slice(-30).join('\n')}`);
    });
    expect(agent.proc!.exitCode).toBeNull();
    const after = await until('the same 2 ready', () => {
      const l = instances();
      return l.length === 2 && l.every((i) => i.ready) ? l : undefined;
    }, 120_000);
    expect(after.map((i) => [i.name, i.pid]).sort()).toEqual(ready.map((i) => [i.name, i.pid]).sort());
    const victim = after[0]!;
    process.kill(victim.pid!, 'SIGKILL');
    await until('healed and reported through etcd', () => {
      const cur = instances().find((i) => i.name === victim.name);
      return cur?.ready && cur.pid !== victim.pid ? cur : undefined;
    }, 120_000);
  });
});

// Issue 15: agentless ssh mode against agent mode on a real sshd fleet, at rest — where do
// agents pay off? For each fleet size (default 30, then 100 hosts), in one run:
//   1. a real sshd fleet (@flotilla/deploy/testing: one sshd and one unix user per host), one
//      `flo server` as the store, one `flo controller`, the same ReplicaSet (the sample app,
//      `node server.js` with an HTTP health check every 1 s; --per-host instances per host);
//   2. agentless: the controller probes every host over ssh (one probe + observe command per
//      host per interval, one HTTP health check per instance); at rest, measured at
//      --probe-interval 1 (the issue's "10.7 % of a core for 30 hosts at 1 s") and at 2 (the
//      controller's default, and the agent's default sync interval);
//   3. agent mode: `flo host join` on every host (the real agent release, started by the sh
//      supervisor as the host's user; the running instances are adopted), the same controller;
//      at rest, measured with the agents' defaults (sync every 2 s, lease renewed every 10 s).
// CPU per process from /proc/<pid>/stat (user + system, and what their reaped children used):
// the controller, the store, the hosts' side — agentless: every sshd of the fleet (listener,
// monitor and session processes, whose reaped children are the probe shells); agent mode: the
// `flo agent` processes (with their reaped children: the local observe commands) — and the
// instances themselves (the same in both modes). Reported per host per second, in % of a core,
// with the probe rate the controller really reached (its hosts controller's reconciles per host
// per second, from its /metrics) and its CPU per host reconcile.
// Needs root (the fleet). Run from the repository root, after building the CLI
// (npx nx run flotilla:build), under the bench lock:
//   flock /tmp/flotilla-bench.lock node --conditions=@flotilla/source --import tsx packages/cluster/bench/agent-vs-ssh.ts [--sizes 30,100] [--per-host 1] [--rest 30] [--subnet 111]
// (or npm run bench:agents -w @flotilla/cluster). 100 hosts take ~12 GB of memory (an agent ~75 MB,
// an instance ~45 MB) and ~15 minutes on a loaded 2-core machine (the joins are most of it).
import { execFile, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fleetAvailability, startFleet, type Fleet } from '@flotilla/deploy/testing';
import { freePorts } from '@flotilla/raft/testing';
import { log, sleep, spawnTracked } from './kit.js';
import { openStore, type ClusterStore } from '../src/index.js';
import { writeSampleArtifact } from '../src/demo/index.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const SIZES = arg('sizes', '30,100').split(',').map(Number);
const PER_HOST = Number(arg('per-host', '1'));
const REST_S = Number(arg('rest', '30'));
const SETTLE_S = Number(arg('settle', '10'));
const SUBNET = Number(arg('subnet', '111'));
const JOIN_CONCURRENCY = Number(arg('join-concurrency', '6'));

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const floBin = path.join(repo, 'apps/cli/bin/flo.js');
const HZ = 100; // USER_HZ: /proc times are in 1/100 s on Linux
const children = new Set<ChildProcess>();


/** A long-running flo process (server, controller), stopped by its pid. */
function spawnFlo(name: string, cwd: string, args: string[]): ChildProcess {
  return spawnTracked(children, name, process.execPath, [floBin, ...args], { cwd });
}

async function stopChild(c: ChildProcess | undefined): Promise<void> {
  if (c?.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  process.kill(c.pid, 'SIGTERM');
  const late = setTimeout(() => c.pid !== undefined && process.kill(c.pid, 'SIGKILL'), 20_000);
  await exited;
  clearTimeout(late);
}

/** Runs flo to completion; rejects with its output when it fails. */
function floOnce(cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [floBin, ...args], { cwd, encoding: 'utf8', timeout: 300_000, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`flo ${args.slice(0, 3).join(' ')}: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** CPU ticks (user + system of the process and of its reaped children) and RSS (kB) of a pid. */
function procTimes(pid: number): { ticks: number; rssKb: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields 14-17 of proc(5): utime stime cutime cstime (f[0] is field 3)
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { ticks, rssKb: rss ? Number(rss[1]) : 0 };
  } catch {
    return undefined; // gone
  }
}

/** Every process whose parent chain reaches `root` (root included). */
function descendants(roots: readonly number[]): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const want = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parent)
      if (!want.has(pid) && want.has(ppid)) {
        want.add(pid);
        grew = true;
      }
  }
  return [...want].filter((p) => parent.has(p));
}

/** pids of the processes of a unix user whose command line ends with `suffix`. */
function processesOf(uids: ReadonlySet<number>, test: (cmdline: string) => boolean): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${d}/status`, 'utf8'))?.[1]);
      if (!uids.has(uid)) continue;
      if (test(readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').trim())) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

/** A group of processes measured over a window: CPU ticks at start (per pid; a pid that appears later counts from 0). */
class Group {
  #start = new Map<number, number>();
  constructor(readonly name: string, readonly pids: () => number[]) {}
  begin(): void {
    this.#start = new Map(this.pids().flatMap((p) => {
      const t = procTimes(p);
      return t ? [[p, t.ticks] as [number, number]] : [];
    }));
  }
  /** CPU seconds used since begin() by the processes alive now, and their RSS (MB). */
  end(): { cpuS: number; rssMB: number; count: number } {
    let ticks = 0;
    let rss = 0;
    let count = 0;
    for (const p of this.pids()) {
      const t = procTimes(p);
      if (!t) continue;
      ticks += t.ticks - (this.#start.get(p) ?? 0);
      rss += t.rssKb;
      count++;
    }
    return { cpuS: ticks / HZ, rssMB: rss / 1024, count };
  }
}

interface Window {
  label: string;
  wallS: number;
  groups: Record<string, { cpuS: number; rssMB: number; count: number }>;
  /** Reconciles of the hosts controller in the window (each one a probe + observe over ssh of an agentless host, a lease read of an agent host). */
  hostReconciles: number;
}

/** controller_runtime_reconcile_total of the hosts controller, every result, from the controller's /metrics. */
async function hostReconciles(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith('controller_runtime_reconcile_total{') && line.includes('controller="hosts"')) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  return n;
}

async function measureRest(label: string, groups: Group[], metricsUrl: string): Promise<Window> {
  log(`${label}: settling ${SETTLE_S} s, then measuring ${REST_S} s at rest`);
  await sleep(SETTLE_S * 1000);
  const r0 = await hostReconciles(metricsUrl);
  for (const g of groups) g.begin();
  const t0 = performance.now();
  await sleep(REST_S * 1000);
  const wallS = (performance.now() - t0) / 1000;
  const out: Window = { label, wallS, groups: {}, hostReconciles: 0 };
  for (const g of groups) out.groups[g.name] = g.end();
  out.hostReconciles = (await hostReconciles(metricsUrl)) - r0;
  return out;
}

async function until<T>(what: string, f: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last instanceof Error ? ` (${last.message})` : ''}`);
    await sleep(1000);
  }
}

async function allReady(store: ClusterStore, n: number, agents: boolean): Promise<boolean> {
  const items = await store.instances.items();
  const live = items.filter((i) => i.metadata.deletionTimestamp === undefined);
  if (live.length !== n || !live.every((i) => i.status?.ready === true && i.status.phase === 'Running')) return false;
  const hosts = await store.hosts.items();
  return hosts.every((h) => h.status?.ready === true && (h.spec.agent === true) === agents);
}

const pct = (cpuS: number, wallS: number, per = 1): number => (cpuS / wallS / per) * 100;

async function runSize(size: number): Promise<{ size: number; windows: Window[] }> {
  log(`--- ${size} hosts: starting the fleet (127.0.${SUBNET}.11…), load ${loadavg()[0]!.toFixed(1)}, free memory ${(freemem() / 2 ** 30).toFixed(1)} GiB`);
  const dir = mkdtempSync(path.join(tmpdir(), 'flo-bench-agent-'));
  chmodSync(dir, 0o755); // the hosts' users read the artifacts apply copies here (agent mode)
  let fleet: Fleet | undefined;
  let server: ChildProcess | undefined;
  let controller: ChildProcess | undefined;
  let store: ClusterStore | undefined;
  try {
    const t = performance.now();
    fleet = await startFleet({ size, subnet: SUBNET, userPrefix: 'fltav', namePrefix: 'av' });
    log(`fleet of ${size} up in ${((performance.now() - t) / 1000).toFixed(0)} s`);
    const [client, peer, metrics] = await freePorts(3);
    const metricsUrl = `http://127.0.0.1:${metrics}/metrics`;
    server = spawnFlo('flo server', dir, ['server', '--id', '1', '--listen', `127.0.0.1:${client}`, '--peer-listen', `127.0.0.1:${peer}`, '--peers', `1=127.0.0.1:${peer}`, '--data', path.join(dir, 'kv')]);
    const url = `flotilla://127.0.0.1:${client}`;
    store = await until('the store', async () => openStore(url), 60_000);
    const common = ['--store', url, '--ssh-config', fleet.sshConfigFile];
    await writeSampleArtifact(dir);
    writeFileSync(
      path.join(dir, 'hosts.yaml'),
      fleet.hosts.map((h) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${h.name}}\nspec: {address: ${h.name}, capacity: {cpu: 4, memory: 8Gi}}\n`).join('---\n'),
    );
    await floOnce(dir, ['apply', '-f', 'hosts.yaml', ...common]);
    const replicas = size * PER_HOST;
    writeFileSync(
      path.join(dir, 'app.yaml'),
      `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: ${replicas}
  selector: "app=web"
  placement: spread
  template:
    metadata: {labels: {app: web}}
    spec:
      artifact: ./sample-app.tar.gz
      command: [node, server.js]
      ports: [{name: http}]
      resources: {cpu: 100m, memory: 32Mi}
      healthCheck: {http: {path: /healthz, port: http}, periodSeconds: 1}
      terminationGracePeriodSeconds: 2
`,
    );
    const uids = new Set(fleet.hosts.map((h) => h.uid));
    const sshd = new Group('sshd', () => descendants(fleet!.hosts.map((h) => h.pid)));
    const instances = new Group('instances', () => processesOf(uids, (c) => c.endsWith('node server.js')));
    const agents = new Group('agents', () => processesOf(uids, (c) => c.startsWith('node ') && c.includes(' agent --host ')));
    const srv = new Group('store', () => (server?.pid !== undefined ? [server.pid] : []));
    const ctl = new Group('controller', () => (controller?.pid !== undefined ? [controller.pid] : []));
    const groups = [ctl, srv, sshd, agents, instances];
    const windows: Window[] = [];

    for (const probe of [1, 2]) {
      await stopChild(controller);
      controller = spawnFlo('flo controller', dir, ['controller', '--probe-interval', String(probe), '--metrics-listen', `127.0.0.1:${metrics}`, ...common]);
      if (probe === 1) {
        await until('hosts Ready', async () => (await store!.hosts.items()).every((h) => h.status?.ready === true), 300_000);
        const t0 = performance.now();
        await floOnce(dir, ['apply', '-f', 'app.yaml', ...common]);
        await until(`${replicas} instances ready`, () => allReady(store!, replicas, false), 900_000);
        log(`${replicas} instances ready over ssh in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      } else await until('the new controller leads and all is ready', () => allReady(store!, replicas, false), 300_000);
      windows.push(await measureRest(`agentless, probe every ${probe} s`, groups, metricsUrl));
    }

    // agent mode: join every host (as an operator would: flo host join NAME), a few at a time
    const t1 = performance.now();
    const queue = fleet.hosts.map((h) => h.name);
    await Promise.all(
      Array.from({ length: JOIN_CONCURRENCY }, async () => {
        for (let name = queue.shift(); name !== undefined; name = queue.shift()) await floOnce(dir, ['host', 'join', name, ...common]);
      }),
    );
    log(`${size} hosts joined in ${((performance.now() - t1) / 1000).toFixed(0)} s`);
    await until('every instance ready on agent hosts', () => allReady(store!, replicas, true), 300_000);
    // the controller that ran agentless at 2 s keeps running: agent hosts are not probed over ssh
    windows.push(await measureRest('agent mode (controller --probe-interval 2; agents: sync 2 s, lease renewed every 10 s)', groups, metricsUrl));
    const adopted = (await store.instances.items()).filter((i) => (i.status?.restarts ?? 0) === 0).length;
    log(`instances never restarted across the join (adopted): ${adopted} of ${replicas}`);
    return { size, windows };
  } finally {
    await stopChild(controller);
    await store?.close();
    await fleet?.stop(); // the agents, their supervisors and the instances are the fleet users' processes
    await stopChild(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

const avail = fleetAvailability();
if (!avail.ok) {
  console.error(`cannot run: ${avail.reason}`);
  process.exit(2);
}
if (!existsSync(path.join(repo, 'apps/cli/dist/main.js')) || !existsSync(path.join(repo, 'apps/cli/dist/agent/bin/flo.mjs'))) {
  console.error('the built CLI is missing (apps/cli/dist, dist/agent): run npx nx run flotilla:build first');
  process.exit(2);
}
console.log(`${new Date().toISOString()} machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
const results: { size: number; windows: Window[] }[] = [];
try {
  for (const size of SIZES) {
    results.push(await runSize(size));
    const r = results.at(-1)!;
    for (const w of r.windows) {
      const g = w.groups;
      const hostSide = g.sshd!.cpuS + g.agents!.cpuS;
      console.log(
        `RESULT ${r.size} hosts, ${w.label}: % of a core per host — controller ${pct(g.controller!.cpuS, w.wallS, r.size).toFixed(3)}, store ${pct(g.store!.cpuS, w.wallS, r.size).toFixed(3)}, ` +
          `hosts' side (sshd ${pct(g.sshd!.cpuS, w.wallS, r.size).toFixed(3)} + agents ${pct(g.agents!.cpuS, w.wallS, r.size).toFixed(3)}) ${pct(hostSide, w.wallS, r.size).toFixed(3)}, ` +
          `central + hosts ${pct(g.controller!.cpuS + g.store!.cpuS + hostSide, w.wallS, r.size).toFixed(3)}; instances ${pct(g.instances!.cpuS, w.wallS, r.size).toFixed(3)} | ` +
          `totals: controller ${pct(g.controller!.cpuS, w.wallS).toFixed(1)} % (${g.controller!.rssMB.toFixed(0)} MB), store ${pct(g.store!.cpuS, w.wallS).toFixed(1)} % (${g.store!.rssMB.toFixed(0)} MB), ` +
          `sshd ${pct(g.sshd!.cpuS, w.wallS).toFixed(1)} % (${g.sshd!.count} processes), agents ${pct(g.agents!.cpuS, w.wallS).toFixed(1)} % (${g.agents!.count}, ${g.agents!.rssMB.toFixed(0)} MB), ` +
          `instances ${pct(g.instances!.cpuS, w.wallS).toFixed(1)} % (${g.instances!.count}); ${w.wallS.toFixed(1)} s | ` +
          `hosts controller: ${(w.hostReconciles / w.wallS / r.size).toFixed(2)} reconciles per host per s, controller CPU ${((g.controller!.cpuS / Math.max(1, w.hostReconciles)) * 1000).toFixed(1)} ms per host reconcile`,
      );
    }
  }
  console.log(`load after: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(JSON.stringify(results));
} finally {
  for (const c of [...children]) await stopChild(c);
}

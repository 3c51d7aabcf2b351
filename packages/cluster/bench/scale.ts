// Issue 15's scale benchmark: hollow hosts (`flo agent --hollow`), `flo controller` and a
// 3-member store — `flo server` first, then etcd 3.4 (Debian's) in the same run — on this machine:
//   1. apply R replica sets × 100 (one applyManifests of a multi-document file: the new
//      replica sets are created in transactions of 50; its time is reported apart) → every
//      instance Running: time from the apply, instances/s, and each
//      instance's start-up latency (created → Running, from its creationTimestamp and the
//      status.startedAt its hollow host wrote) p50/p99;
//   2. at rest (30 s): CPU and memory of the controller, the store members and the hollow
//      processes, and the store's write rate (revisions/s), per 1,000 hosts;
//   3. kill 10 % of the hollow hosts (SIGKILL of the process holding them): time until every
//      instance is Running on the live hosts, against the grace period (40 s) + 10 s.
// The hollow hosts run in 10 processes (the first holds 10 % of them: the one killed).
// Run from the repository root (defaults: issue 15's full scale):
//   node --conditions=@flotilla/source --import tsx packages/cluster/bench/scale.ts [--hosts 5000] [--replicasets 1500] [--replicas 100] [--stores flotilla,etcd] [--timeout 900] [--rest 30] [--kill false] [--controllers DIR,.]
// --controllers: an A/B of the controller in one run (per store, once with each checkout's controller).
// BENCH_PROFILE=DIR: the controller runs under node --cpu-prof, profiles written to DIR.
// BENCH_LOG=DIR: the controller's log (json, info) is written to DIR/controller-<store>.log, each flo
// server member's to DIR/flo-server-<id>.log. BENCH_PROFILE_STORE=DIR: the members run under --cpu-prof.
// The store members' CPU seconds during the host start-up and the apply are printed for both
// stores (from /proc), and during the apply the controller's and the hollow processes' too.
// The kill phase prints a timeline (seconds after the SIGKILL): leases expired in the store,
// hosts NotReady, instances evicted, replacements created, replacements Running.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '@flotilla/raft/testing';
import { log, sleep, spawnTracked } from './kit.js';
import { ClusterStore, HOST_LEASE_PREFIX, applyManifests, openKvStore, parseManifests, parseStoreUrl, type Instance } from '../src/index.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const HOSTS = Number(arg('hosts', '5000'));
const RS = Number(arg('replicasets', '1500'));
const REPLICAS = Number(arg('replicas', '100'));
const STORES = arg('stores', 'flotilla,etcd').split(',');
const TIMEOUT_S = Number(arg('timeout', '900'));
const REST_S = Number(arg('rest', '30'));
const PROCS = Number(arg('procs', '10'));
/**
 * `--controllers DIR[,DIR…]`: an A/B of the controller in the same run — per store, the whole
 * measure once with the controller of each checkout (a directory with its own node_modules,
 * run from source; `.` is this one). The stores and hollow hosts are always this checkout's.
 */
const CONTROLLERS = arg('controllers', '.').split(',');
/** `--kill false`: skip the kill-10 % step (up to grace + 310 s per store). */
const KILL = arg('kill', 'true') !== 'false';
const GRACE_S = 40;
const TOTAL = RS * REPLICAS;

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cliDist = path.join(repo, 'apps/cli/dist/main.js');
// the CLI from source (tsx resolved here, so it runs from any directory); BENCH_FROM_DIST=1: the build
const floArgv = process.env.BENCH_FROM_DIST === '1' && existsSync(cliDist) ? [path.join(repo, 'apps/cli/bin/flo.js')] : ['--conditions=@flotilla/source', '--import', import.meta.resolve('tsx'), path.join(repo, 'apps/cli/src/main.ts')];
/**
 * BENCH_PROFILE_STORE=DIR: each flo server member runs under node --cpu-prof, its profiles written
 * to DIR/flo-server-<id>/ on exit: one per thread (with the CLI run from source, tsx's loader
 * thread writes one too: a fixed --cpu-prof-name made it overwrite the main thread's).
 */
const storeProfileDir = process.env.BENCH_PROFILE_STORE;
if (storeProfileDir) mkdirSync(storeProfileDir, { recursive: true });
const root = mkdtempSync(path.join(process.env.BENCH_DIR ?? tmpdir(), 'flo-bench-scale-'));
const children = new Set<ChildProcess>();

/** The CLI of another checkout, from source (`--controllers`). */
const floArgvOf = (dir: string): string[] =>
  dir === '.' ? floArgv : ['--conditions=@flotilla/source', '--import', import.meta.resolve('tsx'), path.join(path.resolve(dir), 'apps/cli/src/main.ts')];

function run(name: string, argv: string[], nodeArgs: string[] = [], logFile?: string, cli: string[] = floArgv): ChildProcess {
  const isNode = argv[0] === 'flo';
  const cmd = isNode ? process.execPath : argv[0]!;
  const args = isNode ? [...nodeArgs, ...cli, ...argv.slice(1)] : argv.slice(1);
  return spawnTracked(children, name, cmd, args, { cwd: root, env: { ETCD_UNSUPPORTED_ARCH: process.arch === 'x64' ? '' : process.arch }, logFile });
}

async function stopAll(): Promise<void> {
  const all = [...children];
  for (const c of all) c.kill('SIGTERM');
  await Promise.race([Promise.all(all.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r))))), sleep(15_000)]);
  for (const c of children) c.kill('SIGKILL');
}

/** CPU seconds (user+system) and RSS of a process, from /proc. */
function usage(pid: number): { cpuS: number; rssMB: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]);
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuS: ticks / 100, rssMB: rss ? Number(rss[1]) / 1024 : 0 };
  } catch {
    return { cpuS: 0, rssMB: 0 };
  }
}

interface StoreUnderTest {
  name: string;
  url: string;
  members: ChildProcess[];
  /** The store's current revision. */
  revision(): Promise<number>;
}

/** The store's revision from the first of `endpoints` that gives one (`ask` → undefined: ask the next). */
function fromAnyMember(store: string, endpoints: readonly string[], ask: (endpoint: string) => Promise<number | undefined>): () => Promise<number> {
  return async () => {
    for (const e of endpoints) {
      try {
        const revision = await ask(e);
        if (revision !== undefined) return revision;
      } catch {
        // next
      }
    }
    throw new Error(`no ${store} member answers`);
  };
}

/** Waits (up to a minute) until the store gives its revision. */
async function answering(revision: () => Promise<number>): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await revision();
      return;
    } catch (e) {
      if (i > 600) throw e;
      await sleep(100);
    }
  }
}

/** Each measure's store starts empty: its own data directories. */
let round = 0;

async function startFlotilla(): Promise<StoreUnderTest> {
  if (process.env.BENCH_LOG) mkdirSync(process.env.BENCH_LOG, { recursive: true });
  const ports = await freePorts(6);
  const peers = [1, 2, 3].map((id, i) => `${id}=127.0.0.1:${ports[2 * i + 1]}`).join(',');
  const members = [1, 2, 3].map((id, i) =>
    run(
      `flo server ${id}`,
      ['flo', 'server', '--id', String(id), '--listen', `127.0.0.1:${ports[2 * i]}`, '--peer-listen', `127.0.0.1:${ports[2 * i + 1]}`, '--peers', peers, '--data', path.join(root, `flo-${round}-${id}`)],
      ['--max-old-space-size=4096', ...(storeProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(storeProfileDir, `flo-server-${round}-${id}`)}`] : [])],
      process.env.BENCH_LOG ? path.join(process.env.BENCH_LOG, `flo-server-${id}.log`) : undefined,
    ),
  );
  const endpoints = [0, 2, 4].map((i) => `127.0.0.1:${ports[i]}`);
  const revision = fromAnyMember('flo server', endpoints, async (e) => {
    const r = (await (await fetch(`http://${e}/v1/status`)).json()) as { revision: number; leader: number };
    return r.leader > 0 ? r.revision : undefined;
  });
  await answering(revision);
  return { name: 'flo server ×3', url: `flotilla://${endpoints.join(',')}`, members, revision };
}

async function startEtcd(): Promise<StoreUnderTest> {
  const bin = ['/usr/bin/etcd', '/usr/local/bin/etcd'].find((p) => existsSync(p));
  if (!bin) throw new Error('etcd is not installed: apt-get install -y etcd-server');
  const ports = await freePorts(6);
  const names = ['e1', 'e2', 'e3'];
  const initial = names.map((n, i) => `${n}=http://127.0.0.1:${ports[2 * i + 1]}`).join(',');
  const members = names.map((name, i) => {
    const client = `http://127.0.0.1:${ports[2 * i]}`;
    const peer = `http://127.0.0.1:${ports[2 * i + 1]}`;
    // the same history as a flo server member keeps (--auto-compact-revisions 10000) and room for 150,000 instances
    return run(`etcd ${name}`, [bin, '--name', name, '--data-dir', path.join(root, `etcd-${round}-${name}`), '--listen-client-urls', client, '--advertise-client-urls', client, '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', 'flo-bench-scale', '--auto-compaction-mode', 'revision', '--auto-compaction-retention', '10000', '--quota-backend-bytes', String(8 * 1024 ** 3), '--log-level', 'error']);
  });
  const endpoints = [0, 2, 4].map((i) => `127.0.0.1:${ports[i]}`);
  const revision = fromAnyMember('etcd', endpoints, async (e) => {
    const r = (await (await fetch(`http://${e}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('\0').toString('base64') }) })).json()) as { header: { revision: string } };
    return Number(r.header.revision);
  });
  await answering(revision);
  return { name: 'etcd 3.4 ×3', url: `etcd://${endpoints.join(',')}`, members, revision };
}

const quantile = (xs: Float64Array | number[], q: number): number => {
  if (xs.length === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};

interface Result {
  store: string;
  hosts: number;
  instances: number;
  hostsReadyS: number;
  applyS: number;
  running: number;
  allRunningS?: number;
  perS: number;
  p50Ms: number;
  p99Ms: number;
  rest?: { controllerCpu: number; controllerMB: number; storeCpu: number; storeMB: number; agentsCpu: number; agentsMB: number; writesPerS: number };
  kill?: { killedHosts: number; instancesOnThem: number; recoveredS?: number };
}

async function measure(start: () => Promise<StoreUnderTest>, controllerDir = '.'): Promise<Result> {
  round++;
  const store = await start();
  if (controllerDir !== '.') store.name = `${store.name} (controller from ${controllerDir})`;
  log(`${store.name} up: ${store.url}`);
  const kv = await openKvStore(parseStoreUrl(store.url, root));
  const cluster = new ClusterStore(kv);
  // hollow processes: the first holds 10 % of the hosts (the one killed later)
  const tenth = Math.max(1, Math.round(HOSTS / 10));
  const shares: [number, number][] = [[0, tenth]];
  const rest = HOSTS - tenth;
  const others = Math.max(1, PROCS - 1);
  for (let p = 0, at = tenth; p < others; p++) {
    const n = Math.floor(rest / others) + (p < rest % others ? 1 : 0);
    if (n > 0) shares.push([at, n]);
    at += n;
  }
  const t0 = performance.now();
  /** CPU seconds of the store's members (each, then their sum) since `from`. */
  const memberCpu = (from: number[]): string => {
    const now = store.members.map((m) => usage(m.pid!).cpuS);
    const each = now.map((c, i) => c - from[i]!);
    return `${each.reduce((a, b) => a + b, 0).toFixed(1)} s (${each.map((c) => c.toFixed(1)).join(' + ')})`;
  };
  const cpuAtStart = store.members.map((m) => usage(m.pid!).cpuS);
  const hollow = shares.map(([first, n], i) => run(`hollow ${i}`, ['flo', 'agent', '--hollow', String(n), '--hollow-start', String(first), '--hollow-prefix', 'hollow-', '--hollow-capacity', 'cpu=32,memory=128Gi', '--store', store.url], ['--max-old-space-size=4096']));
  const profileDir = process.env.BENCH_PROFILE;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const logDir = process.env.BENCH_LOG;
  if (logDir) mkdirSync(logDir, { recursive: true });
  const controller = run(
    'controller',
    ['flo', 'controller', '--store', store.url, ...(logDir ? ['--log-format', 'json', '--log-level', 'info'] : [])],
    ['--max-old-space-size=8192', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])],
    logDir ? path.join(logDir, `controller-${store.name.replace(/[^a-z0-9]+/gi, '-')}.log`) : undefined,
    floArgvOf(controllerDir),
  );

  // the bench's own view: every instance's phase, from one watch (what an informer keeps)
  const created = new Map<string, number>();
  const runningAt = new Map<string, number>();
  const hostOf = new Map<string, string>();
  /** When each instance was marked for deletion (its deletionTimestamp, epoch ms). */
  const evictedAt = new Map<string, number>();
  const latencies: number[] = [];
  let revisionNow = 0;
  const watchAbort = new AbortController();
  /** One instance as the watch (or a re-list) shows it. */
  const see = (i: Instance): void => {
    const name = i.metadata.name;
    if (i.metadata.deletionTimestamp !== undefined) {
      runningAt.delete(name);
      if (!evictedAt.has(name)) evictedAt.set(name, Date.parse(i.metadata.deletionTimestamp));
      return;
    }
    hostOf.set(name, i.spec.host);
    if (!created.has(name)) created.set(name, Date.parse(i.metadata.creationTimestamp ?? new Date().toISOString()));
    if (i.status?.phase === 'Running' && i.status.ready && !runningAt.has(name)) {
      const at = Date.parse(i.status.startedAt ?? new Date().toISOString());
      runningAt.set(name, at);
      latencies.push(at - created.get(name)!);
    }
  };
  const forget = (name: string): void => {
    created.delete(name);
    runningAt.delete(name);
    hostOf.delete(name);
  };
  const watching = (async () => {
    let from = (await cluster.instances.list({ limit: 1 })).revision + 1;
    for (;;) {
      let expired = false;
      for await (const ev of cluster.instances.watch(from, { signal: watchAbort.signal })) {
        if (ev.type === 'progress') continue;
        if (ev.type === 'expired') {
          expired = true;
          break;
        }
        revisionNow = ev.revision;
        from = ev.revision + 1;
        if (ev.type === 'deleted') forget(ev.object.metadata.name);
        else see(ev.object);
      }
      if (!expired || watchAbort.signal.aborted) return;
      // the store compacted past this watch (a lagging watch at high load): re-list, as an
      // informer does, so no instance's Running is missed, then watch on from the list
      const all = await cluster.instances.list();
      log(`bench watch: compacted past revision ${from - 1}; re-listed ${all.items.length} instances at revision ${all.revision}`);
      const names = new Set(all.items.map((e) => e.object.metadata.name));
      for (const name of [...created.keys()]) if (!names.has(name)) forget(name);
      for (const e of all.items) see(e.object);
      from = all.revision + 1;
    }
  })().catch((e: unknown) => log(`bench watch ended: ${String(e)}`));

  // hosts Ready (the controller judges them by their leases)
  for (;;) {
    const hosts = await cluster.hosts.items();
    const ready = hosts.filter((h) => h.status?.ready === true).length;
    if (ready === HOSTS) break;
    if ((performance.now() - t0) / 1000 > TIMEOUT_S) {
      // a few hosts short (their agents' trouble is theirs): measure the control plane on the others
      if (ready < 0.99 * HOSTS) throw new Error(`only ${ready} of ${HOSTS} hosts Ready after ${TIMEOUT_S} s`);
      log(`only ${ready} of ${HOSTS} hosts Ready after ${TIMEOUT_S} s: going on with them`);
      break;
    }
    await sleep(2000);
  }
  const hostsReadyS = (performance.now() - t0) / 1000;
  log(`${HOSTS} hollow hosts Ready in ${hostsReadyS.toFixed(1)} s; the store members' CPU meanwhile ${memberCpu(cpuAtStart)}`);
  const cpuAtApply = store.members.map((m) => usage(m.pid!).cpuS);
  /** The controller's and the hollow processes' CPU seconds (the rest of the machine's work). */
  const othersCpu = (): { controller: number; agents: number } => ({ controller: usage(controller.pid!).cpuS, agents: hollow.reduce((sum, h) => sum + usage(h.pid!).cpuS, 0) });
  const othersAtApply = othersCpu();

  // apply R replica sets of 100
  const yaml = Array.from(
    { length: RS },
    (_, r) => `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: rs-${r}}
spec:
  replicas: ${REPLICAS}
  selector: "app=rs-${r}"
  template:
    metadata: {labels: {app: rs-${r}}}
    spec:
      command: [node, server.js]
      ports: [{name: http}]
      resources: {cpu: 10m, memory: 16Mi}
`,
  ).join('---\n');
  const t1 = performance.now();
  await applyManifests(cluster, parseManifests(yaml).objects);
  const applyS = (performance.now() - t1) / 1000;
  log(`applied ${RS} replica sets in ${applyS.toFixed(1)} s`);
  let lastLog = 0;
  let allRunningS: number | undefined;
  while ((performance.now() - t1) / 1000 < TIMEOUT_S) {
    if (runningAt.size >= TOTAL) {
      allRunningS = (performance.now() - t1) / 1000;
      break;
    }
    if (performance.now() - lastLog > 10_000) {
      lastLog = performance.now();
      log(`  ${((performance.now() - t1) / 1000).toFixed(0)} s: ${created.size} created, ${runningAt.size} Running (load ${loadavg()[0]!.toFixed(1)})`);
    }
    await sleep(250);
  }
  const elapsed = allRunningS ?? (performance.now() - t1) / 1000;
  const othersNow = othersCpu();
  log(
    `the store members' CPU from the apply to ${allRunningS !== undefined ? 'all Running' : 'the timeout'} (${elapsed.toFixed(1)} s): ${memberCpu(cpuAtApply)}; the controller ${(othersNow.controller - othersAtApply.controller).toFixed(1)} s, the hollow processes ${(othersNow.agents - othersAtApply.agents).toFixed(1)} s (load ${loadavg()[0]!.toFixed(1)})`,
  );
  const result: Result = {
    store: store.name,
    hosts: HOSTS,
    instances: TOTAL,
    hostsReadyS,
    applyS,
    running: runningAt.size,
    ...(allRunningS !== undefined ? { allRunningS } : {}),
    perS: runningAt.size / elapsed,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
  };
  log(`RESULT ${store.name}: ${runningAt.size}/${TOTAL} Running ${allRunningS !== undefined ? `in ${allRunningS.toFixed(1)} s` : `after the ${TIMEOUT_S} s timeout`} (${result.perS.toFixed(0)}/s); created→Running p50 ${result.p50Ms.toFixed(0)} ms, p99 ${result.p99Ms.toFixed(0)} ms`);

  if (allRunningS !== undefined) {
    // at rest
    await sleep(5000);
    const pids = { controller: [controller.pid!], store: store.members.map((m) => m.pid!), agents: hollow.map((h) => h.pid!) };
    const before = Object.fromEntries(Object.entries(pids).map(([k, ps]) => [k, ps.map(usage)])) as Record<keyof typeof pids, { cpuS: number; rssMB: number }[]>;
    const rev0 = await store.revision();
    await sleep(REST_S * 1000);
    const rev1 = await store.revision();
    const after = Object.fromEntries(Object.entries(pids).map(([k, ps]) => [k, ps.map(usage)])) as typeof before;
    const cpu = (k: keyof typeof pids): number => after[k].reduce((s, u, i) => s + u.cpuS - before[k][i]!.cpuS, 0) / REST_S;
    const mem = (k: keyof typeof pids): number => after[k].reduce((s, u) => s + u.rssMB, 0);
    result.rest = { controllerCpu: cpu('controller'), controllerMB: mem('controller'), storeCpu: cpu('store'), storeMB: mem('store'), agentsCpu: cpu('agents'), agentsMB: mem('agents'), writesPerS: (rev1 - rev0) / REST_S };
    const k = HOSTS / 1000;
    log(
      `RESULT at rest (${REST_S} s), per 1,000 hosts: controller ${((100 * result.rest.controllerCpu) / k).toFixed(1)} % CPU, store ${((100 * result.rest.storeCpu) / k).toFixed(1)} %, agents ${((100 * result.rest.agentsCpu) / k).toFixed(1)} %; store writes ${(result.rest.writesPerS / k).toFixed(1)}/s; memory (total) controller ${result.rest.controllerMB.toFixed(0)} MB, store ${result.rest.storeMB.toFixed(0)} MB, agents ${result.rest.agentsMB.toFixed(0)} MB`,
    );

    if (!KILL) return finish(result);
    // kill 10 % of the hosts
    const killed = new Set(Array.from({ length: tenth }, (_, i) => `hollow-${i}`));
    const onKilled = [...hostOf.entries()].filter(([n, h]) => killed.has(h) && runningAt.has(n)).length;
    const timeline = killTimeline(kv, cluster, killed);
    const tk = performance.now();
    const killedAt = Date.now();
    hollow[0]!.kill('SIGKILL');
    log(`killed the process of ${tenth} hollow hosts (${onKilled} instances on them)`);
    let recoveredS: number | undefined;
    const replacements = (): string[] => [...created].filter(([n, at]) => at >= killedAt && !killed.has(hostOf.get(n) ?? '')).map(([n]) => n);
    const stage = (times: readonly number[]): string => {
      const s = times.map((t) => (t - killedAt) / 1000).sort((a, b) => a - b);
      return s.length === 0 ? '0' : `${s.length} (first ${s[0]!.toFixed(1)} s, p50 ${quantile(s, 0.5).toFixed(1)} s, last ${s.at(-1)!.toFixed(1)} s)`;
    };
    const evictions = (): number[] => [...evictedAt].filter(([n, at]) => at >= killedAt && killed.has(hostOf.get(n) ?? '')).map(([, at]) => at);
    const report = (prefix: string): void => {
      const repl = replacements();
      log(
        `${prefix}leases expired ${stage(timeline.leaseGone)}; NotReady ${stage(timeline.notReady)}; evicted ${stage(evictions())}; replacements created ${stage(repl.map((n) => created.get(n)!))}; replacements Running ${stage(repl.flatMap((n) => (runningAt.has(n) ? [runningAt.get(n)!] : [])))} (load ${loadavg()[0]!.toFixed(1)})`,
      );
    };
    let lastReport = performance.now();
    while ((performance.now() - tk) / 1000 < GRACE_S + 10 + 300) {
      let live = 0;
      for (const [n] of runningAt) if (!killed.has(hostOf.get(n) ?? '')) live++;
      if (live >= TOTAL) {
        recoveredS = (performance.now() - tk) / 1000;
        break;
      }
      if (performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        report(`  ${((performance.now() - tk) / 1000).toFixed(0)} s: ${live}/${TOTAL} Running on live hosts; `);
      }
      await sleep(250);
    }
    report('TIMELINE kill 10 % (seconds after the kill): ');
    timeline.stop();
    result.kill = { killedHosts: tenth, instancesOnThem: onKilled, ...(recoveredS !== undefined ? { recoveredS } : {}) };
    log(`RESULT kill 10 %: ${recoveredS !== undefined ? `every instance Running on the live hosts ${recoveredS.toFixed(1)} s after the kill` : 'not recovered within grace + 310 s'} (goal ≤ ${GRACE_S + 10} s)`);
  }
  return finish(result);

  async function finish(r: Result): Promise<Result> {
    void revisionNow;
    watchAbort.abort();
    await watching;
    await kv.close();
    await stopAll();
    return r;
  }
}

// stopped (Ctrl-C, kill): the stores, agents and controller stop with it
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    log(`${signal}: stopping`);
    void stopAll().finally(() => {
      rmSync(root, { recursive: true, force: true });
      process.exit(130);
    });
  });

/**
 * From now on, when each host's agent lease left the store (a delete seen on the lease prefix,
 * epoch ms as the bench saw it) and when each killed host went NotReady (its
 * status.lastTransition, written by the controller).
 */
function killTimeline(kv: Awaited<ReturnType<typeof openKvStore>>, cluster: ClusterStore, killed: ReadonlySet<string>): { leaseGone: number[]; notReady: number[]; stop(): void } {
  const abort = new AbortController();
  const leaseGone: number[] = [];
  const notReady = new Map<string, number>();
  void (async () => {
    for await (const ev of kv.watch(HOST_LEASE_PREFIX, { signal: abort.signal })) {
      if (ev.type === 'delete' && killed.has(ev.key.slice(HOST_LEASE_PREFIX.length))) leaseGone.push(Date.now());
      if (ev.type === 'expired') return;
    }
  })().catch(() => undefined);
  void (async () => {
    for await (const ev of cluster.hosts.watch(0, { signal: abort.signal })) {
      if (ev.type !== 'modified') continue;
      const h = ev.object;
      if (killed.has(h.metadata.name) && h.status?.ready === false && !notReady.has(h.metadata.name))
        notReady.set(h.metadata.name, Date.parse(h.status.lastTransition ?? new Date().toISOString()));
    }
  })().catch(() => undefined);
  return {
    leaseGone,
    get notReady() {
      return [...notReady.values()];
    },
    stop: () => abort.abort(),
  };
}

log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GB, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
log(`scale: ${HOSTS} hollow hosts in ${Math.min(PROCS, HOSTS)} processes, ${RS} replica sets × ${REPLICAS} = ${TOTAL} instances; CLI ${floArgv.join(' ')}`);
const results: Result[] = [];
try {
  for (const s of STORES) {
    for (const c of CONTROLLERS) {
      if (s === 'flotilla') results.push(await measure(startFlotilla, c));
      else if (s === 'etcd') results.push(await measure(startEtcd, c));
      else throw new Error(`--stores: unknown store ${s} (flotilla, etcd)`);
    }
  }
} finally {
  await stopAll();
  rmSync(root, { recursive: true, force: true });
}
console.log(JSON.stringify(results, null, 2));
if (results.length === 2) {
  const [f, e] = results as [Result, Result];
  console.log(`ratio flo/etcd: instances/s ${(f.perS / e.perS).toFixed(2)}, p99 ${(f.p99Ms / e.p99Ms).toFixed(2)}`);
}

// Issue 15: what one replica-set reconcile's placement costs the controller at 5,000 hosts ×
// 150,000 instances — the PlacementCache fed by informer events (this code) against the path
// it replaced, measured in the same run: planPlacement on lists, with incrementalPlacer (its
// identity pass over every placed instance, the set of every instance name) and #create's
// filter of every instance. Each reconcile places 100 new instances; before the next, the
// created ones arrive (an informer event each for the cache; a new list for the peer, every
// other object the same, as the informer's list gives them).
// Run from the repository root:
//   node --conditions=@flotilla/source --import tsx packages/cluster/bench/placement.ts [--hosts 5000] [--instances 150000] [--reconciles 200] [--lose 500]
// Then the kill-10 % step's share (--lose N, default a tenth of the hosts): N hosts turn NotReady
// in the cache (one informer event each, as their leases expire), their instances are evicted
// and re-placed by their replica sets; each step's time, against building the cache's
// scheduler state from scratch once (the peer: what a rebuild per change would cost).
import { cpus, loadavg } from 'node:os';
import { API_VERSION, PlacementCache, incrementalPlacer, planPlacement, type Host, type Instance, type ReplicaSet } from '../src/index.js';

const arg = (name: string, dflt: string): number => {
  const i = process.argv.indexOf(`--${name}`);
  return Number(i >= 0 ? process.argv[i + 1]! : dflt);
};
const HOSTS = arg('hosts', '5000');
const INSTANCES = arg('instances', '150000');
const RECONCILES = arg('reconciles', '200');
const PER = 100;

const hosts: Host[] = Array.from({ length: HOSTS }, (_, k) => ({
  apiVersion: API_VERSION,
  kind: 'Host',
  metadata: { name: `hollow-${k}`, labels: {} },
  spec: { address: '127.0.0.1', agent: true, capacity: { cpu: 32, memory: '128Gi' } },
  status: { ready: true },
}));
const rsOf = (r: number): ReplicaSet => ({
  apiVersion: API_VERSION,
  kind: 'ReplicaSet',
  metadata: { name: `rs-${r}` },
  spec: { replicas: PER, selector: `app=rs-${r}`, template: { metadata: { labels: { app: `rs-${r}` } }, spec: { command: ['node', 'server.js'], ports: [{ name: 'http' }], resources: { cpu: '10m', memory: '16Mi' } } } },
});
let seq = 0;
const suffix = (): string => (seq++).toString(36).padStart(5, '0');
/** As the store gives it back: a new object (JSON), creationTimestamp and resourceVersion set, later Running. */
const stored = (i: Instance): Instance => ({ ...(JSON.parse(JSON.stringify(i)) as Instance), status: { phase: 'Running', ready: true, ports: { http: 8080 }, restarts: 0 } });

function fill(): Instance[] {
  const cache = new PlacementCache();
  for (const h of hosts) cache.setHost(h);
  const all: Instance[] = [];
  for (let r = 0; all.length < INSTANCES; r++) {
    const plan = planPlacement({ replicaSet: rsOf(r), templateHash: 'h', count: PER, suffix, view: cache });
    for (const i of plan.instances) {
      const s = stored(i);
      all.push(s);
      cache.setInstance(s);
    }
  }
  return all;
}

function timeCache(initial: readonly Instance[]): { msPerReconcile: number; heapMB: number } {
  const cache = new PlacementCache();
  for (const h of hosts) cache.setHost(h); // the informers' initial lists
  for (const i of initial) cache.setInstance(i);
  let r = 100_000;
  const reconcile = (): void => {
    const plan = planPlacement({ replicaSet: rsOf(r++), templateHash: 'h', count: PER, suffix, view: cache });
    for (const i of plan.instances) cache.setInstance(stored(i)); // the informer's events
  };
  for (let k = 0; k < 5; k++) reconcile();
  const t = performance.now();
  for (let k = 0; k < RECONCILES; k++) reconcile();
  return { msPerReconcile: (performance.now() - t) / RECONCILES, heapMB: process.memoryUsage().heapUsed / 2 ** 20 };
}

function timeLists(initial: readonly Instance[]): { msPerReconcile: number; heapMB: number } {
  const placer = incrementalPlacer();
  let all: Instance[] = [...initial];
  let r = 200_000;
  const reconcile = (): void => {
    // the path before: #create filtered every instance, planPlacement made a set of every name, the placer passed over every one
    const placed = all.filter((i) => i.metadata.deletionTimestamp === undefined);
    const plan = planPlacement({ replicaSet: rsOf(r++), templateHash: 'h', count: PER, suffix, hosts, placed, placer });
    all = [...all, ...plan.instances.map(stored)]; // the informer's next list: the old objects, and the new ones
  };
  for (let k = 0; k < 5; k++) reconcile();
  const t = performance.now();
  for (let k = 0; k < RECONCILES; k++) reconcile();
  return { msPerReconcile: (performance.now() - t) / RECONCILES, heapMB: process.memoryUsage().heapUsed / 2 ** 20 };
}

process.stderr.write(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
const t0 = performance.now();
const initial = fill();
process.stderr.write(`${HOSTS} hosts, ${initial.length} instances placed in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${RECONCILES} reconciles of ${PER} each\n`);
const results: { name: string; msPerReconcile: number }[] = [];
// interleaved, twice each: peer, cache, peer, cache
for (let round = 0; round < 2; round++) {
  const peer = timeLists(initial);
  results.push({ name: `lists + incrementalPlacer (peer), round ${round + 1}`, msPerReconcile: peer.msPerReconcile });
  const cache = timeCache(initial);
  results.push({ name: `PlacementCache, round ${round + 1}`, msPerReconcile: cache.msPerReconcile });
  process.stderr.write(`round ${round + 1}: peer ${peer.msPerReconcile.toFixed(2)} ms/reconcile, PlacementCache ${cache.msPerReconcile.toFixed(2)} ms/reconcile (${(peer.msPerReconcile / cache.msPerReconcile).toFixed(1)}x)\n`);
}

// a tenth of the hosts lost: NotReady, evictions, replacements
const LOSE = arg('lose', String(Math.floor(HOSTS / 10)));
{
  const cache = new PlacementCache();
  for (const h of hosts) cache.setHost(h);
  for (const i of initial) cache.setInstance(i);
  let t = performance.now();
  cache.place([], 'binpack'); // the state built from scratch (the peer)
  const rebuildMs = performance.now() - t;
  t = performance.now();
  for (let k = 0; k < LOSE; k++) cache.setHost({ ...hosts[k]!, status: { ready: false } });
  const notReadyMs = performance.now() - t;
  const lost = new Set(hosts.slice(0, LOSE).map((h) => h.metadata.name));
  const evicted = initial.filter((i) => lost.has(i.spec.host));
  t = performance.now();
  for (const i of evicted) cache.setInstance({ ...i, metadata: { ...i.metadata, deletionTimestamp: new Date().toISOString() } });
  const evictMs = performance.now() - t;
  const perRs = new Map<string, number>();
  for (const i of evicted) perRs.set(i.metadata.labels!.app!, (perRs.get(i.metadata.labels!.app!) ?? 0) + 1);
  t = performance.now();
  for (const [app, n] of perRs) {
    const plan = planPlacement({ replicaSet: rsOf(Number(app.slice(3))), templateHash: 'h', count: n, suffix, view: cache });
    for (const i of plan.instances) cache.setInstance(stored(i));
  }
  const replaceMs = performance.now() - t;
  process.stderr.write(
    `lose ${LOSE} hosts: NotReady ${notReadyMs.toFixed(0)} ms, ${evicted.length} evictions ${evictMs.toFixed(0)} ms, ${perRs.size} replica sets re-placed ${replaceMs.toFixed(0)} ms; the state from scratch (peer) ${rebuildMs.toFixed(0)} ms; rebuilds ${cache.rebuilds}\n`,
  );
  results.push({ name: `lose ${LOSE} hosts: NotReady`, msPerReconcile: notReadyMs }, { name: 'state from scratch (peer)', msPerReconcile: rebuildMs });
}
console.log(JSON.stringify(results, null, 2));

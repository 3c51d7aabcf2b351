// How fast the network follows the store (issue 14, Speed: routes and VIP rules converge ≤ 2 s
// after an endpoint or host change, from the store write to the first request through the new
// path), on a fleet of two network-namespace hosts, with the controllers in this process
// (DeployRuntime → DeployNetworkDriver over ssh), against a peer measured in the same run: the
// same change applied by hand over the same ssh connection (applyServiceRules / syncRoutes
// called directly, no store, no controller) — the floor that the controller path adds to.
//
// A client on host 1 (a Node process there, its clock the same as this process's: network
// namespaces share it) makes a request every 20 ms through the service VIP (a new connection
// each, 300 ms timeout) and a DNS query to host 2's bridge address (reached only through the
// host-gw route to host 2's pod subnet), logging when and what answered. Measured per round:
// - endpoint added: the store write that made a new instance ready → its first answer via the VIP;
// - endpoint removed: the write that marked it for deletion → the last request the VIP still
//   sent to it (answered by it, or failed);
// - host NotReady (its sshd frozen): the status write → the first DNS query that no longer
//   gets through (the route to its subnet removed on host 1);
// - host Ready again: the status write → the first DNS answer through the route added back.
// The peer: the same four changes by hand, timed from the call.
//
//   node --conditions=@flotilla/source --import tsx packages/cluster/bench/network-converge.ts [--rounds 4]
//
// (from the repository root, as root: fleet 10.254.97.x, users fltcv*.)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyServiceRules, syncRoutes } from '@flotilla/deploy/network';
import { startFleet } from '@flotilla/deploy/testing';
import { ClusterControllers, DeployRuntime, applyManifests, convergence, loadManifests, openStore, planHostNetworks, scaleReplicaSet, type Host, type Instance } from '../src/index.js';
import { networkDemoNetwork, writeSampleArtifact } from '../src/demo/index.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const rounds = arg('rounds', 4);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 180_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
};

const CLIENT = `
const http = require('http'); const dgram = require('dgram');
const [vip, dnsAddr] = [process.argv[2], process.argv[3]];
const q = Buffer.from('abcd01000001000000000000036e6f0000010001', 'hex'); // "no." A
function get() {
  return new Promise((resolve) => {
    const t = Date.now();
    const req = http.get({ host: vip, port: 80, path: '/', agent: false, timeout: 300 }, (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => { const m = / from (\\S+) /.exec(b); resolve(t + ' http ' + (m ? m[1] : 'FAIL')); }); });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(t + ' http FAIL'));
  });
}
function dns() {
  return new Promise((resolve) => {
    const t = Date.now(); const s = dgram.createSocket('udp4'); let done = false;
    const end = (r) => { if (done) return; done = true; try { s.close(); } catch {} resolve(t + ' dns ' + r); };
    s.on('message', () => end('ok')); s.on('error', () => end('FAIL'));
    setTimeout(() => end('FAIL'), 300);
    s.send(q, 53, dnsAddr, (e) => { if (e) end('FAIL'); });
  });
}
(async () => { for (;;) { const [a, b] = await Promise.all([get(), dns()]); process.stdout.write(a + '\\n' + b + '\\n'); await new Promise((r) => setTimeout(r, 20)); } })();
`;

const fleet = await startFleet({ size: 2, subnet: 97, userPrefix: 'fltcv', namePrefix: 'cv', netns: true, sudo: 'nopasswd' });
const work = mkdtempSync(join(tmpdir(), 'flotilla-converge-'));
const runtime = new DeployRuntime({ sshConfigFiles: [fleet.sshConfigFile] });
const store = await openStore(`file://${join(work, 'store')}`, { artifactDir: join(work, 'artifacts') });
let abort = new AbortController();
let running: Promise<void> | undefined;
const start = (): void => {
  abort = new AbortController();
  const controllers = new ClusterControllers({ store, runtime, hostProbeIntervalMs: 500, hostGracePeriodMs: 2000 });
  running = controllers.run(abort.signal);
};
const stop = async (): Promise<void> => {
  abort.abort();
  await running;
};
const [n1, n2] = fleet.hosts.map((h) => h.name) as [string, string];
const clientLog = join(fleet.hosts[0]!.home, 'converge-client.log');
/** The client's lines at or after `t` (ms since the epoch). */
const linesSince = (t: number): { t: number; kind: string; what: string }[] =>
  readFileSync(clientLog, 'utf8')
    .split('\n')
    .flatMap((l) => {
      const [ts, kind, what] = l.split(' ');
      return ts && kind && what ? [{ t: Number(ts), kind, what }] : [];
    })
    .filter((l) => l.t >= t);

/** Resolves with the time this process saw `pred` hold for an object written to the store (watch events are delivered as written). */
function written<T>(resources: { watch(fromRevision: number, o?: { signal?: AbortSignal }): AsyncIterable<{ type: string; object?: T }> }, pred: (o: T, type: string) => boolean): { at: Promise<number>; cancel(): void } {
  const ac = new AbortController();
  const at = (async () => {
    for await (const e of resources.watch(0, { signal: ac.signal })) if (e.object !== undefined && pred(e.object, e.type)) return Date.now();
    throw new Error('watch ended');
  })();
  return { at, cancel: () => ac.abort() };
}

const results = { controller: { added: [] as number[], removed: [] as number[], notReady: [] as number[], ready: [] as number[] }, direct: { added: [] as number[], removed: [] as number[], notReady: [] as number[], ready: [] as number[] } };
try {
  await writeSampleArtifact(work);
  const hosts = fleet.hosts.map((h) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${h.name}}\nspec: {address: ${h.name}, capacity: {cpu: 2, memory: 2Gi}}\n`).join('---\n');
  const app = `${networkDemoNetwork({ podCIDR: '10.247.0.0/16', serviceCIDR: '10.98.0.0/16' })}---
apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 1
  selector: "app=web"
  placement: spread
  template:
    metadata: {labels: {app: web}}
    spec:
      artifact: ./sample-app.tar.gz
      command: [node, server.js]
      ports: [{name: http}]
      resources: {cpu: 100m, memory: 32Mi}
      antiAffinity: {labelSelector: {app: web}, topologyKey: kubernetes.io/hostname}
      healthCheck: {http: {path: /healthz, port: http}, periodSeconds: 1}
      terminationGracePeriodSeconds: 1
---
apiVersion: flotilla.dev/v1
kind: Service
metadata: {name: web}
spec:
  selector: "app=web"
  ports: [{name: http, port: 80, targetPort: http}]
`;
  await applyManifests(store, loadManifests([{ text: hosts }, { text: app }]), { baseDirs: [work, work, work, work] });
  start();
  await until('converged with a VIP', async () => ((await convergence(store)).done && (await store.services.get('web'))?.status?.endpoints.length === 1 && (await store.hosts.items()).every((h) => h.status?.podSubnet !== undefined) ? true : undefined));
  const vip = (await store.services.get('web'))!.status!.clusterIP!;
  const host2 = (await store.hosts.get(n2))!;
  const bridge2 = host2.status!.podSubnet!.replace(/0\/24$/, '1');
  const hostObj = async (n: string): Promise<Host> => (await store.hosts.get(n))!;
  const c1 = runtime.connection(await hostObj(n1));
  await c1.run('cat > "$HOME/converge-client.cjs"', { input: CLIENT });
  await c1.run(`setsid nohup node "$HOME/converge-client.cjs" ${vip} ${bridge2} > "$HOME/converge-client.log" 2>&1 < /dev/null &`);
  await until('the client answered through the VIP and the route', () => {
    const l = (() => { try { return linesSince(0); } catch { return []; } })();
    return l.some((x) => x.kind === 'http' && x.what !== 'FAIL') && l.some((x) => x.kind === 'dns' && x.what === 'ok') ? true : undefined;
  });
  const live = async (): Promise<Instance[]> => (await store.instances.items()).filter((i) => i.metadata.deletionTimestamp === undefined);
  const settle = async (): Promise<void> => {
    await until('settled', async () => ((await convergence(store)).done && (await store.hosts.items()).every((h) => h.status?.ready === true) ? true : undefined));
    await sleep(1500);
  };

  for (let r = 0; r < rounds; r++) {
    // ---- through the store and the controllers
    await settle();
    const before = new Set((await live()).map((i) => i.metadata.name));
    const ready = written(store.instances, (i, type) => type !== 'deleted' && !before.has(i.metadata.name) && i.status?.ready === true);
    await scaleReplicaSet(store, 'web', 2);
    const tAdd = await ready.at;
    ready.cancel();
    const added = (await live()).find((i) => !before.has(i.metadata.name))!.metadata.name;
    const first = await until('the new endpoint answering', () => linesSince(tAdd).find((l) => l.kind === 'http' && l.what === added), 30_000);
    results.controller.added.push(first.t - tAdd);
    await settle();
    const marked = written(store.instances, (i) => i.metadata.name === added && i.metadata.deletionTimestamp !== undefined);
    await scaleReplicaSet(store, 'web', 1);
    const tDel = await marked.at;
    marked.cancel();
    await sleep(4000);
    const stale = linesSince(tDel).filter((l) => l.kind === 'http' && (l.what === added || l.what === 'FAIL'));
    results.controller.removed.push(stale.length ? stale.at(-1)!.t - tDel : 0);
    await settle();
    const down = written(store.hosts, (h) => h.metadata.name === n2 && h.status?.ready === false);
    const frozen = fleet.freeze(n2, { sessions: true, listener: true });
    let tDown: number;
    try {
      tDown = await down.at;
      down.cancel();
      const lost = await until('the route gone', () => linesSince(tDown).find((l) => l.kind === 'dns' && l.what === 'FAIL'), 30_000);
      results.controller.notReady.push(lost.t - tDown);
    } finally {
      const up = written(store.hosts, (h) => h.metadata.name === n2 && h.status?.ready === true);
      frozen.thaw();
      const tUp = await up.at;
      up.cancel();
      const back = await until('the route back', () => linesSince(tUp).find((l) => l.kind === 'dns' && l.what === 'ok'), 60_000);
      results.controller.ready.push(back.t - tUp);
    }

    // ---- the peer: the same changes by hand, over the same connection, no store or controller
    await settle();
    await scaleReplicaSet(store, 'web', 2);
    await until('2 ready', async () => ((await convergence(store)).done && (await store.services.get('web'))?.status?.endpoints.length === 2 ? true : undefined));
    await sleep(1500);
    await stop();
    const plan = planHostNetworks((await store.networks.get('default'))!.spec, await store.hosts.items(), await store.services.items(), (h) => runtime.addressOf(h)).plans.find((p) => p.host === n1)!;
    const svc = plan.services[0]!;
    const [keep, other] = (await store.services.get('web'))!.status!.endpoints;
    const one = [{ ...svc, endpoints: svc.endpoints.filter((e) => e.ip === keep!.address && e.port === keep!.port) }];
    await applyServiceRules(c1, { services: one });
    await sleep(1500);
    const tA = Date.now();
    await applyServiceRules(c1, { services: plan.services });
    const firstD = await until('the endpoint answering (direct)', () => linesSince(tA).find((l) => l.kind === 'http' && l.what === other!.instance), 30_000);
    results.direct.added.push(firstD.t - tA);
    await sleep(1500);
    const tR = Date.now();
    await applyServiceRules(c1, { services: one });
    await sleep(4000);
    const staleD = linesSince(tR).filter((l) => l.kind === 'http' && (l.what === other!.instance || l.what === 'FAIL'));
    results.direct.removed.push(staleD.length ? staleD.at(-1)!.t - tR : 0);
    const tN = Date.now();
    await syncRoutes(c1, { routes: plan.routes.filter((x) => x.via !== fleet.hosts[1]!.address), serviceCIDR: plan.serviceCIDR });
    const lostD = await until('the route gone (direct)', () => linesSince(tN).find((l) => l.kind === 'dns' && l.what === 'FAIL'), 30_000);
    results.direct.notReady.push(lostD.t - tN);
    await sleep(1000);
    const tU = Date.now();
    await syncRoutes(c1, { routes: plan.routes, serviceCIDR: plan.serviceCIDR });
    const backD = await until('the route back (direct)', () => linesSince(tU).find((l) => l.kind === 'dns' && l.what === 'ok'), 30_000);
    results.direct.ready.push(backD.t - tU);
    start();
    await until('the controllers in charge', async () => ((await store.services.get('web'))?.status?.endpoints.length === 2 ? true : undefined));
    await scaleReplicaSet(store, 'web', 1);
    process.stderr.write(`round ${r + 1}/${rounds}: ${JSON.stringify(results)}\n`);
  }
  const row = (xs: number[]) => ({ median_ms: quantile(xs, 0.5), max_ms: Math.max(...xs), runs: xs });
  const out = {
    date: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? '?'}, load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`,
    command: `node --conditions=@flotilla/source --import tsx packages/cluster/bench/network-converge.ts --rounds ${rounds}`,
    controller: Object.fromEntries(Object.entries(results.controller).map(([k, v]) => [k, row(v)])),
    direct_peer: Object.fromEntries(Object.entries(results.direct).map(([k, v]) => [k, row(v)])),
    ratio_median: Object.fromEntries(Object.keys(results.controller).map((k) => [k, Number((quantile(results.controller[k as 'added'], 0.5) / Math.max(1, quantile(results.direct[k as 'added'], 0.5))).toFixed(2))])),
  };
  console.log(JSON.stringify(out, null, 2));
} finally {
  await stop();
  for (const i of await store.instances.items().catch(() => [])) {
    const h = await store.hosts.get(i.spec.host);
    if (h) await runtime.stop(h, i, 1000).catch(() => undefined);
  }
  await runtime.close();
  await store.close();
  await fleet.stop();
  rmSync(work, { recursive: true, force: true });
}

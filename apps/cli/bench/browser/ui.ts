// flo ui at scale (issue 16): a one-member `flo server` store seeded with 1,000 hosts and
// 30,000 instances (30 replica sets), then
//   - the peer: `flo get instances -o json` on the same store (start to exit);
//   - `flo ui` on it: first meaningful paint in headless Chromium (the page's
//     `flo:first-meaningful-paint` mark, Performance API, from navigation start), DOM size,
//     the same for the naive page (`?render-all`: every host row and block in the DOM);
//   - a store write → the page's DOM shows it (Date.now() in the page's MutationObserver
//     against Date.now() before the write; one machine, one clock);
//   - RSS of the `flo ui` process (/proc/PID/status VmRSS and VmHWM).
// Needs the built CLI (npx nx run flotilla:build) and /usr/bin/chromium. Usage:
//   npm run bench:ui -w flotilla [-- HOSTS PER_HOST]   (= node --import tsx bench/browser/ui.ts; default 1000 30)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_VERSION, openStore, type ClusterStore, type Host, type Instance, type ReplicaSet } from '@flotilla/cluster';
import { chromium } from 'playwright-core';

const bin = fileURLToPath(new URL('../../bin/flo.js', import.meta.url));
if (!existsSync(fileURLToPath(new URL('../../dist/ui/index.html', import.meta.url)))) {
  console.error('apps/cli/dist is missing or has no dashboard: build the CLI first (npx nx run flotilla:build)');
  process.exit(2);
}
const HOSTS = Number(process.argv[2] ?? 1000);
const PER_HOST = Number(process.argv[3] ?? 30);
const SETS = 30;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const pad = (n: number, w = 4): string => String(n).padStart(w, '0');

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch {
      /* not yet */
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function rss(pid: number): { rssMiB: number; peakMiB: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024 };
}

const template = (set: number) => ({ metadata: { labels: { app: `app-${pad(set, 2)}` } }, spec: { command: ['node', 'server.js'], resources: { cpu: '250m', memory: '256Mi' }, ports: [{ name: 'http' }] } });

async function seed(store: ClusterStore): Promise<void> {
  const kv = store.kv;
  if (!kv.txn) throw new Error('the store has no txn');
  const now = new Date().toISOString();
  let ops: { type: 'put'; key: string; value: string }[] = [];
  const flush = async (): Promise<void> => {
    if (ops.length === 0) return;
    const r = await kv.txn!([], ops);
    if (!r.succeeded) throw new Error('seed txn failed');
    ops = [];
  };
  const put = async (key: string, object: unknown): Promise<void> => {
    ops.push({ type: 'put', key, value: JSON.stringify(object) });
    if (ops.length >= 128) await flush(); // the Flotilla KV takes at most 128 operations a txn
  };
  for (let s = 0; s < SETS; s++) {
    const rs: ReplicaSet = { apiVersion: API_VERSION, kind: 'ReplicaSet', metadata: { name: `app-${pad(s, 2)}`, labels: { app: `app-${pad(s, 2)}` }, generation: 1, creationTimestamp: now }, spec: { replicas: (HOSTS * PER_HOST) / SETS, selector: `app=app-${pad(s, 2)}`, template: template(s) }, status: { replicas: (HOSTS * PER_HOST) / SETS, readyReplicas: (HOSTS * PER_HOST) / SETS, observedGeneration: 1 } };
    await put(store.replicaSets.keyOf(rs.metadata.name), rs);
  }
  for (let h = 1; h <= HOSTS; h++) {
    const host: Host = { apiVersion: API_VERSION, kind: 'Host', metadata: { name: `h${pad(h)}`, labels: { zone: `z${h % 4}`, rack: `r${h % 50}` }, generation: 1, creationTimestamp: now }, spec: { address: `10.0.${h >> 8}.${h & 255}`, capacity: { cpu: 16, memory: '16Gi' } }, status: { ready: h % 97 !== 0, lastHeartbeat: now } };
    await put(store.hosts.keyOf(host.metadata.name), host);
    for (let k = 0; k < PER_HOST; k++) {
      const set = (h + k) % SETS;
      const name = `app-${pad(set, 2)}-${pad(h)}-${pad(k, 2)}`;
      const phase = (h * 31 + k) % 53 === 0 ? 'Failed' : (h * 7 + k) % 41 === 0 ? 'Starting' : 'Running';
      const inst: Instance = {
        apiVersion: API_VERSION,
        kind: 'Instance',
        metadata: { name, labels: { app: `app-${pad(set, 2)}` }, generation: 1, creationTimestamp: now },
        spec: { replicaSet: `app-${pad(set, 2)}`, host: host.metadata.name, templateHash: `hash${pad(set, 2)}`, template: template(set).spec },
        status: { phase, ready: phase === 'Running', ports: { http: 20000 + k }, restarts: 0, pid: 1000 + k, startedAt: now },
      };
      const value = inst;
      await put(store.instances.keyOf(name), value);
      await put(`/flotilla/v1/hostinstances/${host.metadata.name}/${name}`, value);
    }
  }
  await flush();
}

function floTimed(args: string[]): { ms: number; bytes: number } {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`flo ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { ms, bytes: Buffer.byteLength(r.stdout) };
}

const children: ChildProcess[] = [];
const dir = mkdtempSync(path.join(tmpdir(), 'flotilla-bench-ui-'));
async function main(): Promise<void> {
  const load = loadavg()[0] ?? 0;
  const client = await freePort();
  const peer = await freePort();
  const server = spawn(process.execPath, [bin, 'server', '--id', '1', '--listen', `127.0.0.1:${client}`, '--peer-listen', `127.0.0.1:${peer}`, '--peers', `1=127.0.0.1:${peer}`, '--data', path.join(dir, 'data'), '--tick-ms', '20'], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(server);
  await until('flo server /readyz', async () => ((await fetch(`http://127.0.0.1:${client}/readyz`)).ok ? true : undefined));
  const url = `flotilla://127.0.0.1:${client}`;
  const store = await openStore(url);
  let t = Date.now();
  await seed(store);
  const seedS = (Date.now() - t) / 1000;
  console.error(`seeded ${HOSTS} hosts, ${HOSTS * PER_HOST} instances in ${seedS.toFixed(1)} s`);

  // the peer: the CLI reading the same store
  const getRuns = [0, 1, 2].map(() => floTimed(['get', 'instances', '--store', url, '-o', 'json']));
  const getMs = median(getRuns.map((r) => r.ms));

  // flo ui
  t = Date.now();
  const ui = spawn(process.execPath, [bin, 'ui', '--listen', '127.0.0.1:0', '--store', url], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(ui);
  let err = '';
  ui.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const base = await until('flo ui to listen', () => /dashboard on (http:\/\/127\.0\.0\.1:\d+)\//.exec(err)?.[1]);
  await until('flo ui to list the store', async () => ((await fetch(`${base}/readyz`)).ok ? true : undefined));
  const uiReadyMs = Date.now() - t;
  const idle = rss(ui.pid!);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const paint = async (query: string): Promise<{ fmp: number; nodes: number; blocks: number }> => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${base}/${query}`);
    await page.waitForFunction(() => performance.getEntriesByName('flo:first-meaningful-paint').length > 0, undefined, { timeout: 120_000, polling: 50 });
    const r = await page.evaluate(() => ({
      fmp: performance.getEntriesByName('flo:first-meaningful-paint')[0]!.startTime,
      nodes: document.getElementsByTagName('*').length,
      blocks: document.querySelectorAll('[data-instance]').length,
    }));
    await page.close();
    return r;
  };
  await paint(''); // warm-up (Chromium's caches, V8 code)
  const virtual: { fmp: number; nodes: number; blocks: number }[] = [];
  for (let k = 0; k < 5; k++) virtual.push(await paint(''));
  const naive: { fmp: number; nodes: number; blocks: number }[] = [];
  for (let k = 0; k < 3; k++) naive.push(await paint('?render-all'));

  // a store change → the page
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(`${base}/`);
  await page.waitForFunction(() => performance.getEntriesByName('flo:first-meaningful-paint').length > 0, undefined, { timeout: 120_000 });
  const withUi = rss(ui.pid!);
  const latencies: number[] = [];
  for (let k = 0; k < 10; k++) {
    const name = `app-${pad((1 + k) % SETS, 2)}-0001-${pad(k, 2)}`; // on h0001, the first row
    await page.evaluate((n) => {
      const w = window as unknown as { seen?: number; mo?: MutationObserver };
      w.seen = undefined;
      w.mo?.disconnect();
      w.mo = new MutationObserver(() => {
        const e = document.querySelector<HTMLElement>(`[data-instance="${n}"]`);
        if (w.seen === undefined && e?.dataset.restarts === '1') w.seen = Date.now();
      });
      w.mo.observe(document.body, { subtree: true, attributes: true, childList: true });
    }, name);
    const t0 = Date.now();
    await store.instances.mutate(name, (i) => ({ ...i, status: { ...i.status!, restarts: (i.status?.restarts ?? 0) + 1 } }));
    const seen = await page.waitForFunction(() => (window as unknown as { seen?: number }).seen, undefined, { timeout: 30_000, polling: 50 });
    latencies.push(Number(await seen.jsonValue()) - t0);
    await sleep(200);
  }
  const after = rss(ui.pid!);
  await browser.close();
  await store.close();

  const f = (x: number): string => `${x.toFixed(0)} ms`;
  const fmp = median(virtual.map((v) => v.fmp));
  const naiveFmp = median(naive.map((v) => v.fmp));
  console.log(`${new Date().toISOString()}  ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}, load average ${load.toFixed(1)} at the start`);
  console.log(`store: one flo server member, ${HOSTS} hosts, ${HOSTS * PER_HOST} instances, ${SETS} replica sets (seeded in ${seedS.toFixed(1)} s)`);
  console.log('| measure | figure | peer (same run) | ratio |');
  console.log('|---|---:|---:|---:|');
  console.log(`| \`flo ui\` start → store listed (/readyz) | ${f(uiReadyMs)} | \`flo get instances -o json\`: ${f(getMs)} (median of 3, ${(getRuns[0]!.bytes / 1e6).toFixed(1)} MB) | ${(uiReadyMs / getMs).toFixed(2)}× |`);
  console.log(`| first meaningful paint (median of 5) | ${f(fmp)} (${median(virtual.map((v) => v.nodes))} DOM elements, ${median(virtual.map((v) => v.blocks))} blocks) | naive page, every row rendered: ${f(naiveFmp)} (${median(naive.map((v) => v.nodes))} elements) | ${(fmp / naiveFmp).toFixed(2)}× |`);
  console.log(`| first meaningful paint vs the CLI reading the store | ${f(fmp)} | \`flo get instances -o json\`: ${f(getMs)} | ${(fmp / getMs).toFixed(2)}× |`);
  console.log(`| store write → page DOM (median of 10; max) | ${f(median(latencies))}; max ${f(Math.max(...latencies))} | — | — |`);
  console.log(`| \`flo ui\` RSS: listed, no page / one page open / after 10 changes (peak) | ${idle.rssMiB.toFixed(0)} / ${withUi.rssMiB.toFixed(0)} / ${after.rssMiB.toFixed(0)} MiB (${after.peakMiB.toFixed(0)}) | — | — |`);
  console.log(`virtualised FMPs: ${virtual.map((v) => v.fmp.toFixed(0)).join(', ')} ms; naive: ${naive.map((v) => v.fmp.toFixed(0)).join(', ')} ms; change latencies: ${latencies.join(', ')} ms`);
}

main()
  .catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGTERM');
    setTimeout(() => rmSync(dir, { recursive: true, force: true }), 1000);
  });

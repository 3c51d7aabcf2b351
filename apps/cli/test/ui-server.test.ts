// flo ui's server against a real in-memory store: the SSE feed (snapshot, then deltas after
// store writes), the listen-address rule, token checks, the browser guards (Host, Origin,
// JSON), the actions (through the same cluster operations as the commands) and the assets.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_VERSION, ClusterStore, MemoryKvStore, rolloutUndo, scaleReplicaSet, setUnschedulable, type Host, type Instance, type ReplicaSet, type Service } from '@flotilla/cluster';
import { checkListen, checkToken, isLoopbackHost } from '../src/ui/access.js';
import { UiFeed } from '../src/ui/feed.js';
import { startUiServer, type UiServer } from '../src/ui/server.js';
import type { UiDelta, UiSnapshot } from '../src/ui/protocol.js';

const TOKEN = 'a-token-of-24-characters';

const host = (name: string, extra: Partial<Host['spec']> = {}): Host => ({
  apiVersion: API_VERSION,
  kind: 'Host',
  metadata: { name, labels: { zone: 'a' } },
  spec: { address: '127.0.0.1', capacity: { cpu: 2, memory: '2Gi' }, ...extra },
});
const template = { metadata: { labels: { app: 'web' } }, spec: { command: ['node', 'server.js'], resources: { cpu: '250m', memory: '64Mi' } } };
const rs = (replicas: number): ReplicaSet => ({
  apiVersion: API_VERSION,
  kind: 'ReplicaSet',
  metadata: { name: 'web', labels: { app: 'web' } },
  spec: { replicas, selector: 'app=web', template },
});
const instance = (name: string, hostName: string, phase: 'Running' | 'Failed' = 'Running'): Instance => ({
  apiVersion: API_VERSION,
  kind: 'Instance',
  metadata: { name, labels: { app: 'web' } },
  spec: { replicaSet: 'web', host: hostName, templateHash: 'abc123', template: template.spec },
  status: { phase, ready: phase === 'Running', ports: { http: 8000 }, restarts: 0, pid: 100 },
});

/** An SSE reader over node:http: collects `event:`/`data:` messages. */
function openStream(url: string, headers: Record<string, string> = {}): Promise<{ status: number; messages: { event: string; data: string }[]; next(event: string, pred?: (d: unknown) => boolean): Promise<unknown>; close(): void; body: () => string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      const messages: { event: string; data: string }[] = [];
      const waiters: { event: string; pred: (d: unknown) => boolean; resolve: (d: unknown) => void }[] = [];
      let buf = '';
      let raw = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        raw += chunk;
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length === 0) continue;
          const m = { event, data: data.join('\n') };
          messages.push(m);
          for (const w of [...waiters]) {
            const parsed: unknown = JSON.parse(m.data);
            if (w.event === event && w.pred(parsed)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve(parsed);
            }
          }
        }
      });
      resolve({
        status: res.statusCode ?? 0,
        messages,
        body: () => raw,
        next: (event, pred = () => true) => {
          for (const m of messages) if (m.event === event && pred(JSON.parse(m.data))) return Promise.resolve(JSON.parse(m.data));
          return new Promise((r, j) => {
            waiters.push({ event, pred, resolve: r });
            setTimeout(() => j(new Error(`no ${event} message within 5 s; got ${messages.map((x) => x.event).join(', ')}`)), 5000).unref();
          });
        },
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}

async function request(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const json = { 'content-type': 'application/json' };

let store: ClusterStore;
let feed: UiFeed;
let abort: AbortController;
let following: Promise<void>;
let server: UiServer | undefined;
let assets: string;
const logLines: string[] = [];

async function start(options: { token?: string; listen?: string } = {}): Promise<UiServer> {
  server = await startUiServer({
    listen: options.listen ?? '127.0.0.1:0',
    feed,
    ...(options.token !== undefined ? { token: options.token } : {}),
    assetsDir: assets,
    storeLabel: 'memory://test',
    version: '0.0.0-test',
    logger: { info: (m) => logLines.push(`info ${m}`), warn: (m, f) => logLines.push(`warn ${m} ${JSON.stringify(f)}`), debug: () => undefined },
    operations: {
      scale: (name, n) => scaleReplicaSet(store, name, n),
      setUnschedulable: (name, u) => setUnschedulable(store, name, u),
      rolloutUndo: (name) => rolloutUndo(store, name),
      async *logs(name, { follow }) {
        await Promise.resolve(); // as a host's log arrives: later
        yield `line 1 of ${name}\n`;
        yield 'line 2\n';
        if (follow) yield 'followed\n';
      },
    },
  });
  return server;
}

beforeEach(async () => {
  store = new ClusterStore(new MemoryKvStore());
  await store.hosts.create(host('h1'));
  await store.hosts.create(host('h2'));
  await store.replicaSets.create(rs(2));
  await store.instances.create(instance('web-a', 'h1'));
  await store.instances.create(instance('web-b', 'h2'));
  feed = new UiFeed({ flushIntervalMs: 20 });
  abort = new AbortController();
  following = feed.run(store, abort.signal);
  assets = mkdtempSync(path.join(tmpdir(), 'flo-ui-assets-'));
  mkdirSync(path.join(assets, 'assets'));
  writeFileSync(path.join(assets, 'index.html'), '<!doctype html><title>flo ui</title>');
  writeFileSync(path.join(assets, 'assets', 'app-1234.js'), 'console.log(1)');
  logLines.length = 0;
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  abort.abort();
  await following;
  await store.close();
  rmSync(assets, { recursive: true, force: true });
});

describe('listen address rule', () => {
  it('loopback addresses need no token; any other address does, with an error saying what to do', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', 'example.com', '128.0.0.1']) expect(isLoopbackHost(h)).toBe(false);
    expect(checkListen('127.0.0.1:8080', false)).toEqual({ host: '127.0.0.1', port: 8080, loopback: true });
    expect(checkListen(':0', false).loopback).toBe(true);
    expect(() => checkListen('0.0.0.0:8080', false)).toThrow(/--listen 0\.0\.0\.0:8080: every address is not a loopback address, so the dashboard needs a token: give --token-file FILE/);
    expect(() => checkListen('10.1.2.3:80', false)).toThrow(/10\.1\.2\.3 is not a loopback address/);
    expect(checkListen('0.0.0.0:8080', true).loopback).toBe(false);
    expect(() => checkListen('nonsense', false)).toThrow(/--listen nonsense: expected HOST:PORT/);
  });

  it('startUiServer refuses a non-loopback address without a token before listening', async () => {
    await expect(start({ listen: '0.0.0.0:0' })).rejects.toThrow(/needs a token/);
  });

  it('a token file must hold 16+ characters on one line', () => {
    expect(checkToken(`${TOKEN}\n`, 't')).toBe(TOKEN);
    expect(() => checkToken('short\n', 'tok.txt')).toThrow(/--token-file tok\.txt: the token must be at least 16 characters \(it has 5\)/);
    expect(() => checkToken('aaaaaaaaaaaaaaaa bbbb', 't')).toThrow(/one line without spaces/);
  });
});

describe('the live feed (server-sent events)', () => {
  it('sends a snapshot of the store, then a delta for each change, without a reload', async () => {
    const s = await start();
    const stream = await openStream(`${s.url}/api/stream`);
    expect(stream.status).toBe(200);
    const snap = (await stream.next('snapshot')) as UiSnapshot;
    expect(snap.hosts.map((h) => h.name).sort()).toEqual(['h1', 'h2']);
    expect(snap.hosts[0]!.capacity).toEqual({ cpu: 2000, memory: 2048 });
    expect(snap.instances.map((i) => [i.name, i.host, i.phase, i.cpu, i.memory]).sort()).toEqual([
      ['web-a', 'h1', 'Running', 250, 64],
      ['web-b', 'h2', 'Running', 250, 64],
    ]);
    expect(snap.replicaSets[0]).toMatchObject({ name: 'web', replicas: 2, selector: 'app=web', history: [] });

    await store.instances.mutate('web-a', (i) => ({ ...i, status: { ...i.status!, phase: 'Failed', ready: false, restarts: 1 } }));
    const d1 = (await stream.next('delta', (d) => (d as UiDelta).upsert.instances?.some((i) => i.name === 'web-a') === true)) as UiDelta;
    expect(d1.upsert.instances).toEqual([expect.objectContaining({ name: 'web-a', phase: 'Failed', ready: false, restarts: 1 })]);
    expect(d1.seq).toBe(snap.seq + 1);

    await store.instances.delete('web-b');
    const d2 = (await stream.next('delta', (d) => (d as UiDelta).remove.instances !== undefined)) as UiDelta;
    expect(d2.remove.instances).toEqual(['web-b']);
    expect(d2.seq).toBe(d1.seq + 1);
    expect(s.clients()).toBe(1);
    stream.close();
  });

  it('coalesces a burst of writes into few deltas and sends nothing for a write that changes no drawn field', async () => {
    const s = await start();
    const stream = await openStream(`${s.url}/api/stream`);
    await stream.next('snapshot');
    for (let k = 0; k < 20; k++) await store.instances.create(instance(`burst-${k}`, 'h1'));
    await stream.next('delta', (d) => (d as UiDelta).upsert.instances?.some((i) => i.name === 'burst-19') === true);
    const deltas = stream.messages.filter((m) => m.event === 'delta');
    expect(deltas.length).toBeLessThan(20);
    const names = deltas.flatMap((m) => (JSON.parse(m.data) as UiDelta).upsert.instances?.map((i) => i.name) ?? []);
    expect(new Set(names).size).toBe(20);
    // a label change is not drawn: no delta
    const before = stream.messages.length;
    await store.hosts.mutate('h1', (h) => ({ ...h, metadata: { ...h.metadata, annotations: { note: 'x' } } }));
    await store.hosts.mutate('h2', (h) => ({ ...h, spec: { ...h.spec, unschedulable: true } }));
    const d = (await stream.next('delta', (x) => (x as UiDelta).upsert.hosts !== undefined)) as UiDelta;
    expect(d.upsert.hosts!.map((h) => h.name)).toEqual(['h2']);
    expect(stream.messages.length).toBe(before + 1);
    stream.close();
  });

  it('services: selectors (OR), ports, endpoints and the VIP when a Network leased one', async () => {
    await store.services.create({
      apiVersion: API_VERSION,
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { selector: ['app=web', { matchLabels: { app: 'api' } }], ports: [{ port: 80, targetPort: 'http' }], hostnames: ['beta.example.com'] },
      status: { endpoints: [{ instance: 'web-a', address: '10.1.0.2', port: 8000, host: 'h1' }], clusterIP: '10.96.0.10' },
    });
    await store.services.create({ apiVersion: API_VERSION, kind: 'Service', metadata: { name: 'plain' }, spec: { selector: { app: 'web' }, port: 'http' } } as Service);
    const s = await start();
    const stream = await openStream(`${s.url}/api/stream`);
    const snap = (await stream.next('snapshot')) as UiSnapshot;
    expect(snap.services.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'plain', selector: 'app=web', port: 'http', endpoints: [], hostnames: [] },
      { name: 'web', selector: 'app=web OR app=api', port: '80→http', endpoints: [{ instance: 'web-a', address: '10.1.0.2', port: 8000 }], vip: '10.96.0.10', hostnames: ['beta.example.com'] },
    ]);
    stream.close();
  });

  it('two pages each get the snapshot and every delta', async () => {
    const s = await start();
    const [a, b] = await Promise.all([openStream(`${s.url}/api/stream`), openStream(`${s.url}/api/stream`)]);
    await Promise.all([a.next('snapshot'), b.next('snapshot')]);
    await store.hosts.create(host('h3'));
    for (const st of [a, b]) await st.next('delta', (d) => (d as UiDelta).upsert.hosts?.[0]?.name === 'h3');
    a.close();
    b.close();
  });
});

describe('access', () => {
  it('on loopback without a token: view and actions open; Host names other than loopback refused (DNS rebinding)', async () => {
    const s = await start();
    expect((await request(`${s.url}/api/info`)).body).toContain('"viewNeedsToken":false');
    const r = await request(`${s.url}/api/replicasets/web/scale`, { method: 'POST', headers: json, body: '{"replicas":4}' });
    expect(r.status).toBe(200);
    expect((await store.replicaSets.get('web'))!.spec.replicas).toBe(4);
    const rebound = await request(`${s.url}/api/info`, { headers: { host: 'evil.example:8080' } });
    expect(rebound.status).toBe(403);
    expect(rebound.body).toContain('not a loopback name');
    expect((await request(`${s.url}/`, { headers: { host: 'localhost:1' } })).status).toBe(200);
  });

  it('with --token-file: the view stays open on loopback; actions need the token (Bearer or session cookie)', async () => {
    const s = await start({ token: TOKEN });
    const info = JSON.parse((await request(`${s.url}/api/info`)).body);
    expect(info).toMatchObject({ viewNeedsToken: false, actionsNeedToken: true, authenticated: false });
    const stream = await openStream(`${s.url}/api/stream`);
    expect(stream.status).toBe(200);
    stream.close();

    const none = await request(`${s.url}/api/replicasets/web/scale`, { method: 'POST', headers: json, body: '{"replicas":5}' });
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body).error.code).toBe('token-required');
    const wrong = await request(`${s.url}/api/replicasets/web/scale`, { method: 'POST', headers: { ...json, authorization: 'Bearer not-the-token-at-all' }, body: '{"replicas":5}' });
    expect(wrong.status).toBe(401);
    expect((await store.replicaSets.get('web'))!.spec.replicas).toBe(2);
    expect(logLines.some((l) => l.startsWith('warn action refused'))).toBe(true);
    expect(logLines.join('\n')).not.toContain(TOKEN);

    const bearer = await request(`${s.url}/api/replicasets/web/scale`, { method: 'POST', headers: { ...json, authorization: `Bearer ${TOKEN}` }, body: '{"replicas":5}' });
    expect(bearer.status).toBe(200);
    expect((await store.replicaSets.get('web'))!.spec.replicas).toBe(5);

    const badLogin = await request(`${s.url}/api/session`, { method: 'POST', headers: json, body: '{"token":"nope"}' });
    expect(badLogin.status).toBe(401);
    const loginRes = await request(`${s.url}/api/session`, { method: 'POST', headers: json, body: JSON.stringify({ token: TOKEN }) });
    expect(loginRes.status).toBe(200);
    const setCookie = String(loginRes.headers['set-cookie']);
    expect(setCookie).toMatch(/^flo_ui_session=[\w-]+; HttpOnly; SameSite=Strict; Path=\/$/);
    expect(setCookie).not.toContain(TOKEN);
    const cookie = setCookie.split(';')[0]!;
    const cordon = await request(`${s.url}/api/hosts/h1/cordon`, { method: 'POST', headers: { ...json, cookie }, body: '{}' });
    expect(cordon.status).toBe(200);
    expect((await store.hosts.get('h1'))!.spec.unschedulable).toBe(true);
    const forged = await request(`${s.url}/api/hosts/h1/uncordon`, { method: 'POST', headers: { ...json, cookie: 'flo_ui_session=made-up' }, body: '{}' });
    expect(forged.status).toBe(401);
  });

  it('beyond loopback every read needs the token too', async () => {
    const s = await start({ token: TOKEN, listen: '0.0.0.0:0' });
    const port = new URL(s.url).port;
    const base = `http://127.0.0.1:${port}`;
    const info = JSON.parse((await request(`${base}/api/info`)).body);
    expect(info).toMatchObject({ viewNeedsToken: true, authenticated: false });
    expect((await request(`${base}/api/stream`)).status).toBe(401);
    expect((await request(`${base}/api/instances/web-a/logs`)).status).toBe(401);
    const ok = await openStream(`${base}/api/stream`, { authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    await ok.next('snapshot');
    ok.close();
  });

  it('actions refuse forms (non-JSON) and other origins, so another site cannot post to 127.0.0.1', async () => {
    const s = await start();
    const form = await request(`${s.url}/api/replicasets/web/scale`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'replicas=9' });
    expect(form.status).toBe(415);
    const cross = await request(`${s.url}/api/replicasets/web/scale`, { method: 'POST', headers: { ...json, origin: 'http://evil.example' }, body: '{"replicas":9}' });
    expect(cross.status).toBe(403);
    const same = await request(`${s.url}/api/replicasets/web/scale`, { method: 'POST', headers: { ...json, origin: s.url }, body: '{"replicas":3}' });
    expect(same.status).toBe(200);
    expect((await store.replicaSets.get('web'))!.spec.replicas).toBe(3);
  });
});

describe('actions', () => {
  it('scale checks its input; unknown objects are 404; rollout undo with no history is refused with the reason', async () => {
    const s = await start();
    for (const body of ['{"replicas":-1}', '{"replicas":1.5}', '{"replicas":"3"}', '{}']) {
      const r = await request(`${s.url}/api/replicasets/web/scale`, { method: 'POST', headers: json, body });
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body).error.message).toMatch(/replicas: expected an integer/);
    }
    expect((await request(`${s.url}/api/replicasets/web/scale`, { method: 'POST', headers: json, body: 'not json' })).status).toBe(400);
    const missing = await request(`${s.url}/api/replicasets/nope/scale`, { method: 'POST', headers: json, body: '{"replicas":1}' });
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body).error.message).toBe('replicaset/nope not found');
    expect((await request(`${s.url}/api/hosts/nope/cordon`, { method: 'POST', headers: json, body: '{}' })).status).toBe(404);
    const undo = await request(`${s.url}/api/replicasets/web/rollout-undo`, { method: 'POST', headers: json, body: '{}' });
    expect(undo.status).toBe(404);
    expect(JSON.parse(undo.body).error.message).toMatch(/no previous template/);
  });

  it('rollout undo puts the previous template back (the operation flo rollout undo uses)', async () => {
    const s = await start();
    const old = { hash: 'old1', template: { ...template, spec: { ...template.spec, env: { V: '1' } } } };
    await store.replicaSets.mutate('web', (r) => ({ ...r, status: { replicas: 2, readyReplicas: 2, observedGeneration: 1, history: [old] } }));
    const r = await request(`${s.url}/api/replicasets/web/rollout-undo`, { method: 'POST', headers: json, body: '{}' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).result.to).toBe('old1');
    expect((await store.replicaSets.get('web'))!.spec.template.spec.env).toEqual({ V: '1' });
  });

  it('cordon and uncordon reach the page as a delta', async () => {
    const s = await start();
    const stream = await openStream(`${s.url}/api/stream`);
    await stream.next('snapshot');
    expect((await request(`${s.url}/api/hosts/h2/cordon`, { method: 'POST', headers: json, body: '{}' })).status).toBe(200);
    await stream.next('delta', (d) => (d as UiDelta).upsert.hosts?.some((h) => h.name === 'h2' && h.unschedulable) === true);
    expect((await request(`${s.url}/api/hosts/h2/uncordon`, { method: 'POST', headers: json, body: '{}' })).status).toBe(200);
    await stream.next('delta', (d) => (d as UiDelta).upsert.hosts?.some((h) => h.name === 'h2' && !h.unschedulable) === true);
    stream.close();
  });
});

describe('assets and logs', () => {
  it('serves the page and its assets with a strict CSP; no path escapes the asset directory', async () => {
    const s = await start();
    const page = await request(`${s.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    const js = await request(`${s.url}/assets/app-1234.js`);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toContain('immutable');
    expect((await request(`${s.url}/assets/%2e%2e/%2e%2e/etc/passwd`)).status).toBe(404);
    const escaped = await request(`${s.url}/assets/..%2f..%2f..%2f..%2fetc%2fpasswd`);
    expect(escaped.status).toBe(404);
    expect(escaped.body).not.toContain('root:');
    expect((await request(`${s.url}/assets/missing.js`)).status).toBe(404);
    expect((await request(`${s.url}/healthz`)).status).toBe(200);
    expect((await request(`${s.url}/readyz`)).status).toBe(200);
  });

  it('streams an instance log as SSE chunks; an unknown instance is 404', async () => {
    const s = await start();
    await feed.ready;
    const logs = await openStream(`${s.url}/api/instances/web-a/logs?follow=1`);
    await logs.next('end');
    expect(logs.messages.filter((m) => m.event === 'chunk').map((m) => JSON.parse(m.data) as string).join('')).toBe('line 1 of web-a\nline 2\nfollowed\n');
    expect((await request(`${s.url}/api/instances/nope/logs`)).status).toBe(404);
  });
});

describe('/metrics of flo ui (startDashboard)', () => {
  it('counts pages connected and actions by result, in the Prometheus text format; beyond loopback it needs the token like the view', async () => {
    const cluster = await import('@flotilla/cluster');
    const { startDashboard } = await import('../src/ui/dashboard.js');
    const { default: parse } = await import('parse-prometheus-text-format');
    const silent = { info: () => undefined, warn: () => undefined, debug: () => undefined };
    const common = { cluster, store, runtime: () => { throw new Error('no hosts reached in this test'); }, assetsDir: assets, log: silent, storeLabel: 'memory://test', version: '0.0.0-test', token: TOKEN };
    const d = await startDashboard({ ...common, listen: '127.0.0.1:0' });
    try {
      const scrape = async (headers: Record<string, string> = {}): Promise<(name: string, labels?: Record<string, string>) => number | undefined> => {
        const r = await request(`${d.url}/metrics`, { headers });
        expect(r.status).toBe(200);
        expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
        const families = parse(r.body);
        return (name, labels = {}) => {
          const m = families.find((f) => f.name === name)?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
          return m?.value === undefined ? undefined : Number(m.value);
        };
      };
      let v = await scrape();
      for (let i = 0; i < 100 && v('flotilla_ui_store_listed') !== 1; i++) {
        await new Promise((r) => setTimeout(r, 20));
        v = await scrape();
      }
      expect(v('flotilla_ui_store_listed')).toBe(1);
      expect(v('flotilla_ui_streams')).toBe(0);
      expect(v('process_resident_memory_bytes')).toBeGreaterThan(0);
      expect(v('flotilla_ui_actions_total', { action: 'cordon', result: 'refused' })).toBe(0);
      const page = await openStream(`${d.url}/api/stream`);
      await page.next('snapshot');
      expect((await scrape())('flotilla_ui_streams')).toBe(1);
      expect((await request(`${d.url}/api/hosts/h1/cordon`, { method: 'POST', headers: json })).status).toBe(401);
      expect((await request(`${d.url}/api/hosts/h1/cordon`, { method: 'POST', headers: { ...json, authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      expect((await request(`${d.url}/api/replicasets/web/scale`, { method: 'POST', headers: { ...json, authorization: `Bearer ${TOKEN}` }, body: '{"replicas":-1}' })).status).toBe(400);
      v = await scrape();
      expect(v('flotilla_ui_actions_total', { action: 'cordon', result: 'refused' })).toBe(1);
      expect(v('flotilla_ui_actions_total', { action: 'cordon', result: 'done' })).toBe(1);
      expect(v('flotilla_ui_actions_total', { action: 'scale', result: 'failed' })).toBe(1);
      expect(v('flotilla_ui_actions_total', { action: 'scale', result: 'done' })).toBe(0);
      page.close();
    } finally {
      await d.close();
    }
    const wide = await startDashboard({ ...common, listen: '0.0.0.0:0' });
    try {
      const port = new URL(wide.url).port;
      const refused = await request(`http://127.0.0.1:${port}/metrics`);
      expect(refused.status).toBe(401);
      expect(refused.body).toContain('token-required');
      expect((await request(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    } finally {
      await wide.close();
    }
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { getEventListeners } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KvClient } from '../src/client/kv-client.js';
import { createKvRequestListener } from '../src/server/http-api.js';
import { MemoryKvBackend } from '../src/server/memory-backend.js';
import { isKvError } from '../src/kv/errors.js';
import type { WatchEvent } from '../src/kv/types.js';

const servers: http.Server[] = [];
const clients: KvClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(backend: MemoryKvBackend, port = 0) {
  const server = http.createServer(createKvRequestListener(backend, { progressIntervalMs: 50 }));
  servers.push(server);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  backend.setClientUrl(url);
  return { server, url };
}

function client(endpoints: string[]) {
  const c = new KvClient({ endpoints, retryWindowMs: 3000, requestTimeoutMs: 3000 });
  clients.push(c);
  return c;
}

describe('KvClient', () => {
  it('reads, writes, deletes, ranges and runs transactions', async () => {
    const { url } = await serve(new MemoryKvBackend());
    const c = client([url]);
    expect(await c.put('a/1', 'x')).toBe(2);
    expect(await c.get('a/1')).toMatchObject({ key: 'a/1', value: 'x', modRevision: 2, version: 1 });
    expect(await c.get('nope')).toBeUndefined();
    await c.put('a/2', 'y');
    expect((await c.range({ prefix: 'a/' })).items.map((i) => i.key)).toEqual(['a/1', 'a/2']);
    const t = await c.txn({ compare: [{ key: 'a/1', modRevision: 2 }], success: [{ delete: { key: 'a/1' } }] });
    expect(t.succeeded).toBe(true);
    expect(await c.delete('a/1')).toBeUndefined();
    expect(await c.delete('a/2')).toBe(5);
    const err = await c.put('a/3', 'z', { prevRevision: 99 }).catch((e: unknown) => e);
    expect(isKvError(err) && err.code === 'conflict' && err.modRevision === 0 && !err.mayHaveEffect).toBe(true);
    const l = await c.grantLease(5);
    expect(await c.keepAlive(l.id)).toEqual({ id: l.id, ttlSeconds: 5 });
    await c.revokeLease(l.id);
  });

  it('skips a dead endpoint and finds the leader for writes', async () => {
    const leader = new MemoryKvBackend({ id: 1 });
    const { url: leaderUrl } = await serve(leader);
    const follower = new MemoryKvBackend({ id: 2 });
    follower.leader = false;
    follower.leaderUrl = leaderUrl;
    const { url: followerUrl } = await serve(follower);
    // The follower reports the leader's URL in its status.
    follower.status = () => ({ ...MemoryKvBackend.prototype.status.call(follower), leader: 1, members: [...leader.members(), ...follower.members()] });
    const c = client(['http://127.0.0.1:1', followerUrl]);
    expect(await c.put('k', 'v')).toBe(2);
    expect(leader.kv.get('k')?.value).toBe('v');
  });

  it('retries a write answered 503 no-leader (it had no effect) until a leader appears', async () => {
    const b = new MemoryKvBackend();
    b.leader = false;
    const { url } = await serve(b);
    const c = client([url]);
    setTimeout(() => (b.leader = true), 300);
    expect(await c.put('k', 'v')).toBe(2);
  });

  it('watch resumes from the last seen revision after the connection drops, without loss or repeats', async () => {
    const b = new MemoryKvBackend();
    const s1 = await serve(b);
    const c = client([s1.url]);
    const ac = new AbortController();
    const seen: WatchEvent[] = [];
    const done = (async () => {
      for await (const e of c.watch('w/', { fromRevision: 1, signal: ac.signal })) {
        seen.push(e);
        if (seen.length === 6) ac.abort();
      }
    })();
    await c.put('w/1', 'a');
    await c.put('w/2', 'b');
    await c.put('x', 'ignored');
    const until = async (n: number) => {
      for (let i = 0; i < 200 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    };
    await until(2);
    s1.server.closeAllConnections(); // drop the watch stream
    await new Promise((r) => setTimeout(r, 100)); // let the client notice its pooled sockets closed
    await c.put('w/3', 'c');
    await c.put('w/4', 'd');
    await c.put('w/5', 'e');
    await c.put('w/6', 'f');
    await done;
    expect(seen.map((e) => e.key)).toEqual(['w/1', 'w/2', 'w/3', 'w/4', 'w/5', 'w/6']);
    expect(seen.map((e) => e.modRevision)).toEqual([2, 3, 5, 6, 7, 8]);
  });

  it('a watch of several prefixes is one stream that resumes from the last seen revision after a drop, without loss or repeats', async () => {
    const b = new MemoryKvBackend();
    const s1 = await serve(b);
    const c = client([s1.url]);
    const ac = new AbortController();
    const seen: WatchEvent[] = [];
    const connected: string[] = [];
    const done = (async () => {
      for await (const e of c.watch(['h1/', 'h2/'], { fromRevision: 1, signal: ac.signal, onConnected: (ep) => connected.push(ep) })) {
        seen.push(e);
        if (seen.length === 5) ac.abort();
      }
    })();
    await c.put('h1/a', '1'); // 2
    await c.put('h3/a', 'ignored'); // 3
    await c.put('h2/a', '1'); // 4
    for (let i = 0; i < 200 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(b.kv.watcherCount).toBe(1);
    s1.server.closeAllConnections();
    await new Promise((r) => setTimeout(r, 100));
    await c.txn({ success: [{ put: { key: 'h1/b', value: '2' } }, { put: { key: 'h2/b', value: '2' } }] }); // 5
    await c.delete('h1/a'); // 6
    await done;
    expect(seen.map((e) => [e.type, e.key, e.modRevision])).toEqual([
      ['put', 'h1/a', 2],
      ['put', 'h2/a', 4],
      ['put', 'h1/b', 5],
      ['put', 'h2/b', 5],
      ['delete', 'h1/a', 6],
    ]);
    expect(connected.length).toBeGreaterThanOrEqual(2);
  });

  it('a watch of no prefixes is refused with a TypeError', async () => {
    const { url } = await serve(new MemoryKvBackend());
    await expect(client([url]).watch([]).next()).rejects.toThrow(/non-empty array of strings/);
  });

  it('a watch that hears nothing (no event, no progress) for idleTimeoutMs resumes on a new connection, and says why', async () => {
    // A member that keeps the connection open and goes silent after one event; the next connection answers.
    let calls = 0;
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== '/v1/watch') return res.writeHead(404).end();
      calls++;
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const rev = calls === 1 ? 2 : Number(url.searchParams.get('fromRevision'));
      res.write(`${JSON.stringify({ type: 'put', key: `k${calls}`, value: 'v', createRevision: rev, modRevision: rev, version: 1 })}\n`);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const c = client([url]);
    const retries: { reason: string; connected: boolean }[] = [];
    const seen: { key: string; modRevision: number }[] = [];
    const ac = new AbortController();
    for await (const e of c.watch('', { signal: ac.signal, idleTimeoutMs: 200, onRetry: (i) => retries.push({ reason: i.reason, connected: i.connected }) })) {
      if (e.type !== 'put') continue;
      seen.push({ key: e.key, modRevision: e.modRevision });
      if (seen.length === 2) ac.abort();
    }
    expect(seen).toEqual([
      { key: 'k1', modRevision: 2 },
      { key: 'k2', modRevision: 3 },
    ]);
    expect(retries[0]).toEqual({ reason: 'no event or progress for 200 ms', connected: true });
  });

  it('200 watches at once (more than the 64 pooled request sockets) all get their events, and requests still go through', async () => {
    const { url } = await serve(new MemoryKvBackend());
    const c = client([url]);
    const abort = new AbortController();
    const got = new Array<number>(200).fill(0);
    const connected = new Set<number>();
    const watches = got.map(async (_, i) => {
      for await (const e of c.watch(`w/${i}/`, { signal: abort.signal, onConnected: () => connected.add(i) })) {
        if (e.key === `w/${i}/k`) got[i]!++;
      }
    });
    const deadline = Date.now() + 30_000;
    while (connected.size < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(connected.size).toBe(200);
    for (let i = 0; i < 200; i++) await c.put(`w/${i}/k`, 'v');
    while (got.some((n) => n === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(got.every((n) => n === 1)).toBe(true);
    abort.abort();
    await Promise.all(watches);
  });

  it('a watch from a compacted revision rejects with compacted', async () => {
    const b = new MemoryKvBackend();
    const { url } = await serve(b);
    const c = client([url]);
    for (let i = 0; i < 3; i++) await c.put('k', String(i));
    await c.compact(3);
    const err = await (async () => {
      for await (const _ of c.watch('', { fromRevision: 1 })) return undefined;
      return undefined;
    })().catch((e: unknown) => e);
    expect(isKvError(err) && err.code === 'compacted' && err.compactRevision === 3).toBe(true);
  });

  it('a watch that reconnects many times keeps one abort listener on its signal and emits no MaxListenersExceededWarning', async () => {
    // A member that accepts each watch, says one progress line and hangs up: the client
    // reconnects again and again on one signal, as it does for as long as a store is down.
    // Each wait between attempts used to leave its abort listener behind (the 11th warned:
    // seen as `flo controller` printing MaxListenersExceededWarning when its store restarted).
    let connections = 0;
    const server = http.createServer((req, res) => {
      connections++;
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.end(`${JSON.stringify({ type: 'progress', revision: 1 })}\n`);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const c = client([`http://127.0.0.1:${(server.address() as AddressInfo).port}`]);
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    const ac = new AbortController();
    const listeners: number[] = [];
    try {
      const watching = (async () => {
        for await (const _ of c.watch('', { signal: ac.signal, onConnected: () => listeners.push(getEventListeners(ac.signal, 'abort').length) })) {
          // progress only
        }
      })();
      while (connections < 25) await new Promise((r) => setTimeout(r, 20));
      ac.abort();
      await watching;
      await new Promise((r) => setImmediate(r)); // a warning is emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(listeners.length).toBeGreaterThanOrEqual(24);
    expect(Math.max(...listeners)).toBe(1); // the connection's own, and nothing left from earlier attempts
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it('refuses bad options with a TypeError', () => {
    expect(() => new KvClient({ endpoints: [] })).toThrow(TypeError);
    expect(() => new KvClient({ endpoints: ['127.0.0.1:1'] })).toThrow(/http/);
  });
});

describe('KvClient with no member reachable (issue 17: no silent hangs)', () => {
  async function closedPort(): Promise<number> {
    const s = http.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as AddressInfo).port;
    await new Promise((r) => s.close(r));
    return port;
  }

  it.each([
    ['a read', (c: KvClient) => c.get('k')],
    ['a write', (c: KvClient) => c.put('k', 'v')],
  ])('%s reports each failed endpoint through onRetry and rejects at the deadline naming every endpoint and its last error', async (_, call) => {
    const eps = [`http://127.0.0.1:${await closedPort()}`, `http://127.0.0.1:${await closedPort()}`];
    const retries: { endpoint: string; reason: string }[] = [];
    const c = new KvClient({ endpoints: eps, retryWindowMs: 600, onRetry: (i) => retries.push({ endpoint: i.endpoint, reason: i.reason }) });
    clients.push(c);
    const err: unknown = await call(c).then(() => undefined, (e: unknown) => e);
    expect(isKvError(err) && err.code).toBe('unavailable');
    expect(isKvError(err) && err.mayHaveEffect).toBe(false);
    for (const ep of eps) {
      expect((err as Error).message).toContain(`${ep} (connection refused)`);
      expect(retries).toContainEqual({ endpoint: ep, reason: 'connection refused' });
    }
    expect((err as Error).message).toContain('no member answered within 0.6 s');
  });
});

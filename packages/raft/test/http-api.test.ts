/* eslint-disable @typescript-eslint/no-explicit-any -- JSON bodies in assertions */
import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createKvRequestListener } from '../src/server/http-api.js';
import type { KvHttpOptions } from '../src/server/http-api.js';
import { MemoryKvBackend } from '../src/server/memory-backend.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(backend = new MemoryKvBackend(), options: KvHttpOptions = {}) {
  const server = http.createServer(createKvRequestListener(backend, options));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  backend.setClientUrl(url);
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(url + path, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text.startsWith('{') ? JSON.parse(text) : { text }) as Record<string, any> };
  };
  return { url, backend, call };
}

describe('KV HTTP API', () => {
  it('put/get/delete with revisions equal to the key modRevision', async () => {
    const { call } = await serve();
    const p = await call('PUT', '/v1/kv/app/a', { value: 'one' });
    expect(p).toEqual({ status: 200, body: { revision: 2 } });
    const g = await call('GET', '/v1/kv/app%2Fa');
    expect(g).toEqual({ status: 200, body: { key: 'app/a', value: 'one', createRevision: 2, modRevision: 2, version: 1 } });
    expect((await call('GET', '/v1/kv/app/a?serializable=true')).body.value).toBe('one');
    expect(await call('DELETE', '/v1/kv/app/a')).toEqual({ status: 200, body: { revision: 3 } });
    expect((await call('GET', '/v1/kv/app/a')).status).toBe(404);
    expect((await call('DELETE', '/v1/kv/app/a')).body.error.code).toBe('not-found');
  });

  it('compare-and-set conflicts answer 409 with the current modRevision', async () => {
    const { call } = await serve();
    expect((await call('PUT', '/v1/kv/k', { value: 'a', prevRevision: 0 })).status).toBe(200);
    const c = await call('PUT', '/v1/kv/k', { value: 'b', prevRevision: 0 });
    expect(c.status).toBe(409);
    expect(c.body.error).toMatchObject({ code: 'conflict', modRevision: 2 });
    expect((await call('DELETE', '/v1/kv/k?prevRevision=9')).body.error).toMatchObject({ code: 'conflict', modRevision: 2 });
    expect((await call('PUT', '/v1/kv/absent', { value: 'x', prevRevision: 5 })).body.error).toMatchObject({ code: 'conflict', modRevision: 0 });
  });

  it('ranges by prefix with paging', async () => {
    const { call } = await serve();
    for (const k of ['p/c', 'p/a', 'q', 'p/b']) await call('PUT', `/v1/kv/${k}`, { value: k });
    const r1 = await call('GET', '/v1/kv?prefix=p%2F&limit=2');
    expect(r1.body.items.map((i: { key: string }) => i.key)).toEqual(['p/a', 'p/b']);
    expect(r1.body).toMatchObject({ more: true, revision: 5 });
    const r2 = await call('GET', '/v1/kv?prefix=p/&limit=2&after=p%2Fb');
    expect(r2.body.items.map((i: { key: string }) => i.key)).toEqual(['p/c']);
    expect(r2.body.more).toBe(false);
  });

  it('runs transactions', async () => {
    const { call } = await serve();
    await call('PUT', '/v1/kv/x', { value: '1' });
    const t = await call('POST', '/v1/txn', {
      compare: [{ key: 'x', modRevision: 2 }],
      success: [{ put: { key: 'y', value: '2' } }, { get: { key: 'x' } }],
      failure: [],
    });
    expect(t).toEqual({
      status: 200,
      body: {
        succeeded: true,
        revision: 3,
        results: [{ put: { revision: 3 } }, { get: { key: 'x', value: '1', createRevision: 2, modRevision: 2, version: 1 } }],
      },
    });
    const f = await call('POST', '/v1/txn', { compare: [{ key: 'x', modRevision: 1 }], success: [], failure: [{ get: { key: 'nope' } }] });
    expect(f.body).toEqual({ succeeded: false, revision: 3, results: [{ get: null }] });
  });

  it('grants, keeps alive and revokes leases; revoking deletes attached keys', async () => {
    const { call } = await serve();
    const l = await call('POST', '/v1/leases', { ttlSeconds: 30 });
    expect(l).toEqual({ status: 200, body: { id: '1', ttlSeconds: 30 } });
    await call('PUT', '/v1/kv/session', { value: 'me', lease: '1' });
    expect((await call('GET', '/v1/kv/session')).body.lease).toBe('1');
    expect(await call('POST', '/v1/leases/1/keepalive')).toEqual({ status: 200, body: { id: '1', ttlSeconds: 30 } });
    expect((await call('DELETE', '/v1/leases/1')).status).toBe(200);
    expect((await call('GET', '/v1/kv/session')).status).toBe(404);
    expect((await call('POST', '/v1/leases/1/keepalive')).body.error.code).toBe('lease-not-found');
    expect((await call('PUT', '/v1/kv/s2', { value: 'x', lease: '1' })).status).toBe(404);
  });

  it('renews many leases in one request (POST /v1/keepalive): TTL per id in order, 0 for one that is gone', async () => {
    const { call } = await serve();
    for (const ttl of [30, 40]) await call('POST', '/v1/leases', { ttlSeconds: ttl });
    await call('DELETE', '/v1/leases/1');
    expect(await call('POST', '/v1/keepalive', { ids: ['2', '1', '99'] })).toEqual({
      status: 200,
      body: { leases: [{ id: '2', ttlSeconds: 40 }, { id: '1', ttlSeconds: 0 }, { id: '99', ttlSeconds: 0 }] },
    });
    const empty = await call('POST', '/v1/keepalive', { ids: [] });
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toMatch(/ids must be a non-empty array/);
    const many = await call('POST', '/v1/keepalive', { ids: Array.from({ length: 10_001 }, (_, i) => String(i + 1)) });
    expect(many.status).toBe(413);
    expect(many.body.error.message).toMatch(/at most 10000/);
    expect((await call('POST', '/v1/keepalive', { ids: [7] })).body.error.message).toMatch(/ids\[0\]/);
  });

  it.each<[string, string, string, unknown, number, string]>([
    ['malformed JSON', 'PUT', '/v1/kv/a', '{"value":', 400, 'bad-request'],
    ['value not a string', 'PUT', '/v1/kv/a', { value: 1 }, 400, 'bad-request'],
    ['oversize key', 'PUT', `/v1/kv/${'k'.repeat(1025)}`, { value: 'v' }, 413, 'too-large'],
    ['oversize value', 'PUT', '/v1/kv/a', { value: 'v'.repeat(1024 * 1024 + 1) }, 413, 'too-large'],
    ['bad percent-encoding', 'GET', '/v1/kv/%E0%A4%A', undefined, 400, 'bad-request'],
    ['bad limit', 'GET', '/v1/kv?prefix=a&limit=-1', undefined, 400, 'bad-request'],
    ['unknown endpoint', 'GET', '/v1/nope', undefined, 404, 'not-found'],
    ['wrong method', 'PATCH', '/v1/kv/a', undefined, 405, 'method-not-allowed'],
    ['compact to the future', 'POST', '/v1/compact', { revision: 99 }, 400, 'future-revision'],
    ['bad ttl', 'POST', '/v1/leases', { ttlSeconds: 0 }, 400, 'bad-request'],
    ['unknown member', 'DELETE', '/v1/members/42', undefined, 404, 'member-not-found'],
    ['member without peerUrl', 'POST', '/v1/members', { id: 4 }, 400, 'bad-request'],
  ])('%s → %i %s, and the store keeps serving', async (_n, method, path, body, status, code) => {
    const { call } = await serve();
    const r = await call(method, path, body);
    expect(r.status).toBe(status);
    expect(r.body.error.code).toBe(code);
    expect(typeof r.body.error.message).toBe('string');
    expect((await call('PUT', '/v1/kv/after', { value: 'ok' })).status).toBe(200);
  });

  it('requires the bearer token when configured', async () => {
    const { call } = await serve(new MemoryKvBackend(), { token: 's3cret' });
    expect((await call('GET', '/v1/status')).status).toBe(401);
    expect((await call('GET', '/v1/status', undefined, { authorization: 'Bearer wrong' })).body.error.code).toBe('unauthorized');
    expect((await call('PUT', '/v1/kv/a', { value: 'x' }, { authorization: 'Bearer s3cret' })).status).toBe(200);
  });

  it('answers 503 no-leader when no leader is known, and forwards writes to the leader', async () => {
    const leader = await serve();
    const followerBackend = new MemoryKvBackend({ id: 2 });
    followerBackend.leader = false;
    const follower = await serve(followerBackend);
    const r = await follower.call('PUT', '/v1/kv/a', { value: 'x' });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('no-leader');
    followerBackend.leaderUrl = leader.url;
    expect(await follower.call('PUT', '/v1/kv/a', { value: 'x' })).toEqual({ status: 200, body: { revision: 2 } });
    expect(leader.backend.kv.get('a')?.value).toBe('x');
    expect((await follower.call('PUT', '/v1/kv/a', { value: 'y', prevRevision: 0 })).body.error).toMatchObject({ code: 'conflict', modRevision: 2 });
  });

  it('members and status', async () => {
    const { call, url } = await serve();
    expect((await call('POST', '/v1/members', { id: 2, peerUrl: '127.0.0.1:7002', learner: true })).body.members).toHaveLength(2);
    expect((await call('POST', '/v1/members', { id: 2, peerUrl: '127.0.0.1:7002' })).status).toBe(409);
    expect((await call('POST', '/v1/members/2/promote')).body.members[1]).toMatchObject({ id: 2, learner: false });
    expect((await call('DELETE', '/v1/members/2')).body.members).toHaveLength(1);
    const s = await call('GET', '/v1/status');
    expect(s.body).toMatchObject({ id: 1, leader: 1, revision: 1, members: [{ id: 1, clientUrl: url, learner: false }] });
  });
});

describe('watch over HTTP', () => {
  async function readLines(url: string, n: number): Promise<any[]> {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const lines: any[] = [];
    let buf = '';
    while (lines.length < n) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += new TextDecoder().decode(value);
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    }
    await reader.cancel();
    return lines.slice(0, n);
  }

  it('streams history from fromRevision then live events, with progress lines', async () => {
    const { call, url } = await serve(new MemoryKvBackend(), { progressIntervalMs: 50 });
    await call('PUT', '/v1/kv/w/a', { value: '1' });
    await call('PUT', '/v1/kv/other', { value: '1' });
    const pending = readLines(`${url}/v1/watch?prefix=w/&fromRevision=2`, 4);
    await new Promise((r) => setTimeout(r, 100));
    await call('DELETE', '/v1/kv/w/a');
    const lines = await pending;
    const events = lines.filter((l) => l.type !== 'progress');
    expect(events[0]).toEqual({ type: 'put', key: 'w/a', value: '1', createRevision: 2, modRevision: 2, version: 1 });
    expect(lines.some((l) => l.type === 'progress' && typeof l.revision === 'number')).toBe(true);
  });

  it('watches several prefixes on one stream: repeated prefix= on a GET, or POST {"prefixes","fromRevision"}', async () => {
    const { call, url } = await serve(new MemoryKvBackend(), { progressIntervalMs: 50 });
    await call('PUT', '/v1/kv/h1/a', { value: '1' }); // 2
    await call('PUT', '/v1/kv/h2/a', { value: '1' }); // 3
    await call('PUT', '/v1/kv/h3/a', { value: '1' }); // 4
    const events = (lines: { type: string; key?: string; modRevision?: number }[]): unknown[][] => lines.filter((l) => l.type !== 'progress').map((l) => [l.key, l.modRevision]);
    expect(events(await readLines(`${url}/v1/watch?prefix=h1/&prefix=h3/&fromRevision=2`, 3))).toEqual([['h1/a', 2], ['h3/a', 4]]);
    const res = await fetch(`${url}/v1/watch`, { method: 'POST', body: JSON.stringify({ prefixes: ['h3/', 'h2/'], fromRevision: 3 }) });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    while (text.split('\n').filter((l) => l.includes('"put"')).length < 2) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    expect(events(text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; key: string; modRevision: number }))).toEqual([['h2/a', 3], ['h3/a', 4]]);
  });

  it('watches of overlapping prefixes each get every event of theirs, whole (a revision\'s lines are made once for all)', async () => {
    const { call, url } = await serve(new MemoryKvBackend(), { progressIntervalMs: 50 });
    const changes = (lines: { type: string; key?: string; value?: string; modRevision?: number }[]): unknown[][] =>
      lines.filter((l) => l.type !== 'progress').map((l) => [l.type, l.key, l.value, l.modRevision]);
    // reads until n changes (progress lines are skipped)
    const readChanges = async (path: string, n: number): Promise<unknown[][]> => {
      const res = await fetch(url + path);
      const reader = res.body!.getReader();
      let buf = '';
      let got: unknown[][] = [];
      while (got.length < n) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += new TextDecoder().decode(value);
        got = changes(buf.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string }));
      }
      await reader.cancel();
      return got;
    };
    const all = readChanges('/v1/watch?prefix=&fromRevision=2', 5);
    const w = readChanges('/v1/watch?prefix=w/&fromRevision=2', 4);
    const wa = readChanges('/v1/watch?prefix=w/a&fromRevision=2', 3);
    await new Promise((r) => setTimeout(r, 100));
    await call('POST', '/v1/txn', { success: [{ put: { key: 'w/a1', value: '1' } }, { put: { key: 'w/b1', value: '2' } }, { put: { key: 'x', value: '3' } }] }); // 2
    await call('PUT', '/v1/kv/w/a2', { value: '4' }); // 3
    await call('DELETE', '/v1/kv/w/a1'); // 4
    const [a, b, c] = await Promise.all([all, w, wa]);
    const put = (k: string, v: string, r: number) => ['put', k, v, r];
    expect(a).toEqual([put('w/a1', '1', 2), put('w/b1', '2', 2), put('x', '3', 2), put('w/a2', '4', 3), ['delete', 'w/a1', '', 4]]);
    expect(b).toEqual([put('w/a1', '1', 2), put('w/b1', '2', 2), put('w/a2', '4', 3), ['delete', 'w/a1', '', 4]]);
    expect(c).toEqual([put('w/a1', '1', 2), put('w/a2', '4', 3), ['delete', 'w/a1', '', 4]]);
  });

  it.each([
    ['no prefixes', { prefixes: [] }, /prefixes must be a non-empty array/],
    ['not an array', { prefixes: 'h1/' }, /prefixes must be a non-empty array/],
    ['a number among them', { prefixes: ['a', 7] }, /prefixes\[1\] must be a string/],
    ['too many', { prefixes: Array.from({ length: 10_001 }, (_, i) => `p${i}`) }, /at most 10000 prefixes/],
    ['a bad fromRevision', { prefixes: ['a'], fromRevision: -1 }, /fromRevision must be a non-negative integer/],
    ['not an object', [1], /the body must be/],
  ])('a POST watch with %s answers 400 bad-request and says why', async (_, body, message) => {
    const { call } = await serve();
    const r = await call('POST', '/v1/watch', body);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('bad-request');
    expect(r.body.error.message).toMatch(message);
  });

  it('refuses a compacted fromRevision with 410 and the compact revision', async () => {
    const { call } = await serve();
    for (let i = 0; i < 4; i++) await call('PUT', '/v1/kv/k', { value: String(i) });
    expect((await call('POST', '/v1/compact', { revision: 4 })).status).toBe(200);
    const r = await call('GET', '/v1/watch?fromRevision=2');
    expect(r.status).toBe(410);
    expect(r.body.error).toMatchObject({ code: 'compacted', compactRevision: 4 });
    const many = await call('POST', '/v1/watch', { prefixes: ['a', 'k'], fromRevision: 2 });
    expect(many.status).toBe(410);
    expect(many.body.error).toMatchObject({ code: 'compacted', compactRevision: 4 });
  });
});

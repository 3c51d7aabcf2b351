// A stand-in Flotilla KV for tests that catch `flo apply` between two writes.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A one-member Flotilla KV (the HTTP API of DESIGN.md, just what `apply` uses) that holds
 * every write after the first `allowed` until `release()`: an apply caught mid-way.
 */
export async function stallingKv(allowed: number) {
  const data = new Map<string, { value: string; modRevision: number; createRevision: number; version: number }>();
  let revision = 0;
  let writes = 0;
  const held: (() => void)[] = [];
  let released = false;
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/v1/status') return json(res, 200, { id: 1, leader: 1, term: 1, members: [{ id: 1, clientUrl: base, peerUrl: base, learner: false }] });
      if (req.method === 'GET' && url.pathname === '/v1/kv') {
        // a range (apply reads the Network, hosts and services to check them before writing)
        const prefix = url.searchParams.get('prefix') ?? '';
        const items = [...data].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, kv]) => ({ key: k, ...kv }));
        return json(res, 200, { items, revision, more: false });
      }
      const key = decodeURIComponent(url.pathname.slice('/v1/kv/'.length));
      if (req.method === 'GET') {
        const kv = data.get(key);
        return kv ? json(res, 200, { key, ...kv }) : json(res, 404, { error: { code: 'not-found', message: 'not found' } });
      }
      if (req.method === 'PUT') {
        const write = (): void => {
          const body = JSON.parse(Buffer.concat(chunks).toString()) as { value: string };
          const old = data.get(key);
          revision++;
          data.set(key, { value: body.value, modRevision: revision, createRevision: old?.createRevision ?? revision, version: (old?.version ?? 0) + 1 });
          json(res, 200, { revision });
        };
        if (++writes <= allowed || released) return write();
        held.push(write);
        return;
      }
      json(res, 400, { error: { code: 'bad-request', message: `${req.method} ${url.pathname}` } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `flotilla://${base.slice('http://'.length)}`,
    keys: () => [...data.keys()],
    held: () => held.length,
    release() {
      released = true;
      for (const w of held.splice(0)) w();
    },
    close: () =>
      new Promise((r) => {
        server.close(r);
        server.closeAllConnections();
      }),
  };
}


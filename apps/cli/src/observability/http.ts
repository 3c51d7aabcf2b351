// /metrics, /healthz and /readyz of a long-running command (flo controller
// --metrics-listen). Loaded only by those commands: prom-client never loads for `flo --version`.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Starts `server` listening on host:port (a listen error rejects); resolves its http:// URL, IPv6 bracketed. */
export async function listenHttp(server: http.Server, port: number, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  return `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
}

/** One readiness check: resolves `undefined` when ready, else why not. */
export interface ReadyCheck {
  readonly name: string;
  check(): Promise<string | undefined> | string | undefined;
}

/**
 * Answers `/readyz` as Kubernetes components do: 200 `ok` when every check passes, else 503
 * with one `[+]name ok` / `[-]name failed: reason` line per check and `readyz check failed`;
 * `?verbose` lists the checks on success too.
 */
export async function readyz(checks: readonly ReadyCheck[], verbose: boolean): Promise<{ status: number; body: string }> {
  const results = await Promise.all(
    checks.map(async (c) => {
      try {
        return { name: c.name, reason: await c.check() };
      } catch (e) {
        return { name: c.name, reason: e instanceof Error ? e.message : String(e) };
      }
    }),
  );
  const failed = results.some((r) => r.reason !== undefined);
  if (!failed && !verbose) return { status: 200, body: 'ok\n' };
  const lines = results.map((r) => (r.reason === undefined ? `[+]${r.name} ok` : `[-]${r.name} failed: ${r.reason}`));
  lines.push(failed ? 'readyz check failed' : 'readyz check passed');
  return { status: failed ? 503 : 200, body: lines.join('\n') + '\n' };
}

export interface MetricsServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Parses `HOST:PORT` (or `:PORT`, meaning 127.0.0.1). */
export function parseListen(value: string, flag: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^\s:/]*):(\d{1,5})$/.exec(value);
  if (!m || Number(m[2]) > 65535) throw new TypeError(`${flag} ${value}: expected HOST:PORT`);
  return { host: (m[1] || '127.0.0.1').replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** Serves `GET /metrics` (the registry, in the text exposition format), `/healthz` and `/readyz`. */
export async function startMetricsServer(options: { listen: string; flag: string; registry: Registry; ready: readonly ReadyCheck[] }): Promise<MetricsServer> {
  const { host, port } = parseListen(options.listen, options.flag);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    switch (url.pathname) {
      case '/metrics':
        options.registry.metrics().then(
          (text) => send(200, text, options.registry.contentType),
          (e: unknown) => send(500, `collecting metrics failed: ${e instanceof Error ? e.message : String(e)}\n`),
        );
        return;
      case '/healthz':
      case '/livez':
        return send(200, 'ok\n');
      case '/readyz':
        void readyz(options.ready, url.searchParams.has('verbose')).then((r) => send(r.status, r.body));
        return;
      default:
        return send(404, 'not found: try /metrics, /healthz or /readyz\n');
    }
  });
  const url = await listenHttp(server, port, host);
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// The HTTP side of `flo ui`: the page's assets (built by Vite into dist/ui, shipped in the
// package), the live feed as server-sent events, instance logs, and the actions. Loaded only
// by `flo ui` (a dynamic import), so nothing here costs `flo --version`.
//
//   GET  /                         the page (index.html), GET /assets/* its files
//   GET  /api/info                 what the page must ask (UiInfo)
//   POST /api/session              {token} → session cookie (for EventSource)
//   GET  /api/stream               text/event-stream: `snapshot`, then `delta` after changes
//   GET  /api/instances/NAME/logs  text/event-stream of `chunk`s (?follow=1 keeps following)
//   POST /api/replicasets/NAME/scale {replicas}   POST /api/replicasets/NAME/rollout-undo
//   POST /api/hosts/NAME/cordon    POST /api/hosts/NAME/uncordon
//   GET  /healthz, /readyz         alive; listed the store
//   GET  /metrics                  Prometheus text format (when given; the view's access rule)
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import { listenHttp } from '../observability/http.js';
import { Access, SESSION_COOKIE, checkListen, type Refusal } from './access.js';
import type { UiFeed } from './feed.js';
import type { UiDelta, UiInfo } from './protocol.js';

/**
 * What the dashboard's buttons do: the same cluster operations as `flo scale`, `flo cordon`,
 * `flo uncordon`, `flo rollout undo` and `flo logs` (the command wires them).
 */
export interface UiOperations {
  scale(replicaSet: string, replicas: number): Promise<unknown>;
  setUnschedulable(host: string, unschedulable: boolean): Promise<unknown>;
  rolloutUndo(replicaSet: string): Promise<{ from: string; to: string }>;
  logs(instance: string, options: { follow: boolean; signal: AbortSignal }): AsyncIterable<string>;
}

/** The logger `flo ui` writes to (CliLogger fits). */
export interface UiLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
}

export interface UiServerOptions {
  /** `HOST:PORT` (checked by {@link checkListen}). */
  listen: string;
  feed: UiFeed;
  operations: UiOperations;
  /** The token (from --token-file). Required beyond loopback. */
  token?: string;
  /** The built page: index.html and assets/. */
  assetsDir: string;
  logger: UiLogger;
  /** The store's URL as shown on the page (credentials removed). */
  storeLabel: string;
  version: string;
  /** SSE comment to keep idle connections open. @default 15000 */
  heartbeatMs?: number;
  /** `GET /metrics`: the exposition text and its content type (none: 404). */
  metrics?: { contentType: string; text(): Promise<string> };
  /** Told of every action asked for: what, and whether it was done, refused (access) or failed. */
  onAction?: (action: UiAction, result: 'done' | 'refused' | 'failed') => void;
}

export type UiAction = 'scale' | 'rollout-undo' | 'cordon' | 'uncordon';

export interface UiServer {
  readonly url: string;
  /** Open event streams (pages). */
  clients(): number;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...SECURITY_HEADERS, ...extra });
  res.end(text);
}

function sendError(res: ServerResponse, r: Refusal): void {
  sendJson(res, r.status, { error: { code: r.code, message: r.message } }, r.status === 401 ? { 'www-authenticate': 'Bearer realm="flo ui"' } : {});
}

async function readJson(req: IncomingMessage, limit = 64 * 1024): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw new HttpProblem(413, 'too-large', `the body is over ${limit} bytes`);
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new HttpProblem(400, 'bad-json', `the body is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpProblem(400, 'bad-json', 'the body must be a JSON object');
  return v as Record<string, unknown>;
}

function sseHeaders(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no', ...SECURITY_HEADERS });
}

function sse(res: ServerResponse, event: string, data: string, id?: number): void {
  res.write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${data}\n\n`);
}

/** Starts the dashboard's server. Throws a TypeError (a usage problem) for a listen address the rules forbid. */
export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const { host, port, loopback } = checkListen(options.listen, options.token !== undefined);
  const access = new Access({ ...(options.token !== undefined ? { token: options.token } : {}), loopback });
  const { feed, operations, logger } = options;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const assets = path.resolve(options.assetsDir);
  const streams = new Set<ServerResponse>();
  const closing = new AbortController();

  const serveAsset = async (res: ServerResponse, pathname: string, head: boolean): Promise<void> => {
    if (pathname !== '/' && pathname !== '/index.html' && !pathname.startsWith('/assets/')) throw new HttpProblem(404, 'not-found', `not found: ${pathname}`);
    const rel = pathname.startsWith('/assets/') ? decodeURIComponent(pathname.slice(1)) : 'index.html';
    const file = path.resolve(assets, rel);
    if (file !== assets && !file.startsWith(assets + path.sep)) throw new HttpProblem(404, 'not-found', 'not found');
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) throw new HttpProblem(404, 'not-found', `not found: ${pathname}`);
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': st.size,
      // Vite names assets by content hash: they never change; the page itself always revalidates.
      'cache-control': rel === 'index.html' ? 'no-cache' : 'public, max-age=31536000, immutable',
      ...SECURITY_HEADERS,
    });
    if (head) res.end();
    else createReadStream(file).pipe(res);
  };

  const stream = (req: IncomingMessage, res: ServerResponse): void => {
    sseHeaders(res);
    res.write('retry: 1000\n\n');
    streams.add(res);
    let unsubscribe: (() => void) | undefined;
    const heartbeat = setInterval(() => res.write(': ping\n\n'), heartbeatMs);
    const end = (): void => {
      clearInterval(heartbeat);
      unsubscribe?.();
      streams.delete(res);
    };
    req.once('close', end);
    void feed.ready.then(() => {
      if (res.destroyed) return;
      const snap = feed.snapshot();
      sse(res, 'snapshot', JSON.stringify(snap), snap.seq);
      unsubscribe = feed.subscribe((d: UiDelta) => sse(res, 'delta', JSON.stringify(d), d.seq));
    });
  };

  const logs = async (req: IncomingMessage, res: ServerResponse, name: string, follow: boolean): Promise<void> => {
    if (feed.get('instances', name) === undefined) throw new HttpProblem(404, 'not-found', `instance/${name} not found`);
    const abort = new AbortController();
    const stop = (): void => abort.abort();
    req.once('close', stop);
    closing.signal.addEventListener('abort', stop, { once: true });
    sseHeaders(res);
    streams.add(res);
    try {
      for await (const chunk of operations.logs(name, { follow, signal: abort.signal })) {
        if (abort.signal.aborted) break;
        sse(res, 'chunk', JSON.stringify(chunk));
      }
      sse(res, 'end', '{}');
    } catch (e) {
      if (!abort.signal.aborted) sse(res, 'failed', JSON.stringify({ message: e instanceof Error ? e.message : String(e) }));
    } finally {
      closing.signal.removeEventListener('abort', stop);
      streams.delete(res);
      res.end();
    }
  };

  const act = async (req: IncomingMessage, res: ServerResponse, kind: UiAction, what: string, run: (body: Record<string, unknown>) => Promise<unknown>): Promise<void> => {
    const refused = access.refuseAction(req);
    if (refused) {
      logger.warn('action refused', { action: what, reason: refused.code });
      options.onAction?.(kind, 'refused');
      return sendError(res, refused);
    }
    const body = await readJson(req);
    try {
      const result = await run(body);
      logger.info('action', { action: what });
      options.onAction?.(kind, 'done');
      sendJson(res, 200, { ok: true, action: what, ...(typeof result === 'object' && result !== null ? { result } : {}) });
    } catch (e) {
      options.onAction?.(kind, 'failed');
      if (e instanceof HttpProblem) throw e;
      const code = (e as { code?: unknown }).code;
      const message = e instanceof Error ? e.message : String(e);
      logger.warn('action failed', { action: what, error: e });
      sendJson(res, code === 'not-found' ? 404 : e instanceof TypeError ? 400 : 409, { error: { code: typeof code === 'string' ? code : 'failed', message } });
    }
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname;
    const method = req.method ?? 'GET';
    if (p === '/healthz') return sendJson(res, 200, { ok: true });
    if (p === '/readyz') return feed.synced ? sendJson(res, 200, { ok: true }) : sendJson(res, 503, { error: { code: 'not-synced', message: 'the store has not been listed yet' } });
    const hostRefused = access.refuseHost(req);
    if (hostRefused) return sendError(res, hostRefused);
    if (p === '/metrics' && options.metrics && (method === 'GET' || method === 'HEAD')) {
      // what the page shows in numbers: the same rule as the view (a token beyond loopback; Bearer works for scrapers)
      const refused = access.refuseView(req);
      if (refused) return sendError(res, refused);
      const text = await options.metrics.text();
      res.writeHead(200, { 'content-type': options.metrics.contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...SECURITY_HEADERS });
      res.end(method === 'HEAD' ? undefined : text);
      return;
    }
    if (!p.startsWith('/api/')) {
      if (method !== 'GET' && method !== 'HEAD') throw new HttpProblem(405, 'method', `${method} ${p}: only GET`);
      return serveAsset(res, p, method === 'HEAD');
    }
    if (p === '/api/info' && method === 'GET') {
      const info: UiInfo = {
        version: options.version,
        store: options.storeLabel,
        viewNeedsToken: access.viewNeedsToken,
        actionsNeedToken: access.actionsNeedToken,
        authenticated: access.authenticated(req),
      };
      return sendJson(res, 200, info);
    }
    if (p === '/api/session' && method === 'POST') {
      if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new HttpProblem(415, 'json-required', 'send {"token": "..."} as application/json');
      const body = await readJson(req);
      if (typeof body.token !== 'string' || !access.tokenMatches(body.token.trim())) {
        logger.warn('wrong token given to /api/session');
        return sendError(res, { status: 401, code: 'token-wrong', message: access.actionsNeedToken ? 'that is not the token of this dashboard' : 'this dashboard has no token (started without --token-file)' });
      }
      return sendJson(res, 200, { ok: true }, { 'set-cookie': `${SESSION_COOKIE}=${access.newSession()}; HttpOnly; SameSite=Strict; Path=/` });
    }
    const viewRefused = access.refuseView(req);
    if (viewRefused) return sendError(res, viewRefused);
    if (p === '/api/stream' && method === 'GET') return stream(req, res);
    let m = /^\/api\/instances\/([^/]+)\/logs$/.exec(p);
    if (m && method === 'GET') return logs(req, res, decodeURIComponent(m[1]!), url.searchParams.get('follow') === '1');
    if (method !== 'POST') throw new HttpProblem(404, 'not-found', `no such API: ${method} ${p}`);
    m = /^\/api\/replicasets\/([^/]+)\/(scale|rollout-undo)$/.exec(p);
    if (m) {
      const name = decodeURIComponent(m[1]!);
      if (m[2] === 'scale')
        return act(req, res, 'scale', `scale replicaset/${name}`, async (body) => {
          const n = body.replicas;
          if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 100_000) throw new HttpProblem(400, 'bad-replicas', `replicas: expected an integer from 0 to 100000, got ${JSON.stringify(n)}`);
          await operations.scale(name, n);
          return { replicas: n };
        });
      return act(req, res, 'rollout-undo', `rollout undo replicaset/${name}`, () => operations.rolloutUndo(name));
    }
    m = /^\/api\/hosts\/([^/]+)\/(cordon|uncordon)$/.exec(p);
    if (m) {
      const name = decodeURIComponent(m[1]!);
      const cordon = m[2] === 'cordon';
      return act(req, res, cordon ? 'cordon' : 'uncordon', `${m[2]} ${name}`, async () => {
        await operations.setUnschedulable(name, cordon);
        return { unschedulable: cordon };
      });
    }
    throw new HttpProblem(404, 'not-found', `no such API: ${method} ${p}`);
  };

  const server = http.createServer((req, res) => {
    route(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof HttpProblem) return sendError(res, { status: e.status, code: e.code, message: e.message });
      logger.warn('request failed', { path: req.url, error: e });
      sendError(res, { status: 500, code: 'internal', message: e instanceof Error ? e.message : String(e) });
    });
  });
  server.keepAliveTimeout = 5000;
  const url = await listenHttp(server, port, host);
  return {
    url,
    clients: () => streams.size,
    close: () =>
      new Promise<void>((resolve) => {
        closing.abort();
        for (const s of streams) s.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

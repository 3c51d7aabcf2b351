/**
 * The KV HTTP API (DESIGN.md, a contract): routes, request checks, error bodies, forwarding to the
 * leader, watches as NDJSON.
 */
import http from 'node:http';
import https from 'node:https';
import { timingSafeEqual } from 'node:crypto';
import { KvError, isKvError } from '../kv/errors.js';
import type { KvErrorCode } from '../kv/errors.js';
import { checkCommand, checkKey, checkLeaseId, checkRevision, checkTtl, putCommand, txnCommand } from '../kv/validate.js';
import type { KvCommand, KvResult, KeyValue, WatchEvent } from '../kv/types.js';
import type { KvBackend } from './backend.js';

/** Options of the KV HTTP API. */
export interface KvHttpOptions {
  /** When set, every request must carry `Authorization: Bearer <token>`. @default no token */
  readonly token?: string;
  /** Interval of `{"type":"progress"}` lines on idle watches. @default 5000 */
  readonly progressIntervalMs?: number;
  /** Largest request body accepted; larger requests get 413. @default 8 MiB */
  readonly maxBodyBytes?: number;
  /** Client TLS options used when forwarding to the leader over https. */
  readonly forwardCa?: string | Buffer;
  /**
   * Answers `GET /metrics` (prom-client's `Registry` fits; see `@flotilla/raft/prometheus`).
   * Without it `/metrics` is 404. @default none
   */
  readonly metrics?: MetricsSource;
  /** How long `/readyz` waits for its linearizable read. @default 2000 */
  readonly readyTimeoutMs?: number;
}

/** What `GET /metrics` serves: a text in some exposition format, and its content type. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/**
 * `/readyz`: the member knows a leader, and a linearizable read (ReadIndex) completes, i.e.
 * this member has applied everything committed before the check. As Kubernetes components
 * answer: 200 `ok`, or 503 listing each check (`[+]name ok`, `[-]name failed: reason`);
 * `?verbose` lists them on success too.
 */
async function readiness(backend: KvBackend, timeoutMs: number, verbose: boolean): Promise<{ status: number; body: string }> {
  const checks: [string, string | undefined][] = [];
  const st = backend.status();
  checks.push(['leader', st.leader === 0 ? 'no leader is known' : undefined]);
  let reason: string | undefined;
  if (st.leader === 0) reason = 'skipped: no leader';
  else {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        backend.readIndex(),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not applied up to the commit index within ${timeoutMs} ms`)), timeoutMs))),
      ]);
    } catch (e) {
      reason = e instanceof Error ? e.message : String(e);
    } finally {
      clearTimeout(timer);
    }
  }
  checks.push(['linearizable_read', reason]);
  const failed = checks.some(([, r]) => r !== undefined);
  if (!failed && !verbose) return { status: 200, body: 'ok\n' };
  const lines = checks.map(([n, r]) => (r === undefined ? `[+]${n} ok` : `[-]${n} failed: ${r}`));
  lines.push(failed ? 'readyz check failed' : 'readyz check passed');
  return { status: failed ? 503 : 200, body: lines.join('\n') + '\n' };
}

function sendText(req: http.IncomingMessage, res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * `/healthz`, `/livez`, `/readyz` and `/metrics`: open to anyone who reaches the client port, as
 * etcd serves them (they show counts and states, never keys or values). Returns false for any
 * other path.
 */
function observability(backend: KvBackend, options: KvHttpOptions, req: http.IncomingMessage, res: http.ServerResponse, path: string, query: URLSearchParams): boolean {
  if (path !== '/healthz' && path !== '/livez' && path !== '/readyz' && path !== '/metrics') return false;
  req.resume();
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendText(req, res, 405, `${req.method ?? ''} is not allowed on ${path}\n`);
    return true;
  }
  switch (path) {
    case '/healthz':
    case '/livez':
      sendText(req, res, 200, 'ok\n');
      break;
    case '/readyz':
      void readiness(backend, options.readyTimeoutMs ?? 2000, query.has('verbose')).then((r) => sendText(req, res, r.status, r.body));
      break;
    default: {
      const m = options.metrics;
      if (m === undefined) sendText(req, res, 404, 'metrics are not enabled on this member\n');
      else m.metrics().then((text) => sendText(req, res, 200, text, m.contentType), (e: unknown) => sendText(req, res, 500, `collecting metrics failed: ${e instanceof Error ? e.message : String(e)}\n`));
    }
  }
  return true;
}

/** HTTP status of each error code. 4xx only for codes that guarantee the request had no effect. */
export const STATUS_OF_CODE: Readonly<Record<KvErrorCode, number>> = {
  'bad-request': 400,
  invalid: 400,
  'future-revision': 400,
  unauthorized: 401,
  'not-found': 404,
  'lease-not-found': 404,
  'member-not-found': 404,
  'method-not-allowed': 405,
  conflict: 409,
  'member-exists': 409,
  'learner-not-ready': 409,
  compacted: 410,
  'too-large': 413,
  'too-many-requests': 429,
  internal: 500,
  'no-leader': 503,
  'not-leader': 503,
  unavailable: 503,
  stopped: 503,
  timeout: 504,
};

const FORWARDED = 'x-flo-forwarded';

interface Ctx {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly forwarded: boolean;
  body?: Buffer;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: http.ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const e = isKvError(err) ? err : new KvError('internal', err instanceof Error ? err.message : String(err));
  const status = STATUS_OF_CODE[e.code];
  const error: Record<string, unknown> = { code: e.code, message: e.message };
  if (e.modRevision !== undefined) error.modRevision = e.modRevision;
  if (e.compactRevision !== undefined) error.compactRevision = e.compactRevision;
  sendJson(res, status, { error });
}

function kvJson(kv: KeyValue): Record<string, unknown> {
  return {
    key: kv.key,
    value: kv.value,
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    ...(kv.lease !== undefined ? { lease: kv.lease } : {}),
  };
}

/** Turns an error outcome of an applied command into a KvError (it is definite: no effect). */
function failed(r: Extract<KvResult, { type: 'error' }>): KvError {
  return new KvError(r.code, r.message, {
    ...(r.modRevision !== undefined ? { modRevision: r.modRevision } : {}),
    ...(r.compactRevision !== undefined ? { compactRevision: r.compactRevision } : {}),
  });
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^[0-9]{1,16}$/.test(v)) throw new KvError('bad-request', `query parameter ${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

function boolParam(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null || v === 'false' || v === '0') return false;
  if (v === '' || v === 'true' || v === '1') return true;
  throw new KvError('bad-request', `query parameter ${name} must be true or false, got ${JSON.stringify(v)}`);
}

/**
 * The KV HTTP API of DESIGN.md as a request listener over a {@link KvBackend}.
 *
 * Guarantees:
 * - A 4xx answer means the request had no effect: it failed validation, authentication,
 *   or a definite check (compare, absent key) during apply. Anything that may have been
 *   proposed but whose outcome is unknown answers 5xx.
 * - Reads are linearizable (ReadIndex) unless `serializable=true`.
 * - Any member accepts any request: writes on a follower are forwarded to the leader.
 */
export function createKvRequestListener(backend: KvBackend, options: KvHttpOptions = {}): http.RequestListener {
  const token = options.token === undefined ? undefined : Buffer.from(options.token);
  const maxBody = options.maxBodyBytes ?? 8 * 1024 * 1024;
  const progressMs = options.progressIntervalMs ?? 5000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  // The NDJSON line of each event of the revision being published, made once for every watch
  // that gets it (a member's watches of overlapping prefixes — an informer of every instance,
  // the controller's, the agents' — share one revision's event objects): only that revision's
  // lines are kept.
  let lines = new Map<WatchEvent, string>();
  let linesRevision = -1;
  const lineOf = (e: WatchEvent): string => {
    if (e.modRevision !== linesRevision) {
      lines = new Map();
      linesRevision = e.modRevision;
    }
    let line = lines.get(e);
    if (line === undefined) {
      line = `${JSON.stringify(e)}\n`;
      lines.set(e, line);
    }
    return line;
  };
  const tlsAgent = new https.Agent({ keepAlive: true, maxSockets: 256, ...(options.forwardCa ? { ca: options.forwardCa } : {}) });

  function authorized(req: http.IncomingMessage): boolean {
    if (!token) return true;
    const h = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(h);
    if (!m) return false;
    const given = Buffer.from(m[1]!);
    return given.length === token.length && timingSafeEqual(given, token);
  }

  async function readBody(ctx: Ctx): Promise<Buffer> {
    if (ctx.body) return ctx.body;
    const declared = Number(ctx.req.headers['content-length'] ?? '0');
    if (declared > maxBody) throw new KvError('too-large', `request body of ${declared} bytes exceeds the ${maxBody}-byte limit`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of ctx.req) {
      const b = chunk as Buffer;
      size += b.length;
      if (size > maxBody) throw new KvError('too-large', `request body exceeds the ${maxBody}-byte limit`);
      chunks.push(b);
    }
    ctx.body = Buffer.concat(chunks);
    return ctx.body;
  }

  async function jsonBody(ctx: Ctx): Promise<unknown> {
    const buf = await readBody(ctx);
    if (buf.length === 0) throw new KvError('bad-request', 'a JSON body is required');
    try {
      return JSON.parse(buf.toString('utf8'));
    } catch (cause) {
      throw new KvError('bad-request', `the body is not valid JSON: ${(cause as Error).message}`);
    }
  }

  /** Proposes a write, forwarding to the leader when this member does not lead. */
  async function write(ctx: Ctx, command: KvCommand, onResult: (r: KvResult) => void): Promise<void> {
    let r: KvResult;
    try {
      r = await backend.propose(command);
    } catch (err) {
      if (isKvError(err) && err.code === 'not-leader') {
        await forward(ctx);
        return;
      }
      throw err;
    }
    if (r.type === 'error') throw failed(r);
    onResult(r);
  }

  async function forward(ctx: Ctx): Promise<void> {
    const url = backend.leaderClientUrl();
    if (ctx.forwarded || url === undefined) throw new KvError('no-leader', 'no leader is known right now; retry shortly');
    const body = await readBody(ctx);
    const target = new URL(ctx.req.url ?? '/', url);
    const isHttps = target.protocol === 'https:';
    await new Promise<void>((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { [FORWARDED]: String(backend.id), 'content-length': body.length };
      if (ctx.req.headers.authorization) headers.authorization = ctx.req.headers.authorization;
      if (ctx.req.headers['content-type']) headers['content-type'] = ctx.req.headers['content-type'];
      let sent = false;
      const out = (isHttps ? https : http).request(target, { method: ctx.req.method ?? 'GET', headers, agent: isHttps ? tlsAgent : agent }, (up) => {
        ctx.res.writeHead(up.statusCode ?? 502, { 'content-type': up.headers['content-type'] ?? 'application/json' });
        up.pipe(ctx.res);
        up.on('end', resolve);
        up.on('error', reject);
      });
      out.on('socket', (s) => s.once('connect', () => (sent = true)));
      out.on('error', (err: NodeJS.ErrnoException) => {
        const neverSent = !sent && (err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENOTFOUND');
        reject(neverSent ? new KvError('no-leader', `the leader at ${url} is unreachable`, { cause: err }) : new KvError('unavailable', `forwarding to the leader at ${url} failed: ${err.message}`, { cause: err, mayHaveEffect: true }));
      });
      out.end(body);
    });
  }

  async function linearize(ctx: Ctx): Promise<void> {
    if (boolParam(ctx.query, 'serializable')) return;
    try {
      await backend.readIndex();
    } catch (err) {
      if (isKvError(err) && err.code === 'not-leader') throw new KvError('no-leader', 'no leader is known right now; retry shortly');
      throw err;
    }
  }

  /**
   * `GET /v1/watch?prefix=p[&prefix=q…][&fromRevision=n]`, or `POST /v1/watch` with
   * `{"prefixes":[…],"fromRevision"?}` (many prefixes do not fit in a URL): one stream of the
   * changes under any of the prefixes.
   */
  async function watchRequest(ctx: Ctx): Promise<void> {
    if (ctx.req.method === 'GET') {
      const prefixes = ctx.query.getAll('prefix');
      watch(ctx, prefixes.length === 0 ? [''] : checkPrefixes(prefixes), intParam(ctx.query, 'fromRevision'));
      return;
    }
    const body = await jsonBody(ctx);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new KvError('bad-request', 'the body must be {"prefixes":[string, …],"fromRevision"?: number}');
    const b = body as { prefixes?: unknown; fromRevision?: unknown };
    if (!Array.isArray(b.prefixes) || b.prefixes.length === 0) throw new KvError('bad-request', `prefixes must be a non-empty array of strings, got ${JSON.stringify(b.prefixes)?.slice(0, 100)}`);
    watch(ctx, checkPrefixes(b.prefixes), b.fromRevision === undefined ? undefined : checkRevision(b.fromRevision, 'fromRevision'));
  }

  function watch(ctx: Ctx, prefixes: readonly string[], from: number | undefined): void {
    const kv = backend.kv;
    if (from !== undefined && from < kv.compactRevision) {
      throw new KvError('compacted', `revision ${from} is compacted (compact revision ${kv.compactRevision})`, { compactRevision: kv.compactRevision });
    }
    const { res, req } = ctx;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
    res.flushHeaders();
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      handle?.cancel();
      res.end();
    };
    const writeLine = (obj: unknown) => {
      if (closed) return;
      res.write(`${JSON.stringify(obj)}\n`);
      // A client that does not read gets disconnected; it resumes from its last revision.
      if (res.writableLength > 16 * 1024 * 1024) close();
    };
    const timer = setInterval(() => writeLine({ type: 'progress', revision: kv.revision }), progressMs);
    timer.unref();
    let handle: { cancel(): void } | undefined;
    try {
      handle = kv.watch(prefixes.length === 1 ? prefixes[0]! : prefixes, from, {
        onEvents: (events: readonly WatchEvent[]) => {
          if (closed) return;
          res.write(events.length === 1 ? lineOf(events[0]!) : events.map(lineOf).join(''));
          if (res.writableLength > 16 * 1024 * 1024) close();
        },
        onCompacted: () => close(),
      });
    } catch {
      close();
      return;
    }
    writeLine({ type: 'progress', revision: kv.revision });
    req.on('close', close);
    res.on('close', close);
  }

  async function route(ctx: Ctx): Promise<void> {
    const { req, res, path, query } = ctx;
    const method = req.method ?? 'GET';
    const notAllowed = () => {
      throw new KvError('method-not-allowed', `${method} is not allowed on ${path}`);
    };

    if (path.startsWith('/v1/kv/')) {
      let key: string;
      try {
        key = decodeURIComponent(path.slice('/v1/kv/'.length));
      } catch {
        throw new KvError('bad-request', 'the key is not valid percent-encoding');
      }
      checkKey(key);
      switch (method) {
        case 'GET': {
          await linearize(ctx);
          const kv = backend.kv.get(key);
          if (!kv) throw new KvError('not-found', `key ${JSON.stringify(key)} not found`);
          sendJson(res, 200, kvJson(kv));
          return;
        }
        case 'PUT': {
          const cmd = putCommand(key, await jsonBody(ctx));
          await write(ctx, cmd, (r) => sendJson(res, 200, { revision: (r as { revision: number }).revision }));
          return;
        }
        case 'DELETE': {
          const prev = intParam(query, 'prevRevision');
          const cmd: KvCommand = { op: 'delete', key, ...(prev !== undefined ? { prevRevision: prev } : {}) };
          await write(ctx, cmd, (r) => sendJson(res, 200, { revision: (r as { revision: number }).revision }));
          return;
        }
        default:
          return notAllowed();
      }
    }

    switch (path) {
      case '/v1/kv': {
        if (method !== 'GET') return notAllowed();
        const prefix = query.get('prefix') ?? '';
        const limit = intParam(query, 'limit');
        const after = query.get('after') ?? undefined;
        await linearize(ctx);
        const page = backend.kv.range({ prefix, ...(limit !== undefined && limit > 0 ? { limit } : {}), ...(after !== undefined ? { after } : {}) });
        sendJson(res, 200, { items: page.items.map(kvJson), revision: page.revision, more: page.more });
        return;
      }
      case '/v1/txn': {
        if (method !== 'POST') return notAllowed();
        const cmd = txnCommand(await jsonBody(ctx));
        await write(ctx, cmd, (r) => {
          const t = r as Extract<KvResult, { type: 'txn' }>;
          sendJson(res, 200, {
            succeeded: t.succeeded,
            revision: t.revision,
            results: t.results.map((x) => ('get' in x ? { get: x.get ? kvJson(x.get) : null } : x)),
          });
        });
        return;
      }
      case '/v1/watch':
        if (method !== 'GET' && method !== 'POST') return notAllowed();
        await watchRequest(ctx);
        return;
      case '/v1/leases': {
        if (method === 'GET') {
          await linearize(ctx);
          sendJson(res, 200, { leases: backend.kv.leases() });
          return;
        }
        if (method !== 'POST') return notAllowed();
        const body = await jsonBody(ctx);
        const ttl = checkTtl(typeof body === 'object' && body !== null ? (body as { ttlSeconds?: unknown }).ttlSeconds : undefined);
        await write(ctx, { op: 'lease-grant', ttlSeconds: ttl }, (r) => leaseAnswer(res, r));
        return;
      }
      case '/v1/keepalive': {
        // many leases renewed in one log entry: {"ids":[...]} → {"leases":[{"id","ttlSeconds"}]}, 0 = gone
        if (method !== 'POST') return notAllowed();
        const body = await jsonBody(ctx);
        const cmd = checkCommand({ op: 'lease-keepalives', ids: typeof body === 'object' && body !== null ? (body as { ids?: unknown }).ids : undefined });
        await write(ctx, cmd, (r) => sendJson(res, 200, { leases: (r as Extract<KvResult, { type: 'leases' }>).leases }));
        return;
      }
      case '/v1/compact': {
        if (method !== 'POST') return notAllowed();
        const body = await jsonBody(ctx);
        const rev = checkRevision(typeof body === 'object' && body !== null ? (body as { revision?: unknown }).revision : undefined, 'revision');
        await write(ctx, { op: 'compact', revision: rev }, (r) => sendJson(res, 200, { revision: (r as { revision: number }).revision }));
        return;
      }
      case '/v1/status':
        if (method !== 'GET') return notAllowed();
        sendJson(res, 200, backend.status());
        return;
      case '/v1/members': {
        if (method === 'GET') {
          await linearize(ctx);
          sendJson(res, 200, { members: backend.members() });
          return;
        }
        if (method !== 'POST') return notAllowed();
        const body = await jsonBody(ctx);
        if (typeof body !== 'object' || body === null) throw new KvError('bad-request', 'the body must be {"id","peerUrl","learner"?}');
        const b = body as { id?: unknown; peerUrl?: unknown; learner?: unknown };
        if (typeof b.id !== 'number' || !Number.isSafeInteger(b.id) || b.id <= 0) throw new KvError('bad-request', `id must be a positive integer, got ${JSON.stringify(b.id)}`);
        if (typeof b.peerUrl !== 'string' || !/^[^\s:]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$/.test(b.peerUrl.replace(/^tcp:\/\//, ''))) {
          throw new KvError('bad-request', `peerUrl must be HOST:PORT, got ${JSON.stringify(b.peerUrl)}`);
        }
        if (b.learner !== undefined && typeof b.learner !== 'boolean') throw new KvError('bad-request', 'learner must be a boolean');
        const id = b.id;
        const peerUrl = b.peerUrl.replace(/^tcp:\/\//, '');
        const learner = b.learner ?? false;
        await membership(ctx, () => backend.addMember({ id, peerUrl, learner }));
        return;
      }
      case '/v1/snapshot': {
        if (method !== 'GET') return notAllowed();
        await linearize(ctx);
        const data = await backend.backup();
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.length });
        res.end(data);
        return;
      }
      default:
        break;
    }

    const lease = /^\/v1\/leases\/([^/]+)(\/keepalive)?$/.exec(path);
    if (lease) {
      const id = checkLeaseId(decodeURIComponent(lease[1]!));
      if (lease[2] && method === 'POST') {
        await write(ctx, { op: 'lease-keepalive', id }, (r) => leaseAnswer(res, r));
        return;
      }
      if (!lease[2] && method === 'DELETE') {
        await write(ctx, { op: 'lease-revoke', id }, (r) => leaseAnswer(res, r));
        return;
      }
      if (!lease[2] && method === 'GET') {
        await linearize(ctx);
        const l = backend.kv.lease(id);
        if (!l) throw new KvError('lease-not-found', `lease ${JSON.stringify(id)} not found`);
        sendJson(res, 200, l);
        return;
      }
      return notAllowed();
    }
    const member = /^\/v1\/members\/([0-9]+)(\/promote)?$/.exec(path);
    if (member) {
      const id = Number(member[1]);
      if (member[2] && method === 'POST') return membership(ctx, () => backend.promoteMember(id));
      if (!member[2] && method === 'DELETE') return membership(ctx, () => backend.removeMember(id));
      return notAllowed();
    }
    throw new KvError('not-found', `no such endpoint: ${method} ${path}`);
  }

  async function membership(ctx: Ctx, op: () => Promise<unknown>): Promise<void> {
    if (!backend.isLeader()) {
      await forward(ctx);
      return;
    }
    const members = await op();
    sendJson(ctx.res, 200, { members });
  }

  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const ctx: Ctx = {
      req,
      res,
      path: q < 0 ? url : url.slice(0, q),
      query: new URLSearchParams(q < 0 ? '' : url.slice(q + 1)),
      forwarded: req.headers[FORWARDED] !== undefined,
    };
    if (observability(backend, options, req, res, ctx.path, ctx.query)) return;
    if (!authorized(req)) {
      req.resume();
      sendError(res, new KvError('unauthorized', 'a valid bearer token is required (Authorization: Bearer <token>)'));
      return;
    }
    route(ctx).catch((err: unknown) => {
      req.resume();
      sendError(res, err);
    });
  };
}

/** Most prefixes one watch takes. */
export const MAX_WATCH_PREFIXES = 10_000;

/** The prefixes of one watch: strings of at most 1024 bytes, at most {@link MAX_WATCH_PREFIXES}. */
function checkPrefixes(prefixes: readonly unknown[]): string[] {
  if (prefixes.length > MAX_WATCH_PREFIXES) throw new KvError('bad-request', `a watch takes at most ${MAX_WATCH_PREFIXES} prefixes, got ${prefixes.length}: open several`);
  return prefixes.map((p, i) => {
    if (typeof p !== 'string') throw new KvError('bad-request', `prefixes[${i}] must be a string, got ${JSON.stringify(p)}`);
    if (Buffer.byteLength(p) > 1024) throw new KvError('bad-request', `prefixes[${i}] is longer than 1024 bytes (keys are at most 1024)`);
    return p;
  });
}

function leaseAnswer(res: http.ServerResponse, r: KvResult): void {
  const l = r as Extract<KvResult, { type: 'lease' }>;
  sendJson(res, 200, { id: l.id, ttlSeconds: l.ttlSeconds });
}

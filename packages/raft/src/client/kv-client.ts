/**
 * KvClient: the client of the KV HTTP API (`@flotilla/raft/client`) — endpoints, leader discovery,
 * safe retries, watches.
 */
import http from 'node:http';
import https from 'node:https';
import { KvError, isKvError } from '../kv/errors.js';
import type { KvErrorCode } from '../kv/errors.js';
import type { KeyValue, LeaseInfo, TxnCompare, TxnOp, WatchEvent } from '../kv/types.js';

/** Options of {@link KvClient}. */
export interface KvClientOptions {
  /** Client URLs of some members, e.g. `["http://127.0.0.1:2479"]`. */
  readonly endpoints: readonly string[];
  /** Bearer token, when the servers require one. */
  readonly token?: string;
  /** CA certificate(s) to trust for https endpoints. @default the system CAs */
  readonly ca?: string | Buffer;
  /** Client certificate (PEM) presented to https endpoints, with {@link KvClientOptions.key}. @default none */
  readonly cert?: string | Buffer;
  /** Private key (PEM) of {@link KvClientOptions.cert}. @default none */
  readonly key?: string | Buffer;
  /** Per-attempt timeout of one HTTP request; a write that times out has an unknown outcome. @default 10000 */
  readonly requestTimeoutMs?: number;
  /**
   * Deadline of one call, retries included: requests that certainly had no effect (no leader,
   * connection refused) are retried until then, no attempt outlives it, and at the deadline
   * the call rejects with a `KvError` naming every endpoint tried and the last error of each.
   * @default 15000
   */
  readonly retryWindowMs?: number;
  /**
   * Called before each retry with the endpoint that failed and why (for progress on stderr:
   * an unreachable store is not a silent wait). @default none
   */
  readonly onRetry?: (info: KvRetryInfo) => void;
}

/** What {@link KvClientOptions.onRetry} is told. */
export interface KvRetryInfo {
  /** The endpoint that just failed. */
  readonly endpoint: string;
  /** Why, for people: `connection refused`, `no answer within 2000 ms`, `no-leader: …`. */
  readonly reason: string;
  /** Retries so far in this call (0 before the first). */
  readonly attempt: number;
  /** The call's retry window (ms): it gives up this long after it started. */
  readonly retryWindowMs: number;
}

/** A short, human reason for a transport error. */
function describeError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ETIMEDOUT') return (err as Error).message;
  if (isKvError(err)) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** A transaction request (see `POST /v1/txn`). */
export interface TxnRequest {
  readonly compare?: readonly TxnCompare[];
  readonly success?: readonly TxnOp[];
  readonly failure?: readonly TxnOp[];
}

/** A transaction outcome. `get` results are the key or `null`. */
export interface TxnResponse {
  readonly succeeded: boolean;
  readonly revision: number;
  readonly results: readonly Record<string, unknown>[];
}

/** Options of {@link KvClient.watch}. */
export interface KvClientWatchOptions {
  /** First revision to deliver (inclusive). @default the next revision */
  readonly fromRevision?: number;
  /** Stops the watch. */
  readonly signal?: AbortSignal;
  /** Called with each progress revision (all changes up to it have been delivered). */
  readonly onProgress?: (revision: number) => void;
  /** Called when a member accepts the watch (first connection and every resumption). */
  readonly onConnected?: (endpoint: string) => void;
  /**
   * Called before each reconnection with the endpoint that failed or hung up and why (the
   * watch retries forever until `signal` aborts; the caller decides when to give up).
   */
  readonly onRetry?: (info: KvRetryInfo & { readonly connected: boolean }) => void;
  /**
   * A watch that has heard nothing — no event, no progress (members send one at least every
   * 5 s) — for this long is taken as a dead connection (a member that vanished without closing
   * it) and resumed elsewhere. @default 15000
   */
  readonly idleTimeoutMs?: number;
}

/** @deprecated Renamed {@link KvClientWatchOptions} (issue 18: `WatchOptions` is also a cluster store's and a reconcile controller's). */
export type WatchOptions = KvClientWatchOptions;

interface Response {
  readonly status: number;
  readonly body: Buffer;
}

/** TLS handshakes that failed on the server's certificate: retrying cannot help, and nothing was sent. */
const TLS_REFUSED = /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|CERT_SIGNATURE_FAILURE|ERR_TLS_CERT_ALTNAME_INVALID)$/;

/** Errors that prove the request never reached a server that could act on it. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * Waits `ms`, or less when `signal` aborts. The abort listener goes when the time is up: a
 * watch that reconnects for as long as a store is down sleeps once per attempt on one signal,
 * and each listener left behind used to pile up (MaxListenersExceededWarning after 11).
 */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A client for the Flotilla KV HTTP API.
 *
 * Guarantees:
 * - Finds the leader (from `GET /v1/status`) and sends writes to it. Reads (linearizable:
 *   ReadIndex on whichever member serves them) and watches go to this client's own member,
 *   chosen at random among the endpoints when the client is made, so many clients spread
 *   their reads and watches over the members instead of all landing on the first endpoint;
 *   once the leader is known, a client whose member is the leader moves to the next one (the
 *   leader already carries every write). A member that fails is left for the next endpoint.
 * - Retries only what is safe: reads on any failure, writes only when the request certainly
 *   had no effect (connection refused, `503 no-leader`). A write that fails otherwise
 *   rejects with a `KvError` whose `mayHaveEffect` is true.
 * - Watches resume after a disconnect from the revision after the last one seen, on any
 *   member, so no event is lost or repeated; a compacted resume point rejects with `compacted`.
 */
export class KvClient {
  readonly #o: KvClientOptions;
  readonly #endpoints: string[];
  #leaderUrl: string | undefined;
  /** Index (modulo the endpoints) of this client's member for reads and watches; moved on by failures. */
  #next: number;
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  readonly #tlsAgent: https.Agent;
  /**
   * Watches hold their connection for as long as they live, so they get agents of their own
   * without a socket limit: thousands of watches (a `flo agent --hollow` process, one per
   * host) neither wait for each other nor take the sockets requests need.
   */
  readonly #watchAgent = new http.Agent({ keepAlive: false });
  readonly #watchTlsAgent: https.Agent;

  constructor(options: KvClientOptions) {
    const given: unknown = options.endpoints;
    if (!Array.isArray(given) || given.length === 0) {
      throw new TypeError(`endpoints: expected a non-empty array of URLs, received ${JSON.stringify(options.endpoints)}`);
    }
    for (const e of options.endpoints) {
      if (!/^https?:\/\//.test(e)) throw new TypeError(`endpoints: expected http(s) URLs, received ${JSON.stringify(e)}`);
    }
    this.#o = options;
    this.#endpoints = options.endpoints.map((e) => e.replace(/\/+$/, ''));
    // each client its own member: the reads and watches of many clients spread over the members
    this.#next = Math.floor(Math.random() * this.#endpoints.length);
    if ((options.cert === undefined) !== (options.key === undefined)) throw new TypeError('cert and key: expected both (a client certificate and its private key) or neither');
    this.#tlsAgent = new https.Agent({
      keepAlive: true,
      maxSockets: 64,
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.cert && options.key ? { cert: options.cert, key: options.key } : {}),
    });
    this.#watchTlsAgent = new https.Agent({
      keepAlive: false,
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.cert && options.key ? { cert: options.cert, key: options.key } : {}),
    });
  }

  /** Closes idle connections. */
  close(): void {
    this.#agent.destroy();
    this.#tlsAgent.destroy();
    this.#watchAgent.destroy();
    this.#watchTlsAgent.destroy();
  }

  // ---- KV ----

  /** Reads a key (linearizable unless `serializable`); `undefined` when absent. */
  async get(key: string, options: { serializable?: boolean } = {}): Promise<KeyValue | undefined> {
    const r = await this.#request('GET', `/v1/kv/${encodeURIComponent(key)}${options.serializable ? '?serializable=true' : ''}`, undefined, { read: true, allow404: true });
    return r === undefined ? undefined : (r as KeyValue);
  }

  /** Writes a key; returns the new revision (the key's new modRevision). */
  async put(key: string, value: string, options: { prevRevision?: number; lease?: string } = {}): Promise<number> {
    const r = (await this.#request('PUT', `/v1/kv/${encodeURIComponent(key)}`, { value, ...options })) as { revision: number };
    return r.revision;
  }

  /** Deletes a key; returns the new revision, or `undefined` when the key was absent. */
  async delete(key: string, options: { prevRevision?: number } = {}): Promise<number | undefined> {
    const q = options.prevRevision !== undefined ? `?prevRevision=${options.prevRevision}` : '';
    const r = await this.#request('DELETE', `/v1/kv/${encodeURIComponent(key)}${q}`, undefined, { allow404: true });
    return r === undefined ? undefined : (r as { revision: number }).revision;
  }

  /** One page of keys with a prefix, ordered by key. */
  async range(options: { prefix?: string; limit?: number; after?: string; serializable?: boolean } = {}): Promise<{ items: KeyValue[]; revision: number; more: boolean }> {
    const q = new URLSearchParams({ prefix: options.prefix ?? '' });
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    if (options.after !== undefined) q.set('after', options.after);
    if (options.serializable) q.set('serializable', 'true');
    return (await this.#request('GET', `/v1/kv?${q.toString()}`, undefined, { read: true })) as { items: KeyValue[]; revision: number; more: boolean };
  }

  /** Runs a multi-key transaction. */
  async txn(request: TxnRequest): Promise<TxnResponse> {
    return (await this.#request('POST', '/v1/txn', { compare: request.compare ?? [], success: request.success ?? [], failure: request.failure ?? [] })) as TxnResponse;
  }

  /** Grants a lease. */
  async grantLease(ttlSeconds: number): Promise<{ id: string; ttlSeconds: number }> {
    return (await this.#request('POST', '/v1/leases', { ttlSeconds })) as { id: string; ttlSeconds: number };
  }

  /** Renews a lease for another TTL. */
  async keepAlive(id: string): Promise<{ id: string; ttlSeconds: number }> {
    return (await this.#request('POST', `/v1/leases/${encodeURIComponent(id)}/keepalive`)) as { id: string; ttlSeconds: number };
  }

  /**
   * Renews many leases in one request and one log entry (`POST /v1/keepalive`): each id's TTL
   * in the order given, `0` for a lease that no longer exists. At most 10,000 ids a call.
   */
  async keepAliveMany(ids: readonly string[]): Promise<{ id: string; ttlSeconds: number }[]> {
    return ((await this.#request('POST', '/v1/keepalive', { ids })) as { leases: { id: string; ttlSeconds: number }[] }).leases;
  }

  /** Every lease with its TTL and attached keys (linearizable). */
  async leases(): Promise<LeaseInfo[]> {
    return ((await this.#request('GET', '/v1/leases', undefined, { read: true })) as { leases: LeaseInfo[] }).leases;
  }

  /** One lease with its TTL and attached keys; `undefined` when there is none with this id. */
  async lease(id: string): Promise<LeaseInfo | undefined> {
    try {
      return (await this.#request('GET', `/v1/leases/${encodeURIComponent(id)}`, undefined, { read: true })) as LeaseInfo;
    } catch (e) {
      if (isKvError(e) && e.code === 'lease-not-found') return undefined;
      throw e;
    }
  }

  /** Revokes a lease, deleting its keys. */
  async revokeLease(id: string): Promise<void> {
    await this.#request('DELETE', `/v1/leases/${encodeURIComponent(id)}`);
  }

  /** Compacts watch history below `revision`. */
  async compact(revision: number): Promise<void> {
    await this.#request('POST', '/v1/compact', { revision });
  }

  // ---- cluster ----

  async status(endpoint?: string): Promise<Record<string, unknown>> {
    return (await this.#request('GET', '/v1/status', undefined, { read: true, ...(endpoint ? { endpoint } : {}) })) as Record<string, unknown>;
  }

  async members(): Promise<{ id: number; peerUrl: string; clientUrl: string; learner: boolean }[]> {
    return ((await this.#request('GET', '/v1/members', undefined, { read: true })) as { members: { id: number; peerUrl: string; clientUrl: string; learner: boolean }[] }).members;
  }

  async addMember(id: number, peerUrl: string, learner = false): Promise<unknown> {
    return this.#request('POST', '/v1/members', { id, peerUrl, learner });
  }

  async promoteMember(id: number): Promise<unknown> {
    return this.#request('POST', `/v1/members/${id}/promote`);
  }

  async removeMember(id: number): Promise<unknown> {
    return this.#request('DELETE', `/v1/members/${id}`);
  }

  /** A consistent backup of the whole store (for `flo server --restore`). */
  async snapshot(): Promise<Buffer> {
    const res = await this.#send('GET', this.#pick(true), '/v1/snapshot', undefined);
    if (res.status !== 200) throw this.#error(res);
    return res.body;
  }

  /**
   * Watches keys with `prefix`. Yields events in revision order; reconnects and resumes from
   * the last seen revision + 1 on any member after a disconnect.
   *
   * Several prefixes (an array, at most 10,000) are one watch of their union on one
   * connection (`POST /v1/watch`): each change under any of them once, in revision order. A
   * process with a watch per host (`flo agent --hollow`) then holds one stream, not thousands.
   */
  async *watch(prefix: string | readonly string[], options: KvClientWatchOptions = {}): AsyncGenerator<WatchEvent, void, undefined> {
    if (typeof prefix !== 'string' && (!Array.isArray(prefix) || prefix.length === 0 || prefix.some((p) => typeof p !== 'string'))) {
      throw new TypeError(`prefix: expected a string or a non-empty array of strings, received ${JSON.stringify(prefix)?.slice(0, 100)}`);
    }
    let from = options.fromRevision;
    const signal = options.signal;
    let failures = 0;
    while (!signal?.aborted) {
      const endpoint = this.#pick(true);
      let path: string;
      let body: string | undefined;
      if (typeof prefix === 'string') {
        const q = new URLSearchParams({ prefix });
        if (from !== undefined) q.set('fromRevision', String(from));
        path = `/v1/watch?${q.toString()}`;
      } else {
        path = '/v1/watch';
        body = JSON.stringify({ prefixes: prefix, ...(from !== undefined ? { fromRevision: from } : {}) });
      }
      const queue: (WatchEvent | { type: 'progress'; revision: number })[] = [];
      let done = false;
      let fail: unknown;
      let wake: (() => void) | undefined;
      let accepted = false;
      // A member that never answers (a blackholed address) is given up after the request timeout.
      const idle = this.#o.requestTimeoutMs ?? 10_000;
      const req = this.#open(endpoint, path, body, (res) => {
        if (res.statusCode === 200) {
          accepted = true;
          options.onConnected?.(endpoint);
          const idleMs = options.idleTimeoutMs ?? 15_000;
          const idle = setTimeout(() => {
            fail = Object.assign(new Error(`no event or progress for ${idleMs} ms`), { code: 'ETIMEDOUT' });
            done = true;
            wake?.();
            req.destroy();
          }, idleMs);
          res.on('data', () => idle.refresh());
          res.once('close', () => clearTimeout(idle));
        }
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            fail = this.#error({ status: res.statusCode ?? 500, body: Buffer.concat(chunks) });
            done = true;
            wake?.();
          });
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          buf += c;
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            if (line) queue.push(JSON.parse(line) as WatchEvent);
          }
          wake?.();
        });
        res.on('end', () => {
          done = true;
          wake?.();
        });
        res.on('error', () => {
          done = true;
          wake?.();
        });
      });
      req.on('error', (err) => {
        fail = err;
        done = true;
        wake?.();
      });
      const answerTimer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${idle} ms`), { code: 'ETIMEDOUT' })), idle);
      req.once('response', () => clearTimeout(answerTimer));
      req.once('close', () => clearTimeout(answerTimer));
      const onAbort = () => req.destroy();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        for (;;) {
          while (queue.length > 0) {
            const item = queue.shift()!;
            failures = 0;
            if (item.type === 'progress') {
              from = Math.max(from ?? 0, item.revision + 1);
              options.onProgress?.(item.revision);
              continue;
            }
            from = item.modRevision + 1;
            yield item;
          }
          if (done || signal?.aborted) break;
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
      } finally {
        signal?.removeEventListener('abort', onAbort);
        req.destroy();
      }
      if (isKvError(fail) && (fail.code === 'compacted' || fail.code === 'unauthorized' || fail.code === 'bad-request')) throw fail;
      if (signal?.aborted) return;
      options.onRetry?.({ endpoint, reason: fail === undefined ? 'the member closed the watch' : describeError(fail), attempt: failures, retryWindowMs: Infinity, connected: accepted });
      this.#next++;
      failures++;
      await sleep(Math.min(1000, 50 * 2 ** Math.min(failures, 5)), signal);
    }
  }

  // ---- transport ----

  #pick(read: boolean): string {
    if (!read && this.#leaderUrl) return this.#leaderUrl;
    return this.#endpoints[this.#next % this.#endpoints.length]!;
  }

  /** `deadline` undefined: no retry window (one attempt each, bounded by `requestTimeoutMs` only). */
  async #findLeader(deadline: number | undefined, tried: Map<string, string>): Promise<void> {
    for (let i = 0; i < this.#endpoints.length; i++) {
      const ep = this.#endpoints[(this.#next + i) % this.#endpoints.length]!;
      const left = deadline === undefined ? Infinity : deadline - Date.now();
      if (left <= 0) return;
      try {
        const res = await this.#send('GET', ep, '/v1/status', undefined, left);
        if (res.status !== 200) {
          tried.set(ep, describeError(this.#error(res)));
          continue;
        }
        const s = JSON.parse(res.body.toString('utf8')) as { leader: number; members: { id: number; clientUrl: string }[] };
        const url = s.members.find((m) => m.id === s.leader)?.clientUrl;
        if (s.leader !== 0 && url) {
          this.#leaderUrl = url.replace(/\/+$/, '');
          this.#avoidLeader();
          return;
        }
      } catch (err) {
        tried.set(ep, describeError(err)); // try the next endpoint
      }
    }
  }

  async #request(method: string, path: string, body?: unknown, opts: { read?: boolean; allow404?: boolean; endpoint?: string } = {}): Promise<unknown> {
    const read = opts.read ?? false;
    const window = this.#o.retryWindowMs ?? 15_000;
    const deadline = Date.now() + window;
    // A window of 0 means one attempt, bounded by `requestTimeoutMs` alone.
    const bound = window > 0 ? deadline : undefined;
    const tried = new Map<string, string>();
    let attempt = 0;
    const gaveUp = (code: KvErrorCode, cause: unknown, mayHaveEffect: boolean): KvError => {
      const list = [...tried].map(([ep, why]) => `${ep} (${why})`).join(', ');
      return new KvError(code, `${method} ${path}: no member answered within ${window / 1000} s; tried ${list}`, { cause, mayHaveEffect });
    };
    const retry = async (endpoint: string): Promise<void> => {
      this.#o.onRetry?.({ endpoint, reason: tried.get(endpoint) ?? 'failed', attempt, retryWindowMs: window });
      this.#rotate(endpoint);
      await sleep(Math.max(0, Math.min(1000, 25 * 2 ** Math.min(attempt++, 6), deadline - Date.now())));
      if (!read) await this.#findLeader(bound, tried);
    };
    if (!read && !this.#leaderUrl && !opts.endpoint) await this.#findLeader(bound, tried);
    for (;;) {
      const endpoint = opts.endpoint ?? this.#pick(read);
      let res: Response;
      const left = deadline - Date.now();
      if (left <= 0 && tried.size > 0) throw gaveUp('unavailable', undefined, false);
      try {
        res = await this.#send(method, endpoint, path, body === undefined ? undefined : JSON.stringify(body), bound === undefined ? Infinity : Math.max(1, left));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (TLS_REFUSED.test(code)) {
          throw new KvError('unavailable', `${method} ${endpoint}${path}: the TLS handshake failed: ${(err as Error).message} (${code})`, { cause: err, mayHaveEffect: false });
        }
        const safe = read || NEVER_SENT.has(code) || (err as { neverSent?: boolean }).neverSent === true;
        // The call's own deadline cutting a last attempt short says less than the failure before it.
        if (!((err as { deadline?: boolean }).deadline === true && tried.has(endpoint))) tried.set(endpoint, describeError(err));
        if (!safe) {
          throw new KvError('timeout', `${method} ${endpoint}${path} failed: ${(err as Error).message}`, { cause: err, mayHaveEffect: true });
        }
        if (Date.now() >= deadline) throw gaveUp('unavailable', err, false);
        await retry(endpoint);
        continue;
      }
      if (res.status === 200) return res.body.length ? JSON.parse(res.body.toString('utf8')) : {};
      const err = this.#error(res);
      if (res.status === 404 && opts.allow404 && err.code === 'not-found') return undefined;
      const retryable = err.code === 'no-leader' || err.code === 'too-many-requests' || (read && res.status >= 500);
      if (retryable) {
        tried.set(endpoint, describeError(err));
        if (Date.now() >= deadline) throw gaveUp(err.code, err, err.mayHaveEffect);
        await retry(endpoint);
        continue;
      }
      throw err;
    }
  }

  /** Moves this client's reads and watches off the leader, once, when another member is listed. */
  #avoidLeader(): void {
    const n = this.#endpoints.length;
    if (n > 1 && this.#endpoints[this.#next % n] === this.#leaderUrl) this.#next++;
  }

  #rotate(failed: string): void {
    if (failed === this.#leaderUrl) this.#leaderUrl = undefined;
    this.#next++;
  }

  #error(res: Response): KvError {
    let parsed: { error?: { code?: string; message?: string; modRevision?: number; compactRevision?: number } } = {};
    try {
      parsed = JSON.parse(res.body.toString('utf8')) as typeof parsed;
    } catch {
      // not JSON
    }
    const e = parsed.error ?? {};
    return new KvError((e.code ?? (res.status >= 500 ? 'unavailable' : 'bad-request')) as KvErrorCode, e.message ?? `HTTP ${res.status}`, {
      status: res.status,
      mayHaveEffect: res.status >= 500 && e.code !== 'no-leader',
      ...(e.modRevision !== undefined ? { modRevision: e.modRevision } : {}),
      ...(e.compactRevision !== undefined ? { compactRevision: e.compactRevision } : {}),
    });
  }

  #headers(body: string | undefined): http.OutgoingHttpHeaders {
    const h: http.OutgoingHttpHeaders = {};
    if (this.#o.token) h.authorization = `Bearer ${this.#o.token}`;
    if (body !== undefined) {
      h['content-type'] = 'application/json';
      h['content-length'] = Buffer.byteLength(body);
    }
    return h;
  }

  /** Opens a watch stream: a GET, or a POST of `body`. */
  #open(endpoint: string, path: string, body: string | undefined, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
    const url = new URL(endpoint + path);
    const isHttps = url.protocol === 'https:';
    const req = (isHttps ? https : http).request(url, { method: body === undefined ? 'GET' : 'POST', headers: this.#headers(body), agent: isHttps ? this.#watchTlsAgent : this.#watchAgent }, onResponse);
    req.end(body);
    return req;
  }

  #send(method: string, endpoint: string, path: string, body: string | undefined, timeLeftMs = Infinity): Promise<Response> {
    const url = new URL(endpoint + path);
    const isHttps = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (isHttps ? https : http).request(url, { method, headers: this.#headers(body), agent: isHttps ? this.#tlsAgent : this.#agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      });
      const idle = this.#o.requestTimeoutMs ?? 10_000;
      req.setTimeout(idle, () => req.destroy(Object.assign(new Error(`no answer within ${idle} ms`), { code: 'ETIMEDOUT' })));
      // The call's deadline bounds the whole attempt, connecting included.
      const timer = Number.isFinite(timeLeftMs)
        ? setTimeout(() => req.destroy(Object.assign(new Error(`no answer before the deadline (${Math.round(timeLeftMs)} ms)`), { code: 'ETIMEDOUT', deadline: true })), timeLeftMs)
        : undefined;
      req.once('close', () => clearTimeout(timer));
      // Until its connection is made (TLS: the handshake done) the request has not left this
      // process: an attempt cut short then (the call's deadline, the idle timeout) never reached
      // a server, so a write stays safe to report as not applied.
      let connected = false;
      req.once('socket', (socket) => {
        const ready = isHttps ? 'secureConnect' : 'connect';
        if (!socket.connecting && (!isHttps || (socket as { encrypted?: boolean; authorized?: boolean }).encrypted)) connected = true;
        else socket.once(ready, () => (connected = true));
      });
      req.once('error', (err) => {
        if (!connected) Object.assign(err, { neverSent: true });
      });
      // A reset connection (even a reused keep-alive one) may have carried the request to a
      // server that crashed after proposing it: for writes that is an unknown outcome.
      req.on('error', reject);
      req.end(body);
    });
  }
}

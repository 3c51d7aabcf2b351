// Who may see and who may act, for `flo ui`. The rules (DESIGN.md, Observability and the
// dashboard):
//   - on a loopback address (127.0.0.0/8, ::1, localhost) the read-only view needs no token;
//   - any other listen address needs a token (--token-file), for reads too; without one
//     `flo ui` refuses to start;
//   - actions (scale, cordon, uncordon, rollout undo) need the token whenever one is set.
// A token is given as `Authorization: Bearer T`, or once to POST /api/session, which sets an
// HttpOnly, SameSite=Strict session cookie (EventSource cannot send headers).
// Browsers add two more dangers on loopback, both refused here: a page on another site posting
// to 127.0.0.1 (actions must be JSON, which a cross-site form cannot send without a preflight
// we never answer, and must come from our own Origin) and DNS rebinding (a name that resolves
// to 127.0.0.1 reaching us with its own Host header: only loopback Host names are accepted).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { parseListen } from '../observability/http.js';

/** Whether a listen host is loopback only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/** The checked listen address: throws a TypeError that says what to do when it is not allowed. */
export function checkListen(listen: string, hasToken: boolean): { host: string; port: number; loopback: boolean } {
  const { host, port } = parseListen(listen, '--listen');
  const loopback = isLoopbackHost(host);
  if (!loopback && !hasToken)
    throw new TypeError(
      `--listen ${listen}: ${host === '' || host === '0.0.0.0' || host === '::' ? 'every address' : host} is not a loopback address, so the dashboard needs a token: give --token-file FILE (a file holding a secret of 16 characters or more), or listen on 127.0.0.1`,
    );
  return { host, port, loopback };
}

/** Checks a token file's content: trimmed, at least 16 characters. */
export function checkToken(text: string, file: string): string {
  const token = text.trim();
  if (token.length < 16) throw new TypeError(`--token-file ${file}: the token must be at least 16 characters (it has ${token.length}); e.g. openssl rand -hex 24 > ${file}`);
  if (/\s/.test(token)) throw new TypeError(`--token-file ${file}: the token must be one line without spaces`);
  return token;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export const SESSION_COOKIE = 'flo_ui_session';

/** Token and session checks of one `flo ui`. */
export class Access {
  readonly #token: Buffer | undefined;
  readonly #sessions = new Set<string>();
  readonly viewNeedsToken: boolean;
  readonly actionsNeedToken: boolean;
  readonly #loopback: boolean;

  constructor(options: { token?: string; loopback: boolean }) {
    this.#token = options.token !== undefined ? digest(options.token) : undefined;
    this.#loopback = options.loopback;
    this.viewNeedsToken = !options.loopback;
    this.actionsNeedToken = options.token !== undefined;
  }

  /** Whether `given` is the token (constant time). */
  tokenMatches(given: string): boolean {
    return this.#token !== undefined && timingSafeEqual(digest(given), this.#token);
  }

  /** A new session id for a request that proved the token. */
  newSession(): string {
    const id = randomBytes(24).toString('base64url');
    this.#sessions.add(id);
    return id;
  }

  /** Whether the request carries the token (Bearer) or a session made with it. */
  authenticated(req: IncomingMessage): boolean {
    if (this.#token === undefined) return false;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') === true && this.tokenMatches(auth.slice(7).trim())) return true;
    const session = cookie(req, SESSION_COOKIE);
    return session !== undefined && this.#sessions.has(session);
  }

  /** Why the request may not read, or undefined. */
  refuseView(req: IncomingMessage): Refusal | undefined {
    const host = this.refuseHost(req);
    if (host) return host;
    if (this.viewNeedsToken && !this.authenticated(req)) return { status: 401, code: 'token-required', message: 'this dashboard listens beyond loopback: give the token (the contents of flo ui --token-file)' };
    return undefined;
  }

  /** Why the request may not act, or undefined. */
  refuseAction(req: IncomingMessage): Refusal | undefined {
    const view = this.refuseView(req);
    if (view) return view;
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/json\b/i.test(type)) return { status: 415, code: 'json-required', message: 'actions take a JSON body (content-type: application/json)' };
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`) return { status: 403, code: 'cross-origin', message: `actions are refused from another origin (${origin})` };
    if (this.actionsNeedToken && !this.authenticated(req))
      return { status: 401, code: 'token-required', message: 'actions need the token (flo ui was started with --token-file): enter it with "Token" at the top of the page' };
    return undefined;
  }

  /** On loopback, a Host header that is no loopback name (DNS rebinding) is refused. */
  refuseHost(req: IncomingMessage): Refusal | undefined {
    if (!this.#loopback) return undefined;
    const host = req.headers.host ?? '';
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
    if (isLoopbackHost(name)) return undefined;
    return { status: 403, code: 'host-refused', message: `Host ${JSON.stringify(host)} is not a loopback name: open the dashboard as http://127.0.0.1:PORT or http://localhost:PORT` };
  }
}

export interface Refusal {
  status: number;
  code: string;
  message: string;
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Checks of KV input (keys, values, TTLs, commands): used by the HTTP API, by the leader on
 * forwarded proposals and on every entry applied.
 */
import { KvError } from './errors.js';
import type { KvCommand, TxnCompare, TxnOp } from './types.js';

/** Keys are 1..1024 bytes of UTF-8. */
export const MAX_KEY_BYTES = 1024;
/** Values are UTF-8 strings of at most 1 MiB. */
export const MAX_VALUE_BYTES = 1024 * 1024;
/** Transactions hold at most this many compares and this many operations per branch. */
export const MAX_TXN_OPS = 128;
/** Most leases one batched keep-alive (`lease-keepalives`, `POST /v1/keepalive`) renews. */
export const MAX_KEEPALIVE_IDS = 10_000;

const encoder = new TextEncoder();

function utf8Length(s: string): number {
  // Fast path: ASCII-only strings are as long as their UTF-8 encoding.
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(s) ? s.length : encoder.encode(s).length;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks a key: a string of 1..1024 UTF-8 bytes (413 `too-large` above, 400 `bad-request` when empty or not a string). */
export function checkKey(key: unknown, where = 'key'): string {
  if (typeof key !== 'string') throw new KvError('bad-request', `${where} must be a string, got ${typeof key}`);
  if (key.length === 0) throw new KvError('bad-request', `${where} must not be empty`);
  if (key.length * 3 > MAX_KEY_BYTES && utf8Length(key) > MAX_KEY_BYTES) {
    throw new KvError('too-large', `${where} is ${utf8Length(key)} bytes; keys are at most ${MAX_KEY_BYTES} bytes`);
  }
  return key;
}

/** Checks a value: a string of at most 1 MiB of UTF-8. */
export function checkValue(value: unknown, where = 'value'): string {
  if (typeof value !== 'string') throw new KvError('bad-request', `${where} must be a string, got ${describe(value)}`);
  if (value.length * 3 > MAX_VALUE_BYTES && utf8Length(value) > MAX_VALUE_BYTES) {
    throw new KvError('too-large', `${where} is ${utf8Length(value)} bytes; values are at most ${MAX_VALUE_BYTES} bytes`);
  }
  return value;
}

/** Checks a revision-like number: a safe non-negative integer. */
export function checkRevision(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new KvError('bad-request', `${where} must be a non-negative integer, got ${describe(value)}`);
  }
  return value;
}

function checkLease(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !/^[0-9]{1,19}$/.test(value)) {
    throw new KvError('bad-request', `${where} must be a lease id string, got ${describe(value)}`);
  }
  return value;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'object') return 'an object';
  return typeof v === 'number' || typeof v === 'boolean' ? String(v) : typeof v;
}

/** Builds a put command from a key and a parsed request body `{value, prevRevision?, lease?}`. */
export function putCommand(key: string, body: unknown): KvCommand {
  checkKey(key);
  if (!isObject(body)) throw new KvError('bad-request', `the body must be a JSON object {"value": string}, got ${describe(body)}`);
  const value = checkValue(body.value, 'value');
  const prevRevision = body.prevRevision === undefined ? undefined : checkRevision(body.prevRevision, 'prevRevision');
  const lease = checkLease(body.lease, 'lease');
  return {
    op: 'put',
    key,
    value,
    ...(prevRevision !== undefined ? { prevRevision } : {}),
    ...(lease !== undefined ? { lease } : {}),
  };
}

/** Builds a transaction command from a parsed body `{compare, success, failure}`. */
export function txnCommand(body: unknown): KvCommand {
  if (!isObject(body)) throw new KvError('bad-request', `the body must be a JSON object {"compare","success","failure"}, got ${describe(body)}`);
  const compare = list(body.compare, 'compare').map((c, i): TxnCompare => {
    if (!isObject(c)) throw new KvError('bad-request', `compare[${i}] must be an object {"key","modRevision"}`);
    return { key: checkKey(c.key, `compare[${i}].key`), modRevision: checkRevision(c.modRevision, `compare[${i}].modRevision`) };
  });
  const success = ops(body.success, 'success');
  const failure = ops(body.failure, 'failure');
  return { op: 'txn', compare, success, failure };
}

function list(v: unknown, where: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new KvError('bad-request', `${where} must be an array, got ${describe(v)}`);
  if (v.length > MAX_TXN_OPS) throw new KvError('too-large', `${where} has ${v.length} entries; at most ${MAX_TXN_OPS}`);
  return v;
}

function ops(v: unknown, where: string): TxnOp[] {
  const written = new Set<string>();
  return list(v, where).map((op, i): TxnOp => {
    const at = `${where}[${i}]`;
    if (!isObject(op)) throw new KvError('bad-request', `${at} must be an object with one of put, delete, get`);
    const kinds = Object.keys(op);
    if (kinds.length !== 1) throw new KvError('bad-request', `${at} must have exactly one of put, delete, get; got ${kinds.join(', ') || 'none'}`);
    const inner = op[kinds[0]!];
    if (!isObject(inner)) throw new KvError('bad-request', `${at}.${kinds[0]} must be an object`);
    const key = checkKey(inner.key, `${at}.${kinds[0]}.key`);
    switch (kinds[0]) {
      case 'put': {
        if (written.has(key)) throw new KvError('bad-request', `${at}: duplicate key ${JSON.stringify(key)} written twice in one transaction`);
        written.add(key);
        const lease = checkLease(inner.lease, `${at}.put.lease`);
        return { put: { key, value: checkValue(inner.value, `${at}.put.value`), ...(lease !== undefined ? { lease } : {}) } };
      }
      case 'delete':
        if (written.has(key)) throw new KvError('bad-request', `${at}: duplicate key ${JSON.stringify(key)} written twice in one transaction`);
        written.add(key);
        return { delete: { key } };
      case 'get':
        return { get: { key } };
      default:
        throw new KvError('bad-request', `${at}: unknown operation ${JSON.stringify(kinds[0])}; expected put, delete or get`);
    }
  });
}

/** Checks a lease TTL: an integer number of seconds in 1..(30 days). */
export function checkTtl(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 30 * 24 * 3600) {
    throw new KvError('bad-request', `ttlSeconds must be an integer from 1 to 2592000, got ${describe(value)}`);
  }
  return value;
}

/** Checks a lease id from a URL path. */
export function checkLeaseId(value: string): string {
  return checkLease(value, 'lease id')!;
}

function requiredLease(value: unknown, where: string): string {
  const id = checkLease(value, where);
  if (id === undefined) throw new KvError('bad-request', `${where} is required (a lease id string)`);
  return id;
}

/**
 * Checks any value claimed to be a {@link KvCommand} — from the HTTP API, from a peer's
 * forwarded proposal, or read back from the log — and returns a normalized copy holding only
 * the fields of its `op`, each checked as the HTTP API checks it (keys, values, revisions,
 * leases, TTLs, transaction shapes and sizes). Throws {@link KvError} `bad-request` or
 * `too-large` naming the field. Deterministic: the same input gives the same answer on every
 * member, so the state machine can use it on replay.
 */
export function checkCommand(value: unknown): KvCommand {
  if (!isObject(value)) throw new KvError('bad-request', `a command must be a JSON object with an "op", got ${describe(value)}`);
  const op = value.op;
  switch (op) {
    case 'put':
      return putCommand(checkKey(value.key, 'put.key'), value);
    case 'delete': {
      const key = checkKey(value.key, 'delete.key');
      const prevRevision = value.prevRevision === undefined ? undefined : checkRevision(value.prevRevision, 'delete.prevRevision');
      return { op: 'delete', key, ...(prevRevision !== undefined ? { prevRevision } : {}) };
    }
    case 'txn':
      return txnCommand(value);
    case 'compact':
      return { op: 'compact', revision: checkRevision(value.revision, 'compact.revision') };
    case 'lease-grant':
      return { op: 'lease-grant', ttlSeconds: checkTtl(value.ttlSeconds) };
    case 'lease-keepalives': {
      const ids = value.ids;
      if (!Array.isArray(ids) || ids.length === 0) throw new KvError('bad-request', `lease-keepalives.ids must be a non-empty array of lease ids, got ${describe(ids)}`);
      if (ids.length > MAX_KEEPALIVE_IDS) throw new KvError('too-large', `lease-keepalives.ids has ${ids.length} entries; at most ${MAX_KEEPALIVE_IDS} (split the renewal)`);
      return { op, ids: ids.map((id, i) => requiredLease(id, `lease-keepalives.ids[${i}]`)) };
    }
    case 'lease-keepalive':
    case 'lease-revoke':
    case 'lease-expire':
      return { op, id: requiredLease(value.id, `${op}.id`) };
    default:
      throw new KvError('bad-request', `unknown command op ${describe(op)}; expected put, delete, txn, compact or a lease operation`);
  }
}

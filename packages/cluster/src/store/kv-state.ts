/**
 * The revisioned map shared by the in-memory and file stores: applying a write yields the
 * log record for it, so both stores agree on revisions and compare-and-set.
 */
import { ConflictError } from '../errors.js';
import type { KeyValue, KvCompare, KvRangeOptions, KvTxnOp, KvTxnResult, KvWatchEvent } from './types.js';

/** One change as recorded in a revision log. */
export type LogRecord =
  | { rev: number; type: 'put'; key: string; value: string; createRevision: number; version: number; prevValue?: string }
  | { rev: number; type: 'delete'; key: string; prevValue?: string };

export interface KvState {
  revision: number;
  kvs: Map<string, KeyValue>;
}

export function emptyState(): KvState {
  return { revision: 0, kvs: new Map() };
}

/** Checks the compare-and-set precondition; throws ConflictError. */
export function checkPrev(state: KvState, key: string, prevRevision: number | undefined): void {
  if (prevRevision === undefined) return;
  const current = state.kvs.get(key)?.modRevision ?? 0;
  if (current !== prevRevision) throw new ConflictError(key, prevRevision, current);
}

/** Applies a put and returns its log record. */
export function applyPut(state: KvState, key: string, value: string, prevRevision?: number): LogRecord {
  checkPrev(state, key, prevRevision);
  const rev = state.revision + 1;
  const old = state.kvs.get(key);
  const kv: KeyValue = { key, value, createRevision: old?.createRevision ?? rev, modRevision: rev, version: (old?.version ?? 0) + 1 };
  state.kvs.set(key, kv);
  state.revision = rev;
  return { rev, type: 'put', key, value, createRevision: kv.createRevision, version: kv.version, ...(old ? { prevValue: old.value } : {}) };
}

/** Applies a delete and returns its log record, or `undefined` when the key was absent. */
export function applyDelete(state: KvState, key: string, prevRevision?: number): LogRecord | undefined {
  checkPrev(state, key, prevRevision);
  const old = state.kvs.get(key);
  if (!old) return undefined;
  const rev = state.revision + 1;
  state.kvs.delete(key);
  state.revision = rev;
  return { rev, type: 'delete', key, prevValue: old.value };
}

/**
 * Applies a transaction: when every comparison holds, every op at one new revision (a
 * delete of an absent key does nothing); returns the records (empty when it failed or
 * changed nothing) and the result.
 */
export function applyTxn(state: KvState, compare: readonly KvCompare[], ops: readonly KvTxnOp[]): { records: LogRecord[]; result: KvTxnResult } {
  const current = compare.map((c) => state.kvs.get(c.key)?.modRevision ?? 0);
  if (current.some((m, i) => m !== compare[i]!.modRevision)) return { records: [], result: { succeeded: false, revision: state.revision, current } };
  const rev = state.revision + 1;
  const records: LogRecord[] = [];
  for (const op of ops) {
    const old = state.kvs.get(op.key);
    if (op.type === 'put') {
      const kv: KeyValue = { key: op.key, value: op.value, createRevision: old?.createRevision ?? rev, modRevision: rev, version: (old?.version ?? 0) + 1 };
      state.kvs.set(op.key, kv);
      records.push({ rev, type: 'put', key: op.key, value: op.value, createRevision: kv.createRevision, version: kv.version, ...(old ? { prevValue: old.value } : {}) });
    } else if (old) {
      state.kvs.delete(op.key);
      records.push({ rev, type: 'delete', key: op.key, prevValue: old.value });
    }
  }
  if (records.length > 0) state.revision = rev;
  return { records, result: { succeeded: true, revision: state.revision } };
}

/** Checks the shape of a transaction's arguments (a `TypeError` naming the bad part). */
export function checkTxn(compare: readonly KvCompare[], ops: readonly KvTxnOp[]): void {
  if (!Array.isArray(compare)) throw new TypeError(`txn: expected compare to be an array, received ${typeof compare}`);
  if (!Array.isArray(ops)) throw new TypeError(`txn: expected ops to be an array, received ${typeof ops}`);
  (compare as readonly Partial<KvCompare>[]).forEach((c, i) => {
    if (typeof c?.key !== 'string' || !Number.isInteger(c.modRevision) || (c.modRevision ?? -1) < 0)
      throw new TypeError(`txn: compare[${i}] must be {key: string, modRevision: integer >= 0}, received ${JSON.stringify(c)}`);
  });
  const seen = new Set<string>();
  (ops as readonly (Partial<KvTxnOp> & { value?: unknown })[]).forEach((op, i) => {
    if ((op?.type !== 'put' && op?.type !== 'delete') || typeof op.key !== 'string' || (op.type === 'put' && typeof op.value !== 'string'))
      throw new TypeError(`txn: ops[${i}] must be {type: 'put', key, value} or {type: 'delete', key} with strings, received ${JSON.stringify(op)}`);
    if (seen.has(op.key)) throw new TypeError(`txn: ops[${i}] writes ${JSON.stringify(op.key)} a second time (etcd refuses duplicate keys in one txn)`);
    seen.add(op.key);
  });
}

/** Replays a record (recovery, or a follower of the log). Records at or below the state's revision are ignored. */
export function replay(state: KvState, r: LogRecord): void {
  if (r.rev <= state.revision) return;
  if (r.type === 'put') state.kvs.set(r.key, { key: r.key, value: r.value, createRevision: r.createRevision, modRevision: r.rev, version: r.version });
  else state.kvs.delete(r.key);
  state.revision = r.rev;
}

/** The watch event for a record. */
export function toEvent(r: LogRecord): KvWatchEvent {
  if (r.type === 'put')
    return {
      type: 'put',
      key: r.key,
      value: r.value,
      createRevision: r.createRevision,
      modRevision: r.rev,
      version: r.version,
      ...(r.prevValue !== undefined ? { prevValue: r.prevValue } : {}),
    };
  return { type: 'delete', key: r.key, modRevision: r.rev, ...(r.prevValue !== undefined ? { prevValue: r.prevValue } : {}) };
}

/** Items under a prefix, ordered by key. */
export function rangeOf(state: KvState, prefix: string): KeyValue[] {
  return pageOf(state, prefix).items;
}

/** Checks range options (a `TypeError` naming the bad one). */
export function checkRangeOptions(options: KvRangeOptions | undefined): void {
  if (options === undefined) return;
  if (options.limit !== undefined && (!Number.isInteger(options.limit) || options.limit < 1))
    throw new TypeError(`range: expected limit to be a positive integer, received ${String(options.limit)}`);
  if (options.after !== undefined && typeof options.after !== 'string') throw new TypeError(`range: expected after to be a string, received ${typeof options.after}`);
  if (options.revision !== undefined && (!Number.isInteger(options.revision) || options.revision < 0))
    throw new TypeError(`range: expected revision to be a non-negative integer, received ${String(options.revision)}`);
}

/** One page of the items under a prefix, ordered by key (see {@link KvRangeOptions}). */
export function pageOf(state: KvState, prefix: string, options: KvRangeOptions = {}): { items: KeyValue[]; more?: boolean } {
  const after = options.after;
  const keys: string[] = [];
  for (const key of state.kvs.keys()) if (key.startsWith(prefix) && (after === undefined || key > after)) keys.push(key);
  keys.sort();
  const limit = options.limit ?? Infinity;
  const more = keys.length > limit;
  const items = (more ? keys.slice(0, limit) : keys).map((k) => ({ ...state.kvs.get(k)! }));
  return options.limit !== undefined ? { items, more } : { items };
}

/**
 * The revisioned map shared by the in-memory and file stores: applying a write yields the
 * log record for it, so both stores agree on revisions and compare-and-set.
 */
import { ConflictError } from '../errors.js';
import type { KeyValue, KvWatchEvent } from './types.js';

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
  const items: KeyValue[] = [];
  for (const kv of state.kvs.values()) if (kv.key.startsWith(prefix)) items.push({ ...kv });
  items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return items;
}

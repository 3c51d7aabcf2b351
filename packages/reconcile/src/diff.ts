// The talk's `todo = diff(desired, current)`.
import { badOption, ReconcileError } from './errors.js';

/** A pair to update: the desired version and the current one it replaces. */
export interface DiffUpdate<TDesired, TCurrent> {
  readonly key: string;
  readonly desired: TDesired;
  readonly current: TCurrent;
}

/** What to do to make `current` match `desired`. Each list is in its input's order. */
export interface DiffResult<TDesired, TCurrent> {
  /** Desired items with no current counterpart. */
  readonly create: TDesired[];
  /** Pairs present on both sides that are not `equal`. */
  readonly update: DiffUpdate<TDesired, TCurrent>[];
  /** Current items with no desired counterpart. */
  readonly delete: TCurrent[];
}

/** Options of {@link diff}. */
export interface DiffOptions<TDesired, TCurrent> {
  /** Identity of an item (both sides); keys must be unique on each side. */
  key: (item: TDesired | TCurrent) => string;
  /**
   * Whether a current item already matches the desired one.
   * @default structural deep equality ({@link deepEqual})
   */
  equal?: (desired: TDesired, current: TCurrent) => boolean;
}

/**
 * Compares desired and current items by key: what to create, update and delete. Throws a
 * `ReconcileError` with code `duplicate-key` when a key repeats on one side.
 *
 * @example
 * const todo = diff(wanted, running, { key: (i) => i.name });
 * for (const i of todo.create) start(i);
 */
export function diff<TDesired, TCurrent = TDesired>(
  desired: Iterable<TDesired>,
  current: Iterable<TCurrent>,
  options: DiffOptions<TDesired, TCurrent>,
): DiffResult<TDesired, TCurrent> {
  if (typeof options !== 'object' || options === null || typeof options.key !== 'function') {
    badOption('options.key', 'a function', (options as { key?: unknown } | null)?.key);
  }
  const { key } = options;
  const equal = options.equal ?? (deepEqual);
  const wanted = new Map<string, TDesired>();
  for (const item of desired) {
    const k = key(item);
    if (wanted.has(k)) throw new ReconcileError('duplicate-key', `diff: key "${k}" appears twice in desired`);
    wanted.set(k, item);
  }
  const create: TDesired[] = [];
  const update: DiffUpdate<TDesired, TCurrent>[] = [];
  const del: TCurrent[] = [];
  const seen = new Set<string>();
  for (const item of current) {
    const k = key(item);
    if (seen.has(k)) throw new ReconcileError('duplicate-key', `diff: key "${k}" appears twice in current`);
    seen.add(k);
    const want = wanted.get(k);
    if (want === undefined && !wanted.has(k)) del.push(item);
    else if (!equal(want as TDesired, item)) update.push({ key: k, desired: want as TDesired, current: item });
  }
  for (const [k, item] of wanted) if (!seen.has(k)) create.push(item);
  return { create, update, delete: del };
}

/**
 * Structural equality of JSON-like values: primitives by `Object.is` (so `NaN` equals
 * `NaN`), arrays element-wise, `Date`s by time, `Map`s and `Set`s by content, plain objects
 * by own enumerable keys (order-insensitive; an `undefined` property equals a missing one;
 * with or without a prototype), other objects only when they share a prototype.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  }
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map && b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !deepEqual(v, b.get(k))) return false;
    return true;
  }
  if (a instanceof Set || b instanceof Set) {
    if (!(a instanceof Set && b instanceof Set) || a.size !== b.size) return false;
    for (const v of a) if (!b.has(v)) return false;
    return true;
  }
  const pa: unknown = Object.getPrototypeOf(a);
  const pb: unknown = Object.getPrototypeOf(b);
  // Plain objects match whether or not they have a prototype (JSON.parse vs Object.create(null)).
  if (pa !== pb && !(isPlainProto(pa) && isPlainProto(pb))) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const k of Object.keys(ra)) if (ra[k] !== undefined && !deepEqual(ra[k], rb[k])) return false;
  for (const k of Object.keys(rb)) if (rb[k] !== undefined && ra[k] === undefined) return false;
  return true;
}

function isPlainProto(proto: unknown): boolean {
  return proto === null || proto === Object.prototype;
}

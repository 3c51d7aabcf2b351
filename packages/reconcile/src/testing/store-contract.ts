/**
 * The contract every WatchableStore keeps, as a reusable test suite (`checkStoreContract`):
 * run it against your store.
 */
import { deepEqual } from '../diff.js';
import type { CompareAndSetStore, ObjectEvent, WatchableStore, WatchEvent } from '../store.js';

/** A fresh, empty store under test, with the writes the contract itself does not define. */
export interface StoreContractSubject<T> {
  readonly store: WatchableStore<T> & Partial<CompareAndSetStore<T>>;
  /** Creates or replaces the object called `name`. */
  readonly write: (name: string, object: T) => unknown;
  /** Deletes the object called `name`. */
  readonly remove: (name: string) => unknown;
  /** The store key of the object called `name`. @default the name itself */
  readonly keyOf?: (name: string) => string;
  /** A distinct sample object; `n` counts from 0. */
  readonly sample: (n: number) => T;
  /** Releases the store after the checks. */
  readonly close?: () => unknown;
  /**
   * What of a stored object must come back exactly as written: a store that adds fields on
   * write (a revision, a creation time, as cluster's `ResourceStore` does in `metadata`)
   * strips them here. Applied to both sides of every comparison. @default the object itself
   */
  readonly comparable?: (object: T) => unknown;
}

/** Options of {@link checkStoreContract}. */
export interface StoreContractOptions {
  /** How long to wait for each expected watch event. @default 10_000 */
  timeoutMs?: number;
}

class ContractViolation extends Error {
  override name = 'ContractViolation';
}

function must(condition: boolean, message: string): asserts condition {
  if (!condition) throw new ContractViolation(message);
}

async function nextEvent<T>(it: AsyncIterator<WatchEvent<T>>, timeoutMs: number, what: string): Promise<ObjectEvent<T>> {
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const r = await Promise.race([it.next(), timeout]);
    clearTimeout(timer);
    must(r !== 'timeout', `watch: no event within ${timeoutMs} ms while waiting for ${what}`);
    must(r.done !== true, `watch ended while waiting for ${what}`);
    if (r.value.type === 'progress') continue;
    must(r.value.type !== 'expired', `watch expired unexpectedly while waiting for ${what}`);
    return r.value;
  }
}

/**
 * Checks that a store keeps the {@link WatchableStore} contract (and, when it has the
 * methods, {@link CompareAndSetStore}'s): consistent list with a revision; watch from a
 * revision, inclusive, in revision order, with added/modified/deleted carrying key, object
 * and revision (deleted: the last object); abort ends a watch; compare-and-set semantics.
 * Framework-agnostic: resolves when every check passes, rejects with the first violation.
 * Each check gets a fresh subject from `make`.
 *
 * @example
 * it('keeps the store contract', () => checkStoreContract(async () => ({ store: new MyStore(), ... })));
 */
export async function checkStoreContract<T>(
  make: () => StoreContractSubject<T> | Promise<StoreContractSubject<T>>,
  options: StoreContractOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  let same: (a: T, b: T) => boolean = deepEqual;
  const run = async (name: string, check: (s: StoreContractSubject<T>, key: (n: string) => string) => Promise<void>): Promise<void> => {
    const subject = await make();
    const key = (n: string): string => subject.keyOf?.(n) ?? n;
    const comparable = subject.comparable;
    same = comparable ? (a, b) => deepEqual(comparable(a), comparable(b)) : deepEqual;
    try {
      await check(subject, key);
    } catch (error) {
      if (error instanceof ContractViolation) error.message = `${name}: ${error.message}`;
      throw error;
    } finally {
      await subject.close?.();
    }
  };

  await run('list', async ({ store, write, remove, sample }, key) => {
    const empty = await store.list();
    must(empty.items.length === 0, `a fresh store lists ${empty.items.length} items`);
    must(Number.isInteger(empty.revision) && empty.revision >= 0, `revision ${empty.revision} is not an integer >= 0`);
    await write('a', sample(0));
    await write('b', sample(1));
    await write('a', sample(2));
    await remove('b');
    const listed = await store.list();
    must(listed.items.length === 1, `expected 1 item after writes and a delete, got ${listed.items.length}`);
    const [item] = listed.items;
    must(item!.key === key('a'), `expected key ${key('a')}, got ${item!.key}`);
    must(same(item!.object, sample(2)), 'listed object differs from the last write');
    must(listed.revision > empty.revision, 'revision did not grow with writes');
    must(item!.revision <= listed.revision, `item revision ${item!.revision} > list revision ${listed.revision}`);
  });

  await run('watch after list', async ({ store, write, remove, sample }, key) => {
    await write('a', sample(0));
    const listed = await store.list();
    const ac = new AbortController();
    const it = store.watch(listed.revision + 1, { signal: ac.signal })[Symbol.asyncIterator]();
    await write('b', sample(1));
    await write('a', sample(2));
    await remove('b');
    const e1 = await nextEvent(it, timeoutMs, 'added b');
    must(e1.type === 'added' && e1.key === key('b') && same(e1.object, sample(1)), `first event should be added ${key('b')}, got ${e1.type} ${e1.key}`);
    const e2 = await nextEvent(it, timeoutMs, 'modified a');
    must(e2.type === 'modified' && e2.key === key('a') && same(e2.object, sample(2)), `second event should be modified ${key('a')}, got ${e2.type} ${e2.key}`);
    const e3 = await nextEvent(it, timeoutMs, 'deleted b');
    must(e3.type === 'deleted' && e3.key === key('b'), `third event should be deleted ${key('b')}, got ${e3.type} ${e3.key}`);
    must(same(e3.object, sample(1)), 'a deleted event carries the last object');
    must(listed.revision < e1.revision && e1.revision < e2.revision && e2.revision < e3.revision, 'event revisions must increase');
    const after = await store.list();
    must(after.revision >= e3.revision, 'list revision is behind the watch');
    ac.abort();
    let ended = false;
    for (let i = 0; i < 100 && !ended; i++) {
      const r = await Promise.race([it.next(), new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs))]);
      must(r !== 'timeout', 'an aborted watch did not end');
      ended = r.done === true;
    }
    must(ended, 'an aborted watch kept yielding');
  });

  await run('watch from a past revision (inclusive)', async ({ store, write, sample }, key) => {
    await write('a', sample(0));
    await write('b', sample(1));
    const listed = await store.list();
    const bRevision = listed.items.find((i) => i.key === key('b'))!.revision;
    const ac = new AbortController();
    const it = store.watch(bRevision, { signal: ac.signal })[Symbol.asyncIterator]();
    const e = await nextEvent(it, timeoutMs, 'the write at the start revision');
    must(e.key === key('b') && e.revision === bRevision, `watch(${bRevision}) should start with that revision's write, got ${e.key}@${e.revision}`);
    ac.abort();
  });

  await run('compare-and-set', async ({ store, sample }) => {
    if (typeof store.compareAndSet !== 'function' || typeof store.get !== 'function') return;
    const k = 'contract-cas';
    const created = await store.compareAndSet(k, sample(0), 0);
    must(created.succeeded && created.revision > 0, 'compareAndSet(key, v, 0) on an absent key must succeed');
    const again = await store.compareAndSet(k, sample(1), 0);
    must(!again.succeeded && again.revision === created.revision, 'compareAndSet(key, v, 0) on an existing key must fail with its revision');
    const stale = await store.compareAndSet(k, sample(1), created.revision + 1000);
    must(!stale.succeeded, 'compareAndSet with a wrong revision must fail');
    const updated = await store.compareAndSet(k, sample(1), created.revision);
    must(updated.succeeded && updated.revision > created.revision, 'compareAndSet at the current revision must succeed with a higher revision');
    const got = await store.get(k);
    must(got?.revision === updated.revision && same(got.object, sample(1)), 'get returns the written object and revision');
    must((await store.get('contract-absent')) === undefined, 'get of an absent key returns undefined');
  });
}

// The store contract every Flotilla store implements (the in-memory one in ./testing, and
// @flotilla/cluster's file, Raft and etcd stores).

/** One stored object with its key and modification revision. */
export interface StoreEntry<T> {
  readonly key: string;
  readonly object: T;
  /** The revision of the write that last changed this object (its modRevision). */
  readonly revision: number;
}

/** A consistent snapshot: every object as of `revision`. */
export interface ListResult<T> {
  readonly items: readonly StoreEntry<T>[];
  /** The store's revision at the time of the snapshot; watch from `revision + 1`. */
  readonly revision: number;
  /**
   * When the list was asked for a page ({@link ListOptions.limit}) and objects are left:
   * pass it as `continue` to get the next page. Absent on the last (or only) page.
   */
  readonly continue?: string;
}

/** An object change, delivered in revision order. `deleted` carries the last known object. */
export interface ObjectEvent<T> {
  readonly type: 'added' | 'modified' | 'deleted';
  readonly key: string;
  readonly object: T;
  readonly revision: number;
}

/** Sent at a regular interval when nothing else is: the watch is alive and caught up to `revision`. */
export interface ProgressEvent {
  readonly type: 'progress';
  readonly revision: number;
}

/**
 * The requested revision has been compacted away (or the store can no longer serve this
 * watch): the watcher must list again. Always the last event of a watch.
 */
export interface ExpiredEvent {
  readonly type: 'expired';
  /** The oldest revision the store can still watch from, when known. */
  readonly revision: number;
}

/** Everything a watch yields. */
export type WatchEvent<T> = ObjectEvent<T> | ProgressEvent | ExpiredEvent;

/** Options of `list` and `watch`. */
export interface StoreCallOptions {
  /** Aborting ends the list (rejecting) or the watch (ending the iteration). */
  signal?: AbortSignal;
}

/**
 * Options of `list`: optionally one page of the objects (kubectl's `--chunk-size`, client-go's
 * paged list). A store that does not page ignores `limit` and returns every object with no
 * `continue`; one that does returns at most `limit` objects and a `continue` token while
 * objects are left. Every page of one list reports the first page's revision: either each
 * page is read at it (etcd), or pages are read at later revisions (a store that keeps no
 * versions) — then the snapshot reflects at least that revision, and a watch from
 * `revision + 1` replays whatever changed meanwhile (an informer ignores replays older than
 * what it holds). A page whose revision was compacted meanwhile rejects with an error
 * whose `code` is `'compacted'`: list again from the first page.
 */
export interface ListOptions extends StoreCallOptions {
  /** At most this many objects. @default every object */
  limit?: number;
  /** The `continue` of the previous page (the next page of the same list). */
  continue?: string;
}

/**
 * The contract every Flotilla store implements: a consistent list with a revision, and a
 * watch from a revision.
 *
 * - `list()` returns every object and the revision the snapshot reflects.
 * - `watch(fromRevision)` yields, in revision order, every change with a revision
 *   `>= fromRevision` (inclusive; `0` means "from now"), a `progress` event at a regular
 *   interval, and `expired` (then ends) when `fromRevision` has been compacted, after which
 *   the watcher must list again. Aborting `signal` or breaking out of the loop ends it.
 *
 * A watch may also end or throw (a lost connection); consumers re-list then, and treat a
 * watch that is silent for longer than the progress interval as dead.
 */
export interface WatchableStore<T> {
  list(options?: ListOptions): Promise<ListResult<T>>;
  watch(fromRevision: number, options?: StoreCallOptions): AsyncIterable<WatchEvent<T>>;
}

/** The result of {@link CompareAndSetStore.compareAndSet}. */
export interface CompareAndSetResult {
  /** True when the write happened. */
  readonly succeeded: boolean;
  /** On success the new revision of the key; otherwise its current one (0 when absent). */
  readonly revision: number;
}

/**
 * A store that can write a key only if it has not changed since it was read: what
 * `LeaderElector` needs, and what cluster's stores provide.
 */
export interface CompareAndSetStore<T> {
  /** The current entry for `key`, or `undefined`. */
  get(key: string): Promise<StoreEntry<T> | undefined>;
  /**
   * Writes `object` at `key` only if the key's current revision is `expectedRevision`
   * (`0` = only if the key is absent).
   */
  compareAndSet(key: string, object: T, expectedRevision: number): Promise<CompareAndSetResult>;
}

/**
 * Following the store as a person watches it (`flo get -w`, `flo events -w`, a dashboard):
 * list a kind, then see each change. Built on reconcile's `storeSource` (client-go's
 * reflector): list, watch from the next revision; a watch that stalls or ends is opened
 * again from the last revision seen (the store replays what was missed); when it fails or
 * its revision is compacted, list again and report only the differences. So a watcher
 * survives a store that goes away and comes back, and never misses a change nor repeats one.
 */
import { parseSelector, type Selector } from '@flotilla/labels';
import { silentLogger, storeSource, systemClock, type WatchableStore, type WatchRestartReason } from '@flotilla/reconcile';
import type { ClusterEvent, Kind } from './manifest/types.js';
import { Channel } from './store/channel.js';
import { resourcesOf, type ClusterStore, type Resource, type ResourceStore } from './store/resources.js';

/**
 * What a watch yields: the objects listed first (`initial: true`), then `synced` once, then
 * each change as it happens; `restarted` when the watch was lost and the store is listed
 * again (the differences follow as ordinary changes).
 */
export type ObjectChange<T> =
  | { type: 'added' | 'modified' | 'deleted'; object: T; initial: boolean }
  | { type: 'synced' }
  | { type: 'restarted'; reason: WatchRestartReason; error?: unknown };

/** Options of {@link watchObjects}. */
export interface WatchObjectsOptions {
  /**
   * Only objects whose labels match this selector (the selector syntax). As a Kubernetes
   * watch with a label selector: an object that stops matching is reported `deleted`, one
   * that starts matching `added`. @default every object
   */
  selector?: string;
  /** Only the objects with these names. @default every name */
  names?: readonly string[];
  /** Ends the watch (the iteration finishes). */
  signal?: AbortSignal;
  /**
   * A watch that yields nothing, not even a progress notice, for this long is dropped and
   * opened again from the last revision seen (listed again only if that history was
   * compacted). @default 30000
   */
  watchTimeoutMs?: number;
}

const labelsOf = (o: Resource): Record<string, string> => o.metadata.labels ?? {};

/**
 * Lists the objects of one kind and then follows their changes ({@link ObjectChange}), until
 * `signal` aborts or the consumer stops iterating. Never throws: a store that cannot be
 * reached is retried (listing with backoff) and reported as `restarted`.
 */
export function watchObjects<T extends Resource>(store: WatchableStore<T>, options: WatchObjectsOptions = {}): AsyncIterable<ObjectChange<T>> {
  const selector: Selector | undefined = options.selector !== undefined ? parseSelector(options.selector) : undefined;
  const names = options.names !== undefined ? new Set(options.names) : undefined;
  const wanted = (o: T): boolean => (names === undefined || names.has(o.metadata.name)) && (selector === undefined || selector.matches(labelsOf(o)));
  const abort = new AbortController();
  const onAbort = (): void => abort.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const channel = new Channel<ObjectChange<T>>(() => abort.abort());
  /** Keys of the objects reported and not deleted since. */
  const shown = new Set<string>();
  void storeSource(store, { name: 'watch', ...(options.watchTimeoutMs !== undefined ? { watchTimeoutMs: options.watchTimeoutMs } : {}) })
    .run({
      signal: abort.signal,
      clock: systemClock,
      logger: silentLogger,
      synced: () => channel.push({ type: 'synced' }),
      restarted: (reason, error) => channel.push({ type: 'restarted', reason, ...(error !== undefined ? { error } : {}) }),
      emit(e) {
        const initial = e.origin === 'initial-list';
        const was = shown.has(e.key);
        const is = e.type !== 'deleted' && wanted(e.object);
        if (is) shown.add(e.key);
        else shown.delete(e.key);
        if (is) channel.push({ type: was ? 'modified' : 'added', object: e.object, initial });
        else if (was) channel.push({ type: 'deleted', object: e.object, initial });
      },
    })
    .finally(() => {
      options.signal?.removeEventListener('abort', onAbort);
      channel.close();
    });
  if (options.signal?.aborted === true) abort.abort();
  return channel;
}

/** Which events {@link listEvents} and {@link watchEvents} report. */
export interface EventQuery {
  /** Only events whose involved object's labels match this selector. @default every event */
  selector?: string;
  /** Only events about this object. @default every object */
  involved?: { kind: Kind; name: string };
}

const byTime = (a: ClusterEvent, b: ClusterEvent): number => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0);

function storeOf(store: ClusterStore, kind: Kind): ResourceStore<Resource> | undefined {
  return kind === 'Instance' ? store.instances : kind === 'Event' ? undefined : resourcesOf(store, kind);
}

/**
 * The labels of involved objects, looked up in the store: each kind listed once for a batch
 * of events, or one object read per live event. An object deleted since keeps the labels it
 * was last seen with (a `Stopped` event outlives its instance).
 */
class InvolvedLabels {
  readonly #store: ClusterStore;
  readonly #known = new Map<string, Record<string, string>>();

  constructor(store: ClusterStore) {
    this.#store = store;
  }

  /** Reads every object of the kinds these events are about. */
  async load(events: readonly ClusterEvent[]): Promise<void> {
    const kinds = new Set(events.map((e) => e.involved.kind));
    await Promise.all(
      [...kinds].map(async (kind) => {
        for (const o of (await storeOf(this.#store, kind)?.items()) ?? []) this.#known.set(`${kind}/${o.metadata.name}`, labelsOf(o));
      }),
    );
  }

  /** The object's current labels (read now), else the last known ones, else undefined. */
  async current(kind: Kind, name: string): Promise<Record<string, string> | undefined> {
    const o = await storeOf(this.#store, kind)?.get(name);
    if (o !== undefined) this.#known.set(`${kind}/${name}`, labelsOf(o));
    return this.#known.get(`${kind}/${name}`);
  }

  known(kind: Kind, name: string): Record<string, string> | undefined {
    return this.#known.get(`${kind}/${name}`);
  }
}

function involvedMatches(query: EventQuery, e: ClusterEvent): boolean {
  return query.involved === undefined || (e.involved.kind === query.involved.kind && e.involved.name === query.involved.name);
}

/**
 * The events recorded by the controllers, oldest first (as `kubectl get events` sorts them),
 * optionally only those about one object or about objects whose labels match a selector.
 */
export async function listEvents(store: ClusterStore, query: EventQuery = {}): Promise<ClusterEvent[]> {
  const selector = query.selector !== undefined ? parseSelector(query.selector) : undefined;
  const events = (await store.events.items()).filter((e) => involvedMatches(query, e)).sort(byTime);
  if (selector === undefined) return events;
  const labels = new InvolvedLabels(store);
  await labels.load(events);
  return events.filter((e) => {
    const l = labels.known(e.involved.kind, e.involved.name);
    return l !== undefined && selector.matches(l);
  });
}

/**
 * {@link listEvents}, then each event as it is recorded: the events already in the store
 * (`initial: true`, oldest first), `synced`, then new ones. Events the controllers prune are
 * not reported; `restarted` as in {@link watchObjects}.
 */
export async function* watchEvents(store: ClusterStore, query: EventQuery & { signal?: AbortSignal; watchTimeoutMs?: number } = {}): AsyncIterable<ObjectChange<ClusterEvent>> {
  const selector = query.selector !== undefined ? parseSelector(query.selector) : undefined;
  const labels = new InvolvedLabels(store);
  const initial: ClusterEvent[] = [];
  for await (const c of watchObjects(store.events, { ...(query.signal ? { signal: query.signal } : {}), ...(query.watchTimeoutMs !== undefined ? { watchTimeoutMs: query.watchTimeoutMs } : {}) })) {
    switch (c.type) {
      case 'restarted':
        yield c;
        break;
      case 'synced': {
        const first = initial.filter((e) => involvedMatches(query, e)).sort(byTime);
        if (selector !== undefined) await labels.load(first);
        for (const e of first) {
          const l = labels.known(e.involved.kind, e.involved.name);
          if (selector === undefined || (l !== undefined && selector.matches(l))) yield { type: 'added', object: e, initial: true };
        }
        initial.length = 0;
        yield c;
        break;
      }
      case 'deleted':
        break; // pruned: it happened all the same
      case 'added':
      case 'modified': {
        if (c.initial) {
          initial.push(c.object);
          break;
        }
        if (!involvedMatches(query, c.object)) break;
        if (selector !== undefined) {
          const l = await labels.current(c.object.involved.kind, c.object.involved.name);
          if (l === undefined || !selector.matches(l)) break;
        }
        yield { type: c.type, object: c.object, initial: false };
        break;
      }
    }
  }
}

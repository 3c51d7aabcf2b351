/**
 * The controllers' event recorder (client-go's event broadcaster and EventCorrelator, in
 * spirit): a reconcile hands its events over and goes on; the recorder correlates them,
 * writes them to the store in the background and keeps the number stored at `maxEvents`
 * without listing them. Guarantees:
 *
 * - **correlated** (Kubernetes' `EventCorrelator`, {@link EventCorrelator}):
 *   - *deduplicated*: an event identical to one recorded before (same object, type, reason,
 *     message) is one more occurrence of that event's record — its `count` grows, its
 *     `lastTimestamp` (and `time`) move on, `firstTimestamp` stays — not a new record;
 *   - *aggregated*: once an object has had `aggregateThreshold` (10) events of one type and
 *     reason with different messages within `aggregateWindowMs` (10 minutes, from the last of
 *     them), the next ones of that kind are one record "(combined from similar events):
 *     <latest message>", counted the same way;
 *   - *spam-filtered*: each object has a token bucket (`spamBurst` 25, one more every
 *     `spamRefillMs`, 5 minutes); a write for an object whose bucket is empty is skipped
 *     (counted in `filtered`) — its occurrence is still counted, and the record's next write
 *     carries the count. An occurrence folded into a record whose write is still queued
 *     costs no write and no token.
 * - **asynchronous**: {@link EventRecorder.record} queues and returns at once; its promise
 *   (which callers need not await) resolves once those events are written, or given up.
 *   Never rejects.
 * - **batched across reconciles**: queued records go out in transactions of up to 50 (one
 *   write each where the store has none) — new records created, known ones updated by
 *   compare-and-set on the revision written (one pruned or changed meanwhile is created
 *   again, its count kept) — whichever reconciles recorded them, at most `inFlight`
 *   transactions at a time, oldest first.
 * - **bounded**: more than `maxQueued` records waiting → the newest are dropped (counted in
 *   `dropped`, logged) rather than growing without end, as Kubernetes' broadcaster drops under
 *   pressure. A failed write is logged, not retried.
 * - **pruned in memory**: the recorder keeps, oldest first, the name and revision of every
 *   event it knows is stored — those it wrote, and those a list found: after its first write
 *   (what was stored before it started), and again after a write once the last list is older
 *   than `relistMs` (other writers' events, such as the host agents'). Once it knows of more
 *   than `maxEvents`, the least recently seen are deleted (compare-and-set on their revision,
 *   in transactions of 50), with no list of every event per prune. Events other writers
 *   stored since the last list are counted at the next one.
 */
import type { LoggerLike, Logger } from '@flotilla/reconcile';
import { toLogger, type Clock } from '@flotilla/reconcile';
import type { ClusterEvent, Kind } from '../manifest/types.js';
import { API_VERSION } from '../manifest/types.js';
import type { ClusterStore } from '../store/resources.js';
import { nameSuffix } from './template.js';

/** An event to record. */
export interface EventRecord {
  kind: Kind;
  name: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Options of {@link EventRecorder}. */
export interface EventRecorderOptions {
  store: ClusterStore;
  clock: Clock;
  /** Randomness of the names' suffix. */
  random: () => number;
  /** Events kept in the store (oldest deleted first). @default 500 */
  maxEvents?: number;
  /** Events waiting to be written at most; beyond, new ones are dropped. @default 10000 */
  maxQueued?: number;
  /** Transactions (of up to 50 events) in flight at once. @default 2 */
  inFlight?: number;
  /** How often, at most, the events are listed again to learn of other writers' (only while pruning is needed). @default 60000 */
  relistMs?: number;
  /** Similar events of one object (same type and reason, different messages) within `aggregateWindowMs` from which on they are combined into one record. @default 10 */
  aggregateThreshold?: number;
  /** The window of `aggregateThreshold`: an object's similar events are counted afresh after this long without one. @default 600000 (10 minutes) */
  aggregateWindowMs?: number;
  /** Writes an object may have at once before its token bucket limits them. @default 25 */
  spamBurst?: number;
  /** One more write for an object every this long. @default 300000 (5 minutes) */
  spamRefillMs?: number;
  /** Entries kept in each of the correlator's caches (the least recently used forgotten). @default 4096 */
  cacheSize?: number;
  /** @default silent */
  logger?: LoggerLike;
}

/** A stored event as the pruning knows it: enough to order it and delete it by compare-and-set. */
interface Known {
  name: string;
  time: string;
  revision: number;
}

/** The events of one `record` call still to be written, and its promise's resolver. */
interface Call {
  pending: number;
  resolve: () => void;
}

/** One stored event record and its occurrences (client-go's `eventLogger` entry). */
interface Series {
  /** The record as it is to be written next (its name fixed once created; count and times move on). */
  event: ClusterEvent;
  /** The revision it was written at, once written. */
  revision?: number;
  /** Its write waiting in the queue: occurrences fold into it. */
  queued?: Entry;
  /** A write of it is in flight: a later write waits for its revision. */
  writing: boolean;
}

/** A write waiting in the queue: a record to create or update, and the calls waiting for it. */
interface Entry {
  series: Series;
  calls: Call[];
}

const BATCH = 50;
const COMBINED = '(combined from similar events): ';

/** Options of {@link EventCorrelator} (see {@link EventRecorderOptions}). */
export interface EventCorrelatorOptions {
  aggregateThreshold?: number;
  aggregateWindowMs?: number;
  spamBurst?: number;
  spamRefillMs?: number;
  cacheSize?: number;
}

/** A map that forgets its least recently used entries beyond `size`. */
class Lru<V> {
  readonly #map = new Map<string, V>();
  constructor(readonly size: number) {}
  get(key: string): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }
  set(key: string, v: V): void {
    this.#map.delete(key);
    this.#map.set(key, v);
    if (this.#map.size > this.size) this.#map.delete(this.#map.keys().next().value!);
  }
  delete(key: string): void {
    this.#map.delete(key);
  }
}

const NUL = '\u0000';
/** The object an event is about (the recorder is its only source). */
const objectKey = (e: EventRecord): string => `${e.kind}${NUL}${e.name}`;

/**
 * What Kubernetes' `EventCorrelator` decides, without the writing (client-go's
 * `tools/record/events_cache.go`), on the recorder's clock:
 * - {@link EventCorrelator.aggregate}: the key of the record an event belongs to — its own
 *   (object, type, reason, message), or, once the object has had `aggregateThreshold`
 *   different messages of that type and reason within `aggregateWindowMs` of each other,
 *   the combined record's (object, type, reason), its message prefixed
 *   "(combined from similar events): ";
 * - {@link EventCorrelator.allow}: the per-object token bucket of the spam filter.
 */
export class EventCorrelator {
  readonly #threshold: number;
  readonly #windowMs: number;
  readonly #burst: number;
  readonly #refillMs: number;
  /** Per (object, type, reason): the different messages seen (fewer than the threshold) and when the last came. */
  readonly #similar: Lru<{ messages: Set<string>; last: number }>;
  /** Per object: the tokens left and when they were counted. */
  readonly #buckets: Lru<{ tokens: number; at: number }>;

  constructor(options: EventCorrelatorOptions = {}) {
    this.#threshold = Math.max(1, options.aggregateThreshold ?? 10);
    this.#windowMs = options.aggregateWindowMs ?? 600_000;
    this.#burst = Math.max(1, options.spamBurst ?? 25);
    this.#refillMs = options.spamRefillMs ?? 300_000;
    const size = options.cacheSize ?? 4096;
    this.#similar = new Lru(size);
    this.#buckets = new Lru(size);
  }

  /** The record `e` belongs to (`key`) and the message that record is to show now. */
  aggregate(e: EventRecord, now: number): { key: string; message: string; combined: boolean } {
    const similarKey = [e.kind, e.name, e.type, e.reason].join(NUL);
    let entry = this.#similar.get(similarKey);
    if (entry === undefined || entry.last < now - this.#windowMs) entry = { messages: new Set(), last: now };
    entry.last = now;
    entry.messages.add(e.message);
    this.#similar.set(similarKey, entry);
    if (entry.messages.size < this.#threshold) return { key: `${similarKey}${NUL}${e.message}`, message: e.message, combined: false };
    // do not grow the set beyond the threshold (client-go drops one at random; the oldest here)
    entry.messages.delete(entry.messages.values().next().value!);
    return { key: `${similarKey}${NUL}${NUL}combined`, message: `${COMBINED}${e.message}`, combined: true };
  }

  /** Takes a token of the object's bucket: false when it is empty (the write is skipped). */
  allow(e: EventRecord, now: number): boolean {
    const key = objectKey(e);
    const b = this.#buckets.get(key) ?? { tokens: this.#burst, at: now };
    b.tokens = Math.min(this.#burst, b.tokens + Math.max(0, now - b.at) / this.#refillMs);
    b.at = now;
    this.#buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

/** Oldest first: by time, then (several in one millisecond) by the revision that wrote them. */
const older = (a: Known, b: Known): number => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.revision - b.revision);

export class EventRecorder {
  readonly #store: ClusterStore;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #maxEvents: number;
  readonly #maxQueued: number;
  readonly #inFlight: number;
  readonly #relistMs: number;
  readonly #logger: Logger | undefined;
  #counter = 0;
  readonly #correlator: EventCorrelator;
  /** The records by correlation key (client-go's event logger cache). */
  readonly #series: Lru<Series>;
  /** Writes waiting, oldest first. */
  #queue: Entry[] = [];
  #dropping = false;
  #writing = 0;
  /** Stored events known, oldest first (from `#head`: a queue without shifting); an entry superseded by a later write of its record is stale. */
  #known: Known[] = [];
  #head = 0;
  /** Each known event's latest entry in `#known` (an entry that is not is stale); its size is how many are known. */
  #current = new Map<string, Known>();
  /** Written since the last list began (kept through a re-list that may not include them). */
  #writtenSinceList: Known[] = [];
  #listedAt: number | undefined;
  #listing = false;
  #pruning: Promise<void> | undefined;
  #idle: (() => void)[] = [];
  /** Events dropped because the queue was full. */
  dropped = 0;
  /** Writes skipped by the spam filter (their occurrences counted in the record's next write). */
  filtered = 0;
  /** Occurrences folded into a record (deduplicated or combined) instead of a record of their own. */
  folded = 0;
  /** Lists of every event made (the first prune, and re-lists). */
  lists = 0;

  constructor(options: EventRecorderOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#random = options.random;
    this.#maxEvents = options.maxEvents ?? 500;
    this.#maxQueued = options.maxQueued ?? 10_000;
    this.#inFlight = options.inFlight ?? 2;
    this.#relistMs = options.relistMs ?? 60_000;
    this.#logger = options.logger !== undefined ? toLogger(options.logger) : undefined;
    this.#correlator = new EventCorrelator(options);
    this.#series = new Lru(options.cacheSize ?? 4096);
  }

  /** Queues events to be written; resolves once they are written (or given up). Never rejects. */
  record(records: readonly EventRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    const t = this.#clock.now();
    const time = new Date(t).toISOString();
    const call: Call = { pending: 0, resolve: () => undefined };
    const done = new Promise<void>((resolve) => (call.resolve = resolve));
    for (const r of records) {
      const { key, message } = this.#correlator.aggregate(r, t);
      let series = this.#series.get(key);
      if (series) {
        // one more occurrence of a known record
        const e = series.event;
        series.event = { ...e, message, count: (e.count ?? 1) + 1, lastTimestamp: time, time };
        this.folded++;
        if (series.queued) {
          series.queued.calls.push(call);
          call.pending++;
          continue;
        }
      } else {
        series = {
          event: {
            apiVersion: API_VERSION,
            kind: 'Event',
            metadata: { name: this.#newName(r.name, t) },
            involved: { kind: r.kind, name: r.name },
            type: r.type,
            reason: r.reason,
            message,
            time,
            count: 1,
            firstTimestamp: time,
            lastTimestamp: time,
          },
          writing: false,
        };
        this.#series.set(key, series);
      }
      // a write: the object's bucket has a token for it, and the queue room
      if (!this.#correlator.allow(r, t)) {
        this.filtered++;
        continue;
      }
      if (this.#queue.length >= this.#maxQueued) {
        if (!this.#dropping) this.#logger?.warn('event queue full: dropping events until it drains', { queued: this.#queue.length, droppedBefore: this.dropped });
        this.#dropping = true;
        this.dropped++;
        continue;
      }
      const entry: Entry = { series, calls: [call] };
      call.pending++;
      series.queued = entry;
      this.#queue.push(entry);
    }
    if (call.pending === 0) call.resolve();
    else this.#pump();
    return done;
  }

  #newName(object: string, t: number): string {
    return `${object}.${Math.floor(t).toString(36)}${(this.#counter++).toString(36)}${nameSuffix(this.#random)}`;
  }

  /** Resolves once every event queued so far is written (or given up) and no prune runs. */
  async flush(): Promise<void> {
    while (this.#queue.length > 0 || this.#writing > 0 || this.#pruning) {
      if (this.#pruning && this.#queue.length === 0 && this.#writing === 0) await this.#pruning;
      else await new Promise<void>((resolve) => this.#idle.push(resolve));
    }
  }

  /** How many stored events the recorder knows of. */
  get known(): number {
    return this.#current.size;
  }

  #pump(): void {
    while (this.#writing < this.#inFlight && this.#queue.length > 0) {
      // oldest first; a record whose earlier write is still in flight waits for its revision
      const batch: Entry[] = [];
      const waiting: Entry[] = [];
      let k = 0;
      for (; k < this.#queue.length && batch.length < BATCH; k++) {
        const entry = this.#queue[k]!;
        (entry.series.writing ? waiting : batch).push(entry);
      }
      if (batch.length === 0) return;
      this.#queue = waiting.length > 0 ? [...waiting, ...this.#queue.slice(k)] : this.#queue.slice(k);
      for (const entry of batch) {
        entry.series.queued = undefined;
        entry.series.writing = true;
      }
      this.#writing++;
      if (this.#queue.length < this.#maxQueued / 2) this.#dropping = false;
      void this.#write(batch).finally(() => {
        this.#writing--;
        for (const entry of batch) {
          entry.series.writing = false;
          for (const call of entry.calls) if (--call.pending === 0) call.resolve();
        }
        this.#pump();
        this.#prune();
        this.#wake();
      });
    }
  }

  #wake(): void {
    if (this.#queue.length > 0 || this.#writing > 0 || this.#pruning) return;
    for (const w of this.#idle.splice(0)) w();
  }

  /** Creates the new records of `batch` and updates the known ones (one created again when its update fails: pruned, or changed by another). */
  async #write(batch: readonly Entry[]): Promise<void> {
    const creates: Series[] = [];
    const updates: Series[] = [];
    // what is written is the record as it is now; later occurrences make another write
    const snapshot = new Map<Series, ClusterEvent>();
    for (const { series } of batch) {
      snapshot.set(series, series.event);
      (series.revision === undefined ? creates : updates).push(series);
    }
    const stored = (series: Series, r: ClusterEvent): void => {
      series.revision = r.metadata.resourceVersion;
      this.#noteStored({ name: r.metadata.name, time: r.time, revision: r.metadata.resourceVersion ?? 0 });
    };
    const failed = (series: Series, error: unknown): void => {
      this.#logger?.warn('could not record event', { reason: series.event.reason, error });
    };
    try {
      if (updates.length > 0) {
        const events = updates.map((u) => ({ ...snapshot.get(u)!, metadata: { ...snapshot.get(u)!.metadata, resourceVersion: u.revision! } }));
        const results = this.#store.kv.txn ? await this.#store.events.updateMany(events) : await Promise.all(events.map((e) => this.#store.events.update(e).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))))));
        results.forEach((r, k) => {
          const series = updates[k]!;
          if (!(r instanceof Error)) return stored(series, r);
          // gone (pruned) or changed by another writer: the record is created again, its count kept
          const event = snapshot.get(series)!;
          const name = this.#newName(event.involved.name, this.#clock.now());
          const again = { ...event, metadata: { name } };
          series.event = { ...series.event, metadata: { name } };
          series.revision = undefined;
          snapshot.set(series, again);
          creates.push(series);
        });
      }
      if (creates.length > 0) {
        const events = creates.map((c) => snapshot.get(c)!);
        const results = events.length === 1 ? [await this.#store.events.create(events[0]!).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))))] : await this.#store.events.createMany(events);
        results.forEach((r, k) => (r instanceof Error ? failed(creates[k]!, r) : stored(creates[k]!, r)));
      }
    } catch (e) {
      this.#logger?.warn('could not record event', { reason: batch[0]?.series.event.reason, error: e });
    }
  }

  /** Notes a write of an event (new, or a new revision of one known: the older entry goes stale). */
  #noteStored(known: Known): void {
    if (this.#listing) this.#writtenSinceList.push(known);
    const current = this.#current.get(known.name);
    // a list may have found this very write already (done in the store, its answer not yet here)
    if (current !== undefined && current.revision >= known.revision) return;
    this.#current.set(known.name, known);
    this.#known.push(known);
  }

  /** Starts a prune when more events are known than kept (one at a time). */
  #prune(): void {
    if (this.#pruning) return;
    // listed at the first prune (what an earlier controller left), then at most every relistMs
    const relist = this.#listedAt === undefined || this.#clock.now() - this.#listedAt >= this.#relistMs;
    if (!relist && this.known <= this.#maxEvents) return;
    this.#pruning = (relist ? this.#relist() : Promise.resolve())
      .then(() => this.#deleteOldest())
      .catch((e: unknown) => this.#logger?.warn('could not prune events', { error: e }))
      .finally(() => {
        this.#pruning = undefined;
        this.#wake();
      });
  }

  /** Lists every event once: what the store holds (other writers' included) replaces what is known. */
  async #relist(): Promise<void> {
    this.lists++;
    this.#listedAt = this.#clock.now();
    this.#writtenSinceList = [];
    this.#listing = true;
    let events: ClusterEvent[];
    try {
      events = await this.#store.events.items();
    } finally {
      this.#listing = false;
    }
    const known = events.map((e): Known => ({ name: e.metadata.name, time: e.time, revision: e.metadata.resourceVersion ?? 0 }));
    // written while the list was under way: kept (the list may or may not hold them)
    const byName = new Map(known.map((k) => [k.name, k]));
    for (const k of this.#writtenSinceList) {
      const listedAs = byName.get(k.name);
      if (listedAs === undefined || listedAs.revision < k.revision) byName.set(k.name, k);
    }
    this.#writtenSinceList = [];
    this.#known = [...byName.values()].sort(older);
    this.#head = 0;
    this.#current = byName;
  }

  /** Deletes the oldest known beyond `maxEvents` (compare-and-set, transactions of 50). */
  async #deleteOldest(): Promise<void> {
    let excess = this.known - this.#maxEvents;
    if (excess <= 0) return;
    const oldest: Known[] = [];
    while (excess > 0 && this.#head < this.#known.length) {
      const k = this.#known[this.#head++]!;
      if (this.#current.get(k.name) !== k) continue; // stale: written again since
      this.#current.delete(k.name);
      oldest.push(k);
      excess--;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#known.length) {
      this.#known = this.#known.slice(this.#head);
      this.#head = 0;
    }
    // gone already or changed (another pruner): not ours to keep count of either way
    await this.#store.events.deleteMany(oldest.map((k) => ({ metadata: { name: k.name, resourceVersion: k.revision } }) as ClusterEvent));
  }
}

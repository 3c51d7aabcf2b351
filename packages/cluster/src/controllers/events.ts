/**
 * The controllers' event recorder (client-go's event broadcaster, in spirit): a reconcile
 * hands its events over and goes on; the recorder writes them to the store in the background
 * and keeps the number stored at `maxEvents` without listing them. Guarantees:
 *
 * - **asynchronous**: {@link EventRecorder.record} queues and returns at once; its promise
 *   (which callers need not await) resolves once those events are written, or given up.
 *   Never rejects.
 * - **batched across reconciles**: queued events go out in transactions of up to 50 (one
 *   write each where the store has none), whichever reconciles recorded them, at most
 *   `inFlight` transactions at a time, oldest first.
 * - **bounded**: more than `maxQueued` waiting → the newest are dropped (counted in
 *   `dropped`, logged) rather than growing without end, as Kubernetes' broadcaster drops under
 *   pressure. A failed write is logged, not retried.
 * - **pruned in memory**: the recorder keeps, oldest first, the name and revision of every
 *   event it knows is stored — those it wrote, and those a list found: after its first write
 *   (what was stored before it started), and again after a write once the last list is older
 *   than `relistMs` (other writers' events, such as the host agents'). Once it knows of more
 *   than `maxEvents`, the oldest are deleted (compare-and-set on their revision, in
 *   transactions of 50), with no list of every event per prune. Events other writers stored
 *   since the last list are counted at the next one.
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

const BATCH = 50;

/** Oldest first: by time, then (several in one millisecond) by the revision that created them. */
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
  /** Waiting to be written, each with the `record` call it came with. */
  #queue: { event: ClusterEvent; call: Call }[] = [];
  #dropping = false;
  #writing = 0;
  /** Stored events known, oldest first (from `#head`: a queue without shifting). */
  #known: Known[] = [];
  #head = 0;
  /** The names in `#known` from `#head`. */
  #names = new Set<string>();
  /** Written since the last list began (kept through a re-list that may not include them). */
  #writtenSinceList: Known[] = [];
  #listedAt: number | undefined;
  #listing = false;
  #pruning: Promise<void> | undefined;
  #idle: (() => void)[] = [];
  /** Events dropped because the queue was full. */
  dropped = 0;
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
  }

  /** Queues events to be written; resolves once they are written (or given up). Never rejects. */
  record(records: readonly EventRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    const t = this.#clock.now();
    const time = new Date(t).toISOString();
    const room = Math.max(0, this.#maxQueued - this.#queue.length);
    if (room < records.length) {
      if (!this.#dropping) this.#logger?.warn('event queue full: dropping events until it drains', { queued: this.#queue.length, droppedBefore: this.dropped });
      this.#dropping = true;
      this.dropped += records.length - room;
    }
    const kept = records.slice(0, room);
    if (kept.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const call: Call = { pending: kept.length, resolve };
      for (const { kind, name, type, reason, message } of kept) {
        const event: ClusterEvent = {
          apiVersion: API_VERSION,
          kind: 'Event',
          metadata: { name: `${name}.${Math.floor(t).toString(36)}${(this.#counter++).toString(36)}${nameSuffix(this.#random)}` },
          involved: { kind, name },
          type,
          reason,
          message,
          time,
        };
        this.#queue.push({ event, call });
      }
      this.#pump();
    });
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
    return this.#known.length - this.#head;
  }

  #pump(): void {
    while (this.#writing < this.#inFlight && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, BATCH);
      this.#writing++;
      if (this.#queue.length < this.#maxQueued / 2) this.#dropping = false;
      void this.#write(batch).finally(() => {
        this.#writing--;
        for (const { call } of batch) if (--call.pending === 0) call.resolve();
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

  async #write(batch: readonly { event: ClusterEvent; call: Call }[]): Promise<void> {
    const events = batch.map((b) => b.event);
    try {
      const results = events.length === 1 ? [await this.#store.events.create(events[0]!)] : await this.#store.events.createMany(events);
      results.forEach((r, k) => {
        if (r instanceof Error) {
          this.#logger?.warn('could not record event', { reason: events[k]!.reason, error: r });
          return;
        }
        const known = { name: r.metadata.name, time: r.time, revision: r.metadata.resourceVersion ?? 0 };
        if (this.#listing) this.#writtenSinceList.push(known);
        // a list may have found it already (the write was done in the store, its answer not yet here)
        if (this.#names.has(known.name)) return;
        this.#names.add(known.name);
        this.#known.push(known);
      });
    } catch (e) {
      this.#logger?.warn('could not record event', { reason: events[0]?.reason, error: e });
    }
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
    const listed = new Set(events.map((e) => e.metadata.name));
    const known = events.map((e): Known => ({ name: e.metadata.name, time: e.time, revision: e.metadata.resourceVersion ?? 0 }));
    // written while the list was under way: kept (the list may or may not hold them)
    for (const k of this.#writtenSinceList) if (!listed.has(k.name)) known.push(k);
    this.#writtenSinceList = [];
    known.sort(older);
    this.#known = known;
    this.#head = 0;
    this.#names = new Set(known.map((k) => k.name));
  }

  /** Deletes the oldest known beyond `maxEvents` (compare-and-set, transactions of 50). */
  async #deleteOldest(): Promise<void> {
    const excess = this.known - this.#maxEvents;
    if (excess <= 0) return;
    const oldest = this.#known.slice(this.#head, this.#head + excess);
    this.#head += excess;
    for (const k of oldest) this.#names.delete(k.name);
    if (this.#head > 1024 && this.#head * 2 > this.#known.length) {
      this.#known = this.#known.slice(this.#head);
      this.#head = 0;
    }
    // gone already or changed (another pruner): not ours to keep count of either way
    await this.#store.events.deleteMany(oldest.map((k) => ({ metadata: { name: k.name, resourceVersion: k.revision } }) as ClusterEvent));
  }
}

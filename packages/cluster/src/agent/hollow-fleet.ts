/**
 * Hollow hosts (kubemark's hollow nodes; `flo agent --hollow N`): N simulated agent hosts in
 * one process, for scale tests and benchmarks of the control plane. Each one is what the
 * store sees of a real agent — a Host with `spec.agent: true`, its own lease
 * (`/flotilla/v1/hostleases/<host>` on its own store TTL lease) and its own watch of its own
 * instances (the per-host index) — and nothing runs on the machine: an instance bound to a
 * hollow host is reported Running (ready, a made-up pid) as soon as the watch shows it, and a
 * deleted one's record is removed at once.
 *
 * Guarantees:
 * - **One lease per host, renewed together.** Every `renewIntervalMs` all leases are kept
 *   alive in one call where the store allows it ({@link keepAliveLeases}: one request and one
 *   log entry on the Raft KV, one stream on etcd); a lease the store let expire is claimed
 *   again (the store judged the host NotReady meanwhile, as for a real agent).
 * - **Status writes batched.** Instances seen Pending (or deleted) within a few milliseconds of
 *   each other are written in transactions of up to 50 ({@link ResourceStore.updateMany}),
 *   `writeConcurrency` transactions at once; a write that lost a race is retried from the
 *   watch's newer copy. Without `txn` in the store, one write each.
 * - **Start-up in a few round trips.** One list of the Hosts and one range of the leases for
 *   all hosts, new Hosts created (with `status.agent`) in transactions of 50, one grant and one
 *   compare-and-set per lease, and the watch opened without a read of its own (a deleted
 *   instance's name is all it needs): 5,000 hosts starting at once are not 5,000 × 9 round trips.
 * - **One watch for all its hosts.** Each host's instances are listed from its own index
 *   prefix, then one watch covers every host's prefix ({@link ClusterStore.watchInstancesOn}):
 *   fan-out is still the store's per-host index (a change reaches only the process of its
 *   host), but on one stream per process — the store writes a transaction's changes for this
 *   process once, not once per host, and holds one connection, not one per host.
 * - Hollow hosts record no per-instance events (the store load they stand for is the lease,
 *   the watch and the status write).
 */
import { setMaxListeners } from 'node:events';
import { sleep, systemClock, toLogger, type Clock, type Logger, type LoggerLike } from '@flotilla/reconcile';
import { ClusterError, isConflictError } from '../errors.js';
import type { Host, HostAgentStatus, Instance, QuantityInput } from '../manifest/types.js';
import { API_VERSION } from '../manifest/types.js';
import type { ClusterStore } from '../store/resources.js';
import { keepAliveLeases, type KvLeases, type KvStore } from '../store/types.js';
import { claimHostLease, leaseStore, readHostLeases, type HeldLease } from './lease.js';

/** Options of {@link HollowFleet}. */
export interface HollowFleetOptions {
  /** The cluster store; its KV must have TTL leases (Flotilla KV, etcd, memory). */
  store: ClusterStore;
  /** How the store is named in messages. @default 'the store' */
  storeName?: string;
  /** How many hollow hosts. */
  count: number;
  /** Host names are `<prefix><index>`. @default 'hollow-' */
  prefix?: string;
  /** The first index (several processes can share out one range of names). @default 0 */
  first?: number;
  /** Each Host's `spec.capacity`. @default {cpu: 32, memory: '128Gi'} */
  capacity?: Record<string, QuantityInput>;
  /** Identity of the process; each host's agent identity is `<identity>/<host>` (a restarted process with the same identity takes its leases over). */
  identity: string;
  /** What the agents say about themselves in `status.agent` (identity and mode are added). */
  about: Omit<HostAgentStatus, 'identity' | 'mode'>;
  /** TTL of each lease (hostGracePeriodSeconds). @default 40 */
  leaseDurationSeconds?: number;
  /** How often the leases are renewed. @default 10000 */
  renewIntervalMs?: number;
  /** Status transactions in flight at once. @default 8 */
  writeConcurrency?: number;
  /** Store calls in flight at once while registering hosts, claiming leases and starting watches. @default 32 */
  setupConcurrency?: number;
  /** Backoff of store retries: first delay and cap. @default {initialMs: 500, maxMs: 30000} */
  backoff?: { initialMs: number; maxMs: number };
  /** Timers and the timestamps written. @default systemClock */
  clock?: Clock;
  /** @default silent */
  logger?: LoggerLike;
}

/** What a hollow fleet has done so far. */
export interface HollowFleetState {
  hosts: number;
  /** Hosts whose lease is held. */
  leasesHeld: number;
  /** Hosts whose watch is open. */
  watching: number;
  /** Instances reported Running, and records removed. */
  reportedRunning: number;
  removed: number;
  /** Store transactions (or single writes) of status, and lease renewal calls. */
  statusWrites: number;
  renewals: number;
  /** Times a lease had expired in the store and was claimed again. */
  reclaims: number;
  storeReachable: boolean;
  /** Clock time of the last successful renewal of every lease. */
  lastRenewal?: number;
}

function positiveInt(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) throw new TypeError(`${name}: expected a positive integer, received ${String(value)}`);
  return value;
}

/** Runs `fn` over `items`, `concurrency` at a time. */
async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
}

const rv = (i: Instance): number => Number(i.metadata.resourceVersion ?? 0);

export class HollowFleet {
  /** The hosts' names, in order. */
  readonly hosts: readonly string[];
  readonly #store: ClusterStore;
  readonly #kv: KvStore & KvLeases;
  readonly #storeName: string;
  readonly #capacity: Record<string, QuantityInput>;
  readonly #identity: string;
  readonly #about: Omit<HostAgentStatus, 'identity' | 'mode'>;
  readonly #leaseSeconds: number;
  readonly #renewMs: number;
  readonly #writeConcurrency: number;
  readonly #setupConcurrency: number;
  readonly #backoff: { initialMs: number; maxMs: number };
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;
  readonly #leases = new Map<string, HeldLease>();
  /** Instances to report Running or to remove, by name (the newest copy seen). */
  readonly #queue = new Map<string, Instance>();
  #wake: (() => void) | undefined;
  #started = false;
  /** Hosts whose lease expired and could not be claimed again yet (retried at each renewal). */
  readonly #unclaimed = new Set<string>();
  readonly #watching = new Set<string>();
  readonly #state = { reportedRunning: 0, removed: 0, statusWrites: 0, renewals: 0, reclaims: 0, storeReachable: true, lastRenewal: undefined as number | undefined };

  constructor(options: HollowFleetOptions) {
    const count = positiveInt('count', options.count);
    const first = options.first ?? 0;
    if (!Number.isInteger(first) || first < 0) throw new TypeError(`first: expected a whole number, received ${String(first)}`);
    const prefix = options.prefix ?? 'hollow-';
    if (!/^[a-z0-9]([-a-z0-9.]*)?$/.test(prefix)) throw new TypeError(`prefix: expected lowercase letters, digits, '-' and '.', starting with a letter or digit, received ${JSON.stringify(prefix)}`);
    this.hosts = Array.from({ length: count }, (_, i) => `${prefix}${first + i}`);
    this.#store = options.store;
    this.#storeName = options.storeName ?? 'the store';
    this.#kv = leaseStore(options.store.kv, this.#storeName);
    this.#capacity = options.capacity ?? { cpu: 32, memory: '128Gi' };
    this.#identity = options.identity;
    this.#about = options.about;
    this.#leaseSeconds = positiveInt('leaseDurationSeconds', options.leaseDurationSeconds ?? 40);
    this.#renewMs = options.renewIntervalMs ?? 10_000;
    if (!(this.#renewMs > 0 && this.#renewMs < this.#leaseSeconds * 1000)) throw new TypeError(`renewIntervalMs (${this.#renewMs}) must be more than 0 and shorter than the lease (${this.#leaseSeconds} s)`);
    this.#writeConcurrency = positiveInt('writeConcurrency', options.writeConcurrency ?? 8);
    this.#setupConcurrency = positiveInt('setupConcurrency', options.setupConcurrency ?? 32);
    this.#backoff = options.backoff ?? { initialMs: 500, maxMs: 30_000 };
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger !== undefined ? toLogger(options.logger) : undefined;
  }

  /** What the fleet has done so far. */
  state(): HollowFleetState {
    const { lastRenewal, ...rest } = this.#state;
    return { hosts: this.hosts.length, leasesHeld: this.#leases.size, watching: this.#watching.size, ...rest, ...(lastRenewal !== undefined ? { lastRenewal } : {}) };
  }

  #hostIdentity(host: string): string {
    return `${this.#identity}/${host}`;
  }

  /**
   * Registers every host (creates its Host with `spec.agent: true`, the capacity and
   * `status.agent`, or sets them on one that exists), then claims every lease. Throws the
   * first `host-claimed` (another process holds a lease) or store error.
   *
   * In as few round trips as the store allows: one list of the Hosts and one range of the
   * leases for all hosts (not a read of each), the new Hosts created in transactions of 50
   * and the changed ones' `status.agent` written the same way; a Host whose `spec.agent` must
   * be set (its generation moves) or that changed meanwhile is registered alone. Each lease is
   * its own store lease (a grant each) and its key a compare-and-set against what the range
   * showed.
   */
  async start(): Promise<void> {
    await this.#store.ensureIndexes();
    const listed = await this.#store.hosts.list();
    const held = await readHostLeases(this.#kv);
    await this.#registerAll(new Map(listed.items.map((e) => [e.object.metadata.name, e.object])));
    await pool(this.hosts, this.#setupConcurrency, async (name) => {
      this.#leases.set(name, await this.#claim(name, held.get(name) ?? null));
    });
    this.#state.lastRenewal = this.#clock.now();
    this.#started = true;
    this.#logger?.info(`${this.hosts.length} hollow hosts (${this.hosts[0]} … ${this.hosts.at(-1)}) registered, each holding its lease (TTL ${this.#leaseSeconds} s, renewed every ${this.#renewMs / 1000} s)`);
  }

  #aboutOf(name: string): HostAgentStatus {
    return { ...this.#about, identity: this.#hostIdentity(name), mode: 'hollow' };
  }

  /** Registers every host from the Hosts listed (see {@link start}). */
  async #registerAll(existing: ReadonlyMap<string, Host>): Promise<void> {
    const fresh: Host[] = [];
    const changed: Host[] = [];
    const alone: string[] = [];
    for (const name of this.hosts) {
      const about = this.#aboutOf(name);
      const cur = existing.get(name);
      if (!cur) {
        fresh.push({ apiVersion: API_VERSION, kind: 'Host', metadata: { name, labels: { 'flotilla.dev/hollow': 'true' } }, spec: { address: '127.0.0.1', capacity: this.#capacity, agent: true }, status: { ready: false, agent: about } });
      } else if (cur.spec.agent !== true) {
        alone.push(name);
      } else if (JSON.stringify(cur.status?.agent) !== JSON.stringify(about)) {
        changed.push({ ...cur, status: { ...(cur.status ?? { ready: false }), agent: about } });
      }
    }
    const settle = (objects: readonly Host[], results: readonly (Host | Error)[]): void => {
      results.forEach((r, i) => {
        if (!(r instanceof Error)) return;
        if (!isConflictError(r) && !(r instanceof ClusterError && r.code === 'not-found')) throw r;
        alone.push(objects[i]!.metadata.name); // created or changed by someone else meanwhile
      });
    };
    if (fresh.length > 0) settle(fresh, await this.#store.hosts.createMany(fresh));
    if (changed.length > 0) settle(changed, await this.#store.hosts.updateMany(changed));
    await pool(alone, this.#setupConcurrency, (name) => this.#register(name));
  }

  async #register(name: string): Promise<void> {
    const about = this.#aboutOf(name);
    const existing = await this.#store.hosts.get(name);
    if (!existing) {
      const host: Host = { apiVersion: API_VERSION, kind: 'Host', metadata: { name, labels: { 'flotilla.dev/hollow': 'true' } }, spec: { address: '127.0.0.1', capacity: this.#capacity, agent: true } };
      try {
        await this.#store.hosts.create(host);
      } catch (e) {
        if (!isConflictError(e)) throw e;
      }
    }
    await this.#store.hosts.mutate(name, (cur) => {
      const same = cur.spec.agent === true && JSON.stringify(cur.status?.agent) === JSON.stringify(about);
      if (same) return undefined;
      cur.spec.agent = true;
      cur.status = { ...(cur.status ?? { ready: false }), agent: about };
      return cur;
    });
  }

  #claim(name: string, known?: HeldLease | null): Promise<HeldLease> {
    return claimHostLease(
      this.#kv,
      {
        host: name,
        holderIdentity: this.#hostIdentity(name),
        leaseDurationSeconds: this.#leaseSeconds,
        machine: this.#about.machine,
        pid: this.#about.pid,
        acquireTime: new Date(this.#clock.now()).toISOString(),
      },
      known,
    );
  }

  /** {@link start} (unless done), then renews, watches and reports until `signal` aborts. Leases are left to expire. */
  async run(outer: AbortSignal): Promise<void> {
    if (!this.#started) await this.start();
    // the loops and the setup calls in flight listen on this one signal (a few dozen listeners, not a leak)
    const stop = new AbortController();
    setMaxListeners(0, stop.signal);
    const onAbort = (): void => stop.abort();
    outer.addEventListener('abort', onAbort, { once: true });
    if (outer.aborted) stop.abort();
    const signal = stop.signal;
    try {
      await Promise.all([this.#renewLoop(signal), this.#watchLoop(signal), this.#writeLoop(signal)]);
    } finally {
      outer.removeEventListener('abort', onAbort);
    }
  }

  /** Renews every lease once (in one call where the store allows); claims again the ones the store let expire. */
  async renew(): Promise<void> {
    const held = [...this.#leases];
    const ttls = await keepAliveLeases(this.#kv, held.map(([, l]) => l.record.storeLease), this.#setupConcurrency);
    this.#state.renewals++;
    const expired = held.filter((_, i) => ttls[i] === undefined).map(([name]) => name);
    if (expired.length > 0) this.#logger?.warn(`${expired.length} hollow host lease(s) expired in the store (not renewed for ${this.#leaseSeconds} s), e.g. ${expired[0]}: claiming them again`);
    // with those whose claim failed before: a host is never left without a lease for good
    const lost = [...expired, ...this.#unclaimed];
    let failed: Error | undefined;
    await pool(lost, this.#setupConcurrency, async (name) => {
      this.#leases.delete(name);
      try {
        this.#leases.set(name, await this.#claim(name));
        this.#unclaimed.delete(name);
        this.#state.reclaims++;
      } catch (e) {
        this.#unclaimed.add(name);
        failed ??= e instanceof Error ? e : new Error(String(e));
      }
    });
    if (failed !== undefined) throw failed;
    this.#state.lastRenewal = this.#clock.now();
  }

  #storeState(ok: boolean, e?: unknown): void {
    if (ok === this.#state.storeReachable) return;
    this.#state.storeReachable = ok;
    if (ok) this.#logger?.info(`store ${this.#storeName} reachable again`);
    else this.#logger?.warn(`store ${this.#storeName} unreachable (${e instanceof Error ? e.message : String(e)}): retrying with backoff`, { error: e });
  }

  #delay(failures: number): number {
    return Math.min(this.#backoff.maxMs, this.#backoff.initialMs * 2 ** Math.min(failures - 1, 16));
  }

  async #renewLoop(signal: AbortSignal): Promise<void> {
    let delay = this.#renewMs;
    let failures = 0;
    while (await sleep(this.#clock, delay, signal)) {
      try {
        await this.renew();
        this.#storeState(true);
        failures = 0;
        delay = this.#renewMs;
      } catch (e) {
        if (signal.aborted) return;
        this.#storeState(false, e);
        failures++;
        delay = Math.min(this.#renewMs, this.#delay(failures));
      }
    }
  }

  /**
   * Lists each host's instances (a few hosts at a time), then watches them all on one watch
   * from the oldest list's revision on; a change that its host's list already showed is
   * skipped. A compacted watch or a store error: every host is listed again (after a backoff).
   */
  async #watchLoop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        const listedAt = new Map<string, number>();
        await pool(this.hosts, this.#setupConcurrency, async (host) => {
          if (signal.aborted) return;
          const listed = await this.#store.listInstances({ host, signal });
          for (const e of listed.items) this.#see(e.object);
          listedAt.set(host, listed.revision);
        });
        if (signal.aborted) break;
        let from = Infinity;
        for (const r of listedAt.values()) from = Math.min(from, r + 1);
        failures = 0;
        for (const host of this.hosts) this.#watching.add(host);
        // a deleted instance's name is all a hollow host needs: the watch reads nothing first
        for await (const ev of this.#store.watchInstancesOn(this.hosts, from, { signal, deletedNamesOnly: true })) {
          if (ev.type === 'progress') continue;
          if (ev.type === 'expired') break; // relist
          if (ev.type === 'deleted') this.#queue.delete(ev.object.metadata.name);
          else if (ev.revision > (listedAt.get(ev.object.spec.host) ?? 0)) this.#see(ev.object);
        }
      } catch (e) {
        if (signal.aborted) break;
        this.#storeState(false, e);
        failures++;
      }
      this.#watching.clear();
      if (failures > 0) await sleep(this.#clock, this.#delay(failures), signal);
    }
    this.#watching.clear();
  }

  /** An instance of a hollow host as the watch shows it: queue it when there is something to write. */
  #see(inst: Instance): void {
    const deleting = inst.metadata.deletionTimestamp !== undefined;
    const pending = (inst.status?.phase ?? 'Pending') === 'Pending';
    if (!deleting && !pending) {
      this.#queue.delete(inst.metadata.name);
      return;
    }
    const queued = this.#queue.get(inst.metadata.name);
    if (queued && rv(queued) > rv(inst)) return;
    this.#queue.set(inst.metadata.name, inst);
    this.#wake?.();
  }

  async #writeLoop(signal: AbortSignal): Promise<void> {
    let inFlight = 0;
    let failures = 0;
    const lanes = new Set<Promise<void>>();
    while (!signal.aborted) {
      if (this.#queue.size === 0 || inFlight >= this.#writeConcurrency) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            this.#wake = undefined;
            signal.removeEventListener('abort', done);
            resolve();
          };
          this.#wake = done;
          signal.addEventListener('abort', done, { once: true });
        });
        continue;
      }
      // a short pause gathers what the watches deliver together into fuller transactions
      if (this.#queue.size < 50 && inFlight > 0) await sleep(this.#clock, 5, signal);
      const batch: Instance[] = [];
      for (const [name, inst] of this.#queue) {
        batch.push(inst);
        this.#queue.delete(name);
        if (batch.length >= 50) break;
      }
      if (batch.length === 0) continue;
      inFlight++;
      const lane = this.#write(batch).then(
        () => {
          failures = 0;
          this.#storeState(true);
        },
        async (e: unknown) => {
          this.#storeState(false, e);
          // put them back (unless the watch brought newer copies) and wait before the next try
          for (const i of batch) if (!this.#queue.has(i.metadata.name)) this.#queue.set(i.metadata.name, i);
          failures++;
          await sleep(this.#clock, this.#delay(failures), signal);
        },
      );
      const tracked = lane.finally(() => {
        inFlight--;
        lanes.delete(tracked);
        this.#wake?.();
      });
      lanes.add(tracked);
    }
    await Promise.all(lanes);
  }

  /** Reports a batch: Pending → Running (ready), deleted → record removed. */
  async #write(batch: Instance[]): Promise<void> {
    const now = new Date(this.#clock.now()).toISOString();
    const running: Instance[] = [];
    const removing: Instance[] = [];
    for (const inst of batch) {
      if (inst.metadata.deletionTimestamp !== undefined) {
        removing.push(inst);
        continue;
      }
      const ports: Record<string, number> = {};
      let port = 20_000 + (hash(inst.metadata.name) % 40_000);
      for (const p of inst.spec.template.ports ?? []) ports[p.name] = port++;
      running.push({ ...inst, status: { phase: 'Running', ready: true, ports, pid: 100_000 + (hash(inst.metadata.name) % 900_000), restarts: 0, startedAt: now } });
    }
    this.#state.statusWrites += Math.ceil(running.length / 50) + Math.ceil(removing.length / 50);
    const [wrote, removed] = await Promise.all([running.length > 0 ? this.#store.instances.updateMany(running) : [], removing.length > 0 ? this.#store.instances.deleteMany(removing) : []]);
    wrote.forEach((r) => {
      if (!(r instanceof Error)) this.#state.reportedRunning++;
      else if (!isConflictError(r) && !(r instanceof ClusterError && r.code === 'not-found')) throw r;
      // a conflict: the watch brings the newer copy, which is queued again if still Pending
    });
    removed.forEach((r) => {
      if (r === true) this.#state.removed++;
      else if (!isConflictError(r) && !(r instanceof ClusterError && r.code === 'not-found')) throw r;
    });
  }
}

/** A small stable hash of a name (made-up pids and ports). */
function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

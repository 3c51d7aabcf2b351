/**
 * The per-host agent (kubelet's role): claims its host's lease in the store and renews it,
 * reports the host's facts, watches only the instances bound to its host, and runs them
 * through an injected {@link InstanceRuntime} — `DeployRuntime` on the local transport for a
 * real host (the same code the controllers use over ssh), or {@link HollowRuntime} for a
 * simulated one (`flo agent --hollow`).
 *
 * Guarantees:
 * - **One agent per host.** The lease is claimed with compare-and-set; another identity's
 *   live lease refuses the claim (`host-claimed`). The same identity (the agent restarted)
 *   takes it over.
 * - **Readiness is the store's judgement.** The lease key lives on a store TTL lease; the
 *   agent only keeps it alive. Its own clock is used for nothing but timers and the
 *   timestamps it writes for people (a host clock skewed by minutes changes nothing).
 * - **Adoption.** After a restart, instances already running are observed and reported,
 *   never started twice (the runtime's `start` adopts what runs).
 * - **Writes on change.** An instance's status and the Host's status are written only when
 *   they differ from what the store holds; besides them the agent writes only lease keep-alives
 *   (and a Service's `status.rendered[host]` when it wrote that service's `render:` file here).
 * - **Render files locally.** A Service whose `render.hosts` selects this host has its
 *   endpoint file written here by the agent, from `status.endpoints`, when they change.
 * - **The store may go away.** Instances keep running and are still restarted and
 *   health-checked locally; store calls are retried with exponential backoff (capped), the
 *   outage is reported once and its end once ({@link HostAgentOptions.onStoreState}) — also
 *   an outage the store client rode out by retrying ({@link HostAgent.storeRetrying}).
 */
import { sleep, systemClock, toLogger, type Clock, type Logger, type LoggerLike, type WatchEvent } from '@flotilla/reconcile';
import { ClusterError } from '../errors.js';
import { InstanceWorker } from '../controllers/instance-worker.js';
import { nameSuffix } from '../controllers/template.js';
import { parseSelector } from '@flotilla/labels';
import { API_VERSION, type ClusterEvent, type Host, type HostAgentStatus, type Instance, type Kind, type Service } from '../manifest/types.js';
import type { InstanceRuntime, ObservedInstance } from '../runtime/types.js';
import type { ClusterStore } from '../store/resources.js';
import type { KvLeases, KvStore } from '../store/types.js';
import { claimHostLease, leaseStore, type HeldLease } from './lease.js';
import { renderEndpointsFile } from './render.js';

/** Where an agent gets the instances bound to its host (list, then watch from the list's revision). */
export interface InstanceSource {
  list(host: string, signal?: AbortSignal): Promise<{ items: Instance[]; revision: number }>;
  watch(host: string, fromRevision: number, signal?: AbortSignal): AsyncIterable<WatchEvent<Instance>>;
}

/**
 * The default {@link InstanceSource}: the store's per-host instance index
 * (`store.listInstances({host})`, `store.watchInstances(rev, {host})`), so an agent's watch
 * carries only its own host's instances and a write reaches only its host's agent. On a store
 * without the index (no `txn`), the same calls filter the whole kind.
 */
export function hostInstanceSource(store: ClusterStore): InstanceSource {
  return {
    async list(host, signal) {
      const r = await store.listInstances({ host, ...(signal ? { signal } : {}) });
      return { items: r.items.map((e) => e.object), revision: r.revision };
    },
    watch(host, fromRevision, signal) {
      return store.watchInstances(fromRevision, { host, ...(signal ? { signal } : {}) });
    },
  };
}

/** The machine facts an agent reports. */
export interface HostFactsReport {
  load1?: number;
  cores?: number;
  memoryBytes?: number;
}

/** Options of {@link HostAgent}. */
export interface HostAgentOptions {
  /** The cluster store; its KV must have TTL leases (Flotilla KV, etcd, memory). */
  store: ClusterStore;
  /** How the store is named in messages (its URL). @default 'the store' */
  storeName?: string;
  /** The Host object's name. */
  host: string;
  /** Runs the instances. */
  runtime: InstanceRuntime;
  /** This agent's identity, stable across its restarts on the host. */
  identity: string;
  /** What the agent says about itself in `status.agent` (identity is added). */
  about: Omit<HostAgentStatus, 'identity'>;
  /** The Host as the runtime should see it (e.g. with `spec.local` set to the agent's home). @default the Host as stored */
  runtimeHost?: (host: Host) => Host;
  /** Where the instances come from. @default {@link hostInstanceSource} (the store's per-host index) */
  instances?: InstanceSource;
  /** The machine's facts. @default none reported */
  facts?: () => Promise<HostFactsReport>;
  /** Timers and the timestamps the agent writes. @default systemClock */
  clock?: Clock;
  /** TTL of the lease: the host is NotReady this long after the last renewal (hostGracePeriodSeconds). @default 40 */
  leaseDurationSeconds?: number;
  /** How often the lease is renewed. @default 10000 */
  renewIntervalMs?: number;
  /** How often instances are observed and health checks considered. @default 2000 */
  syncIntervalMs?: number;
  /** How often facts are gathered (written only when changed). @default 60000 */
  factsIntervalMs?: number;
  /** Backoff of store retries: first delay and cap. @default {initialMs: 500, maxMs: 30000} */
  backoff?: { initialMs: number; maxMs: number };
  /**
   * Whether the agent follows the Services and writes their `render:` files on this host (a
   * watch of the Service kind per agent, as kube-proxy watches Services on every node). Hollow
   * hosts, which have no files, may turn it off. @default true
   */
  renderFiles?: boolean;
  /** @default silent */
  logger?: LoggerLike;
  /** Called when the store becomes unreachable (with the error) and reachable again (with the outage's length). */
  onStoreState?: (state: { reachable: boolean; error?: unknown; downForMs?: number }) => void;
}

/** What an agent knows about itself (for /readyz and tests). */
export interface HostAgentState {
  leaseHeld: boolean;
  storeReachable: boolean;
  /** Clock time of the last successful renewal. */
  lastRenewal?: number;
  /** Instances of this host the agent knows, by name. */
  instances: number;
  /** Instances it started and stopped so far. */
  started: number;
  stopped: number;
  /** Status writes so far (instances and Host). */
  statusWrites: number;
  renewals: number;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function positive(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new TypeError(`${name}: expected a positive number, received ${String(value)}`);
  return value;
}

const rv = (i: Instance): number => Number(i.metadata.resourceVersion ?? 0);

export class HostAgent {
  readonly host: string;
  readonly identity: string;
  readonly #store: ClusterStore;
  readonly #kv: KvStore & KvLeases;
  readonly #storeName: string;
  readonly #runtime: InstanceRuntime;
  readonly #runtimeHost: (host: Host) => Host;
  readonly #source: InstanceSource;
  readonly #facts: (() => Promise<HostFactsReport>) | undefined;
  readonly #about: HostAgentStatus;
  readonly #clock: Clock;
  readonly #leaseSeconds: number;
  readonly #renewMs: number;
  readonly #syncMs: number;
  readonly #factsMs: number;
  readonly #backoff: { initialMs: number; maxMs: number };
  readonly #logger: Logger | undefined;
  readonly #onStoreState: HostAgentOptions['onStoreState'];
  readonly #renderFiles: boolean;
  readonly #worker: InstanceWorker;
  /** This host's instances as last seen (watch or own writes), by name. */
  readonly #cache = new Map<string, Instance>();
  /** Render files written here, by service: the digest of what was written. */
  readonly #rendered = new Map<string, string>();
  #hostObject: Host | undefined;
  #lease: HeldLease | undefined;
  #reachable = true;
  #downSince = 0;
  #kick: (() => void) | undefined;
  #eventCounter = 0;
  readonly #state: HostAgentState = { leaseHeld: false, storeReachable: true, instances: 0, started: 0, stopped: 0, statusWrites: 0, renewals: 0 };

  constructor(options: HostAgentOptions) {
    this.host = options.host;
    this.identity = options.identity;
    this.#store = options.store;
    this.#storeName = options.storeName ?? 'the store';
    this.#kv = leaseStore(options.store.kv, this.#storeName);
    this.#runtime = options.runtime;
    this.#runtimeHost = options.runtimeHost ?? ((h) => h);
    this.#source = options.instances ?? hostInstanceSource(options.store);
    this.#facts = options.facts;
    this.#about = { ...options.about, identity: options.identity };
    this.#clock = options.clock ?? systemClock;
    this.#leaseSeconds = positive('leaseDurationSeconds', options.leaseDurationSeconds ?? 40);
    if (!Number.isInteger(this.#leaseSeconds)) throw new TypeError(`leaseDurationSeconds: expected whole seconds, received ${this.#leaseSeconds}`);
    this.#renewMs = positive('renewIntervalMs', options.renewIntervalMs ?? 10_000);
    if (this.#renewMs >= this.#leaseSeconds * 1000) throw new TypeError(`renewIntervalMs (${this.#renewMs}) must be shorter than the lease (${this.#leaseSeconds} s)`);
    this.#syncMs = positive('syncIntervalMs', options.syncIntervalMs ?? 2000);
    this.#factsMs = positive('factsIntervalMs', options.factsIntervalMs ?? 60_000);
    this.#backoff = options.backoff ?? { initialMs: 500, maxMs: 30_000 };
    this.#logger = options.logger !== undefined ? toLogger(options.logger) : undefined;
    this.#onStoreState = options.onStoreState;
    this.#renderFiles = options.renderFiles ?? true;
    this.#worker = new InstanceWorker({
      store: options.store,
      runtime: options.runtime,
      clock: this.#clock,
      events: (kind, name, type, reason, message) => this.#event(kind, name, type, reason, message),
      onStored: (inst) => {
        this.#state.statusWrites++;
        this.#remember(inst);
      },
      onDeleted: (name) => this.#cache.delete(name),
      ...(this.#logger ? { logger: this.#logger } : {}),
    });
  }

  /** What the agent knows about itself now. */
  state(): HostAgentState {
    return { ...this.#state, instances: this.#cache.size };
  }

  #now(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  async #event(kind: Kind, name: string, type: ClusterEvent['type'], reason: string, message: string): Promise<void> {
    const t = this.#clock.now();
    try {
      await this.#store.events.create({
        apiVersion: API_VERSION,
        kind: 'Event',
        metadata: { name: `${name}.${Math.floor(t).toString(36)}${(this.#eventCounter++).toString(36)}${nameSuffix(Math.random)}` },
        involved: { kind, name },
        type,
        reason,
        message: `${message} (agent)`,
        time: new Date(t).toISOString(),
      });
    } catch (e) {
      this.#logger?.debug('could not record an event', { reason, error: e });
    }
  }

  #remember(inst: Instance): void {
    if (inst.spec.host !== this.host) {
      this.#cache.delete(inst.metadata.name);
      return;
    }
    const cur = this.#cache.get(inst.metadata.name);
    if (!cur || rv(inst) >= rv(cur)) this.#cache.set(inst.metadata.name, inst);
  }

  /** A store call failed: say so once, and remember since when. */
  #storeFailed(e: unknown): void {
    if (!this.#reachable) return;
    this.#reachable = false;
    this.#state.storeReachable = false;
    this.#downSince = this.#clock.now();
    this.#logger?.warn(`store ${this.#storeName} unreachable (${errorText(e)}): instances keep running; retrying with backoff`, { error: e });
    this.#onStoreState?.({ reachable: false, error: e });
  }

  /**
   * Tells the agent that a store call is being retried (its client could not reach an
   * endpoint: connection refused, no leader, no answer). The outage is reported now — not only
   * when a call gives up after its whole retry window, which a store restarted within that
   * window never makes happen — and its end by the next renewal or list that succeeds.
   * `flo agent` wires the store client's retry hook here.
   */
  storeRetrying(reason: string): void {
    this.#storeFailed(new Error(reason));
  }

  #storeOk(): void {
    if (this.#reachable) return;
    this.#reachable = true;
    this.#state.storeReachable = true;
    const downForMs = this.#clock.now() - this.#downSince;
    this.#logger?.info(`store ${this.#storeName} reachable again after ${Math.round(downForMs / 1000)} s`, { downForMs });
    this.#onStoreState?.({ reachable: true, downForMs });
  }

  /**
   * Checks that the Host exists and claims its lease. Throws a `host-not-found` error (the
   * Host is not in the store), `host-claimed` (another agent holds it) or the store's error.
   */
  async start(): Promise<void> {
    const host = await this.#store.hosts.get(this.host);
    if (!host)
      throw new ClusterError(
        'host-not-found',
        `host ${this.host} does not exist in ${this.#storeName}: add it first (flo apply -f hosts.yaml with a kind: Host named ${this.host}), or join it from your machine with flo host join ${this.host}`,
      );
    this.#hostObject = host;
    await this.#store.ensureIndexes();
    this.#lease = await claimHostLease(this.#kv, {
      host: this.host,
      holderIdentity: this.identity,
      leaseDurationSeconds: this.#leaseSeconds,
      machine: this.#about.machine,
      pid: this.#about.pid,
      acquireTime: this.#now(),
    });
    this.#state.leaseHeld = true;
    this.#state.lastRenewal = this.#clock.now();
    this.#logger?.info(`holding the lease of host ${this.host} (TTL ${this.#leaseSeconds} s, renewed every ${this.#renewMs / 1000} s)`, { lease: this.#lease.record.storeLease });
    await this.#reportFacts(true);
  }

  /** {@link start}, then runs until `signal` aborts. The lease is left to expire (a restart adopts it); `flo host leave` revokes it. */
  async run(signal: AbortSignal): Promise<void> {
    if (!this.#lease) await this.start();
    await Promise.all([this.#leaseLoop(signal), this.#watchLoop(signal), this.#syncLoop(signal), this.#factsLoop(signal), ...(this.#renderFiles ? [this.#servicesLoop(signal)] : [])]);
  }

  // ------------------------------------------------------------------ lease

  async #leaseLoop(signal: AbortSignal): Promise<void> {
    let delay = this.#renewMs;
    let failures = 0;
    while (await sleep(this.#clock, delay, signal)) {
      try {
        await this.renew();
        this.#storeOk();
        failures = 0;
        delay = this.#renewMs;
      } catch (e) {
        if (signal.aborted) return;
        this.#storeFailed(e);
        failures++;
        delay = Math.min(this.#renewMs, this.#backoff.initialMs * 2 ** Math.min(failures - 1, 16));
      }
    }
  }

  /** Renews the lease once; claims it again if the store let it expire (e.g. after a long outage). */
  async renew(): Promise<void> {
    const lease = this.#lease;
    if (!lease) throw new ClusterError('host-claimed', `the agent of ${this.host} has not started`);
    const ttl = await this.#kv.keepAliveLease(lease.record.storeLease);
    if (ttl !== undefined) {
      this.#state.renewals++;
      this.#state.lastRenewal = this.#clock.now();
      this.#state.leaseHeld = true;
      return;
    }
    // expired in the store (the agent could not renew for a whole TTL): the host went
    // NotReady and its instances were evicted; claim the lease again and say so
    this.#state.leaseHeld = false;
    this.#logger?.warn(`the lease of host ${this.host} expired in the store (not renewed for ${this.#leaseSeconds} s): claiming it again`);
    this.#lease = await claimHostLease(this.#kv, { ...lease.record, acquireTime: this.#now() });
    this.#state.leaseHeld = true;
    this.#state.renewals++;
    this.#state.lastRenewal = this.#clock.now();
  }

  // ------------------------------------------------------------------ facts

  async #factsLoop(signal: AbortSignal): Promise<void> {
    while (await sleep(this.#clock, this.#factsMs, signal)) {
      try {
        await this.#reportFacts(false);
      } catch (e) {
        if (signal.aborted) return;
        this.#storeFailed(e);
      }
    }
  }

  /** Writes `status.agent` and `status.load1` when they differ from the stored ones. */
  async #reportFacts(first: boolean): Promise<void> {
    let facts: HostFactsReport = {};
    try {
      facts = (await this.#facts?.()) ?? {};
    } catch (e) {
      this.#logger?.debug('could not gather facts', { error: e });
    }
    const about: HostAgentStatus = {
      ...this.#about,
      ...(facts.cores !== undefined ? { cores: facts.cores } : {}),
      ...(facts.memoryBytes !== undefined ? { memoryBytes: facts.memoryBytes } : {}),
    };
    const load1 = facts.load1 !== undefined ? Math.round(facts.load1 * 10) / 10 : undefined;
    const stored = await this.#store.hosts.mutate(this.host, (cur) => {
      const same = JSON.stringify(cur.status?.agent) === JSON.stringify(about) && (load1 === undefined || cur.status?.load1 === load1);
      if (same) return undefined;
      cur.status = { ...(cur.status ?? { ready: false }), agent: about, ...(load1 !== undefined ? { load1 } : {}) };
      this.#state.statusWrites++;
      return cur;
    });
    if (!stored && !first) this.#logger?.warn(`host ${this.host} is no longer in the store: its instances are left as they are`);
    if (stored) this.#hostObject = stored;
  }

  // ------------------------------------------------------------------ instances

  async #watchLoop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        const listed = await this.#source.list(this.host, signal);
        const names = new Set(listed.items.map((i) => i.metadata.name));
        for (const name of [...this.#cache.keys()]) if (!names.has(name)) this.#cache.delete(name);
        for (const i of listed.items) this.#remember(i);
        this.#storeOk();
        failures = 0;
        this.#kick?.();
        for await (const ev of this.#source.watch(this.host, listed.revision + 1, signal)) {
          if (ev.type === 'progress') continue;
          if (ev.type === 'expired') break; // relist
          if (ev.type === 'deleted') this.#cache.delete(ev.object.metadata.name);
          else this.#remember(ev.object);
          this.#kick?.();
        }
      } catch (e) {
        if (signal.aborted) return;
        this.#storeFailed(e);
        failures++;
      }
      if (failures > 0) await sleep(this.#clock, Math.min(this.#backoff.maxMs, this.#backoff.initialMs * 2 ** Math.min(failures - 1, 16)), signal);
    }
  }

  // ------------------------------------------------------------------ render files

  /**
   * Services whose `render:` selects this host: lists them, then watches the kind, and writes
   * each one's endpoint file here (the controllers never ssh to an agent host) whenever its
   * endpoints change, recording the digest in `status.rendered[host]`.
   */
  async #servicesLoop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        const listed = await this.#store.services.list({ signal });
        failures = 0;
        for (const e of listed.items) await this.#render(e.object, signal);
        for await (const ev of this.#store.services.watch(listed.revision + 1, { signal })) {
          if (ev.type === 'progress') continue;
          if (ev.type === 'expired') break; // relist
          if (ev.type === 'deleted') this.#rendered.delete(ev.object.metadata.name);
          else await this.#render(ev.object, signal);
        }
      } catch (e) {
        if (signal.aborted) return;
        this.#note(e, 'could not follow the services');
        failures++;
      }
      if (failures > 0) await sleep(this.#clock, Math.min(this.#backoff.maxMs, this.#backoff.initialMs * 2 ** Math.min(failures - 1, 16)), signal);
    }
  }

  async #render(svc: Service, signal: AbortSignal): Promise<void> {
    const name = svc.metadata.name;
    const render = svc.spec.render;
    const host = this.#hostObject;
    // nothing to write until the controllers have computed the endpoints
    if (!render || !host || svc.status === undefined || !parseSelector(render.hosts).matches(host.metadata.labels ?? {})) {
      this.#rendered.delete(name);
      return;
    }
    const { content, digest } = renderEndpointsFile(svc.status.endpoints);
    const written = this.#rendered.get(name);
    if (written !== digest) {
      try {
        await this.#runtime.writeFile(this.#runtimeHost(host), render.path, content, signal);
      } catch (e) {
        if (signal.aborted) return;
        await this.#event('Service', name, 'Warning', 'RenderFailed', `could not write ${render.path} on ${this.host}: ${errorText(e)}`);
        return;
      }
      this.#rendered.set(name, digest);
      await this.#event('Service', name, 'Normal', 'Rendered', `wrote ${svc.status.endpoints.length} endpoint(s) to ${this.host}:${render.path}`);
    }
    if (svc.status.rendered?.[this.host] === digest) return;
    await this.#store.services.mutate(name, (cur) => {
      if (cur.status === undefined || cur.status.rendered?.[this.host] === digest) return undefined;
      cur.status = { ...cur.status, rendered: { ...cur.status.rendered, [this.host]: digest } };
      this.#state.statusWrites++;
      return cur;
    });
  }

  async #syncLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.sync();
      } catch (e) {
        if (signal.aborted) return;
        this.#logger?.debug('sync failed', { error: e });
      }
      await new Promise<void>((resolve) => {
        const timer = this.#clock.setTimer(done, this.#syncMs);
        function done(): void {
          timer.cancel();
          signal.removeEventListener('abort', done);
          resolve();
        }
        this.#kick = done;
        signal.addEventListener('abort', done, { once: true });
      });
      this.#kick = undefined;
    }
  }

  /**
   * One pass over this host's instances: stops the deleted ones (and removes their records),
   * starts the Pending ones (adopting any that already run), observes the rest in one call
   * and writes what changed.
   */
  async sync(): Promise<void> {
    const stored = this.#hostObject;
    if (!stored) return;
    const host = this.#runtimeHost(stored);
    const mine = [...this.#cache.values()];
    const deleting = mine.filter((i) => i.metadata.deletionTimestamp !== undefined);
    const pending = mine.filter((i) => i.metadata.deletionTimestamp === undefined && (i.status?.phase ?? 'Pending') === 'Pending');
    const running = mine.filter((i) => i.metadata.deletionTimestamp === undefined && (i.status?.phase ?? 'Pending') !== 'Pending');
    for (const inst of deleting) {
      try {
        await this.#worker.stop(host, inst);
        this.#state.stopped++;
      } catch (e) {
        this.#note(e, `could not stop ${inst.metadata.name}`);
      }
    }
    for (const inst of pending) {
      try {
        await this.#worker.start(host, inst);
        this.#state.started++;
      } catch (e) {
        this.#note(e, `could not start ${inst.metadata.name}`);
      }
    }
    if (running.length === 0) return;
    let observed: Map<string, ObservedInstance>;
    try {
      observed = await this.#runtime.observe(host, running);
    } catch (e) {
      this.#logger?.warn(`could not observe the instances of ${this.host}: ${errorText(e)}`, { error: e });
      return;
    }
    try {
      await this.#worker.observe(host, running, observed);
    } catch (e) {
      this.#note(e, `could not report the instances of ${this.host}`);
    }
  }

  #note(e: unknown, what: string): void {
    if ((e as { code?: unknown } | undefined)?.code === 'store-unavailable') this.#storeFailed(e);
    else this.#logger?.warn(`${what}: ${errorText(e)}`, { error: e });
  }
}

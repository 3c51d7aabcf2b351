/**
 * Why this file is long (about 850 lines): the five controllers share the store, the caches,
 * the leader lock, the per-instance workers and the network driver this class holds. The
 * replica set's planning has left it (`replicaset-plan.ts`, `converge.ts`); the network
 * controller (about 250 lines, with its per-host appliers) is the next piece to move out.
 *
 * The controllers of a cluster, on @flotilla/reconcile: replica sets, instances, hosts
 * and services, sharing one store and one {@link InstanceRuntime}.
 *
 * Level-based: each reconcile reads the desired and observed state from the store and
 * closes the gap; events only say which key to look at. Guarantees:
 * - a replica set converges to `replicas` instances of its current template, placed by the
 *   scheduler on Ready hosts; extras go least healthy first, then newest first;
 * - a template change rolls out in batches bounded by `maxSurge`/`maxUnavailable`, old
 *   instances leave only as new ones become ready; a new instance that fails (exits,
 *   crash-loops, stays unhealthy, or is not ready within `progressDeadlineMs`) rolls the
 *   replica set back to the previous template;
 * - a host that has not answered for `hostGracePeriodMs` becomes NotReady and its
 *   instances are evicted (replaced elsewhere); they are stopped on it when it answers again;
 * - a service's endpoints are the ready, non-terminating instances its selector matches,
 *   and are rendered to its `render` hosts whenever they change;
 * - a host with `spec.agent: true` is never probed over ssh: it is Ready while its agent's
 *   lease lives; with a Network, every Ready host's routes, service VIPs and DNS are driven.
 *
 * Reads come from informer caches while `run` runs (`caches.ts`); writes go to the store with
 * compare-and-set. The replica set's decisions are the pure `planReplicaSet` and
 * `planPlacement` (`replicaset-plan.ts`), carried out here; convergence is `converge.ts`'s.
 */
import { parseSelector, selectorFromLabelSelector, type Selector } from '@flotilla/labels';
import { controller, sleep, systemClock, LeaderElector, seededRandom, type Clock, type Controller, type ControllerMetrics, type Logger, type LoggerLike, type Source, type WatchableStore, toLogger } from '@flotilla/reconcile';
import { createHash } from 'node:crypto';
import { isConflictError } from '../errors.js';
import type { Endpoint, Host, Instance, Kind, Network, ReplicaSet, SelectorInput, Service } from '../manifest/types.js';
import { selectorInputText, serviceSelectors } from '../operations.js';
import { assignClusterIp, assignHostSubnet, collectLeases } from '../network/leases.js';
import { subnetCapacity } from '../network/leases.js';
import { DeployNetworkDriver, type HostNetworkDriver } from '../network/driver.js';
import { DeployRuntime } from '../runtime/deploy.js';
import { planHostNetworks, type HostNetworkPlan } from '../network/plan.js';
import type { InstanceRuntime, ObservedInstance } from '../runtime/types.js';
import { BATCH_OBJECTS, keyOf, type ClusterStore } from '../store/resources.js';
import type { KvCompare } from '../store/types.js';
import { renderEndpointsFile } from '../agent/render.js';
import { HOST_LEASE_PREFIX, hostLeaseKey } from '../agent/lease.js';
import { ClusterCaches, StoreReads, hostLeasesStore, type ClusterReads } from './caches.js';
import { EventRecorder, type EventRecord } from './events.js';
import { InstanceWorker } from './instance-worker.js';
import { countedStatus, planPlacement, planReplicaSet } from './replicaset-plan.js';
import { PlacementCache, schedulerPlacer, type Placer } from './placement.js';
import { nameSuffix, stableJson, templateHash } from './template.js';

/** Options of {@link ClusterControllers}. */
export interface ClusterControllersOptions {
  store: ClusterStore;
  runtime: InstanceRuntime;
  /** Time and timers. @default systemClock */
  clock?: Clock;
  /** Randomness for instance names. @default a generator seeded from the time */
  random?: () => number;
  /**
   * Places new instances, given every host and every placed instance on each call.
   * @default with the informer caches, none: a {@link PlacementCache} fed by the informers'
   * events (its scheduler state kept and updated per change, as kube-scheduler's cache);
   * `schedulerPlacer` with `caches: false` (@flotilla/scheduler)
   */
  placer?: Placer;
  /** How often each host is probed and its instances observed and health-checked. @default 2000 */
  hostProbeIntervalMs?: number;
  /** How long a host may not answer before it is NotReady and its instances are rescheduled. @default 10000 */
  hostGracePeriodMs?: number;
  /**
   * Agent hosts (`spec.agent: true`) are judged by their agent's lease, which the store expires
   * (its TTL is the agent's hostGracePeriodSeconds, default 40): NotReady as soon as the lease is
   * gone. A host whose lease this controller has never seen gets this long from first sight
   * before it is NotReady (time for its agent to start). @default 40000
   */
  agentGracePeriodMs?: number;
  /**
   * Agent hosts are reconciled when their lease comes or goes (the leases' watch) and when
   * their Host's spec changes; besides, a Ready agent host is looked at again this often (a
   * level-based resync: catches a status someone else wrote). A NotReady one is looked at every
   * `hostProbeIntervalMs`, so an instance bound to it late is still evicted. @default 30000
   */
  agentHostResyncMs?: number;
  /** How long a new instance of a rollout may take to become ready before the rollout rolls back. @default 60000 */
  progressDeadlineMs?: number;
  /** Restarts of a new instance during a rollout that count as a failed batch. @default 2 */
  rolloutMaxRestarts?: number;
  /** How often unschedulable replica sets are retried. @default 5000 */
  retryUnschedulableMs?: number;
  /** Workers per controller (the hosts and replica-set controllers have at least 16: their reconciles wait on probes and on the store). @default 4 */
  concurrency?: number;
  /** Events kept in the store (oldest deleted first). @default 500 */
  maxEvents?: number;
  /** A message-first `Logger` or a pino logger. @default silent */
  logger?: LoggerLike;
  /**
   * Drives each Ready host's routes, service rules and DNS records when a Network exists
   * (e.g. `DeployNetworkDriver`). Without one, the network controller only keeps the leases.
   * @default a `DeployNetworkDriver` on the runtime's connections when `runtime` is a `DeployRuntime`; else none
   */
  networkDriver?: HostNetworkDriver;
  /** How often every host's network is re-applied in full even when nothing changed (replaces anything changed behind Flotilla's back). @default 30000 */
  networkResyncMs?: number;
  /** Metric hooks of every controller (e.g. `prometheusControllerMetrics()` of `@flotilla/reconcile/prometheus`). @default none */
  metrics?: ControllerMetrics;
  /**
   * While running, read hosts, instances, replica sets, services and agent leases from
   * informer caches (one list, then one watch per kind, shared by every controller) instead
   * of the store. `false` reads the store on every reconcile (the path before caches; the
   * benchmark's peer). Writes go to the store with compare-and-set either way.
   * @default true
   */
  caches?: boolean;
}

/** How long a reconcile waits for the caches to reflect the controllers' own writes before it gives up and comes back later. */
const CAUGHT_UP_TIMEOUT_MS = 5000;
/** When a reconcile found the caches behind the controllers' own writes, it comes back after this long. */
const BEHIND_REQUEUE_MS = 500;

/** Workers of the hosts controller at least (see `concurrency`). */
const HOST_WORKERS = 16;
/**
 * Workers of the replica-set controller at least: a reconcile that creates waits on the store
 * (its creates, its status) far longer than it computes, so four at a time left the controller
 * 41 % idle at 5,000 hosts. (Kubernetes runs 5 syncs but fans each sync's creates out.)
 */
const REPLICASET_WORKERS = 16;

const ALL_SERVICES = '*';
const NETWORK_KEY = 'network';

/** One host's network runner: the newest plan, and whether it still has to be applied. */
interface NetworkRunner {
  host: Host;
  plan: HostNetworkPlan;
  dirty: boolean;
  running: boolean;
}

function selectorOf(input: SelectorInput): Selector {
  if (typeof input === 'string') return parseSelector(input);
  if ('matchLabels' in input || 'matchExpressions' in input) return selectorFromLabelSelector(input);
  return selectorFromLabelSelector({ matchLabels: input as Record<string, string> });
}

/**
 * A service's endpoints: the ready, non-terminating instances one of its selectors matches
 * (OR: the first that matches is recorded), each at its pod IP when it has one, else at its
 * host's address (`addressOf`), with the instance's port for `port`, or for each of `ports`
 * (`targetPort` by name from the instance's ports, or a number). An instance whose (first)
 * port it does not have is not an endpoint. Not ready = not an endpoint. Sorted by instance.
 */
export function serviceEndpoints(svc: Service, instances: readonly Instance[], addressOf: (host: string) => string | undefined): Endpoint[] {
  const selectors = serviceSelectors(svc.spec).map((input) => ({ text: selectorInputText(input), selector: selectorOf(input) }));
  const portOf = (i: Instance, target: string | number): number | undefined => (typeof target === 'number' ? target : i.status?.ports[target]);
  return instances
    .filter((i) => i.metadata.deletionTimestamp === undefined && i.status?.ready === true)
    .flatMap((i): Endpoint[] => {
      const matched = selectors.find((s) => s.selector.matches(i.metadata.labels ?? {}));
      if (!matched) return [];
      const address = i.status?.podIP ?? addressOf(i.spec.host);
      if (address === undefined) return [];
      const multi = selectors.length > 1 ? { selector: matched.text } : {};
      if (svc.spec.ports) {
        const ports: Record<string, number> = {};
        for (const p of svc.spec.ports) {
          const n = portOf(i, p.targetPort ?? p.port);
          if (n !== undefined) ports[p.name ?? String(p.port)] = n;
        }
        const first = svc.spec.ports[0]!;
        const port = ports[first.name ?? String(first.port)];
        if (port === undefined) return [];
        return [{ instance: i.metadata.name, address, port, host: i.spec.host, ports, selector: matched.text }];
      }
      const port = portOf(i, svc.spec.port ?? 0);
      if (port === undefined) return [];
      return [{ instance: i.metadata.name, address, port, ...multi }];
    })
    .sort((a, b) => (a.instance < b.instance ? -1 : 1));
}

/** What a lease-expiry pass did with a host: marked NotReady (and evicted), its lease held again (not marked), no longer to be marked, or the error of its batch. */
type ExpiryResult = 'marked' | 'lease held' | 'skipped' | Error;

/** A lease-expiry pass's outcome: `behind` when the caches had not caught up (nothing done), else per host covered. */
interface ExpiryOutcome {
  behind: boolean;
  hosts: Map<string, ExpiryResult>;
}

/** How long a lease-expiry pass waits, once asked for, for the rest of a burst of lease expiries to reach the caches. */
const EXPIRY_GATHER_MS = 250;

/**
 * Eviction transactions (of up to 50 instances) a lease-expiry pass keeps in flight. Few: with
 * 16, the evictions of 500 hosts filled the store's pipeline and the replica sets' creates of
 * the replacements waited behind them (created p50 23 s after evicted p50, at 5,000 hosts);
 * with 4 they follow within a second.
 */
const EVICT_IN_FLIGHT = 4;

/** `items` in consecutive pieces of `size`. */
function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A NotReady agent host's status message. */
function agentLeaseGoneMessage(name: string, seen: boolean, waitedMs: number): string {
  return seen
    ? `the agent's lease expired in the store (not renewed for its TTL)`
    : `no agent has held the lease of ${name} for ${Math.round(waitedMs / 1000)}s: start one there (flo host join ${name}, or flo agent --host ${name})`;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Informer caches running, and the scheduler cache they feed (see `#startCaches`). */
interface LiveCaches {
  readonly caches: ClusterCaches;
  readonly placement: PlacementCache | undefined;
  /** Resolves once the informers stopped (their signal aborted). */
  readonly done: Promise<void>;
}

export class ClusterControllers {
  readonly store: ClusterStore;
  readonly runtime: InstanceRuntime;
  readonly clock: Clock;
  readonly #random: () => number;
  /** A placer given in the options, or schedulerPlacer without caches; undefined: the run's {@link PlacementCache}. */
  readonly #placer: Placer | undefined;
  /** The scheduler cache of the current run (with caches and no placer given), fed by the informers; kept with them across leadership terms. */
  #placement: PlacementCache | undefined;
  readonly #probeMs: number;
  readonly #graceMs: number;
  readonly #agentGraceMs: number;
  readonly #agentResyncMs: number;
  /** Agent hosts whose lease this controller has seen held. */
  readonly #leaseSeen = new Set<string>();
  /** The lease-expiry pass running, and the hosts it covers once it has scanned (see #leaseExpiryPass). */
  #expiryRunning: { covers: ReadonlySet<string> | undefined; done: Promise<ExpiryOutcome> } | undefined;
  /** The pass that starts when the running one ends. */
  #expiryNext: Promise<ExpiryOutcome> | undefined;
  readonly #deadlineMs: number;
  readonly #maxRestarts: number;
  readonly #retryMs: number;
  readonly #concurrency: number;
  readonly #maxEvents: number;
  readonly #logger: Logger | undefined;
  readonly #metrics: ControllerMetrics | undefined;
  /** When each host last answered (clock ms); set at first sight so a new controller gives every host its full grace. */
  readonly #lastSeen = new Map<string, number>();
  readonly #networkDriver: HostNetworkDriver | undefined;
  readonly #networkResyncMs: number;
  /** Per host: the digest of the plan last applied and when (forgotten when the host leaves the plans, so a returning host is re-applied in full). */
  readonly #networkApplied = new Map<string, { digest: string; at: number; plan: HostNetworkPlan }>();
  /** Each planned host's runner (see `#submitNetwork`). */
  readonly #networkRunners = new Map<string, NetworkRunner>();
  /** Aborts when `run` ends: runners stop. */
  #networkSignal: AbortSignal | undefined;
  /** Hosts whose tools were checked and found complete. */
  readonly #networkChecked = new Set<string>();
  /** Hosts refused, and why (kept in the Network's status). */
  readonly #networkRefused = new Map<string, string>();
  readonly #worker: InstanceWorker;
  readonly #useCaches: boolean;
  /** Where reconciles read: the store (outside `run`, or with `caches: false`), or the caches of the current run. */
  #reads: ClusterReads;
  readonly #events: EventRecorder;

  constructor(options: ClusterControllersOptions) {
    this.store = options.store;
    this.runtime = options.runtime;
    this.clock = options.clock ?? systemClock;
    this.#random = options.random ?? seededRandom(Math.floor(this.clock.now()) ^ process.pid);
    this.#placer = options.placer ?? ((options.caches ?? true) ? undefined : schedulerPlacer);
    this.#probeMs = positive('hostProbeIntervalMs', options.hostProbeIntervalMs ?? 2000);
    this.#graceMs = positive('hostGracePeriodMs', options.hostGracePeriodMs ?? 10_000);
    this.#agentGraceMs = positive('agentGracePeriodMs', options.agentGracePeriodMs ?? 40_000);
    this.#agentResyncMs = positive('agentHostResyncMs', options.agentHostResyncMs ?? 30_000);
    this.#deadlineMs = positive('progressDeadlineMs', options.progressDeadlineMs ?? 60_000);
    this.#maxRestarts = positive('rolloutMaxRestarts', options.rolloutMaxRestarts ?? 2);
    this.#retryMs = positive('retryUnschedulableMs', options.retryUnschedulableMs ?? 5000);
    this.#concurrency = positive('concurrency', options.concurrency ?? 4);
    this.#maxEvents = positive('maxEvents', options.maxEvents ?? 500);
    this.#logger = options.logger !== undefined ? toLogger(options.logger) : undefined;
    this.#metrics = options.metrics;
    this.#networkDriver =
      options.networkDriver ?? (options.runtime instanceof DeployRuntime ? new DeployNetworkDriver({ connection: (h) => (options.runtime as DeployRuntime).connection(h) }) : undefined);
    this.#networkResyncMs = positive('networkResyncMs', options.networkResyncMs ?? 30_000);
    this.#useCaches = options.caches ?? true;
    this.#reads = new StoreReads(this.store);
    this.#events = new EventRecorder({ store: this.store, clock: this.clock, random: this.#random, maxEvents: this.#maxEvents, ...(this.#logger ? { logger: this.#logger } : {}) });
    this.#worker = new InstanceWorker({
      store: this.store,
      runtime: this.runtime,
      clock: this.clock,
      onStored: (i) => this.#reads.wrote('instances', i.metadata.resourceVersion),
      events: (kind, name, type, reason, message) => {
        this.#event(kind, name, type, reason, message);
        return Promise.resolve();
      },
      ...(this.#logger ? { logger: this.#logger } : {}),
    });
  }

  #now(): string {
    return new Date(this.clock.now()).toISOString();
  }

  // ---------------------------------------------------------------- events

  /**
   * Records an event for `describe`: queued and written in the background with the other
   * reconciles' (see `EventRecorder`); the promise resolves once it is written (reconciles do
   * not wait for it). Never throws.
   */
  recordEvent(kind: Kind, name: string, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    return this.#events.record([{ kind, name, type, reason, message }]);
  }

  /** Queues an event (a reconcile's: not waited for). */
  #event(kind: Kind, name: string, type: 'Normal' | 'Warning', reason: string, message: string): void {
    void this.#events.record([{ kind, name, type, reason, message }]);
  }

  /** Resolves once every event recorded so far is written (or given up). */
  flushEvents(): Promise<void> {
    return this.#events.flush();
  }

  /**
   * Deletes the oldest events beyond `maxEvents`, from a list of every event (the recorder
   * prunes from memory on its own as it writes; this is for a store written by others).
   */
  async pruneEvents(): Promise<void> {
    const events = await this.store.events.items();
    if (events.length <= this.#maxEvents) return;
    // oldest first: by time, then (several in one millisecond) by the revision that created them
    events.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : (a.metadata.resourceVersion ?? 0) - (b.metadata.resourceVersion ?? 0)));
    await this.store.events.deleteMany(events.slice(0, events.length - this.#maxEvents));
  }

  // ---------------------------------------------------------------- replica sets

  async #markDeleting(i: Instance, reason: string): Promise<void> {
    if (i.metadata.deletionTimestamp !== undefined) return;
    const stored = await this.store.instances.mutate(i.metadata.name, (cur) => {
      if (cur.metadata.deletionTimestamp !== undefined) return undefined;
      cur.metadata.deletionTimestamp = this.#now();
      cur.metadata.deletionReason = reason;
      cur.status = { ...(cur.status ?? { ready: false, ports: {}, restarts: 0, phase: 'Pending' }), phase: 'Terminating', ready: false };
      return cur;
    });
    this.#reads.wrote('instances', stored?.metadata.resourceVersion);
  }

  /** Reconciles one replica set: plans with {@link planReplicaSet}, then carries the plan out. */
  async reconcileReplicaSet(name: string): Promise<{ requeueAfterMs?: number } | undefined> {
    if (!(await this.#reads.caughtUp(CAUGHT_UP_TIMEOUT_MS))) return { requeueAfterMs: BEHIND_REQUEUE_MS };
    const rs = await this.#reads.replicaSet(name);
    const all = await this.#reads.instancesOf(name);
    const plan = planReplicaSet({ replicaSet: rs, instances: all, nowMs: this.clock.now(), progressDeadlineMs: this.#deadlineMs, rolloutMaxRestarts: this.#maxRestarts });
    for (const step of plan.steps) {
      if (step.do === 'delete') await this.#markDeleting(step.instance, step.reason);
      else this.#event(step.event.kind, step.event.name, step.event.type, step.event.reason, step.event.message);
    }
    if (!rs) return undefined;
    const hash = plan.templateHash!;
    if (plan.rollback) {
      const { template, status } = plan.rollback;
      const stored = await this.store.replicaSets.mutate(name, (cur) => {
        cur.spec.template = template;
        cur.status = status;
        return cur;
      });
      this.#reads.wrote('replicaSets', stored?.metadata.resourceVersion);
      return { requeueAfterMs: 0 };
    }
    let requeueAfterMs = plan.requeueAfterMs;
    const deleted = new Set(plan.steps.flatMap((s) => (s.do === 'delete' ? [s.instance.metadata.name] : [])));
    let active = all.filter((i) => i.metadata.deletionTimestamp === undefined && !deleted.has(i.metadata.name));
    // the events of the creates are written in the background (the recorder's), not waited for
    if (plan.create > 0) {
      const created = await this.#create(rs, hash, plan.create);
      if (created.unschedulable) requeueAfterMs = Math.min(requeueAfterMs ?? this.#retryMs, this.#retryMs);
      // counted from what this reconcile read and created: no wait for the watch to bring the creates back
      active = [...active, ...created.instances];
    }
    const status = countedStatus(plan, rs, active);
    if (stableJson(status) !== stableJson(rs.status ?? {})) {
      // one compare-and-set write on the revision read (the caches are caught up with our own
      // writes); a read-modify-write only when it changed meanwhile
      const [written] = rs.metadata.resourceVersion !== undefined ? await this.store.replicaSets.updateMany([{ ...rs, status }]) : [undefined];
      const stored =
        written !== undefined && !(written instanceof Error)
          ? written
          : await this.store.replicaSets.mutate(name, (cur) => {
              if (templateHash(cur.spec.template) !== hash) return undefined; // changed meanwhile: the next reconcile redoes it
              cur.status = status;
              return cur;
            });
      this.#reads.wrote('replicaSets', stored?.metadata.resourceVersion);
    }
    return requeueAfterMs !== undefined ? { requeueAfterMs } : undefined;
  }

  /**
   * Places and creates `count` instances ({@link planPlacement}): the instances created, and
   * whether some could not be placed. Their events are queued, not waited for.
   */
  async #create(rs: ReplicaSet, hash: string, count: number): Promise<{ instances: Instance[]; unschedulable: boolean }> {
    const cache = this.#placement;
    const common = { replicaSet: rs, templateHash: hash, count, suffix: () => nameSuffix(this.#random) };
    const placement = cache
      ? planPlacement({ ...common, view: cache })
      : planPlacement({
          ...common,
          hosts: await this.#placeableHosts(),
          placed: (await this.#reads.instances()).filter((i) => i.metadata.deletionTimestamp === undefined),
          placer: this.#placer ?? schedulerPlacer,
        });
    // hosts not probed yet: wait for their first probe rather than report them unavailable
    if (placement.waitingForHosts) return { instances: [], unschedulable: true };
    // in transactions of 50 (one write each where the store has none), as the agents report;
    // what the cache placed stays assumed until the informer brings it, unless not created
    let results: (Instance | Error)[];
    try {
      results = await this.store.instances.createMany(placement.instances);
    } catch (e) {
      cache?.forget(placement.instances.map((i) => i.metadata.name));
      throw e;
    }
    cache?.forget(results.flatMap((r, k) => (r instanceof Error ? [placement.instances[k]!.metadata.name] : [])));
    const events: EventRecord[] = [];
    const instances: Instance[] = [];
    let failed: Error | undefined;
    results.forEach((r, k) => {
      if (r instanceof Error) {
        if (!isConflictError(r)) failed ??= r;
        return;
      }
      this.#reads.wrote('instances', r.metadata.resourceVersion);
      instances.push(r);
      const instance = placement.instances[k]!;
      events.push(
        { kind: 'Instance', name: instance.metadata.name, type: 'Normal', reason: 'Scheduled', message: `assigned ${instance.metadata.name} to ${instance.spec.host}` },
        { kind: 'ReplicaSet', name: rs.metadata.name, type: 'Normal', reason: 'Scheduled', message: `created instance ${instance.metadata.name} on ${instance.spec.host}` },
      );
    });
    if (placement.unschedulable.length > 0) {
      const first = placement.unschedulable[0]!;
      events.push({ kind: 'ReplicaSet', name: rs.metadata.name, type: 'Warning', reason: 'FailedScheduling', message: `${placement.unschedulable.length} instance(s) could not be placed: ${first.message}` });
    }
    void this.#events.record(events);
    if (failed) throw failed;
    return { instances, unschedulable: placement.unschedulable.length > 0 };
  }

  /**
   * The hosts new instances may be placed on when placing from lists (`planPlacement` keeps
   * the Ready ones): an agent host is left out as soon as its agent's lease is gone from the
   * caches, without waiting for its next probe to write NotReady — otherwise a replica set
   * replacing the instances of hosts that died together places some on the others while they
   * are still marked Ready. The run's PlacementCache is fed the same way (`run`). (Without
   * caches, the status alone decides: a lease read per host per placement would cost more.)
   */
  async #placeableHosts(): Promise<Host[]> {
    const hosts = await this.#reads.hosts();
    if (!this.#reads.cached) return hosts;
    const out: Host[] = [];
    for (const h of hosts) if (h.spec.agent !== true || h.status?.ready !== true || (await this.#reads.hostLease(h.metadata.name)) !== undefined) out.push(h);
    return out;
  }

  // ---------------------------------------------------------------- instances

  /**
   * Reconciles one instance: starts a Pending one, stops (then removes) a deleted one. An
   * instance on an agent host (`spec.agent`) is its agent's to start and stop; the
   * controller only removes the record of one whose Host is gone.
   */
  async reconcileInstance(name: string): Promise<{ requeueAfterMs?: number } | undefined> {
    if (!(await this.#reads.caughtUp(CAUGHT_UP_TIMEOUT_MS))) return { requeueAfterMs: BEHIND_REQUEUE_MS };
    const inst = await this.#reads.instance(name);
    if (!inst) {
      this.#worker.forget(name);
      return undefined;
    }
    const host = await this.#reads.host(inst.spec.host);
    if (inst.metadata.deletionTimestamp !== undefined) {
      if (!host) {
        await this.store.instances.delete(name);
        return undefined;
      }
      if (host.spec.agent === true) return undefined;
      try {
        await this.#worker.stop(host, inst);
      } catch (e) {
        // the host is away: stop it when it answers again
        this.#logger?.debug?.('stop failed; will retry', { instance: name, error: e });
        return { requeueAfterMs: this.#probeMs };
      }
      return undefined;
    }
    if ((inst.status?.phase ?? 'Pending') !== 'Pending') return undefined;
    if (host?.spec.agent === true) return undefined;
    if (!host || host.status?.ready !== true) return { requeueAfterMs: this.#probeMs };
    await this.#worker.start(host, inst);
    return undefined;
  }


  // ---------------------------------------------------------------- hosts

  /** Probes a host, observes and health-checks its instances, and handles NotReady. */
  async reconcileHost(name: string): Promise<{ requeueAfterMs?: number } | undefined> {
    if (!(await this.#reads.caughtUp(CAUGHT_UP_TIMEOUT_MS))) return { requeueAfterMs: BEHIND_REQUEUE_MS };
    const host = await this.#reads.host(name);
    if (!host) {
      this.#lastSeen.delete(name);
      this.#leaseSeen.delete(name);
      await this.#markDeletingMany(await this.#reads.instancesOn(name), 'host deleted');
      return undefined;
    }
    const now = this.clock.now();
    if (!this.#lastSeen.has(name)) this.#lastSeen.set(name, now);
    if (host.spec.agent === true) return this.#reconcileAgentHost(host, now);
    this.#leaseSeen.delete(name);
    const onHost = await this.#reads.instancesOn(name);
    let load1: number | undefined;
    let observed: Map<string, ObservedInstance> | undefined;
    let failure: unknown;
    try {
      load1 = (await this.runtime.probeHost(host)).load1;
      const watched = onHost.filter((i) => i.metadata.deletionTimestamp === undefined && (i.status?.phase ?? 'Pending') !== 'Pending');
      observed = watched.length > 0 ? await this.runtime.observe(host, watched) : new Map();
    } catch (e) {
      failure = e;
    }
    if (failure === undefined) {
      this.#lastSeen.set(name, now);
      if (host.status?.ready !== true || host.status.load1 !== load1) {
        const wasNotReady = host.status?.ready === false;
        const stored = await this.store.hosts.mutate(name, (cur) => {
          cur.status = {
            ...cur.status,
            ready: true,
            lastHeartbeat: this.#now(),
            ...(cur.status?.ready !== true ? { lastTransition: this.#now() } : {}),
            ...(load1 !== undefined ? { load1 } : {}),
          };
          delete cur.status.message;
          return cur;
        });
        this.#reads.wrote('hosts', stored?.metadata.resourceVersion);
        if (host.status?.ready !== true)
          this.#event('Host', name, 'Normal', 'HostReady', wasNotReady ? `${name} answers again` : `${name} is ready`);
      }
      await this.#worker.observe(host, onHost, observed ?? new Map<string, ObservedInstance>());
    } else if (now - this.#lastSeen.get(name)! >= this.#graceMs) {
      if (host.status?.ready !== false) await this.#notReady(name, onHost, `no answer for ${Math.round((now - this.#lastSeen.get(name)!) / 1000)}s: ${errorText(failure)}`);
      else await this.#evict(name, onHost);
    }
    return { requeueAfterMs: this.#probeMs };
  }

  /**
   * Marks a host NotReady and evicts its instances (they are replaced elsewhere, and stopped
   * there when it returns). The evictions are written together — each instance marked
   * Terminating in transactions of 50 (`updateMany`, compared on the revision the cache holds),
   * their `Rescheduled` events in transactions of 50 too — so a host's 30 instances cost two
   * writes, not 90 round trips, and the replica sets hear of all of them at once. An instance
   * that changed meanwhile is re-read and marked alone.
   */
  async #notReady(name: string, onHost: readonly Instance[] | (() => Promise<Instance[]>), message: string, options: { agent?: boolean } = {}): Promise<boolean> {
    const notReady = (cur: Host): Host => ({ ...cur, status: { ...cur.status, ready: false, lastTransition: this.#now(), message } });
    // one compare-and-set write on the cached revision; re-read only when it changed meanwhile
    const cached = await this.#reads.host(name);
    const [written] = cached?.metadata.resourceVersion !== undefined ? await this.store.hosts.updateMany([notReady(cached)]) : [undefined];
    let stored: Host | undefined;
    if (written !== undefined && !(written instanceof Error)) stored = written;
    else {
      // changed since the cache saw it: judged again on the Host as it is now. An agent host
      // whose spec.agent was unset meanwhile (`flo host leave` unsets it, then releases the
      // lease) is not made NotReady: it is probed over ssh from now on
      let judged = true;
      stored = await this.store.hosts.mutate(name, (cur) => {
        judged = options.agent !== true || cur.spec.agent === true;
        return judged ? notReady(cur) : undefined;
      });
      if (!judged) return false;
    }
    this.#reads.wrote('hosts', stored?.metadata.resourceVersion);
    await this.#evict(name, typeof onHost === 'function' ? await onHost() : onHost, { kind: 'Host', name, type: 'Warning', reason: 'HostNotReady', message });
    return true;
  }

  /**
   * Evicts the instances of a NotReady host that are not yet Terminating, with their
   * `Rescheduled` events (and `also`, recorded with them). Called at the transition and again
   * at every probe while the host stays NotReady — level-based, as Kubernetes' taint manager
   * evicts every pod of a tainted node: an instance a replica set placed there in the moment
   * the host went NotReady (its cache still said Ready) is evicted at the next probe instead
   * of waiting forever for an agent that is gone.
   */
  async #evict(name: string, onHost: readonly Instance[], also?: EventRecord): Promise<void> {
    const evicted = await this.#markDeletingMany(onHost, `host ${name} is NotReady`);
    void this.#events.record([
      ...(also ? [also] : []),
      ...evicted.map(
        (i): EventRecord => ({ kind: 'Instance', name: i.metadata.name, type: 'Warning', reason: 'Rescheduled', message: `host ${name} is NotReady: replacing the instance elsewhere` }),
      ),
    ]);
  }

  /**
   * {@link ClusterControllers.#markDeleting} for several instances in as few writes as the store
   * allows; returns the instances it marked (not those already marked or gone).
   */
  async #markDeletingMany(instances: readonly Instance[], reasonOf: string | ((i: Instance) => string)): Promise<Instance[]> {
    const now = this.#now();
    const reasonFor = (i: Instance): string => (typeof reasonOf === 'string' ? reasonOf : reasonOf(i));
    const marked = instances
      .filter((i) => i.metadata.deletionTimestamp === undefined)
      .map(
        (i): Instance => ({
          ...i,
          metadata: { ...i.metadata, deletionTimestamp: now, deletionReason: reasonFor(i) },
          status: { ...(i.status ?? { ready: false, ports: {}, restarts: 0, phase: 'Pending' }), phase: 'Terminating', ready: false },
        }),
      );
    if (marked.length === 0) return [];
    const results = await this.store.instances.updateMany(marked);
    const out: Instance[] = [];
    for (const [k, r] of results.entries()) {
      if (!(r instanceof Error)) {
        this.#reads.wrote('instances', r.metadata.resourceVersion);
        out.push(r);
        continue;
      }
      if (!isConflictError(r)) continue; // gone: nothing to evict
      // changed since the cache saw it (its agent wrote a status): read it again
      const again = await this.store.instances.mutate(marked[k]!.metadata.name, (cur) => {
        if (cur.metadata.deletionTimestamp !== undefined) return undefined;
        cur.metadata.deletionTimestamp = now;
        cur.metadata.deletionReason = reasonFor(cur);
        cur.status = { ...(cur.status ?? { ready: false, ports: {}, restarts: 0, phase: 'Pending' }), phase: 'Terminating', ready: false };
        return cur;
      });
      if (again === undefined) continue;
      this.#reads.wrote('instances', again.metadata.resourceVersion);
      if (again.metadata.deletionTimestamp === now) out.push(again);
    }
    return out;
  }

  /**
   * An agent host: never probed; Ready while its agent's lease key exists in the store (the
   * store deletes it when the agent stops renewing for the lease's TTL), NotReady when it is
   * gone — judged by the store, not by any host's clock. Its agent starts, stops and
   * observes its instances.
   *
   * Reconciled on its lease's events (the key added at a claim, deleted at expiry or
   * `flo host leave`) and its spec's, not polled: a renewal is a keep-alive of the store lease,
   * which writes nothing, so a live host costs nothing between resyncs (`agentHostResyncMs`),
   * and its instances are read only when it is NotReady (to evict them). A NotReady host is
   * looked at every `hostProbeIntervalMs` (an instance bound to it late is evicted then); one
   * whose lease this controller never saw, when its grace from first sight runs out.
   */
  async #reconcileAgentHost(host: Host, now: number): Promise<{ requeueAfterMs: number }> {
    const name = host.metadata.name;
    const lease = await this.#reads.hostLease(name);
    if (lease) {
      this.#leaseSeen.add(name);
      this.#lastSeen.set(name, now);
      if (host.status?.ready !== true) {
        const wasNotReady = host.status?.ready === false;
        const stored = await this.store.hosts.mutate(name, (cur) => {
          cur.status = { ...cur.status, ready: true, lastHeartbeat: this.#now(), lastTransition: this.#now() };
          delete cur.status.message;
          return cur;
        });
        this.#reads.wrote('hosts', stored?.metadata.resourceVersion);
        this.#event('Host', name, 'Normal', 'HostReady', wasNotReady ? `the agent of ${name} holds its lease again` : `${name} is ready (its agent holds the lease)`);
      }
      return { requeueAfterMs: this.#agentResyncMs };
    }
    const seen = this.#leaseSeen.has(name);
    const waited = now - this.#lastSeen.get(name)!;
    // a lease this controller never saw gets the grace from first sight (no storm when it starts)
    if (!seen && waited < this.#agentGraceMs) return { requeueAfterMs: this.#agentGraceMs - waited };
    const onHost = (): Promise<Instance[]> => this.#reads.instancesOn(name);
    if (host.status?.ready !== false) {
      if (this.#reads.cached && this.store.kv.txn) {
        // with every other host whose lease is gone, in one pass (see #leaseExpiryPass)
        const outcome = await this.#requestExpiryPass(name);
        if (outcome.behind) return { requeueAfterMs: BEHIND_REQUEUE_MS };
        const r = outcome.hosts.get(name);
        if (r instanceof Error) throw r;
        return { requeueAfterMs: this.#probeMs };
      }
      await this.#notReady(name, onHost, agentLeaseGoneMessage(name, seen, waited), { agent: true });
    } else await this.#evict(name, await onHost());
    return { requeueAfterMs: this.#probeMs };
  }

  /**
   * Joins the lease-expiry pass that will cover `name`: the one running when its scan found
   * `name` (or has not scanned yet), else the next one (started when the running one ends,
   * shared by every host that asks meanwhile).
   */
  #requestExpiryPass(name: string): Promise<ExpiryOutcome> {
    const running = this.#expiryRunning;
    if (!running) return this.#startExpiryPass();
    if (running.covers === undefined || running.covers.has(name)) return running.done;
    this.#expiryNext ??= running.done.then(() => {
      this.#expiryNext = undefined;
      return this.#startExpiryPass();
    });
    return this.#expiryNext;
  }

  #startExpiryPass(): Promise<ExpiryOutcome> {
    const entry: { covers: ReadonlySet<string> | undefined; done: Promise<ExpiryOutcome> } = { covers: undefined, done: Promise.resolve({ behind: false, hosts: new Map() }) };
    this.#expiryRunning = entry;
    entry.done = this.#leaseExpiryPass((covers) => (entry.covers = covers))
      .catch((e: unknown): ExpiryOutcome => {
        // not expected (each batch's errors are the outcome of its hosts): every host asks again
        const error = e instanceof Error ? e : new Error(String(e));
        return { behind: false, hosts: new Map([...(entry.covers ?? [])].map((n) => [n, error])) };
      })
      .finally(() => {
        if (this.#expiryRunning === entry) this.#expiryRunning = undefined;
      });
    return entry.done;
  }

  /**
   * One pass over every agent host whose lease is gone (Kubernetes' node lifecycle
   * controller, which marks every node whose heartbeat is stale in one monitor pass): instead
   * of each host's reconcile writing its own NotReady and evictions (at 5,000 hosts, 500 dead
   * hosts went NotReady about 20 a second), the pass
   * 1. takes from the caches every agent host that is not NotReady, whose lease is gone, and
   *    whose lease this controller saw (or whose grace from first sight ran out) — the same
   *    judgement as the host's reconcile;
   * 2. writes them NotReady in transactions of up to 50 hosts, each compared on the Host's
   *    cached revision *and* on its lease key being absent: a host whose agent claimed its
   *    lease again meanwhile is not marked; one whose Host changed is read again and judged as
   *    it is now (`flo host leave` unsets `spec.agent`: not marked), in a second round;
   * 3. evicts the instances of every host it marked, ordered by replica set (a replica set
   *    hears of its evictions together), in transactions of 50 instances, `EVICT_IN_FLIGHT`
   *    at a time;
   * 4. records the same events as the host's reconcile: `HostNotReady` per host, `Rescheduled`
   *    per instance evicted.
   * A transaction that fails costs only its own hosts (their outcome is the error: their
   * reconciles retry with backoff; a host marked whose evictions failed is evicted by its
   * next reconcile, level-based); the other batches are written.
   */
  async #leaseExpiryPass(scanned: (covers: ReadonlySet<string>) => void): Promise<ExpiryOutcome> {
    const hosts = new Map<string, ExpiryResult>();
    // the leases of hosts that died together expire together: their deletions reach the
    // caches over a few deliveries, which this pass waits for (Kubernetes' monitor pass runs every 5 s)
    await sleep(this.clock, EXPIRY_GATHER_MS);
    if (!(await this.#reads.caughtUp(CAUGHT_UP_TIMEOUT_MS))) {
      scanned(new Set());
      return { behind: true, hosts };
    }
    const now = this.clock.now();
    let due: { host: Host; message: string }[] = [];
    for (const host of await this.#reads.hosts()) {
      const name = host.metadata.name;
      if (host.spec.agent !== true || host.status?.ready === false) continue;
      const since = this.#lastSeen.get(name);
      // not reconciled yet: its own reconcile starts its grace
      if (since === undefined || (await this.#reads.hostLease(name)) !== undefined) continue;
      const seen = this.#leaseSeen.has(name);
      if (!seen && now - since < this.#agentGraceMs) continue;
      due.push({ host, message: agentLeaseGoneMessage(name, seen, now - since) });
    }
    scanned(new Set(due.map((d) => d.host.metadata.name)));
    if (due.length === 0) return { behind: false, hosts };

    // 2. NotReady, on the lease's absence
    const marked: { name: string; message: string }[] = [];
    const notReady = (cur: Host, message: string): Host => ({ ...cur, status: { ...cur.status, ready: false, lastTransition: this.#now(), message } });
    const leaseAbsent = (h: Host): KvCompare[] => [{ key: hostLeaseKey(h.metadata.name), modRevision: 0 }];
    for (let round = 0; due.length > 0; round++) {
      const changed: { name: string; message: string }[] = [];
      await Promise.all(
        chunks(due, BATCH_OBJECTS).map(async (batch) => {
          let results: (Host | Error)[];
          try {
            results = await this.store.hosts.updateMany(
              batch.map((d) => notReady(d.host, d.message)),
              { conditions: leaseAbsent },
            );
          } catch (e) {
            const error = e instanceof Error ? e : new Error(String(e));
            this.#logger?.warn('could not mark hosts NotReady; their reconciles retry', { hosts: batch.length, error });
            for (const d of batch) hosts.set(d.host.metadata.name, error);
            return;
          }
          results.forEach((r, k) => {
            const { host, message } = batch[k]!;
            const name = host.metadata.name;
            if (!(r instanceof Error)) {
              this.#reads.wrote('hosts', r.metadata.resourceVersion);
              hosts.set(name, 'marked');
              marked.push({ name, message });
            } else if (isConflictError(r) && r.key === hostLeaseKey(name)) hosts.set(name, 'lease held');
            else if (isConflictError(r) && round === 0) changed.push({ name, message });
            else if (isConflictError(r)) hosts.set(name, r);
            else hosts.set(name, 'skipped'); // deleted meanwhile: its reconcile evicts its instances
          });
        }),
      );
      // changed since the caches saw them: judged again as they are now
      due = [];
      for (const { name, message } of changed) {
        const cur = await this.store.hosts.get(name);
        if (cur?.spec.agent === true && cur.status?.ready !== false) due.push({ host: cur, message });
        else hosts.set(name, 'skipped');
      }
    }
    if (marked.length === 0) return { behind: false, hosts };
    void this.#events.record(marked.map(({ name, message }): EventRecord => ({ kind: 'Host', name, type: 'Warning', reason: 'HostNotReady', message })));

    // 3. the evictions, grouped by replica set
    const evict: Instance[] = [];
    for (const { name } of marked) for (const i of await this.#reads.instancesOn(name)) if (i.metadata.deletionTimestamp === undefined) evict.push(i);
    evict.sort((a, b) => (a.spec.replicaSet < b.spec.replicaSet ? -1 : a.spec.replicaSet > b.spec.replicaSet ? 1 : a.metadata.name < b.metadata.name ? -1 : 1));
    const batches = chunks(evict, BATCH_OBJECTS);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        try {
          const evicted = await this.#markDeletingMany(batch, (i) => `host ${i.spec.host} is NotReady`);
          void this.#events.record(
            evicted.map((i): EventRecord => ({ kind: 'Instance', name: i.metadata.name, type: 'Warning', reason: 'Rescheduled', message: `host ${i.spec.host} is NotReady: replacing the instance elsewhere` })),
          );
        } catch (e) {
          const error = e instanceof Error ? e : new Error(String(e));
          this.#logger?.warn('could not evict instances of NotReady hosts; their hosts retry', { instances: batch.length, error });
          for (const i of batch) hosts.set(i.spec.host, error);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(EVICT_IN_FLIGHT, batches.length) }, worker));
    this.#logger?.info('hosts whose agent leases are gone marked NotReady in one pass', { hosts: marked.length, evicted: evict.length, transactions: Math.ceil(marked.length / BATCH_OBJECTS) + batches.length });
    return { behind: false, hosts };
  }

  // ---------------------------------------------------------------- services

  /** Recomputes a service's endpoints and renders them where asked. */
  async reconcileService(name: string): Promise<{ requeueAfterMs?: number } | undefined> {
    if (!(await this.#reads.caughtUp(CAUGHT_UP_TIMEOUT_MS))) return { requeueAfterMs: BEHIND_REQUEUE_MS };
    if (name === ALL_SERVICES) {
      for (const s of await this.#reads.services()) await this.reconcileService(s.metadata.name);
      return undefined;
    }
    const svc = await this.#reads.service(name);
    if (!svc) return undefined;
    const hosts = new Map((await this.#reads.hosts()).map((h) => [h.metadata.name, h]));
    const endpoints = serviceEndpoints(svc, await this.#reads.instances(), (host) => {
      const h = hosts.get(host);
      return h ? this.runtime.addressOf(h) : undefined;
    });
    const rendered: Record<string, string> = { ...svc.status?.rendered };
    let failed = false;
    if (svc.spec.render) {
      const { content, digest } = renderEndpointsFile(endpoints);
      // an agent host's file is its agent's to write (locally, from status.endpoints)
      const targets = [...hosts.values()].filter((h) => h.spec.agent !== true && h.status?.ready === true && parseSelector(svc.spec.render!.hosts).matches(h.metadata.labels ?? {}));
      for (const h of targets) {
        if (rendered[h.metadata.name] === digest) continue;
        try {
          await this.runtime.writeFile(h, svc.spec.render.path, content);
          rendered[h.metadata.name] = digest;
          this.#event('Service', name, 'Normal', 'Rendered', `wrote ${endpoints.length} endpoint(s) to ${h.metadata.name}:${svc.spec.render.path}`);
        } catch (e) {
          failed = true;
          this.#event('Service', name, 'Warning', 'RenderFailed', `could not write to ${h.metadata.name}: ${errorText(e)}`);
        }
      }
    }
    const status = { endpoints, ...(svc.spec.render ? { rendered } : {}) };
    const { clusterIP: _ip, ...was } = svc.status ?? {};
    if (stableJson(status) !== stableJson(was)) {
      const stored = await this.store.services.mutate(name, (cur) => {
        // the virtual IP is the network controller's (leased by compare-and-set): kept as it is now
        // so is what an agent host's agent recorded of its render: kept as it is now
        const byAgents = Object.entries(cur.status?.rendered ?? {}).filter(([h]) => hosts.get(h)?.spec.agent === true);
        const merged = status.rendered ? { ...status, rendered: { ...status.rendered, ...Object.fromEntries(byAgents) } } : status;
        cur.status = { ...merged, ...(cur.status?.clusterIP !== undefined ? { clusterIP: cur.status.clusterIP } : {}) };
        return cur;
      });
      this.#reads.wrote('services', stored?.metadata.resourceVersion);
    }
    return failed ? { requeueAfterMs: this.#probeMs } : undefined;
  }

  // ---------------------------------------------------------------- network

  /**
   * The Network's leases: every host gets a pod subnet, every service with `ports` a virtual
   * IP (compare-and-set leases, see `network/leases.ts`); leases of deleted hosts and services
   * are released; without a Network, all of them are, and status forgets them.
   */
  async reconcileNetwork(): Promise<{ requeueAfterMs?: number } | undefined> {
    const [network] = await this.store.networks.items();
    let retry = false;
    if (network) {
      for (const h of await this.store.hosts.items()) {
        try {
          const before = h.status?.podSubnet;
          const subnet = await assignHostSubnet(this.store, network.spec, h.metadata.name);
          if (subnet !== undefined && subnet !== before) this.#event('Host', h.metadata.name, 'Normal', 'SubnetLeased', `${h.metadata.name} leases pod subnet ${subnet} of ${network.spec.podCIDR}`);
        } catch (e) {
          retry = true;
          this.#event('Host', h.metadata.name, 'Warning', 'SubnetUnavailable', errorText(e));
        }
      }
      for (const svc of await this.store.services.items()) {
        if (!svc.spec.ports) continue;
        try {
          const before = svc.status?.clusterIP;
          const ip = await assignClusterIp(this.store, network.spec, svc.metadata.name);
          if (ip !== undefined && ip !== before) this.#event('Service', svc.metadata.name, 'Normal', 'ClusterIPLeased', `virtual IP ${ip} of ${network.spec.serviceCIDR}`);
        } catch (e) {
          retry = true;
          this.#event('Service', svc.metadata.name, 'Warning', 'ClusterIPUnavailable', errorText(e));
        }
      }
    }
    await collectLeases(this.store, network?.spec, { keepClusterIp: (s) => s.spec.ports !== undefined });
    let requeueAfterMs: number | undefined;
    if (network && this.#networkDriver) {
      const r = await this.#driveHostNetworks(network, this.#networkDriver);
      if (r.failed) retry = true;
      requeueAfterMs = r.failed ? Math.min(1000, this.#probeMs) : this.#networkResyncMs;
    }
    if (network) await this.#writeNetworkStatus();
    if (requeueAfterMs !== undefined) return { requeueAfterMs: retry ? Math.min(requeueAfterMs, this.#retryMs) : requeueAfterMs };
    return retry ? { requeueAfterMs: this.#retryMs } : undefined;
  }

  /**
   * Makes every Ready host's network what the plan says: each host checked once for its
   * tools (refused with an event and in the Network's status when it lacks some), then the
   * whole plan applied when it changed, or when the last full apply is older than
   * `networkResyncMs`. A host that leaves the plans (NotReady, deleted) is forgotten, so when
   * it returns its state — stale rules included — is replaced in full.
   *
   * Each host has a runner of its own ({@link ClusterControllers.#submitNetwork}): this
   * reconcile hands it the newest plan and does not wait, so a host that hangs (its sshd
   * frozen, its link down) delays no other host's routes and rules — the others converge
   * while it times out. A runner applies only the newest plan it was given, and retries a
   * failed apply after `min(1 s, hostProbeIntervalMs)`.
   */
  async #driveHostNetworks(network: Network, driver: HostNetworkDriver): Promise<{ failed: boolean }> {
    const hosts = await this.store.hosts.items();
    const services = await this.store.services.items();
    const { plans, problems } = planHostNetworks(network.spec, hosts, services, (h) => this.runtime.addressOf(h));
    const planned = new Set(plans.map((p) => p.host));
    for (const name of [...this.#networkApplied.keys()]) if (!planned.has(name)) this.#networkApplied.delete(name);
    for (const name of [...this.#networkChecked]) if (!planned.has(name)) this.#networkChecked.delete(name);
    for (const name of [...this.#networkRunners.keys()]) if (!planned.has(name)) this.#networkRunners.delete(name);
    for (const name of [...this.#networkRefused.keys()]) if (!hosts.some((h) => h.metadata.name === name)) this.#networkRefused.delete(name);
    for (const p of problems) {
      if (this.#networkRefused.get(p.host) !== p.message) this.#event('Host', p.host, 'Warning', 'NetworkUnavailable', p.message);
      this.#networkRefused.set(p.host, p.message);
    }
    for (const plan of plans) this.#submitNetwork(hosts.find((h) => h.metadata.name === plan.host)!, plan, driver);
    return { failed: false };
  }

  /** Gives a host's runner its newest plan; starts the runner when it is idle. */
  #submitNetwork(host: Host, plan: HostNetworkPlan, driver: HostNetworkDriver): void {
    const name = host.metadata.name;
    let runner = this.#networkRunners.get(name);
    if (!runner) {
      runner = { host, plan, dirty: false, running: false };
      this.#networkRunners.set(name, runner);
    }
    runner.host = host;
    runner.plan = plan;
    runner.dirty = true;
    if (!runner.running) void this.#runNetwork(name, runner, driver);
  }

  async #runNetwork(name: string, runner: NetworkRunner, driver: HostNetworkDriver): Promise<void> {
    runner.running = true;
    try {
      while (runner.dirty && this.#networkRunners.get(name) === runner && this.#networkSignal?.aborted !== true) {
        runner.dirty = false;
        const ok = await this.#applyHostNetwork(runner, driver);
        if (!ok && !runner.dirty) {
          await sleep(this.clock, Math.min(1000, this.#probeMs));
          runner.dirty = true;
        }
      }
    } catch (e) {
      this.#logger?.warn('host network runner failed', { host: name, error: e });
    } finally {
      runner.running = false;
    }
  }

  /** Checks (once) and applies one host's plan; false when it failed (retried by its runner). */
  async #applyHostNetwork(runner: NetworkRunner, driver: HostNetworkDriver): Promise<boolean> {
    const { host, plan } = runner;
    const current = (): boolean => this.#networkRunners.get(plan.host) === runner;
    try {
      if (!this.#networkChecked.has(plan.host)) {
        const missing = await driver.check(host);
        if (!current()) return true;
        if (missing.length > 0) {
          const message = `${plan.host} cannot join the Network: it lacks ${missing.join('; ')}`;
          if (this.#networkRefused.get(plan.host) !== message) {
            this.#networkRefused.set(plan.host, message);
            this.#event('Host', plan.host, 'Warning', 'NetworkUnavailable', message);
            await this.#writeNetworkStatus();
          }
          return false;
        }
        this.#networkChecked.add(plan.host);
        if (this.#networkRefused.delete(plan.host)) await this.#writeNetworkStatus();
      }
      const now = this.clock.now();
      const digest = createHash('sha256').update(stableJson(plan)).digest('hex');
      const last = this.#networkApplied.get(plan.host);
      if (last?.digest === digest && now - last.at < this.#networkResyncMs) return true;
      // within the resync period, only what changed since the last apply is sent; else everything
      await driver.apply(host, plan, undefined, last !== undefined && now - last.at < this.#networkResyncMs ? { previous: last.plan } : {});
      if (!current()) return true;
      this.#networkApplied.set(plan.host, { digest, at: last !== undefined && now - last.at < this.#networkResyncMs ? last.at : now, plan });
      if (last === undefined) this.#event('Host', plan.host, 'Normal', 'NetworkReady', `${plan.routes.length} route(s), ${plan.services.length} virtual IP port(s), ${Object.keys(plan.dns.records).length} DNS name(s) on ${plan.bridgeAddress}`);
      return true;
    } catch (e) {
      this.#networkApplied.delete(plan.host);
      if (current()) this.#event('Host', plan.host, 'Warning', 'NetworkSyncFailed', errorText(e));
      return false;
    }
  }

  /** Writes the Network's status (leases, capacity, refused hosts) when it changed. */
  async #writeNetworkStatus(): Promise<void> {
    const [network] = await this.store.networks.items();
    if (!network) return;
    const leases = (await this.store.hosts.items()).filter((h) => h.status?.podSubnet !== undefined).length;
    const refused = Object.fromEntries([...this.#networkRefused].sort(([a], [b]) => (a < b ? -1 : 1)));
    const status = { leases, capacity: subnetCapacity(network.spec), ...(Object.keys(refused).length > 0 ? { refused } : {}) };
    if (stableJson(status) !== stableJson(network.status ?? {}))
      await this.store.networks.mutate(network.metadata.name, (cur) => {
        cur.status = status;
        return cur;
      });
  }

  // ---------------------------------------------------------------- running

  /**
   * Builds the five controllers (not started). Inside `run` (with caches) they share its
   * informers; built outside it, each watches the store itself and reconciles read the store.
   */
  controllers(): Controller[] {
    const opts = {
      clock: this.clock,
      concurrency: this.#concurrency,
      ...(this.#logger ? { logger: this.#logger } : {}),
      ...(this.#metrics ? { metrics: this.#metrics } : {}),
    };
    const byName = <T extends { metadata: { name: string } }>(o: T): string => o.metadata.name;
    const { store } = this;
    const caches = this.#reads instanceof ClusterCaches ? this.#reads : undefined;
    const hosts: Source<Host> | WatchableStore<Host> = caches?.hostsInformer.source() ?? store.hosts;
    const instances = (): Source<Instance> | WatchableStore<Instance> => caches?.instancesInformer.source() ?? store.instances;
    // an agent host is reconciled when its lease comes or goes (see #reconcileAgentHost)
    const leases = caches?.leasesInformer.source() ?? hostLeasesStore(store.kv);
    return [
      controller('replicasets')
        .watches(caches?.replicaSetsInformer.source() ?? store.replicaSets, byName)
        .watches(instances(), (i: Instance) => i.spec.replicaSet)
        .withOptions({ ...opts, concurrency: Math.max(this.#concurrency, REPLICASET_WORKERS) })
        .complete((key) => this.reconcileReplicaSet(key)),
      controller('instances')
        .watches(instances(), byName)
        .withOptions(opts)
        .complete((key) => this.reconcileInstance(key)),
      controller('hosts')
        .watches(hosts, byName, { predicates: [(e) => e.type !== 'modified' || stableJson(e.object.spec) !== stableJson(e.oldObject?.spec)] })
        .watches(leases, (_lease, e) => e.key.slice(HOST_LEASE_PREFIX.length))
        // a host's reconcile waits on a probe or on the store: more workers, so that a hundred
        // hosts going NotReady together are evicted in parallel, not four at a time
        .withOptions({ ...opts, concurrency: Math.max(this.#concurrency, HOST_WORKERS) })
        .complete((key) => this.reconcileHost(key)),
      controller('services')
        .watches(caches?.servicesInformer.source() ?? store.services, byName)
        .watches(instances(), () => ALL_SERVICES)
        .watches(caches?.hostsInformer.source() ?? store.hosts, () => ALL_SERVICES)
        .withOptions(opts)
        .complete((key) => this.reconcileService(key)),
      controller('network')
        .watches(store.networks, () => NETWORK_KEY)
        .watches(caches?.hostsInformer.source() ?? store.hosts, () => NETWORK_KEY, {
          predicates: [
            (e) =>
              e.type !== 'modified' ||
              e.object.status?.podSubnet !== e.oldObject?.status?.podSubnet ||
              e.object.status?.ready !== e.oldObject?.status?.ready ||
              stableJson(e.object.spec) !== stableJson(e.oldObject?.spec),
          ],
        })
        .watches(caches?.servicesInformer.source() ?? store.services, () => NETWORK_KEY)
        .withOptions({ ...opts, concurrency: 1 })
        .complete(() => this.reconcileNetwork()),
    ];
  }

  /**
   * Runs every controller until `signal` aborts. With caches (the default), first lists each
   * kind once into informers and acts only once all of them have synced.
   */
  async run(signal: AbortSignal): Promise<void> {
    return this.#run(signal, undefined);
  }

  /** `run`, on caches already running (`live`, kept across leadership terms) or on its own. */
  async #run(signal: AbortSignal, live: LiveCaches | undefined): Promise<void> {
    this.#networkSignal = signal;
    try {
      await this.store.ensureIndexes();
    } catch (e) {
      this.#logger?.warn('could not bring the per-host instance index up to date; agents may miss instances written by an older flo', { error: e });
    }
    if (!this.#useCaches) {
      await Promise.all(this.controllers().map((c) => c.run(signal)));
      await this.#events.flush();
      return;
    }
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) stop.abort();
    // caches of this run alone, unless kept across leadership terms (runWithLeaderElection)
    // (kept caches are the reads of runWithLeaderElection's whole lifetime: a term that ends
    // — its last reconciles finishing while the next term runs — leaves them in place)
    const own = live === undefined ? this.#startCaches(stop.signal) : undefined;
    const { caches } = live ?? own!;
    const before = this.#reads;
    if (own) this.#reads = own.caches;
    try {
      if (await caches.waitForSync(stop.signal)) {
        if (own) this.#placement = own.placement;
        await Promise.all(this.controllers().map((c) => c.run(signal)));
      }
    } finally {
      if (own) this.#placement = undefined;
      stop.abort();
      signal.removeEventListener('abort', onAbort);
      await own?.done;
      if (own) this.#reads = before;
      // the events the controllers queued are written before `run` returns (at most 5 s more)
      const waited = new AbortController();
      await Promise.race([this.#events.flush(), sleep(this.clock, 5000, waited.signal)]);
      waited.abort();
    }
  }

  /**
   * Starts the informer caches (one paged list, then one watch per kind) and, unless a
   * placer was given, the scheduler's {@link PlacementCache} fed by them; they run until
   * `signal` aborts (`done` resolves then).
   */
  #startCaches(signal: AbortSignal): LiveCaches {
    const caches = new ClusterCaches(this.store, { clock: this.clock, ...(this.#logger ? { logger: this.#logger } : {}) });
    const informing = caches.run(signal);
    const unfeed: (() => void)[] = [];
    let placement: PlacementCache | undefined;
    if (this.#placer === undefined) {
      // the scheduler cache, fed by the informers' events
      const cache = new PlacementCache();
      // an agent host whose lease is gone is fed as not Ready at once (see #placeableHosts)
      const feedHost = (host: Host): void => {
        const leaseGone = host.spec.agent === true && host.status?.ready === true && caches.leasesInformer.getEntry(hostLeaseKey(host.metadata.name)) === undefined;
        cache.setHost(leaseGone ? { ...host, status: { ...host.status!, ready: false } } : host);
      };
      unfeed.push(
        caches.hostsInformer.addHandler({ onEvent: (e) => (e.type === 'deleted' ? cache.removeHost(e.object.metadata.name) : feedHost(e.object)) }),
        caches.leasesInformer.addHandler({
          onEvent: (e) => {
            const host = caches.hostsInformer.get(this.store.hosts.keyOf(e.key.slice(HOST_LEASE_PREFIX.length)));
            if (host) feedHost(host);
          },
        }),
        caches.instancesInformer.addHandler({ onEvent: (e) => (e.type === 'deleted' ? cache.removeInstance(e.object.metadata.name) : cache.setInstance(e.object)) }),
      );
      placement = cache;
    }
    const done = informing.then(() => {
      for (const f of unfeed) f();
    });
    return { caches, placement, done };
  }

  /**
   * Runs the controllers only while this process holds the leader lease
   * (`/flotilla/v1/leases/controller`), so several `flo controller` can run with one active.
   */
  async runWithLeaderElection(options: {
    identity: string;
    signal: AbortSignal;
    leaseDurationMs?: number;
    renewDeadlineMs?: number;
    retryPeriodMs?: number;
    onLeading?: (leading: boolean) => void;
    /** Receives the elector before it runs (readiness: `isLeader()`, `lastStoreContact()`). */
    onElector?: (elector: LeaderElector) => void;
  }): Promise<void> {
    // The caches live as long as this process, leader or not (Kubernetes' controller-manager
    // starts its informers before the election): a leader that loses its lease and wins it
    // back starts its controllers on caches kept current all along — no second list of the
    // world (at 150,000 instances, a list a loaded store may not answer in time).
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    options.signal.addEventListener('abort', onAbort, { once: true });
    if (options.signal.aborted) stop.abort();
    const live = this.#useCaches ? this.#startCaches(stop.signal) : undefined;
    // LeaderElector does not wait for a term's onStartedLeading to end before the next one:
    // the reads and the placement cache are set once, for every term
    const before = { reads: this.#reads, placement: this.#placement };
    if (live) {
      this.#reads = live.caches;
      this.#placement = live.placement;
    }
    const elector = new LeaderElector({
      store: this.store.leases,
      key: keyOf('Lease', 'controller'),
      identity: options.identity,
      clock: this.clock,
      ...(this.#logger ? { logger: this.#logger } : {}),
      ...(options.leaseDurationMs !== undefined ? { leaseDurationMs: options.leaseDurationMs } : {}),
      ...(options.renewDeadlineMs !== undefined ? { renewDeadlineMs: options.renewDeadlineMs } : {}),
      ...(options.retryPeriodMs !== undefined ? { retryPeriodMs: options.retryPeriodMs } : {}),
      onStartedLeading: async ({ signal }) => {
        options.onLeading?.(true);
        await this.#run(signal, live);
      },
      onStoppedLeading: () => options.onLeading?.(false),
    });
    options.onElector?.(elector);
    try {
      await elector.run(options.signal);
    } finally {
      stop.abort();
      options.signal.removeEventListener('abort', onAbort);
      await live?.done;
      this.#reads = before.reads;
      this.#placement = before.placement;
    }
  }

  /** The current leader lease holder, when it is held and fresh. */
  async leaseHolder(): Promise<string | undefined> {
    const record = (await this.store.leases.get(keyOf('Lease', 'controller')))?.object;
    if (!record || record.holderIdentity === '') return undefined;
    return record.holderIdentity;
  }
}

function positive(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new TypeError(`${name}: expected a positive number, received ${String(value)}`);
  return value;
}

// The dashboard's view of the store: each kind listed once, then watched (reconcile's
// storeSource: list, watch from the next revision, re-list after a lost watch), kept as the
// compact rows of protocol.ts. Changes are coalesced for `flushIntervalMs` and handed to every
// subscriber as one delta, so a burst of store writes is one message to each page, and a
// write that changes nothing the page draws (a heartbeat, a resourceVersion) is no message.
import { silentLogger, storeSource, systemClock, type WatchableStore } from '@flotilla/reconcile';
import { hostSummary, replicaSetView, selectorInputText, serviceSelectors, templateHash, toSchedulerUnits, type ClusterEvent, type Host, type Instance, type ReplicaSet, type Service } from '@flotilla/cluster';
import { EVENT_LIMIT, UI_KINDS, type UiDelta, type UiEvent, type UiHost, type UiInstance, type UiKind, type UiReplicaSet, type UiService, type UiSnapshot, type UiState } from './protocol.js';

/** The stores the feed follows (a ClusterStore has them all). */
export interface FeedStores {
  hosts: WatchableStore<Host>;
  instances: WatchableStore<Instance>;
  replicaSets: WatchableStore<ReplicaSet>;
  services: WatchableStore<Service>;
  events: WatchableStore<ClusterEvent>;
}

export interface FeedOptions {
  /** How long changes are gathered before one delta goes out. @default 50 */
  flushIntervalMs?: number;
  /** Told when a watch is lost and the kind is listed again. */
  onRestart?: (kind: UiKind, reason: string) => void;
}

function units(resources: Record<string, string | number> | undefined): Record<string, number> {
  try {
    return toSchedulerUnits(resources ?? {});
  } catch {
    return {}; // a bad quantity is the validator's to report; the picture shows nothing allocated
  }
}

export function hostRow(h: Host): UiHost {
  const cap = units(h.spec.capacity);
  return {
    ...hostSummary(h),
    capacity: { ...(cap.cpu !== undefined ? { cpu: cap.cpu } : {}), ...(cap.memory !== undefined ? { memory: cap.memory } : {}) },
    ...(h.status?.load1 !== undefined ? { load1: h.status.load1 } : {}),
    ...(h.status?.message !== undefined ? { message: h.status.message } : {}),
  };
}

export function instanceRow(i: Instance): UiInstance {
  const req = units(i.spec.template.resources);
  const s = i.status;
  return {
    name: i.metadata.name,
    replicaSet: i.spec.replicaSet,
    host: i.spec.host,
    phase: i.metadata.deletionTimestamp !== undefined ? 'Terminating' : (s?.phase ?? 'Pending'),
    ready: s?.ready ?? false,
    restarts: s?.restarts ?? 0,
    ...(s?.pid !== undefined ? { pid: s.pid } : {}),
    cpu: req.cpu ?? 0,
    memory: req.memory ?? 0,
    templateHash: i.spec.templateHash,
    ports: s?.ports ?? {},
    ...(s?.startedAt !== undefined ? { startedAt: s.startedAt } : {}),
    ...(s?.message !== undefined ? { message: s.message } : i.metadata.deletionReason !== undefined ? { message: i.metadata.deletionReason } : {}),
  };
}

export function replicaSetRow(r: ReplicaSet): UiReplicaSet {
  let hash: string | undefined;
  try {
    hash = templateHash(r.spec.template);
  } catch {
    hash = r.status?.currentTemplateHash;
  }
  // `flo get replicasets`' view, and what the dashboard shows besides
  return {
    ...replicaSetView(r),
    generation: r.metadata.generation ?? 0,
    ...(hash !== undefined ? { templateHash: hash } : {}),
    ...(r.status?.rollout !== undefined ? { rollout: { ...r.status.rollout } } : {}),
    history: (r.status?.history ?? []).map((h) => h.hash),
  };
}

/** A service's virtual IP: `status.clusterIP`, leased from the Network (none without one). */
function vipOf(s: Service): string | undefined {
  const v = s.status?.clusterIP;
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function serviceRow(s: Service): UiService {
  const vip = vipOf(s);
  return {
    name: s.metadata.name,
    selector: serviceSelectors(s.spec).map(selectorInputText).join(' OR '),
    port: s.spec.ports ? s.spec.ports.map((p) => `${p.port}→${String(p.targetPort ?? p.port)}`).join(', ') : String(s.spec.port ?? ''),
    endpoints: (s.status?.endpoints ?? []).map((e) => ({ instance: e.instance, address: e.address, port: e.port })),
    ...(vip !== undefined ? { vip } : {}),
    hostnames: s.spec.hostnames ?? [],
  };
}

export function eventRow(e: ClusterEvent): UiEvent {
  return { name: e.metadata.name, kind: e.involved.kind, object: e.involved.name, type: e.type, reason: e.reason, message: e.message, time: e.time };
}

type Row = UiState[UiKind][number];
const converters: { [K in UiKind]: (o: never) => UiState[K][number] } = {
  hosts: hostRow,
  instances: instanceRow,
  replicaSets: replicaSetRow,
  services: serviceRow,
  events: eventRow,
};

/**
 * The store, as the dashboard draws it. Guarantees: every subscriber gets every delta, in
 * order, numbered one after the other (`seq`); a snapshot taken at subscription time plus the
 * deltas after it is the store (a delta may repeat a row the snapshot already had: upserts are
 * idempotent); a row is in a delta only when a field the page draws changed; `ready` resolves
 * once every kind has been listed, and deltas start only then.
 */
export class UiFeed {
  readonly #rows = new Map<UiKind, Map<string, { row: Row; json: string }>>(UI_KINDS.map((k) => [k, new Map()]));
  readonly #pending = new Map<UiKind, Map<string, Row | null>>(UI_KINDS.map((k) => [k, new Map()]));
  readonly #subscribers = new Set<(d: UiDelta) => void>();
  readonly #flushMs: number;
  readonly #options: FeedOptions;
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  #synced = 0;
  #ready!: () => void;
  /** Resolves once every kind has been listed. */
  readonly ready = new Promise<void>((resolve) => (this.#ready = resolve));

  constructor(options: FeedOptions = {}) {
    this.#flushMs = options.flushIntervalMs ?? 50;
    this.#options = options;
  }

  get synced(): boolean {
    return this.#synced >= UI_KINDS.length;
  }

  /** Follows the stores until `signal` aborts. */
  run(stores: FeedStores, signal: AbortSignal): Promise<void> {
    return Promise.all(UI_KINDS.map((kind) => this.#follow(kind, stores[kind] as WatchableStore<never>, signal))).then(() => {
      if (this.#timer) clearTimeout(this.#timer);
    });
  }

  #follow(kind: UiKind, store: WatchableStore<never>, signal: AbortSignal): Promise<void> {
    const convert = converters[kind] as (o: never) => Row;
    let listed = false;
    return storeSource(store, { name: kind }).run({
      emit: (e) => {
        const name = (e.object as { metadata: { name: string } }).metadata.name;
        if (e.type === 'deleted') this.#change(kind, name, null);
        else this.#change(kind, name, convert(e.object));
      },
      signal,
      clock: systemClock,
      logger: silentLogger,
      synced: () => {
        if (listed) return;
        listed = true;
        if (++this.#synced === UI_KINDS.length) {
          this.#flush(); // the first lists are the snapshot, not a delta
          this.#ready();
        }
      },
      restarted: (reason) => this.#options.onRestart?.(kind, reason),
    });
  }

  #change(kind: UiKind, name: string, row: Row | null): void {
    const rows = this.#rows.get(kind)!;
    const before = rows.get(name);
    if (row === null) {
      if (before === undefined) return;
      rows.delete(name);
    } else {
      const json = JSON.stringify(row);
      if (before?.json === json) return;
      rows.set(name, { row, json });
    }
    this.#pending.get(kind)!.set(name, row);
    if (this.synced && this.#timer === undefined) this.#timer = setTimeout(() => this.#flush(), this.#flushMs);
  }

  #flush(): void {
    this.#timer = undefined;
    const delta: UiDelta = { seq: 0, upsert: {}, remove: {} };
    let any = false;
    for (const [kind, changes] of this.#pending) {
      if (changes.size === 0) continue;
      const up: Row[] = [];
      const rm: string[] = [];
      for (const [name, row] of changes) if (row === null) rm.push(name);
      else up.push(row);
      changes.clear();
      if (up.length > 0) (delta.upsert as Record<string, Row[]>)[kind] = up;
      if (rm.length > 0) delta.remove[kind] = rm;
      any = true;
    }
    if (!any || !this.synced) return;
    delta.seq = ++this.#seq;
    for (const s of this.#subscribers) s(delta);
  }

  /** Everything now (events: the newest {@link EVENT_LIMIT}, oldest first). */
  snapshot(): UiSnapshot {
    const all = <K extends UiKind>(k: K): UiState[K] => [...this.#rows.get(k)!.values()].map((r) => r.row) as UiState[K];
    const events = all('events')
      .sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0))
      .slice(-EVENT_LIMIT);
    return { seq: this.#seq, hosts: all('hosts'), instances: all('instances'), replicaSets: all('replicaSets'), services: all('services'), events };
  }

  /** One row, or undefined. */
  get<K extends UiKind>(kind: K, name: string): UiState[K][number] | undefined {
    return this.#rows.get(kind)!.get(name)?.row;
  }

  /** Calls `fn` with each delta from now on; returns the unsubscribe function. */
  subscribe(fn: (d: UiDelta) => void): () => void {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }
}

// The page's copy of the cluster: filled by the `snapshot` event of /api/stream, kept by its
// `delta` events (no polling). Indexes kept incrementally: instances by host, hosts sorted.
import type { UiDelta, UiEvent, UiHost, UiInstance, UiReplicaSet, UiService, UiSnapshot } from '../../src/ui/protocol.ts';
import { EVENT_LIMIT } from '../../src/ui/protocol.ts';

export type Connection = 'connecting' | 'live' | 'reconnecting' | 'refused';

export class ClusterModel {
  hosts = new Map<string, UiHost>();
  instances = new Map<string, UiInstance>();
  replicaSets = new Map<string, UiReplicaSet>();
  services = new Map<string, UiService>();
  events: UiEvent[] = [];
  /** host name → its instances' names (in name order once sorted). */
  readonly #byHost = new Map<string, Set<string>>();
  #hostOrder: string[] | undefined;
  #sortedByHost = new Map<string, UiInstance[]>();
  /** Bumped on every change; views re-render on it. */
  version = 0;
  seq = -1;
  loaded = false;
  connection: Connection = 'connecting';
  readonly #listeners = new Set<() => void>();

  subscribe(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #changed(): void {
    this.version++;
    for (const l of this.#listeners) l();
  }

  setConnection(c: Connection): void {
    if (this.connection === c) return;
    this.connection = c;
    this.#changed();
  }

  applySnapshot(s: UiSnapshot): void {
    this.hosts = new Map(s.hosts.map((h) => [h.name, h]));
    this.instances = new Map();
    this.#byHost.clear();
    for (const i of s.instances) this.#putInstance(i);
    this.replicaSets = new Map(s.replicaSets.map((r) => [r.name, r]));
    this.services = new Map(s.services.map((x) => [x.name, x]));
    this.events = s.events.slice(-EVENT_LIMIT);
    this.#hostOrder = undefined;
    this.#sortedByHost.clear();
    this.seq = s.seq;
    this.loaded = true;
    this.#changed();
  }

  applyDelta(d: UiDelta): void {
    const u = d.upsert;
    const r = d.remove;
    for (const h of u.hosts ?? []) {
      if (!this.hosts.has(h.name)) this.#hostOrder = undefined;
      this.hosts.set(h.name, h);
    }
    for (const name of r.hosts ?? []) {
      this.hosts.delete(name);
      this.#hostOrder = undefined;
    }
    for (const i of u.instances ?? []) this.#putInstance(i);
    for (const name of r.instances ?? []) this.#dropInstance(name);
    for (const x of u.replicaSets ?? []) this.replicaSets.set(x.name, x);
    for (const name of r.replicaSets ?? []) this.replicaSets.delete(name);
    for (const x of u.services ?? []) this.services.set(x.name, x);
    for (const name of r.services ?? []) this.services.delete(name);
    if (u.events || r.events) {
      const byName = new Map(this.events.map((e) => [e.name, e]));
      for (const e of u.events ?? []) byName.set(e.name, e);
      for (const name of r.events ?? []) byName.delete(name);
      this.events = [...byName.values()].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0)).slice(-EVENT_LIMIT);
    }
    this.seq = d.seq;
    this.#changed();
  }

  #putInstance(i: UiInstance): void {
    const before = this.instances.get(i.name);
    if (before && before.host !== i.host) this.#dropInstance(i.name);
    this.instances.set(i.name, i);
    let set = this.#byHost.get(i.host);
    if (!set) this.#byHost.set(i.host, (set = new Set()));
    set.add(i.name);
    this.#sortedByHost.delete(i.host);
  }

  #dropInstance(name: string): void {
    const i = this.instances.get(name);
    if (!i) return;
    this.instances.delete(name);
    this.#byHost.get(i.host)?.delete(name);
    this.#sortedByHost.delete(i.host);
  }

  /** Host names, sorted naturally (h2 before h10). */
  hostNames(): string[] {
    this.#hostOrder ??= [...this.hosts.keys()].sort(naturalCompare);
    return this.#hostOrder;
  }

  /** A host's instances, by replica set then name (cached until one of them changes). */
  instancesOn(host: string): UiInstance[] {
    let list = this.#sortedByHost.get(host);
    if (!list) {
      list = [...(this.#byHost.get(host) ?? [])].map((n) => this.instances.get(n)!).sort((a, b) => a.replicaSet.localeCompare(b.replicaSet) || naturalCompare(a.name, b.name));
      this.#sortedByHost.set(host, list);
    }
    return list;
  }

  /** Requests of a host's instances (not Terminating): millicores and MiB. */
  allocated(host: string): { cpu: number; memory: number } {
    let cpu = 0;
    let memory = 0;
    for (const i of this.instancesOn(host)) {
      if (i.phase === 'Terminating') continue;
      cpu += i.cpu;
      memory += i.memory;
    }
    return { cpu, memory };
  }
}

const collator = new Intl.Collator('en', { numeric: true });
export function naturalCompare(a: string, b: string): number {
  return collator.compare(a, b);
}

/** A stable colour per replica set (hue from its name), so one set reads as one colour everywhere. */
export function replicaSetHue(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return (h >>> 0) % 360;
}

export function cpuText(milli: number): string {
  return milli % 1000 === 0 ? `${milli / 1000}` : `${(milli / 1000).toFixed(milli % 100 === 0 ? 1 : 2)}`;
}

export function memoryText(mib: number): string {
  if (mib >= 1024 && mib % 1024 === 0) return `${mib / 1024}Gi`;
  if (mib >= 1024) return `${(mib / 1024).toFixed(1)}Gi`;
  return `${mib}Mi`;
}

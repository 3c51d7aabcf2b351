// flotilla_instances{phase} and flotilla_hosts{ready}: kept from a watch of the store (list,
// then watch, re-list on loss: reconcile's storeSource), so a scrape costs a walk over two
// small maps and never a store round-trip.
import { Gauge, type Registry } from 'prom-client';
import { silentLogger, storeSource, systemClock, type WatchableStore } from '@flotilla/reconcile';
import type { Host, Instance } from '@flotilla/cluster';

const PHASES = ['Pending', 'Starting', 'Running', 'Failed', 'Terminating', 'Unknown'] as const;

function follow<T>(store: WatchableStore<T>, name: string, signal: AbortSignal, into: Map<string, T>, onSynced: () => void): Promise<void> {
  return storeSource(store, { name }).run({
    emit: (e) => {
      if (e.type === 'deleted') into.delete(e.key);
      else into.set(e.key, e.object);
    },
    signal,
    clock: systemClock,
    logger: silentLogger,
    synced: onSynced,
    restarted: () => undefined,
  });
}

/** Registers the two gauges and follows the store until `signal` aborts. `synced()` tells whether both lists arrived. */
export function clusterMetrics(registry: Registry, stores: { hosts: WatchableStore<Host>; instances: WatchableStore<Instance> }, signal: AbortSignal): { synced(): boolean; done: Promise<void> } {
  const instances = new Map<string, Instance>();
  const hosts = new Map<string, Host>();
  let syncedLists = 0;
  new Gauge({
    name: 'flotilla_instances',
    help: 'Instances in the store, by phase (Pending until a host reports one).',
    labelNames: ['phase'],
    registers: [registry],
    collect() {
      const counts = new Map<string, number>(PHASES.map((p) => [p, 0]));
      for (const i of instances.values()) {
        const phase = i.status?.phase ?? 'Pending';
        counts.set(phase, (counts.get(phase) ?? 0) + 1);
      }
      for (const [phase, n] of counts) this.set({ phase }, n);
    },
  });
  new Gauge({
    name: 'flotilla_hosts',
    help: 'Hosts in the store, by readiness ("true" answered its last probes, "false" NotReady or never probed).',
    labelNames: ['ready'],
    registers: [registry],
    collect() {
      let ready = 0;
      for (const h of hosts.values()) if (h.status?.ready === true) ready++;
      this.set({ ready: 'true' }, ready);
      this.set({ ready: 'false' }, hosts.size - ready);
    },
  });
  const done = Promise.all([
    follow(stores.instances, 'instances', signal, instances, () => syncedLists++),
    follow(stores.hosts, 'hosts', signal, hosts, () => syncedLists++),
  ]).then(() => undefined);
  return { synced: () => syncedLists >= 2, done };
}

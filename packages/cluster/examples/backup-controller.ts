// A controller of your own, embedded in your program: a kind `Backup` kept in Flotilla's
// stores (etcd, the Raft KV, or a local file store), and a reconcile loop that runs each
// backup on its schedule, leader-elected so several copies can run with one active.
// The guide docs/guides/embed-a-reconcile-loop.md walks through it; its code blocks are
// this file's regions, and test/examples.test.ts runs it against etcd and the Raft KV.
//
// Run it: node --import tsx examples/backup-controller.ts etcd://127.0.0.1:2379

// #region kind
import { defineKind, type ObjectMeta, type ResourceIssue } from '@flotilla/cluster';

export interface Backup {
  apiVersion: 'example.com/v1';
  kind: 'Backup';
  metadata: ObjectMeta;
  spec: { database: string; everyMinutes: number };
  status?: { runs: number; lastRunAt: string; observedGeneration?: number };
}

export const BackupKind = defineKind<Backup>({
  apiVersion: 'example.com/v1',
  kind: 'Backup',
  plural: 'backups', // keys: /flotilla/example.com/v1/backups/<name>
  validate(backup) {
    const issues: ResourceIssue[] = [];
    if (!backup.spec?.database) issues.push({ path: 'spec.database', message: 'is required' });
    const every = backup.spec?.everyMinutes;
    if (!Number.isInteger(every) || every < 1) issues.push({ path: 'spec.everyMinutes', message: `must be a whole number of minutes >= 1, not ${String(every)}` });
    return issues;
  },
});
// #endregion kind

// #region reconciler
import { controller, type Controller } from '@flotilla/reconcile';
import type { ResourceStore } from '@flotilla/cluster';

/** Runs each Backup when it is due, and records the run in its status. */
export function backupController(
  backups: ResourceStore<Backup>,
  runBackup: (backup: Backup, signal: AbortSignal) => Promise<void>,
  now: () => number = Date.now,
): Controller {
  return controller('backups')
    .watches(backups, (backup) => backup.metadata.name) // an event for a Backup → its name
    .complete(async (name, { signal }) => {
      // Level-based: read the whole object, whatever the event was.
      const backup = await backups.get(name);
      if (!backup) return; // deleted: nothing to run
      const everyMs = backup.spec.everyMinutes * 60_000;
      const last = backup.status ? Date.parse(backup.status.lastRunAt) : 0;
      const changed = backup.status?.observedGeneration !== backup.metadata.generation;
      if (!changed && now() - last < everyMs) return { requeueAfterMs: last + everyMs - now() };
      await runBackup(backup, signal);
      // Compare-and-set on resourceVersion, retried from the fresh object on conflict.
      await backups.mutate(name, (current) => ({
        ...current,
        status: { runs: (current.status?.runs ?? 0) + 1, lastRunAt: new Date(now()).toISOString(), observedGeneration: current.metadata.generation ?? 1 },
      }));
      return { requeueAfterMs: everyMs };
    });
}
// #endregion reconciler

// #region main
import { LeaderElector } from '@flotilla/reconcile';
import { openStore } from '@flotilla/cluster';
import { hostname } from 'node:os';

export interface MainOptions {
  signal: AbortSignal;
  runBackup: (backup: Backup, signal: AbortSignal) => Promise<void>;
  /** Who this process is, for the leader lease. @default host name and pid */
  identity?: string;
}

/** Opens the store a URL names (`etcd://…`, `flotilla://…`, `file:///…`) and runs the controller while leading. */
export async function main(storeUrl: string, options: MainOptions): Promise<void> {
  const store = await openStore(storeUrl);
  try {
    const backups = store.register(BackupKind); // ResourceStore<Backup>: a reconcile WatchableStore<Backup>
    const elector = new LeaderElector({
      store: store.leases, // reconcile's CompareAndSetStore<LeaseRecord>, on the same store
      key: '/flotilla/example.com/v1/leases/backup-controller',
      identity: options.identity ?? `${hostname()}-${process.pid}`,
      onStartedLeading: ({ signal }) => backupController(backups, options.runBackup).run(signal),
    });
    await elector.run(options.signal);
  } finally {
    await store.close();
  }
}
// #endregion main

// #region client
/** What another program does to ask for a backup: create the object, in the same store. */
export async function scheduleBackup(storeUrl: string, name: string, database: string, everyMinutes: number): Promise<Backup> {
  const store = await openStore(storeUrl);
  try {
    return await store.register(BackupKind).create({
      apiVersion: 'example.com/v1',
      kind: 'Backup',
      metadata: { name },
      spec: { database, everyMinutes },
    });
  } finally {
    await store.close();
  }
}
// #endregion client

// #region cli
import { pathToFileURL } from 'node:url';

if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const url = process.argv[2] ?? 'file:///tmp/backups-store';
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  await main(url, {
    signal: stop.signal,
    runBackup: async (backup) => {
      process.stdout.write(`backing up ${backup.spec.database} (${backup.metadata.name})\n`);
      await Promise.resolve();
    },
  });
}
// #endregion cli

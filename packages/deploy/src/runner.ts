/**
 * Running deployfile tasks on selected hosts: what `flo deploy:app` does, as a library call.
 * Tasks run in the order given; each per-host task runs under the {@link GroupOptions} policy,
 * with the host's deploy lock held; the run stops after the first task that fails anywhere.
 */
import { Connection, type ConnectionOptions } from './connection.js';
import { DeployError } from './errors.js';
import { gatherFacts, orderByLoad } from './facts.js';
import { runOnHosts, type GroupOptions, type GroupResult } from './group.js';
import { connectHost, isEmptySelection, selectHosts, type HostRef, type HostSelection, type InventoryHost } from './inventory.js';
import { withDeployLock } from './lock.js';
import type { SshOptions } from './ssh-target.js';
import { taskArguments, type LoadedTask, type TaskInvocation } from './task.js';
import type { HostWorkerPool } from './workers/pool.js';

/** Options of {@link runTasks}. */
export interface RunTasksOptions extends GroupOptions {
  tasks: ReadonlyMap<string, LoadedTask>;
  invocations: readonly TaskInvocation[];
  /** Hosts chosen on the command line (empty: each task's `hosts` option). */
  selection: HostSelection;
  inventory: readonly InventoryHost[];
  /** Connection settings for every host. */
  ssh?: SshOptions & Omit<ConnectionOptions, 'onOutput'>;
  /** `lowest-load`: run each per-host task only on the selected host with the lowest load per core. */
  place?: 'lowest-load';
  /** Hold the per-host deploy lock around each per-host task. @default true */
  lock?: boolean;
  /** Working directory of `once` tasks. @default process.cwd() */
  cwd?: string;
  /** Live output of commands, per host. */
  onOutput?: (host: string, line: string, stream: 'stdout' | 'stderr') => void;
  onTaskStart?: (task: string, hosts: string[]) => void;
  /** Warnings (e.g. a stale deploy lock removed). @default `ssh.onWarning` */
  onWarning?: (message: string) => void;
  /**
   * Runs per-host tasks (and `--place` fact gathering) in these host worker threads instead of
   * this thread. The pool must have been made with the same deployfile.
   */
  pool?: HostWorkerPool;
  /** Supplies the connection of a host (the caller then owns and closes it). @default connections made from `ssh` and closed at the end */
  connect?: (ref: HostRef) => Connection;
}

/** One task's outcome. */
export interface TaskRunResult {
  task: string;
  result: GroupResult;
}

/** Runs the invocations; returns one entry per task run (stops after a failed one). */
export async function runTasks(options: RunTasksOptions): Promise<TaskRunResult[]> {
  for (const inv of options.invocations) {
    if (!options.tasks.has(inv.name)) {
      const known = [...options.tasks.keys()].join(', ') || 'none';
      throw new DeployError('task-arguments', `no task named "${inv.name}" in the deployfile (tasks: ${known}); flo --list shows them`);
    }
  }
  const connections = new Map<string, Connection>();
  const connect = (ref: HostRef): Connection => {
    if (options.connect) return options.connect(ref);
    let c = connections.get(ref.name);
    if (!c) {
      c = connectHost(ref, {
        ...options.ssh,
        ...(options.onOutput ? { onOutput: (line: string, stream: 'stdout' | 'stderr') => options.onOutput!(ref.name, line, stream) } : {}),
      });
      connections.set(ref.name, c);
    }
    return c;
  };
  const out: TaskRunResult[] = [];
  try {
    for (const inv of options.invocations) {
      const loaded = options.tasks.get(inv.name)!;
      const args = taskArguments(inv);
      if (loaded.task.once) {
        options.onTaskStart?.(inv.name, ['local']);
        const local = Connection.localDir(options.cwd ?? process.cwd(), {
          name: 'local',
          setHome: false,
          ...(options.onOutput ? { onOutput: (line: string, stream: 'stdout' | 'stderr') => options.onOutput!('local', line, stream) } : {}),
        });
        const result = await runOnHosts(['local'], () => Promise.resolve(loaded.task.fn(local, ...args)), { ...options, batch: undefined });
        out.push({ task: inv.name, result });
        if (!result.ok) break;
        continue;
      }
      let selection = options.selection;
      if (isEmptySelection(selection)) {
        const h = loaded.task.hosts;
        if (h === undefined) throw new DeployError('no-hosts', `no hosts selected for task "${inv.name}": use -H, -R or -l, or give the task a hosts option`);
        selection = typeof h === 'string' ? { selector: h } : { hosts: h };
      }
      let refs = selectHosts(options.inventory, selection);
      if (refs.length === 0) throw new DeployError('no-hosts', `no hosts selected for task "${inv.name}" (the selection matched nothing)`);
      if (options.place === 'lowest-load') refs = [await lowestLoadHost(refs, connect, options)];
      const pool = options.pool;
      const names = refs.map((r) => r.name);
      options.onTaskStart?.(inv.name, names);
      const lock = options.lock ?? true;
      const result = await runOnHosts(
        names,
        (_h, i) => {
          if (pool) return pool.runTask(inv.name, args, refs[i]!, lock);
          const c = connect(refs[i]!);
          const call = async (): Promise<unknown> => await loaded.task.fn(c, ...args);
          const onWarning = options.onWarning ?? options.ssh?.onWarning;
          return lock ? withDeployLock(c, call, onWarning ? { onWarning } : {}) : call();
        },
        options,
      );
      out.push({ task: inv.name, result });
      if (!result.ok) break;
    }
  } finally {
    await Promise.all([...connections.values()].map((c) => c.close()));
  }
  return out;
}

async function lowestLoadHost(refs: HostRef[], connect: (r: HostRef) => Connection, options: GroupOptions & { pool?: HostWorkerPool }): Promise<HostRef> {
  const pool = options.pool;
  const facts = await runOnHosts(
    refs.map((r) => r.name),
    (_h, i) => (pool ? pool.facts(refs[i]!, 'load') : gatherFacts(connect(refs[i]!), { only: 'load' })),
    { parallel: options.parallel ?? 64, maxFail: refs.length },
  );
  const ok = facts.hosts.filter((h) => h.status === 'ok').map((h) => h.value!);
  const best = orderByLoad(ok)[0];
  if (!best) throw new DeployError('no-hosts', `--place lowest-load: no selected host answered (${facts.failed.map((f) => `${f.host}: ${f.error?.message}`).join('; ')})`);
  return refs.find((r) => r.name === best.host)!;
}

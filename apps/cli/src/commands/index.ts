/**
 * Every built-in command: one line each. Add a command by writing
 * `commands/<command>.ts` (named after the command; subcommands in `<command>-<sub>.ts`)
 * exporting `command: CommandModule` and adding its line here.
 */
import type { CommandEntry } from '../cli/registry.js';

export const commands: readonly CommandEntry[] = [
  { name: 'run', summary: 'run an ad-hoc command on hosts', load: () => import('./run.js') },
  { name: 'put', summary: 'upload a file to hosts', load: () => import('./put.js') },
  { name: 'download', summary: 'download a file from hosts', load: () => import('./download.js') },
  { name: 'lowest-loadaverage', summary: 'hosts ordered by load per core, lowest first', load: () => import('./lowest-loadaverage.js') },
  { name: 'hosts', summary: 'list the inventory hosts a selection (-H, -R, -l) matches, connecting to none', load: () => import('./hosts.js') },
  { name: 'disconnect', summary: 'close the ssh connections kept open by --persist (--list shows them)', load: () => import('./disconnect.js') },
  { name: 'sign', summary: 'sign an artifact or an image (OpenSSH signature, namespace flotilla-artifact or flotilla-image)', load: () => import('./sign.js') },
  { name: 'image', summary: 'build or inspect OCI images without Docker', load: () => import('./image.js') },
  { name: 'server', summary: 'run a member of the replicated KV store (Raft)', load: () => import('./server.js') },
  { name: 'kv', summary: 'get, put, del, watch, txn, lease, members, endpoint, snapshot on the KV store (etcdctl habits)', load: () => import('./kv.js') },
  { name: 'apply', summary: 'make the cluster store say what manifests say (--wait converges)', load: () => import('./apply.js') },
  { name: 'diff', summary: 'what apply would change, field by field (unified diff; exit 1 when there are differences)', load: () => import('./diff.js') },
  { name: 'get', summary: 'list hosts, replicasets, instances, services or networks', load: () => import('./get.js') },
  { name: 'describe', summary: 'show one object with its events', load: () => import('./describe.js') },
  { name: 'events', summary: 'list (or -w watch) the events the controllers record, oldest first', load: () => import('./events.js') },
  { name: 'scale', summary: "set a replica set's replicas", load: () => import('./scale.js') },
  { name: 'rollout', summary: 'rollout undo: back to the previous template', load: () => import('./rollout.js') },
  { name: 'logs', summary: "print (or follow) an instance's output", load: () => import('./logs.js') },
  { name: 'cordon', summary: 'mark a host unschedulable', load: () => import('./cordon.js') },
  { name: 'uncordon', summary: 'mark a host schedulable', load: () => import('./uncordon.js') },
  { name: 'drain', summary: "cordon a host and move its instances away", load: () => import('./drain.js') },
  { name: 'delete', summary: 'delete objects (a replica set stops its instances)', load: () => import('./delete.js') },
  { name: 'controller', summary: 'run the reconcile loop continuously (heals; leader-elected)', load: () => import('./controller.js') },
  { name: 'agent', summary: "the per-host agent: holds the host's lease, runs its instances here (flo host join installs it)", load: () => import('./agent.js') },
  { name: 'host', summary: 'host join NAME: install and start the agent on an ssh host (agent mode); host leave NAME undoes it', load: () => import('./host.js') },
  { name: 'store', summary: 'check a store (verifies a file store record by record); repair --keep-intact after damage', load: () => import('./store.js') },
  { name: 'ui', summary: 'serve the web dashboard: the placement picture, replica sets, services, logs, live events; scale, cordon, rollout undo', load: () => import('./ui.js') },
  { name: 'demo', summary: 'everything above on a throwaway local fleet (--ssh: loopback sshd hosts)', load: () => import('./demo.js') },
  { name: 'completion', summary: 'print a completion script for bash, zsh or fish (commands, flags, kinds, object names)', load: () => import('./completion.js') },
];

/** Task invocations (`flo deploy:app`) and `flo --list` when no command name matches. */
export const taskCommand: CommandEntry = { name: 'tasks', summary: 'run deployfile tasks', load: () => import('./tasks.js') };

/** Words `flo` answers besides the registered commands (handled in cli.ts). */
export const builtinWords: readonly string[] = ['help', 'version'];

/** Every word that names a built-in command: what an unknown word is compared with. */
export function commandWords(): string[] {
  return [...commands.map((c) => c.name), ...builtinWords];
}

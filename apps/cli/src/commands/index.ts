/**
 * Every built-in command: one line each. Add a command by writing
 * `commands/<noun>-<verb>.ts` exporting `command: CommandModule` and adding its line here.
 */
import type { CommandEntry } from '../cli/registry.js';

export const commands: readonly CommandEntry[] = [
  { name: 'run', summary: 'run an ad-hoc command on hosts', load: () => import('./host-run.js') },
  { name: 'put', summary: 'upload a file to hosts', load: () => import('./file-put.js') },
  { name: 'download', summary: 'download a file from hosts', load: () => import('./file-download.js') },
  { name: 'lowest-loadaverage', summary: 'hosts ordered by load per core, lowest first', load: () => import('./load-lowest.js') },
  { name: 'disconnect', summary: 'close the ssh connections kept open by --persist (--list shows them)', load: () => import('./connection-close.js') },
  { name: 'sign', summary: 'sign an artifact or an image (OpenSSH signature, namespace flotilla-artifact or flotilla-image)', load: () => import('./artifact-sign.js') },
  { name: 'image', summary: 'build or inspect OCI images without Docker', load: () => import('./image.js') },
  { name: 'server', summary: 'run a member of the replicated KV store (Raft)', load: () => import('./server-run.js') },
  { name: 'kv', summary: 'get, put, del, watch, txn, members, snapshot on the KV store', load: () => import('./kv-request.js') },
  { name: 'apply', summary: 'make the cluster store say what manifests say (--wait converges)', load: () => import('./manifest-apply.js') },
  { name: 'get', summary: 'list hosts, replicasets, instances or services', load: () => import('./resource-get.js') },
  { name: 'describe', summary: 'show one object with its events', load: () => import('./resource-describe.js') },
  { name: 'scale', summary: "set a replica set's replicas", load: () => import('./replicaset-scale.js') },
  { name: 'rollout', summary: 'rollout undo: back to the previous template', load: () => import('./replicaset-rollout.js') },
  { name: 'logs', summary: "print (or follow) an instance's output", load: () => import('./instance-logs.js') },
  { name: 'cordon', summary: 'mark a host unschedulable', load: () => import('./host-cordon.js') },
  { name: 'uncordon', summary: 'mark a host schedulable', load: () => import('./host-uncordon.js') },
  { name: 'drain', summary: "cordon a host and move its instances away", load: () => import('./host-drain.js') },
  { name: 'delete', summary: 'delete objects (a replica set stops its instances)', load: () => import('./resource-delete.js') },
  { name: 'controller', summary: 'run the reconcile loop continuously (heals; leader-elected)', load: () => import('./controller-run.js') },
  { name: 'store', summary: 'check a store (verifies a file store record by record); repair --keep-intact after damage', load: () => import('./store-check.js') },
  { name: 'demo', summary: 'everything above on a throwaway local fleet (--ssh: loopback sshd hosts)', load: () => import('./demo-run.js') },
];

/** Task invocations (`flo deploy:app`) and `flo --list` when no command name matches. */
export const taskCommand: CommandEntry = { name: 'tasks', summary: 'run deployfile tasks', load: () => import('./task-run.js') };

/** Words `flo` answers besides the registered commands (handled in cli.ts). */
export const builtinWords: readonly string[] = ['help', 'version'];

/** Every word that names a built-in command: what an unknown word is compared with. */
export function commandWords(): string[] {
  return [...commands.map((c) => c.name), ...builtinWords];
}

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
  { name: 'sign', summary: 'sign an artifact (OpenSSH signature, namespace flotilla-artifact)', load: () => import('./artifact-sign.js') },
  { name: 'server', summary: 'run a member of the replicated KV store (Raft)', load: () => import('./server-run.js') },
  { name: 'kv', summary: 'get, put, del, watch, txn, members, snapshot on the KV store', load: () => import('./kv-request.js') },
];

/** Task invocations (`flo deploy:app`) and `flo --list` when no command name matches. */
export const taskCommand: CommandEntry = { name: 'tasks', summary: 'run deployfile tasks', load: () => import('./task-run.js') };

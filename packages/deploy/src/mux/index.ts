/**
 * `@flotilla/deploy/mux`: the plumbing of persistent connections (`persistMs`, `flo --persist`)
 * — the connection daemon that holds ssh connections between runs, for the `flo` command line
 * and for tests. Most code needs only the root's `listPersisted` and `stopPersisted`.
 *
 * @packageDocumentation
 */
export { startMuxDaemon, type MuxDaemon, type MuxDaemonOptions, type MuxOpener } from './daemon.js';
export { listPersisted, stopPersisted, defaultControlDir, warmConnectionDaemon } from './client.js';
export type { MuxConnectionInfo } from './frames.js';

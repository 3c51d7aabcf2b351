/**
 * `@flotilla/deploy/workers`: the plumbing of `flo --workers` — a pool of worker threads that
 * each run the tasks of some hosts (their own connections, the same deployfile), so that many
 * hosts do not share one event loop.
 *
 * @packageDocumentation
 */
export { HostWorkerPool, workerScript } from './pool.js';
export type { HostWorkerPoolOptions } from './pool.js';
export type { PortableSshOptions } from './protocol.js';

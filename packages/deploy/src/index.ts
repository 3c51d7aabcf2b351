/**
 * `@flotilla/deploy` — Fabric for TypeScript: ssh connections, groups, tasks and deployfiles,
 * inventories, host facts, atomic signed releases and supervised services (images and
 * containers: `@flotilla/deploy/image`).
 *
 * @packageDocumentation
 */
export { Connection, SudoPassword, sha256File, isUnreachableError } from './connection.js';
export type { ConnectionOptions, RunOptions, SudoOptions, PutOptions, PutResult, TransferOptions } from './connection.js';
export { Group, runOnHosts, throwIfFailed, groupResultJson, parseCountOrPercent } from './group.js';
export type { GroupOptions, GroupResult, HostResult, HostOutcome, HostStatus, CountOrPercent } from './group.js';
export {
  DeployError,
  CommandFailedError,
  HostKeyError,
  GroupError,
  TimeoutError,
  DeployErrorCodes,
  deployErrorCode,
  hasDeployErrorCode,
  isDeployError,
  isCommandFailedError,
  isHostKeyError,
  isGroupError,
  isTimeoutError,
  isInvocationError,
} from './errors.js';
export type { DeployErrorCode, LegacyDeployErrorCode, CommandResult, TimeoutPhase } from './errors.js';
export { shellQuote, shellJoin, quotePath } from './quote.js';
export { parseSshConfig, loadSshConfig, resolveSshConfig, matchPattern, matchPatternList, parseDestination } from './ssh-config.js';
export type { SshConfig, ResolvedSshConfig, StrictHostKeyChecking, Destination } from './ssh-config.js';
export { resolveSshTarget } from './ssh-target.js';
export type { SshTarget, SshOptions } from './ssh-target.js';
export { parseKnownHosts, loadKnownHosts, checkHostKey, knownHostsName, fingerprint, formatKnownHostsLine, hostFieldMatches } from './known-hosts.js';
export type { KnownHostEntry, HostKeyStatus } from './known-hosts.js';
export { LocalTransport } from './local-transport.js';
export type { Transport, ExecOptions, ExecOutcome, RemoteFiles } from './transport.js';
export { task, isTask, parseTaskInvocation, taskArguments, kebabCase, findDeployfile, loadDeployfile, DEPLOYFILE_NAMES } from './task.js';
export type { Task, TaskFn, TaskOptions, TaskInvocation, LoadedTask } from './task.js';
export { runTasks } from './runner.js';
export type { RunTasksOptions, TaskRunResult } from './runner.js';
export { parseInventory, loadInventory, selectHosts, connectHost, isEmptySelection, InventoryError } from './inventory.js';
export type { InventoryHost, HostSelection, HostRef } from './inventory.js';
export { gatherFacts, parseFacts, orderByLoad, countCpuList, FACTS_COMMAND, LOAD_COMMAND } from './facts.js';
export type { HostFacts, LoadRank } from './facts.js';
export { withDeployLock } from './lock.js';
export { deployRelease, rollback, listReleases } from './releases.js';
export type { DeployReleaseOptions, ReleaseResult } from './releases.js';
export { signArtifact, signMessage, verifyMessage, SIGNATURE_NAMESPACE, VERIFY_SNIPPET } from './signing.js';
export { startService, stopService, serviceStatus, SUPERVISOR_SCRIPT, LOG_MAX_BYTES } from './runtime.js';
export type { ServiceOptions, HostServiceStatus, ServiceStatus } from './runtime.js';
export { HostWorkerPool, workerScript } from './workers/pool.js';
export type { HostWorkerPoolOptions } from './workers/pool.js';
export { listPersisted, stopPersisted, defaultControlDir, warmConnectionDaemon } from './mux/client.js';
export type { MuxConnectionInfo } from './mux/frames.js';
export { startMuxDaemon, type MuxDaemon, type MuxDaemonOptions, type MuxOpener } from './mux/daemon.js';
export type { PortableSshOptions } from './workers/protocol.js';

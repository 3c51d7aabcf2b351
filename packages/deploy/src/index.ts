/**
 * `@flotilla/deploy` — Fabric for TypeScript: run commands and move files on many hosts over
 * real ssh, with nothing but `sh` and OpenSSH on them.
 *
 * The front door, by what you do:
 * - **Connect and run**: {@link Connection} (`ssh`, `local`; `run`, `sudo`, `put`, `get`,
 *   `files`), {@link Group} and {@link runOnHosts} (batches, `maxFail`, a result per host).
 * - **Hosts**: the Host model ({@link HostAddress}, read by {@link parseHostAddress}),
 *   inventories ({@link loadInventory}, {@link selectHosts}), `~/.ssh/config` and
 *   `known_hosts` ({@link resolveSshTarget}, {@link checkHostKey}), facts and load
 *   ({@link gatherFacts}, {@link orderByLoad}).
 * - **Tasks**: {@link task}, deployfiles ({@link loadDeployfile}) and {@link runTasks}.
 * - **Releases and services**: {@link deployRelease} (atomic, signed), {@link rollback},
 *   {@link startService} under the supervisor, {@link withDeployLock}.
 * - **Errors**: {@link DeployError} and its subclasses, kebab-case codes, `isXError` guards.
 *
 * Sub-paths: `./image` (OCI images and containers), `./network` (routes and service rules),
 * `./testing` (a real sshd fleet for tests), `./errors` (the errors alone, no ssh loaded), and
 * plumbing that most code does not need — `./mux` (the connection daemon behind `persistMs`)
 * and `./workers` (the worker-thread pool behind `flo --workers`).
 *
 * @packageDocumentation
 */
export { Connection, SudoPassword, sha256File, isUnreachableError } from './connection.js';
export type { ConnectionOptions, RunOptions, SudoOptions, PutOptions, PutResult, TransferOptions } from './connection.js';
export { Group, runOnHosts, throwIfFailed, groupResultJson, parseCountOrPercent } from './group.js';
export type { GroupOptions, GroupResult, HostResult, HostOutcome, HostStatus, CountOrPercent } from './group.js';
// the errors, their codes and guards: one list, in errors-entry.ts (also the ./errors sub-path)
export * from './errors-entry.js';
export { shellQuote, shellJoin, quotePath } from './quote.js';
export { parseSshConfig, loadSshConfig, resolveSshConfig, parseDestination } from './ssh-config.js';
export type { SshConfig, ResolvedSshConfig, StrictHostKeyChecking, Destination } from './ssh-config.js';
export { resolveSshTarget } from './ssh-target.js';
export type { SshTarget, SshOptions } from './ssh-target.js';
export { parseKnownHosts, loadKnownHosts, checkHostKey, knownHostsName, fingerprint, formatKnownHostsLine } from './known-hosts.js';
export type { KnownHostEntry, HostKeyStatus } from './known-hosts.js';
export { LocalTransport } from './local-transport.js';
export type { Transport, ExecOptions, ExecOutcome, RemoteFiles } from './transport.js';
export { task, isTask, parseTaskInvocation, taskArguments, findDeployfile, loadDeployfile, DEPLOYFILE_NAMES } from './task.js';
export type { Task, TaskFn, TaskOptions, TaskInvocation, LoadedTask } from './task.js';
export { runTasks } from './runner.js';
export type { RunTasksOptions, TaskRunResult } from './runner.js';
export { parseInventory, loadInventory, selectHosts, connectHost, connectHostAddress, isEmptySelection, InventoryError } from './inventory.js';
export type { InventoryHost, HostSelection, HostRef } from './inventory.js';
export { parseHostAddress, HOST_ADDRESS_FIELDS } from './host.js';
export type { HostAddress, HostIssue, ParseHostAddressOptions, ParsedHostAddress } from './host.js';
export { gatherFacts, parseFacts, orderByLoad, countCpuList, LOAD_COMMAND } from './facts.js';
export type { HostFacts, LoadRank } from './facts.js';
export { withDeployLock } from './lock.js';
export { deployRelease, rollback, listReleases } from './releases.js';
export type { DeployReleaseOptions, ReleaseResult } from './releases.js';
export { signArtifact, signMessage, verifyMessage, SIGNATURE_NAMESPACE, VERIFY_SNIPPET } from './signing.js';
export { startService, stopService, serviceStatus, observeServices, signalService, removeService, serviceLogPath, LOG_MAX_BYTES } from './runtime.js';
export type { ServiceOptions, HostServiceStatus, ServiceStatus, ObservedService } from './runtime.js';
export { installArtifact, artifactReleaseDir } from './artifacts.js';
export type { HostArtifact } from './artifacts.js';
export { listPersisted, stopPersisted } from './mux/client.js';
export type { MuxConnectionInfo } from './mux/frames.js';

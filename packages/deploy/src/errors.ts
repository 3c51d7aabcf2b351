/**
 * Errors of @flotilla/deploy: one base class, {@link DeployError}, with a string-literal
 * `code`; subclasses carry their data (a command's result, a group's result). Use the
 * `isXError()` guards rather than `instanceof`, which breaks across duplicate installs.
 */
import type { GroupResult } from './group.js';

/**
 * Every code a {@link DeployError} can carry: kebab-case, like every other package's codes.
 *
 * In @flotilla/deploy 0.1.0 the codes were UPPER_CASE (`COMMAND_FAILED`). Those names are
 * deprecated, and still understood: {@link LegacyDeployErrorCode} lists them,
 * {@link DeployErrorCodes} maps each to its code, {@link hasDeployErrorCode} compares in either
 * spelling, and the {@link DeployError} constructor takes either (`error.code` is always
 * kebab-case).
 */
export type DeployErrorCode =
  | 'command-failed'
  | 'connect-failed'
  | 'connection-lost'
  | 'host-key-unknown'
  | 'host-key-changed'
  | 'host-key-revoked'
  | 'ssh-config'
  | 'known-hosts'
  | 'timeout'
  | 'aborted'
  | 'sudo-failed'
  | 'transfer-failed'
  | 'group-failed'
  | 'no-hosts'
  | 'unknown-host'
  | 'inventory'
  | 'deployfile'
  | 'task-arguments'
  | 'deploy-locked'
  | 'signature'
  | 'release'
  | 'service'
  | 'image-reference'
  | 'image-invalid'
  | 'image-platform'
  | 'blob-digest'
  | 'blob-missing'
  | 'layer-unsafe'
  | 'container'
  | 'container-runtime'
  | 'network'
  | 'network-tools'
  | 'cni';

/**
 * The UPPER_CASE names the codes had in @flotilla/deploy 0.1.0.
 * @deprecated compare with the kebab-case {@link DeployErrorCode} (or {@link DeployErrorCodes}`.NAME`,
 * or {@link hasDeployErrorCode}, which takes both); `error.code` is never one of these any more.
 */
export type LegacyDeployErrorCode =
  | 'COMMAND_FAILED'
  | 'CONNECT_FAILED'
  | 'CONNECTION_LOST'
  | 'HOST_KEY_UNKNOWN'
  | 'HOST_KEY_CHANGED'
  | 'HOST_KEY_REVOKED'
  | 'SSH_CONFIG'
  | 'KNOWN_HOSTS'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'SUDO_FAILED'
  | 'TRANSFER_FAILED'
  | 'GROUP_FAILED'
  | 'NO_HOSTS'
  | 'UNKNOWN_HOST'
  | 'INVENTORY'
  | 'DEPLOYFILE'
  | 'TASK_ARGUMENTS'
  | 'DEPLOY_LOCKED'
  | 'SIGNATURE'
  | 'RELEASE'
  | 'SERVICE'
  | 'IMAGE_REFERENCE'
  | 'IMAGE_INVALID'
  | 'IMAGE_PLATFORM'
  | 'BLOB_DIGEST'
  | 'BLOB_MISSING'
  | 'LAYER_UNSAFE'
  | 'CONTAINER'
  | 'CONTAINER_RUNTIME'
  | 'NETWORK'
  | 'NETWORK_TOOLS'
  | 'CNI';

/**
 * Each code under its former UPPER_CASE name — `DeployErrorCodes.COMMAND_FAILED === 'command-failed'` —
 * so code written against the old names moves by adding `DeployErrorCodes.` in front of them.
 */
export const DeployErrorCodes = Object.freeze({
  COMMAND_FAILED: 'command-failed',
  CONNECT_FAILED: 'connect-failed',
  CONNECTION_LOST: 'connection-lost',
  HOST_KEY_UNKNOWN: 'host-key-unknown',
  HOST_KEY_CHANGED: 'host-key-changed',
  HOST_KEY_REVOKED: 'host-key-revoked',
  SSH_CONFIG: 'ssh-config',
  KNOWN_HOSTS: 'known-hosts',
  TIMEOUT: 'timeout',
  ABORTED: 'aborted',
  SUDO_FAILED: 'sudo-failed',
  TRANSFER_FAILED: 'transfer-failed',
  GROUP_FAILED: 'group-failed',
  NO_HOSTS: 'no-hosts',
  UNKNOWN_HOST: 'unknown-host',
  INVENTORY: 'inventory',
  DEPLOYFILE: 'deployfile',
  TASK_ARGUMENTS: 'task-arguments',
  DEPLOY_LOCKED: 'deploy-locked',
  SIGNATURE: 'signature',
  RELEASE: 'release',
  SERVICE: 'service',
  IMAGE_REFERENCE: 'image-reference',
  IMAGE_INVALID: 'image-invalid',
  IMAGE_PLATFORM: 'image-platform',
  BLOB_DIGEST: 'blob-digest',
  BLOB_MISSING: 'blob-missing',
  LAYER_UNSAFE: 'layer-unsafe',
  CONTAINER: 'container',
  CONTAINER_RUNTIME: 'container-runtime',
  NETWORK: 'network',
  NETWORK_TOOLS: 'network-tools',
  CNI: 'cni',
} as const satisfies Record<LegacyDeployErrorCode, DeployErrorCode>);

const CODES = new Set<string>(Object.values(DeployErrorCodes));

/**
 * A code in today's spelling: a kebab-case code as it is, a former UPPER_CASE name
 * ({@link LegacyDeployErrorCode}) as its kebab-case code, anything else `undefined`.
 */
export function deployErrorCode(code: string): DeployErrorCode | undefined {
  if (CODES.has(code)) return code as DeployErrorCode;
  return Object.hasOwn(DeployErrorCodes, code) ? DeployErrorCodes[code as LegacyDeployErrorCode] : undefined;
}

const BRAND = Symbol.for('flotilla.deploy.error');

/** Base class of every error this package throws on purpose. */
export class DeployError extends Error {
  override name = 'DeployError';
  readonly code: DeployErrorCode;
  /** The host the error concerns, when there is one. */
  readonly host: string | undefined;
  readonly [BRAND] = true;

  /** `code` may be given in its former UPPER_CASE spelling (deprecated); it is stored kebab-case. */
  constructor(code: DeployErrorCode | LegacyDeployErrorCode, message: string, options: { cause?: unknown; host?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = deployErrorCode(code) ?? (code as DeployErrorCode);
    this.host = options.host;
  }
}

/** The outcome of one command. */
export interface CommandResult {
  /** The command as it was sent (for `sudo`, without any secret). */
  command: string;
  stdout: string;
  stderr: string;
  /** The exit status, or `null` when the command died from a signal. */
  exitCode: number | null;
  /** The signal name (e.g. `'TERM'`) when the command died from one. */
  signal: string | null;
  /** The host the command ran on (`'local'` for {@link Connection.local}). */
  host: string;
}

/** A command exited non-zero (or died from a signal) and `warn` was not set. */
export class CommandFailedError extends DeployError {
  override name = 'CommandFailedError';
  readonly result: CommandResult;
  constructor(result: CommandResult) {
    const status = result.signal ? `signal ${result.signal}` : `exit code ${result.exitCode}`;
    const tail = result.stderr.trim().split('\n').slice(-3).join('\n');
    super('command-failed', `command failed on ${result.host} with ${status}: ${result.command}${tail ? `\n${tail}` : ''}`, {
      host: result.host,
    });
    this.result = result;
  }
}

/** What a {@link TimeoutError} was waiting for when its time ran out. */
export type TimeoutPhase = 'connect' | 'command' | 'transfer';

/**
 * An operation did not finish within its `timeoutMs` (`--timeout`). It is thrown when the time
 * is up, without waiting for the host: a command is killed and its channel closed, a transfer
 * abandoned, and a connection that does not let go within a second is dropped (the next
 * operation opens a new one). `phase` is `connect` when the connection was still being opened:
 * the host counts as unreachable then.
 */
export class TimeoutError extends DeployError {
  override name = 'TimeoutError';
  readonly timeoutMs: number;
  readonly phase: TimeoutPhase;
  constructor(message: string, data: { host: string; timeoutMs: number; phase: TimeoutPhase; cause?: unknown }) {
    super('timeout', message, { host: data.host, ...(data.cause === undefined ? {} : { cause: data.cause }) });
    this.timeoutMs = data.timeoutMs;
    this.phase = data.phase;
  }
}

/** A host's key is unknown, changed or revoked. Never silent. */
export class HostKeyError extends DeployError {
  override name = 'HostKeyError';
  /** `SHA256:...` fingerprint of the key the server presented. */
  readonly fingerprint: string;
  readonly keyType: string;
  constructor(
    code: 'host-key-unknown' | 'host-key-changed' | 'host-key-revoked',
    message: string,
    data: { host: string; fingerprint: string; keyType: string },
  ) {
    super(code, message, { host: data.host });
    this.fingerprint = data.fingerprint;
    this.keyType = data.keyType;
  }
}

/** At least one host of a group failed; {@link GroupError.result} has every host's outcome. */
export class GroupError<T = unknown> extends DeployError {
  override name = 'GroupError';
  readonly result: GroupResult<T>;
  constructor(result: GroupResult<T>, cause?: unknown) {
    const bad = result.hosts.filter((h) => h.status === 'failed' || h.status === 'unreachable');
    const skipped = result.hosts.filter((h) => h.status === 'skipped').length;
    const names = bad.map((h) => h.host).join(', ');
    super(
      'group-failed',
      `${bad.length} of ${result.hosts.length} hosts failed${names ? ` (${names})` : ''}${skipped ? `; ${skipped} skipped` : ''}`,
      { cause },
    );
    this.result = result;
  }
}

function has(e: unknown): e is DeployError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}
/** True for any error thrown by this package. */
export function isDeployError(e: unknown): e is DeployError {
  return has(e);
}
/**
 * True for a {@link DeployError} with this code, given kebab-case or in its former UPPER_CASE
 * spelling (`hasDeployErrorCode(e, 'COMMAND_FAILED')` still works; it is deprecated).
 */
export function hasDeployErrorCode(e: unknown, code: DeployErrorCode | LegacyDeployErrorCode): e is DeployError {
  return has(e) && e.code === deployErrorCode(code);
}

/** The codes of {@link isInvocationError}. */
const INVOCATION_CODES = new Set<DeployErrorCode>(['no-hosts', 'unknown-host', 'task-arguments']);

/**
 * True when the request itself was wrong, not the hosts: no host matched the selection
 * (`no-hosts`), a host name is not in the inventory (`unknown-host`), or a task's arguments do
 * not fit it (`task-arguments`). A command line reports these as usage errors.
 */
export function isInvocationError(e: unknown): e is DeployError {
  return has(e) && INVOCATION_CODES.has(e.code);
}

/** True for a {@link CommandFailedError}. */
export function isCommandFailedError(e: unknown): e is CommandFailedError {
  return has(e) && e.code === 'command-failed';
}
/** True for a {@link TimeoutError} (code `timeout`). */
export function isTimeoutError(e: unknown): e is TimeoutError {
  return has(e) && e.code === 'timeout';
}
/** True for a {@link HostKeyError}. */
export function isHostKeyError(e: unknown): e is HostKeyError {
  return has(e) && (e.code === 'host-key-unknown' || e.code === 'host-key-changed' || e.code === 'host-key-revoked');
}
/** True for a {@link GroupError}. */
export function isGroupError(e: unknown): e is GroupError {
  return has(e) && e.code === 'group-failed';
}

/** Throws a TypeError naming what was expected and what was received (p-queue style). */
export function badOption(name: string, expected: string, received: unknown): never {
  const shown = typeof received === 'string' ? JSON.stringify(received) : String(received);
  throw new TypeError(`Expected \`${name}\` to be ${expected}, got \`${shown}\` (${typeof received})`);
}

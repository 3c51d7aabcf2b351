/**
 * Errors of @flotilla/deploy: one base class, {@link DeployError}, with a string-literal
 * `code`; subclasses carry their data (a command's result, a group's result). Use the
 * `isXError()` guards rather than `instanceof`, which breaks across duplicate installs.
 */
import type { GroupResult } from './group.js';

/** Every code a {@link DeployError} can carry. */
export type DeployErrorCode =
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

const BRAND = Symbol.for('flotilla.deploy.error');

/** Base class of every error this package throws on purpose. */
export class DeployError extends Error {
  override name = 'DeployError';
  readonly code: DeployErrorCode;
  /** The host the error concerns, when there is one. */
  readonly host: string | undefined;
  readonly [BRAND] = true;

  constructor(code: DeployErrorCode, message: string, options: { cause?: unknown; host?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
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
    super('COMMAND_FAILED', `command failed on ${result.host} with ${status}: ${result.command}${tail ? `\n${tail}` : ''}`, {
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
    super('TIMEOUT', message, { host: data.host, ...(data.cause === undefined ? {} : { cause: data.cause }) });
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
    code: 'HOST_KEY_UNKNOWN' | 'HOST_KEY_CHANGED' | 'HOST_KEY_REVOKED',
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
      'GROUP_FAILED',
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
/** True for a {@link CommandFailedError}. */
export function isCommandFailedError(e: unknown): e is CommandFailedError {
  return has(e) && e.code === 'COMMAND_FAILED';
}
/** True for a {@link TimeoutError} (code `TIMEOUT`). */
export function isTimeoutError(e: unknown): e is TimeoutError {
  return has(e) && e.code === 'TIMEOUT';
}
/** True for a {@link HostKeyError}. */
export function isHostKeyError(e: unknown): e is HostKeyError {
  return has(e) && (e.code === 'HOST_KEY_UNKNOWN' || e.code === 'HOST_KEY_CHANGED' || e.code === 'HOST_KEY_REVOKED');
}
/** True for a {@link GroupError}. */
export function isGroupError(e: unknown): e is GroupError {
  return has(e) && e.code === 'GROUP_FAILED';
}

/** Throws a TypeError naming what was expected and what was received (p-queue style). */
export function badOption(name: string, expected: string, received: unknown): never {
  const shown = typeof received === 'string' ? JSON.stringify(received) : String(received);
  throw new TypeError(`Expected \`${name}\` to be ${expected}, got \`${shown}\` (${typeof received})`);
}

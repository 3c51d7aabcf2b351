/**
 * Errors of @flotilla/cluster are data: one base class with a stable string `code`, a
 * human message, and an optional `cause`; subclasses carry the details (`issues`, the
 * key's current revision). Use the `isClusterError()` guard rather than `instanceof`,
 * which breaks across duplicate installs.
 */
import { join } from 'node:path';
import { ConflictError as ReconcileConflictError } from '@flotilla/reconcile';
import { pathToFileURL } from 'node:url';

/** Every code a {@link ClusterError} may carry. */
export type ClusterErrorCode =
  | 'manifest-invalid'
  | 'conflict'
  | 'not-found'
  | 'store-locked'
  | 'store-unavailable'
  | 'store-url-invalid'
  | 'store-missing'
  | 'store-corrupt'
  | 'compacted'
  | 'runtime-failed'
  | 'timeout'
  | 'in-use'
  | 'dependency-missing'
  /** Every address of a pool (pod subnets, service virtual IPs) is leased. */
  | 'exhausted'
  | 'host-not-found'
  | 'host-claimed'
  | 'lease-unsupported';

const BRAND = Symbol.for('@flotilla/cluster/ClusterError');

/** The base class of every error this package throws on purpose. */
export class ClusterError extends Error {
  override name = 'ClusterError';
  readonly code: ClusterErrorCode;
  readonly [BRAND] = true;

  constructor(code: ClusterErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** True when `value` is a {@link ClusterError} (from any copy of this package). */
export function isClusterError(value: unknown): value is ClusterError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/**
 * A file store holds damage that cannot be a torn last write: a record or the snapshot fails
 * its checksum, revisions skip or go back, the log starts after the snapshot, or the snapshot
 * is missing while the log holds records. Nothing is read as less data: the store refuses,
 * names the file and byte offset, and says how to recover.
 */
export class StoreCorruptError extends ClusterError {
  override name = 'StoreCorruptError';
  /** The damaged file. */
  readonly file: string;
  /** Byte offset of the damage in {@link file}. */
  readonly offset: number;
  /** What was found, e.g. `checksum mismatch (recorded 0a1b2c3d, computed 99aa00ff)`. */
  readonly detail: string;
  /** The store's directory (what `--store file://…` names). */
  readonly dir: string;

  constructor(dir: string, file: string, offset: number, detail: string, options?: { cause?: unknown }) {
    const url = pathToFileURL(dir).href;
    super(
      'store-corrupt',
      `corrupt file store: ${file} at byte ${offset}: ${detail}. Refusing to read it (that would show less data than was written). ` +
        `\`flo store check --store ${url}\` reports the damage; \`flo store repair --keep-intact --store ${url}\` keeps every intact record up to it, ` +
        `moves the damaged files aside and lists what was dropped; or restore ${join(dir, 'store')} from a backup.`,
      options,
    );
    this.file = file;
    this.offset = offset;
    this.detail = detail;
    this.dir = dir;
  }
}

/** True when `value` is a {@link StoreCorruptError}. */
export function isStoreCorruptError(value: unknown): value is StoreCorruptError {
  return isClusterError(value) && value.code === 'store-corrupt';
}

/** One problem found in a manifest: where (YAML path, file, line, column) and what. */
export interface ManifestIssue {
  /** The YAML path, e.g. `spec.template.spec.resources.cpu` (empty for the document itself). */
  path: string;
  /** What is wrong, e.g. `"lots" is not a quantity`. */
  message: string;
  /** The file the document came from, when known. */
  file?: string;
  /** 1-based line of the offending node (or of its nearest present parent). */
  line?: number;
  /** 1-based column. */
  column?: number;
  /** 0-based index of the document in its file. */
  document?: number;
}

/** Formats an issue as `file:line:col: path: message`. */
export function formatManifestIssue(issue: ManifestIssue): string {
  const where = [issue.file, issue.line, issue.column].filter((x) => x !== undefined).join(':');
  const what = issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`;
  return where === '' ? what : `${where}: ${what}`;
}

/** A manifest (or a set of files) failed validation; `issues` lists every problem found. */
export class ManifestError extends ClusterError {
  override name = 'ManifestError';
  readonly issues: readonly ManifestIssue[];

  constructor(issues: readonly ManifestIssue[]) {
    const lines = issues.map((i) => `  ${formatManifestIssue(i)}`);
    super(
      'manifest-invalid',
      `${issues.length} problem${issues.length === 1 ? '' : 's'} in manifests:\n${lines.join('\n')}`,
    );
    this.issues = issues;
  }
}

/** True when `value` is a {@link ManifestError}. */
export function isManifestError(value: unknown): value is ManifestError {
  return isClusterError(value) && value.code === 'manifest-invalid';
}

/**
 * A compare-and-set failed: the key's revision is not the expected one. After a
 * read-modify-write that retried (`mutate`, `apply`), `attempts` says how many times it
 * tried, each from the fresh object, before giving up.
 *
 * This is @flotilla/reconcile's `ConflictError` (a subclass of it: `instanceof` it, and
 * reconcile's `isConflictError` is true, with `key` and `currentRevision`), so a controller
 * written against reconcile's store interfaces handles the conflicts of cluster's stores
 * with the guards it already uses. It also answers to this package's guards
 * (`isClusterError`, {@link isConflictError}: code `conflict`).
 */
export class ConflictError extends ReconcileConflictError {
  override name = 'ConflictError';
  readonly [BRAND] = true;
  /** The key's current modRevision (0 when absent); the same as `currentRevision`. */
  readonly modRevision: number;
  /** How many read-modify-write attempts failed this way (1 for a single compare-and-set). */
  readonly attempts: number;

  constructor(key: string, expected: number, modRevision: number, attempts = 1) {
    super(key, expected, modRevision);
    const found = `expected revision ${expected}, found ${modRevision === 0 ? 'absent' : modRevision}`;
    this.message =
      attempts > 1
        ? `"${key}" was changed by another writer during each of ${attempts} read-modify-write attempts (last: ${found}); nothing was written — try again`
        : `compare-and-set failed on "${key}": ${found}`;
    this.modRevision = modRevision;
    this.attempts = attempts;
  }
}

/** True when `value` is a {@link ConflictError}. */
export function isConflictError(value: unknown): value is ConflictError {
  return isClusterError(value) && value.code === 'conflict';
}

/** An instance bound to a host, as {@link HostInUseError} lists it. */
export interface BoundInstance {
  name: string;
  replicaSet: string;
  /** Being stopped (deleted, its stop not yet done). */
  terminating: boolean;
}

/**
 * A host cannot be deleted while instances are bound to it: their supervisors and commands
 * would keep running there with nothing tracking them. `instances` names them.
 */
export class HostInUseError extends ClusterError {
  override name = 'HostInUseError';
  readonly host: string;
  readonly instances: readonly BoundInstance[];

  constructor(host: string, instances: readonly BoundInstance[]) {
    const shown = instances
      .slice(0, 10)
      .map((i) => `${i.name} (replicaset/${i.replicaSet}${i.terminating ? ', stopping' : ''})`)
      .join(', ');
    const more = instances.length > 10 ? ` and ${instances.length - 10} more` : '';
    const hint = instances.some((i) => !i.terminating)
      ? `delete their replica sets first (in the same \`flo delete -f\`, they are stopped before the host goes), or move them elsewhere with \`flo drain ${host}\``
      : 'they are being stopped: wait for them (`flo delete` does), or use --force to delete the host anyway and leave them running there untracked';
    super(
      'in-use',
      `host/${host} is not deleted: ${instances.length} instance(s) are bound to it — ${shown}${more}; deleting it would leave their processes running untracked: ${hint}`,
    );
    this.host = host;
    this.instances = instances;
  }
}

/** True when `value` is a {@link HostInUseError}. */
export function isHostInUseError(value: unknown): value is HostInUseError {
  return isClusterError(value) && value.code === 'in-use';
}

/**
 * What a kind is in the store: the key layout (`/flotilla/v1/<plural>/<name>` for the built-in
 * kinds, `/flotilla/<group>/<version>/<plural>/<name>` for a defined one), {@link defineKind}
 * for an embedder's own kinds, the built-in kinds' definitions, and the checks every object of
 * a defined kind gets before it is written. resources.ts stores objects of these kinds.
 */
import { validateLabelKey, validateLabelValue } from '@flotilla/labels';
import type { ManifestIssue } from '../errors.js';
import { API_VERSION, type ClusterObject, type Instance, type Kind, type ObjectMeta } from '../manifest/types.js';

/** The key prefix of every built-in Flotilla object. */
export const KEY_PREFIX = '/flotilla/v1/';

/** The key prefix under which every kind lives, built-in or defined. */
export const ROOT_PREFIX = '/flotilla/';

const PLURAL: Record<Kind | 'Lease', string> = {
  Host: 'hosts',
  ReplicaSet: 'replicasets',
  Service: 'services',
  Instance: 'instances',
  Event: 'events',
  Network: 'networks',
  Lease: 'leases',
};

/** The store key of a built-in object. */
export function keyOf(kind: Kind | 'Lease', name: string): string {
  return `${KEY_PREFIX}${PLURAL[kind]}/${name}`;
}

/**
 * What every object a {@link ResourceStore} holds looks like: Kubernetes' shape, an
 * `apiVersion`, a `kind` and `metadata` with a `name`; the rest is the kind's own
 * (`spec`, `status`, or other fields).
 */
export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
}

/** A problem {@link ResourceKind.validate} found in an object: where (a dotted path) and what. */
export interface ResourceIssue {
  /** The path in the object, e.g. `spec.schedule` (`''` for the object itself). */
  path: string;
  /** What is wrong, for people. */
  message: string;
}

/** How an embedder describes a kind of their own; {@link defineKind} checks it. */
export interface ResourceKindDefinition<T extends Resource> {
  /** `<group>/<version>`: a DNS subdomain with at least one dot (not `flotilla.dev`), and a Kubernetes version (`v1`, `v2beta1`). */
  apiVersion: T['apiVersion'];
  /** The kind's name in manifests and objects: `^[A-Z][A-Za-z0-9]*$`, e.g. `Backup`. */
  kind: T['kind'];
  /** The plural used in keys: a lowercase DNS label, e.g. `backups`. */
  plural: string;
  /**
   * Checks an object before every write (`create`, `update`, `upsert`, `mutate`) and
   * returns every problem found (empty = valid); the write then fails with a
   * `ManifestError` listing them. Runs after the checks every kind gets (apiVersion and
   * kind, metadata.name as a DNS-1123 subdomain, label keys and values).
   * @default no checks beyond those
   */
  validate?: (object: T) => readonly ResourceIssue[];
}

/** A kind a {@link ResourceStore} serves: a built-in one, or one made by {@link defineKind}. */
export interface ResourceKind<T extends Resource = Resource> {
  readonly apiVersion: T['apiVersion'];
  readonly kind: T['kind'];
  readonly plural: string;
  /** Where the kind's objects live: every key under it is `<prefix><name>`. */
  readonly prefix: string;
  /** True for Flotilla's own kinds (their objects are checked by `parseManifests`, not on write). */
  readonly builtIn: boolean;
  /** The kind's own checks (see {@link ResourceKindDefinition.validate}). */
  validate?(object: T): readonly ResourceIssue[];
  /** A secondary index kept with each object (the built-in Instance kind's: by host). */
  readonly index?: ResourceIndex<T>;
}

/**
 * A secondary index of a kind, kept in the store beside each object: for an object whose
 * `valueOf` is `v`, a copy of it at `<prefix><v>/<name>`, written in the same transaction
 * as the object (so it has the same modRevision), so that a client can list and watch the
 * objects with one value alone — an agent its own host's instances — and the fan-out of a
 * change does not grow with the number of values. Kept only on a store with
 * {@link KvStore.txn} (every built-in backend but the file store); elsewhere the indexed
 * reads filter the whole kind.
 */
export interface ResourceIndex<T> {
  /** Where the copies live, e.g. `/flotilla/v1/hostinstances/`. */
  readonly prefix: string;
  /** The value an object is indexed under (no `/`), or `undefined` for none. */
  valueOf(object: T): string | undefined;
}

/** Where every Instance is indexed by its host: `/flotilla/v1/hostinstances/<host>/<name>`. */
export const HOST_INDEX_PREFIX = '/flotilla/v1/hostinstances/';

/** The key of the marker written once every object of a kind is indexed (see {@link ResourceStore.reindex}). */
export const indexMarkerKey = (kind: { plural: string }): string => `/flotilla/v1/meta/indexed/${kind.plural}`;

const GROUP = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/;
const VERSION = /^v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$/;
const KIND = /^[A-Z][A-Za-z0-9]{0,62}$/;
const PLURAL_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function badDefinition(field: string, expected: string, received: unknown): never {
  throw new TypeError(`Expected \`${field}\` to be ${expected}, got ${typeof received === 'string' ? JSON.stringify(received) : String(received)} (${typeof received})`);
}

/**
 * Defines a kind of object of your own, to keep in the same stores as Flotilla's (file,
 * Raft KV, etcd) through {@link ClusterStore.register} or `new ResourceStore(kv, kind)`:
 *
 * ```ts
 * interface Backup { apiVersion: 'example.com/v1'; kind: 'Backup'; metadata: ObjectMeta; spec: { schedule: string } }
 * const BackupKind = defineKind<Backup>({ apiVersion: 'example.com/v1', kind: 'Backup', plural: 'backups' });
 * ```
 *
 * Its objects live under `/flotilla/<group>/<version>/<plural>/` (`/flotilla/example.com/v1/backups/`).
 * Throws a `TypeError` naming the field for a malformed apiVersion, kind or plural, and for
 * the group `flotilla.dev`, which is Flotilla's own.
 */
export function defineKind<T extends Resource>(definition: ResourceKindDefinition<T>): ResourceKind<T> {
  const { apiVersion, kind, plural, validate } = definition as Partial<ResourceKindDefinition<T>>;
  if (typeof apiVersion !== 'string') badDefinition('apiVersion', 'a string "<group>/<version>"', apiVersion);
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  if (group.length > 253 || !GROUP.test(group))
    badDefinition('apiVersion', '"<group>/<version>" with a group that is a DNS subdomain with at least one dot (e.g. "example.com/v1")', apiVersion);
  if (group === 'flotilla.dev') badDefinition('apiVersion', `a group of your own ("flotilla.dev" is Flotilla's: ${API_VERSION})`, apiVersion);
  if (!VERSION.test(version)) badDefinition('apiVersion', '"<group>/<version>" with a version like v1, v2beta1 or v1alpha2', apiVersion);
  if (typeof kind !== 'string' || !KIND.test(kind)) badDefinition('kind', 'a name in PascalCase of at most 63 letters and digits (e.g. "Backup")', kind);
  if (typeof plural !== 'string' || !PLURAL_NAME.test(plural)) badDefinition('plural', 'a lowercase DNS label of at most 63 characters (e.g. "backups")', plural);
  if (validate !== undefined && typeof validate !== 'function') badDefinition('validate', 'a function (object) => issues', validate);
  return Object.freeze({ apiVersion, kind, plural, prefix: `${ROOT_PREFIX}${group}/${version}/${plural}/`, builtIn: false, ...(validate ? { validate } : {}) });
}

const hostIndex: ResourceIndex<Instance> = Object.freeze({
  prefix: HOST_INDEX_PREFIX,
  valueOf: (i: Instance): string | undefined => (typeof i.spec?.host === 'string' && i.spec.host !== '' && !i.spec.host.includes('/') ? i.spec.host : undefined),
});

const BUILT_IN = new Map<string, ResourceKind>(
  (['Host', 'ReplicaSet', 'Service', 'Network', 'Instance', 'Event'] as const).map((kind) => [
    kind,
    Object.freeze({
      apiVersion: API_VERSION,
      kind,
      plural: PLURAL[kind],
      prefix: `${KEY_PREFIX}${PLURAL[kind]}/`,
      builtIn: true,
      ...(kind === 'Instance' ? { index: hostIndex } : {}),
    }),
  ]),
);

/** The definition of a built-in kind (`Host`, `ReplicaSet`, `Service`, `Network`, `Instance`, `Event`). */
export function builtInKind<K extends Kind>(kind: K): ResourceKind<Extract<ClusterObject, { kind: K }>> {
  const found = BUILT_IN.get(kind);
  if (!found) badDefinition('kind', `a built-in kind (${[...BUILT_IN.keys()].join(', ')}), or a kind made with defineKind()`, kind);
  return found as unknown as ResourceKind<Extract<ClusterObject, { kind: K }>>;
}

/** The checks every defined kind gets, then its own `validate`. */
export function issuesOf<T extends Resource>(kind: ResourceKind<T>, object: T): ManifestIssue[] {
  const issues: ManifestIssue[] = [];
  const o = object as Partial<Resource> | null;
  if (typeof o !== 'object' || o === null) return [{ path: '', message: `must be an object, not ${o === null ? 'null' : typeof o}` }];
  if (o.apiVersion !== kind.apiVersion) issues.push({ path: 'apiVersion', message: `must be ${kind.apiVersion}, not ${JSON.stringify(o.apiVersion)}` });
  if (o.kind !== kind.kind) issues.push({ path: 'kind', message: `must be ${kind.kind}, not ${JSON.stringify(o.kind)}` });
  const meta = o.metadata as Partial<ObjectMeta> | undefined;
  if (typeof meta !== 'object' || meta === null) issues.push({ path: 'metadata', message: 'is required' });
  else {
    const name = meta.name;
    if (typeof name !== 'string' || name === '') issues.push({ path: 'metadata.name', message: 'is required' });
    else if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name))
      issues.push({ path: 'metadata.name', message: `${JSON.stringify(name)} is not a valid name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters` });
    for (const [key, value] of Object.entries(meta.labels ?? {})) {
      for (const m of validateLabelKey(key)) issues.push({ path: `metadata.labels.${key}`, message: `invalid label key ${JSON.stringify(key)}: ${m}` });
      if (typeof value !== 'string') issues.push({ path: `metadata.labels.${key}`, message: 'label values must be strings' });
      else for (const m of validateLabelValue(value)) issues.push({ path: `metadata.labels.${key}`, message: `invalid label value ${JSON.stringify(value)}: ${m}` });
    }
  }
  if (kind.validate !== undefined && typeof meta === 'object' && meta !== null) issues.push(...kind.validate(object));
  return issues;
}

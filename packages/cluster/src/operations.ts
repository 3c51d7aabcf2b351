/**
 * What the CLI's cluster commands that change the store do, as library functions: apply,
 * delete, scale, cordon, uncordon, drain, rollout undo (the `get`/`describe` views are in
 * views.ts).
 */
import { parseSelector } from '@flotilla/labels';
import { sha256File } from '@flotilla/deploy';
import { copyFile, mkdir, rename, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ClusterError, ConflictError, HostInUseError, ManifestError, isConflictError, type BoundInstance, type ManifestIssue } from './errors.js';
import { isImageRef, storeImage } from './images.js';
import { issueAt, type LoadedManifest } from './manifest/parse.js';
import { templateHash } from './controllers/template.js';
import type { Host, Manifest, ManifestKind, Network, ReplicaSet } from './manifest/types.js';
import { DEFAULT_HOST_SUBNET_PREFIX } from './manifest/validate.js';
import { subnetCapacity } from './network/leases.js';
import { keyOf, resourcesOf, type ClusterStore } from './store/resources.js';

/** One change `apply` made (or would make, with `dryRun`). */
export interface AppliedChange {
  kind: ManifestKind;
  name: string;
  action: 'created' | 'configured' | 'unchanged' | 'pruned';
}

/** One change {@link planApply} finds, with both sides of it. */
export interface PlannedChange extends AppliedChange {
  /** The object in the store now (absent when it would be created). */
  live?: Manifest;
  /** The object as apply would write it: what a diff compares with `live`. Absent when pruned. */
  applied?: Manifest;
}

/** Options of {@link applyManifests}. */
export interface ApplyOptions {
  /**
   * The directory each object's relative artifact, image and `local.dir` paths start from,
   * by index (`objects[i]` → `baseDirs[i]`), for objects given without one; a
   * {@link LoadedManifest} (what `loadManifests` returns) carries its own `baseDir`, which wins.
   * @default the process's cwd
   */
  baseDirs?: readonly string[];
  /** Where artifacts are copied; images' blobs go to its `images/` directory. @default store.artifactDir */
  artifactDir?: string;
  /** Report what would change without changing anything. @default false */
  dryRun?: boolean;
  /** Delete objects matching this selector that the manifests do not mention. @default undefined (no pruning) */
  prune?: string;
  /**
   * Called with each change as soon as it is made (after its write), in the order of
   * `objects` and then the pruned ones, so a caller can report progress: an apply that is
   * interrupted has reported exactly what it wrote. @default none
   */
  onApplied?: (change: AppliedChange) => void;
  /**
   * How many times the read-modify-write of one object is retried, each time with the
   * object as it is now, when another writer changed it in between (a controller writing
   * status, a concurrent `apply`); then a `ConflictError` names it. @default 20 (as `mutate`)
   */
  conflictRetries?: number;
}

/** The artifact's sha256 (deploy's `sha256File`, streamed); an unreadable artifact is a manifest error. */
async function artifactSha256(path: string): Promise<string> {
  try {
    return await sha256File(path);
  } catch (e) {
    throw new ClusterError('manifest-invalid', `artifact ${path} cannot be read: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** Copies an artifact into the content-addressed directory (once) and returns its reference. */
export async function storeArtifact(path: string, artifactDir: string): Promise<{ path: string; sha256: string }> {
  const sha = await artifactSha256(path);
  const target = join(artifactDir, sha);
  try {
    await stat(target);
  } catch {
    await mkdir(artifactDir, { recursive: true });
    const tmp = `${target}.tmp-${process.pid}`;
    await copyFile(path, tmp);
    await rename(tmp, target);
  }
  // its signature (`flo sign` writes `<artifact>.sig`), when there is one, goes along
  try {
    await stat(`${path}.sig`);
    const tmp = `${target}.sig.tmp-${process.pid}`;
    await copyFile(`${path}.sig`, tmp);
    await rename(tmp, `${target}.sig`);
  } catch {
    // unsigned
  }
  return { path: target, sha256: sha };
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * What `apply` makes of the stored object `current` and the manifest `o`: spec, labels and
 * annotations from the manifest, everything else (status, generation, …) kept; a host's
 * `unschedulable` set by `flo cordon` is kept unless the manifest says otherwise.
 * `undefined` when nothing would change.
 */
function applied(current: Manifest, o: Manifest): Manifest | undefined {
  const next = { ...current, metadata: { ...current.metadata, labels: o.metadata.labels, annotations: o.metadata.annotations }, spec: o.spec } as Manifest;
  if (o.kind === 'Host' && current.kind === 'Host' && current.spec.unschedulable !== undefined && o.spec.unschedulable === undefined) {
    (next as Host).spec = { ...o.spec, unschedulable: current.spec.unschedulable };
  }
  if (same(next.spec, current.spec) && same(next.metadata.labels, current.metadata.labels)) return undefined;
  return next;
}

/**
 * Writes one manifest: creates it, or replaces its spec and labels with a read-modify-write
 * (`mutate`) that starts again from the fresh object when another writer got in between.
 * An object created or deleted by someone else meanwhile is handled the same way.
 */
async function applyOne(store: ClusterStore, o: Manifest, dryRun: boolean, retries: number): Promise<Omit<PlannedChange, 'kind' | 'name'>> {
  const objects = resourcesOf(store, o.kind);
  const name = o.metadata.name;
  for (let attempt = 0; ; attempt++) {
    const current = await objects.get(name);
    if (!current) {
      if (dryRun) return { action: 'created', applied: o };
      try {
        return { action: 'created', applied: await objects.create(o) };
      } catch (e) {
        if (!isConflictError(e) || attempt >= retries) throw e;
        continue; // created meanwhile: configure it
      }
    }
    if (dryRun) {
      const next = applied(current, o);
      return next ? { action: 'configured', live: current, applied: next } : { action: 'unchanged', live: current, applied: current };
    }
    let change: Omit<PlannedChange, 'kind' | 'name'> = { action: 'unchanged' };
    const stored = await objects.mutate(
      name,
      (fresh) => {
        const next = applied(fresh, o);
        change = next ? { action: 'configured', live: structuredClone(fresh), applied: next } : { action: 'unchanged', live: fresh, applied: fresh };
        return next;
      },
      retries,
    );
    if (stored) return change.action === 'configured' ? { ...change, applied: stored } : change;
    if (attempt >= retries) throw new ConflictError(keyOf(o.kind, name), current.metadata.resourceVersion ?? 0, 0, attempt + 1);
    // deleted meanwhile: create it again
  }
}

/** Consecutive new objects of one kind from which {@link applyManifests} creates them in transactions. */
const BATCH_FROM = 10;

/**
 * Writes the objects in order: a run of at least {@link BATCH_FROM} consecutive objects of
 * one kind that do not exist yet is created with `createMany` (transactions of 50 where the
 * store has them: one consensus round per 50 rather than per object — a 1,500-replica-set
 * file); one created meanwhile by someone else (a conflict) is applied on its own, as every
 * other object is. Shorter runs are written (and reported) one object at a time.
 */
async function applyInOrder(store: ClusterStore, prepared: readonly Manifest[], retries: number, report: (change: PlannedChange) => void): Promise<void> {
  let run: Manifest[] = [];
  const flush = async (): Promise<void> => {
    if (run.length === 0) return;
    const batch = run;
    run = [];
    if (batch.length < BATCH_FROM) {
      // a few objects: each written and reported on its own (a person watching sees each one land)
      for (const o of batch) report({ kind: o.kind, name: o.metadata.name, ...(await applyOne(store, o, false, retries)) });
      return;
    }
    const results: (Manifest | Error)[] = await resourcesOf(store, batch[0]!.kind).createMany(batch);
    for (let k = 0; k < batch.length; k++) {
      const o = batch[k]!;
      const r = results[k]!;
      if (!(r instanceof Error)) report({ kind: o.kind, name: o.metadata.name, action: 'created', applied: r });
      else if (isConflictError(r)) report({ kind: o.kind, name: o.metadata.name, ...(await applyOne(store, o, false, retries)) });
      else throw r;
    }
  };
  for (const o of prepared) {
    const absent = (await resourcesOf(store, o.kind).get(o.metadata.name)) === undefined;
    if (absent && (run.length === 0 || run[0]!.kind === o.kind)) {
      run.push(o);
      continue;
    }
    await flush();
    if (absent) run.push(o);
    else report({ kind: o.kind, name: o.metadata.name, ...(await applyOne(store, o, false, retries)) });
  }
  await flush();
}

/**
 * Applies manifests: creates what is missing, replaces spec and labels of what exists
 * (keeping status, so a later apply overrides `scale` as kubectl does; a manifest's own
 * `status`, as `flo get -o yaml` prints it, is ignored: status is observed), copies local
 * artifacts into the artifact directory and records their sha256. With `prune`, deletes
 * objects matching the selector that are not in `objects` — except a host that still has
 * instances bound to it: then, after the rest, a {@link HostInUseError} names them (the
 * instances of a replica set pruned in the same run are still being stopped: prune again
 * once they are gone).
 *
 * Every artifact is read and copied before the first object is written. Objects are then
 * written in order, each reported to `onApplied` once written — ten or more consecutive new
 * objects of one kind created together (in transactions of 50 where the store has them); a write that
 * meets a concurrent change is retried from the fresh object (`conflictRetries`).
 */
export async function applyManifests(store: ClusterStore, objects: readonly (Manifest | LoadedManifest)[], options: ApplyOptions = {}): Promise<AppliedChange[]> {
  const changes: AppliedChange[] = [];
  await applyDetailed(store, objects, options, ({ kind, name, action }) => {
    const change = { kind, name, action };
    changes.push(change);
    options.onApplied?.(change);
  });
  return changes;
}

/**
 * What {@link applyManifests} would do, changing nothing (its `dryRun`), with both sides of
 * each change: the live object and the object apply would write (local artifacts as the
 * content-addressed copies it would make). `flo diff` and `flo apply --dry-run` print these.
 */
export async function planApply(store: ClusterStore, objects: readonly (Manifest | LoadedManifest)[], options: Omit<ApplyOptions, 'dryRun' | 'onApplied'> = {}): Promise<PlannedChange[]> {
  const changes: PlannedChange[] = [];
  await applyDetailed(store, objects, { ...options, dryRun: true }, (c) => changes.push(c));
  return changes;
}

/** An object to apply and the directory its relative paths start from. */
function withBaseDirs(objects: readonly (Manifest | LoadedManifest)[], baseDirs: readonly string[] | undefined): { object: Manifest; baseDir: string }[] {
  return objects.map((o, i) => {
    const object = 'object' in o ? o.object : o;
    return { object, baseDir: ('object' in o ? o.baseDir : undefined) ?? baseDirs?.[i] ?? process.cwd() };
  });
}

async function applyDetailed(store: ClusterStore, input: readonly (Manifest | LoadedManifest)[], options: ApplyOptions, report: (change: PlannedChange) => void): Promise<void> {
  const entries = withBaseDirs(input, options.baseDirs);
  const objects = entries.map((e) => e.object);
  const artifactDir = options.artifactDir ?? store.artifactDir;
  const retries = options.conflictRetries ?? 20;
  if (!Number.isInteger(retries) || retries < 0) throw new TypeError(`conflictRetries: expected a non-negative integer, received ${String(options.conflictRetries)}`);
  const dryRun = options.dryRun ?? false;
  const prepared: Manifest[] = [];
  const imageIssues: ManifestIssue[] = [];
  for (const { object: original, baseDir } of entries) {
    const o = structuredClone(original);
    delete (o as { status?: unknown }).status;
    const image = o.kind === 'ReplicaSet' ? o.spec.template.spec.image : undefined;
    if (o.kind === 'ReplicaSet' && image !== undefined && !isImageRef(image)) {
      // every blob read and hashed, the platform checked, before anything is written
      if (!dryRun && artifactDir === undefined) throw new ClusterError('manifest-invalid', 'no artifact directory for image blobs: pass --artifacts DIR');
      try {
        const stored = await storeImage(image, { cwd: baseDir, dryRun, ...(artifactDir !== undefined ? { artifactDir } : {}) });
        o.spec.template.spec.image = stored.ref;
      } catch (e) {
        imageIssues.push(issueAt(original, ['spec', 'template', 'spec', 'image'], e instanceof Error ? e.message : String(e)));
      }
    }
    if (o.kind === 'ReplicaSet') {
      const a = o.spec.template.spec.artifact;
      if (typeof a === 'string') {
        const path = isAbsolute(a) ? a : resolve(baseDir, a);
        if (dryRun) {
          // where apply would copy it (so an unchanged artifact reads as unchanged)
          const sha256 = await artifactSha256(path);
          o.spec.template.spec.artifact = { path: artifactDir !== undefined ? join(artifactDir, sha256) : path, sha256 };
        } else {
          if (artifactDir === undefined) throw new ClusterError('manifest-invalid', 'no artifact directory: pass --artifacts DIR');
          o.spec.template.spec.artifact = await storeArtifact(path, artifactDir);
        }
      }
    }
    if (o.kind === 'Host' && o.spec.local) o.spec.local = { dir: resolve(baseDir, o.spec.local.dir) };
    prepared.push(o);
  }
  // a bad image is refused before anything is written, so nothing running is touched
  if (imageIssues.length > 0) throw new ManifestError(imageIssues);
  // so is a Network the cluster cannot take (a second one, a changed block, too small for the hosts)
  const networkIssues = await networkProblems(store, objects, prepared);
  if (networkIssues.length > 0) throw new ManifestError(networkIssues);
  if (dryRun) for (const o of prepared) report({ kind: o.kind, name: o.metadata.name, ...(await applyOne(store, o, dryRun, retries)) });
  else await applyInOrder(store, prepared, retries, report);
  if (options.prune !== undefined) {
    const selector = parseSelector(options.prune);
    const keep = new Set(prepared.map((o) => `${o.kind}/${o.metadata.name}`));
    let inUse: HostInUseError | undefined; // a host still running instances is kept; the first is reported after the rest
    for (const kind of ['Service', 'ReplicaSet', 'Host', 'Network'] as const) {
      for (const o of await resourcesOf(store, kind).items()) {
        if (keep.has(`${kind}/${o.metadata.name}`) || !selector.matches(o.metadata.labels ?? {})) continue;
        if (kind === 'Host' && (await instancesOnHost(store, o.metadata.name)).length > 0) {
          inUse ??= new HostInUseError(o.metadata.name, await instancesOnHost(store, o.metadata.name));
          continue;
        }
        if (!dryRun) await deleteObject(store, kind, o.metadata.name);
        report({ kind, name: o.metadata.name, action: 'pruned', live: o });
      }
    }
    if (inUse) throw inUse;
  }
}


/**
 * What the store and the manifests together make wrong about the Network, before anything
 * is written: a second Network (a cluster has one), a changed podCIDR, hostSubnetPrefix or
 * serviceCIDR (leases were made from them), a podCIDR with fewer subnets than hosts, and a
 * hostname two services claim.
 */
async function networkProblems(store: ClusterStore, originals: readonly Manifest[], prepared: readonly Manifest[]): Promise<ManifestIssue[]> {
  const issues: ManifestIssue[] = [];
  const incoming = prepared.flatMap((o, i) => (o.kind === 'Network' ? [{ o, original: originals[i]! }] : []));
  const existing = await store.networks.items();
  if (incoming.length > 1)
    for (const { original } of incoming.slice(1))
      issues.push(issueAt(original, ['metadata', 'name'], `a cluster has one Network, and network/${incoming[0]!.o.metadata.name} is declared too: merge them into one`));
  const first = incoming[0];
  if (first) {
    const live = existing.find((n) => n.metadata.name === first.o.metadata.name);
    const other = existing.find((n) => n.metadata.name !== first.o.metadata.name);
    if (other)
      issues.push(issueAt(first.original, ['metadata', 'name'], `a cluster has one Network and network/${other.metadata.name} exists: edit that one (metadata.name: ${other.metadata.name}) or delete it first (flo delete network/${other.metadata.name})`));
    if (live && first.o.kind === 'Network') {
      const spec = first.o.spec;
      const fixed: [keyof Network['spec'], unknown, unknown][] = [
        ['podCIDR', live.spec.podCIDR, spec.podCIDR],
        ['hostSubnetPrefix', live.spec.hostSubnetPrefix ?? DEFAULT_HOST_SUBNET_PREFIX, spec.hostSubnetPrefix ?? DEFAULT_HOST_SUBNET_PREFIX],
        ['serviceCIDR', live.spec.serviceCIDR, spec.serviceCIDR],
      ];
      for (const [field, was, now] of fixed)
        if (was !== now)
          issues.push(issueAt(first.original, ['spec', field], `cannot change from ${String(was)} to ${String(now)}: hosts and services hold leases of it; delete network/${live.metadata.name} (which releases them) and apply the new one`));
    }
  }
  const network = (first?.o.kind === 'Network' ? first.o : undefined) ?? existing[0];
  if (network && issues.length === 0) {
    const hostNames = new Set([...(await store.hosts.items()).map((h) => h.metadata.name), ...prepared.filter((o) => o.kind === 'Host').map((o) => o.metadata.name)]);
    const capacity = subnetCapacity(network.spec);
    if (hostNames.size > capacity) {
      const where = first ? issueAt(first.original, ['spec', 'podCIDR'], '') : undefined;
      const message = `podCIDR ${network.spec.podCIDR} in /${network.spec.hostSubnetPrefix ?? DEFAULT_HOST_SUBNET_PREFIX} subnets has room for ${capacity} host(s), and the cluster would have ${hostNames.size}: give a larger podCIDR or a longer hostSubnetPrefix`;
      if (where) issues.push({ ...where, message });
      else {
        const host = prepared.findIndex((o) => o.kind === 'Host');
        issues.push(issueAt(originals[host]!, ['metadata', 'name'], message));
      }
    }
  }
  // a hostname answers with one VIP: two services may not claim it
  const services = new Map<string, { hostnames: string[]; original?: Manifest }>();
  for (const s of await store.services.items()) services.set(s.metadata.name, { hostnames: s.spec.hostnames ?? [] });
  prepared.forEach((o, i) => {
    if (o.kind === 'Service') services.set(o.metadata.name, { hostnames: o.spec.hostnames ?? [], original: originals[i]! });
  });
  const claimed = new Map<string, string>();
  for (const [name, s] of [...services].sort(([a], [b]) => (a < b ? -1 : 1))) {
    s.hostnames.forEach((h, i) => {
      const by = claimed.get(h);
      if (by !== undefined && s.original) issues.push(issueAt(s.original, ['spec', 'hostnames', i], `${h} is already a hostname of service/${by}: a name answers with one virtual IP`));
      else if (by === undefined) claimed.set(h, name);
    });
  }
  return issues;
}

/** Options of {@link deleteObject}. */
export interface DeleteObjectOptions {
  /**
   * Delete a host even while instances are bound to it. Their records are then dropped by
   * the controllers and their processes keep running on the host, untracked: for a host
   * that is gone for good. @default false
   */
  force?: boolean;
}

/** The instances bound to a host (terminating ones included). */
export async function instancesOnHost(store: ClusterStore, host: string): Promise<BoundInstance[]> {
  return (await store.instances.items())
    .filter((i) => i.spec.host === host)
    .map((i) => ({ name: i.metadata.name, replicaSet: i.spec.replicaSet, terminating: i.metadata.deletionTimestamp !== undefined }));
}

/**
 * Deletes an object; a replica set's instances are then stopped by the controllers.
 * Returns false when absent. A host is deleted only when no instance is bound to it
 * (else a {@link HostInUseError} names them), unless `force`: deleting a host that still
 * runs instances would leave their supervisors and commands running there, untracked.
 * `deleteResources` orders a whole set of deletions and waits for the instances.
 */
export async function deleteObject(store: ClusterStore, kind: ManifestKind | 'Instance', name: string, options: DeleteObjectOptions = {}): Promise<boolean> {
  switch (kind) {
    case 'Host': {
      if (!options.force) {
        const bound = await instancesOnHost(store, name);
        if (bound.length > 0 && (await store.hosts.get(name))) throw new HostInUseError(name, bound);
      }
      return store.hosts.delete(name);
    }
    case 'ReplicaSet':
      return store.replicaSets.delete(name);
    case 'Service':
      return store.services.delete(name);
    case 'Network':
      return store.networks.delete(name);
    case 'Instance': {
      const r = await store.instances.mutate(name, (cur) => {
        if (cur.metadata.deletionTimestamp !== undefined) return undefined;
        cur.metadata.deletionTimestamp = new Date().toISOString();
        cur.metadata.deletionReason = 'deleted by user';
        return cur;
      });
      return r !== undefined;
    }
  }
}

function notFound(kind: string, name: string): ClusterError {
  return new ClusterError('not-found', `${kind}/${name} not found`);
}

/** Sets a replica set's `replicas` (until the next `apply` says otherwise). */
export async function scaleReplicaSet(store: ClusterStore, name: string, replicas: number): Promise<ReplicaSet> {
  if (!Number.isInteger(replicas) || replicas < 0) throw new TypeError(`replicas: expected a non-negative integer, received ${String(replicas)}`);
  const r = await store.replicaSets.mutate(name, (cur) => {
    if (cur.spec.replicas === replicas) return undefined;
    cur.spec.replicas = replicas;
    return cur;
  });
  if (!r) throw notFound('replicaset', name);
  return r;
}

/** Marks a host (un)schedulable: `flo cordon` / `flo uncordon`. */
export async function setUnschedulable(store: ClusterStore, name: string, unschedulable: boolean): Promise<Host> {
  const r = await store.hosts.mutate(name, (cur) => {
    if ((cur.spec.unschedulable ?? false) === unschedulable) return undefined;
    cur.spec.unschedulable = unschedulable;
    return cur;
  });
  if (!r) throw notFound('host', name);
  return r;
}

/** Cordons a host and evicts its instances (they are replaced elsewhere, then stopped there). Returns the evicted names. */
export async function drainHost(store: ClusterStore, name: string): Promise<string[]> {
  await setUnschedulable(store, name, true);
  const evicted: string[] = [];
  for (const i of await store.instances.items()) {
    if (i.spec.host !== name || i.metadata.deletionTimestamp !== undefined) continue;
    await store.instances.mutate(i.metadata.name, (cur) => {
      if (cur.metadata.deletionTimestamp !== undefined) return undefined;
      cur.metadata.deletionTimestamp = new Date().toISOString();
      cur.metadata.deletionReason = `host ${name} drained`;
      return cur;
    });
    evicted.push(i.metadata.name);
  }
  return evicted;
}

/** `flo rollout undo`: sets the template back to the one before the current (from the replica set's history). */
export async function rolloutUndo(store: ClusterStore, name: string): Promise<{ from: string; to: string }> {
  const rs = await store.replicaSets.get(name);
  if (!rs) throw notFound('replicaset', name);
  const current = templateHash(rs.spec.template);
  const history = (rs.status?.history ?? []).filter((h) => h.hash !== current);
  const previous = history.at(-1);
  if (!previous) throw new ClusterError('not-found', `replicaset/${name} has no previous template to roll back to`);
  await store.replicaSets.mutate(name, (cur) => {
    cur.spec.template = structuredClone(previous.template);
    return cur;
  });
  return { from: current, to: previous.hash };
}

// The views (`get`/`describe` -o json) are in views.ts; the controllers import these two from here.
export { selectorInputText, serviceSelectors } from './views.js';

/** Directory of a manifest file (to resolve relative artifact paths). */
export function baseDirOf(file: string): string {
  return dirname(resolve(file));
}

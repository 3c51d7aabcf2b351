/**
 * Stored objects as manifests again (`flo get -o yaml`, `flo diff`): what `apply` takes back
 * and finds unchanged.
 */
import { API_VERSION, type Instance, type Manifest } from './types.js';

/** Options of {@link manifestOf}. */
export interface ManifestOfOptions {
  /**
   * Include the observed `status` (without a replica set's template `history`). `apply`
   * ignores a manifest's status, so the result still applies unchanged. @default false
   */
  status?: boolean;
}

/**
 * A stored Host, ReplicaSet or Service as a manifest that {@link applyManifests} takes back
 * and finds unchanged: `apiVersion`, `kind`, the user-set metadata (`name`, `labels`,
 * `annotations`; not `generation`, `resourceVersion`, `creationTimestamp`), the `spec` as
 * stored, and optionally the status. A local artifact recorded as `{path, sha256}` is given as
 * its path (the content-addressed copy apply made: applying it again copies nothing new and
 * records the same sha256); an image recorded with its store as its reference (or `{url, digest}`).
 * An Instance (made by the controllers, never applied) is returned
 * whole, its status only with `status`.
 */
export function manifestOf(object: Manifest, options?: ManifestOfOptions): Record<string, unknown>;
export function manifestOf(object: Instance, options?: ManifestOfOptions): Record<string, unknown>;
export function manifestOf(object: Manifest | Instance, options: ManifestOfOptions = {}): Record<string, unknown> {
  const { name, labels, annotations } = object.metadata;
  const metadata: Record<string, unknown> = { name };
  if (labels !== undefined) metadata.labels = structuredClone(labels);
  if (annotations !== undefined) metadata.annotations = structuredClone(annotations);
  if (object.kind === 'Instance') {
    const whole = structuredClone(object) as unknown as Record<string, unknown>;
    if (options.status !== true) delete whole.status;
    return whole;
  }
  const spec = structuredClone(object.spec) as unknown as Record<string, unknown>;
  if (object.kind === 'ReplicaSet') {
    const t = (spec.template as { spec: { artifact?: unknown; image?: unknown } }).spec;
    const a = t.artifact;
    if (typeof a === 'object' && a !== null && 'path' in a && typeof a.path === 'string') t.artifact = a.path;
    // an image recorded as {ref, digest, store} is given as its reference; {url, digest, store} as {url, digest}
    const i = t.image;
    if (typeof i === 'object' && i !== null && 'store' in i) {
      if ('ref' in i && typeof i.ref === 'string') t.image = i.ref;
      else if ('url' in i && 'digest' in i) t.image = { url: i.url, digest: i.digest };
    }
  }
  const out: Record<string, unknown> = { apiVersion: API_VERSION, kind: object.kind, metadata, spec };
  if (options.status === true && object.status !== undefined) {
    const status = structuredClone(object.status) as unknown as Record<string, unknown>;
    delete status.history;
    out.status = status;
  }
  return out;
}

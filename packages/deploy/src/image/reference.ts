/**
 * Image references in the forms skopeo and the template's `image:` field use:
 * `oci:DIR[:tag]` (an OCI layout directory), `oci-archive:FILE[:tag]` (that layout in a tar),
 * `docker-archive:FILE[:name:tag|:@N]` (`docker save`), or a bare path, recognised by what
 * it holds.
 */
import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { ImageError } from './errors.js';

export type ImageTransport = 'oci' | 'oci-archive' | 'docker-archive';

/** A parsed image reference. */
export interface ImageReference {
  /** `undefined` for a bare path: recognised when read (layout directory, OCI or Docker archive). */
  transport: ImageTransport | undefined;
  /** Absolute path of the directory or archive. */
  path: string;
  /** `oci`/`oci-archive`: the tag (`org.opencontainers.image.ref.name`); `docker-archive`: `name:tag` from RepoTags. */
  tag?: string;
  /** `docker-archive:FILE:@N`: the N-th image of the archive's manifest.json. */
  index?: number;
  /** The reference as given. */
  text: string;
}

const TRANSPORTS: readonly ImageTransport[] = ['oci', 'oci-archive', 'docker-archive'];

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses an image reference; relative paths are resolved against `cwd`. Where a path itself
 * contains `:`, the longest existing prefix is the path. Throws `image-reference` for an
 * unknown transport or an empty path (never touches a registry: there is none).
 */
export function parseImageReference(text: string, options: { cwd?: string } = {}): ImageReference {
  const cwd = options.cwd ?? process.cwd();
  const bad = (why: string): never => {
    throw new ImageError('image-reference', `image ${JSON.stringify(text)}: ${why}`, { image: text });
  };
  if (typeof text !== 'string' || text.trim() === '') bad('expected oci:DIR[:tag], oci-archive:FILE[:tag], docker-archive:FILE[:name:tag] or a path');
  const m = /^([a-z][a-z0-9-]*):(.*)$/.exec(text);
  let transport: ImageTransport | undefined;
  let rest = text;
  if (m && !exists(resolve(cwd, text))) {
    if (!TRANSPORTS.includes(m[1] as ImageTransport)) {
      if (m[1] === 'docker' || m[1] === 'docker-daemon' || m[1] === 'http' || m[1] === 'https') bad(`transport ${m[1]}: is not supported (no registry is reached; use oci:, oci-archive:, docker-archive: or a path)`);
      bad(`unknown transport ${m[1]}: (expected oci:, oci-archive: or docker-archive:)`);
    }
    transport = m[1] as ImageTransport;
    rest = m[2]!;
  }
  if (rest === '') bad('the path is empty');
  let path = rest;
  let ref: string | undefined;
  if (transport !== undefined && !exists(resolve(cwd, rest))) {
    // The first prefix ending before a ':' that exists is the path; else split at the first ':'.
    let split = -1;
    for (let i = rest.indexOf(':'); i >= 0; i = rest.indexOf(':', i + 1)) {
      if (exists(resolve(cwd, rest.slice(0, i)))) {
        split = i;
        break;
      }
    }
    if (split < 0) split = rest.indexOf(':');
    if (split >= 0) {
      path = rest.slice(0, split);
      ref = rest.slice(split + 1);
    }
  }
  if (path === '') bad('the path is empty');
  const out: ImageReference = { transport, path: isAbsolute(path) ? path : resolve(cwd, path), text };
  if (ref !== undefined) {
    if (ref === '') bad('the tag after ":" is empty');
    if (transport === 'docker-archive' && ref.startsWith('@')) {
      if (!/^@\d+$/.test(ref)) bad(`${ref}: expected @N, an image's position in the archive`);
      out.index = Number(ref.slice(1));
    } else if (!/^[A-Za-z0-9][A-Za-z0-9._\-/:@+]*$/.test(ref)) bad(`${JSON.stringify(ref)} is not a valid tag`);
    else out.tag = ref;
  }
  return out;
}

/** The reference in canonical form (`transport:path[:tag]`). */
export function formatImageReference(r: ImageReference): string {
  const tail = r.index !== undefined ? `:@${r.index}` : r.tag !== undefined ? `:${r.tag}` : '';
  return `${r.transport ? `${r.transport}:` : ''}${r.path}${tail}`;
}

/**
 * The OCI image spec's documents (image-spec v1.1: descriptor, index, manifest, config),
 * with the Docker v2 schema 2 media types that mean the same, and their validation.
 */
import { isDigest, type Digest } from './digest.js';

export const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
} as const;

/** The annotation that names a manifest in an OCI layout's index.json (a tag). */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** The runtime part of an image config (`config` in the JSON). */
export interface ImageRuntimeConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  ExposedPorts?: Record<string, object>;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Volumes?: Record<string, object>;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: ImageRuntimeConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }[];
}

/** How a layer's bytes are compressed, from its media type. */
export function layerCompression(mediaType: string): 'gzip' | 'none' | 'zstd' | undefined {
  switch (mediaType) {
    case MEDIA_TYPES.layerGzip:
    case MEDIA_TYPES.dockerLayerGzip:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip':
      return 'gzip';
    case MEDIA_TYPES.layerTar:
    case MEDIA_TYPES.dockerLayerTar:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar':
      return 'none';
    case MEDIA_TYPES.layerZstd:
      return 'zstd';
    default:
      return undefined;
  }
}

export function isIndexMediaType(t: string | undefined): boolean {
  return t === MEDIA_TYPES.index || t === MEDIA_TYPES.dockerManifestList;
}
export function isManifestMediaType(t: string | undefined): boolean {
  return t === MEDIA_TYPES.manifest || t === MEDIA_TYPES.dockerManifest;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Problems with a descriptor at `path` (empty = valid). */
export function descriptorProblems(v: unknown, path: string): string[] {
  if (!isObject(v)) return [`${path}: expected a descriptor object`];
  const out: string[] = [];
  if (typeof v.mediaType !== 'string') out.push(`${path}.mediaType: expected a string`);
  if (!isDigest(v.digest)) out.push(`${path}.digest: ${JSON.stringify(v.digest)} is not a digest`);
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) out.push(`${path}.size: expected a non-negative integer`);
  if (v.platform !== undefined && (!isObject(v.platform) || typeof v.platform.os !== 'string' || typeof v.platform.architecture !== 'string')) {
    out.push(`${path}.platform: expected {os, architecture}`);
  }
  return out;
}

/** Parses and checks an index (or Docker manifest list); returns it or the problems. */
export function parseIndex(json: unknown): OciIndex | string[] {
  if (!isObject(json)) return ['expected a JSON object'];
  const out: string[] = [];
  if (json.schemaVersion !== 2) out.push(`schemaVersion: expected 2, got ${JSON.stringify(json.schemaVersion)}`);
  if (!Array.isArray(json.manifests)) out.push('manifests: expected a list');
  else json.manifests.forEach((d, i) => out.push(...descriptorProblems(d, `manifests[${i}]`)));
  return out.length ? out : (json as unknown as OciIndex);
}

/** Parses and checks an image manifest; returns it or the problems. */
export function parseManifest(json: unknown): OciManifest | string[] {
  if (!isObject(json)) return ['expected a JSON object'];
  const out: string[] = [];
  if (json.schemaVersion !== 2) out.push(`schemaVersion: expected 2, got ${JSON.stringify(json.schemaVersion)}`);
  if (json.mediaType !== undefined && !isManifestMediaType(json.mediaType as string)) out.push(`mediaType: ${JSON.stringify(json.mediaType)} is not an image manifest`);
  out.push(...descriptorProblems(json.config, 'config'));
  if (!Array.isArray(json.layers)) out.push('layers: expected a list');
  else
    json.layers.forEach((d, i) => {
      const p = descriptorProblems(d, `layers[${i}]`);
      out.push(...p);
      if (!p.length && layerCompression((d as Descriptor).mediaType) === undefined) out.push(`layers[${i}].mediaType: ${JSON.stringify((d as Descriptor).mediaType)} is not a layer type Flotilla can unpack`);
    });
  return out.length ? out : (json as unknown as OciManifest);
}

/** Parses and checks an image config; returns it or the problems. */
export function parseImageConfig(json: unknown): ImageConfig | string[] {
  if (!isObject(json)) return ['expected a JSON object'];
  const out: string[] = [];
  if (typeof json.architecture !== 'string') out.push('architecture: expected a string');
  if (typeof json.os !== 'string') out.push('os: expected a string');
  if (!isObject(json.rootfs) || !Array.isArray(json.rootfs.diff_ids)) out.push('rootfs.diff_ids: expected a list of digests');
  else json.rootfs.diff_ids.forEach((d, i) => {
    if (!isDigest(d)) out.push(`rootfs.diff_ids[${i}]: ${JSON.stringify(d)} is not a digest`);
  });
  const c = json.config;
  if (c !== undefined && c !== null) {
    if (!isObject(c)) out.push('config: expected an object');
    else {
      for (const k of ['Env', 'Entrypoint', 'Cmd'] as const) {
        const v = c[k];
        if (v !== undefined && v !== null && (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))) out.push(`config.${k}: expected a list of strings`);
      }
      for (const k of ['User', 'WorkingDir'] as const) if (c[k] !== undefined && typeof c[k] !== 'string') out.push(`config.${k}: expected a string`);
    }
  }
  return out.length ? out : (json as unknown as ImageConfig);
}

/** `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** The OCI platform of this machine (Node's `process.arch` in OCI's names). */
export function hostPlatform(arch: string = process.arch, endianness: 'LE' | 'BE' = 'LE'): Platform {
  const names: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: endianness === 'LE' ? 'ppc64le' : 'ppc64',
    s390x: 's390x',
    riscv64: 'riscv64',
    loong64: 'loong64',
    mips: 'mips',
    mipsel: 'mipsle',
  };
  return { os: 'linux', architecture: names[arch] ?? arch };
}

/** Whether an image for `have` runs on `want` (variants compared only when both say one; arm64's v8 is the default). */
export function platformMatches(have: Platform, want: Platform): boolean {
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  const norm = (p: Platform): string | undefined => (p.architecture === 'arm64' && p.variant === 'v8' ? undefined : p.variant);
  const a = norm(have);
  const b = norm(want);
  return a === undefined || b === undefined || a === b;
}

/** Canonical JSON bytes (keys in insertion order, no spaces): what Flotilla writes and hashes. */
export function jsonBytes(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v), 'utf8');
}

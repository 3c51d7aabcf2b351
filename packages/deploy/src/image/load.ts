/**
 * Reading an image: from an OCI layout directory, an `oci-archive` tar or a `docker-archive`
 * (`docker save`) tar, into one OCI view (manifest, config, layer descriptors, tags).
 *
 * Guarantees:
 * - Every blob read is hashed and checked against its digest and size — index, manifest,
 *   config and every layer — whether or not a content store already holds it. A mismatch is
 *   `blob-digest`, an absent blob `blob-missing`, both naming the image and the blob.
 * - An index (or Docker manifest list) picks `linux/<this machine's arch>`; an image for other
 *   platforms only is refused with `image-platform`, listing the platforms it has.
 * - With `store`, the image's blobs are ingested into it (verified before commit); a
 *   `docker-archive` image is stored as the OCI manifest it converts to.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { scanArchive, type ArchiveFile, type ScannedArchive } from './archive.js';
import { digestMismatch, type ContentStore } from './content-store.js';
import { BLOB_CHUNK_BYTES, DigestCounter, parseDigest, sha256Digest, type Digest } from './digest.js';
import { ImageError } from './errors.js';
import {
  MEDIA_TYPES,
  REF_NAME_ANNOTATION,
  formatPlatform,
  hostPlatform,
  isIndexMediaType,
  jsonBytes,
  parseImageConfig,
  parseIndex,
  parseManifest,
  platformMatches,
  type Descriptor,
  type ImageConfig,
  type OciIndex,
  type OciManifest,
  type Platform,
} from './oci.js';
import { parseImageReference, type ImageReference, type ImageTransport } from './reference.js';

/** An image, read and verified. */
export interface Image {
  /** The reference it was read from. */
  reference: ImageReference;
  /** How it was read (a bare path resolved to one of these). */
  transport: ImageTransport;
  /** The manifest's digest: the image's identity (what is signed and recorded). */
  digest: Digest;
  manifest: OciManifest;
  /** The manifest's bytes (they hash to `digest`). */
  manifestBytes: Buffer;
  config: ImageConfig;
  configBytes: Buffer;
  /** Layers, bottom first. */
  layers: Descriptor[];
  /** Tags that name this image in its source (ref names, or RepoTags of a docker-archive). */
  tags: string[];
  platform: Platform;
}

/** Options of {@link loadImage}. */
export interface LoadImageOptions {
  /** Resolves relative paths. @default process.cwd() */
  cwd?: string;
  /** Ingest the image's blobs here (verified before commit). */
  store?: ContentStore;
  /** The platform to pick and require. @default linux/<this machine's arch> */
  platform?: Platform;
}

const MAX_JSON_BYTES = 4 * 1024 * 1024;

/** Where blobs come from while resolving an image. */
interface BlobSource {
  /** The verified bytes of a JSON blob. */
  json(desc: Descriptor, what: string): Promise<Buffer>;
  /** Checks (hashes) a layer blob and ingests it into the store when there is one. */
  layer(desc: Descriptor, index: number): Promise<void>;
}

function parseJson(bytes: Buffer, image: string, what: string, blob: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new ImageError('image-invalid', `image ${image}: ${what} ${blob} is not valid JSON: ${(e as Error).message}`, { image, blob });
  }
}

function invalid(image: string, what: string, blob: string, problems: string[]): ImageError {
  return new ImageError('image-invalid', `image ${image}: ${what} ${blob} is not valid: ${problems.join('; ')}`, { image, blob });
}

/** Reads and verifies an image. See the module's guarantees. */
export async function loadImage(reference: string | ImageReference, options: LoadImageOptions = {}): Promise<Image> {
  const ref = typeof reference === 'string' ? parseImageReference(reference, options.cwd === undefined ? {} : { cwd: options.cwd }) : reference;
  const image = ref.text;
  const platform = options.platform ?? hostPlatform();
  let st;
  try {
    st = await stat(ref.path);
  } catch (e) {
    throw new ImageError('image-reference', `image ${image}: ${ref.path} does not exist`, { image, cause: e });
  }
  if (st.isDirectory()) {
    if (ref.transport && ref.transport !== 'oci') throw new ImageError('image-reference', `image ${image}: ${ref.path} is a directory; ${ref.transport}: expects a tar file (use oci:${ref.path})`, { image });
    return loadLayoutDir(ref, platform, options.store);
  }
  if (ref.transport === 'oci') throw new ImageError('image-reference', `image ${image}: ${ref.path} is a file; oci: expects a layout directory (use oci-archive:${ref.path})`, { image });
  const archive = await scanArchive(ref.path, { image, store: options.store });
  try {
    const hasOci = archive.files.has('oci-layout') && archive.files.has('index.json');
    const hasDocker = archive.files.has('manifest.json');
    if (ref.transport === 'docker-archive' || (ref.transport === undefined && !hasOci && hasDocker)) {
      if (!hasDocker) throw new ImageError('image-invalid', `image ${image}: ${ref.path} has no manifest.json, so it is not a docker-archive${hasOci ? ` (it is an OCI archive: use oci-archive:${ref.path})` : ''}`, { image });
      return await loadDockerArchive(ref, archive, platform, options.store);
    }
    if (!hasOci) throw new ImageError('image-invalid', `image ${image}: ${ref.path} has no oci-layout and index.json, so it is not an OCI archive${hasDocker ? ` (it is a docker-archive: use docker-archive:${ref.path})` : ''}`, { image });
    const layoutCheck = archive.files.get('oci-layout')!;
    checkLayoutFile(layoutCheck.data, image, ref.path);
    const indexBytes = archive.files.get('index.json')!.data;
    if (!indexBytes) throw new ImageError('image-invalid', `image ${image}: index.json is too large`, { image });
    return await resolveImage(ref, 'oci-archive', indexBytes, archiveBlobs(archive, image), platform, options.store);
  } finally {
    await archive.close();
  }
}

function checkLayoutFile(data: Buffer | undefined, image: string, where: string): void {
  const v = data ? (parseJson(data, image, 'file', 'oci-layout') as { imageLayoutVersion?: unknown }) : undefined;
  if (!v || typeof v.imageLayoutVersion !== 'string' || !v.imageLayoutVersion.startsWith('1.')) {
    throw new ImageError('image-invalid', `image ${image}: ${where}: oci-layout does not say imageLayoutVersion 1.x`, { image });
  }
}

async function loadLayoutDir(ref: ImageReference, platform: Platform, store: ContentStore | undefined): Promise<Image> {
  const image = ref.text;
  const read = async (name: string): Promise<Buffer> => {
    try {
      return await readFile(join(ref.path, name));
    } catch (e) {
      throw new ImageError('image-invalid', `image ${image}: ${ref.path} is not an OCI layout (${name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { image, cause: e });
    }
  };
  checkLayoutFile(await read('oci-layout'), image, ref.path);
  const indexBytes = await read('index.json');
  const blobPath = (d: Digest): string => {
    const p = parseDigest(d)!;
    return join(ref.path, 'blobs', p.algorithm, p.hex);
  };
  const missing = (desc: Descriptor, what: string, e: unknown): ImageError =>
    new ImageError('blob-missing', `image ${image}: ${what} ${desc.digest} is missing (${blobPath(desc.digest)})`, { image, blob: desc.digest, cause: e });
  const source: BlobSource = {
    async json(desc, what) {
      if (desc.size > MAX_JSON_BYTES) throw new ImageError('image-invalid', `image ${image}: ${what} ${desc.digest} says it is ${desc.size} bytes, more than ${MAX_JSON_BYTES}`, { image, blob: desc.digest });
      let bytes: Buffer;
      try {
        bytes = await readFile(blobPath(desc.digest));
      } catch (e) {
        throw missing(desc, what, e);
      }
      const counter = new DigestCounter(parseDigest(desc.digest)!.algorithm);
      counter.update(bytes);
      const d = counter.digest();
      if (d !== desc.digest || bytes.length !== desc.size) throw digestMismatch(desc.digest, { digest: d, size: bytes.length }, { image, expectedSize: desc.size, where: what });
      if (store) await store.put(bytes, desc.digest, { image, size: desc.size });
      return bytes;
    },
    async layer(desc, i) {
      const stream = createReadStream(blobPath(desc.digest), { highWaterMark: BLOB_CHUNK_BYTES });
      const opened = new Promise<void>((resolve, reject) => {
        stream.once('open', () => resolve());
        stream.once('error', reject);
      });
      try {
        await opened;
      } catch (e) {
        throw missing(desc, `layer ${i}`, e);
      }
      if (store) {
        await store.put(stream, desc.digest, { image, size: desc.size });
        return;
      }
      const counter = new DigestCounter(parseDigest(desc.digest)!.algorithm);
      for await (const c of stream) counter.update(c as Buffer);
      const d = counter.digest();
      if (d !== desc.digest || counter.size !== desc.size) throw digestMismatch(desc.digest, { digest: d, size: counter.size }, { image, expectedSize: desc.size, where: `layer ${i}` });
    },
  };
  return resolveImage(ref, 'oci', indexBytes, source, platform, store);
}

function archiveBlobs(archive: ScannedArchive, image: string): BlobSource {
  const find = (desc: Descriptor, what: string): ArchiveFile => {
    const p = parseDigest(desc.digest)!;
    const f = archive.files.get(`blobs/${p.algorithm}/${p.hex}`);
    if (!f) throw new ImageError('blob-missing', `image ${image}: ${what} ${desc.digest} is missing from the archive`, { image, blob: desc.digest });
    // The content was checked against its name while scanning; the size against the descriptor here.
    if (f.size !== desc.size) throw digestMismatch(desc.digest, { digest: f.digest, size: f.size }, { image, expectedSize: desc.size, where: what });
    return f;
  };
  return {
    json(desc, what) {
      const f = find(desc, what);
      if (!f.data || f.size > MAX_JSON_BYTES) return Promise.reject(new ImageError('image-invalid', `image ${image}: ${what} ${desc.digest} is ${f.size} bytes, more than ${MAX_JSON_BYTES}`, { image, blob: desc.digest }));
      return Promise.resolve(f.data);
    },
    layer(desc, i) {
      find(desc, `layer ${i}`);
      return Promise.resolve();
    },
  };
}

interface Chosen {
  desc: Descriptor;
  tags: string[];
}

/** Picks the manifest from an index: by tag, then by platform (recursing into nested indexes). */
async function resolveImage(ref: ImageReference, transport: ImageTransport, indexBytes: Buffer, source: BlobSource, platform: Platform, store: ContentStore | undefined): Promise<Image> {
  const image = ref.text;
  const top = parseIndex(parseJson(indexBytes, image, 'file', 'index.json'));
  if (Array.isArray(top)) throw invalid(image, 'file', 'index.json', top);
  let candidates = top.manifests;
  const refNames = [...new Set(candidates.map((d) => d.annotations?.[REF_NAME_ANNOTATION]).filter((n): n is string => n !== undefined))];
  if (ref.tag !== undefined) {
    candidates = candidates.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === ref.tag);
    if (!candidates.length) throw new ImageError('image-reference', `image ${image}: no image tagged ${JSON.stringify(ref.tag)} in ${ref.path}${refNames.length ? ` (tags: ${refNames.join(', ')})` : ' (it has no tags)'}`, { image });
  } else if (refNames.length > 1 && new Set(candidates.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== undefined).map((d) => d.digest)).size > 1) {
    throw new ImageError('image-reference', `image ${image}: ${ref.path} holds several images; name one with :TAG (tags: ${refNames.join(', ')})`, { image });
  }
  if (!candidates.length) throw new ImageError('image-invalid', `image ${image}: index.json lists no manifests`, { image });
  // One candidate per digest, with every tag that names it.
  const byDigest = new Map<string, Chosen>();
  for (const desc of candidates) {
    const tag = desc.annotations?.[REF_NAME_ANNOTATION];
    const seen = byDigest.get(desc.digest);
    if (seen) {
      if (tag !== undefined && !seen.tags.includes(tag)) seen.tags.push(tag);
    } else byDigest.set(desc.digest, { desc, tags: tag !== undefined ? [tag] : [] });
  }
  const chosen = await choose([...byDigest.values()], source, image, platform, 0);
  const manifestBytes = await source.json(chosen.desc, 'manifest');
  const manifest = parseManifest(parseJson(manifestBytes, image, 'manifest', chosen.desc.digest));
  if (Array.isArray(manifest)) throw invalid(image, 'manifest', chosen.desc.digest, manifest);
  return finish(ref, transport, chosen.desc.digest, manifestBytes, manifest, chosen.tags, source, platform, store);
}

async function choose(list: Chosen[], source: BlobSource, image: string, platform: Platform, depth: number): Promise<Chosen> {
  if (depth > 4) throw new ImageError('image-invalid', `image ${image}: indexes nested more than 4 deep`, { image });
  // Expand nested indexes first (skopeo copies a multi-arch image as an index in index.json).
  const flat: Chosen[] = [];
  for (const c of list) {
    if (isIndexMediaType(c.desc.mediaType)) {
      const bytes = await source.json(c.desc, 'index');
      const idx = parseIndex(parseJson(bytes, image, 'index', c.desc.digest));
      if (Array.isArray(idx)) throw invalid(image, 'index', c.desc.digest, idx);
      const inner = await choose(idx.manifests.map((desc) => ({ desc, tags: c.tags })), source, image, platform, depth + 1).catch((e: unknown) => {
        if (list.length === 1) throw e;
        return undefined;
      });
      if (inner) flat.push(inner);
    } else flat.push(c);
  }
  if (flat.length === 1) return flat[0]!;
  const withPlatform = flat.filter((c) => c.desc.platform !== undefined);
  const matching = withPlatform.filter((c) => platformMatches(c.desc.platform!, platform));
  if (matching.length) {
    const exact = matching.find((c) => c.desc.platform!.variant === platform.variant);
    return exact ?? matching[0]!;
  }
  const have = [...new Set(withPlatform.map((c) => formatPlatform(c.desc.platform!)))].filter((p) => p !== 'unknown/unknown');
  if (flat.length === 0 || (withPlatform.length === flat.length)) {
    throw new ImageError('image-platform', `image ${image} has no manifest for ${formatPlatform(platform)} (this machine); it has: ${have.join(', ') || 'none'}`, { image, platforms: have });
  }
  throw new ImageError('image-invalid', `image ${image}: its index lists ${flat.length} manifests without platforms or tags; cannot tell which to use`, { image });
}

async function finish(
  ref: ImageReference,
  transport: ImageTransport,
  digest: Digest,
  manifestBytes: Buffer,
  manifest: OciManifest,
  tags: string[],
  source: BlobSource,
  platform: Platform,
  store: ContentStore | undefined,
): Promise<Image> {
  const image = ref.text;
  const configBytes = await source.json(manifest.config, 'config');
  const config = parseImageConfig(parseJson(configBytes, image, 'config', manifest.config.digest));
  if (Array.isArray(config)) throw invalid(image, 'config', manifest.config.digest, config);
  const have: Platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
  if (!platformMatches(have, platform)) {
    throw new ImageError('image-platform', `image ${image} is for ${formatPlatform(have)}; this machine needs ${formatPlatform(platform)}`, { image, platforms: [formatPlatform(have)] });
  }
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw invalid(image, 'config', manifest.config.digest, [`rootfs.diff_ids lists ${config.rootfs.diff_ids.length} layers, the manifest ${manifest.layers.length}`]);
  }
  for (const [i, l] of manifest.layers.entries()) await source.layer(l, i);
  if (store) {
    await store.put(manifestBytes, digest, { image });
    await store.put(configBytes, manifest.config.digest, { image });
  }
  return { reference: ref, transport, digest, manifest, manifestBytes, config, configBytes, layers: manifest.layers, tags, platform: have };
}

/** `bb:v1` → `docker.io/library/bb:v1`, `me/app` → `docker.io/me/app:latest` (Docker's normalisation). */
export function normalizeDockerName(name: string): string {
  let n = name;
  const slash = n.indexOf('/');
  const first = slash < 0 ? '' : n.slice(0, slash);
  if (slash < 0) n = `docker.io/library/${n}`;
  else if (!first.includes('.') && !first.includes(':') && first !== 'localhost') n = `docker.io/${n}`;
  const lastPart = n.slice(n.lastIndexOf('/') + 1);
  if (!lastPart.includes(':') && !lastPart.includes('@')) n = `${n}:latest`;
  return n;
}

interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

async function loadDockerArchive(ref: ImageReference, archive: ScannedArchive, platform: Platform, store: ContentStore | undefined): Promise<Image> {
  const image = ref.text;
  const mf = archive.files.get('manifest.json')!;
  const parsed = mf.data ? parseJson(mf.data, image, 'file', 'manifest.json') : undefined;
  const ok = (e: unknown): e is DockerManifestEntry =>
    typeof e === 'object' && e !== null && typeof (e as DockerManifestEntry).Config === 'string' && Array.isArray((e as DockerManifestEntry).Layers) && (e as DockerManifestEntry).Layers.every((l) => typeof l === 'string');
  if (!Array.isArray(parsed) || !parsed.every(ok) || parsed.length === 0) {
    throw new ImageError('image-invalid', `image ${image}: manifest.json is not a docker save manifest (expected [{"Config","RepoTags","Layers"}])`, { image, blob: 'manifest.json' });
  }
  const entries = parsed;
  const allTags = entries.flatMap((e) => e.RepoTags ?? []);
  let entry: DockerManifestEntry | undefined;
  if (ref.index !== undefined) {
    entry = entries[ref.index];
    if (!entry) throw new ImageError('image-reference', `image ${image}: the archive holds ${entries.length} image(s); @${ref.index} is out of range`, { image });
  } else if (ref.tag !== undefined) {
    const want = normalizeDockerName(ref.tag);
    entry = entries.find((e) => (e.RepoTags ?? []).some((t) => normalizeDockerName(t) === want));
    if (!entry) throw new ImageError('image-reference', `image ${image}: no image tagged ${want} in the archive${allTags.length ? ` (tags: ${allTags.join(', ')})` : ''}`, { image });
  } else if (entries.length > 1) {
    throw new ImageError('image-reference', `image ${image}: the archive holds ${entries.length} images; name one with :NAME:TAG or :@N${allTags.length ? ` (tags: ${allTags.join(', ')})` : ''}`, { image });
  } else entry = entries[0]!;

  const cfgFile = archive.file(entry.Config);
  if (!cfgFile?.data) throw new ImageError('blob-missing', `image ${image}: config ${entry.Config} is missing from the archive`, { image, blob: entry.Config });
  // Docker names the config by its sha256 (`<hex>.json`, or `blobs/sha256/<hex>`): check it.
  const named = /^([a-f0-9]{64})(?:\.json)?$/.exec(basename(entry.Config));
  if (named && cfgFile.digest !== `sha256:${named[1]}`) throw digestMismatch(`sha256:${named[1]}`, { digest: cfgFile.digest, size: cfgFile.size }, { image, where: `config ${entry.Config}` });
  const config = parseImageConfig(parseJson(cfgFile.data, image, 'config', entry.Config));
  if (Array.isArray(config)) throw invalid(image, 'config', entry.Config, config);
  if (config.rootfs.diff_ids.length !== entry.Layers.length) {
    throw invalid(image, 'config', entry.Config, [`rootfs.diff_ids lists ${config.rootfs.diff_ids.length} layers, manifest.json ${entry.Layers.length}`]);
  }
  const layers: Descriptor[] = [];
  for (const [i, name] of entry.Layers.entries()) {
    const f = archive.file(name);
    if (!f) throw new ImageError('blob-missing', `image ${image}: layer ${i} (${name}) is missing from the archive`, { image, blob: name });
    const gzip = f.magic[0] === 0x1f && f.magic[1] === 0x8b;
    const zstd = f.magic.equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
    const mediaType = gzip ? MEDIA_TYPES.layerGzip : zstd ? MEDIA_TYPES.layerZstd : MEDIA_TYPES.layerTar;
    const diffId = config.rootfs.diff_ids[i]!;
    // An uncompressed layer's digest is its diff_id, which the config (named by its hash) pins.
    if (!gzip && !zstd && f.digest !== diffId) throw digestMismatch(diffId, { digest: f.digest, size: f.size }, { image, where: `layer ${i} (${name}), rootfs.diff_ids[${i}] of the config` });
    layers.push({ mediaType, digest: f.digest, size: f.size });
    if (store) await store.put(f.data ?? (f.tmp ? createReadStream(f.tmp) : Buffer.alloc(0)), f.digest, { image, size: f.size });
  }
  const configDigest = cfgFile.digest;
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.config, digest: configDigest, size: cfgFile.size },
    layers,
  };
  const manifestBytes = jsonBytes(manifest);
  const digest = sha256Digest(manifestBytes);
  const source: BlobSource = {
    json: () => Promise.resolve(cfgFile.data!),
    layer: () => Promise.resolve(),
  };
  const img = await finish(ref, 'docker-archive', digest, manifestBytes, manifest, entry.RepoTags ?? [], source, platform, store);
  return img;
}

/** The index.json of a single-image layout (what `flo image build` and `saveImage` write). */
export function singleImageIndex(manifest: { digest: Digest; size: number }, tags: readonly string[]): OciIndex {
  const desc = (tag?: string): Descriptor => ({
    mediaType: MEDIA_TYPES.manifest,
    digest: manifest.digest,
    size: manifest.size,
    ...(tag !== undefined ? { annotations: { [REF_NAME_ANNOTATION]: tag } } : {}),
  });
  return { schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests: tags.length ? tags.map((t) => desc(t)) : [desc()] };
}

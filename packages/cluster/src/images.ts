/**
 * Images on the operator's side (DESIGN.md, Containers): what `apply` does with a template's
 * `image:` and how the runtime gets the image back from the store.
 *
 * - `apply` reads the image (every blob hashed, the platform checked) into a content store
 *   beside the artifacts, `<artifact dir>/images/` (an OCI layout of blobs by digest), copies
 *   its signature (`<archive>.sig`, written by `flo sign`) to `images/signatures/<hex>.sig`,
 *   and records `{ref, digest, store}` in the template. A `{url, digest}` image is fetched
 *   by `apply` and must have that digest.
 * - The runtime rebuilds the image from the store by its digest ({@link openStoredImage}):
 *   the manifest and config are read verified; layers are verified as they are sent.
 *
 * `@flotilla/deploy/image` is loaded only when a template has an image.
 */
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type * as ImageApi from '@flotilla/deploy/image';
import type { FileContentStore, Image } from '@flotilla/deploy/image';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ClusterError } from './errors.js';
import type { ImageInput, ImageRef } from './manifest/types.js';

type ImageModule = typeof ImageApi;
let imageModule: Promise<ImageModule> | undefined;
/** `@flotilla/deploy/image`, loaded once, on first use. */
export function loadImageModule(): Promise<ImageModule> {
  imageModule ??= import('@flotilla/deploy/image');
  return imageModule;
}

/** The content store of images kept beside the artifacts in `artifactDir`. */
export function imageStoreDir(artifactDir: string): string {
  return join(artifactDir, 'images');
}

/** Where an image's signature is kept in a store: `<store>/signatures/<hex>.sig`. */
export function storedSignaturePath(store: string, digest: string): string {
  return join(store, 'signatures', `${digest.replace(/^sha256:/, '')}.sig`);
}

/** True for an image as recorded by `apply` (it names its store). */
export function isImageRef(image: ImageInput | ImageRef | undefined): image is ImageRef {
  return typeof image === 'object' && typeof (image as { store?: unknown }).store === 'string' && typeof image.digest === 'string';
}

/** The image as the user wrote it, for tables and `describe`: the reference or the URL. */
export function imageText(image: ImageInput | ImageRef | undefined): string | undefined {
  if (image === undefined) return undefined;
  if (typeof image === 'string') return image;
  return 'url' in image ? image.url : image.ref;
}

/** The manifest digest of a recorded image (or of a `{url, digest}`). */
export function imageDigestOf(image: ImageInput | ImageRef | undefined): string | undefined {
  return typeof image === 'object' ? image.digest : undefined;
}

/** What {@link storeImage} recorded, and whether a signature went along. */
export interface StoredImage {
  ref: ImageRef;
  /** `<archive>.sig` was present and copied into the store. */
  signed: boolean;
  /** The image's blobs (manifest, config, layers) and their total size. */
  blobs: number;
  bytes: number;
}

/** Options of {@link storeImage}. */
export interface StoreImageOptions {
  /** Resolves a relative reference (the manifest file's directory). @default process.cwd() */
  cwd?: string;
  /** The artifact directory; blobs go to `<artifactDir>/images/`. */
  artifactDir?: string;
  /** Read and check the image, record where it would be stored, write nothing. @default false */
  dryRun?: boolean;
  signal?: AbortSignal;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function copyAtomically(from: string, to: string): Promise<void> {
  await mkdir(join(to, '..'), { recursive: true });
  const tmp = `${to}.tmp-${process.pid}`;
  await copyFile(from, tmp);
  await rename(tmp, to);
}

/**
 * Reads an image (every blob hashed; the platform must be this machine's) and, with an
 * `artifactDir`, stores its blobs there content-addressed (a blob already held is hashed and
 * dropped, never written twice) with its signature. Throws the image code's `ImageError`
 * (or a `ClusterError` for a URL that cannot be fetched or has another digest) naming the
 * image and the blob.
 */
export async function storeImage(input: ImageInput, options: StoreImageOptions = {}): Promise<StoredImage> {
  const m = await loadImageModule();
  const recordedDir = options.artifactDir !== undefined ? imageStoreDir(options.artifactDir) : undefined;
  const storeDir = options.dryRun === true ? undefined : recordedDir;
  const store = storeDir !== undefined ? new m.FileContentStore(storeDir) : undefined;
  let image: Image;
  let sigSource: string | undefined;
  let downloaded: string | undefined;
  try {
    if (typeof input === 'string') {
      const reference = m.parseImageReference(input, options.cwd !== undefined ? { cwd: options.cwd } : {});
      image = await m.loadImage(reference, store ? { store } : {});
      sigSource = m.imageSignaturePath(reference);
    } else {
      downloaded = await download(input.url, storeDir ?? tmpdir(), input.digest, options.signal);
      image = await m.loadImage({ transport: 'oci-archive', path: downloaded, text: input.url }, store ? { store } : {});
      if (image.digest !== input.digest)
        throw new ClusterError('manifest-invalid', `the image at ${input.url} has manifest digest ${image.digest}, not ${input.digest}: refusing it (a changed or wrong file on the server)`);
      sigSource = await fetchSignature(`${input.url}.sig`, `${downloaded}.sig`, options.signal);
    }
    const signed = sigSource !== undefined && (await exists(sigSource));
    if (signed && storeDir !== undefined) await copyAtomically(sigSource!, storedSignaturePath(storeDir, image.digest));
    const blobs = m.imageBlobs(image);
    const ref: ImageRef =
      typeof input === 'string'
        ? { ref: m.formatImageReference({ ...image.reference, transport: image.transport }), digest: image.digest, store: recordedDir ?? '' }
        : { url: input.url, digest: image.digest, store: recordedDir ?? '' };
    return { ref, signed, blobs: blobs.length, bytes: blobs.reduce((n, b) => n + b.size, 0) };
  } finally {
    if (downloaded !== undefined) await rm(downloaded, { force: true });
  }
}

async function download(url: string, dir: string, digest: string, signal?: AbortSignal): Promise<string> {
  const downloads = join(dir, 'downloads');
  await mkdir(downloads, { recursive: true });
  const file = join(downloads, `${digest.replace(/^sha256:/, '')}-${process.pid}.tar`);
  let res: Response;
  try {
    res = await fetch(url, signal ? { signal } : {});
  } catch (e) {
    throw new ClusterError('manifest-invalid', `image ${url} cannot be fetched: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (!res.ok || !res.body) throw new ClusterError('manifest-invalid', `image ${url} cannot be fetched: HTTP ${res.status}`);
  await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), createWriteStream(file));
  return file;
}

async function fetchSignature(url: string, file: string, signal?: AbortSignal): Promise<string | undefined> {
  try {
    const res = await fetch(url, signal ? { signal } : {});
    if (!res.ok || !res.body) return undefined;
    await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), createWriteStream(file));
    return file;
  } catch {
    return undefined;
  }
}

/** An image as recorded in a template, read back from its store: the image, its store and signature. */
export interface StoredImageHandle {
  image: Image;
  store: FileContentStore;
  /** The signature file, when the image was signed. */
  signature?: string;
}

/**
 * Rebuilds a recorded image from its content store by digest: the manifest and config are
 * read verified (a blob altered on disk is `blob-digest`, one removed `blob-missing`); the
 * layers are verified when they are sent to a host.
 */
export async function openStoredImage(ref: ImageRef): Promise<StoredImageHandle> {
  const m = await loadImageModule();
  const name = 'url' in ref ? ref.url : ref.ref;
  if (ref.store === '') throw new ClusterError('runtime-failed', `image ${name} was not stored by apply (a dry run?): apply the manifest again`);
  const store = new m.FileContentStore(ref.store);
  const manifestBytes = await store.read(ref.digest as `sha256:${string}`, { image: name });
  const manifest = m.parseManifest(JSON.parse(manifestBytes.toString('utf8')));
  if (Array.isArray(manifest)) throw new ClusterError('runtime-failed', `image ${name}: stored manifest ${ref.digest} is not valid: ${manifest.join('; ')}`);
  const configBytes = await store.read(manifest.config.digest, { image: name });
  const config = m.parseImageConfig(JSON.parse(configBytes.toString('utf8')));
  if (Array.isArray(config)) throw new ClusterError('runtime-failed', `image ${name}: stored config ${manifest.config.digest} is not valid: ${config.join('; ')}`);
  const image: Image = {
    reference: { transport: 'oci', path: ref.store, text: name },
    transport: 'oci',
    digest: ref.digest as Image['digest'],
    manifest,
    manifestBytes,
    config,
    configBytes,
    layers: manifest.layers,
    tags: [],
    platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) },
  };
  const sig = storedSignaturePath(ref.store, ref.digest);
  return { image, store, ...((await exists(sig)) ? { signature: sig } : {}) };
}

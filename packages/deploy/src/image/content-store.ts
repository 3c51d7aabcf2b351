/**
 * The content store: blobs by digest under a root directory, in the OCI image layout's
 * shape (`<root>/oci-layout`, `<root>/blobs/<alg>/<hex>`), as containerd keeps its content
 * apart from snapshots and runtimes. The same seam serves the operator's artifact directory
 * and a host's `~/.flotilla/images/`.
 *
 * Guarantees:
 * - **Verified before commit.** `put` writes to `<root>/ingest/`, hashes while writing, and
 *   renames into `blobs/` only when the bytes hash to the expected digest (and size, when
 *   given). A partial or tampered ingest never becomes a blob.
 * - **Verified on read.** `open` and `read` hash what they return and fail with `blob-digest`
 *   when a stored blob was altered on disk; nothing trusts a file for its name.
 * - **Every incoming byte is hashed**, even when the store already holds that digest (the
 *   incoming copy is checked, then dropped).
 * - Concurrent `put`s of one digest are safe (distinct ingest files, atomic rename).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { BLOB_CHUNK_BYTES, DigestCounter, parseDigest, type Digest } from './digest.js';
import { ImageError } from './errors.js';

/** A blob's identity. */
export interface BlobInfo {
  digest: Digest;
  size: number;
}

/** Where a blob came from, for error messages. */
export interface BlobContext {
  /** The image (or archive) the blob belongs to, named in errors. */
  image?: string;
}

/** Options of {@link ContentStore.put}. */
export interface PutOptions extends BlobContext {
  /** The expected size in bytes; a different size is refused (`blob-digest`). */
  size?: number;
}

/** Options of {@link ContentStore.gc}. */
export interface GcOptions {
  /** Called for each blob removed. */
  onRemove?: (blob: BlobInfo) => void;
  /** Ingest files older than this are removed too (left by a crash). @default 3_600_000 */
  staleIngestMs?: number;
}

/** Blobs by digest. Implementations verify on the way in and on the way out. */
export interface ContentStore {
  /** Whether the store holds the blob (not a verification: reading verifies). */
  has(digest: Digest): Promise<boolean>;
  /** Size of a held blob, or `undefined`. */
  info(digest: Digest): Promise<BlobInfo | undefined>;
  /** The blob's bytes as a stream that fails with `blob-digest` at its end if they do not hash to `digest`; `blob-missing` if absent. */
  open(digest: Digest, context?: BlobContext): Promise<Readable>;
  /** The whole blob, verified; refuses blobs larger than `maxBytes` (default 16 MiB). */
  read(digest: Digest, options?: BlobContext & { maxBytes?: number }): Promise<Buffer>;
  /** Ingests bytes that must hash to `expected`; resolves when committed (`stored: false` when it was already held). */
  put(source: Uint8Array | AsyncIterable<Uint8Array>, expected: Digest, options?: PutOptions): Promise<BlobInfo & { stored: boolean }>;
  /** Every held blob. */
  list(): AsyncIterable<BlobInfo>;
  /** Removes a blob; false when it was absent. */
  delete(digest: Digest): Promise<boolean>;
  /** Removes every blob not in `keep` (and stale ingests); returns what was removed. */
  gc(keep: Iterable<Digest>, options?: GcOptions): Promise<{ removed: BlobInfo[]; bytes: number }>;
}

function checkDigest(digest: string, context: BlobContext = {}): { algorithm: 'sha256' | 'sha512'; hex: string } {
  const p = parseDigest(digest);
  if (!p) throw new ImageError('image-invalid', `${JSON.stringify(digest)} is not a digest (expected sha256:<64 hex digits>)${context.image ? ` in ${context.image}` : ''}`, { blob: digest, ...(context.image ? { image: context.image } : {}) });
  return p;
}

/** The error for bytes that do not match their digest. */
export function digestMismatch(expected: string, actual: { digest: string; size: number }, context: BlobContext & { expectedSize?: number; where?: string }): ImageError {
  const what = context.expectedSize !== undefined && context.expectedSize !== actual.size
    ? `is ${actual.size} bytes, expected ${context.expectedSize} (truncated or tampered)`
    : `hashes to ${actual.digest} (tampered or corrupt)`;
  return new ImageError(
    'blob-digest',
    `blob ${expected}${context.where ? ` (${context.where})` : ''}${context.image ? ` of ${context.image}` : ''} ${what}; refusing it`,
    { blob: expected, ...(context.image ? { image: context.image } : {}) },
  );
}

/** A pass-through that hashes and fails at the end when the bytes do not match. */
export function verifyingTransform(expected: Digest, context: BlobContext & { size?: number; where?: string } = {}): Transform {
  const { algorithm } = checkDigest(expected, context);
  const counter = new DigestCounter(algorithm);
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      counter.update(chunk);
      if (context.size !== undefined && counter.size > context.size) {
        cb(digestMismatch(expected, { digest: '', size: counter.size }, { ...context, expectedSize: context.size }));
        return;
      }
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      const d = counter.digest();
      if (d !== expected || (context.size !== undefined && counter.size !== context.size)) {
        cb(digestMismatch(expected, { digest: d, size: counter.size }, { ...context, ...(context.size !== undefined ? { expectedSize: context.size } : {}) }));
      } else cb();
    },
  });
}

async function* chunks(source: Uint8Array | AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  if (source instanceof Uint8Array) yield source;
  else yield* source;
}

/** Content store on a local directory (see the module's guarantees). */
export class FileContentStore implements ContentStore {
  readonly root: string;
  private ready: Promise<void> | undefined;

  constructor(root: string) {
    this.root = root;
  }

  /** Path of a blob's file (whether or not it exists). */
  blobPath(digest: Digest): string {
    const { algorithm, hex } = checkDigest(digest);
    return join(this.root, 'blobs', algorithm, hex);
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(join(this.root, 'ingest'), { recursive: true });
      await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true });
      await writeFile(join(this.root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}', { flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
    })();
    return this.ready;
  }

  async has(digest: Digest): Promise<boolean> {
    return (await this.info(digest)) !== undefined;
  }

  async info(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      const s = await stat(this.blobPath(digest));
      return s.isFile() ? { digest, size: s.size } : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async open(digest: Digest, context: BlobContext = {}): Promise<Readable> {
    const info = await this.info(digest);
    if (!info) throw missingBlob(digest, context, this.root);
    const t = verifyingTransform(digest, { ...context, where: 'content store' });
    const src = createReadStream(this.blobPath(digest), { highWaterMark: BLOB_CHUNK_BYTES });
    src.on('error', (e) => t.destroy(e));
    return src.pipe(t);
  }

  async read(digest: Digest, options: BlobContext & { maxBytes?: number } = {}): Promise<Buffer> {
    const info = await this.info(digest);
    if (!info) throw missingBlob(digest, options, this.root);
    const max = options.maxBytes ?? 16 * 1024 * 1024;
    if (info.size > max) throw new ImageError('image-invalid', `blob ${digest}${options.image ? ` of ${options.image}` : ''} is ${info.size} bytes, more than the ${max} allowed here`, { blob: digest, ...(options.image ? { image: options.image } : {}) });
    const parts: Buffer[] = [];
    for await (const c of await this.open(digest, options)) parts.push(c as Buffer);
    return Buffer.concat(parts);
  }

  async put(source: Uint8Array | AsyncIterable<Uint8Array>, expected: Digest, options: PutOptions = {}): Promise<BlobInfo & { stored: boolean }> {
    const { algorithm } = checkDigest(expected, options);
    await this.init();
    const held = await this.info(expected);
    const keep = !held || (options.size !== undefined && held.size !== options.size);
    const counter = new DigestCounter(algorithm);
    const tmp = join(this.root, 'ingest', `${parseDigest(expected)!.hex}-${randomBytes(6).toString('hex')}`);
    const fh = keep ? await open(tmp, 'wx', 0o644) : undefined;
    let committed = false;
    try {
      for await (const chunk of chunks(source)) {
        counter.update(chunk);
        if (options.size !== undefined && counter.size > options.size) break;
        if (fh) await fh.write(chunk);
      }
      const actual = counter.digest();
      if (actual !== expected || (options.size !== undefined && counter.size !== options.size)) {
        throw digestMismatch(expected, { digest: actual, size: counter.size }, { ...options, ...(options.size !== undefined ? { expectedSize: options.size } : {}) });
      }
      if (fh) {
        await fh.sync();
        await fh.close();
        await mkdir(join(this.root, 'blobs', algorithm), { recursive: true });
        await rename(tmp, this.blobPath(expected));
        committed = true;
      }
      return { digest: expected, size: counter.size, stored: keep };
    } finally {
      if (fh && !committed) {
        await fh.close().catch(() => undefined);
        await rm(tmp, { force: true });
      }
    }
  }

  /**
   * Commits a file written into this store's directory tree by someone else (an upload into
   * `ingest/`): hashed, then renamed into `blobs/` (read-only) when it matches `expected` (and
   * `size`), else removed and refused with `blob-digest`. No copy of its bytes is made.
   */
  async commitFile(path: string, expected: Digest, options: PutOptions & { where?: string } = {}): Promise<BlobInfo> {
    const { algorithm } = checkDigest(expected, options);
    await this.init();
    const counter = new DigestCounter(algorithm);
    try {
      for await (const c of createReadStream(path, { highWaterMark: BLOB_CHUNK_BYTES })) counter.update(c as Buffer);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw missingBlob(expected, options, path);
      throw e;
    }
    const actual = counter.digest();
    if (actual !== expected || (options.size !== undefined && counter.size !== options.size)) {
      await rm(path, { force: true });
      throw digestMismatch(expected, { digest: actual, size: counter.size }, { ...options, ...(options.size !== undefined ? { expectedSize: options.size } : {}) });
    }
    await chmod(path, 0o444);
    await mkdir(join(this.root, 'blobs', algorithm), { recursive: true });
    await rename(path, this.blobPath(expected));
    return { digest: expected, size: counter.size };
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const algorithm of ['sha256', 'sha512'] as const) {
      let names: string[];
      try {
        names = await readdir(join(this.root, 'blobs', algorithm));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      for (const hex of names.sort()) {
        const digest: Digest = `${algorithm}:${hex}`;
        if (!parseDigest(digest)) continue;
        const info = await this.info(digest);
        if (info) yield info;
      }
    }
  }

  async delete(digest: Digest): Promise<boolean> {
    const had = await this.has(digest);
    await rm(this.blobPath(digest), { force: true });
    return had;
  }

  async gc(keep: Iterable<Digest>, options: GcOptions = {}): Promise<{ removed: BlobInfo[]; bytes: number }> {
    const kept = new Set<string>(keep);
    const removed: BlobInfo[] = [];
    for await (const b of this.list()) {
      if (kept.has(b.digest)) continue;
      await rm(this.blobPath(b.digest), { force: true });
      removed.push(b);
      options.onRemove?.(b);
    }
    // Ingests left by a crash; a recent one may belong to a put in progress.
    const staleMs = options.staleIngestMs ?? 60 * 60 * 1000;
    const ingest = join(this.root, 'ingest');
    for (const name of await readdir(ingest).catch(() => [] as string[])) {
      const s = await stat(join(ingest, name)).catch(() => undefined);
      if (s && Date.now() - s.mtimeMs > staleMs) await rm(join(ingest, name), { force: true });
    }
    return { removed, bytes: removed.reduce((n, b) => n + b.size, 0) };
  }
}

function missingBlob(digest: string, context: BlobContext, root: string): ImageError {
  return new ImageError('blob-missing', `blob ${digest}${context.image ? ` of ${context.image}` : ''} is missing (not in ${root})`, {
    blob: digest,
    ...(context.image ? { image: context.image } : {}),
  });
}

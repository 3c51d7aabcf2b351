/**
 * One pass over an image archive (an `oci-archive` or a `docker save` tar, optionally
 * gzipped): every regular file is hashed as it streams by; an entry named by its digest
 * (`blobs/<alg>/<hex>`) is checked against that name at once (and ingested into a content
 * store when one is given); other entries are kept in memory when small or in a temporary
 * file when large, so the caller can check them against what the manifests say.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { once } from 'node:events';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import type { ContentStore } from './content-store.js';
import { digestMismatch } from './content-store.js';
import { BLOB_CHUNK_BYTES, DigestCounter, parseDigest, type Digest } from './digest.js';
import { ImageError, isImageError } from './errors.js';

/** Entries up to this size are kept in memory (manifests, configs, small layers). */
export const SMALL_ENTRY_BYTES = 4 * 1024 * 1024;

/** A regular file of the archive. */
export interface ArchiveFile {
  name: string;
  size: number;
  /** sha256 of the content (sha512 for `blobs/sha512/…`). */
  digest: Digest;
  /** Content, when at most {@link SMALL_ENTRY_BYTES}. */
  data?: Buffer;
  /** A temporary copy of a larger entry that is not named by its digest (docker-archive layers), when a store is given. */
  tmp?: string;
  /** The first bytes (compression magic). */
  magic: Buffer;
}

/** What one pass found. */
export interface ScannedArchive {
  files: Map<string, ArchiveFile>;
  /** Symlinks and hard links between entries (`docker save` links identical layers). */
  links: Map<string, string>;
  /** Resolves links to the file an entry name stands for. */
  file(name: string): ArchiveFile | undefined;
  /** Removes temporary files. */
  close(): Promise<void>;
}

/** Normalises an archive entry name: no leading `./` or `/`, no trailing `/`. */
export function entryName(name: string): string {
  const n = posix.normalize(name.replace(/^\/+/, ''));
  return n === '.' ? '' : n.replace(/\/+$/, '');
}

async function isGzip(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(2);
    const { bytesRead } = await fh.read(b, 0, 2, 0);
    return bytesRead === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/**
 * Scans the archive at `path`. With a `store`, every `blobs/<alg>/<hex>` entry is ingested
 * (verified) into it. Throws `blob-digest` naming the entry when one does not match its name,
 * `image-reference` when the file cannot be read, `image-invalid` when it is not a tar.
 */
export async function scanArchive(path: string, options: { image: string; store?: ContentStore | undefined }): Promise<ScannedArchive> {
  const { image, store } = options;
  let source: Readable;
  try {
    const gz = await isGzip(path);
    source = gz ? createReadStream(path, { highWaterMark: BLOB_CHUNK_BYTES }).pipe(createGunzip({ chunkSize: BLOB_CHUNK_BYTES })) : createReadStream(path, { highWaterMark: BLOB_CHUNK_BYTES });
  } catch (e) {
    throw new ImageError('image-reference', `image ${image}: cannot read ${path}: ${(e as Error).message}`, { image, cause: e });
  }
  const files = new Map<string, ArchiveFile>();
  const links = new Map<string, string>();
  let tmpDir: string | undefined;
  const ex = extract();
  const fed = pipeline(source, ex).then(
    () => undefined,
    (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
  );
  try {
    for await (const entry of ex) {
      const h = entry.header;
      const name = entryName(h.name);
      if (h.type === 'symlink' || h.type === 'link') {
        links.set(name, h.type === 'symlink' ? entryName(posix.join(posix.dirname(name), h.linkname)) : entryName(h.linkname));
        entry.resume();
        continue;
      }
      if (h.type !== 'file' && h.type !== 'contiguous-file') {
        entry.resume();
        continue;
      }
      const m = /^blobs\/([a-z0-9]+)\/([^/]+)$/.exec(name);
      let expected: Digest | undefined;
      if (m) {
        expected = `${m[1]}:${m[2]}` as Digest;
        if (!parseDigest(expected)) throw new ImageError('image-invalid', `image ${image}: archive entry ${name} is not named by a digest (expected blobs/sha256/<64 hex digits>)`, { image, blob: name });
      }
      const counter = new DigestCounter(expected ? parseDigest(expected)!.algorithm : 'sha256');
      const keepData = h.size <= SMALL_ENTRY_BYTES;
      const parts: Buffer[] = [];
      let magic = Buffer.alloc(0);
      async function* tap(): AsyncGenerator<Buffer> {
        for await (const c of entry as AsyncIterable<Buffer>) {
          counter.update(c);
          if (magic.length < 4) magic = Buffer.concat([magic, c.subarray(0, 4 - magic.length)]);
          if (keepData) parts.push(c);
          yield c;
        }
      }
      let tmp: string | undefined;
      // A blob the store holds already (verified when it was committed) is not ingested again:
      // the counter below checks this copy against its name, one hash of its bytes instead of two.
      const held = expected !== undefined && store !== undefined && (await store.info(expected))?.size === h.size;
      if (expected && store && !held) {
        try {
          await store.put(tap(), expected, { image, size: h.size });
        } catch (e) {
          if (isImageError(e) && e.code === 'blob-digest') throw digestMismatch(expected, { digest: counter.digest(), size: counter.size }, { image, where: `archive entry ${name}`, expectedSize: h.size });
          throw e;
        }
      } else if (!expected && store && !keepData) {
        tmpDir ??= await mkdtemp(join(tmpdir(), 'flo-image-'));
        tmp = join(tmpDir, String(files.size));
        const out = createWriteStream(tmp);
        for await (const c of tap()) if (!out.write(c)) await once(out, 'drain');
        out.end();
        await once(out, 'finish');
      } else {
        for await (const c of tap()) void c;
      }
      const digest = expected && store && !held ? expected : counter.digest();
      if (expected && digest !== expected) throw digestMismatch(expected, { digest, size: counter.size }, { image, where: `archive entry ${name}` });
      files.set(name, { name, size: counter.size, digest, magic, ...(keepData ? { data: Buffer.concat(parts) } : {}), ...(tmp ? { tmp } : {}) });
    }
    const err = await fed;
    if (err) throw err;
  } catch (e) {
    ex.destroy();
    source.destroy();
    if (tmpDir) await rm(tmpDir, { recursive: true, force: true });
    if (isImageError(e)) throw e;
    throw new ImageError('image-invalid', `image ${image}: ${path} is not a readable tar archive: ${(e as Error).message}`, { image, cause: e });
  }
  return {
    files,
    links,
    file(name: string) {
      let n = entryName(name);
      for (let i = 0; i < 16; i++) {
        const f = files.get(n);
        if (f) return f;
        const to = links.get(n);
        if (to === undefined) return undefined;
        n = to;
      }
      return undefined;
    },
    async close() {
      if (tmpDir) await rm(tmpDir, { recursive: true, force: true });
    },
  };
}

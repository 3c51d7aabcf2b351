/**
 * `flo image build`: an OCI image from a directory, with no Docker — one layer on top of an
 * optional base image, written as an `oci-archive`.
 *
 * Reproducible: the same directory contents (names, bytes, modes, symlink targets), options
 * and base give the same digest, on any machine. Entries are sorted; times are fixed (epoch 0)
 * and owners are root (uid/gid 0, no names), so file mtimes and who owns the files do not
 * count; the layer is compressed by fflate (pure JavaScript, so the bytes do not depend on
 * the zlib that Node was built with) in fixed-size chunks; JSON is written with a fixed key
 * order; the archive's own entries are sorted and timeless too.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdtemp, readdir, readlink, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { once } from 'node:events';
import { Gzip } from 'fflate';
import { pack, type Pack } from 'tar-stream';
import { badOption } from '../errors.js';
import { FileContentStore } from './content-store.js';
import { DigestCounter, sha256Digest, type Digest } from './digest.js';
import { ImageError } from './errors.js';
import { loadImage, singleImageIndex, type Image } from './load.js';
import { MEDIA_TYPES, hostPlatform, jsonBytes, type Descriptor, type ImageConfig, type ImageRuntimeConfig, type OciManifest, type Platform } from './oci.js';

/** Options of {@link buildImage}. */
export interface BuildImageOptions {
  /** The directory whose contents become the image's top layer (its root is `/`). */
  dir: string;
  /** The archive to write (`oci-archive`); replaced atomically. */
  out: string;
  /** A base image reference (any form {@link loadImage} reads); its layers come first. */
  base?: string;
  /** Replaces the Entrypoint (and clears a base image's Cmd unless `cmd` is given, as Docker does). */
  entrypoint?: string[];
  /** Replaces the Cmd. */
  cmd?: string[];
  /** `K=V` entries, added to the base's Env (a key given again replaces it). */
  env?: string[];
  /** The working directory (absolute). */
  workdir?: string;
  /** The user (`name`, `uid`, `uid:gid`). */
  user?: string;
  /** Names written as `org.opencontainers.image.ref.name` in the archive's index (e.g. `web:1.2`). */
  tags?: string[];
  /** Resolves relative paths. @default process.cwd() */
  cwd?: string;
  /** The platform written in the config when there is no base. @default this machine's */
  platform?: Platform;
}

/** What {@link buildImage} wrote. */
export interface BuiltImage {
  /** The manifest digest: the image's identity. */
  digest: Digest;
  /** The archive written. */
  path: string;
  /** Layers, bottom first (the last one is new). */
  layers: Descriptor[];
  config: ImageConfig;
  tags: string[];
}

/** Fixed time of every entry and of the config (file mtimes do not count). */
const EPOCH = new Date(0);
const CREATED = '1970-01-01T00:00:00Z';
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Compression is fed in chunks of exactly this size, so the output depends only on the bytes. */
const CHUNK = 1 << 20;
const TAG = /^[A-Za-z0-9][A-Za-z0-9._\-/:@+]*$/;

interface FsEntry {
  rel: string;
  abs: string;
  type: 'directory' | 'file' | 'symlink';
  mode: number;
  size: number;
  linkname?: string;
}

/** Walks `dir`, sorted by path, refusing what an image layer cannot hold. */
async function walk(dir: string): Promise<FsEntry[]> {
  const out: FsEntry[] = [];
  const visit = async (abs: string, rel: string): Promise<void> => {
    const names = (await readdir(abs)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const name of names) {
      const childAbs = join(abs, name);
      const childRel = rel ? `${rel}/${name}` : name;
      const st = await lstat(childAbs);
      const mode = st.mode & 0o7777;
      if (st.isDirectory()) {
        out.push({ rel: childRel, abs: childAbs, type: 'directory', mode, size: 0 });
        await visit(childAbs, childRel);
      } else if (st.isFile()) out.push({ rel: childRel, abs: childAbs, type: 'file', mode, size: st.size });
      else if (st.isSymbolicLink()) out.push({ rel: childRel, abs: childAbs, type: 'symlink', mode: 0o777, size: 0, linkname: await readlink(childAbs) });
      else throw new ImageError('image-invalid', `image build: ${childAbs} is a ${st.isSocket() ? 'socket' : st.isFIFO() ? 'fifo' : 'device'}; an image built from a directory holds only files, directories and symlinks`, { entry: childRel });
    }
  };
  await visit(dir, '');
  return out;
}

function entry(p: Pack, header: Parameters<Pack['entry']>[0], body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (body) p.entry(header, body, cb);
    else p.entry(header, cb).end(undefined);
  });
}

async function streamEntry(p: Pack, header: Parameters<Pack['entry']>[0], source: AsyncIterable<Uint8Array>): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    const sink = p.entry(header, (err) => (err ? reject(err) : resolve()));
    void (async () => {
      try {
        for await (const c of source) if (!sink.write(c)) await once(sink, 'drain');
        sink.end(undefined);
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        sink.destroy(err);
        reject(err);
      }
    })();
  });
  return done;
}

const base = (size: number, name: string, type: 'file' | 'directory' | 'symlink', mode: number) => ({ name, size, type, mode, mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '' });

/** Writes the layer tar of `entries`, gzipped, to `path`; returns digest, diff_id and size. */
async function writeLayer(entries: readonly FsEntry[], path: string): Promise<{ digest: Digest; diffId: Digest; size: number }> {
  const p = pack();
  const diff = new DigestCounter();
  const comp = new DigestCounter();
  const out = createWriteStream(path);
  const outErr = new Promise<never>((_, reject) => out.once('error', reject));
  const pending: Uint8Array[] = [];
  const gz = new Gzip({ level: 6, mtime: 0 }, (chunk) => {
    comp.update(chunk);
    pending.push(chunk);
  });
  let buf: Buffer = Buffer.alloc(0);
  const flush = async (): Promise<void> => {
    for (const c of pending.splice(0)) if (!out.write(c)) await Promise.race([once(out, 'drain'), outErr]);
  };
  const consume = (async () => {
    for await (const c of p as AsyncIterable<Buffer>) {
      diff.update(c);
      buf = buf.length ? Buffer.concat([buf, c]) : c;
      while (buf.length >= CHUNK) {
        gz.push(buf.subarray(0, CHUNK));
        buf = buf.subarray(CHUNK);
        await flush();
      }
    }
    gz.push(buf, true);
    await flush();
    out.end();
    await Promise.race([once(out, 'finish'), outErr]);
  })();
  for (const e of entries) {
    if (e.type === 'directory') await entry(p, base(0, `${e.rel}/`, 'directory', e.mode));
    else if (e.type === 'symlink') await entry(p, { ...base(0, e.rel, 'symlink', e.mode), linkname: e.linkname! });
    else await streamEntry(p, base(e.size, e.rel, 'file', e.mode), createReadStream(e.abs));
  }
  p.finalize();
  await consume;
  return { digest: comp.digest(), diffId: diff.digest(), size: comp.size };
}

function checkList(name: string, v: unknown): void {
  if (v !== undefined && (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))) badOption(name, 'a list of strings', v);
}

/** Merges `K=V` entries into an Env list: a key given again replaces the old entry in place. */
export function mergeEnv(env: readonly string[], add: readonly string[]): string[] {
  const out = [...env];
  for (const kv of add) {
    const eq = kv.indexOf('=');
    if (eq <= 0) badOption('env', 'K=V entries', kv);
    const key = kv.slice(0, eq + 1);
    const i = out.findIndex((e) => e.startsWith(key));
    if (i >= 0) out[i] = kv;
    else out.push(kv);
  }
  return out;
}

/** Builds an image. See the module's guarantees. */
export async function buildImage(options: BuildImageOptions): Promise<BuiltImage> {
  const cwd = options.cwd ?? process.cwd();
  if (typeof options.dir !== 'string' || !options.dir) badOption('dir', 'a directory', options.dir);
  if (typeof options.out !== 'string' || !options.out) badOption('out', 'a file path', options.out);
  for (const k of ['entrypoint', 'cmd', 'env', 'tags'] as const) checkList(k, options[k]);
  if (options.workdir !== undefined && !options.workdir.startsWith('/')) badOption('workdir', 'an absolute path', options.workdir);
  for (const t of options.tags ?? []) if (!TAG.test(t)) badOption('tags', 'names like web or web:1.2', t);
  mergeEnv([], options.env ?? []);
  const dir = resolve(cwd, options.dir);
  const out = resolve(cwd, options.out);
  const st = await lstat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new ImageError('image-reference', `image build: ${dir} is not a directory`, { image: dir });

  const work = await mkdtemp(join(tmpdir(), 'flo-build-'));
  try {
    const store = new FileContentStore(join(work, 'store'));
    let baseImage: Image | undefined;
    if (options.base !== undefined) baseImage = await loadImage(options.base, { cwd, store, ...(options.platform ? { platform: options.platform } : {}) });

    const layerPath = join(work, 'layer.tar.gz');
    const layer = await writeLayer(await walk(dir), layerPath);
    await store.put(createReadStream(layerPath), layer.digest, { size: layer.size, image: out });
    const layerDesc: Descriptor = { mediaType: MEDIA_TYPES.layerGzip, digest: layer.digest, size: layer.size };

    const platform = baseImage?.platform ?? options.platform ?? hostPlatform();
    const bc: Partial<ImageConfig> = baseImage?.config ?? {};
    const rc: ImageRuntimeConfig = { ...(bc.config ?? {}) };
    rc.Env = mergeEnv(rc.Env ?? (baseImage ? [] : [DEFAULT_PATH]), options.env ?? []);
    if (options.entrypoint !== undefined) {
      rc.Entrypoint = options.entrypoint;
      if (options.cmd === undefined) delete rc.Cmd;
    }
    if (options.cmd !== undefined) rc.Cmd = options.cmd;
    if (options.workdir !== undefined) rc.WorkingDir = options.workdir;
    if (options.user !== undefined) rc.User = options.user;
    const config: ImageConfig = {
      ...bc,
      created: CREATED,
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: rc,
      rootfs: { type: 'layers', diff_ids: [...(bc.rootfs?.diff_ids ?? []), layer.diffId] },
      history: [...(bc.history ?? []), { created: CREATED, created_by: 'flo image build' }],
    };
    const configBytes = jsonBytes(config);
    const configDigest = sha256Digest(configBytes);
    await store.put(configBytes, configDigest);
    const manifest: OciManifest = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.manifest,
      config: { mediaType: MEDIA_TYPES.config, digest: configDigest, size: configBytes.length },
      layers: [...(baseImage?.layers ?? []), layerDesc],
    };
    const manifestBytes = jsonBytes(manifest);
    const digest = sha256Digest(manifestBytes);
    await store.put(manifestBytes, digest);
    const tags = options.tags ?? [];
    const indexBytes = jsonBytes(singleImageIndex({ digest, size: manifestBytes.length }, tags));

    const blobs = [...new Map([manifest.config, ...manifest.layers, { digest, size: manifestBytes.length }].map((d) => [d.digest, d.size])).entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const tmp = join(dirname(out), `.${Date.now().toString(36)}-${process.pid}.flo-build.tmp`);
    try {
      const p = pack();
      const file = createWriteStream(tmp);
      const written = new Promise<void>((resolve, reject) => {
        file.once('finish', resolve);
        file.once('error', reject);
        p.once('error', reject);
      });
      p.pipe(file);
      const meta = (name: string, type: 'file' | 'directory', size = 0) => base(size, name, type, type === 'directory' ? 0o755 : 0o644);
      await entry(p, meta('blobs/', 'directory'));
      await entry(p, meta('blobs/sha256/', 'directory'));
      for (const [d, size] of blobs) await streamEntry(p, meta(`blobs/sha256/${d.slice(7)}`, 'file', size), await store.open(d, { image: out }));
      await entry(p, meta('index.json', 'file', indexBytes.length), indexBytes);
      const layoutBytes = Buffer.from('{"imageLayoutVersion":"1.0.0"}');
      await entry(p, meta('oci-layout', 'file', layoutBytes.length), layoutBytes);
      p.finalize();
      await written;
      await rename(tmp, out);
    } finally {
      await rm(tmp, { force: true });
    }
    return { digest, path: out, layers: manifest.layers, config, tags };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

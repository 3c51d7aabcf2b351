/**
 * The layer unpacker: applies one image layer (a tar, plain or gzipped) to a directory, the
 * way the OCI image spec's "Applying changesets" says, and never writes outside it.
 *
 * Guarantees:
 * - **Nothing escapes the root.** An entry whose name is absolute or has a `..` component,
 *   a hard link to such a name, and any entry whose parent path goes through a symlink that
 *   points outside the root (absolute, or relative past the root) is refused with
 *   `layer-unsafe`, naming the entry, before anything is written for it. A symlink *leaf* is
 *   never followed: an existing file, link or directory in the way is removed and replaced,
 *   as the spec's changeset rules say. Symlinks that stay inside the root are followed, so
 *   images with `lib -> usr/lib` unpack as they do elsewhere.
 * - **Whiteouts.** `.wh.NAME` removes NAME from the layers below; `.wh..wh..opq` hides
 *   everything below in its directory except what this layer itself adds (in any entry
 *   order). With `whiteouts: 'record'` they are listed instead of applied (a layer unpacked
 *   on its own, to be stacked later).
 * - **Rootless** (default when not running as root): device nodes are refused (`layer-unsafe`),
 *   owners are not changed. Rootful: owners, modes (setuid included) and device nodes as the
 *   layer says.
 * - **Checked.** With `diffId`, the uncompressed bytes must hash to it (`blob-digest`
 *   otherwise, after the last entry: unpack into a fresh directory and drop it on failure —
 *   {@link unpackImage} does).
 * Extended attributes and sockets are not restored.
 */
import { execFile } from 'node:child_process';
import { createWriteStream, type Stats } from 'node:fs';
import { chmod, chown, lchown, link, lstat, lutimes, mkdir, readdir, readlink, rename, rm, symlink, utimes } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { extract, type Header } from 'tar-stream';
import { digestMismatch } from './content-store.js';
import { BLOB_CHUNK_BYTES, DigestCounter, type Digest } from './digest.js';
import { ImageError } from './errors.js';
import { layerCompression } from './oci.js';

/** Options of {@link applyLayer}. */
export interface ApplyLayerOptions {
  /** How the input is compressed; `auto` looks at its first bytes. @default 'auto' */
  compression?: 'auto' | 'gzip' | 'none' | 'zstd';
  /** Refuse device nodes and leave owners alone. @default true unless running as root */
  rootless?: boolean;
  /** `apply`: whiteouts delete from `root`; `record`: they are only listed in the result. @default 'apply' */
  whiteouts?: 'apply' | 'record';
  /** The expected digest of the uncompressed tar (the config's `rootfs.diff_ids[i]`). */
  diffId?: Digest;
  /** Named in errors. */
  image?: string;
  /** Named in errors (the layer's digest). */
  layer?: string;
  /**
   * List each entry's owner and mode in the result (`owners`) — for a host that unpacks as a
   * user what root will run (rootful through sudo), where the files cannot get their owners.
   * @default false
   */
  recordOwners?: boolean;
}

/**
 * One line of an owners list: `uid gid mode path` (mode in octal, `l` for a symlink, whose mode
 * is not applied), the path relative to the root with every byte outside `[A-Za-z0-9._/+,:=@~-]`
 * written `\0NNN` (octal), which `printf '%b'` decodes — no line can carry a space or a newline.
 */
export function ownerLine(path: string, uid: number, gid: number, mode: number | 'l'): string {
  let enc = '';
  for (const b of Buffer.from(path, 'utf8')) {
    const ch = String.fromCharCode(b);
    enc += /[A-Za-z0-9._/+,:=@~-]/.test(ch) ? ch : `\\0${b.toString(8).padStart(3, '0')}`;
  }
  return `${uid} ${gid} ${mode === 'l' ? 'l' : mode.toString(8).padStart(4, '0')} ${enc}`;
}

/** What applying a layer did. */
export interface AppliedLayer {
  /** Entries written (whiteouts excluded). */
  entries: number;
  /** Paths (relative to the root, `/`-separated) whited out by `.wh.NAME` entries. */
  whiteouts: string[];
  /** Directories made opaque by `.wh..wh..opq` (`''` is the root). */
  opaqueDirs: string[];
  /** sha256 of the uncompressed tar. */
  diffId: Digest;
  /** With `recordOwners`: an {@link ownerLine} per entry written (hard links excepted: they share their target's inode), in order. */
  owners?: string[];
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
const MAX_SYMLINKS = 40;

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, (err, _out, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`)) : resolve()));
  });
}

/**
 * Splits an entry name into safe components, or says why it is unsafe. `./a//b/` → `['a','b']`;
 * absolute names and any `..` component are unsafe.
 */
export function entryComponents(name: string): string[] | { unsafe: string } {
  if (name.startsWith('/')) return { unsafe: 'it is an absolute path' };
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return { unsafe: 'it has a ".." component' };
  return parts;
}

interface Ctx {
  root: string;
  rootless: boolean;
  asRoot: boolean;
  image: string | undefined;
  layer: string | undefined;
  /** Paths this layer wrote (and their ancestors), relative to root. */
  written: Set<string>;
  dirs: Map<string, { mode: number; mtime: Date; uid: number; gid: number }>;
  owners: string[] | undefined;
}

function unsafe(ctx: Ctx, entry: string, why: string): ImageError {
  const where = `${ctx.layer ? `layer ${ctx.layer}` : 'layer'}${ctx.image ? ` of ${ctx.image}` : ''}`;
  return new ImageError('layer-unsafe', `${where}: entry ${JSON.stringify(entry)} refused: ${why}`, {
    entry,
    ...(ctx.image ? { image: ctx.image } : {}),
    ...(ctx.layer ? { blob: ctx.layer } : {}),
  });
}

function invalidEntry(ctx: Ctx, entry: string, why: string): ImageError {
  const where = `${ctx.layer ? `layer ${ctx.layer}` : 'layer'}${ctx.image ? ` of ${ctx.image}` : ''}`;
  return new ImageError('image-invalid', `${where}: entry ${JSON.stringify(entry)}: ${why}`, {
    entry,
    ...(ctx.image ? { image: ctx.image } : {}),
    ...(ctx.layer ? { blob: ctx.layer } : {}),
  });
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/**
 * Resolves directory components inside the root, following symlinks only where they stay
 * inside it. Returns the resolved components (relative to root), or `undefined` when a
 * component is missing and `create` is false.
 */
async function resolveDir(ctx: Ctx, entry: string, parts: readonly string[], create: boolean, budget = { links: MAX_SYMLINKS }): Promise<string[] | undefined> {
  const out: string[] = [];
  const queue = [...parts];
  while (queue.length) {
    const c = queue.shift()!;
    const rel = [...out, c];
    const abs = join(ctx.root, ...rel);
    const st = await lstatOrUndefined(abs);
    if (!st) {
      if (!create) return undefined;
      await mkdir(abs, { mode: 0o755 });
      ctx.dirs.set(abs, { mode: 0o755, mtime: new Date(0), uid: 0, gid: 0 });
      out.push(c);
      continue;
    }
    if (st.isDirectory()) {
      await writable(ctx, abs, st);
      out.push(c);
      continue;
    }
    if (st.isSymbolicLink()) {
      if (--budget.links < 0) throw unsafe(ctx, entry, `too many levels of symbolic links under ${rel.join('/')}`);
      const target = await readlink(abs);
      if (target.startsWith('/')) throw unsafe(ctx, entry, `its path goes through ${rel.join('/')}, a symlink to ${target}, outside the layer's root`);
      const joined = posix.normalize(posix.join(...out, target));
      if (joined === '..' || joined.startsWith('../')) throw unsafe(ctx, entry, `its path goes through ${rel.join('/')}, a symlink to ${target}, which points outside the root`);
      // Re-resolve the link's target from the root (it may go through other links).
      const tparts = joined === '.' ? [] : joined.split('/');
      const resolved = await resolveDir(ctx, entry, tparts, create, budget);
      if (resolved === undefined) return undefined;
      out.length = 0;
      out.push(...resolved);
      continue;
    }
    throw invalidEntry(ctx, entry, `${rel.join('/')} is not a directory`);
  }
  return out;
}

/** True when `abs` is a directory reached from `root` through directories only (no symlinks). */
async function isRealDirInside(root: string, abs: string): Promise<boolean> {
  if (!abs.startsWith(`${root}/`)) return false;
  let cur = root;
  for (const c of abs.slice(root.length + 1).split('/')) {
    cur = join(cur, c);
    const st = await lstatOrUndefined(cur);
    if (!st?.isDirectory()) return false;
  }
  return true;
}

/**
 * Not root: a directory of a lower layer may be read-only (`dr-xr-xr-x /proc`); open it for
 * writing and remember its mode and time, which are put back at the end.
 */
async function writable(ctx: Ctx, abs: string, st: Stats): Promise<void> {
  if (ctx.asRoot || (st.mode & 0o300) === 0o300) return;
  if (!ctx.dirs.has(abs)) ctx.dirs.set(abs, { mode: st.mode & 0o7777, mtime: st.mtime, uid: st.uid, gid: st.gid });
  await chmod(abs, (st.mode & 0o7777) | 0o700);
}

/** Removes a tree; not root, read-only directories inside it are opened first (as rm -rf does for root). */
async function removeTree(ctx: Ctx, abs: string): Promise<void> {
  try {
    await rm(abs, { recursive: true, force: true });
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (ctx.asRoot || (code !== 'EACCES' && code !== 'EPERM')) throw e;
  }
  const open = async (p: string): Promise<void> => {
    const st = await lstatOrUndefined(p);
    if (!st?.isDirectory()) return;
    await chmod(p, 0o700);
    for (const n of await readdir(p)) await open(join(p, n));
  };
  await open(abs);
  await rm(abs, { recursive: true, force: true });
}

function markWritten(ctx: Ctx, rel: readonly string[]): void {
  for (let i = 1; i <= rel.length; i++) ctx.written.add(rel.slice(0, i).join('/'));
}

async function clearOpaque(ctx: Ctx, rel: readonly string[]): Promise<void> {
  const abs = join(ctx.root, ...rel);
  let names: string[];
  try {
    names = await readdir(abs);
  } catch {
    return;
  }
  for (const n of names) {
    const childRel = [...rel, n];
    const key = childRel.join('/');
    if (!ctx.written.has(key)) {
      await removeTree(ctx, join(abs, n));
      continue;
    }
    const st = await lstat(join(abs, n));
    if (st.isDirectory()) await clearOpaque(ctx, childRel);
  }
}

async function setOwner(ctx: Ctx, abs: string, h: Header, isLink: boolean): Promise<void> {
  if (ctx.rootless || !ctx.asRoot) return;
  if (isLink) await lchown(abs, h.uid, h.gid);
  else await chown(abs, h.uid, h.gid);
}

/** An entry's content as tar-stream gives it. */
type EntryBody = AsyncIterable<Buffer> & { resume(): unknown };

/** Applies one entry. */
async function applyEntry(ctx: Ctx, h: Header, body: EntryBody, mode: 'apply' | 'record', result: AppliedLayer): Promise<void> {
  const name = h.name;
  const parts = entryComponents(name);
  if (!Array.isArray(parts)) throw unsafe(ctx, name, parts.unsafe);
  if (parts.length === 0) {
    // The root itself (`./`): nothing to create; its mode is the runtime's business.
    body.resume();
    return;
  }
  const base = parts[parts.length - 1]!;
  const parentParts = parts.slice(0, -1);

  if (base.startsWith(WHITEOUT)) {
    body.resume();
    if (h.type !== 'file' && h.type !== 'contiguous-file' && h.type !== 'directory') throw invalidEntry(ctx, name, 'a whiteout must be a regular file');
    if (base === OPAQUE) {
      if (mode === 'record') {
        result.opaqueDirs.push(parentParts.join('/'));
        return;
      }
      const dir = await resolveDir(ctx, name, parentParts, false);
      if (dir) await clearOpaque(ctx, dir);
      return;
    }
    const victim = base.slice(WHITEOUT.length);
    if (victim === '' || victim === '.' || victim === '..' || victim.startsWith(WHITEOUT)) throw unsafe(ctx, name, `it whites out ${JSON.stringify(victim)}, which is not a file name`);
    if (mode === 'record') {
      result.whiteouts.push([...parentParts, victim].join('/'));
      return;
    }
    const dir = await resolveDir(ctx, name, parentParts, false);
    if (dir) await removeTree(ctx, join(ctx.root, ...dir, victim));
    return;
  }

  const parent = (await resolveDir(ctx, name, parentParts, true))!;
  const rel = [...parent, base];
  const abs = join(ctx.root, ...rel);
  const existing = await lstatOrUndefined(abs);
  const perm = h.mode & 0o7777;

  if (h.type === 'directory') {
    body.resume();
    if (existing && !existing.isDirectory()) await removeTree(ctx, abs);
    if (!existing?.isDirectory()) await mkdir(abs, { mode: 0o700 });
    await setOwner(ctx, abs, h, false);
    ctx.dirs.set(abs, { mode: perm, mtime: h.mtime, uid: h.uid, gid: h.gid });
    ctx.owners?.push(ownerLine(rel.join('/'), h.uid, h.gid, perm));
    markWritten(ctx, rel);
    result.entries++;
    return;
  }
  if (existing) await removeTree(ctx, abs);

  switch (h.type) {
    case 'file':
    case 'contiguous-file': {
      await pipeline(body as AsyncIterable<Buffer>, createWriteStream(abs, { flags: 'wx', mode: 0o600 }));
      await setOwner(ctx, abs, h, false);
      await chmod(abs, perm);
      await utimes(abs, h.mtime, h.mtime);
      break;
    }
    case 'symlink': {
      body.resume();
      if (!h.linkname) throw invalidEntry(ctx, name, 'a symlink with an empty target');
      await symlink(h.linkname, abs);
      await setOwner(ctx, abs, h, true);
      await lutimes(abs, h.mtime, h.mtime).catch(() => undefined);
      break;
    }
    case 'link': {
      body.resume();
      const target = entryComponents(h.linkname ?? '');
      if (!Array.isArray(target) || target.length === 0) throw unsafe(ctx, name, `it is a hard link to ${JSON.stringify(h.linkname)}, which ${Array.isArray(target) ? 'is the root' : target.unsafe}`);
      const tparent = await resolveDir(ctx, name, target.slice(0, -1), false);
      const tabs = tparent ? join(ctx.root, ...tparent, target[target.length - 1]!) : undefined;
      const tst = tabs ? await lstatOrUndefined(tabs) : undefined;
      if (!tabs || !tst) throw invalidEntry(ctx, name, `hard link to ${h.linkname}, which the layer has not created`);
      if (tst.isDirectory()) throw invalidEntry(ctx, name, `hard link to ${h.linkname}, a directory`);
      await link(tabs, abs);
      break;
    }
    case 'character-device':
    case 'block-device': {
      body.resume();
      if (ctx.rootless || !ctx.asRoot) throw unsafe(ctx, name, `it is a ${h.type === 'block-device' ? 'block' : 'character'} device (${h.devmajor}:${h.devminor}); device nodes are not created rootless`);
      await run('mknod', ['-m', (perm & 0o777).toString(8), abs, h.type === 'block-device' ? 'b' : 'c', String(h.devmajor), String(h.devminor)]);
      await setOwner(ctx, abs, h, false);
      break;
    }
    case 'fifo': {
      body.resume();
      await run('mkfifo', ['-m', (perm & 0o777).toString(8), abs]);
      await setOwner(ctx, abs, h, false);
      break;
    }
    default:
      body.resume();
      throw invalidEntry(ctx, name, `unsupported entry type ${String(h.type)}`);
  }
  if (h.type !== 'link') ctx.owners?.push(ownerLine(rel.join('/'), h.uid, h.gid, h.type === 'symlink' ? 'l' : perm));
  markWritten(ctx, rel);
  result.entries++;
}

async function* concat(first: Buffer, rest: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (first.length) yield first;
  for (;;) {
    const n = await rest.next();
    if (n.done) return;
    yield n.value;
  }
}

/** Applies a layer tar to `root` (which must exist). See the module's guarantees. */
export async function applyLayer(source: AsyncIterable<Uint8Array>, root: string, options: ApplyLayerOptions = {}): Promise<AppliedLayer> {
  const asRoot = process.getuid?.() === 0;
  const ctx: Ctx = {
    root,
    rootless: options.rootless ?? !asRoot,
    asRoot,
    owners: options.recordOwners === true ? [] : undefined,
    image: options.image,
    layer: options.layer,
    written: new Set(),
    dirs: new Map(),
  };
  // Peek at the first bytes to recognise the compression.
  const it = source[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  let ended = false;
  while (head.length < 4) {
    const n = await it.next();
    if (n.done) {
      ended = true;
      break;
    }
    head = Buffer.concat([head, Buffer.from(n.value)]);
  }
  let compression = options.compression ?? 'auto';
  if (compression === 'auto') {
    compression = head[0] === 0x1f && head[1] === 0x8b ? 'gzip' : head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])) ? 'zstd' : 'none';
  }
  const input = Readable.from(ended ? [head] : concat(head, it));
  const stages: (NodeJS.ReadableStream | NodeJS.ReadWriteStream)[] = [input];
  if (compression === 'gzip') stages.push(zlib.createGunzip({ chunkSize: BLOB_CHUNK_BYTES }));
  if (compression === 'zstd') {
    const make = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
    if (!make) throw invalidEntry(ctx, '', `zstd-compressed layers need Node >= 22.15 (this is ${process.version})`);
    stages.push(make());
  }
  const counter = new DigestCounter('sha256');
  stages.push(
    new Transform({
      transform(chunk: Buffer, _e, cb) {
        counter.update(chunk);
        cb(null, chunk);
      },
    }),
  );
  const ex = extract();
  const fed = pipeline([...stages, ex as unknown as NodeJS.WritableStream]).catch((e: unknown) => e as Error);
  const result: AppliedLayer = { entries: 0, whiteouts: [], opaqueDirs: [], diffId: 'sha256:' };
  const mode = options.whiteouts ?? 'apply';
  try {
    for await (const entry of ex) await applyEntry(ctx, entry.header, entry as unknown as EntryBody, mode, result);
  } catch (e) {
    ex.destroy();
    input.destroy();
    await fed;
    throw e;
  }
  const err = await fed;
  if (err) throw invalidEntry(ctx, '', `the layer is not a readable ${compression === 'none' ? '' : `${compression} `}tar: ${err.message}`);
  // Directory modes and times last, deepest first, so read-only directories could be filled.
  // A directory replaced or whited out since is skipped: chmod must never follow a symlink.
  for (const [abs, m] of [...ctx.dirs].sort((a, b) => b[0].length - a[0].length)) {
    if (!(await isRealDirInside(ctx.root, abs))) continue;
    await chmod(abs, m.mode);
    await utimes(abs, m.mtime, m.mtime);
  }
  result.diffId = counter.digest();
  if (options.diffId !== undefined && result.diffId !== options.diffId) {
    throw digestMismatch(options.diffId, { digest: result.diffId, size: counter.size }, { ...(options.image ? { image: options.image } : {}), where: `uncompressed layer ${options.layer ?? ''}`.trim() });
  }
  if (ctx.owners) result.owners = ctx.owners;
  return result;
}

/** Options of {@link unpackImage}. */
export interface UnpackImageOptions {
  /** As {@link ApplyLayerOptions.rootless}. */
  rootless?: boolean;
}

/**
 * Unpacks an image's layers, bottom first, into a new directory `target` (which must not
 * exist): into a sibling temporary directory, renamed to `target` only when every layer has
 * applied and matched its `diff_id`, so a failure leaves nothing behind. Layers are read from
 * `store`, verified as they stream.
 */
export async function unpackImage(
  image: { reference: { text: string }; layers: readonly { digest: Digest; mediaType: string }[]; config: { rootfs: { diff_ids: readonly Digest[] } } },
  store: { open(digest: Digest, context?: { image?: string }): Promise<AsyncIterable<Uint8Array>> },
  target: string,
  options: UnpackImageOptions = {},
): Promise<{ rootfs: string; layers: AppliedLayer[] }> {
  const tmp = `${target}.partial-${process.pid}-${Date.now().toString(36)}`;
  await mkdir(dirname(target), { recursive: true });
  await mkdir(tmp, { mode: 0o755 });
  const applied: AppliedLayer[] = [];
  try {
    for (const [i, l] of image.layers.entries()) {
      const compression = layerCompression(l.mediaType);
      applied.push(
        await applyLayer(await store.open(l.digest, { image: image.reference.text }), tmp, {
          ...(compression ? { compression } : {}),
          ...(options.rootless !== undefined ? { rootless: options.rootless } : {}),
          diffId: image.config.rootfs.diff_ids[i]!,
          image: image.reference.text,
          layer: l.digest,
        }),
      );
    }
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return { rootfs: target, layers: applied };
}

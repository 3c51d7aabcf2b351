/**
 * The on-host half of the container runtime: a self-contained program (bundled by tsup to
 * `dist/host/image-host.mjs`) that `runContainer` uploads, content-addressed, to
 * `~/.flotilla/bin/` and runs with the host's `node` (>= 20). It reuses the same code the
 * operator's side uses — the verifying content store, the layer unpacker (whiteouts, escape
 * refusal, device nodes refused rootless), layer snapshots by chain ID and `runtimeSpec` — so
 * the host checks everything itself rather than trusting what it was sent.
 *
 * Protocol: `node image-host.mjs <command>`, a JSON request on stdin, one JSON line on stdout:
 * the result, or `{"error":{code,message,image,blob,entry}}` with exit status 3.
 * - `prepare`: commit the blobs just uploaded (each checked against its digest), unpack the
 *   image's layers (once per chain ID) and assemble a bundle (`rootfs/` + `config.json`) in a
 *   new directory.
 * - `gc`: remove blobs and snapshots no container on the host and none of the last N pulled
 *   images use.
 * - `serve SOCKET IDLE_SECONDS`: the same commands from a resident process (the *host helper*),
 *   so an update whose only new layer is small does not pay Node's start-up (~100 ms of CPU)
 *   on every host. It listens on SOCKET — whose directory must be the user's own, and is made
 *   mode 0700 (only the user and root can connect) — reached by the client over the ssh connection's
 *   streamlocal forwarding. Per connection: the helper writes `ok <pid>\n` at once (a client that
 *   gets no greeting sent nothing that was acted on, and falls back to starting the program),
 *   reads one JSON line `{"command","request"}`, answers one JSON line as above, and closes.
 *   Lifecycle: the socket's name carries the program's content hash (a new program version
 *   gets a helper of its own; the old one idles out); it binds a temporary name and renames it
 *   into place (a helper that finds its socket replaced or removed — another helper won, the
 *   directory was deleted — exits within a second); it exits after IDLE_SECONDS without a
 *   request; a killed helper leaves a socket nobody listens on, which the client's next
 *   start replaces.
 */
import { randomBytes } from 'node:crypto';
import { appendFile, chmod, copyFile, lstat, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { FileContentStore } from './content-store.js';
import type { Digest } from './digest.js';
import { parseDigest } from './digest.js';
import { ImageError, isImageError } from './errors.js';
import { parseImageConfig, parseManifest, type ImageConfig, type OciManifest } from './oci.js';
import { parseImageUser, requestRuntimeSpec } from './runtime-spec.js';
import { LayerSnapshots, chainIds } from './snapshots.js';

/** What `prepare` is asked. */
export interface PrepareRequest {
  digest: Digest;
  /** The image as the user named it (in errors). */
  image: string;
  /** The new container directory to create (absolute); `bundle/` goes inside. */
  target: string;
  rootless: boolean;
  hostUid: number;
  hostGid: number;
  hostname: string;
  command?: string[];
  args?: string[];
  env: Record<string, string>;
  readOnlyRootFilesystem: boolean;
  resources?: { cpuMillis?: number; memoryBytes?: number };
  cgroupsPath?: string;
  /** Written to `<target>/meta.json`. */
  meta: Record<string, unknown>;
  /** Written to `<target>/run.env` (sh assignments for the supervisor, see container-sh.ts). */
  runEnv: string;
  /**
   * Leave `bundle/rootfs` empty (with `upper/` and `work/` beside it): an overlay of the top
   * snapshot is mounted there (by runc with `rootfsOverlay`, else by the supervisor), or the
   * supervisor copies the snapshot when it cannot.
   */
  overlay?: boolean;
  /**
   * Rootful through sudo: the layers are unpacked by the host user, so their owners are kept in
   * a list (`<target>/owners`) that this hook — run by the runtime as root — applies to the rootfs.
   */
  ownersHook?: { path: string; args: string[] };
  /** A `poststart` hook that tells the launch the container runs (see container-sh.ts). */
  startedHook?: { path: string; args: string[] };
  /** Pod networking (see runtimeSpec's `network`). */
  network?: { netns: string; resolvConf?: string };
  /** The overlay runc mounts as the rootfs (see runtimeSpec's `rootfsOverlay`), with `overlay`. */
  rootfsOverlay?: { lower: string; upper: string; work: string };
  /**
   * Blobs just uploaded to the store's `ingest/<hex><suffix>`: each is checked against its
   * digest and size, and committed into `blobs/` (or removed and refused), before anything else.
   */
  ingest?: { suffix: string; blobs: { digest: Digest; size: number }[] };
}

/** Where a host keeps images, snapshots and containers (under its login directory). */
export function hostLayout(home: string = homedir()): { images: string; snapshots: string; containers: string } {
  return { images: join(home, '.flotilla/images'), snapshots: join(home, '.flotilla/snapshots'), containers: join(home, '.flotilla/containers') };
}

async function readJson(store: FileContentStore, digest: Digest, image: string): Promise<unknown> {
  const bytes = await store.read(digest, { image, maxBytes: 4 * 1024 * 1024 });
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new ImageError('image-invalid', `image ${image}: blob ${digest} is not JSON`, { image, blob: digest, cause: e });
  }
}

async function imageOnHost(store: FileContentStore, digest: Digest, image: string): Promise<{ manifest: OciManifest; config: ImageConfig }> {
  const m = parseManifest(await readJson(store, digest, image));
  if (Array.isArray(m)) throw new ImageError('image-invalid', `image ${image}: manifest ${digest}: ${m.join('; ')}`, { image, blob: digest });
  const c = parseImageConfig(await readJson(store, m.config.digest, image));
  if (Array.isArray(c)) throw new ImageError('image-invalid', `image ${image}: config ${m.config.digest}: ${c.join('; ')}`, { image, blob: m.config.digest });
  if (c.rootfs.diff_ids.length !== m.layers.length) {
    throw new ImageError('image-invalid', `image ${image}: the manifest has ${m.layers.length} layers and the config ${c.rootfs.diff_ids.length} diff_ids`, { image, blob: digest });
  }
  return { manifest: m, config: c };
}

async function prepare(req: PrepareRequest): Promise<unknown> {
  const layout = hostLayout();
  const store = new FileContentStore(layout.images);
  for (const b of req.ingest?.blobs ?? []) {
    const p = parseDigest(b.digest);
    if (!p || !/^[.a-z0-9]*$/.test(req.ingest!.suffix)) throw new ImageError('image-invalid', `image ${req.image}: bad ingest request for ${b.digest}`, { image: req.image });
    await store.commitFile(join(layout.images, 'ingest', `${p.hex}${req.ingest!.suffix}`), b.digest, { image: req.image, size: b.size, where: 'as it arrived' });
  }
  const { manifest, config } = await imageOnHost(store, req.digest, req.image);
  const snapshots = new LayerSnapshots(layout.snapshots);
  await mkdir(req.target, { recursive: true, mode: 0o700 });
  const bundle = join(req.target, 'bundle');
  await mkdir(bundle, { mode: 0o711 });
  const image = { layers: manifest.layers, config, reference: { text: req.image } };
  const before = new Set(await snapshots.list());
  const owners = req.ownersHook !== undefined;
  if (req.overlay && manifest.layers.length > 0) {
    await snapshots.prepare(image, store, { rootless: req.rootless });
    for (const d of ['bundle/rootfs', 'upper', 'work']) await mkdir(join(req.target, d), { mode: 0o755 });
  } else await snapshots.rootfs(image, store, join(bundle, 'rootfs'), { rootless: req.rootless, ...(owners ? { owners } : {}) });
  const ids = chainIds(config.rootfs.diff_ids);
  if (owners && ids.length > 0) await copyFile(snapshots.ownersFile(ids.at(-1)!), join(req.target, 'owners'));
  const unpacked = ids.filter((id) => !before.has(id)).length;
  const text = async (p: string): Promise<string | undefined> => {
    try {
      // lstat first: a symlink in the image must not make the host read its own files.
      if (!(await lstat(p)).isFile()) return undefined;
      return await readFile(p, 'utf8');
    } catch {
      return undefined;
    }
  };
  let user: { uid: number; gid: number } | undefined;
  if (config.config?.User) {
    const top = req.overlay && manifest.layers.length > 0 ? snapshots.dir(chainIds(config.rootfs.diff_ids).at(-1)!) : join(bundle, 'rootfs');
    const passwd = await text(join(top, 'etc/passwd'));
    const group = await text(join(top, 'etc/group'));
    try {
      user = parseImageUser(config.config.User, { ...(passwd !== undefined ? { passwd } : {}), ...(group !== undefined ? { group } : {}) });
    } catch (e) {
      throw new ImageError('image-invalid', `image ${req.image}: ${(e as Error).message}`, { image: req.image, cause: e });
    }
    if (req.rootless && (user.uid !== 0 || user.gid !== 0)) {
      throw new ImageError('image-invalid', `image ${req.image}: its User ${JSON.stringify(config.config.User)} is not root, and a rootless container maps only the host user (to root); run it rootful, or give the image User root`, { image: req.image });
    }
  }
  const { spec, limitsEnforced } = requestRuntimeSpec(config, req, user);
  await writeFile(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
  await writeFile(join(req.target, 'run.env'), req.runEnv);
  await appendFile(join(layout.images, 'pulled'), `${Date.now()} ${req.digest}\n`);
  await writeFile(join(req.target, 'meta.json'), `${JSON.stringify({ ...req.meta, limitsEnforced, chainIds: ids })}\n`);
  return { ok: true, unpacked, chainIds: ids, limitsEnforced };
}

async function sizeOf(p: string): Promise<number> {
  const st = await lstat(p).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const e of await readdir(p).catch(() => [] as string[])) n += await sizeOf(join(p, e));
  return n;
}

async function gc(req: { keepLast?: number }): Promise<unknown> {
  const layout = hostLayout();
  const store = new FileContentStore(layout.images);
  const keepLast = req.keepLast ?? 3;
  const keep = new Set<Digest>();
  for (const n of await readdir(layout.containers).catch(() => [] as string[])) {
    const meta = await readFile(join(layout.containers, n, 'meta.json'), 'utf8').catch(() => undefined);
    if (meta === undefined) continue;
    try {
      const d = (JSON.parse(meta) as { imageDigest?: string }).imageDigest;
      if (d && parseDigest(d)) keep.add(d as Digest);
    } catch {
      /* a meta.json being written: its image is in the pulled log too */
    }
  }
  const pulled = (await readFile(join(layout.images, 'pulled'), 'utf8').catch(() => ''))
    .split('\n')
    .map((l) => l.trim().split(' ')[1])
    .filter((d): d is Digest => d !== undefined && parseDigest(d) !== undefined);
  const recent: Digest[] = [];
  for (const d of pulled.reverse()) if (!recent.includes(d) && recent.length < keepLast) recent.push(d);
  for (const d of recent) keep.add(d);
  const keepBlobs = new Set<Digest>();
  const keepChains = new Set<Digest>();
  for (const d of keep) {
    try {
      const { manifest, config } = await imageOnHost(store, d, d);
      keepBlobs.add(d);
      keepBlobs.add(manifest.config.digest);
      for (const l of manifest.layers) keepBlobs.add(l.digest);
      for (const id of chainIds(config.rootfs.diff_ids)) keepChains.add(id);
    } catch {
      // Not (wholly) on the host: nothing of it to keep beyond what is there.
      keepBlobs.add(d);
    }
  }
  const blobs = await store.gc(keepBlobs);
  const snapshots = new LayerSnapshots(layout.snapshots);
  let snapshotBytes = 0;
  for (const id of await snapshots.list()) if (!keepChains.has(id)) snapshotBytes += await sizeOf(snapshots.dir(id));
  const removedSnapshots = await snapshots.gc(keepChains);
  for (const b of blobs.removed) await rm(join(layout.images, 'signatures', `${parseDigest(b.digest)!.hex}.sig`), { force: true });
  // The pulled log keeps only what is kept.
  await writeFile(join(layout.images, 'pulled'), recent.reverse().map((d, i) => `${i} ${d}\n`).join(''));
  return { removedBlobs: blobs.removed.length, removedSnapshots: removedSnapshots.length, bytesFreed: blobs.bytes + snapshotBytes, kept: [...keep] };
}

/** Requests a helper has taken (`version` says). */
let served = 0;

/** Runs one command of the protocol (see the module's comment). */
async function answer(command: string | undefined, req: unknown): Promise<unknown> {
  if (command === 'prepare') {
    const r = req as PrepareRequest;
    try {
      return await prepare(r);
    } catch (e) {
      // A refusal leaves nothing behind (the one-shot program's caller removes it itself).
      if (typeof r?.target === 'string' && r.target.includes('/.flotilla/containers/.new-')) await rm(r.target, { recursive: true, force: true }).catch(() => undefined);
      throw e;
    }
  }
  if (command === 'gc') return gc(req as { keepLast?: number });
  if (command === 'version') return { node: process.versions.node, pid: process.pid, served };
  throw new TypeError(`unknown command ${JSON.stringify(command)}: expected prepare, gc or version`);
}

function errorData(e: unknown): { error: Record<string, unknown> } {
  const err = e as Error & { code?: string; image?: string; blob?: string; entry?: string };
  return {
    error: isImageError(e)
      ? { code: err.code, message: err.message, image: err.image, blob: err.blob, entry: err.entry }
      : { code: typeof err.code === 'string' ? err.code : 'host-error', message: err.message ?? String(e) },
  };
}

/** The longest request a helper reads (a prepare request is a few KiB). */
const MAX_REQUEST = 4 * 1024 * 1024;

/** The resident helper (see the module's comment). */
async function serve(socketPath: string | undefined, idleSeconds: number): Promise<void> {
  if (!socketPath?.startsWith('/') || !(idleSeconds > 0)) throw new TypeError('usage: serve /absolute/socket/path IDLE_SECONDS');
  const dir = dirname(socketPath);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await lstat(dir);
  if (!st.isDirectory() || st.uid !== process.getuid?.()) {
    throw new Error(`${dir} must be a directory of this user's (it is ${st.isDirectory() ? `owned by uid ${st.uid}` : 'not a directory'}); the helper does not listen where others could connect`);
  }
  // The user's own directory, open to others: closed (the socket is bound under a new name and renamed into place, so nothing another user left there is followed).
  if ((st.mode & 0o077) !== 0) await chmod(dir, 0o700);
  let active = 0;
  let last = Date.now();
  const server = createServer((sock: Socket) => {
    active++;
    last = Date.now();
    void handle(sock).finally(() => {
      active--;
      last = Date.now();
    });
  });
  // Beside the socket, at most 5 bytes longer than its name (`h-<16 hex>.sock`): a path that fits sun_path.
  const tmp = join(dir, `.h-${randomBytes(11).toString('hex').slice(0, 21)}.sock`);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(tmp, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(tmp, 0o600);
  await rename(tmp, socketPath);
  const ino = (await lstat(socketPath)).ino;
  await writeFile(`${socketPath}.pid`, `${process.pid}\n`);
  const idleMs = idleSeconds * 1000;
  const tick = setInterval(() => {
    void (async () => {
      const now = await lstat(socketPath).catch(() => undefined);
      const mine = now?.ino === ino;
      if (mine && !(active === 0 && Date.now() - last > idleMs)) return;
      clearInterval(tick);
      // Gone from the file system first: a client that connects from now on finds nothing and falls back.
      if (mine) {
        await rm(socketPath, { force: true });
        await rm(`${socketPath}.pid`, { force: true });
      }
      server.close(() => process.exit(0));
    })();
  }, 1000);
}

/** One client: greeting, one request line, one answer line. */
async function handle(sock: Socket): Promise<void> {
  sock.on('error', () => undefined);
  sock.write(`ok ${process.pid}\n`);
  const line = await new Promise<string | undefined>((resolve) => {
    let buf = '';
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8');
      const i = buf.indexOf('\n');
      if (i >= 0 || buf.length > MAX_REQUEST) {
        sock.off('data', onData);
        resolve(i >= 0 ? buf.slice(0, i) : undefined);
      }
    };
    sock.on('data', onData);
    sock.once('end', () => resolve(undefined));
    sock.once('close', () => resolve(undefined));
  });
  if (line === undefined) {
    sock.destroy();
    return;
  }
  let out: unknown;
  try {
    const { command, request } = JSON.parse(line) as { command?: string; request?: unknown };
    served++;
    out = await answer(command, request ?? {});
  } catch (e) {
    out = errorData(e);
  }
  await new Promise<void>((resolve) => sock.end(`${JSON.stringify(out)}\n`, () => resolve()));
}

async function main(): Promise<void> {
  const command = process.argv[2];
  if (command === 'serve') return serve(process.argv[3], Number(process.argv[4]));
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const req = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
  const out = await answer(command, req);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((e: unknown) => {
  process.stdout.write(`${JSON.stringify(errorData(e))}\n`);
  process.exitCode = 3;
});

/**
 * Layer snapshots: each layer of an image is unpacked once — on top of the snapshot of the
 * layers below it — into `<root>/<chain id hex>/`, keyed by the OCI *chain ID* (the digest of
 * a layer together with everything under it), so two images that share their bottom layers
 * share those snapshots, and a new image version that changes only its top layer unpacks
 * only that layer. A snapshot starts as hard links to the one below (see `linkTree`: its files
 * are never written in place), so the cost of a new top layer is that layer's own bytes. An
 * instance's root filesystem is a copy of the top snapshot
 * (`cp -a --reflink=auto`: a cheap clone where the filesystem can, a copy otherwise), writable
 * without touching the snapshot. (Overlayfs, where the kernel allows, is the runtime's step.)
 *
 * Why whole snapshots rather than one directory per layer: a layer applies *onto* the layers
 * below — its entries go through their symlinks (`lib -> usr/lib`) and its whiteouts remove
 * their files — so a layer unpacked alone is not the same thing; containerd's snapshotters
 * apply each layer onto a view of its parent for the same reason.
 *
 * Guarantees: a snapshot directory exists only complete (built in a temporary directory,
 * then renamed); concurrent `prepare`s in one process share the work, across processes the
 * loser of the rename drops its copy. Every layer is verified while it is read (digest) and
 * unpacked (`diff_id`).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContentStore } from './content-store.js';
import { parseDigest, sha256Digest, type Digest } from './digest.js';
import type { Image } from './load.js';
import { layerCompression } from './oci.js';
import { applyLayer } from './unpack.js';

/** The OCI chain IDs of a stack of layers given by their diff_ids (bottom first). */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256Digest(`${out[out.length - 1]!} ${d}`));
  return out;
}

function cp(from: string, to: string, how: '-a' | '-al' = '-a'): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('cp', how === '-a' ? ['-a', '--reflink=auto', '--', from, to] : ['-al', '--', from, to], (err, _o, stderr) => (err ? reject(new Error(`cp ${how} ${from} ${to}: ${stderr.trim() || err.message}`)) : resolve()));
  });
}

/**
 * The snapshot below, as the start of the next one: its directories copied, its files hard
 * links (no data copied). Safe because nothing writes a snapshot's files in place: the unpacker
 * replaces a file by removing it and creating a new one ('wx'), whiteouts unlink, and a
 * finished snapshot is only read (an overlay's lower layer, or the source of a copy). Where
 * links cannot be made (another filesystem, a link limit), a copy.
 */
async function linkTree(from: string, to: string): Promise<void> {
  try {
    await cp(from, to, '-al');
  } catch {
    await rm(to, { recursive: true, force: true });
    await cp(from, to);
  }
}

async function exists(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined)) !== undefined;
}

/** Snapshots of layer stacks under a root directory (see the module's guarantees). */
export class LayerSnapshots {
  readonly root: string;
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(root: string) {
    this.root = root;
  }

  /** The directory of a chain ID's snapshot (whether or not it exists). */
  dir(chainId: Digest): string {
    const p = parseDigest(chainId);
    if (!p) throw new TypeError(`Expected \`chainId\` to be a digest, got \`${chainId}\``);
    return join(this.root, p.hex);
  }

  /**
   * The owners list beside a chain's snapshot (`<hex>.owners`, written with `owners: true`): the
   * owner lines of every layer up to it, bottom first (a later line for a path wins).
   */
  ownersFile(chainId: Digest): string {
    return `${this.dir(chainId)}.owners`;
  }

  /** Whether the snapshot exists (complete). */
  has(chainId: Digest): Promise<boolean> {
    return exists(this.dir(chainId));
  }

  /**
   * Makes sure every layer of `image` is unpacked (each once per chain ID) and resolves to
   * the top snapshot's directory and how many layers were unpacked now.
   */
  async prepare(image: Pick<Image, 'layers' | 'config'> & { reference?: { text: string } }, store: ContentStore, options: { rootless?: boolean; owners?: boolean } = {}): Promise<{ dir: string; chainIds: Digest[]; unpacked: number }> {
    const ids = chainIds(image.config.rootfs.diff_ids);
    await mkdir(this.root, { recursive: true });
    let unpacked = 0;
    for (const [i, id] of ids.entries()) {
      const key = `${id}${options.owners ? '+owners' : ''}`;
      let job = this.inflight.get(key);
      if (!job) {
        job = (async () => {
          const dir = this.dir(id);
          // With owners: a snapshot made without its list (before, or by a rootless run) is unpacked again for it.
          if ((await exists(dir)) && (!options.owners || (await exists(this.ownersFile(id))))) return dir;
          const tmp = join(this.root, `.tmp-${parseDigest(id)!.hex.slice(0, 16)}-${randomBytes(4).toString('hex')}`);
          try {
            if (i === 0) await mkdir(tmp, { mode: 0o755 });
            else await linkTree(this.dir(ids[i - 1]!), tmp);
            const layer = image.layers[i]!;
            const compression = layerCompression(layer.mediaType);
            const applied = await applyLayer(await store.open(layer.digest, image.reference ? { image: image.reference.text } : {}), tmp, {
              ...(compression ? { compression } : {}),
              ...(options.owners ? { recordOwners: true } : {}),
              ...(options.rootless !== undefined ? { rootless: options.rootless } : {}),
              diffId: image.config.rootfs.diff_ids[i]!,
              layer: layer.digest,
              ...(image.reference ? { image: image.reference.text } : {}),
            });
            if (options.owners) {
              const below = i === 0 ? '' : await readFile(this.ownersFile(ids[i - 1]!), 'utf8');
              await writeFile(`${tmp}.owners`, below + (applied.owners ?? []).map((l) => `${l}\n`).join(''));
              await rename(`${tmp}.owners`, this.ownersFile(id));
            }
            try {
              await rename(tmp, dir);
              unpacked++;
            } catch (e) {
              // Another process finished the same snapshot first: keep theirs.
              if (!(await exists(dir))) throw e;
            }
            return dir;
          } finally {
            await rm(tmp, { recursive: true, force: true });
            await rm(`${tmp}.owners`, { force: true });
          }
        })();
        this.inflight.set(key, job);
        void job.finally(() => this.inflight.delete(key)).catch(() => undefined);
      }
      await job;
    }
    return { dir: this.dir(ids[ids.length - 1]!), chainIds: ids, unpacked };
  }

  /**
   * A writable root filesystem for an instance at `target` (which must not exist): a copy of
   * the image's top snapshot, prepared first if needed.
   */
  async rootfs(image: Pick<Image, 'layers' | 'config'> & { reference?: { text: string } }, store: ContentStore, target: string, options: { rootless?: boolean; owners?: boolean } = {}): Promise<string> {
    if (image.layers.length === 0) {
      await mkdir(target, { mode: 0o755 });
      return target;
    }
    const { dir } = await this.prepare(image, store, options);
    if (await exists(target)) throw new TypeError(`Expected \`target\` not to exist: ${target}`);
    await cp(dir, target);
    return target;
  }

  /** Chain IDs of every snapshot held. */
  async list(): Promise<Digest[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).sort().map((n): Digest => `sha256:${n}`);
  }

  /** Removes every snapshot whose chain ID is not in `keep` (and leftover temporary directories). */
  async gc(keep: Iterable<Digest>): Promise<Digest[]> {
    const kept = new Set<string>(keep);
    const removed: Digest[] = [];
    for (const id of await this.list()) {
      if (kept.has(id)) continue;
      await rm(this.dir(id), { recursive: true, force: true });
      await rm(this.ownersFile(id), { force: true });
      removed.push(id);
    }
    for (const n of await readdir(this.root).catch(() => [] as string[])) if (n.startsWith('.tmp-') && this.inflight.size === 0) await rm(join(this.root, n), { recursive: true, force: true });
    return removed;
  }
}

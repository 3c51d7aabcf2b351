/**
 * Distribution: an image's blobs to a host's content store (`~/.flotilla/images/`, an OCI
 * layout), over any {@link Connection} (ssh, or the local transport). The host is asked which
 * blobs it lacks first; only those are sent, each checked twice — against its digest here
 * before it leaves (the local store's file is hashed, once for the hosts it goes to at about
 * the same time) and on the host on arrival (`sha256sum`, or `shasum -a 256`; the host program
 * when `runContainer` sends it) before it is renamed into `blobs/`. A blob that arrives
 * different is removed and refused with `blob-digest` naming the host, the image and the blob.
 * Hosts need only sh, coreutils and OpenSSH (no Node). A new image version that shares layers
 * with one the host holds moves only the changed layers.
 *
 * Signatures: where the host has `~/.flotilla/allowed_signers`, it accepts an image only with a
 * valid signature of its manifest digest by a listed principal (namespace `flotilla-image`),
 * checked *on the host* with `ssh-keygen -Y verify` before any blob is sent, stored or unpacked.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { localFile, type Connection } from '../connection.js';
import { DeployError } from '../errors.js';
import { quotePath, shellQuote } from '../quote.js';
import { digestMismatch, type BlobInfo, type FileContentStore } from './content-store.js';
import { parseDigest, type Digest } from './digest.js';
import { ImageError } from './errors.js';
import type { Image } from './load.js';
import { IMAGE_SIGNATURE_NAMESPACE } from './sign.js';

/** The host's image store, relative to the login directory (`~/.flotilla/images/`). */
export const HOST_IMAGES_DIR = '.flotilla/images';

/** Options of {@link pushImage}. */
export interface PushImageOptions {
  /** The host's content store (relative paths are relative to the login directory). @default '.flotilla/images' */
  dir?: string;
  /** The image's signature file (`flo sign`). @default `<image path>.sig` when it exists */
  signature?: string;
  /** Called for each blob: sent now, or already present on the host. */
  onBlob?: (blob: BlobInfo, action: 'sent' | 'present') => void;
  signal?: AbortSignal;
}

/** What {@link pushImage} did on one host. */
export interface PushResult {
  host: string;
  /** The image's manifest digest. */
  digest: Digest;
  sent: BlobInfo[];
  present: BlobInfo[];
  /** Bytes of the blobs sent. */
  bytesSent: number;
  /** The principal whose signature the host checked, when the host requires signatures. */
  signedBy?: string;
}

function sha256Hex(d: Digest, image: string): string {
  const p = parseDigest(d);
  if (p?.algorithm !== 'sha256') throw new ImageError('image-invalid', `image ${image}: blob ${d} is not a sha256 digest; hosts check sha256 only`, { image, blob: d });
  return p.hex;
}

/** The blobs an image consists of: manifest, config, layers (no duplicates). */
export function imageBlobs(image: Pick<Image, 'digest' | 'manifestBytes' | 'manifest'>): BlobInfo[] {
  const all: BlobInfo[] = [{ digest: image.digest, size: image.manifestBytes.length }, { digest: image.manifest.config.digest, size: image.manifest.config.size }, ...image.manifest.layers.map((l) => ({ digest: l.digest, size: l.size }))];
  return [...new Map(all.map((b) => [b.digest, b])).values()];
}

/** Which of `digests` the host's store lacks (creating the store when absent). */
export async function missingBlobs(c: Connection, digests: readonly Digest[], options: { dir?: string; signal?: AbortSignal; image?: string } = {}): Promise<Digest[]> {
  const dir = quotePath(options.dir ?? HOST_IMAGES_DIR);
  const hexes = digests.map((d) => sha256Hex(d, options.image ?? d));
  const script = [
    `d=${dir}`,
    'mkdir -p "$d/blobs/sha256" "$d/ingest" || exit 1',
    `[ -f "$d/oci-layout" ] || printf '%s' '{"imageLayoutVersion":"1.0.0"}' > "$d/oci-layout"`,
    `for h in ${hexes.map(shellQuote).join(' ')}; do [ -f "$d/blobs/sha256/$h" ] || echo "$h"; done`,
  ].join('\n');
  const r = await c.run(script, { hide: true, ...(options.signal ? { signal: options.signal } : {}) });
  const lacking = new Set(r.stdout.split('\n').map((l) => l.trim()).filter(Boolean));
  return digests.filter((d) => lacking.has(parseDigest(d)!.hex));
}

/** Exit status of {@link commitScript} when a blob is missing or does not match. */
export const COMMIT_REFUSED = 66;

/**
 * The sh that commits ingested blobs on the host (see {@link commitBlobs}), in a subshell (it
 * changes directory); exits {@link COMMIT_REFUSED} with `bad`/`missing` lines when it refuses.
 */
export function commitScript(digests: readonly Digest[], options: { dir?: string; image?: string; ingestSuffix?: string } = {}): string {
  const dir = quotePath(options.dir ?? HOST_IMAGES_DIR);
  const hexes = digests.map((d) => sha256Hex(d, options.image ?? 'image'));
  return [
    `( cd ${dir} || exit ${COMMIT_REFUSED}`,
    'sum() { if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d" " -f1; }',
    'bad=',
    `x=${shellQuote(options.ingestSuffix ?? '')}`,
    `for h in ${hexes.map(shellQuote).join(' ')}; do`,
    '  if [ ! -f "ingest/$h$x" ]; then echo "missing $h"; bad=1; continue; fi',
    '  s=$(sum "ingest/$h$x")',
    `  if [ "$s" = "$h" ]; then chmod 444 "ingest/$h$x" && mv -f "ingest/$h$x" "blobs/sha256/$h" || exit ${COMMIT_REFUSED}`,
    '  else rm -f "ingest/$h$x"; echo "bad $h $s"; bad=1; fi',
    'done',
    `[ -z "$bad" ] || exit ${COMMIT_REFUSED} ) || exit $?`,
  ].join('\n');
}

/**
 * On the host: checks each `ingest/<hex>` against its digest and renames it into `blobs/`;
 * one that does not match is removed and refused (`blob-digest`, naming host and blob).
 */
export async function commitBlobs(c: Connection, digests: readonly Digest[], options: { dir?: string; signal?: AbortSignal; image?: string; ingestSuffix?: string } = {}): Promise<void> {
  if (!digests.length) return;
  const r = await c.run(commitScript(digests, options), { hide: true, warn: true, ...(options.signal ? { signal: options.signal } : {}) });
  commitRefusal(c, r, options.image ?? 'image');
}

/** Throws what {@link commitScript}'s output says when it refused (or failed); nothing when it exited 0. */
export function commitRefusal(c: Connection, r: { exitCode: number | null; stdout: string; stderr: string }, image: string): void {
  if (r.exitCode === 0) return;
  const line = r.stdout.split('\n').find((l) => l.startsWith('bad ') || l.startsWith('missing '));
  if (!line) throw new ImageError('blob-missing', `image ${image}: could not store blobs on ${c.host}: ${r.stderr.trim() || `exit code ${r.exitCode}`}`, { image, host: c.host });
  const [kind, hex, got] = line.split(' ');
  const blob = `sha256:${hex}`;
  if (kind === 'missing') throw new ImageError('blob-missing', `image ${image}: blob ${blob} did not arrive on ${c.host}`, { image, blob, host: c.host });
  throw new ImageError('blob-digest', `image ${image}: blob ${blob} arrived on ${c.host} as sha256:${got ?? '?'} (corrupted in transit or on the host's disk); removed there and refused`, { image, blob, host: c.host });
}

/**
 * Sends `image` (read with `loadImage(ref, { store })`, so its blobs are in `store`) to the
 * host of `c`: only the blobs it lacks, each checked here and on arrival. The host's store
 * then holds the whole image.
 */
export async function pushImage(c: Connection, image: Image, store: FileContentStore, options: PushImageOptions = {}): Promise<PushResult> {
  const name = image.reference.text;
  const blobs = imageBlobs(image);
  const common = { image: name, ...(options.dir ? { dir: options.dir } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  const sigFile = options.signature ?? (existsSync(`${image.reference.path}.sig`) ? `${image.reference.path}.sig` : undefined);
  const check = await checkImageSignatureOnHost(c, image.digest, { ...common, ...(sigFile !== undefined ? { signature: sigFile } : {}) });
  const lacking = new Set(await missingBlobs(c, blobs.map((b) => b.digest), common));
  const { sent, present, suffix } = await sendBlobs(c, image, store, lacking, options);
  for (const b of present) options.onBlob?.(b, 'present');
  await commitBlobs(c, sent.map((b) => b.digest), { ...common, ingestSuffix: suffix });
  for (const b of sent) options.onBlob?.(b, 'sent');
  return { host: c.host, digest: image.digest, sent, present, bytesSent: sent.reduce((n, b) => n + b.size, 0), ...(check.required ? { signedBy: check.signedBy } : {}) };
}

/**
 * Uploads the image's blobs in `lacking` to the host's `ingest/` (names ending in `suffix`, one
 * per push: two pushes of one blob to one host at once must not write one file), each checked
 * here before it leaves: the store's file must hash to its digest (hashed once per process
 * for all hosts, the same hash the upload checks its bytes against). Committing them (checked
 * again on the host) is the caller's next step.
 */
export async function sendBlobs(
  c: Connection,
  image: Image,
  store: FileContentStore,
  lacking: ReadonlySet<string>,
  options: { dir?: string; signal?: AbortSignal; step?: (what: string) => void } = {},
): Promise<{ sent: BlobInfo[]; present: BlobInfo[]; suffix: string }> {
  const name = image.reference.text;
  const dir = options.dir ?? HOST_IMAGES_DIR;
  const suffix = `.${randomBytes(6).toString('hex')}`;
  const blobs = imageBlobs(image);
  const send = async (b: BlobInfo): Promise<void> => {
    const hex = sha256Hex(b.digest, name);
    const path = store.blobPath(b.digest);
    let local;
    try {
      local = await localFile(path);
      options.step?.(`local ${b.size}`);
    } catch (e) {
      throw new ImageError('blob-missing', `blob ${b.digest} of ${name} is missing (not in ${store.root})`, { image: name, blob: b.digest, cause: e });
    }
    if (local.sha256 !== hex || local.size !== b.size) {
      throw digestMismatch(b.digest, { digest: `sha256:${local.sha256}`, size: local.size }, { image: name, expectedSize: b.size, where: 'content store' });
    }
    const r = await c.put(path, `${dir}/ingest/${hex}${suffix}`, { skipIfSame: false, mode: 0o644, ...(options.signal ? { signal: options.signal } : {}) });
    options.step?.(`put ${b.size}`);
    if (r.sha256 !== hex) throw new ImageError('blob-digest', `image ${name}: blob ${b.digest} changed while it was sent to ${c.host}`, { image: name, blob: b.digest, host: c.host });
  };
  // Small blobs (manifest, config, small layers) go at once, beside the large ones, which go one
  // after another (each has ~1 MiB in flight already): an upload is a few round trips of its
  // own (open, writes, close, chmod, rename), which then overlap rather than add up.
  const sending = blobs.filter((b) => lacking.has(b.digest));
  const small = sending.filter((b) => b.size <= SMALL_BLOB_BYTES);
  const large = sending.filter((b) => b.size > SMALL_BLOB_BYTES);
  const results = await Promise.allSettled([
    ...small.map(send),
    (async () => {
      for (const b of large) await send(b);
    })(),
  ]);
  // Every upload has ended (none is left running after a failure); the first failure is the error.
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return { sent: sending, present: blobs.filter((b) => !lacking.has(b.digest)), suffix };
}

/** Blobs up to this size are uploaded at the same time as the others (see {@link sendBlobs}). */
const SMALL_BLOB_BYTES = 256 * 1024;

/** The exit status of {@link IMAGE_VERIFY_SNIPPET} when it refuses. */
export const REFUSED_EXIT = 65;

/**
 * The sh fragment a host runs: `$digest` holds the manifest digest and `$sig` the path of its
 * signature. With `~/.flotilla/allowed_signers` present it prints `signedBy <principal>` or
 * exits 65 with the reason on stderr; without it, prints `unchecked`.
 */
export const IMAGE_VERIFY_SNIPPET = `
signers="$HOME/.flotilla/allowed_signers"
if [ -f "$signers" ]; then
  if [ ! -f "$sig" ]; then echo "refused: $signers exists and image $digest has no signature" >&2; exit ${REFUSED_EXIT}; fi
  principal=$(ssh-keygen -Y find-principals -s "$sig" -f "$signers" 2>/dev/null | head -n 1)
  if [ -z "$principal" ]; then echo "refused: the signature on image $digest is not from a signer in $signers" >&2; exit ${REFUSED_EXIT}; fi
  if ! printf %s "$digest" | ssh-keygen -Y verify -f "$signers" -I "$principal" -n ${IMAGE_SIGNATURE_NAMESPACE} -s "$sig" >/dev/null 2>&1; then
    echo "refused: bad signature on image $digest (signer $principal, namespace ${IMAGE_SIGNATURE_NAMESPACE})" >&2; exit ${REFUSED_EXIT}
  fi
  echo "signedBy $principal"
else
  echo unchecked
fi
`;

/** What the host said about an image's signature. */
export type HostSignatureCheck = { required: false } | { required: true; signedBy: string };

/**
 * Uploads the image's signature (when given) to `<dir>/signatures/<hex>.sig` on the host and
 * runs {@link IMAGE_VERIFY_SNIPPET} there. Throws a `signature` DeployError naming the host and
 * the reason when the host requires signatures and this one is missing, unlisted or bad.
 */
export async function checkImageSignatureOnHost(
  c: Connection,
  digest: Digest,
  options: { signature?: string; dir?: string; image?: string; signal?: AbortSignal } = {},
): Promise<HostSignatureCheck> {
  const p = parseDigest(digest);
  if (!p) throw new TypeError(`Expected \`digest\` to be a digest, got \`${digest}\``);
  const dir = options.dir ?? HOST_IMAGES_DIR;
  const sigPath = `${dir}/signatures/${p.hex}.sig`;
  const sig = options.signal ? { signal: options.signal } : {};
  await c.run(`mkdir -p ${quotePath(`${dir}/signatures`)}`, { hide: true, ...sig });
  if (options.signature !== undefined) await c.put(options.signature, sigPath, { mode: 0o644, ...sig });
  const r = await c.run(`digest=${shellQuote(digest)}; sig=${quotePath(sigPath)}\n${IMAGE_VERIFY_SNIPPET}`, { hide: true, warn: true, ...sig });
  if (r.exitCode === REFUSED_EXIT) {
    throw new DeployError('signature', `${c.host} refused image ${options.image ?? digest}: ${r.stderr.trim().replace(/^refused: /, '')}`, { host: c.host });
  }
  if (r.exitCode !== 0) throw new DeployError('signature', `${c.host}: could not check the signature of image ${options.image ?? digest}: ${r.stderr.trim() || `exit code ${r.exitCode}`}`, { host: c.host });
  const m = /^signedBy (.+)$/m.exec(r.stdout);
  return m ? { required: true, signedBy: m[1]!.trim() } : { required: false };
}

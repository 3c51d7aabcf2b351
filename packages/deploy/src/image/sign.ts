/**
 * Image signing: an image's signature is an OpenSSH signature (`ssh-keygen -Y sign`,
 * namespace `flotilla-image`) of its manifest digest — the exact text `sha256:<hex>`, no
 * newline — kept beside the image as `<archive>.sig` (or `<layout dir>.sig`). Verifying
 * needs only OpenSSH: `printf %s "$digest" | ssh-keygen -Y verify -f allowed_signers -I
 * <principal> -n flotilla-image -s web.oci.tar.sig`.
 */
import { createReadStream } from 'node:fs';
import { open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { extract } from 'tar-stream';
import { DeployError } from '../errors.js';
import { signMessage, verifyMessage } from '../signing.js';
import type { Digest } from './digest.js';
import { loadImage, type Image } from './load.js';
import { parseImageReference, type ImageReference } from './reference.js';

/** The signature namespace of images. */
export const IMAGE_SIGNATURE_NAMESPACE = 'flotilla-image';

/** Where an image's signature lives: `<archive or layout dir>.sig`. */
export function imageSignaturePath(ref: ImageReference | string, options: { cwd?: string } = {}): string {
  const r = typeof ref === 'string' ? parseImageReference(ref, options) : ref;
  return `${r.path}.sig`;
}

/**
 * Signs an image: reads and verifies it (every blob), signs its manifest digest with `key`,
 * writes `<path>.sig` atomically. Resolves to the signature's path and the digest signed.
 */
export async function signImage(ref: string, options: { key: string; cwd?: string }): Promise<{ signature: string; digest: Digest; image: Image }> {
  const image = await loadImage(ref, options.cwd === undefined ? {} : { cwd: options.cwd });
  const armored = await signMessage(image.digest, { key: options.key, namespace: IMAGE_SIGNATURE_NAMESPACE });
  const sig = imageSignaturePath(image.reference);
  const tmp = `${sig}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, armored, { mode: 0o644 });
    await rename(tmp, sig);
  } finally {
    await rm(tmp, { force: true });
  }
  return { signature: sig, digest: image.digest, image };
}

/**
 * Checks an image digest's signature against an allowed_signers file; resolves to the
 * principal (`signedBy`). Throws a `signature` DeployError when the signature is missing,
 * not from a listed signer, or bad.
 */
export async function verifyImageSignature(digest: Digest, options: { signature: string; allowedSigners: string; image?: string }): Promise<string> {
  let armored: string;
  try {
    armored = await readFile(options.signature, 'utf8');
  } catch {
    throw new DeployError('signature', `image ${options.image ?? digest} has no signature (${options.signature} is missing)`);
  }
  return verifyMessage(digest, armored, { allowedSigners: options.allowedSigners, namespace: IMAGE_SIGNATURE_NAMESPACE, what: `image ${options.image ?? digest} (${digest})` });
}

/**
 * Whether `path` looks like an image rather than an artifact: an OCI layout directory, or an
 * uncompressed tar holding `oci-layout` or a `docker save` `manifest.json`. Reads tar headers
 * only; never decides from the file name.
 */
export async function looksLikeImage(path: string): Promise<boolean> {
  const st = await stat(path).catch(() => undefined);
  if (!st) return false;
  if (st.isDirectory()) return (await stat(join(path, 'oci-layout')).catch(() => undefined))?.isFile() ?? false;
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(263);
    const { bytesRead } = await fh.read(head, 0, 263, 0);
    if (bytesRead < 263 || head.toString('latin1', 257, 262) !== 'ustar') return false;
  } finally {
    await fh.close();
  }
  const ex = extract();
  const src = createReadStream(path);
  src.pipe(ex);
  try {
    for await (const e of ex) {
      const name = e.header.name.replace(/^\.\//, '');
      e.resume();
      if (name === 'oci-layout' || name === 'manifest.json') return true;
    }
    return false;
  } catch {
    return false;
  } finally {
    src.destroy();
    ex.destroy();
  }
}

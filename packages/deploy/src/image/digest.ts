/**
 * Content digests as the OCI image spec writes them: `algorithm:hex`. sha256 and sha512 are
 * the registered algorithms; anything else is refused rather than trusted.
 */
import { createHash, type Hash } from 'node:crypto';

/** A digest string, `sha256:<64 hex>` or `sha512:<128 hex>`. */
export type Digest = `${'sha256' | 'sha512'}:${string}`;

const HEX_LENGTH = { sha256: 64, sha512: 128 } as const;

/** The parts of a valid digest, or `undefined` when `text` is not one. */
export function parseDigest(text: string): { algorithm: 'sha256' | 'sha512'; hex: string } | undefined {
  const m = /^(sha256|sha512):([a-f0-9]+)$/.exec(text);
  if (!m) return undefined;
  const algorithm = m[1] as 'sha256' | 'sha512';
  if (m[2]!.length !== HEX_LENGTH[algorithm]) return undefined;
  return { algorithm, hex: m[2]! };
}

/** True when `text` is a valid digest. */
export function isDigest(text: unknown): text is Digest {
  return typeof text === 'string' && parseDigest(text) !== undefined;
}

/** The sha256 digest of some bytes. */
export function sha256Digest(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * How much of a blob one read takes (images are read, hashed and unpacked in these pieces): 1 MiB.
 * Node's default of 64 KiB costs 16 times the reads, stream callbacks and buffers for a layer,
 * which is most of the CPU of loading a 20 MiB image, or of unpacking a 1 MiB layer on a host.
 */
export const BLOB_CHUNK_BYTES = 1024 * 1024;

/** Hashes a stream of bytes for one algorithm and counts them. */
export class DigestCounter {
  readonly algorithm: 'sha256' | 'sha512';
  private readonly hash: Hash;
  size = 0;
  constructor(algorithm: 'sha256' | 'sha512' = 'sha256') {
    this.algorithm = algorithm;
    this.hash = createHash(algorithm);
  }
  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.size += chunk.byteLength;
  }
  /** The digest of everything seen (call once). */
  digest(): Digest {
    return `${this.algorithm}:${this.hash.digest('hex')}`;
  }
}

/** The short form people read: the first 12 hex digits. */
export function shortDigest(d: string): string {
  const p = parseDigest(d);
  return p ? p.hex.slice(0, 12) : d;
}

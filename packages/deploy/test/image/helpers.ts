import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { gzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { FileContentStore, loadImage, type Image } from '../../src/image/index.js';

export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  content?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  devmajor?: number;
  devminor?: number;
}

/** A tar made by tar-stream from entries, in order. */
export async function tarBuffer(entries: readonly TarEntry[]): Promise<Buffer> {
  const p = pack();
  const parts: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) parts.push(c as Buffer);
  })();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const content = type === 'file' ? Buffer.from(e.content ?? '') : undefined;
    await new Promise<void>((resolve, reject) => {
      const header = {
        name: e.name,
        type,
        mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        mtime: new Date(0),
        ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
        ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
      };
      if (content) p.entry(header, content, (err) => (err ? reject(err) : resolve()));
      else p.entry(header, (err) => (err ? reject(err) : resolve())).end(undefined);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(parts);
}

export function sha256(b: Buffer | string): `sha256:${string}` {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

export function chunksOf(b: Buffer, size = 777): AsyncIterable<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) parts.push(b.subarray(i, i + size));
  return Readable.from(parts);
}

/** Writes blobs into an OCI layout dir; returns their descriptors' digests. */
export function writeLayout(dir: string, index: unknown, blobs: readonly Buffer[]): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  for (const b of blobs) writeFileSync(join(dir, 'blobs', 'sha256', sha256(b).slice(7)), b);
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
}

/** A one-layer image's blobs for a platform: returns {manifest, config, layer} buffers and the manifest descriptor. */
export async function makeImage(options: { architecture?: string; os?: string; files?: TarEntry[]; env?: string[]; gzip?: boolean } = {}) {
  const tar = await tarBuffer(options.files ?? [{ name: 'hello.txt', content: 'hi\n' }]);
  const layer = options.gzip === false ? tar : gzipSync(tar);
  const config = Buffer.from(
    JSON.stringify({ architecture: options.architecture ?? hostArch(), os: options.os ?? 'linux', config: { Env: options.env ?? ['PATH=/bin'], Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [sha256(tar)] } }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: options.gzip === false ? 'application/vnd.oci.image.layer.v1.tar' : 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    }),
  );
  return { tar, layer, config, manifest, desc: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length } };
}

export function hostArch(): string {
  return ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;
}

/** Whether a program is on PATH. */
export function hasTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Tools these suites need (Debian's umoci, skopeo, busybox-static): absent on a developer's
 * machine the suites say so and skip; with CI=true they must run (.ci/run installs them).
 */
export function requireTools(names: readonly string[]): boolean {
  const missing = names.filter((n) => !hasTool(n));
  if (!missing.length) return true;
  if (process.env.CI === 'true') throw new Error(`CI=true but ${missing.join(', ')} missing: .ci/run installs them (apt-get install -y umoci skopeo busybox-static)`);
  console.warn(`SKIPPING: ${missing.join(', ')} not installed (apt-get install -y umoci skopeo busybox-static)`);
  return false;
}

/** The entry of {@link escapingImage}'s layer that points out of the rootfs. */
export const ESCAPING_ENTRY = 'etc/../../escaped';

/**
 * A one-layer image whose layer has an entry escaping its root ({@link ESCAPING_ENTRY}, beside a
 * harmless `etc/ok`), as an OCI layout under `work` (`escape-layout`), loaded into a store of its
 * own (`store-escape`). `refusal(host)`: what a run of it on `host` must be refused with —
 * layer-unsafe naming the entry, the layer and the host.
 */
export async function escapingImage(work: string): Promise<{ image: Image; store: FileContentStore; refusal: (host: string) => Record<string, unknown> }> {
  const img = await makeImage({ files: [{ name: 'etc/ok', content: 'ok' }, { name: ESCAPING_ENTRY, content: 'gotcha' }] });
  const dir = join(work, 'escape-layout');
  writeLayout(dir, { schemaVersion: 2, manifests: [img.desc] }, [img.manifest, img.config, img.layer]);
  const store = new FileContentStore(join(work, 'store-escape'));
  const image = await loadImage(`oci:${dir}`, { store });
  const refusal = (host: string): Record<string, unknown> => ({
    code: 'layer-unsafe',
    host,
    entry: ESCAPING_ENTRY,
    blob: image.layers[0]!.digest,
    message: expect.stringMatching(new RegExp(`"etc/\\.\\./\\.\\./escaped" refused.*on ${host}`)) as unknown,
  });
  return { image, store, refusal };
}

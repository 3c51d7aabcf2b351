import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Connection } from '../../src/index.js';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { FileContentStore, buildImage, commitBlobs, loadImage, missingBlobs, pushImage, signImage } from '../../src/image/index.js';
import { hasTool, sha256 } from './helpers.js';

let dir: string;
let host: string;
let c: Connection;
let store: FileContentStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flo-push-'));
  host = join(dir, 'host');
  mkdirSync(host);
  c = Connection.localDir(host, { name: 'h1' });
  store = new FileContentStore(join(dir, 'store'));
});
afterEach(async () => {
  await c.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Two versions of an app on one base: they share the base layer. */
async function versions() {
  mkdirSync(join(dir, 'base/bin'), { recursive: true });
  writeFileSync(join(dir, 'base/bin/tool'), 'x'.repeat(50_000));
  await buildImage({ dir: join(dir, 'base'), out: join(dir, 'base.oci.tar') });
  const out = [];
  for (const v of ['1', '2']) {
    mkdirSync(join(dir, `app${v}`), { recursive: true });
    writeFileSync(join(dir, `app${v}/version`), v);
    await buildImage({ dir: join(dir, `app${v}`), out: join(dir, `app${v}.oci.tar`), base: join(dir, 'base.oci.tar') });
    out.push(await loadImage(join(dir, `app${v}.oci.tar`), { store }));
  }
  return out as [Awaited<ReturnType<typeof loadImage>>, Awaited<ReturnType<typeof loadImage>>];
}

const hostBlobs = () => readdirSync(join(host, '.flotilla/images/blobs/sha256')).sort();

describe('pushImage (local transport)', () => {
  it('sends only the blobs the host lacks; a new version moves only its changed layer', async () => {
    const [v1, v2] = await versions();
    const first = await pushImage(c, v1, store);
    expect(first.host).toBe('h1');
    expect(first.sent.map((b) => b.digest).sort()).toEqual([v1.digest, v1.manifest.config.digest, ...v1.layers.map((l) => l.digest)].sort());
    expect(first.present).toEqual([]);
    expect(hostBlobs()).toEqual(first.sent.map((b) => b.digest.slice(7)).sort());
    expect(existsSync(join(host, '.flotilla/images/oci-layout'))).toBe(true);
    // Blobs on the host are the content-store layout Flotilla reads (and read-only).
    const hostStore = new FileContentStore(join(host, '.flotilla/images'));
    expect((await hostStore.read(v1.digest)).equals(v1.manifestBytes)).toBe(true);
    expect(statSync(hostStore.blobPath(v1.layers[1]!.digest)).mode & 0o777).toBe(0o444);

    const again = await pushImage(c, v1, store);
    expect(again.sent).toEqual([]);
    expect(again.bytesSent).toBe(0);

    const second = await pushImage(c, v2, store);
    expect(second.present.map((b) => b.digest)).toEqual([v2.layers[0]!.digest]);
    expect(second.sent.map((b) => b.digest).sort()).toEqual([v2.digest, v2.manifest.config.digest, v2.layers[1]!.digest].sort());
    expect(second.bytesSent).toBeLessThan(first.bytesSent);
  });

  it('asks which blobs are missing', async () => {
    const [v1] = await versions();
    expect(await missingBlobs(c, [v1.digest, v1.layers[0]!.digest])).toEqual([v1.digest, v1.layers[0]!.digest]);
    await pushImage(c, v1, store);
    expect(await missingBlobs(c, [v1.digest, sha256('other')])).toEqual([sha256('other')]);
  });

  it('refuses a blob that arrives different, naming host and blob, and removes it there', async () => {
    await missingBlobs(c, []);
    const good = Buffer.from('the real content');
    const d = sha256(good);
    writeFileSync(join(host, '.flotilla/images/ingest', d.slice(7)), 'tampered in transit');
    await expect(commitBlobs(c, [d], { image: 'web.oci.tar' })).rejects.toMatchObject({
      code: 'blob-digest',
      host: 'h1',
      blob: d,
      message: expect.stringMatching(/web.oci.tar: blob sha256:[a-f0-9]{64} arrived on h1 as sha256:[a-f0-9]{64}/) as unknown,
    });
    expect(readdirSync(join(host, '.flotilla/images/ingest'))).toEqual([]);
    expect(readdirSync(join(host, '.flotilla/images/blobs/sha256'))).toEqual([]);
    await expect(commitBlobs(c, [d])).rejects.toMatchObject({ code: 'blob-missing', host: 'h1' });
  });

  it('refuses to send a blob altered in the local store', async () => {
    const [v1] = await versions();
    const p = store.blobPath(v1.layers[1]!.digest);
    rmSync(p);
    writeFileSync(p, 'altered');
    await expect(pushImage(c, v1, store)).rejects.toMatchObject({ code: 'blob-digest', blob: v1.layers[1]!.digest });
    expect(existsSync(join(host, '.flotilla/images/blobs/sha256', v1.layers[1]!.digest.slice(7)))).toBe(false);
  });
});

describe.runIf(hasTool('ssh-keygen') || process.env.CI === 'true')('pushImage to a host with ~/.flotilla/allowed_signers', () => {
  function trust() {
    for (const who of ['alice', 'mallory']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', who, '-f', join(dir, who)]);
    const pub = readFileSync(join(dir, 'alice.pub'), 'utf8').split(' ');
    mkdirSync(join(host, '.flotilla'), { recursive: true });
    writeFileSync(join(host, '.flotilla/allowed_signers'), `alice@example.com ${pub[0]} ${pub[1]}\n`);
  }
  const noBlobs = () => !existsSync(join(host, '.flotilla/images/blobs/sha256')) || readdirSync(join(host, '.flotilla/images/blobs/sha256')).length === 0;

  it('refuses an unsigned image before sending any blob, naming the host and the reason', async () => {
    trust();
    const [v1] = await versions();
    await expect(pushImage(c, v1, store)).rejects.toMatchObject({ code: 'signature', host: 'h1', message: expect.stringMatching(/^h1 refused image .*app1.oci.tar: .*allowed_signers exists and image sha256:[a-f0-9]{64} has no signature$/) as unknown });
    expect(noBlobs()).toBe(true);
  });

  it('accepts an image signed by a listed principal (<archive>.sig found beside it) and says who signed', async () => {
    trust();
    const [v1] = await versions();
    await signImage(v1.reference.path, { key: join(dir, 'alice') });
    const r = await pushImage(c, v1, store);
    expect(r.signedBy).toBe('alice@example.com');
    expect(r.sent.length).toBe(4);
  });

  it('refuses a signature by an unlisted key, or one for another image', async () => {
    trust();
    const [v1, v2] = await versions();
    await signImage(v1.reference.path, { key: join(dir, 'mallory') });
    await expect(pushImage(c, v1, store)).rejects.toThrow(/not from a signer in/);
    await signImage(v1.reference.path, { key: join(dir, 'alice') });
    await expect(pushImage(c, v2, store, { signature: `${v1.reference.path}.sig` })).rejects.toThrow(/bad signature on image sha256:[a-f0-9]{64} \(signer alice@example.com, namespace flotilla-image\)/);
    expect(noBlobs()).toBe(true);
  });

  it('a host without allowed_signers takes unsigned images (signedBy absent)', async () => {
    const [v1] = await versions();
    expect((await pushImage(c, v1, store)).signedBy).toBeUndefined();
  });
});


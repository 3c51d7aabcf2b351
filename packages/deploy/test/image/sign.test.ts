import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, looksLikeImage, signImage, verifyImageSignature, type Digest } from '../../src/image/index.js';
import { signMessage } from '../../src/index.js';
import { hasTool } from './helpers.js';

let dir: string;
let archive: string;
let digest: Digest;
const keygen = hasTool('ssh-keygen');
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flo-sign-'));
  mkdirSync(join(dir, 'ctx'));
  writeFileSync(join(dir, 'ctx/app'), 'app');
  archive = join(dir, 'web.oci.tar');
  digest = (await buildImage({ dir: join(dir, 'ctx'), out: archive, cmd: ['/app'] })).digest;
  if (!keygen) return;
  for (const who of ['alice', 'mallory']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', who, '-f', join(dir, who)]);
  const pub = readFileSync(join(dir, 'alice.pub'), 'utf8').trim().split(' ');
  writeFileSync(join(dir, 'allowed_signers'), `alice@example.com namespaces="flotilla-image" ${pub[0]} ${pub[1]}\n`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.runIf(keygen || process.env.CI === 'true')('image signatures (ssh-keygen -Y, namespace flotilla-image)', () => {
  it('signs the manifest digest into <archive>.sig; verification returns the principal', async () => {
    const r = await signImage(archive, { key: join(dir, 'alice') });
    expect(r.signature).toBe(`${archive}.sig`);
    expect(r.digest).toBe(digest);
    expect(await verifyImageSignature(digest, { signature: r.signature, allowedSigners: join(dir, 'allowed_signers') })).toBe('alice@example.com');
    // Hosts need only OpenSSH: the signed message is the digest text, no newline.
    execFileSync('sh', ['-c', `printf %s "${digest}" | ssh-keygen -Y verify -f "${join(dir, 'allowed_signers')}" -I alice@example.com -n flotilla-image -s "${r.signature}"`], { stdio: 'pipe' });
  });

  it('refuses a signature for another digest, by an unlisted key, in another namespace, or none', async () => {
    const signers = join(dir, 'allowed_signers');
    await signImage(archive, { key: join(dir, 'alice') });
    const other = `sha256:${'0'.repeat(64)}` as const;
    await expect(verifyImageSignature(other, { signature: `${archive}.sig`, allowedSigners: signers })).rejects.toMatchObject({ code: 'signature', message: expect.stringMatching(/bad signature .*alice@example.com/) as unknown });
    await signImage(archive, { key: join(dir, 'mallory') });
    await expect(verifyImageSignature(digest, { signature: `${archive}.sig`, allowedSigners: signers })).rejects.toThrow(/not from a signer in/);
    // An artifact signature (namespace flotilla-artifact) does not pass as an image signature.
    const art = execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-f', join(dir, 'alice'), '-n', 'flotilla-artifact'], { input: digest });
    writeFileSync(`${archive}.sig`, art);
    await expect(verifyImageSignature(digest, { signature: `${archive}.sig`, allowedSigners: signers })).rejects.toThrow(/bad signature/);
    await expect(verifyImageSignature(digest, { signature: join(dir, 'none.sig'), allowedSigners: signers })).rejects.toThrow(/has no signature/);
  });

  it('refuses to sign a tampered image', async () => {
    const bad = join(dir, 'bad.oci.tar');
    const bytes = readFileSync(archive);
    const i = bytes.indexOf(Buffer.from('"/app"'));
    bytes.write('"/bpp"', i);
    writeFileSync(bad, bytes);
    await expect(signImage(bad, { key: join(dir, 'alice') })).rejects.toMatchObject({ code: 'blob-digest' });
  });
});

describe('signMessage', () => {
  it('a signer that exits without reading its input is an error, not an EPIPE crash', async () => {
    await expect(signMessage('x'.repeat(4 << 20), { key: join(dir, 'no-such-key'), namespace: 'flotilla-image' })).rejects.toMatchObject({ code: 'signature' });
  });
});

describe('looksLikeImage', () => {
  it('tells an image archive or layout from an artifact', async () => {
    expect(await looksLikeImage(archive)).toBe(true);
    const art = join(dir, 'app.tar.gz');
    execFileSync('tar', ['-czf', art, '-C', join(dir, 'ctx'), '.']);
    expect(await looksLikeImage(art)).toBe(false);
    const plain = join(dir, 'app.tar');
    execFileSync('tar', ['-cf', plain, '-C', join(dir, 'ctx'), '.']);
    expect(await looksLikeImage(plain)).toBe(false);
    mkdirSync(join(dir, 'layout'));
    writeFileSync(join(dir, 'layout/oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    expect(await looksLikeImage(join(dir, 'layout'))).toBe(true);
    expect(await looksLikeImage(join(dir, 'ctx'))).toBe(false);
  });
});

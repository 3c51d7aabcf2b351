import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileContentStore, isImageError, type Digest } from '../../src/image/index.js';
import { chunksOf, sha256 } from './helpers.js';

let dir: string;
let store: FileContentStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flo-cs-'));
  store = new FileContentStore(dir);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const blob = Buffer.from('hello blob '.repeat(1000));
const d = sha256(blob);

async function err(p: Promise<unknown>) {
  try {
    await p;
  } catch (e) {
    return e as { code: string; blob?: string; message: string };
  }
  throw new Error('expected a failure');
}

describe('FileContentStore', () => {
  it('ingests a stream verified, as an OCI layout, and reads it back', async () => {
    expect(await store.has(d)).toBe(false);
    expect(await store.put(chunksOf(blob), d, { size: blob.length })).toEqual({ digest: d, size: blob.length, stored: true });
    expect(await store.has(d)).toBe(true);
    expect(existsSync(join(dir, 'oci-layout'))).toBe(true);
    expect(existsSync(join(dir, 'blobs', 'sha256', d.slice(7)))).toBe(true);
    expect((await store.read(d)).equals(blob)).toBe(true);
    expect(readdirSync(join(dir, 'ingest'))).toEqual([]);
  });

  it('refuses bytes that do not hash to the expected digest, and commits nothing', async () => {
    const tampered = Buffer.from(blob);
    tampered[5] = tampered[5]! ^ 1;
    const e = await err(store.put(chunksOf(tampered), d, { image: 'web.oci.tar' }));
    expect(e.code).toBe('blob-digest');
    expect(e.blob).toBe(d);
    expect(e.message).toContain('web.oci.tar');
    expect(e.message).toContain(sha256(tampered));
    expect(await store.has(d)).toBe(false);
    expect(readdirSync(join(dir, 'ingest'))).toEqual([]);
  });

  it('refuses a truncated blob by its size', async () => {
    const e = await err(store.put(blob.subarray(0, 100), d, { size: blob.length }));
    expect(e.code).toBe('blob-digest');
    expect(e.message).toMatch(/100 bytes, expected 11000/);
  });

  it('hashes incoming bytes even when it already holds the digest', async () => {
    await store.put(blob, d);
    const tampered = Buffer.from(blob);
    tampered[0] = tampered[0]! ^ 1;
    expect((await err(store.put(tampered, d))).code).toBe('blob-digest');
    expect(await store.put(blob, d)).toMatchObject({ stored: false });
  });

  it('commits a file uploaded into its tree only when it hashes to its digest (and size), without copying it', async () => {
    const up = join(dir, 'upload-ok');
    writeFileSync(up, blob);
    expect(await store.commitFile(up, d, { size: blob.length })).toEqual({ digest: d, size: blob.length });
    expect(existsSync(up)).toBe(false);
    expect((statSync(join(dir, 'blobs', 'sha256', d.slice(7))).mode & 0o777).toString(8)).toBe('444');
    expect((await store.read(d)).equals(blob)).toBe(true);

    const tampered = Buffer.from(blob);
    tampered[10] = tampered[10]! ^ 1;
    const other = sha256(Buffer.from('another blob'));
    writeFileSync(join(dir, 'upload-bad'), tampered);
    const e = await err(store.commitFile(join(dir, 'upload-bad'), other, { image: 'web.oci.tar', where: 'as it arrived' }));
    expect(e).toMatchObject({ code: 'blob-digest', blob: other, message: expect.stringMatching(/as it arrived.*web\.oci\.tar.*hashes to sha256:/) as unknown });
    expect(existsSync(join(dir, 'upload-bad'))).toBe(false);
    expect(await store.has(other)).toBe(false);

    writeFileSync(join(dir, 'upload-short'), blob.subarray(0, 100));
    expect((await err(store.commitFile(join(dir, 'upload-short'), d, { size: blob.length }))).message).toMatch(/is 100 bytes, expected/);
    expect((await err(store.commitFile(join(dir, 'never-uploaded'), other))).code).toBe('blob-missing');
  });

  it('detects a blob altered on disk when it is read', async () => {
    await store.put(blob, d);
    const p = store.blobPath(d);
    chmodSync(p, 0o644);
    writeFileSync(p, Buffer.concat([blob.subarray(0, 10), Buffer.from('X'), blob.subarray(11)]));
    const e = await err(store.read(d, { image: 'img' }));
    expect(e.code).toBe('blob-digest');
    expect(e.blob).toBe(d);
  });

  it('says blob-missing for an absent blob and refuses a non-digest', async () => {
    expect((await err(store.open(sha256('nope')))).code).toBe('blob-missing');
    expect(() => store.blobPath('sha256:xyz')).toThrow(/not a digest/);
    expect(isImageError(await err(store.put(blob, 'md5:abc' as Digest)))).toBe(true);
  });

  it('lists, deletes and garbage-collects all but the kept blobs (and stale ingests)', async () => {
    const others = ['a', 'b', 'c'].map((s) => Buffer.from(s));
    for (const o of others) await store.put(o, sha256(o));
    const listed: string[] = [];
    for await (const b of store.list()) listed.push(b.digest);
    expect(listed.sort()).toEqual(others.map((o) => sha256(o)).sort());
    writeFileSync(join(dir, 'ingest', 'stale'), 'x');
    utimesSync(join(dir, 'ingest', 'stale'), new Date(0), new Date(0));
    writeFileSync(join(dir, 'ingest', 'fresh'), 'x');
    const removed: string[] = [];
    const r = await store.gc([sha256('a')], { onRemove: (b) => removed.push(b.digest) });
    expect(r.removed.map((b) => b.digest).sort()).toEqual([sha256('b'), sha256('c')].sort());
    expect(removed.length).toBe(2);
    expect(r.bytes).toBe(2);
    expect(readdirSync(join(dir, 'ingest'))).toEqual(['fresh']);
    expect(await store.delete(sha256('a'))).toBe(true);
    expect(await store.delete(sha256('a'))).toBe(false);
  });
});

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, isImageError, loadImage } from '../../src/image/index.js';

let dir: string;
let archive: Buffer;
let digest: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flo-tamper-'));
  mkdirSync(join(dir, 'ctx/etc'), { recursive: true });
  writeFileSync(join(dir, 'ctx/etc/motd'), 'hello '.repeat(200));
  digest = (await buildImage({ dir: join(dir, 'ctx'), out: join(dir, 'img.oci.tar'), cmd: ['/bin/sh'], tags: ['v1'] })).digest;
  archive = readFileSync(join(dir, 'img.oci.tar'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('reading a damaged archive (property)', () => {
  it('any flipped bytes or truncation: the same image, or an ImageError — never another image, never a crash', async () => {
    let n = 0;
    const codes = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat({ max: archive.length - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.option(fc.nat({ max: archive.length }), { nil: undefined }),
        async (flips, cut) => {
          const bad = Buffer.from(archive);
          for (const [at, x] of flips) bad[at] = bad[at]! ^ x;
          const file = join(dir, `bad-${n++}.tar`);
          writeFileSync(file, cut === undefined ? bad : bad.subarray(0, cut));
          try {
            const img = await loadImage(`oci-archive:${file}`);
            // Only bytes nothing depends on changed (tar padding, an index annotation…).
            expect(img.digest).toBe(digest);
          } catch (e) {
            if (!isImageError(e)) throw e;
            codes.add(e.code);
          } finally {
            rmSync(file, { force: true });
          }
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 150) },
    );
    // Damage was seen and named (digest mismatches at least; truncation and bad tars too).
    expect(codes.has('blob-digest')).toBe(true);
  }, 600_000);
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../src/index.js';

// Bit-at-a-time reference (RFC 3720 polynomial, reflected).
function reference(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  it.each([
    ['', 0x00000000],
    ['a', 0xc1d04330],
    ['123456789', 0xe3069283],
    ['The quick brown fox jumps over the lazy dog', 0x22620404],
  ])('CRC-32C(%j) = %i (published check values)', (text, want) => {
    expect(crc32c(new TextEncoder().encode(text))).toBe(want);
  });

  it('32 zero bytes and 32 0xff bytes (RFC 3720 B.4)', () => {
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
  });

  it('agrees with a bit-at-a-time reference on any bytes and sub-range', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
        const end = start + (bytes.length === 0 ? 0 : b % (bytes.length - start + 1));
        expect(crc32c(bytes, start, end)).toBe(reference(bytes.subarray(start, end)));
      }),
      { numRuns: 500, seed: 32 },
    );
  });

  it('continues a checksum piece by piece: any split gives the whole range\'s CRC', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 5 }), (bytes, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y);
        let sum = 0;
        let from = 0;
        for (const p of [...points, bytes.length]) {
          sum = crc32c(bytes, from, p, sum);
          from = p;
        }
        expect(sum).toBe(reference(bytes));
      }),
      { numRuns: 300, seed: 33 },
    );
  });
});

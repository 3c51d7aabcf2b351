import { describe, expect, it } from 'vitest';
import { mulberry32, sfc32 } from '../src/index.js';

// The sequences are frozen: tests and benchmarks across the repository record seeds whose
// meaning depends on them (the scheduler's bench workloads, Raft simulation seeds).
describe('seeded generators', () => {
  it('mulberry32: the same seed gives the same floats in [0, 1), the recorded ones', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const first = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(first);
    expect(first.map((x) => Math.floor(x * 2 ** 32))).toEqual([2581720956, 1925393290, 3661312704]);
    for (let i = 0; i < 1000; i++) {
      const x = a();
      expect(x >= 0 && x < 1).toBe(true);
    }
  });

  it('sfc32: the same seed gives the same integers, the recorded ones', () => {
    const a = sfc32(7);
    const b = sfc32(7);
    const first = [a.int(1000), a.int(1000), a.int(1000), Math.floor(a.float() * 1000)];
    expect([b.int(1000), b.int(1000), b.int(1000), Math.floor(b.float() * 1000)]).toEqual(first);
    expect(first).toEqual(RECORDED_SFC32);
  });
});

const RECORDED_SFC32 = [195, 361, 840, 843];

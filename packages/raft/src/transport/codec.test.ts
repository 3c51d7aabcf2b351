import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FrameReader, decodeMessage, encodeMessage, frame, FrameDecodeError } from './codec.js';
import { MESSAGE_TYPES } from '../core/types.js';
import type { Message } from '../core/types.js';

const nat = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const bytes = fc.uint8Array({ maxLength: 40 });
const messageArb: fc.Arbitrary<Message> = fc
  .record({
    type: fc.constantFrom(...MESSAGE_TYPES),
    from: fc.integer({ min: 0, max: 1000 }),
    to: fc.integer({ min: 0, max: 1000 }),
    term: nat,
    logTerm: nat,
    index: nat,
    commit: nat,
    reject: fc.boolean(),
    rejectHint: nat,
    entries: fc.array(fc.record({ term: nat, index: nat, type: fc.constantFrom('normal' as const, 'conf-change' as const), data: bytes }), { maxLength: 4 }),
    snapshot: fc.option(
      fc.record({
        index: nat,
        term: nat,
        confState: fc.record({ voters: fc.array(fc.integer({ min: 1, max: 9 }), { maxLength: 3 }), learners: fc.array(fc.integer({ min: 1, max: 9 }), { maxLength: 2 }) }),
        data: bytes,
      }),
      { nil: undefined },
    ),
    context: fc.option(bytes, { nil: undefined }),
  })
  .map((m) => {
    const { snapshot, context, ...rest } = m;
    const out: Message = { ...rest, ...(snapshot ? { snapshot } : {}), ...(context ? { context } : {}) };
    return out;
  });

function normalize(m: Message): unknown {
  const walk = (v: unknown): unknown => {
    if (v instanceof Uint8Array) return [...v];
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(m);
}

describe('message codec', () => {
  it('decode(encode(m)) equals m (property)', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        expect(normalize(decodeMessage(encodeMessage(m)))).toEqual(normalize(m));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses truncated and trailing bytes', () => {
    const m: Message = { type: 'append', from: 1, to: 2, term: 3, logTerm: 2, index: 5, commit: 4, reject: false, rejectHint: 0, entries: [{ term: 3, index: 6, type: 'normal', data: new Uint8Array([1, 2, 3]) }] };
    const b = encodeMessage(m);
    expect(() => decodeMessage(b.subarray(0, b.length - 1))).toThrow(FrameDecodeError);
    expect(() => decodeMessage(Buffer.concat([b, Buffer.from([0])]))).toThrow(/trailing/);
    const bad = Buffer.from(b);
    bad[0] = 200;
    expect(() => decodeMessage(bad)).toThrow(/unknown message type/);
  });
});

describe('FrameReader', () => {
  it('reassembles frames from any chunking (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 30 }), { maxLength: 10 }), fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 10 }), (payloads, cuts) => {
        const stream = Buffer.concat(payloads.flatMap((p) => frame(p)));
        const reader = new FrameReader();
        const out: number[][] = [];
        let pos = 0;
        let i = 0;
        while (pos < stream.length) {
          const n = cuts[i++ % cuts.length]!;
          for (const f of reader.push(stream.subarray(pos, pos + n))) out.push([...f]);
          pos += n;
        }
        expect(out).toEqual(payloads.map((p) => [...p]));
      }),
    );
  });

  it('refuses a frame above the limit', () => {
    const reader = new FrameReader(10);
    expect(() => reader.push(Buffer.concat(frame(new Uint8Array(11))))).toThrow(/exceeds/);
  });
});

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FrameReader, checkPeerMessage, decodeMessage, encodeMessage, frame, FrameDecodeError } from '../src/transport/codec.js';
import { PeerFrameError, decodeControlFrame, decodeEnvelope, encodeControlFrame, encodeEnvelope, encodeConfChangeContext } from '../src/node/frames.js';
import { isKvResultShape } from '../src/server/server-state.js';
import { MESSAGE_TYPES } from '../src/core/types.js';
import type { Message } from '../src/core/types.js';

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

/** Decoding is total: any bytes give a message or a FrameDecodeError, never another error. */
function decodeOrRefuse(b: Uint8Array): Message | undefined {
  try {
    return decodeMessage(b);
  } catch (err) {
    expect(err).toBeInstanceOf(FrameDecodeError);
    return undefined;
  }
}

describe('peer frame decoding (fuzz)', () => {
  it('random bytes decode to a well-formed message or are refused with FrameDecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        const m = decodeOrRefuse(b);
        if (!m) return;
        for (const v of [m.from, m.to, m.term, m.logTerm, m.index, m.commit, m.rejectHint]) expect(Number.isSafeInteger(v) && v >= 0).toBe(true);
        // What decodes re-encodes to the same bytes: nothing was guessed or dropped.
        expect(Buffer.from(encodeMessage(m)).equals(Buffer.from(b))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('valid messages with bytes flipped, cut or appended never decode into out-of-range fields', () => {
    fc.assert(
      fc.property(messageArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.integer({ min: -8, max: 8 }), (m, flips, cut) => {
        const b = Buffer.from(encodeMessage(m));
        for (const [at, v] of flips) b[at % b.length] = v;
        const bytes = cut < 0 ? b.subarray(0, Math.max(0, b.length + cut)) : Buffer.concat([b, Buffer.alloc(cut)]);
        const d = decodeOrRefuse(bytes);
        if (!d) return;
        for (const e of d.entries) expect(Number.isSafeInteger(e.term) && Number.isSafeInteger(e.index)).toBe(true);
        try {
          checkPeerMessage(d);
        } catch (err) {
          expect(err).toBeInstanceOf(FrameDecodeError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('checkPeerMessage accepts what members send and refuses entries, snapshots and contexts out of place', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const legal =
          m.from > 0 && m.to > 0 && (m.entries.length === 0 || m.type === 'append') && (m.snapshot !== undefined) === (m.type === 'snapshot') && (m.context?.length ?? 0) <= 1024;
        let ok = true;
        try {
          checkPeerMessage(decodeMessage(encodeMessage(m)));
        } catch (err) {
          expect(err).toBeInstanceOf(FrameDecodeError);
          ok = false;
        }
        expect(ok).toBe(legal);
      }),
      { numRuns: 2000 },
    );
  });

  it('a FrameReader never holds more than one frame (at the limit) plus one chunk, whatever it is fed', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { maxLength: 40 }), (chunks) => {
        const limit = 48;
        const reader = new FrameReader(limit);
        for (const c of chunks) {
          try {
            for (const f of reader.push(Buffer.from(c))) expect(f.length).toBeLessThanOrEqual(limit);
          } catch (err) {
            expect(err).toBeInstanceOf(FrameDecodeError);
            return;
          }
          expect(reader.bufferedBytes).toBeLessThanOrEqual(4 + limit + 64);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('control frames: any bytes decode to a well-formed frame or are refused with PeerFrameError', () => {
    const controlLike = fc.oneof(
      fc.jsonValue(),
      fc.record({ t: fc.constantFrom('prop', 'nack', 'rej', 'res', 'removed', 'x'), r: fc.oneof(fc.string(), fc.jsonValue()), c: fc.jsonValue(), e: fc.jsonValue(), v: fc.jsonValue() }, { requiredKeys: ['t'] }),
    );
    fc.assert(
      fc.property(fc.oneof(controlLike.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')), fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b))), (payload) => {
        try {
          const f = decodeControlFrame(payload, isKvResultShape);
          expect(['propose', 'retry', 'refuse', 'result', 'removed']).toContain(f.kind);
          if (f.kind !== 'removed') expect(typeof f.requestId).toBe('string');
        } catch (err) {
          expect(err).toBeInstanceOf(PeerFrameError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('control frames and entry envelopes keep the version-1 encoding', () => {
  // Named fields in code, one-letter keys on the wire and in the WAL: members of the previous
  // version and existing data directories read exactly these bytes (peer protocol FLO2).
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  it('encodes each frame kind as before the fields were named', () => {
    expect(text(encodeControlFrame({ kind: 'propose', requestId: 'n.1', command: { op: 'put', key: 'k', value: 'v' } }))).toBe('{"t":"prop","r":"n.1","c":{"op":"put","key":"k","value":"v"}}');
    expect(text(encodeControlFrame({ kind: 'retry', requestId: 'n.2' }))).toBe('{"t":"nack","r":"n.2"}');
    expect(text(encodeControlFrame({ kind: 'refuse', requestId: 'n.3', reason: 'no' }))).toBe('{"t":"rej","r":"n.3","e":"no"}');
    expect(text(encodeControlFrame({ kind: 'result', requestId: 'n.4', result: { type: 'put', revision: 7 } }))).toBe('{"t":"res","r":"n.4","v":{"type":"put","revision":7}}');
    expect(text(encodeControlFrame({ kind: 'removed' }))).toBe('{"t":"removed","r":""}');
    expect(text(encodeEnvelope('n.5', { op: 'delete', key: 'k' }))).toBe('{"r":"n.5","c":{"op":"delete","key":"k"}}');
    expect(text(encodeConfChangeContext('n.6', '127.0.0.1:7'))).toBe('{"r":"n.6","peerUrl":"127.0.0.1:7"}');
    expect(text(encodeConfChangeContext('n.7', undefined))).toBe('{"r":"n.7"}');
  });
  it('decodes what it encodes, and an unreadable envelope as no request and no command', () => {
    const f = decodeControlFrame(encodeControlFrame({ kind: 'result', requestId: 'x', result: { type: 'delete', revision: 3 } }), isKvResultShape);
    expect(f).toEqual({ kind: 'result', requestId: 'x', result: { type: 'delete', revision: 3 } });
    expect(decodeEnvelope(encodeEnvelope('y', { op: 'compact', revision: 1 }))).toEqual({ requestId: 'y', command: { op: 'compact', revision: 1 } });
    expect(decodeEnvelope(new TextEncoder().encode('not json'))).toEqual({ requestId: '', command: undefined });
  });
});

/**
 * The peer wire format: length-prefixed frames, the binary encoding of Raft messages, and the
 * checks every decoded message passes.
 */
import { MESSAGE_TYPES } from '../core/types.js';
import type { ConfState, Entry, EntryType, Message, MessageType, Snapshot } from '../core/types.js';

/**
 * Binary encoding of Raft messages. Layout (little endian):
 * `u8 type, u8 flags(reject|snapshot|context), f64 from,to,term,logTerm,index,commit,rejectHint,
 *  u32 n, n × (f64 term, f64 index, u8 entryType, u32 len, bytes),
 *  [u32 len, context], [f64 index, f64 term, u32 nv, nv × f64, u32 nl, nl × f64, u32 len, data]`.
 * Numbers are float64 so any safe integer survives.
 */
const TYPE_CODE = new Map<MessageType, number>(MESSAGE_TYPES.map((t, i) => [t, i]));
const ENTRY_TYPES: readonly EntryType[] = ['normal', 'conf-change'];

const HEADER_FIELDS = ['from', 'to', 'term', 'logTerm', 'index', 'commit', 'rejectHint'] as const;

const F_REJECT = 1;
const F_SNAPSHOT = 2;
const F_CONTEXT = 4;

/** The error thrown for a frame that does not decode. */
export class FrameDecodeError extends Error {
  override readonly name = 'FrameDecodeError';
}

function messageSize(m: Message): number {
  let n = 2 + 7 * 8 + 4;
  for (const e of m.entries) n += 8 + 8 + 1 + 4 + e.data.length;
  if (m.context !== undefined) n += 4 + m.context.length;
  if (m.snapshot !== undefined) {
    const s = m.snapshot;
    n += 8 + 8 + 4 + s.confState.voters.length * 8 + 4 + s.confState.learners.length * 8 + 4 + s.data.length;
  }
  return n;
}

/** Encodes one message (without the frame length prefix). */
export function encodeMessage(m: Message): Buffer {
  const buf = Buffer.allocUnsafe(messageSize(m));
  let o = 0;
  const code = TYPE_CODE.get(m.type);
  if (code === undefined) throw new TypeError(`unknown message type ${String(m.type)}`);
  buf[o++] = code;
  buf[o++] = (m.reject ? F_REJECT : 0) | (m.snapshot !== undefined ? F_SNAPSHOT : 0) | (m.context !== undefined ? F_CONTEXT : 0);
  for (const v of [m.from, m.to, m.term, m.logTerm, m.index, m.commit, m.rejectHint]) {
    buf.writeDoubleLE(v, o);
    o += 8;
  }
  buf.writeUInt32LE(m.entries.length, o);
  o += 4;
  for (const e of m.entries) {
    buf.writeDoubleLE(e.term, o);
    buf.writeDoubleLE(e.index, o + 8);
    buf[o + 16] = e.type === 'normal' ? 0 : 1;
    buf.writeUInt32LE(e.data.length, o + 17);
    o += 21;
    buf.set(e.data, o);
    o += e.data.length;
  }
  if (m.context !== undefined) {
    buf.writeUInt32LE(m.context.length, o);
    o += 4;
    buf.set(m.context, o);
    o += m.context.length;
  }
  if (m.snapshot !== undefined) {
    const s = m.snapshot;
    buf.writeDoubleLE(s.index, o);
    buf.writeDoubleLE(s.term, o + 8);
    o += 16;
    for (const ids of [s.confState.voters, s.confState.learners]) {
      buf.writeUInt32LE(ids.length, o);
      o += 4;
      for (const id of ids) {
        buf.writeDoubleLE(id, o);
        o += 8;
      }
    }
    buf.writeUInt32LE(s.data.length, o);
    o += 4;
    buf.set(s.data, o);
    o += s.data.length;
  }
  return buf;
}

/** Decodes one message; throws {@link FrameDecodeError} when the bytes are not a message. */
export function decodeMessage(buf: Uint8Array): Message {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let o = 0;
  const need = (n: number) => {
    if (o + n > b.length) throw new FrameDecodeError(`truncated message: need ${n} bytes at ${o}, have ${b.length - o}`);
  };
  /** Reads a float64 that must hold a non-negative safe integer (ids, terms, indices). */
  const num = (what: string): number => {
    const v = b.readDoubleLE(o);
    o += 8;
    if (!Number.isSafeInteger(v) || v < 0) throw new FrameDecodeError(`${what} is ${v}, not a non-negative integer`);
    return v;
  };
  need(2 + 56 + 4);
  const type = MESSAGE_TYPES[b[o++]!];
  if (type === undefined) throw new FrameDecodeError(`unknown message type code ${b[0]}`);
  const flags = b[o++]!;
  if (flags & ~(F_REJECT | F_SNAPSHOT | F_CONTEXT)) throw new FrameDecodeError(`unknown flags ${flags}`);
  const nums: number[] = [];
  for (const what of HEADER_FIELDS) nums.push(num(what));
  const count = b.readUInt32LE(o);
  o += 4;
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    need(21);
    const term = num('entry term');
    const index = num('entry index');
    const et = ENTRY_TYPES[b[o]!];
    if (et === undefined) throw new FrameDecodeError(`unknown entry type code ${b[o]}`);
    const len = b.readUInt32LE(o + 1);
    o += 5;
    need(len);
    entries.push({ term, index, type: et, data: b.subarray(o, o + len) });
    o += len;
  }
  let context: Uint8Array | undefined;
  if (flags & F_CONTEXT) {
    need(4);
    const len = b.readUInt32LE(o);
    o += 4;
    need(len);
    context = b.subarray(o, o + len);
    o += len;
  }
  let snapshot: Snapshot | undefined;
  if (flags & F_SNAPSHOT) {
    need(20);
    const index = num('snapshot index');
    const term = num('snapshot term');
    const lists: number[][] = [];
    for (let k = 0; k < 2; k++) {
      need(4);
      const n = b.readUInt32LE(o);
      o += 4;
      need(n * 8);
      const ids: number[] = [];
      for (let i = 0; i < n; i++) ids.push(num('member id'));
      lists.push(ids);
    }
    need(4);
    const len = b.readUInt32LE(o);
    o += 4;
    need(len);
    const confState: ConfState = { voters: lists[0]!, learners: lists[1]! };
    snapshot = { index, term, confState, data: b.subarray(o, o + len) };
    o += len;
  }
  if (o !== b.length) throw new FrameDecodeError(`${b.length - o} trailing bytes after a message`);
  return {
    type,
    from: nums[0]!,
    to: nums[1]!,
    term: nums[2]!,
    logTerm: nums[3]!,
    index: nums[4]!,
    commit: nums[5]!,
    reject: (flags & F_REJECT) !== 0,
    rejectHint: nums[6]!,
    entries,
    ...(snapshot !== undefined ? { snapshot } : {}),
    ...(context !== undefined ? { context } : {}),
  };
}

/**
 * Checks what a member may send another, beyond the encoding: positive sender and recipient
 * ids, entries only in `append`, a snapshot exactly in `snapshot`, a short read context.
 * Throws {@link FrameDecodeError} naming the problem.
 */
export function checkPeerMessage(m: Message): void {
  if (m.from <= 0 || m.to <= 0) throw new FrameDecodeError(`${m.type} message from ${m.from} to ${m.to}: member ids are positive`);
  if (m.entries.length > 0 && m.type !== 'append') throw new FrameDecodeError(`${m.type} message carries entries`);
  if ((m.snapshot !== undefined) !== (m.type === 'snapshot')) throw new FrameDecodeError(m.type === 'snapshot' ? 'snapshot message without a snapshot' : `${m.type} message carries a snapshot`);
  if (m.context !== undefined && m.context.length > MAX_CONTEXT_BYTES) throw new FrameDecodeError(`read context of ${m.context.length} bytes (at most ${MAX_CONTEXT_BYTES})`);
  if (m.snapshot && m.snapshot.confState.voters.length + m.snapshot.confState.learners.length > 10_000) throw new FrameDecodeError('snapshot membership is implausibly large');
}

/** Longest read-index context a peer may send (members use a few dozen bytes). */
export const MAX_CONTEXT_BYTES = 1024;

/**
 * Largest frame read from a peer connection: 16 MiB, above the largest legal message (an
 * append of one 12 MiB entry, or of entries up to the 1 MiB message size). A longer message
 * (only a snapshot may be) travels as chunk frames, reassembled under their own bound.
 */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/**
 * Splits a byte stream into length-prefixed frames (`u32 LE length`, then the payload).
 * Feed chunks with {@link push} (or {@link append} and {@link next}); complete frames come
 * out in order. A frame header above `maxFrameBytes` throws {@link FrameDecodeError} before
 * any of it is buffered, so a reader holds at most one frame plus one chunk.
 */
export class FrameReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** The largest frame accepted from now on (a connection raises it once authenticated). */
  maxFrameBytes: number;

  constructor(maxFrameBytes = MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes held, waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Adds bytes and returns every frame they complete. */
  push(chunk: Buffer): Buffer[] {
    this.append(chunk);
    const frames: Buffer[] = [];
    for (let f = this.next(); f !== undefined; f = this.next()) frames.push(f);
    return frames;
  }

  /** Adds bytes without reading frames. */
  append(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  /** The next complete frame, or undefined until more bytes arrive. */
  next(): Buffer | undefined {
    if (this.#buffered < 4) return undefined;
    const len = this.#peek(4).readUInt32LE(0);
    if (len > this.maxFrameBytes) throw new FrameDecodeError(`frame of ${len} bytes exceeds the ${this.maxFrameBytes}-byte limit`);
    if (this.#buffered < 4 + len) return undefined;
    return this.#take(4 + len).subarray(4);
  }

  #peek(n: number): Buffer {
    if (this.#chunks[0]!.length >= n) return this.#chunks[0]!;
    const joined = Buffer.concat(this.#chunks);
    this.#chunks = [joined];
    return joined;
  }

  #take(n: number): Buffer {
    const joined = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    const out = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#buffered = rest.length;
    return out;
  }
}

/** Prefixes a payload with its u32 LE length. */
export function frame(payload: Uint8Array): Buffer[] {
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32LE(payload.length, 0);
  return [head, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)];
}

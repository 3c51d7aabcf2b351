/**
 * What a RaftNode writes into log entries (the envelope) and into control frames between
 * members (forwarded proposals and their answers), with the checks applied to what it reads.
 *
 * Wire and disk compatibility: in code every field has a name (`requestId`, `command`,
 * `reason`, `result`); on the wire and in the write-ahead log they keep the one-letter JSON
 * keys of the first version (`{"r","c"}` in entries; `{"t","r","c","e","v"}` in frames). An
 * entry is read back from the log after any upgrade, and members of two versions talk during a
 * rolling upgrade, so the encoding did not change and the peer protocol version (the hello's
 * "FLO2") stays.
 */
import type { NodeId } from '../core/types.js';

/** Largest Raft entry (one command with its envelope) a member proposes: 12 MiB. Larger commands are refused with `too-large`. */
export const MAX_ENTRY_BYTES = 12 * 1024 * 1024;
/** Largest control frame (a forwarded command, a result) sent to a peer; a larger result is not sent (the proposer applies it itself). */
export const MAX_CONTROL_BYTES = 14 * 1024 * 1024;
/** Longest request id accepted from a peer or from the log. */
const MAX_REQUEST_ID = 128;

/**
 * A control frame between members, on the peer connection:
 * - `propose`: a follower forwards a client's `command` to the leader;
 * - `retry` (wire `nack`): the leader could not take it (not leading, or it was lost): retry;
 * - `refuse` (wire `rej`): the leader refused it as invalid (`reason`) — a definite failure;
 * - `result` (wire `res`): the leader applied it; `result` is the outcome;
 * - `removed`: the receiver was removed from the cluster.
 */
export type ControlFrame<R = unknown> =
  | { readonly kind: 'propose'; readonly requestId: string; readonly command: unknown }
  | { readonly kind: 'retry'; readonly requestId: string }
  | { readonly kind: 'refuse'; readonly requestId: string; readonly reason: string }
  | { readonly kind: 'result'; readonly requestId: string; readonly result: R }
  | { readonly kind: 'removed' };

/** Thrown for a peer frame that is not well-formed: the transport closes that connection and logs the reason. */
export class PeerFrameError extends Error {
  override readonly name = 'PeerFrameError';
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isRequestId(v: unknown): v is string {
  return typeof v === 'string' && v.length <= MAX_REQUEST_ID;
}

/** The wire form of each kind (the one-letter keys of version 1). */
const WIRE_KIND = { propose: 'prop', retry: 'nack', refuse: 'rej', result: 'res', removed: 'removed' } as const;

/** Encodes a control frame for {@link TcpTransport.sendControl}. */
export function encodeControlFrame(f: ControlFrame): Uint8Array {
  switch (f.kind) {
    case 'propose':
      return enc.encode(JSON.stringify({ t: WIRE_KIND.propose, r: f.requestId, c: f.command }));
    case 'retry':
      return enc.encode(JSON.stringify({ t: WIRE_KIND.retry, r: f.requestId }));
    case 'refuse':
      return enc.encode(JSON.stringify({ t: WIRE_KIND.refuse, r: f.requestId, e: f.reason }));
    case 'result':
      return enc.encode(JSON.stringify({ t: WIRE_KIND.result, r: f.requestId, v: f.result }));
    case 'removed':
      return enc.encode(JSON.stringify({ t: WIRE_KIND.removed, r: '' }));
  }
}

/**
 * Parses and checks a control frame (kind, request id, field types; `isResult` checks a
 * `result` frame's outcome); throws {@link PeerFrameError} naming what is wrong. The command
 * inside `propose` is checked later, by the leader, with the state machine's validator.
 */
export function decodeControlFrame<R>(payload: Uint8Array, isResult: (v: unknown) => v is R): ControlFrame<R> {
  if (payload.length > MAX_CONTROL_BYTES) throw new PeerFrameError(`control frame of ${payload.length} bytes exceeds ${MAX_CONTROL_BYTES}`);
  let f: unknown;
  try {
    f = JSON.parse(dec.decode(payload));
  } catch {
    throw new PeerFrameError('control frame is not JSON');
  }
  if (!isObject(f)) throw new PeerFrameError('control frame is not a JSON object');
  if (!isRequestId(f.r)) throw new PeerFrameError(`control frame has no valid request id (r)`);
  switch (f.t) {
    case 'prop':
      if (!isObject(f.c)) throw new PeerFrameError('prop frame without a command object (c)');
      return { kind: 'propose', requestId: f.r, command: f.c };
    case 'nack':
      return { kind: 'retry', requestId: f.r };
    case 'rej':
      if (typeof f.e !== 'string') throw new PeerFrameError('rej frame without a reason (e)');
      return { kind: 'refuse', requestId: f.r, reason: f.e.slice(0, 1000) };
    case 'res':
      if (!isResult(f.v)) throw new PeerFrameError('res frame without a well-formed result (v)');
      return { kind: 'result', requestId: f.r, result: f.v };
    case 'removed':
      return { kind: 'removed' };
    default:
      throw new PeerFrameError(`unknown control frame type ${JSON.stringify(String(f.t)).slice(0, 40)}`);
  }
}

/** A log entry's payload: the proposing member's request id and the command. */
export interface Envelope<C = unknown> {
  /** Request id, so the proposing member can match the applied entry ('' for none). */
  readonly requestId: string;
  readonly command: C;
}

/** Encodes an entry's payload (`{"r","c"}`: see the file header). */
export function encodeEnvelope(requestId: string, command: unknown): Uint8Array {
  return enc.encode(JSON.stringify({ r: requestId, c: command }));
}

/**
 * Reads an entry's payload without trusting it: an unreadable one gives request id '' and
 * command `undefined` (the state machine's check then refuses it).
 */
export function decodeEnvelope(data: Uint8Array): Envelope {
  let raw: unknown;
  try {
    raw = JSON.parse(dec.decode(data));
  } catch {
    raw = undefined;
  }
  if (!isObject(raw)) return { requestId: '', command: undefined };
  return { requestId: isRequestId(raw.r) ? raw.r : '', command: raw.c };
}

/** A conf change's context: the proposer's request id and the new member's peer address. */
export interface ConfChangeContext {
  readonly requestId?: string;
  readonly peerUrl?: string;
}

/** Encodes a conf change's context (`{"r","peerUrl"}`). */
export function encodeConfChangeContext(requestId: string, peerUrl: string | undefined): Uint8Array {
  return enc.encode(JSON.stringify(peerUrl === undefined ? { r: requestId } : { r: requestId, peerUrl }));
}

/** Reads a conf change's context; anything unreadable is an empty context. */
export function decodeConfChangeContext(context: Uint8Array | undefined): ConfChangeContext {
  if (!context || context.length === 0) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(dec.decode(context));
  } catch {
    return {};
  }
  if (!isObject(raw)) return {};
  const out: { requestId?: string; peerUrl?: string } = {};
  if (typeof raw.r === 'string') out.requestId = raw.r;
  if (typeof raw.peerUrl === 'string') out.peerUrl = raw.peerUrl;
  return out;
}

/** The peer a proposal came from: this member, or a follower that forwarded it. */
export type ProposalOrigin = { readonly requestId: string; readonly from: NodeId };

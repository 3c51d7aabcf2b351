/** Membership changes: their entry encoding and how a committed one changes the ConfState. */
import { RaftError } from '../errors.js';
import type { ConfChange, ConfState } from './types.js';

const TYPES: readonly ConfChange['type'][] = ['add-voter', 'add-learner', 'remove-node'];

/** Encodes a {@link ConfChange} as entry data: type byte, node id (float64 LE), context bytes. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  const ctx = cc.context ?? new Uint8Array(0);
  const out = new Uint8Array(9 + ctx.length);
  out[0] = TYPES.indexOf(cc.type);
  new DataView(out.buffer).setFloat64(1, cc.nodeId, true);
  out.set(ctx, 9);
  return out;
}

/** Decodes entry data written by {@link encodeConfChange}. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  const type = TYPES[data[0] ?? 255];
  if (data.length < 9 || type === undefined) {
    throw new RaftError('api-misuse', `not a conf change entry (${data.length} bytes)`);
  }
  const nodeId = new DataView(data.buffer, data.byteOffset, data.byteLength).getFloat64(1, true);
  return { type, nodeId, context: data.slice(9) };
}

/** Applies a single-server change to a membership, returning the new one (pure). */
export function applyConfChangeToState(cs: ConfState, cc: ConfChange): ConfState {
  const voters = cs.voters.filter((id) => id !== cc.nodeId);
  const learners = cs.learners.filter((id) => id !== cc.nodeId);
  switch (cc.type) {
    case 'add-voter':
      voters.push(cc.nodeId);
      break;
    case 'add-learner':
      learners.push(cc.nodeId);
      break;
    case 'remove-node':
      break;
  }
  return { voters: voters.sort((a, b) => a - b), learners: learners.sort((a, b) => a - b) };
}

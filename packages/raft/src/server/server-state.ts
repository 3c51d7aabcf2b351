/**
 * What a KV member replicates: the KV store plus the member registry — the RaftNode state
 * machine of `flo server`, its commands' checks, and its snapshot (and backup) format.
 */
import { KvStateMachine } from '../kv/state-machine.js';
import { KvError } from '../kv/errors.js';
import { checkCommand } from '../kv/validate.js';
import type { KvCommand, KvResult } from '../kv/types.js';
import type { ConfChange, NodeId } from '../core/types.js';
import type { ProposerRole, StateMachine } from '../node/state-machine.js';
import { isObject } from '../node/frames.js';

/** A member's addresses as recorded in the replicated state. */
export interface MemberRecord {
  readonly peerUrl: string;
  readonly clientUrl: string;
}

interface StateHeader {
  readonly v: 1;
  readonly members: readonly (MemberRecord & { id: number })[];
}

const MAGIC = 'FLOKV1\n';

/** A command of the KV member: a {@link KvCommand}, or a member publishing its client URL. */
export type NodeCommand = KvCommand | { readonly op: 'member-attrs'; readonly id: NodeId; readonly clientUrl: string };

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Checks that a value is a {@link KvResult} in shape (the leader's answer to a forwarded proposal). */
export function isKvResultShape(v: unknown): v is KvResult {
  if (!isObject(v)) return false;
  switch (v.type) {
    case 'put':
    case 'delete':
    case 'compact':
      return isCount(v.revision);
    case 'txn':
      return typeof v.succeeded === 'boolean' && isCount(v.revision) && Array.isArray(v.results) && v.results.every(isObject);
    case 'lease':
      return typeof v.id === 'string' && isCount(v.ttlSeconds) && isCount(v.revision);
    case 'leases':
      return Array.isArray(v.leases) && v.leases.every((l) => isObject(l) && typeof l.id === 'string' && isCount(l.ttlSeconds)) && isCount(v.revision);
    case 'error':
      return typeof v.code === 'string' && typeof v.message === 'string';
    default:
      return false;
  }
}

/**
 * Checks a command proposed on this member or forwarded by a peer, and read back from the
 * log: a {@link KvCommand} (the HTTP API's validator, {@link checkCommand}) or a member's
 * address update. Returns a normalized copy; throws KvError `bad-request`/`too-large`.
 */
export function checkNodeCommand(value: unknown): NodeCommand {
  if (isObject(value) && value.op === 'member-attrs') {
    const { id, clientUrl } = value;
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) throw new KvError('bad-request', 'member-attrs.id must be a positive integer');
    if (typeof clientUrl !== 'string' || clientUrl.length > 2048 || !/^https?:\/\/[^\s]+$/.test(clientUrl)) {
      throw new KvError('bad-request', 'member-attrs.clientUrl must be an http(s) URL');
    }
    return { op: 'member-attrs', id, clientUrl };
  }
  return checkCommand(value);
}

/**
 * Everything a member's state machine holds: the KV store plus the member registry
 * (addresses by id). Its snapshot is the Raft snapshot payload and the backup file format:
 * `FLOKV1\n`, u32 header length, header JSON, KV snapshot bytes.
 *
 * As a {@link StateMachine}: commands are {@link NodeCommand}s; a voter may propose any of
 * them except another member's address, a learner only its own address.
 */
export class ServerState implements StateMachine<NodeCommand, KvResult> {
  kv = new KvStateMachine();
  readonly members = new Map<number, MemberRecord>();
  /** Called after each applied KV command with its result (the member's lessor and compactor watch it). */
  onApplied: ((command: KvCommand, result: KvResult) => void) | undefined;

  check(value: unknown): NodeCommand {
    return checkNodeCommand(value);
  }

  apply(command: NodeCommand): KvResult | undefined {
    if (command.op === 'member-attrs') {
      const prev = this.members.get(command.id);
      if (prev) this.members.set(command.id, { peerUrl: prev.peerUrl, clientUrl: command.clientUrl });
      return undefined;
    }
    const result = this.kv.apply(command);
    this.onApplied?.(command, result);
    return result;
  }

  invalidEntry(reason: string): KvResult {
    return { type: 'error', code: 'invalid', message: reason };
  }

  isResult(value: unknown): value is KvResult {
    return isKvResultShape(value);
  }

  applyConfChange(change: ConfChange, peerUrl: string | undefined): void {
    if (change.type === 'remove-node') {
      this.members.delete(change.nodeId);
    } else if (peerUrl) {
      const prev = this.members.get(change.nodeId);
      this.members.set(change.nodeId, { peerUrl, clientUrl: prev?.clientUrl ?? '' });
    }
  }

  mayPropose(command: NodeCommand, from: NodeId, role: ProposerRole): string | undefined {
    const ownAddress = command.op === 'member-attrs' && command.id === from;
    switch (role) {
      case 'voter':
        return command.op === 'member-attrs' && !ownAddress ? "another member's address" : undefined;
      case 'learner':
        return ownAddress ? undefined : 'a proposal from a learner';
      case 'none':
        return 'a proposal from a non-member';
    }
  }

  snapshot(): Uint8Array {
    return Buffer.concat([...this.captureSnapshot()]);
  }

  /**
   * The snapshot of the state as it is now, as byte chunks that may be consumed later (the
   * capture is cheap; the serialization happens chunk by chunk as they are read, see
   * KvStateMachine.captureSnapshot). Concatenated, they equal {@link snapshot}'s bytes.
   */
  captureSnapshot(): Iterable<Uint8Array> {
    // Everything is captured now (a generator's body would run only when first read).
    const header: StateHeader = { v: 1, members: [...this.members].sort((a, b) => a[0] - b[0]).map(([id, m]) => ({ id, ...m })) };
    const kv = this.kv.captureSnapshot();
    const h = Buffer.from(JSON.stringify(header));
    const prefix = Buffer.allocUnsafe(MAGIC.length + 4);
    prefix.write(MAGIC, 0, 'latin1');
    prefix.writeUInt32LE(h.length, MAGIC.length);
    return chain([prefix, h], kv);
  }

  /** Replaces the state with a snapshot's; an empty payload means "empty store, no members". */
  restore(data: Uint8Array): void {
    if (data.length === 0) {
      this.members.clear();
      this.kv.restore(new KvStateMachine().snapshot());
      return;
    }
    const { members, kv } = ServerState.decode(data);
    this.members.clear();
    for (const m of members) this.members.set(m.id, { peerUrl: m.peerUrl, clientUrl: m.clientUrl });
    this.kv.restore(kv);
  }

  /** Splits a snapshot or backup file into its parts; throws KvError `invalid` when it is not one. */
  static decode(data: Uint8Array): { members: readonly (MemberRecord & { id: number })[]; kv: Uint8Array } {
    const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (b.length < MAGIC.length + 4 || b.toString('latin1', 0, MAGIC.length) !== MAGIC) {
      throw new KvError('invalid', 'not a Flotilla KV snapshot (bad magic)');
    }
    const len = b.readUInt32LE(MAGIC.length);
    const start = MAGIC.length + 4;
    if (start + len > b.length) throw new KvError('invalid', 'truncated Flotilla KV snapshot');
    let header: StateHeader;
    try {
      header = JSON.parse(b.toString('utf8', start, start + len)) as StateHeader;
    } catch (cause) {
      throw new KvError('invalid', 'corrupt Flotilla KV snapshot header', { cause });
    }
    return { members: header.members, kv: b.subarray(start + len) };
  }

  /** The initial state of a new cluster: the given members and `kv` (a backup's KV part) or an empty store. */
  static initial(members: ReadonlyMap<number, MemberRecord>, kv?: Uint8Array): Uint8Array {
    const s = new ServerState();
    for (const [id, m] of members) s.members.set(id, m);
    if (kv) s.kv.restore(kv);
    return s.snapshot();
  }
}

function* chain(first: readonly Uint8Array[], rest: Iterable<Uint8Array>): Generator<Uint8Array> {
  yield* first;
  yield* rest;
}

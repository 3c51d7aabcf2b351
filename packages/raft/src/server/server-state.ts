import { KvStateMachine } from '../kv/state-machine.js';
import { KvError } from '../kv/errors.js';

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

/**
 * Everything a member's state machine holds: the KV store plus the member registry
 * (addresses by id). Its snapshot is the Raft snapshot payload and the backup file format:
 * `FLOKV1\n`, u32 header length, header JSON, KV snapshot bytes.
 */
export class ServerState {
  kv = new KvStateMachine();
  readonly members = new Map<number, MemberRecord>();

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

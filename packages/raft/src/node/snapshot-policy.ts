/**
 * When a RaftNode snapshots its state machine and compacts the log, and how it does so without
 * stalling its event loop.
 */
import { isRaftError } from '../errors.js';
import type { NodeStorage } from '../core/storage.js';
import type { ConfState } from '../core/types.js';

/** Snapshots up to this size are taken on the entry count alone. @default 64 MiB */
export const DEFAULT_AMORTIZE_ABOVE_BYTES = 64 * 1024 * 1024;

/** Options of {@link SnapshotPolicy}. */
export interface SnapshotPolicyOptions {
  /** Take a snapshot after this many applied entries (at least; see {@link SnapshotPolicy}). */
  readonly snapshotEntries: number;
  /** Entries kept behind a snapshot for slow followers. */
  readonly catchUpEntries: number;
  /**
   * Once the last snapshot is larger than this, the next one also waits until the entries
   * applied since it add up to its size (or 10 × `snapshotEntries` entries). @default {@link DEFAULT_AMORTIZE_ABOVE_BYTES}
   */
  readonly amortizeAboveBytes?: number | undefined;
  readonly log?: ((line: string) => void) | undefined;
  /** The clock of the cost line logged per snapshot. @default performance.now */
  readonly now?: (() => number) | undefined;
}

/** What the last snapshot cost (also logged, one line per snapshot). */
export interface SnapshotCost {
  readonly index: number;
  readonly bytes: number;
  /** The synchronous capture (pointer copies), on the ready loop. */
  readonly captureMs: number;
  /** Serialization, chunk by chunk with the event loop free between chunks. */
  readonly serializeMs: number;
  /** The snapshot file written, checksummed and fsynced, and the log compacted. */
  readonly writeMs: number;
}

/**
 * Every `snapshotEntries` applied entries: capture the state synchronously (the state
 * machine's `captureSnapshot`, pointer copies, so it is exactly the state at `applied`), then
 * serialize it chunk by chunk, write it and compact the log in the background, yielding to the
 * event loop between chunks: the ready loop, heartbeats and clients are served meanwhile (an
 * O(state) serialization in one step stalled every member at the same index). One at a time.
 *
 * A snapshot costs O(state), a log entry O(its size). With a large state (above
 * `amortizeAboveBytes`, 64 MiB by default) a threshold on the entry count alone would pay
 * that O(state) every `snapshotEntries` entries however small they are — at 150,000 instances
 * hundreds of megabytes of serialization, checksum and fsync on every member, every few
 * seconds of writes. So a large snapshot is also due only once the entries applied since the
 * last one add up to its size: each byte written pays for at most one byte of snapshot (the
 * log replayed after a restart is then at most about the snapshot's size, and so is the log
 * held in memory). 10 × `snapshotEntries` entries force one anyway (a log of many tiny
 * entries is bounded too). Small states keep the plain entry count.
 */
export class SnapshotPolicy {
  readonly #storage: NodeStorage;
  readonly #o: SnapshotPolicyOptions;
  readonly #amortizeAbove: number;
  readonly #now: () => number;
  #snapshotIndex: number;
  /** Size of the last snapshot taken or installed. */
  #lastBytes: number;
  /** Bytes of the entries applied since the last snapshot. */
  #bytesSince = 0;
  #running: Promise<void> | undefined;
  #lastCost: SnapshotCost | undefined;

  constructor(storage: NodeStorage, snapshotIndex: number, options: SnapshotPolicyOptions) {
    if (!Number.isSafeInteger(options.snapshotEntries) || options.snapshotEntries < 1) throw new TypeError(`snapshotEntries: expected a positive integer, received ${String(options.snapshotEntries)}`);
    this.#storage = storage;
    this.#snapshotIndex = snapshotIndex;
    this.#o = options;
    this.#amortizeAbove = options.amortizeAboveBytes ?? DEFAULT_AMORTIZE_ABOVE_BYTES;
    if (!(this.#amortizeAbove >= 0)) throw new TypeError(`amortizeAboveBytes: expected a number ≥ 0, received ${String(options.amortizeAboveBytes)}`);
    this.#now = options.now ?? (() => performance.now());
    this.#lastBytes = storage.snapshot().data.length;
  }

  /** A snapshot was installed from the leader at `index` (`bytes`: its size). */
  installed(index: number, bytes?: number): void {
    this.#snapshotIndex = index;
    this.#bytesSince = 0;
    if (bytes !== undefined) this.#lastBytes = bytes;
  }

  /** An entry of `bytes` was applied (counted towards the next large snapshot). */
  noteApplied(bytes: number): void {
    this.#bytesSince += bytes;
  }

  /** What the last snapshot taken by this member cost. */
  get lastCost(): SnapshotCost | undefined {
    return this.#lastCost;
  }

  /** Whether a snapshot at `applied` is due now (none is being written). */
  due(applied: number): boolean {
if (this.#running) return false;
    const entries = applied - this.#snapshotIndex;
    if (entries < this.#o.snapshotEntries) return false;
    if (this.#lastBytes <= this.#amortizeAbove) return true;
    return this.#bytesSince >= this.#lastBytes || entries >= 10 * this.#o.snapshotEntries;
  }

  /** Starts a snapshot at `applied` when it is due (`capture` is called at once). */
  maybeSnapshot(applied: number, conf: ConfState, capture: () => Iterable<Uint8Array>): void {
    if (!this.due(applied)) return;
    const index = applied;
    const t0 = this.#now();
    const chunks = capture();
    const t1 = this.#now();
    const bytesSinceAtStart = this.#bytesSince;
    this.#running = (async () => {
      try {
        const data = await serializeYielding(chunks);
        const t2 = this.#now();
        await this.#storage.createSnapshot(index, conf, data);
        this.#snapshotIndex = Math.max(this.#snapshotIndex, index);
        this.#lastBytes = data.length;
        this.#bytesSince = Math.max(0, this.#bytesSince - bytesSinceAtStart);
        const compactTo = index - this.#o.catchUpEntries;
        if (compactTo > this.#storage.firstIndex()) await this.#storage.compact(compactTo);
        const cost: SnapshotCost = { index, bytes: data.length, captureMs: t1 - t0, serializeMs: t2 - t1, writeMs: this.#now() - t2 };
        this.#lastCost = cost;
        this.#o.log?.(
          `snapshot at ${index}: ${(cost.bytes / 1e6).toFixed(1)} MB, captured in ${cost.captureMs.toFixed(0)} ms, serialized in ${cost.serializeMs.toFixed(0)} ms, written in ${cost.writeMs.toFixed(0)} ms`,
        );
      } catch (err) {
        // A leader's snapshot installed meanwhile supersedes this one; anything else is logged.
        if (!isRaftError(err, 'snapshot-out-of-date') && !isRaftError(err, 'compacted')) {
          this.#o.log?.(`snapshot at ${index} failed: ${err instanceof Error ? err.message : String(err)}`);
        }
        this.#snapshotIndex = Math.max(this.#snapshotIndex, index);
      } finally {
        this.#running = undefined;
      }
    })();
  }

  /** Resolves once no snapshot is being written. */
  async settled(): Promise<void> {
    await this.#running;
  }
}

/** Concatenates a snapshot's chunks, letting pending I/O and timers run between chunks. */
export async function serializeYielding(chunks: Iterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for (const c of chunks) {
    parts.push(c);
    n += c.length;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return Buffer.concat(parts, n);
}

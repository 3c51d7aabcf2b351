/**
 * When a RaftNode snapshots its state machine and compacts the log, and how it does so without
 * stalling its event loop.
 */
import { isRaftError } from '../errors.js';
import type { NodeStorage } from '../core/storage.js';
import type { ConfState } from '../core/types.js';

/** Options of {@link SnapshotPolicy}. */
export interface SnapshotPolicyOptions {
  /** Take a snapshot after this many applied entries. */
  readonly snapshotEntries: number;
  /** Entries kept behind a snapshot for slow followers. */
  readonly catchUpEntries: number;
  readonly log?: ((line: string) => void) | undefined;
}

/**
 * Every `snapshotEntries` applied entries: capture the state synchronously (the state
 * machine's `captureSnapshot`, pointer copies, so it is exactly the state at `applied`), then
 * serialize it chunk by chunk, write it and compact the log in the background, yielding to the
 * event loop between chunks: the ready loop, heartbeats and clients are served meanwhile (an
 * O(state) serialization in one step stalled every member at the same index). One at a time.
 */
export class SnapshotPolicy {
  readonly #storage: NodeStorage;
  readonly #o: SnapshotPolicyOptions;
  #snapshotIndex: number;
  #running: Promise<void> | undefined;

  constructor(storage: NodeStorage, snapshotIndex: number, options: SnapshotPolicyOptions) {
    this.#storage = storage;
    this.#snapshotIndex = snapshotIndex;
    this.#o = options;
  }

  /** A snapshot was installed from the leader at `index`. */
  installed(index: number): void {
    this.#snapshotIndex = index;
  }

  /** Starts a snapshot at `applied` when it is due (`capture` is called at once). */
  maybeSnapshot(applied: number, conf: ConfState, capture: () => Iterable<Uint8Array>): void {
    if (this.#running || applied - this.#snapshotIndex < this.#o.snapshotEntries) return;
    const index = applied;
    const chunks = capture();
    this.#running = (async () => {
      try {
        const data = await serializeYielding(chunks);
        await this.#storage.createSnapshot(index, conf, data);
        this.#snapshotIndex = Math.max(this.#snapshotIndex, index);
        const compactTo = index - this.#o.catchUpEntries;
        if (compactTo > this.#storage.firstIndex()) await this.#storage.compact(compactTo);
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

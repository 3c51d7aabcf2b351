import type { ConfState, Entry, HardState, Snapshot } from './types.js';

/**
 * What the core reads from durable storage. Reads are synchronous: implementations keep the
 * log in memory (as etcd's MemoryStorage does beside its WAL) and persist on the side.
 *
 * Errors: `entries`/`term` throw a RaftError with code `compacted` below {@link firstIndex}
 * (except `term(firstIndex - 1)`, the snapshot's term) and `unavailable` past {@link lastIndex};
 * `snapshot` may throw `snapshot-temporarily-unavailable`.
 */
export interface Storage {
  /** The persisted hard state and the membership of the latest snapshot. */
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in `[lo, hi)`, at least one if any, cut so their total size stays within `maxBytes`. */
  entries(lo: number, hi: number, maxBytes?: number): Entry[];
  /** The term of the entry at `index` (the snapshot's term at `firstIndex() - 1`). */
  term(index: number): number;
  /** The index of the first entry that is available (snapshot index + 1). */
  firstIndex(): number;
  /** The index of the last entry. */
  lastIndex(): number;
  /** The most recent snapshot. */
  snapshot(): Snapshot;
}

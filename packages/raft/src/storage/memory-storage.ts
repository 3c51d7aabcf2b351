/** The in-memory Raft storage: the log, hard state and snapshot of one member, nothing on disk. */
import { errCompacted, errSnapOutOfDate, errUnavailable, RaftError } from '../errors.js';
import type { NodeStorage, ReadyToSave } from '../core/storage.js';
import {
  EMPTY_BYTES,
  EMPTY_CONF_STATE,
  EMPTY_HARD_STATE,
  entrySize,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
} from '../core/types.js';

/**
 * An in-memory {@link NodeStorage}: the core's reads, {@link save} for a RaftNode's ready
 * loop, and the finer write methods a host driving a RawNode itself uses ({@link append},
 * {@link setHardState}, {@link applySnapshot}, {@link createSnapshot}, {@link compact}).
 * Nothing survives the process; the simulator treats it as the "disk".
 */
export class MemoryStorage implements NodeStorage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot = { index: 0, term: 0, confState: EMPTY_CONF_STATE, data: EMPTY_BYTES };
  /** ents[i] has index snap.index + i; ents[0] is a dummy carrying the snapshot's index and term. */
  private ents: Entry[] = [{ index: 0, term: 0, type: 'normal', data: EMPTY_BYTES }];

  /**
   * A storage for a founding member of a new cluster: the initial membership lives in a
   * snapshot at index 1, term 1 (so members added later catch up through a snapshot that
   * carries the whole membership), with the state machine's initial state `data`. Members
   * that join later start from `new MemoryStorage()`.
   */
  static bootstrap(confState: ConfState, data: Uint8Array = EMPTY_BYTES): MemoryStorage {
    const s = new MemoryStorage();
    s.applySnapshot({ index: 1, term: 1, confState, data });
    s.hardState = { term: 1, vote: 0, commit: 1 };
    return s;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.confState };
  }

  entries(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw errCompacted();
    if (hi > this.lastIndex() + 1) throw errUnavailable();
    if (lo >= hi) return [];
    const out: Entry[] = [];
    let size = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - offset]!;
      size += entrySize(e);
      if (out.length > 0 && size > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  term(index: number): number {
    const offset = this.ents[0]!.index;
    if (index < offset) throw errCompacted();
    if (index - offset >= this.ents.length) throw errUnavailable();
    return this.ents[index - offset]!.term;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** The persisted hard state (for tests and hosts). */
  getHardState(): HardState {
    return this.hardState;
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  /** Replaces everything with the snapshot (a follower installing a leader's snapshot). */
  applySnapshot(snap: Snapshot): void {
    if (snap.index < this.snap.index) throw errSnapOutOfDate();
    this.snap = snap;
    this.ents = [{ index: snap.index, term: snap.term, type: 'normal', data: EMPTY_BYTES }];
  }

  /** Records a snapshot of the state machine at `index` (≤ last applied); compaction is separate. */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.index) throw errSnapOutOfDate();
    if (index > this.lastIndex()) {
      throw new RaftError('storage-misuse', `snapshot index ${index} is beyond the last index ${this.lastIndex()}`);
    }
    this.snap = { index, term: this.term(index), confState, data };
    return this.snap;
  }

  /** Discards entries up to and including `index` (which must be ≤ the last index). */
  compact(index: number): void {
    const offset = this.ents[0]!.index;
    if (index <= offset) throw errCompacted();
    if (index > this.snap.index) {
      throw new RaftError('storage-misuse', `compact ${index} is beyond the snapshot index ${this.snap.index}; create a snapshot first`);
    }
    if (index > this.lastIndex()) {
      throw new RaftError('storage-misuse', `compact ${index} is beyond the last index ${this.lastIndex()}`);
    }
    const i = index - offset;
    const head = this.ents[i]!;
    const rest = this.ents.slice(i + 1);
    this.ents = [{ index: head.index, term: head.term, type: 'normal', data: EMPTY_BYTES }, ...rest];
  }

  /** Makes one Ready's snapshot, entries and hard state the storage's (at once: it is memory). */
  save(ready: ReadyToSave): void {
    if (ready.snapshot) this.applySnapshot(ready.snapshot);
    if (ready.entries.length > 0) this.append(ready.entries);
    if (ready.hardState) this.setHardState(ready.hardState);
  }

  /** Nothing to release. */
  close(): void {
    /* memory */
  }

  /** Appends entries, truncating any conflicting suffix first. Entries must be contiguous. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return;
    let es = entries;
    if (first > es[0]!.index) es = es.slice(first - es[0]!.index);
    const offset = es[0]!.index - this.ents[0]!.index;
    if (offset > this.ents.length) {
      throw new RaftError('storage-misuse', `missing log entry [last: ${this.lastIndex()}, append at: ${es[0]!.index}]`);
    }
    if (offset < this.ents.length) this.ents.length = offset;
    for (const e of es) this.ents.push(e);
  }
}

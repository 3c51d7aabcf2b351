import { MemoryStorage } from '../storage/memory-storage.js';
import { FileStorage } from '../storage/file-storage.js';
import type { FileStorageOptions } from '../storage/file-storage.js';
import type { Storage } from '../core/storage.js';
import type { ConfState, Entry, HardState, Snapshot } from '../core/types.js';

/** What one Ready asks to make durable. */
export interface PersistRequest {
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | undefined;
  /** False when only the commit index moved (no fsync needed). */
  readonly mustSync: boolean;
}

/**
 * The storage a {@link RaftKvNode} drives: the core's read interface plus the writes of the
 * ready loop. `persist` resolves only once the data is durable (fsync when `mustSync`), and
 * the read methods see the persisted data as soon as it resolves.
 */
export interface NodeStorage extends Storage {
  persist(request: PersistRequest): Promise<void>;
  /** Records a state-machine snapshot at `index` (≤ applied). */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<void>;
  /** Discards log entries up to and including `index` (≤ the snapshot index). */
  compact(index: number): Promise<void>;
  close(): Promise<void>;
}

/** The core's read interface, answered by the storage underneath (both adapters share it). */
abstract class ReadThrough implements Storage {
  readonly #reads: Storage;
  protected constructor(reads: Storage) {
    this.#reads = reads;
  }
  initialState() {
    return this.#reads.initialState();
  }
  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    return this.#reads.entries(lo, hi, maxBytes);
  }
  term(index: number): number {
    return this.#reads.term(index);
  }
  firstIndex(): number {
    return this.#reads.firstIndex();
  }
  lastIndex(): number {
    return this.#reads.lastIndex();
  }
  snapshot(): Snapshot {
    return this.#reads.snapshot();
  }
}

/** A {@link NodeStorage} in memory (nothing survives the process): for tests and throwaway nodes. */
export class MemoryNodeStorage extends ReadThrough implements NodeStorage {
  readonly #s: MemoryStorage;

  constructor(storage: MemoryStorage = new MemoryStorage()) {
    super(storage);
    this.#s = storage;
  }

  /** A founding member's storage: the membership (and initial state `data`) in a snapshot at index 1. */
  static bootstrap(confState: ConfState, data: Uint8Array): MemoryNodeStorage {
    const s = new MemoryStorage();
    s.applySnapshot({ index: 1, term: 1, confState, data });
    s.setHardState({ term: 1, vote: 0, commit: 1 });
    return new MemoryNodeStorage(s);
  }

  persist(r: PersistRequest): Promise<void> {
    if (r.snapshot) this.#s.applySnapshot(r.snapshot);
    if (r.entries.length > 0) this.#s.append(r.entries);
    if (r.hardState) this.#s.setHardState(r.hardState);
    return Promise.resolve();
  }

  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<void> {
    this.#s.createSnapshot(index, confState, data);
    return Promise.resolve();
  }

  compact(index: number): Promise<void> {
    this.#s.compact(index);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A {@link NodeStorage} on disk: the segmented, checksummed, fsynced write-ahead log of {@link FileStorage}. */
export class FileNodeStorage extends ReadThrough implements NodeStorage {
  readonly #s: FileStorage;

  private constructor(storage: FileStorage) {
    super(storage);
    this.#s = storage;
  }

  /** Opens (and recovers) the storage in `dir`, creating it when missing. Corruption is refused with a CorruptStorageError. */
  static async open(dir: string, options: FileStorageOptions = {}): Promise<FileNodeStorage> {
    return new FileNodeStorage(await FileStorage.open(dir, options));
  }

  /** True when the directory held no Raft state. */
  get isNew(): boolean {
    return this.#s.isNew && this.#s.lastIndex() === 0;
  }

  /** Makes a new storage a founding member's: membership and initial state in a snapshot at index 1. */
  async bootstrap(confState: ConfState, data: Uint8Array): Promise<void> {
    await this.#s.save({ snapshot: { index: 1, term: 1, confState, data }, hardState: { term: 1, vote: 0, commit: 1 }, entries: [] });
  }

  persist(r: PersistRequest): Promise<void> {
    // A Ready that only moves the commit index needs no write: the commit index is recovered
    // from the leader after a restart, and the next write carries the current hard state.
    if (!r.mustSync && r.entries.length === 0 && !r.snapshot) return Promise.resolve();
    return this.#s.save({ hardState: r.hardState, entries: r.entries, snapshot: r.snapshot });
  }

  async createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<void> {
    await this.#s.createSnapshot(index, confState, data);
  }

  compact(index: number): Promise<void> {
    return this.#s.compact(index);
  }

  close(): Promise<void> {
    return this.#s.close();
  }
}

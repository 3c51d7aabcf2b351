/** The durable Raft storage: a segmented, checksummed write-ahead log and atomic snapshot files (the directory LOCK: dir-lock.ts). */
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, existsSync, ftruncateSync, unlinkSync } from 'node:fs';
import { open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { ensurePrivateDir, openPrivateFile, tightenPrivateTree } from '@flotilla/sys';
import { join } from 'node:path';
import { CorruptStorageError, errSnapOutOfDate, RaftError } from '../errors.js';
import type { NodeStorage, ReadyToSave } from '../core/storage.js';
import {
  EMPTY_BYTES,
  isEmptyHardState,
  type ConfState,
  type Entry,
  type EntryType,
  type HardState,
  type Snapshot,
} from '../core/types.js';
import { crc32c } from './crc32c.js';
import { acquireDirLock, releaseDirLock } from './dir-lock.js';
import { MemoryStorage } from './memory-storage.js';

/** Options of {@link FileStorage.open}. */
export interface FileStorageOptions {
  /** Start a new segment once the current one reaches this size. @default 67108864 (64 MiB) */
  segmentBytes?: number;
  /** fsync WAL writes, snapshot files and the directories (turn off only in throwaway tests). @default true */
  fsync?: boolean;
  /**
   * Receives warnings: a data directory or files found readable by others and tightened to
   * 0700/0600, a stale LOCK taken over. @default `process.emitWarning`
   */
  onWarning?: (message: string) => void;
  /** Called with the duration of each WAL fsync, in seconds (etcd's `disk_wal_fsync_duration_seconds`). @default none */
  onWalFsync?: (seconds: number) => void;
}

const REC_ENTRY = 1;
const REC_HARD_STATE = 2;
const HEADER = 13; // u32 length, u32 crc32c of the length, u32 crc32c of type + payload, u8 type
const SNAP_MAGIC = 0x4e534c46; // "FLSN"
const ENTRY_TYPES: readonly EntryType[] = ['normal', 'conf-change'];

interface SnapFile {
  snapshot: Snapshot;
  /** Set for a snapshot received from a leader: it replaces the whole log. */
  resetsLog: boolean;
  /** With resetsLog: entries in segments numbered below this predate the snapshot. */
  resetSeq: number;
}

const hex = (n: number): string => n.toString(16).padStart(16, '0');

/**
 * Durable Raft storage (a {@link NodeStorage}): a segmented write-ahead log of entries and hard states, and
 * snapshot files. The log is also held in memory, so the core's reads are synchronous.
 *
 * Guarantees:
 * - `save()` resolves only after the batch is written and fsynced: the host may then send
 *   the Ready's persisted messages and call `advance()` (persist before acknowledging).
 * - Every WAL record carries a CRC-32C. On `open()`, a torn final record in the last
 *   segment (a crash mid-write) is truncated away; any other bad record — a checksum
 *   mismatch followed by more data, damage in an older segment, a missing segment — is
 *   refused with a {@link CorruptStorageError} naming the file and offset. Nothing is
 *   dropped silently.
 * - Snapshots are written atomically: temp file, fsync, rename, directory fsync.
 * - `compact()` removes segments whose entries all precede the compaction point and
 *   snapshot files older than the newest.
 * - The commit index is part of the persisted hard state, so it is recoverable on restart.
 *
 * Calls that write (`save`, `createSnapshot`, `compact`) must not overlap: await each one
 * (a driver's group commit is one `save` per Ready, covering every proposal in it). After a
 * failed `save` (disk full, I/O error) every further write throws `storage-misuse`: restart
 * the process, and recovery takes what reached the disk.
 */
export class FileStorage implements NodeStorage {
  private readonly mem: MemoryStorage;
  private readonly walDir: string;
  private readonly snapDir: string;
  private readonly segmentBytes: number;
  private readonly doSync: boolean;
  private readonly onWalFsync: ((seconds: number) => void) | undefined;
  private readonly warn: (message: string) => void;
  private segments: { seq: number; firstIndex: number; name: string }[];
  private current: FileHandle | undefined;
  private currentSize: number;
  private closed = false;
  /** The content of our LOCK file (released on close). */
  private lockToken = '';
  /** Set when a write failed: memory and disk may disagree, so nothing more is written. */
  private failed: unknown;
  /** True when the directory held no state at open (call {@link bootstrap}). */
  readonly isNew: boolean;

  private constructor(
    readonly dir: string,
    mem: MemoryStorage,
    segments: { seq: number; firstIndex: number; name: string }[],
    currentSize: number,
    opts: FileStorageOptions,
    isNew: boolean,
  ) {
    this.mem = mem;
    this.walDir = join(dir, 'wal');
    this.snapDir = join(dir, 'snap');
    this.segments = segments;
    this.currentSize = currentSize;
    this.segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
    this.doSync = opts.fsync ?? true;
    this.onWalFsync = opts.onWalFsync;
    this.warn = warner(opts);
    this.isNew = isNew;
  }

  /**
   * Opens (creating when missing) and recovers the storage in `dir`. The directories are 0700
   * and every file 0600 whatever the umask (the WAL and snapshots hold user data); an existing
   * directory with looser modes is tightened, with one warning through `onWarning`.
   */
  static async open(dir: string, opts: FileStorageOptions = {}): Promise<FileStorage> {
    if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`dir: expected a directory path, received ${typeof dir}`);
    if (opts.segmentBytes !== undefined && (!Number.isInteger(opts.segmentBytes) || opts.segmentBytes < 64)) {
      throw new TypeError(`segmentBytes: expected an integer ≥ 64, received ${opts.segmentBytes}`);
    }
    const walDir = join(dir, 'wal');
    const snapDir = join(dir, 'snap');
    const warn = warner(opts);
    // A new directory is made 0700; an existing one is tightened (with one warning) below.
    if (!existsSync(dir)) ensurePrivateDir(dir);
    const token = acquireDirLock(dir, warn);
    try {
      tightenPrivateTree(dir, warn);
      ensurePrivateDir(walDir, warn);
      ensurePrivateDir(snapDir, warn);
      const fs = await FileStorage.recover(dir, walDir, snapDir, opts);
      fs.lockToken = token;
      return fs;
    } catch (e) {
      releaseDirLock(dir, token);
      throw e;
    }
  }

  private static async recover(dir: string, walDir: string, snapDir: string, opts: FileStorageOptions): Promise<FileStorage> {
    // A snapshot whose rename never happened is garbage.
    for (const n of readdirSync(snapDir)) if (n.endsWith('.snap.tmp')) unlinkSync(join(snapDir, n));
    const snap = loadNewestSnapshot(snapDir);
    const segments = listSegments(walDir);
    const mem = new MemoryStorage();
    let hardState: HardState = { term: 0, vote: 0, commit: 0 };
    const log: Entry[] = [];
    const base = snap?.snapshot.index ?? 0;
    let currentSize = 0;
    for (let s = 0; s < segments.length; s++) {
      const seg = segments[s]!;
      const path = join(walDir, seg.name);
      const last = s === segments.length - 1;
      const keepEntries = !(snap?.resetsLog && seg.seq < snap.resetSeq);
      const validEnd = replaySegment(path, last, (type, payload, offset) => {
        if (type === REC_HARD_STATE) {
          hardState = decodeHardState(payload);
          return;
        }
        if (type !== REC_ENTRY) throw new CorruptStorageError(path, offset, `unknown record type ${type}`);
        if (!keepEntries) return;
        const e = decodeEntry(payload);
        if (e.index <= base) return;
        const lastIndex = base + log.length;
        if (e.index > lastIndex + 1) {
          throw new CorruptStorageError(path, offset, `entry ${e.index} leaves a gap after ${lastIndex} (a segment is missing)`);
        }
        log.length = e.index - base - 1;
        log.push(e);
      });
      if (last) currentSize = validEnd;
    }
    if (snap) mem.applySnapshot(snap.snapshot);
    mem.append(log);
    if (!isEmptyHardState(hardState) || snap) {
      const commit = Math.min(Math.max(hardState.commit, base), mem.lastIndex());
      mem.setHardState({ ...hardState, commit });
    }
    const isNew = !snap && segments.length === 0;
    const fs = new FileStorage(dir, mem, segments, currentSize, opts, isNew);
    if (segments.length > 0) {
      fs.current = await openPrivateFile(join(walDir, segments[segments.length - 1]!.name), 'a');
    }
    if (snap?.resetsLog && segments.some((seg) => seg.seq < snap.resetSeq)) {
      // A leader's snapshot was being installed when the process stopped: finish the job,
      // so the replaced log can never resurface once a newer local snapshot exists.
      if (!segments.some((seg) => seg.seq >= snap.resetSeq)) await fs.rollSegment(base + 1);
      await fs.dropSegmentsBefore(snap.resetSeq);
    }
    return fs;
  }

  /** Initializes a founding member of a new cluster, with the state machine's initial state `data` (see MemoryStorage.bootstrap). */
  async bootstrap(confState: ConfState, data: Uint8Array = EMPTY_BYTES): Promise<void> {
    if (!this.isNew || this.mem.lastIndex() > 0) {
      throw new RaftError('storage-misuse', `${this.dir} already holds Raft state; bootstrap only a new member`);
    }
    const snap: Snapshot = { index: 1, term: 1, confState, data };
    await this.writeSnapshotFile({ snapshot: snap, resetsLog: false, resetSeq: 0 });
    this.mem.applySnapshot(snap);
    await this.save({ hardState: { term: 1, vote: 0, commit: 1 }, entries: [] });
  }

  // ---- Storage (reads) ----

  initialState(): { hardState: HardState; confState: ConfState } {
    return this.mem.initialState();
  }
  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    return this.mem.entries(lo, hi, maxBytes);
  }
  term(index: number): number {
    return this.mem.term(index);
  }
  firstIndex(): number {
    return this.mem.firstIndex();
  }
  lastIndex(): number {
    return this.mem.lastIndex();
  }
  snapshot(): Snapshot {
    return this.mem.snapshot();
  }
  /** The hard state as last saved. */
  getHardState(): HardState {
    return this.mem.getHardState();
  }

  // ---- writes ----

  /**
   * Persists one Ready's snapshot, entries and hard state; resolves once durable. The
   * in-memory view is updated at once (the core reads it only after `advance()`). Every call
   * writes and fsyncs (`mustSync` is not consulted: a host that skips commit-only Readies, as
   * RaftNode does, simply does not call it for them).
   */
  async save(batch: ReadyToSave): Promise<void> {
    this.checkOpen();
    try {
      if (batch.snapshot) await this.installSnapshot(batch.snapshot);
      if (batch.entries.length === 0 && !batch.hardState) return;
      const firstIndex = batch.entries[0]?.index ?? this.mem.lastIndex() + 1;
      this.mem.append(batch.entries);
      if (batch.hardState) this.mem.setHardState(batch.hardState);
      await this.writeRecords(encodeBatch(batch.entries, batch.hardState), firstIndex);
    } catch (err) {
      // A failed write (disk full, I/O error) leaves memory ahead of the disk: refuse further
      // writes; a restart recovers whatever did reach the disk.
      this.failed = err;
      throw err;
    }
  }

  /** Records a snapshot of the state machine at `index` (≤ applied) taken by the host. */
  async createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<Snapshot> {
    this.checkOpen();
    if (index <= this.mem.snapshot().index) throw errSnapOutOfDate();
    const snap: Snapshot = { index, term: this.mem.term(index), confState, data };
    await this.writeSnapshotFile({ snapshot: snap, resetsLog: false, resetSeq: 0 });
    return this.mem.createSnapshot(index, confState, data);
  }

  /** Discards entries up to `index` (≤ the snapshot index), deleting whole segments and old snapshot files. */
  async compact(index: number): Promise<void> {
    this.checkOpen();
    this.mem.compact(index);
    // Segment k may go when segment k+1 starts at or before index + 1: all of k's entries are ≤ index.
    while (this.segments.length > 1 && this.segments[1]!.firstIndex <= index + 1) {
      const gone = this.segments.shift()!;
      await unlink(join(this.walDir, gone.name));
    }
    const keep = snapName(this.mem.snapshot().index);
    for (const name of await readdir(this.snapDir)) {
      if (name.endsWith('.snap') && name !== keep) await unlink(join(this.snapDir, name));
    }
    await this.syncDir(this.walDir);
    await this.syncDir(this.snapDir);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.current?.close();
    this.current = undefined;
    if (this.lockToken) releaseDirLock(this.dir, this.lockToken);
  }

  // ---- internals ----

  private checkOpen(): void {
    if (this.closed) throw new RaftError('storage-misuse', `FileStorage ${this.dir} is closed`);
    if (this.failed !== undefined) {
      throw new RaftError('storage-misuse', `FileStorage ${this.dir} failed a write earlier; restart the process to recover from disk`, { cause: this.failed });
    }
  }

  /** Deletes the segments numbered below `seq` (the newest one always stays). */
  private async dropSegmentsBefore(seq: number): Promise<void> {
    while (this.segments.length > 1 && this.segments[0]!.seq < seq) {
      const gone = this.segments.shift()!;
      await unlink(join(this.walDir, gone.name));
    }
    await this.syncDir(this.walDir);
  }

  /** A leader's snapshot replaces the log: write it, then start a fresh segment after it. */
  private async installSnapshot(snap: Snapshot): Promise<void> {
    const resetSeq = (this.segments[this.segments.length - 1]?.seq ?? 0) + 1;
    await this.writeSnapshotFile({ snapshot: snap, resetsLog: true, resetSeq });
    this.mem.applySnapshot(snap);
    await this.rollSegment(snap.index + 1);
    // Older segments hold only entries the snapshot replaced.
    await this.dropSegmentsBefore(resetSeq);
    for (const name of await readdir(this.snapDir)) {
      if (name.endsWith('.snap') && name !== snapName(snap.index)) await unlink(join(this.snapDir, name));
    }
    await this.syncDir(this.walDir);
  }

  private async rollSegment(firstIndex: number): Promise<void> {
    await this.current?.close();
    const seq = (this.segments[this.segments.length - 1]?.seq ?? 0) + 1;
    const name = `${hex(seq)}-${hex(firstIndex)}.wal`;
    this.current = await openPrivateFile(join(this.walDir, name), 'a');
    this.currentSize = 0;
    this.segments.push({ seq, firstIndex, name });
    await this.syncDir(this.walDir);
    // Each segment starts with the hard state, so older segments can be deleted freely.
    const hs = this.mem.getHardState();
    if (!isEmptyHardState(hs)) await this.writeRecords(encodeRecord(REC_HARD_STATE, encodeHardState(hs)), firstIndex, false);
  }

  /** Appends records and fsyncs; `firstIndex` is the first entry index they carry (for a new segment's name). */
  private async writeRecords(buf: Uint8Array, firstIndex: number, mayRoll = true): Promise<void> {
    if (!this.current || (mayRoll && this.currentSize >= this.segmentBytes)) await this.rollSegment(firstIndex);
    const fh = this.current!;
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off);
      off += bytesWritten;
    }
    this.currentSize += buf.length;
    if (this.doSync) {
      const start = this.onWalFsync ? performance.now() : 0;
      await fh.datasync();
      this.onWalFsync?.((performance.now() - start) / 1000);
    }
  }

  /**
   * Writes a snapshot file atomically. The payload is not copied, and its checksum is
   * computed in pieces with the event loop free between them: a snapshot of a large state
   * must not stall the ready loop (heartbeats, WAL writes) of the process writing it.
   */
  private async writeSnapshotFile(f: SnapFile): Promise<void> {
    const head = encodeSnapFileHeader(f);
    const data = f.snapshot.data;
    let sum = crc32c(head);
    for (let off = 0; off < data.length; off += CRC_CHUNK) {
      sum = crc32c(data, off, Math.min(data.length, off + CRC_CHUNK), sum);
      if (data.length > CRC_CHUNK) await yieldToEventLoop();
    }
    const prefix = new Uint8Array(12);
    const dv = new DataView(prefix.buffer);
    dv.setUint32(0, SNAP_MAGIC, true);
    dv.setUint32(4, sum, true);
    dv.setUint32(8, head.length + data.length, true);
    const final = join(this.snapDir, snapName(f.snapshot.index));
    const tmp = `${final}.tmp`;
    const fh = await openPrivateFile(tmp, 'w');
    try {
      // A large snapshot goes out a piece at a time, flushed every SNAP_SYNC_BYTES: hundreds of
      // megabytes made durable by one fsync at the end would hold the disk (and every WAL fsync
      // queued behind it on this member and the others sharing it) for that whole flush.
      await writeAll(fh, [prefix, head, data], this.doSync ? () => fh.datasync() : undefined);
      if (this.doSync) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, final);
    await this.syncDir(this.snapDir);
  }

  /** fsyncs a directory (new, renamed or deleted names) off the event loop. */
  private async syncDir(path: string): Promise<void> {
    if (!this.doSync) return;
    const fh = await open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

function warner(opts: FileStorageOptions): (message: string) => void {
  return opts.onWarning ?? ((m) => process.emitWarning(m, 'FlotillaWarning'));
}

/** Bytes of a snapshot checksummed between two turns of the event loop. */
const CRC_CHUNK = 1 << 18;

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Bytes of a snapshot file written between two flushes (see writeSnapshotFile). */
const SNAP_SYNC_BYTES = 16 * 1024 * 1024;

/** Writes `bufs` in pieces of at most SNAP_SYNC_BYTES, calling `flush` after each full piece. */
async function writeAll(fh: FileHandle, bufs: readonly Uint8Array[], flush?: () => Promise<void>): Promise<void> {
  let sinceFlush = 0;
  for (const buf of bufs) {
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await fh.write(buf, off, Math.min(buf.length - off, SNAP_SYNC_BYTES - sinceFlush));
      off += bytesWritten;
      sinceFlush += bytesWritten;
      if (sinceFlush >= SNAP_SYNC_BYTES) {
        sinceFlush = 0;
        await flush?.();
      }
    }
  }
}

function snapName(index: number): string {
  return `${hex(index)}.snap`;
}

function listSegments(walDir: string): { seq: number; firstIndex: number; name: string }[] {
  const out: { seq: number; firstIndex: number; name: string }[] = [];
  for (const name of readdirSync(walDir)) {
    const m = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/.exec(name);
    if (!m) continue;
    out.push({ seq: parseInt(m[1]!, 16), firstIndex: parseInt(m[2]!, 16), name });
  }
  out.sort((a, b) => a.seq - b.seq);
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.seq !== out[i - 1]!.seq + 1) {
      throw new CorruptStorageError(join(walDir, out[i]!.name), 0, `segment ${out[i - 1]!.seq + 1} is missing`);
    }
  }
  return out;
}

function loadNewestSnapshot(snapDir: string): SnapFile | undefined {
  const names = readdirSync(snapDir).filter((n) => /^[0-9a-f]{16}\.snap$/.test(n)).sort();
  const newest = names[names.length - 1];
  if (newest === undefined) return undefined;
  const path = join(snapDir, newest);
  const buf = new Uint8Array(readFileSync(path));
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 12 || dv.getUint32(0, true) !== SNAP_MAGIC) throw new CorruptStorageError(path, 0, 'not a snapshot file (bad magic)');
  const len = dv.getUint32(8, true);
  if (12 + len !== buf.length) throw new CorruptStorageError(path, 8, `snapshot length ${len} does not match the file size ${buf.length}`);
  if (crc32c(buf, 12) !== dv.getUint32(4, true)) throw new CorruptStorageError(path, 4, 'snapshot checksum mismatch');
  return decodeSnapFile(buf.subarray(12));
}

/**
 * Reads every record of a segment, calling `onRecord`. In the last segment a torn final
 * record is truncated away; anything else that is damaged throws. Returns the valid length.
 */
function replaySegment(path: string, last: boolean, onRecord: (type: number, payload: Uint8Array, offset: number) => void): number {
  const buf = new Uint8Array(readFileSync(path));
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off < buf.length) {
    const torn = (detail: string): number => {
      if (!last) throw new CorruptStorageError(path, off, `${detail} in a segment that is not the last`);
      // A crash mid-write: drop the partial record.
      const fd = openSync(path, 'r+');
      try {
        ftruncateSync(fd, off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      return off;
    };
    if (off + HEADER > buf.length) return torn('truncated record header');
    if (allZero(buf, off)) return torn('zero-filled tail');
    const len = dv.getUint32(off, true);
    if (crc32c(buf, off, off + 4) !== dv.getUint32(off + 4, true)) {
      // A length that fails its own checksum is damage, not a torn write (the header is complete).
      throw new CorruptStorageError(path, off, 'record length checksum mismatch');
    }
    const end = off + HEADER + len;
    if (end > buf.length) return torn(`record of ${len} bytes runs past the end of the file`);
    const sum = crc32c(buf, off + 12, end);
    if (sum !== dv.getUint32(off + 8, true)) {
      if (end === buf.length) return torn('checksum mismatch in the final record');
      throw new CorruptStorageError(path, off, `record checksum mismatch with ${buf.length - end} more bytes after it`);
    }
    onRecord(buf[off + 12]!, buf.subarray(off + HEADER, end), off);
    off = end;
  }
  return off;
}

function allZero(buf: Uint8Array, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

// ---- encodings (little-endian; numbers as float64 so any safe integer fits) ----

function encodeRecord(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, payload.length, true);
  dv.setUint32(4, crc32c(out, 0, 4), true);
  out[12] = type;
  out.set(payload, HEADER);
  dv.setUint32(8, crc32c(out, 12), true);
  return out;
}

/** Every entry record, then the hard state record, in one buffer (one write, one fsync). */
function encodeBatch(entries: readonly Entry[], hs: HardState | undefined): Uint8Array {
  let size = hs ? HEADER + 24 : 0;
  for (const e of entries) size += HEADER + 17 + e.data.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let off = 0;
  const finish = (type: number, payloadLen: number): void => {
    dv.setUint32(off, payloadLen, true);
    dv.setUint32(off + 4, crc32c(out, off, off + 4), true);
    out[off + 12] = type;
    dv.setUint32(off + 8, crc32c(out, off + 12, off + HEADER + payloadLen), true);
    off += HEADER + payloadLen;
  };
  for (const e of entries) {
    const p = off + HEADER;
    dv.setFloat64(p, e.term, true);
    dv.setFloat64(p + 8, e.index, true);
    out[p + 16] = ENTRY_TYPES.indexOf(e.type);
    out.set(e.data, p + 17);
    out[off + 12] = REC_ENTRY;
    finish(REC_ENTRY, 17 + e.data.length);
  }
  if (hs) {
    const p = off + HEADER;
    dv.setFloat64(p, hs.term, true);
    dv.setFloat64(p + 8, hs.vote, true);
    dv.setFloat64(p + 16, hs.commit, true);
    out[off + 12] = REC_HARD_STATE;
    finish(REC_HARD_STATE, 24);
  }
  return out;
}

function decodeEntry(p: Uint8Array): Entry {
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  return { term: dv.getFloat64(0, true), index: dv.getFloat64(8, true), type: ENTRY_TYPES[p[16]!] ?? 'normal', data: p.slice(17) };
}

function encodeHardState(hs: HardState): Uint8Array {
  const out = new Uint8Array(24);
  const dv = new DataView(out.buffer);
  dv.setFloat64(0, hs.term, true);
  dv.setFloat64(8, hs.vote, true);
  dv.setFloat64(16, hs.commit, true);
  return out;
}

function decodeHardState(p: Uint8Array): HardState {
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  return { term: dv.getFloat64(0, true), vote: dv.getFloat64(8, true), commit: dv.getFloat64(16, true) };
}

/** A snapshot file's payload up to (not including) the state-machine data, which follows it. */
function encodeSnapFileHeader(f: SnapFile): Uint8Array {
  const { snapshot: s } = f;
  const ids = [...s.confState.voters, ...s.confState.learners];
  const out = new Uint8Array(8 * 3 + 1 + 8 + ids.length * 8);
  const dv = new DataView(out.buffer);
  dv.setFloat64(0, s.index, true);
  dv.setFloat64(8, s.term, true);
  dv.setFloat64(16, f.resetSeq, true);
  out[24] = f.resetsLog ? 1 : 0;
  dv.setUint32(25, s.confState.voters.length, true);
  dv.setUint32(29, s.confState.learners.length, true);
  ids.forEach((id, i) => dv.setFloat64(33 + i * 8, id, true));
  return out;
}

function decodeSnapFile(p: Uint8Array): SnapFile {
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const nv = dv.getUint32(25, true);
  const nl = dv.getUint32(29, true);
  const ids: number[] = [];
  for (let i = 0; i < nv + nl; i++) ids.push(dv.getFloat64(33 + i * 8, true));
  return {
    snapshot: {
      index: dv.getFloat64(0, true),
      term: dv.getFloat64(8, true),
      confState: { voters: ids.slice(0, nv), learners: ids.slice(nv) },
      data: p.slice(33 + ids.length * 8),
    },
    resetSeq: dv.getFloat64(16, true),
    resetsLog: p[24] === 1,
  };
}


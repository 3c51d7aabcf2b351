/**
 * The local file store (the default, `.flotilla/` or `file:///abs/dir`).
 *
 * Layout under `<dir>/store/`: `snapshot.json` (the map at some revision, replaced
 * atomically: temp file, fsync, rename, fsync of the directory), `log.jsonl` (the revision
 * log: one JSON record per line, appended and fsynced before a write returns) and `lock`
 * (the one writer's `PID HOST start=… boot=…`, written to a temp file and linked into place,
 * so it is never seen half-written; a lock whose process is gone — exited, a zombie, or its
 * pid reused — is taken over, and so is an empty or unparsable one older than a few seconds).
 * The directories are 0700 and the files 0600 whatever the umask (values are private data);
 * looser ones found on open are tightened, with a warning. Every record and the snapshot
 * carry a CRC-32C of their bytes (file-format.ts).
 *
 * Guarantees: a write that returned is on disk; a crash leaves at most a torn last log
 * record, which readers leave out and the next process holding the lock cuts (with a
 * warning); any other damage — a record that fails its checksum or does not follow the one
 * before it, a log that starts after the snapshot, a missing snapshot — is refused with a
 * {@link StoreCorruptError} naming the file and byte offset, never read as less data (and
 * watchers in other processes are told to re-list, which then fails the same way). Two
 * processes never interleave writes; another process sees every change by following the
 * log (polling it), so `flo controller` watches what `flo apply` writes. The log is compacted
 * into the snapshot every `compactEvery` records, keeping the last `historyLimit` records for
 * watchers. A store written before checksums is read strictly once and rewritten with them.
 */
import { existsSync } from 'node:fs';
import { open, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createLockFileSync, currentHolder, ensurePrivateDir, formatHolder, judgeLock, openPrivateFile, readLock, removeLockIf, tightenPrivateTree, type LockVerdict } from '@flotilla/sys';
import { ClusterError, isClusterError, isStoreCorruptError } from '../errors.js';
import { Channel } from './channel.js';
import { inodeOf, rereadPause, STORE_REREADS, syncDir, writeDurably } from './durable.js';
import { encodeRecord, encodeSnapshot, followLog, loadStore, scanLog, type LogChain, type StorePaths, type TornTail } from './file-format.js';
import { applyDelete, applyPut, checkRangeOptions, emptyState, pageOf, toEvent, type KvState, type LogRecord } from './kv-state.js';
import type { KeyValue, KvRangeOptions, KvStore, KvWatchEvent, KvWatchOptions, WriteOptions } from './types.js';

/** Options of {@link FileKvStore}. */
export interface FileKvStoreOptions {
  /** How often watchers look for changes made by other processes. @default 100 */
  pollIntervalMs?: number;
  /** Interval of `progress` events on watches; 0 disables them. @default 5000 */
  progressIntervalMs?: number;
  /** How long a writer waits for the lock before failing with `store-locked`. @default 10000 */
  lockTimeoutMs?: number;
  /** Compact the log into the snapshot after this many records. @default 2000 */
  compactEvery?: number;
  /** Records kept in the log after compaction, for watchers that start in the past. @default 1000 */
  historyLimit?: number;
  /** An empty or unparsable lock older than this is taken over (a writer died creating it). @default 5000 */
  staleLockMs?: number;
  /**
   * Receives one-line warnings: directories or files found readable by others and tightened,
   * a stale lock taken over, a torn last record cut, a store without checksums rewritten with
   * them. @default `process.emitWarning`
   */
  onWarning?: (message: string) => void;
  /**
   * Create the store when the directory holds none. `false` (read-only use): a missing store
   * is a `ClusterError` with code `store-missing` naming the directory, and nothing is
   * created. @default true
   */
  create?: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function isErrno(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

/** Where the store's files are. */
export function fileStorePaths(dir: string): StorePaths & { storeDir: string; lock: string } {
  const storeDir = join(dir, 'store');
  return { dir, storeDir, snapshot: join(storeDir, 'snapshot.json'), log: join(storeDir, 'log.jsonl'), lock: join(storeDir, 'lock') };
}

/** A {@link KvStore} in a directory on this machine. Create with {@link openFileStore}. */
export class FileKvStore implements KvStore {
  readonly dir: string;
  readonly #paths: StorePaths;
  readonly #storeDir: string;
  readonly #logPath: string;
  readonly #snapshotPath: string;
  readonly #lockPath: string;
  readonly #create: boolean;
  readonly #options: Required<Omit<FileKvStoreOptions, 'onWarning' | 'create'>>;
  readonly #warn: (message: string) => void;
  #state: KvState = emptyState();
  /** Where the log follower stands; its `state` is {@link #state}. */
  #follower: LogChain | undefined;
  #compactRevision = 0;
  #logIno = -1;
  #logOffset = 0;
  #logCount = 0;
  /** Set by the last full load: the store needs rewriting (format 1, or no snapshot yet). */
  #legacy = false;
  #snapshotMissing = false;
  #chain: Promise<unknown> = Promise.resolve();
  readonly #watchers = new Set<{ prefix: string; channel: Channel<KvWatchEvent>; stop: () => void }>();
  #poller: ReturnType<typeof setInterval> | undefined;
  #progress: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(dir: string, options: FileKvStoreOptions = {}) {
    this.dir = dir;
    const paths = fileStorePaths(dir);
    this.#paths = paths;
    this.#storeDir = paths.storeDir;
    this.#logPath = paths.log;
    this.#snapshotPath = paths.snapshot;
    this.#lockPath = paths.lock;
    this.#options = {
      pollIntervalMs: options.pollIntervalMs ?? 100,
      progressIntervalMs: options.progressIntervalMs ?? 5000,
      lockTimeoutMs: options.lockTimeoutMs ?? 10_000,
      compactEvery: options.compactEvery ?? 2000,
      historyLimit: options.historyLimit ?? 1000,
      staleLockMs: options.staleLockMs ?? 5000,
    };
    for (const [name, value] of Object.entries(this.#options))
      if (!Number.isInteger(value) || value < 0) throw new TypeError(`${name}: expected a non-negative integer, received ${String(value)}`);
    if (options.onWarning !== undefined && typeof options.onWarning !== 'function')
      throw new TypeError(`onWarning: expected a function, received ${typeof options.onWarning}`);
    this.#warn = options.onWarning ?? ((m) => process.emitWarning(m, 'FlotillaWarning'));
    this.#create = options.create ?? true;
  }

  /**
   * Creates the directory when missing and loads the current state (refusing damage with a
   * {@link StoreCorruptError}). A torn last record is cut, and a store without checksums is
   * rewritten with them, under the lock; when the lock cannot be had (held, or the store is
   * read-only to this user), both are left to the next writer.
   */
  async init(): Promise<void> {
    if (this.#create === false && !existsSync(this.#storeDir))
      throw new ClusterError(
        'store-missing',
        `no store at ${this.dir}: a store is created by the first write (flo apply -f FILE); to read another, pass --store URL or set FLO_STORE`,
      );
    ensurePrivateDir(this.dir, this.#warn);
    ensurePrivateDir(this.#storeDir, this.#warn);
    tightenPrivateTree(this.#storeDir, this.#warn);
    await this.#serial(async () => {
      const { tail } = await this.#load('read');
      if (!tail && !this.#legacy) return;
      try {
        await this.#lock();
      } catch (e) {
        // a writer that holds on to the lock, or a store this user may only read: read as a
        // reader does (the torn tail left out, the old format parsed); the next writer fixes both
        if (isClusterError(e) && (e.code === 'store-locked' || e.code === 'store-unavailable')) return;
        throw e;
      }
      try {
        await this.#catchUp('locked');
        if (this.#legacy) await this.#rewrite();
      } finally {
        await this.#unlock();
      }
    });
  }

  /** Runs `fn` after every earlier in-process operation (one at a time). */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Brings the cached state up to the log's end; returns the new records. `locked`: this
   * process holds the lock, so a torn last record is a crash's and is cut; otherwise it may be
   * a write in progress and is left for later. Damage expires every watcher and throws.
   */
  async #catchUp(mode: 'read' | 'locked'): Promise<LogRecord[]> {
    try {
      return await this.#follow(mode);
    } catch (e) {
      if (isStoreCorruptError(e)) {
        this.#logIno = -1; // load everything again next time (a repair may have fixed it)
        this.#expireWatchers(this.#compactRevision);
      }
      throw e;
    }
  }

  async #follow(mode: 'read' | 'locked'): Promise<LogRecord[]> {
    let fh: FileHandle | undefined;
    try {
      fh = await open(this.#logPath, 'r');
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw new ClusterError('store-unavailable', `cannot read ${this.#logPath}`, { cause: e });
    }
    try {
      const st = fh ? await fh.stat() : undefined;
      if ((st?.ino ?? 0) !== this.#logIno || (st && st.size < this.#logOffset) || !this.#follower) return (await this.#load(mode, fh)).fresh;
      if (!st || !fh || st.size === this.#logOffset) return [];
      const length = st.size - this.#logOffset;
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, this.#logOffset);
      let followed: ReturnType<typeof followLog>;
      try {
        followed = followLog(scanLog(buf.subarray(0, bytesRead), this.#logOffset), this.#follower, this.#paths);
      } catch (e) {
        // The same inode number is not always the same file: a log replaced twice since this
        // process last looked can carry the number of the one it read (freed, then reused), and
        // read from the old offset it looks damaged. Damage is only believed of the whole pair,
        // read again (through `fh`, held open: its number cannot be reused meanwhile).
        if (isStoreCorruptError(e)) return (await this.#load(mode, fh)).fresh;
        throw e;
      }
      const { records, end, tail } = followed;
      if (end !== undefined) this.#logOffset = end;
      this.#logCount += records.length;
      if (tail && mode === 'locked') await this.#cut(tail);
      return records;
    } finally {
      await fh?.close();
    }
  }

  /**
   * Loads the snapshot and the whole log. The log is opened (`fh`) before the snapshot is
   * read: a compaction renames the snapshot first, so the pair read is never a new log with
   * an older snapshot.
   */
  async #load(mode: 'read' | 'locked', fh?: FileHandle, rereads = 0): Promise<{ fresh: LogRecord[]; tail: TornTail | undefined }> {
    let own: FileHandle | undefined;
    if (!fh) {
      try {
        fh = own = await open(this.#logPath, 'r');
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw new ClusterError('store-unavailable', `cannot read ${this.#logPath}`, { cause: e });
      }
    }
    try {
      const st = fh ? await fh.stat() : undefined;
      const logBytes = fh ? await fh.readFile() : undefined;
      let snapBytes: Buffer | undefined;
      try {
        snapBytes = await readFile(this.#snapshotPath);
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw new ClusterError('store-unavailable', `cannot read ${this.#snapshotPath}`, { cause: e });
      }
      let loaded;
      try {
        loaded = loadStore(snapBytes, logBytes, this.#paths);
      } catch (e) {
        // a log replaced after it was opened here (compacted twice, or repaired, by another
        // process meanwhile) can disagree with the newer snapshot: read the pair again
        if (isStoreCorruptError(e) && (await inodeOf(this.#logPath)) !== (st?.ino ?? 0)) {
          // Not damage: a writer replaced the pair meanwhile. Each new log is progress, so read
          // again (backing off a little) rather than report damage that is not there; a writer
          // compacting faster than this can read for the whole budget makes the store busy.
          if (rereads >= STORE_REREADS) throw new ClusterError('store-unavailable', `${this.#logPath} was replaced ${rereads} times while it was read (another process compacting continually); try again`, { cause: e });
          await rereadPause(rereads);
          return await this.#load(mode, undefined, rereads + 1);
        }
        throw e;
      }
      const before = this.#state.revision;
      this.#state = loaded.state;
      this.#follower = loaded.chain;
      this.#compactRevision = loaded.compactRevision;
      this.#logIno = st?.ino ?? 0;
      this.#logOffset = loaded.end;
      this.#logCount = loaded.records.length;
      this.#legacy = loaded.legacy;
      this.#snapshotMissing = loaded.snapshotMissing;
      // records this process never saw were compacted away, or a repair took revisions back:
      // watchers must re-list
      if (loaded.compactRevision > before || loaded.state.revision < before) this.#expireWatchers(loaded.compactRevision);
      if (loaded.tail && mode === 'locked') await this.#cut(loaded.tail);
      return { fresh: loaded.records.filter((r) => r.rev > before), tail: loaded.tail };
    } finally {
      await own?.close();
    }
  }

  /** Cuts a torn last record (only while holding the lock: then no write is in progress). */
  async #cut(tail: TornTail): Promise<void> {
    const fh = await open(this.#logPath, 'r+');
    try {
      await fh.truncate(tail.offset);
      await fh.sync();
    } finally {
      await fh.close();
    }
    this.#warn(`${this.#logPath}: cut a torn last record at byte ${tail.offset} (${tail.bytes} bytes; ${tail.problem}): a write that a crash interrupted`);
  }

  #expireWatchers(compactRevision: number): void {
    for (const w of [...this.#watchers]) {
      w.channel.push({ type: 'expired', compactRevision });
      w.stop();
    }
  }

  async #lock(): Promise<void> {
    const deadline = performance.now() + this.#options.lockTimeoutMs;
    const me = `${formatHolder(currentHolder())}\n`;
    const judge = (text: string, ageMs: number): LockVerdict => judgeLock(text, ageMs, { unreadableStaleMs: this.#options.staleLockMs });
    for (let attempt = 0; ; attempt++) {
      let verdict: LockVerdict;
      try {
        if (createLockFileSync(this.#lockPath, me)) return;
        const found = readLock(this.#lockPath);
        if (found === undefined) continue; // released meanwhile
        verdict = judge(found.text, found.ageMs);
      } catch (e) {
        throw new ClusterError('store-unavailable', `cannot take the lock ${this.#lockPath}`, { cause: e });
      }
      if (verdict.kind === 'stale') {
        // rename-aside makes exactly one taker win, and a lock that changed meanwhile is put back
        if (removeLockIf(this.#lockPath, (text, ageMs) => judge(text, ageMs).kind === 'stale'))
          this.#warn(`took over the lock of the store ${this.dir}: ${verdict.reason}`);
        continue;
      }
      if (performance.now() > deadline) {
        throw new ClusterError(
          'store-locked',
          `the store ${this.dir} is locked: ${verdict.reason}; waited ${this.#options.lockTimeoutMs} ms. ` +
            `If no flo is writing to it, remove the lock by hand: rm ${this.#lockPath}`,
        );
      }
      await sleep(Math.min(2 + attempt, 25));
    }
  }

  async #unlock(): Promise<void> {
    await unlink(this.#lockPath).catch(() => undefined);
  }

  /** Runs a write under the lock, on fresh state; appends its record to the log durably. */
  #write<T>(fn: (state: KvState) => { record: LogRecord | undefined; result: T }): Promise<T> {
    return this.#serial(async () => {
      if (this.#closed) throw new ClusterError('store-unavailable', 'the store is closed');
      await this.#lock();
      try {
        const fresh = await this.#catchUp('locked');
        this.#dispatch(fresh);
        // a new store gets its snapshot before its first record; a store without checksums is rewritten
        if (this.#legacy || this.#snapshotMissing) await this.#rewrite();
        const { record, result } = fn(this.#state);
        if (record) {
          await this.#append(record);
          this.#dispatch([record]);
          if (this.#logCount >= this.#options.compactEvery) await this.#compact(this.#options.historyLimit);
        }
        return result;
      } finally {
        await this.#unlock();
      }
    });
  }

  async #append(record: LogRecord): Promise<void> {
    let fh: FileHandle | undefined;
    try {
      fh = await openPrivateFile(this.#logPath, 'a');
      const st = await fh.stat();
      // (#logIno 0: there was no log file when this process caught up; `open` just made it)
      if ((st.ino !== this.#logIno && !(this.#logIno === 0 && st.size === 0)) || st.size !== this.#logOffset)
        throw new ClusterError(
          'store-unavailable',
          `${this.#logPath} changed while this process held the lock (expected ${this.#logOffset} bytes, found ${st.size}); is another program writing to it?`,
        );
      const line = encodeRecord(record);
      await fh.write(line, null, 'utf8');
      await fh.sync();
      this.#logIno = st.ino;
      this.#logOffset += Buffer.byteLength(line);
      this.#logCount++;
      if (this.#follower) {
        this.#follower.lastRevision = record.rev;
        this.#follower.format = 'checksummed';
      }
    } finally {
      await fh?.close();
    }
  }

  /** Rewrites snapshot and log with checksums, keeping every record (a new or format 1 store). */
  async #rewrite(): Promise<void> {
    const legacy = this.#legacy;
    const kept = await this.#compact(Number.POSITIVE_INFINITY);
    if (legacy)
      this.#warn(`${this.#storeDir}: rewrote the store with CRC-32C checksums (snapshot at revision ${this.#state.revision} and ${kept} log records); it was written by an older flo`);
  }

  /** Folds the log into a new snapshot, keeping the last `keep` records; returns how many were kept. */
  async #compact(keep: number): Promise<number> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.#logPath);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
      bytes = Buffer.alloc(0);
    }
    // the caller caught up under the lock: everything up to #logOffset was verified
    const records = scanLog(bytes.subarray(0, this.#logOffset)).flatMap((l) => (l.ok ? [l.record] : []));
    const kept = records.slice(Math.max(0, records.length - keep));
    const compactRevision = kept.length > 0 ? kept[0]!.rev - 1 : this.#state.revision;
    const logTmp = `${this.#logPath}.tmp`;
    const snapTmp = `${this.#snapshotPath}.tmp`;
    await writeDurably(logTmp, kept.map(encodeRecord).join(''));
    await writeDurably(snapTmp, encodeSnapshot({ revision: this.#state.revision, compactRevision, kvs: [...this.#state.kvs.values()] }));
    // snapshot first: a crash between the renames leaves the new snapshot with the old log, which reads the same
    await rename(snapTmp, this.#snapshotPath);
    await rename(logTmp, this.#logPath);
    syncDir(this.#storeDir);
    this.#compactRevision = compactRevision;
    const st = await stat(this.#logPath);
    this.#logIno = st.ino;
    this.#logOffset = st.size;
    this.#logCount = kept.length;
    this.#follower = { state: this.#state, snapshotRevision: this.#state.revision, lastRevision: kept.at(-1)?.rev, format: kept.length > 0 ? 'checksummed' : undefined };
    this.#legacy = false;
    this.#snapshotMissing = false;
    return kept.length;
  }

  /** Compacts now (tests and maintenance). */
  compact(): Promise<void> {
    return this.#serial(async () => {
      await this.#lock();
      try {
        this.#dispatch(await this.#catchUp('locked'));
        await this.#compact(this.#options.historyLimit);
      } finally {
        await this.#unlock();
      }
    });
  }

  /**
   * Runs `fn` while holding the store's lock (no other process writes meanwhile), after every
   * earlier operation of this instance; the state is loaded from disk again afterwards. For
   * maintenance that rewrites the files, such as `repairFileStore`.
   */
  maintain<T>(fn: (paths: StorePaths) => Promise<T>): Promise<T> {
    return this.#serial(async () => {
      if (this.#closed) throw new ClusterError('store-unavailable', 'the store is closed');
      ensurePrivateDir(this.dir, this.#warn);
      ensurePrivateDir(this.#storeDir, this.#warn);
      await this.#lock();
      try {
        return await fn(this.#paths);
      } finally {
        this.#logIno = -1;
        await this.#unlock();
      }
    });
  }

  #dispatch(records: readonly LogRecord[]): void {
    for (const r of records) {
      const event = toEvent(r);
      for (const w of this.#watchers) if (r.key.startsWith(w.prefix)) w.channel.push(event);
    }
  }

  #read<T>(fn: (state: KvState) => T): Promise<T> {
    return this.#serial(async () => {
      if (this.#closed) throw new ClusterError('store-unavailable', 'the store is closed');
      this.#dispatch(await this.#catchUp('read'));
      return fn(this.#state);
    });
  }

  get(key: string): Promise<KeyValue | undefined> {
    return this.#read((s) => {
      const kv = s.kvs.get(key);
      return kv ? { ...kv } : undefined;
    });
  }

  range(prefix: string, options?: KvRangeOptions): Promise<{ items: KeyValue[]; revision: number; more?: boolean }> {
    return this.#read((s) => {
      checkRangeOptions(options);
      return { ...pageOf(s, prefix, options), revision: s.revision };
    });
  }

  put(key: string, value: string, options: WriteOptions = {}): Promise<number> {
    return this.#write((s) => {
      const record = applyPut(s, key, value, options.prevRevision);
      return { record, result: record.rev };
    });
  }

  delete(key: string, options: WriteOptions = {}): Promise<number | undefined> {
    return this.#write((s) => {
      const record = applyDelete(s, key, options.prevRevision);
      return { record, result: record?.rev };
    });
  }

  /** The log's records from `from` to the current revision, or `undefined` when some are gone (compacted meanwhile). */
  async #history(from: number): Promise<LogRecord[] | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.#logPath);
    } catch {
      return undefined;
    }
    const out: LogRecord[] = [];
    for (const line of scanLog(bytes)) {
      if (!line.ok) break;
      const r = line.record;
      if (r.rev < from) continue;
      if (r.rev > this.#state.revision) break;
      if (r.rev !== from + out.length) return undefined;
      out.push(r);
    }
    return out.length === this.#state.revision - from + 1 ? out : undefined;
  }

  watch(prefix: string, options: KvWatchOptions = {}): AsyncIterable<KvWatchEvent> {
    const entry = { prefix, channel: undefined as unknown as Channel<KvWatchEvent>, stop: (): void => undefined };
    entry.stop = () => {
      this.#watchers.delete(entry);
      options.signal?.removeEventListener('abort', entry.stop);
      entry.channel.close();
      this.#timers();
    };
    entry.channel = new Channel<KvWatchEvent>(entry.stop);
    options.signal?.addEventListener('abort', entry.stop, { once: true });
    void this.#serial(async () => {
      if (entry.channel.closed) return;
      this.#dispatch(await this.#catchUp('read'));
      const from = options.fromRevision ?? this.#state.revision + 1;
      if (from <= this.#compactRevision) {
        entry.channel.push({ type: 'expired', compactRevision: this.#compactRevision });
        entry.channel.close();
        return;
      }
      if (from <= this.#state.revision) {
        const records = await this.#history(from);
        if (!records) {
          // compacted by another process since this one caught up: the watcher re-lists
          entry.channel.push({ type: 'expired', compactRevision: from - 1 });
          entry.channel.close();
          return;
        }
        for (const r of records) if (r.key.startsWith(prefix)) entry.channel.push(toEvent(r));
      }
      this.#watchers.add(entry);
      this.#timers();
    }).catch((e: unknown) => {
      // damage (or an unreadable store): the watcher re-lists, and the list reports the error
      entry.channel.push({ type: 'expired', compactRevision: this.#compactRevision });
      entry.channel.close();
      void e;
    });
    if (options.signal?.aborted) entry.stop();
    return entry.channel;
  }

  /** Starts the poller and progress timers while there are watchers; stops them otherwise. */
  #timers(): void {
    if (this.#watchers.size > 0 && !this.#closed) {
      if (!this.#poller && this.#options.pollIntervalMs > 0) {
        let busy = false;
        this.#poller = setInterval(() => {
          if (busy) return;
          busy = true;
          // damage expires the watchers (their re-list then reports it)
          this.#serial(async () => this.#dispatch(await this.#catchUp('read')))
            .catch(() => undefined)
            .finally(() => (busy = false));
        }, this.#options.pollIntervalMs);
        this.#poller.unref();
      }
      if (!this.#progress && this.#options.progressIntervalMs > 0) {
        this.#progress = setInterval(() => {
          for (const w of this.#watchers) w.channel.push({ type: 'progress', revision: this.#state.revision });
        }, this.#options.progressIntervalMs);
        this.#progress.unref();
      }
    } else {
      if (this.#poller) clearInterval(this.#poller);
      if (this.#progress) clearInterval(this.#progress);
      this.#poller = undefined;
      this.#progress = undefined;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of [...this.#watchers]) w.stop();
    this.#timers();
    await this.#chain;
  }
}

/** Opens (creating when missing) the file store in `dir`. */
export async function openFileStore(dir: string, options: FileKvStoreOptions = {}): Promise<FileKvStore> {
  const store = new FileKvStore(dir, options);
  await store.init();
  return store;
}

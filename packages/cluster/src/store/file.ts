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
 * looser ones found on open are tightened, with a warning.
 *
 * Guarantees: a write that returned is on disk; a crash leaves at most a torn last log
 * line, which is ignored and cut by the next writer; two processes never interleave
 * writes; another process sees every change by following the log (polling it), so
 * `flo controller` watches what `flo apply` writes. The log is compacted into the snapshot
 * every `compactEvery` records, keeping the last `historyLimit` records for watchers.
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { open, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createLockFileSync, currentHolder, ensurePrivateDir, formatHolder, judgeLock, openPrivateFile, readLock, removeLockIf, tightenPrivateTree, type LockVerdict } from '@flotilla/sys';
import { ClusterError } from '../errors.js';
import { Channel } from './channel.js';
import { applyDelete, applyPut, emptyState, rangeOf, replay, toEvent, type KvState, type LogRecord } from './kv-state.js';
import type { KeyValue, KvStore, KvWatchEvent, WatchOptions, WriteOptions } from './types.js';

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
   * Receives warnings (e.g. directories or files found readable by others and tightened, a
   * stale lock taken over). @default `process.emitWarning`
   */
  onWarning?: (message: string) => void;
}

interface Snapshot {
  revision: number;
  compactRevision: number;
  kvs: KeyValue[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function isErrno(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

function parseLines(text: string): { records: LogRecord[]; consumed: number } {
  const records: LogRecord[] = [];
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) break;
    const line = text.slice(start, nl);
    start = nl + 1;
    if (line.trim() === '') continue;
    try {
      records.push(JSON.parse(line) as LogRecord);
    } catch {
      // a torn line in the middle can only come from outside damage: skip it
    }
  }
  return { records, consumed: Buffer.byteLength(text.slice(0, start)) };
}

/** A {@link KvStore} in a directory on this machine. Create with {@link openFileStore}. */
export class FileKvStore implements KvStore {
  readonly dir: string;
  readonly #storeDir: string;
  readonly #logPath: string;
  readonly #snapshotPath: string;
  readonly #lockPath: string;
  readonly #options: Required<Omit<FileKvStoreOptions, 'onWarning'>>;
  readonly #warn: (message: string) => void;
  #state: KvState = emptyState();
  #compactRevision = 0;
  #logIno = -1;
  #logOffset = 0;
  #logCount = 0;
  #chain: Promise<unknown> = Promise.resolve();
  readonly #watchers = new Set<{ prefix: string; channel: Channel<KvWatchEvent>; stop: () => void }>();
  #poller: ReturnType<typeof setInterval> | undefined;
  #progress: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(dir: string, options: FileKvStoreOptions = {}) {
    this.dir = dir;
    this.#storeDir = join(dir, 'store');
    this.#logPath = join(this.#storeDir, 'log.jsonl');
    this.#snapshotPath = join(this.#storeDir, 'snapshot.json');
    this.#lockPath = join(this.#storeDir, 'lock');
    this.#options = {
      pollIntervalMs: options.pollIntervalMs ?? 100,
      progressIntervalMs: options.progressIntervalMs ?? 5000,
      lockTimeoutMs: options.lockTimeoutMs ?? 10_000,
      compactEvery: options.compactEvery ?? 2000,
      historyLimit: options.historyLimit ?? 1000,
      staleLockMs: options.staleLockMs ?? 5000,
    };
    this.#warn = options.onWarning ?? ((m) => process.emitWarning(m, 'FlotillaWarning'));
    for (const [name, value] of Object.entries(this.#options))
      if (!Number.isInteger(value) || value < 0) throw new TypeError(`${name}: expected a non-negative integer, received ${String(value)}`);
  }

  /** Creates the directory when missing and loads the current state. */
  async init(): Promise<void> {
    ensurePrivateDir(this.dir, this.#warn);
    ensurePrivateDir(this.#storeDir, this.#warn);
    tightenPrivateTree(this.#storeDir, this.#warn);
    await this.#serial(() => this.#catchUp());
  }

  /** Runs `fn` after every earlier in-process operation (one at a time). */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #readSnapshot(): Promise<Snapshot> {
    try {
      return JSON.parse(await readFile(this.#snapshotPath, 'utf8')) as Snapshot;
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return { revision: 0, compactRevision: 0, kvs: [] };
      throw new ClusterError('store-unavailable', `cannot read ${this.#snapshotPath}`, { cause: e });
    }
  }

  /** Brings the cached state up to the log's end; returns the new records. */
  async #catchUp(): Promise<LogRecord[]> {
    let st;
    try {
      st = await stat(this.#logPath);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
      st = undefined;
    }
    const fresh: LogRecord[] = [];
    if (!st) {
      if (this.#logIno !== 0) {
        const snap = await this.#readSnapshot();
        this.#loadSnapshot(snap);
        this.#logIno = 0;
        this.#logOffset = 0;
      }
      return fresh;
    }
    if (st.ino !== this.#logIno || st.size < this.#logOffset) {
      // first load, or the log was replaced by a compaction: reload snapshot + whole log
      const before = this.#state.revision;
      const snap = await this.#readSnapshot();
      this.#loadSnapshot(snap);
      if (snap.compactRevision > before && this.#watchers.size > 0) {
        // records this process never saw were compacted away: its watchers must re-list
        for (const w of [...this.#watchers]) {
          w.channel.push({ type: 'expired', compactRevision: snap.compactRevision });
          w.stop();
        }
      }
      this.#logIno = st.ino;
      this.#logOffset = 0;
      this.#logCount = 0;
      const text = await readFile(this.#logPath, 'utf8');
      const { records, consumed } = parseLines(text);
      this.#logOffset = consumed;
      this.#logCount = records.length;
      for (const r of records) {
        replay(this.#state, r);
        if (r.rev > before) fresh.push(r);
      }
      return fresh;
    }
    if (st.size === this.#logOffset) return fresh;
    const fh = await open(this.#logPath, 'r');
    try {
      const length = st.size - this.#logOffset;
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, this.#logOffset);
      const { records, consumed } = parseLines(buf.subarray(0, bytesRead).toString('utf8'));
      this.#logOffset += consumed;
      this.#logCount += records.length;
      for (const r of records) {
        if (r.rev > this.#state.revision) fresh.push(r);
        replay(this.#state, r);
      }
    } finally {
      await fh.close();
    }
    return fresh;
  }

  #loadSnapshot(snap: Snapshot): void {
    this.#state = { revision: snap.revision, kvs: new Map(snap.kvs.map((kv) => [kv.key, kv])) };
    this.#compactRevision = snap.compactRevision;
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
        const fresh = await this.#catchUp();
        this.#dispatch(fresh);
        const { record, result } = fn(this.#state);
        if (record) {
          await this.#append(record);
          this.#dispatch([record]);
          if (this.#logCount >= this.#options.compactEvery) await this.#compact();
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
      fh = await openPrivateFile(this.#logPath, 'a+');
      const st = await fh.stat();
      if (st.size > this.#logOffset && this.#logIno === st.ino) {
        // a torn tail from a crashed writer: cut it before appending
        await fh.truncate(this.#logOffset);
      }
      if (this.#logIno !== st.ino) {
        this.#logIno = st.ino;
        this.#logOffset = 0;
      }
      const line = `${JSON.stringify(record)}\n`;
      await fh.write(line, null, 'utf8');
      await fh.sync();
      this.#logOffset += Buffer.byteLength(line);
      this.#logCount++;
    } finally {
      await fh?.close();
    }
    syncDir(this.#storeDir);
  }

  async #compact(): Promise<void> {
    const text = await readFile(this.#logPath, 'utf8');
    const { records } = parseLines(text);
    const kept = records.slice(Math.max(0, records.length - this.#options.historyLimit));
    const compactRevision = kept.length > 0 ? kept[0]!.rev - 1 : this.#state.revision;
    const snap: Snapshot = { revision: this.#state.revision, compactRevision, kvs: [...this.#state.kvs.values()] };
    const logTmp = `${this.#logPath}.tmp`;
    const snapTmp = `${this.#snapshotPath}.tmp`;
    await writeDurably(logTmp, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
    await writeDurably(snapTmp, JSON.stringify(snap));
    await rename(snapTmp, this.#snapshotPath);
    await rename(logTmp, this.#logPath);
    syncDir(this.#storeDir);
    this.#compactRevision = compactRevision;
    const st = await stat(this.#logPath);
    this.#logIno = st.ino;
    this.#logOffset = st.size;
    this.#logCount = kept.length;
  }

  /** Compacts now (tests and maintenance). */
  compact(): Promise<void> {
    return this.#serial(async () => {
      await this.#lock();
      try {
        this.#dispatch(await this.#catchUp());
        await this.#compact();
      } finally {
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
      this.#dispatch(await this.#catchUp());
      return fn(this.#state);
    });
  }

  get(key: string): Promise<KeyValue | undefined> {
    return this.#read((s) => {
      const kv = s.kvs.get(key);
      return kv ? { ...kv } : undefined;
    });
  }

  range(prefix: string): Promise<{ items: KeyValue[]; revision: number }> {
    return this.#read((s) => ({ items: rangeOf(s, prefix), revision: s.revision }));
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

  watch(prefix: string, options: WatchOptions = {}): AsyncIterable<KvWatchEvent> {
    const entry = { prefix, channel: undefined as unknown as Channel<KvWatchEvent>, stop: (): void => undefined };
    entry.stop = () => {
      this.#watchers.delete(entry);
      entry.channel.close();
      this.#timers();
    };
    entry.channel = new Channel<KvWatchEvent>(entry.stop);
    options.signal?.addEventListener('abort', entry.stop, { once: true });
    void this.#serial(async () => {
      if (entry.channel.closed) return;
      this.#dispatch(await this.#catchUp());
      const from = options.fromRevision ?? this.#state.revision + 1;
      if (from <= this.#compactRevision) {
        entry.channel.push({ type: 'expired', compactRevision: this.#compactRevision });
        entry.channel.close();
        return;
      }
      if (from <= this.#state.revision) {
        const { records } = parseLines(await readFile(this.#logPath, 'utf8').catch(() => ''));
        for (const r of records) if (r.rev >= from && r.rev <= this.#state.revision && r.key.startsWith(prefix)) entry.channel.push(toEvent(r));
      }
      this.#watchers.add(entry);
      this.#timers();
    }).catch((e: unknown) => {
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
          this.#serial(async () => this.#dispatch(await this.#catchUp()))
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

async function writeDurably(path: string, data: string): Promise<void> {
  const fh = await openPrivateFile(path, 'w');
  try {
    await fh.write(data, null, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // some file systems refuse fsync on directories; the rename is still atomic
  }
}

/** Opens (creating when missing) the file store in `dir`. */
export async function openFileStore(dir: string, options: FileKvStoreOptions = {}): Promise<FileKvStore> {
  const store = new FileKvStore(dir, options);
  await store.init();
  return store;
}

/**
 * Checking and repairing a file store (`flo store check`, `flo store repair --keep-intact`).
 *
 * `checkFileStore` reads without the lock and changes nothing: what opening would do (the
 * state, or the first damage it refuses), every other problem it can find, and what a repair
 * would keep and drop. `repairFileStore` holds the lock and keeps every intact record up to
 * the first damage: the snapshot (or, when the snapshot itself is lost, the log from revision
 * 1), then the log's records that follow from it in order until the first one that is
 * damaged, missing or inconsistent; everything from there on is dropped and listed (count,
 * revisions, keys). Damage only among history records (those the snapshot already holds)
 * drops history, not state. The files as they were are kept beside the new ones
 * (`snapshot.json.damaged-<time>`, `log.jsonl.damaged-<time>`); the new ones are written to
 * temp files and renamed into place, snapshot first.
 */
import { copyFile, link, open, readFile, rename, stat, type FileHandle } from 'node:fs/promises';
import { ClusterError, isStoreCorruptError } from '../errors.js';
import { inodeOf, rereadPause, STORE_REREADS, syncDir, writeDurably } from './durable.js';
import { FileKvStore, fileStorePaths, type FileKvStoreOptions } from './file.js';
import {
  applyRecord,
  decodeSnapshot,
  encodeRecord,
  encodeSnapshot,
  isTornTail,
  loadStore,
  replayProblem,
  scanLog,
  stateOf,
  type LogLine,
  type RecordFormat,
  type Snapshot,
  type StorePaths,
} from './file-format.js';
import type { KvState, LogRecord } from './kv-state.js';
import { KEY_PREFIX, ROOT_PREFIX } from './resources.js';

/** One problem found in a store's files. */
export interface FileStoreDamage {
  file: string;
  /** Byte offset in `file`. */
  offset: number;
  problem: string;
}

/** What `repairFileStore` keeps and drops (or why it cannot). */
export interface FileStoreRepairPlan {
  /** False when nothing consistent can be kept (the snapshot is lost and the log does not start at revision 1). */
  possible: boolean;
  /** Why a repair is impossible, and what to do instead. */
  reason?: string;
  /** The state kept: its revision, keys, and the log records kept (history included). */
  keep: { revision: number; keys: number; records: number; compactRevision: number };
  /** The snapshot was lost or damaged and is rebuilt from the log. */
  snapshotRebuilt: boolean;
  /** Lines dropped from the first damage to the end of the log: these changes are lost. */
  dropped: {
    records: number;
    /** Byte offset in the log where dropping starts. */
    offset?: number;
    /** Revisions of the dropped records (as far as they can be read). */
    fromRevision?: number;
    toRevision?: number;
    /** Keys the dropped records change (read from records that pass their checksum). */
    keys: string[];
    /** Keys named by damaged lines that still parse as JSON (their checksum fails: unverified). */
    unverifiedKeys: string[];
    /** Lines that could not be read at all. */
    unreadable: number;
  };
  /** History records (already in the snapshot) dropped: no state is lost, watchers from before `keep.compactRevision` re-list. */
  droppedHistory: number;
}

/** The report of {@link checkFileStore}. */
export interface FileStoreReport {
  dir: string;
  /** `ok` opens as it is (perhaps after cutting a torn tail or migrating); `damaged` is refused; `missing`: no store here. */
  status: 'ok' | 'damaged' | 'missing';
  snapshot: { path: string; present: boolean; bytes: number; format?: RecordFormat; revision?: number; compactRevision?: number; keys?: number; problem?: string };
  log: { path: string; present: boolean; bytes: number; records: number; format?: RecordFormat; firstRevision?: number; lastRevision?: number };
  /** The state that opening yields (when not damaged): revision, keys, and Flotilla objects by kind (plural). */
  state?: { revision: number; keys: number; kinds: Record<string, number> };
  /** Every problem found, the one opening refuses first (at most 100). */
  damage: FileStoreDamage[];
  /** Things opening fixes by itself: a torn last record to cut, a format without checksums to rewrite. */
  notices: string[];
  /** What `repairFileStore` would keep and drop (when damaged). */
  repair?: FileStoreRepairPlan;
}

/** The result of {@link repairFileStore}. */
export interface FileStoreRepairResult extends FileStoreRepairPlan {
  dir: string;
  /** Whether the files were rewritten (false: there was nothing to repair). */
  repaired: boolean;
  /** What was damaged (empty when only a torn tail was cut or checksums were added). */
  damage: FileStoreDamage[];
  /** The original files, kept beside the new ones. */
  movedAside: string[];
}

/** Objects under Flotilla's key prefix, by kind (`instances`, `hosts`, …); other keys under `other`. */
export function countKinds(keys: Iterable<string>): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const k of keys) {
    // built-in kinds by plural (`hosts`); defined kinds (`/flotilla/<group>/<version>/<plural>/`) as `<plural>.<group>`
    const parts = k.startsWith(ROOT_PREFIX) ? k.slice(ROOT_PREFIX.length).split('/') : [];
    const kind = k.startsWith(KEY_PREFIX) ? parts[1]! : parts.length >= 4 ? `${parts[2]}.${parts[0]}` : 'other';
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

/** Best effort: the key and revision a damaged line names, if it still parses as JSON. */
function peek(bytes: Uint8Array, line: LogLine): { key?: string; rev?: number } {
  try {
    const o = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + line.offset, line.end - line.offset).toString('utf8')) as Record<string, unknown>;
    return { ...(typeof o.key === 'string' ? { key: o.key } : {}), ...(typeof o.rev === 'number' ? { rev: o.rev } : {}) };
  } catch {
    return {};
  }
}

interface Planned {
  plan: FileStoreRepairPlan;
  snapshot: Snapshot;
  records: LogRecord[];
}

/** Decides what a repair keeps; pure over the files' bytes (`undefined` = missing). */
export function planRepair(snapshotBytes: Uint8Array | undefined, logBytes: Uint8Array | undefined, paths: StorePaths): Planned {
  const bytes = logBytes ?? new Uint8Array(0);
  const lines = scanLog(bytes);
  let base: Snapshot | undefined;
  let snapshotProblem = 'is missing';
  if (snapshotBytes) {
    try {
      base = decodeSnapshot(snapshotBytes, paths).snapshot;
    } catch (e) {
      if (!isStoreCorruptError(e)) throw e;
      snapshotProblem = `is damaged (${e.detail})`;
    }
  }
  const empty: Snapshot = { revision: 0, compactRevision: 0, kvs: [] };
  const first = lines[0];
  let snapshotRebuilt = false;
  const nothing = { records: 0, keys: [], unverifiedKeys: [], unreadable: 0 };
  if (!base) {
    if (lines.length === 0 || (lines.length === 1 && isTornTail(first!)) || (first?.ok && first.record.rev === 1)) {
      base = empty;
      snapshotRebuilt = snapshotBytes !== undefined || lines.length > 0;
    } else {
      const from = first?.ok ? `starts at revision ${first.record.rev}` : 'starts with a damaged record';
      return {
        plan: {
          possible: false,
          reason: `the snapshot ${snapshotProblem} and the log ${from}: the state before it exists nowhere else. Restore ${paths.dir}/store from a backup (a repair would have to invent it)`,
          keep: { revision: 0, keys: 0, records: 0, compactRevision: 0 },
          snapshotRebuilt: false,
          dropped: nothing,
          droppedHistory: 0,
        },
        snapshot: empty,
        records: [],
      };
    }
  }
  const S = base.revision;
  const state: KvState = stateOf(base);
  let history: LogRecord[] = [];
  const applied: LogRecord[] = [];
  let droppedHistory = 0;
  let prev: number | undefined;
  let format: RecordFormat | undefined;
  let pendingBad: number | undefined; // first damaged line since the last good record
  let pendingCount = 0; // …and how many there are (counted as history until a good record says otherwise)
  let stopAt = lines.length;
  const stopAtPending = (i: number): void => {
    stopAt = pendingBad ?? i;
    if (pendingBad !== undefined) droppedHistory -= pendingCount;
  };
  const dropHistory = (): void => {
    droppedHistory += history.length;
    history = [];
    prev = undefined;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const bad = !line.ok || (format !== undefined && line.format !== format);
    if (bad) {
      if (applied.length === 0 && (prev === undefined || prev < S)) {
        // among history records: the snapshot holds their effect; drop history and resync
        pendingBad ??= i;
        pendingCount++;
        droppedHistory++;
        dropHistory();
        continue;
      }
      stopAt = i;
      break;
    }
    const r = line.record;
    format ??= line.format;
    if (prev !== undefined && r.rev !== prev + 1) {
      if (applied.length === 0 && r.rev <= S + 1) {
        dropHistory(); // a discontinuity among history records: start the chain again here
      } else {
        stopAt = i;
        break;
      }
    }
    if (prev === undefined && r.rev > S + 1) {
      stopAtPending(i); // revisions S+1… are missing (perhaps in the damaged lines before)
      break;
    }
    if (r.rev <= S) {
      history.push(r);
      prev = r.rev;
      pendingBad = undefined;
      pendingCount = 0;
      continue;
    }
    if (replayProblem(state, r)) {
      if (prev === undefined) stopAtPending(i);
      else stopAt = i;
      break;
    }
    applyRecord(state, r);
    applied.push(r);
    prev = r.rev;
    pendingBad = undefined;
    pendingCount = 0;
  }
  if (history.length > 0 && history.at(-1)!.rev !== S) dropHistory();
  // what is dropped, as far as it can be read
  const keys = new Set<string>();
  const unverifiedKeys = new Set<string>();
  let unreadable = 0;
  let fromRevision: number | undefined;
  let toRevision: number | undefined;
  const seeRev = (rev: number): void => {
    if (rev <= state.revision) return;
    fromRevision = Math.min(fromRevision ?? rev, rev);
    toRevision = Math.max(toRevision ?? rev, rev);
  };
  for (const line of lines.slice(stopAt)) {
    if (line.ok) {
      keys.add(line.record.key);
      seeRev(line.record.rev);
      continue;
    }
    const { key, rev } = peek(bytes, line);
    if (key !== undefined) unverifiedKeys.add(key);
    else unreadable++;
    if (rev !== undefined) seeRev(rev);
  }
  for (const k of keys) unverifiedKeys.delete(k);
  const records = [...history, ...applied];
  const compactRevision = history.length > 0 ? history[0]!.rev - 1 : S;
  return {
    plan: {
      possible: true,
      keep: { revision: state.revision, keys: state.kvs.size, records: records.length, compactRevision },
      snapshotRebuilt,
      dropped: {
        records: lines.length - stopAt,
        ...(stopAt < lines.length ? { offset: lines[stopAt]!.offset } : {}),
        ...(fromRevision !== undefined ? { fromRevision: state.revision + 1, toRevision } : {}),
        keys: [...keys].sort(),
        unverifiedKeys: [...unverifiedKeys].sort(),
        unreadable,
      },
      droppedHistory,
    },
    snapshot: { revision: state.revision, compactRevision, kvs: [...state.kvs.values()] },
    records,
  };
}

/** Every problem in the log, not only the first: bad lines (a torn tail aside), revisions out of order, mixed formats. */
function surveyLog(lines: readonly LogLine[], path: string): FileStoreDamage[] {
  const out: FileStoreDamage[] = [];
  let prev: number | undefined;
  let format: RecordFormat | undefined;
  for (const [i, line] of lines.entries()) {
    if (!line.ok) {
      if (i === lines.length - 1 && isTornTail(line)) continue;
      out.push({ file: path, offset: line.offset, problem: `record ${line.problem}${line.merged ? ' (two records run together)' : ''}` });
      prev = undefined;
      continue;
    }
    format ??= line.format;
    if (line.format !== format) out.push({ file: path, offset: line.offset, problem: line.format === 'legacy' ? 'a record without a checksum among checksummed records' : 'a checksummed record in a log without checksums' });
    if (prev !== undefined && line.record.rev !== prev + 1)
      out.push({ file: path, offset: line.offset, problem: `revision ${line.record.rev} follows revision ${prev}` });
    prev = line.record.rev;
  }
  return out;
}

async function readIf(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') return undefined;
    throw new ClusterError('store-unavailable', `cannot read ${path}`, { cause: e });
  }
}

async function openIf(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') return undefined;
    throw new ClusterError('store-unavailable', `cannot read ${path}`, { cause: e });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

const MAX_DAMAGE = 100;

/**
 * Verifies the file store in `dir` without changing anything (no lock is taken: a write in
 * progress shows as a torn tail notice). Never throws for damage: it is reported. (A log that
 * another process keeps replacing, compaction after compaction, is read again until a consistent
 * pair is read; only after `STORE_REREADS` replacements does it throw `store-unavailable`.)
 */
export async function checkFileStore(dir: string): Promise<FileStoreReport> {
  const paths = fileStorePaths(dir);
  // the log before the snapshot (a compaction renames the snapshot first); read again when a
  // writer replaced the log meanwhile. The log is read through a handle held until the check:
  // while it is open its inode cannot be freed, so no later log can have the same number (an
  // inode number compared after the file was let go can be a new log's, reused).
  let logBytes: Buffer | undefined;
  let snapBytes: Buffer | undefined;
  for (let attempt = 0; ; attempt++) {
    const log = await openIf(paths.log);
    let same: boolean;
    try {
      logBytes = await log?.readFile();
      snapBytes = await readIf(paths.snapshot);
      same = (await inodeOf(paths.log)) === (log ? (await log.stat()).ino : 0);
    } finally {
      await log?.close();
    }
    if (same) break;
    // a pair read across a compaction is no evidence of damage: never report it as such
    if (attempt >= STORE_REREADS) throw new ClusterError('store-unavailable', `${paths.log} was replaced ${attempt} times while it was checked (another process compacting continually); try again`);
    await rereadPause(attempt);
  }
  const lines = logBytes ? scanLog(logBytes) : [];
  const okLines = lines.flatMap((l) => (l.ok ? [l] : []));
  const report: FileStoreReport = {
    dir,
    status: 'ok',
    snapshot: { path: paths.snapshot, present: snapBytes !== undefined, bytes: snapBytes?.length ?? 0 },
    log: {
      path: paths.log,
      present: logBytes !== undefined,
      bytes: logBytes?.length ?? 0,
      records: okLines.length,
      ...(okLines.length > 0 ? { format: okLines[0]!.format, firstRevision: okLines[0]!.record.rev, lastRevision: okLines.at(-1)!.record.rev } : {}),
    },
    damage: [],
    notices: [],
  };
  if (!snapBytes && !logBytes && !(await exists(paths.storeDir))) {
    report.status = 'missing';
    return report;
  }
  if (snapBytes) {
    try {
      const { snapshot, format } = decodeSnapshot(snapBytes, paths);
      Object.assign(report.snapshot, { format, revision: snapshot.revision, compactRevision: snapshot.compactRevision, keys: snapshot.kvs.length });
    } catch (e) {
      if (!isStoreCorruptError(e)) throw e;
      report.snapshot.problem = e.detail;
    }
  }
  try {
    const loaded = loadStore(snapBytes, logBytes, paths);
    report.state = { revision: loaded.state.revision, keys: loaded.state.kvs.size, kinds: countKinds(loaded.state.kvs.keys()) };
    if (loaded.tail)
      report.notices.push(`${paths.log}: a torn last record at byte ${loaded.tail.offset} (${loaded.tail.bytes} bytes; ${loaded.tail.problem}) — cut on the next open (or a write in progress)`);
    if (loaded.legacy) report.notices.push(`${paths.dir}: written by an older flo without checksums — rewritten with them on the next open`);
  } catch (e) {
    if (!isStoreCorruptError(e)) throw e;
    report.status = 'damaged';
    report.damage.push({ file: e.file, offset: e.offset, problem: e.detail });
    for (const d of surveyLog(lines, paths.log)) if (!report.damage.some((x) => x.file === d.file && x.offset === d.offset)) report.damage.push(d);
    if (report.damage.length > MAX_DAMAGE) report.damage.length = MAX_DAMAGE;
    report.repair = planRepair(snapBytes, logBytes, paths).plan;
  }
  return report;
}

/** Options of {@link repairFileStore}. */
export interface RepairFileStoreOptions extends Pick<FileKvStoreOptions, 'lockTimeoutMs' | 'onWarning'> {
  /**
   * Must be `true`: keep every intact record up to the first damage and drop the rest. There
   * is no repair that keeps everything, so it is never the default.
   */
  keepIntact: boolean;
  /** The time in the names of the files moved aside. @default the current time */
  now?: Date;
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

async function keepAside(path: string, time: string): Promise<string | undefined> {
  if (!(await exists(path))) return undefined;
  for (let n = 0; ; n++) {
    const aside = `${path}.damaged-${time}${n > 0 ? `-${n}` : ''}`;
    if (await exists(aside)) continue;
    try {
      await link(path, aside);
    } catch {
      await copyFile(path, aside);
    }
    return aside;
  }
}

/**
 * Repairs the file store in `dir` under its lock: keeps every intact record up to the first
 * damage (see the module notes), keeps the original files beside the new ones, and reports
 * exactly what was dropped. A store that is not damaged is left as it is (a torn tail is cut
 * and an old format rewritten, as opening does). Throws `store-corrupt` when nothing
 * consistent can be kept (restore a backup then), and `TypeError` unless `keepIntact` is true.
 */
export async function repairFileStore(dir: string, options: RepairFileStoreOptions): Promise<FileStoreRepairResult> {
  if ((options as { keepIntact?: unknown }).keepIntact !== true)
    throw new TypeError(`keepIntact: expected true (a repair drops every record after the first damage; say so explicitly), received ${String((options as { keepIntact?: unknown }).keepIntact)}`);
  const paths = fileStorePaths(dir);
  if (!(await exists(paths.storeDir))) throw new ClusterError('not-found', `no file store in ${dir} (no ${paths.storeDir})`);
  const warn = options.onWarning;
  const store = new FileKvStore(dir, { ...(options.lockTimeoutMs !== undefined ? { lockTimeoutMs: options.lockTimeoutMs } : {}), ...(warn ? { onWarning: warn } : {}) });
  try {
    return await store.maintain(async () => {
      const snapBytes = await readIf(paths.snapshot);
      const logBytes = await readIf(paths.log);
      let damage: FileStoreDamage[] = [];
      let needsRewrite = false;
      try {
        const loaded = loadStore(snapBytes, logBytes, paths);
        needsRewrite = loaded.tail !== undefined || loaded.legacy || (loaded.snapshotMissing && loaded.records.length > 0);
      } catch (e) {
        if (!isStoreCorruptError(e)) throw e;
        damage = [{ file: e.file, offset: e.offset, problem: e.detail }];
      }
      const { plan, snapshot, records } = planRepair(snapBytes, logBytes, paths);
      const result: FileStoreRepairResult = { dir, repaired: false, damage, movedAside: [], ...plan };
      if (damage.length === 0 && !needsRewrite) return result;
      if (!plan.possible) throw new ClusterError('store-corrupt', `cannot repair ${paths.storeDir}: ${plan.reason}`);
      const snapTmp = `${paths.snapshot}.tmp`;
      const logTmp = `${paths.log}.tmp`;
      await writeDurably(snapTmp, encodeSnapshot(snapshot));
      await writeDurably(logTmp, records.map(encodeRecord).join(''));
      if (damage.length > 0) {
        const time = stamp(options.now ?? new Date());
        for (const p of [paths.snapshot, paths.log]) {
          const aside = await keepAside(p, time);
          if (aside) result.movedAside.push(aside);
        }
      }
      await rename(snapTmp, paths.snapshot);
      await rename(logTmp, paths.log);
      syncDir(paths.storeDir);
      result.repaired = true;
      return result;
    });
  } finally {
    await store.close();
  }
}

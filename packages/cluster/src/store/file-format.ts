/**
 * The file store's bytes on disk, as pure functions: encoding, decoding and the consistency
 * rules that decide whether a snapshot and a log may be read. No I/O here (file.ts reads and
 * writes; file-repair.ts checks and repairs).
 *
 * Format (2): JSON lines that stay greppable and readable by `jq` (and by older flo), each
 * carrying a CRC-32C (the WAL's checksum, from @flotilla/raft) of its own exact bytes:
 *
 *     {"crc":"1a2b3c4d","rev":7,"type":"put","key":"/k","value":"v","createRevision":7,"version":1}
 *
 * The checksum covers every byte after the 18-byte `{"crc":"xxxxxxxx",` prefix up to the end
 * of the line (newline excluded), written as 8 lowercase hex digits. `snapshot.json` is one
 * such object (`revision`, `compactRevision`, `kvs`) followed by a newline. Format 1 (before
 * checksums) is the same without the `crc` field; it is read strictly once and rewritten.
 *
 * Rules (what {@link loadStore} refuses with a {@link StoreCorruptError}): a record that fails
 * its checksum or its shape anywhere but as the very last line; revisions that skip or go
 * back; a log that starts after the snapshot's revision + 1 or ends before it; a put or delete
 * that does not follow from the state before it; a record of the other format in a log; a
 * snapshot that fails its checksum or shape; a missing snapshot while the log holds records
 * (format 1 stores that were never compacted excepted: their log starts at revision 1); a
 * missing log behind a snapshot past revision 0. Only a torn last record — a last line with
 * no newline, or a last line that fails its checksum with nothing after it — is left out, for
 * the writer holding the lock to cut.
 */
import { crc32c } from '@flotilla/raft';
import { StoreCorruptError } from '../errors.js';
import { emptyState, type KvState, type LogRecord } from './kv-state.js';
import type { KeyValue } from './types.js';

/** The state folded into `snapshot.json`. */
export interface Snapshot {
  /** The revision the snapshot holds the map at. */
  revision: number;
  /** Revisions up to this one are gone from the log (watchers from before it re-list). */
  compactRevision: number;
  kvs: KeyValue[];
}

/** `checksummed` (format 2) or `legacy` (format 1, before checksums). */
export type RecordFormat = 'checksummed' | 'legacy';

/** Where a store's files are, for error messages. */
export interface StorePaths {
  /** The store directory (`--store file://<dir>`). */
  dir: string;
  snapshot: string;
  log: string;
}

/** One line of the log: a record, or what is wrong with it. Offsets are file offsets. */
export type LogLine =
  | { ok: true; offset: number; end: number; record: LogRecord; format: RecordFormat }
  | {
      ok: false;
      offset: number;
      end: number;
      /** The line ends with a newline. */
      complete: boolean;
      problem: string;
      /** Another record starts inside this line (two lines run together): never a torn write. */
      merged: boolean;
    };

const PREFIX = Buffer.from('{"crc":"');
const PREFIX_LENGTH = 18; // {"crc":"xxxxxxxx",
const LEGACY_START = Buffer.from('{"rev":');
const NEWLINE = 0x0a;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function startsWith(bytes: Uint8Array, at: number, end: number, what: Uint8Array): boolean {
  if (end - at < what.length) return false;
  for (let i = 0; i < what.length; i++) if (bytes[at + i] !== what[i]) return false;
  return true;
}

function contains(bytes: Uint8Array, from: number, end: number, what: Uint8Array): boolean {
  for (let i = from; i + what.length <= end; i++) if (startsWith(bytes, i, end, what)) return true;
  return false;
}

/** `{"crc":"xxxxxxxx",` + body, where body is `JSON.stringify(value)` without its `{`. */
function withChecksum(value: object): string {
  const body = JSON.stringify(value).slice(1);
  return `{"crc":"${hex(crc32c(Buffer.from(body, 'utf8')))}",${body}`;
}

/** One log line (newline included) for a record. */
export function encodeRecord(record: LogRecord): string {
  return `${withChecksum(record)}\n`;
}

/** The bytes of `snapshot.json`. */
export function encodeSnapshot(snapshot: Snapshot): string {
  const kvs = [...snapshot.kvs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return `${withChecksum({ revision: snapshot.revision, compactRevision: snapshot.compactRevision, kvs })}\n`;
}

const isInt = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function unknownFields(o: Record<string, unknown>, allowed: readonly string[]): string | undefined {
  let extra: string[] | undefined;
  for (const k in o) if (!allowed.includes(k)) (extra ??= []).push(k);
  return extra ? `unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => JSON.stringify(k)).join(', ')}` : undefined;
}

const PUT_FIELDS = ['rev', 'type', 'key', 'value', 'createRevision', 'version', 'prevValue'] as const;
const DELETE_FIELDS = ['rev', 'type', 'key', 'prevValue'] as const;

/** The record a parsed object holds, or what is wrong with it. */
function toRecord(o: unknown): LogRecord | string {
  if (!isObject(o)) return 'not a JSON object';
  if (!isInt(o.rev, 1)) return '"rev" is not a positive integer';
  if (typeof o.key !== 'string' || o.key === '') return '"key" is not a non-empty string';
  if (o.prevValue !== undefined && typeof o.prevValue !== 'string') return '"prevValue" is not a string';
  if (o.type === 'put') {
    const extra = unknownFields(o, PUT_FIELDS);
    if (extra) return extra;
    if (typeof o.value !== 'string') return '"value" is not a string';
    if (!isInt(o.createRevision, 1) || o.createRevision > o.rev) return '"createRevision" is not an integer in 1..rev';
    if (!isInt(o.version, 1)) return '"version" is not a positive integer';
    return o as unknown as LogRecord;
  }
  if (o.type === 'delete') {
    const extra = unknownFields(o, DELETE_FIELDS);
    if (extra) return extra;
    return o as unknown as LogRecord;
  }
  return '"type" is neither "put" nor "delete"';
}

/** Decodes the line `bytes[start, end)` (no newline): its record and format, or a problem. */
function decodeLine(bytes: Uint8Array, start: number, end: number): { record: LogRecord; format: RecordFormat } | string {
  if (end === start) return 'empty line';
  if (startsWith(bytes, start, end, PREFIX)) {
    const sum = checksumOf(bytes, start, end);
    if (typeof sum === 'string') return sum;
    let parsed: unknown;
    try {
      parsed = JSON.parse(utf8.decode(bytes.subarray(start, end)));
    } catch {
      return 'not JSON although its checksum matches';
    }
    if (!isObject(parsed)) return 'not a JSON object';
    delete parsed.crc;
    const record = toRecord(parsed);
    return typeof record === 'string' ? record : { record, format: 'checksummed' };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(bytes.subarray(start, end)));
  } catch {
    return 'not a record: no {"crc":…} prefix and not JSON';
  }
  if (isObject(parsed) && 'crc' in parsed) return 'malformed checksum field';
  const record = toRecord(parsed);
  return typeof record === 'string' ? record : { record, format: 'legacy' };
}

/** Checks the `{"crc":"xxxxxxxx",` prefix of `bytes[start, end)` against the rest. */
function checksumOf(bytes: Uint8Array, start: number, end: number): true | string {
  if (end - start < PREFIX_LENGTH + 1) return 'too short for a checksummed record';
  const digits = Buffer.from(bytes.buffer, bytes.byteOffset + start + 8, 8).toString('latin1');
  if (!/^[0-9a-f]{8}$/.test(digits) || bytes[start + 16] !== 0x22 || bytes[start + 17] !== 0x2c) return 'malformed checksum field';
  const computed = crc32c(bytes, start + PREFIX_LENGTH, end);
  if (computed !== parseInt(digits, 16)) return `checksum mismatch (recorded ${digits}, computed ${hex(computed)})`;
  return true;
}

/** Splits log bytes into lines (a last line without a newline included). `base` is the file offset of `bytes[0]`. */
export function scanLog(bytes: Uint8Array, base = 0): LogLine[] {
  const lines: LogLine[] = [];
  let start = 0;
  while (start < bytes.length) {
    let nl = bytes.indexOf(NEWLINE, start);
    const complete = nl >= 0;
    if (!complete) nl = bytes.length;
    const decoded = decodeLine(bytes, start, nl);
    const end = complete ? nl + 1 : nl;
    if (typeof decoded === 'string') {
      const merged = contains(bytes, start + 1, nl, PREFIX) || contains(bytes, start + 1, nl, LEGACY_START);
      lines.push({ ok: false, offset: base + start, end: base + end, complete, problem: decoded, merged });
    } else lines.push({ ok: true, offset: base + start, end: base + end, record: decoded.record, format: decoded.format });
    start = end;
  }
  return lines;
}

/**
 * True when `line`, the last line of the log, can be a write that a crash interrupted: no
 * newline yet, or a complete line that fails its checksum or shape and holds no second
 * record (two records run together mean a damaged newline, not a torn write).
 */
export function isTornTail(line: LogLine): boolean {
  return !line.ok && (!line.complete || !line.merged);
}

/** Decodes `snapshot.json`; throws {@link StoreCorruptError} naming what is wrong. */
export function decodeSnapshot(bytes: Uint8Array, paths: StorePaths): { snapshot: Snapshot; format: RecordFormat } {
  const fail = (offset: number, detail: string): never => {
    throw new StoreCorruptError(paths.dir, paths.snapshot, offset, `snapshot ${detail}`);
  };
  let format: RecordFormat;
  let end = bytes.length;
  if (startsWith(bytes, 0, end, PREFIX)) {
    format = 'checksummed';
    if (bytes[end - 1] !== NEWLINE) fail(end, 'is truncated (no final newline)');
    end--;
    const sum = checksumOf(bytes, 0, end);
    if (sum !== true) fail(0, sum);
  } else {
    if (bytes.length === 0) fail(0, 'is empty');
    format = 'legacy';
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(bytes.subarray(0, end)));
  } catch (e) {
    return fail(0, `is not JSON (${(e as Error).message})`);
  }
  if (!isObject(parsed)) return fail(0, 'is not a JSON object');
  if (format === 'legacy' && 'crc' in parsed) fail(0, 'has a malformed checksum field');
  const { crc: _crc, ...o } = parsed;
  const extra = unknownFields(o, ['revision', 'compactRevision', 'kvs']);
  if (extra) fail(0, `has ${extra}`);
  if (!isInt(o.revision, 0)) fail(0, '"revision" is not a non-negative integer');
  const revision = o.revision as number;
  if (!isInt(o.compactRevision, 0) || o.compactRevision > revision) fail(0, '"compactRevision" is not an integer in 0..revision');
  if (!Array.isArray(o.kvs)) fail(0, '"kvs" is not an array');
  const seen = new Set<string>();
  for (const [i, kv] of (o.kvs as unknown[]).entries()) {
    const bad = (what: string): never => fail(0, `kvs[${i}] ${what}`);
    if (!isObject(kv)) bad('is not an object');
    const k = kv as Record<string, unknown>;
    const extraKv = unknownFields(k, ['key', 'value', 'createRevision', 'modRevision', 'version']);
    if (extraKv) bad(`has ${extraKv}`);
    if (typeof k.key !== 'string' || k.key === '') bad('"key" is not a non-empty string');
    if (typeof k.value !== 'string') bad('"value" is not a string');
    if (!isInt(k.modRevision, 1) || k.modRevision > revision) bad('"modRevision" is not an integer in 1..revision');
    if (!isInt(k.createRevision, 1) || k.createRevision > (k.modRevision as number)) bad('"createRevision" is not an integer in 1..modRevision');
    if (!isInt(k.version, 1)) bad('"version" is not a positive integer');
    if (seen.has(k.key as string)) bad(`repeats the key ${JSON.stringify(k.key)}`);
    seen.add(k.key as string);
  }
  return { snapshot: { revision, compactRevision: o.compactRevision as number, kvs: o.kvs as KeyValue[] }, format };
}

/** The state a snapshot holds. */
export function stateOf(snapshot: Snapshot): KvState {
  return { revision: snapshot.revision, kvs: new Map(snapshot.kvs.map((kv) => [kv.key, { ...kv }])) };
}

/**
 * Why `record` cannot follow `state` (a put's version and createRevision must continue the
 * key's; a delete needs the key; prevValue must be the value replaced), or `undefined`.
 * Records at or below the state's revision are history and are not checked against it.
 */
export function replayProblem(state: KvState, r: LogRecord): string | undefined {
  if (r.rev <= state.revision) return undefined;
  if (r.rev !== state.revision + 1) return `revision ${r.rev} does not follow the state's revision ${state.revision}`;
  const old = state.kvs.get(r.key);
  if (r.type === 'put') {
    const createRevision = old ? old.createRevision : r.rev;
    const version = (old?.version ?? 0) + 1;
    if (r.createRevision !== createRevision || r.version !== version)
      return `put of ${JSON.stringify(r.key)} claims createRevision ${r.createRevision} and version ${r.version}, but the state before it gives ${createRevision} and ${version}`;
  } else if (!old) return `delete of ${JSON.stringify(r.key)}, which does not exist at revision ${state.revision}`;
  if (r.prevValue !== undefined ? r.prevValue !== old?.value : old !== undefined)
    return `"prevValue" of ${JSON.stringify(r.key)} is not the value it replaces`;
  return undefined;
}

/** Applies a record already checked by {@link replayProblem}. */
export function applyRecord(state: KvState, r: LogRecord): void {
  if (r.rev <= state.revision) return;
  if (r.type === 'put') state.kvs.set(r.key, { key: r.key, value: r.value, createRevision: r.createRevision, modRevision: r.rev, version: r.version });
  else state.kvs.delete(r.key);
  state.revision = r.rev;
}

/** Where a reader of the log stands: what the next record must follow. */
export interface LogChain {
  state: KvState;
  /** The revision the log's records must reach (the snapshot's). */
  snapshotRevision: number;
  /** The last record's revision; `undefined` before the first record. */
  lastRevision: number | undefined;
  /** The log's format, set by its first record. */
  format: RecordFormat | undefined;
}

/** A torn last record, left out of what was read. */
export interface TornTail {
  offset: number;
  bytes: number;
  problem: string;
}

/**
 * Follows `lines` (the log from where `chain` stands) and applies them to `chain.state`.
 * Returns the records read, the file offset after the last one, and a torn last record if
 * there is one; throws {@link StoreCorruptError} at the first damage.
 */
export function followLog(lines: readonly LogLine[], chain: LogChain, paths: StorePaths): { records: LogRecord[]; end: number | undefined; tail: TornTail | undefined } {
  const records: LogRecord[] = [];
  let end: number | undefined;
  for (const [i, line] of lines.entries()) {
    const fail = (detail: string): never => {
      throw new StoreCorruptError(paths.dir, paths.log, line.offset, detail);
    };
    if (!line.ok) {
      if (i === lines.length - 1 && isTornTail(line)) return { records, end, tail: { offset: line.offset, bytes: line.end - line.offset, problem: line.complete ? line.problem : 'no newline at the end' } };
      fail(`${line.complete ? '' : 'an unterminated '}record ${line.problem}${line.merged ? ' (two records run together: a damaged newline)' : ''}, with ${i < lines.length - 1 ? `${lines.length - 1 - i} more record${lines.length - 1 - i > 1 ? 's' : ''} after it` : 'more bytes after it'}`);
      return { records, end, tail: undefined };
    }
    const r = line.record;
    if (chain.format === undefined) chain.format = line.format;
    else if (line.format !== chain.format)
      fail(line.format === 'legacy' ? 'a record without a checksum among checksummed records (an older flo may have written it)' : 'a checksummed record in a log without checksums');
    if (chain.lastRevision === undefined) {
      if (r.rev > chain.snapshotRevision + 1)
        fail(`the log starts at revision ${r.rev} but the snapshot ends at revision ${chain.snapshotRevision}: revisions ${chain.snapshotRevision + 1}–${r.rev - 1} are missing`);
    } else if (r.rev !== chain.lastRevision + 1)
      fail(
        r.rev > chain.lastRevision
          ? `revision ${r.rev} follows revision ${chain.lastRevision}: revisions ${chain.lastRevision + 1}–${r.rev - 1} are missing`
          : `revision ${r.rev} follows revision ${chain.lastRevision}: revisions go back`,
      );
    const problem = replayProblem(chain.state, r);
    if (problem) fail(problem);
    applyRecord(chain.state, r);
    chain.lastRevision = r.rev;
    records.push(r);
    end = line.end;
  }
  return { records, end, tail: undefined };
}

/** What {@link loadStore} read. */
export interface LoadedStore {
  state: KvState;
  compactRevision: number;
  /** The snapshot's revision (0 when there is none). */
  snapshotRevision: number;
  /** Every record of the log, history (at or below the snapshot) included, in order. */
  records: LogRecord[];
  /** The log's bytes that hold complete, valid records. */
  end: number;
  chain: LogChain;
  tail: TornTail | undefined;
  /** `snapshot.json` does not exist (a new store, or a format 1 store never compacted). */
  snapshotMissing: boolean;
  /** Some file is in format 1 (no checksums) and should be rewritten. */
  legacy: boolean;
}

/**
 * Reads a store from its files' bytes (`undefined` = the file does not exist) by the rules
 * in this module's header; throws {@link StoreCorruptError} at the first damage.
 */
export function loadStore(snapshotBytes: Uint8Array | undefined, logBytes: Uint8Array | undefined, paths: StorePaths): LoadedStore {
  const lines = logBytes ? scanLog(logBytes) : [];
  let snapshot: Snapshot = { revision: 0, compactRevision: 0, kvs: [] };
  let snapshotFormat: RecordFormat | undefined;
  if (snapshotBytes) ({ snapshot, format: snapshotFormat } = decodeSnapshot(snapshotBytes, paths));
  else {
    const first = lines[0];
    const onlyTorn = lines.length === 0 || (lines.length === 1 && isTornTail(first!));
    if (!onlyTorn && !(first?.ok && first.format === 'legacy' && first.record.rev === 1))
      throw new StoreCorruptError(
        paths.dir,
        paths.snapshot,
        0,
        `the snapshot is missing but ${paths.log} holds records${first?.ok ? ` from revision ${first.record.rev}` : ''}: the state before them is gone`,
      );
  }
  if (!logBytes && snapshot.revision > 0)
    throw new StoreCorruptError(paths.dir, paths.log, 0, `the log is missing behind a snapshot at revision ${snapshot.revision}`);
  const chain: LogChain = { state: stateOf(snapshot), snapshotRevision: snapshot.revision, lastRevision: undefined, format: undefined };
  const { records, end, tail } = followLog(lines, chain, paths);
  if (chain.lastRevision !== undefined && chain.lastRevision < snapshot.revision)
    throw new StoreCorruptError(
      paths.dir,
      paths.log,
      end ?? 0,
      `the log ends at revision ${chain.lastRevision}, before the snapshot's revision ${snapshot.revision}: its last records are missing`,
    );
  return {
    state: chain.state,
    compactRevision: snapshot.compactRevision,
    snapshotRevision: snapshot.revision,
    records,
    end: end ?? 0,
    chain,
    tail,
    snapshotMissing: snapshotBytes === undefined,
    legacy: snapshotFormat === 'legacy' || chain.format === 'legacy',
  };
}

/** An empty {@link KvState} (re-exported for the repair module). */
export { emptyState };

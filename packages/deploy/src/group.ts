/**
 * Running one operation on many hosts: a concurrency limit, rolling batches with a health
 * check between them, a failure budget, and one result with an entry per host.
 */
import PQueue from 'p-queue';
import type { Connection, PutOptions, PutResult, RunOptions, SudoOptions } from './connection.js';
import { isUnreachableError } from './connection.js';
import { GroupError, badOption, type CommandResult } from './errors.js';

/** What happened on one host: `ok`; `failed` (the operation threw); `unreachable` (could not connect, or its host key was refused); `skipped` (never started because the run stopped). */
export type HostOutcome = 'ok' | 'failed' | 'unreachable' | 'skipped';
/** @deprecated Renamed {@link HostOutcome} (issue 18: `HostStatus` is also `@flotilla/cluster`'s Host resource status). */
export type HostStatus = HostOutcome;

/** One host's outcome. */
export interface HostResult<T = unknown> {
  host: string;
  status: HostOutcome;
  /** Wall time on this host (0 when skipped). */
  durationMs: number;
  /** Why it failed, was unreachable or was skipped. */
  error?: Error;
  /** What the operation returned, when ok. */
  value?: T;
}

/** Every host's outcome, in the order the hosts were given. */
export interface GroupResult<T = unknown> {
  hosts: HostResult<T>[];
  /** True when every host is `ok`. */
  ok: boolean;
  succeeded: HostResult<T>[];
  /** `failed` and `unreachable` hosts. */
  failed: HostResult<T>[];
  skipped: HostResult<T>[];
}

/** A count or a percentage of the hosts, e.g. `3` or `'25%'`. */
export type CountOrPercent = number | `${number}%`;

/** How a group runs. */
export interface GroupOptions {
  /** Hosts worked on at once (`--parallel N`). @default 64 */
  parallel?: number;
  /** One host at a time (`--serial`); same as `parallel: 1`. @default false */
  serial?: boolean;
  /** Rolling batches (`--batch N|P%`): the next batch starts when the previous one is done and healthy. @default all hosts in one batch */
  batch?: CountOrPercent;
  /** Pause between batches (`--batch-wait`). @default 0 */
  batchWaitMs?: number;
  /**
   * Failure budget (`--max-fail N|P%`): once more hosts have failed (or were unreachable) than
   * this, no new host is started; hosts not started are `skipped`. Hosts already running finish.
   * A percentage is of all hosts, rounded down. @default 0
   */
  maxFail?: CountOrPercent;
  /** Checked after each batch except the last; throwing stops the rollout (remaining hosts `skipped`). */
  healthCheck?: (batch: HostResult[], batchIndex: number) => void | Promise<void>;
  /** Stops starting hosts; running operations get the signal through their own options. */
  signal?: AbortSignal;
  /** Called when a host starts and when it is done (live progress). */
  onHostStart?: (host: string) => void;
  onHostDone?: (result: HostResult) => void;
  /** Called when a batch starts. */
  onBatch?: (batchIndex: number, hosts: string[]) => void;
}

function countOf(name: string, v: CountOrPercent, total: number, min: number): number {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < min) badOption(name, `an integer >= ${min} or a percentage like '25%'`, v);
    return v;
  }
  const m = /^(\d+(?:\.\d+)?)%$/.exec(String(v));
  if (!m) badOption(name, `an integer >= ${min} or a percentage like '25%'`, v);
  const pct = Number(m[1]);
  if (pct > 100) badOption(name, 'a percentage up to 100%', v);
  return Math.floor((total * pct) / 100);
}

/** Parses `--batch`/`--max-fail` text: `3` or `25%`. */
export function parseCountOrPercent(name: string, text: string): CountOrPercent {
  if (/^\d+$/.test(text)) return Number(text);
  if (/^\d+(?:\.\d+)?%$/.test(text)) return text as `${number}%`;
  badOption(name, "an integer or a percentage like '25%'", text);
}

/**
 * Runs `fn` for every host under the group's policy and returns one {@link GroupResult}.
 * It never throws for a host's failure (see {@link throwIfFailed}).
 *
 * Semantics: hosts are split into batches (`batch`, default all). Within a batch at most
 * `parallel` hosts run at once, in the given order. Before a host starts, if the number of
 * failed + unreachable hosts exceeds `maxFail`, the host is skipped instead. After a batch
 * (not the last), the run stops if failures exceed `maxFail` or `healthCheck` throws, then
 * waits `batchWaitMs`.
 */
export async function runOnHosts<T>(hosts: readonly string[], fn: (host: string, index: number) => Promise<T>, options: GroupOptions = {}): Promise<GroupResult<T>> {
  const total = hosts.length;
  const parallel = options.serial ? 1 : (options.parallel ?? 64);
  if (!Number.isInteger(parallel) || parallel < 1) badOption('parallel', 'an integer >= 1', options.parallel);
  const maxFail = countOf('maxFail', options.maxFail ?? 0, total, 0);
  const batchSize = options.batch === undefined ? Math.max(total, 1) : Math.max(1, countOf('batch', options.batch, total, 1));
  const results: HostResult<T>[] = hosts.map((host) => ({ host, status: 'skipped', durationMs: 0 }));
  let failures = 0;
  let stopReason: Error | undefined;
  const stopped = (): boolean => failures > maxFail || stopReason !== undefined || options.signal?.aborted === true;

  for (let b = 0, bi = 0; b < total; b += batchSize, bi++) {
    if (stopped()) break;
    const idx = Array.from({ length: Math.min(batchSize, total - b) }, (_, k) => b + k);
    options.onBatch?.(bi, idx.map((i) => hosts[i]!));
    const queue = new PQueue({ concurrency: parallel });
    for (const i of idx) {
      void queue.add(async () => {
        if (stopped()) {
          results[i]!.error = new Error(
            options.signal?.aborted ? 'aborted' : stopReason ? `not started: ${stopReason.message}` : `not started: failures exceeded --max-fail ${maxFail}`,
          );
          return;
        }
        const host = hosts[i]!;
        options.onHostStart?.(host);
        const start = performance.now();
        try {
          const value = await fn(host, i);
          results[i] = { host, status: 'ok', durationMs: Math.round(performance.now() - start), value };
        } catch (e) {
          failures++;
          const error = e instanceof Error ? e : new Error(String(e));
          results[i] = { host, status: isUnreachableError(e) ? 'unreachable' : 'failed', durationMs: Math.round(performance.now() - start), error };
        }
        options.onHostDone?.(results[i]);
      });
    }
    await queue.onIdle();
    const last = b + batchSize >= total;
    if (last || stopped()) continue;
    if (options.healthCheck) {
      try {
        await options.healthCheck(
          idx.map((i) => results[i]!),
          bi,
        );
      } catch (e) {
        stopReason = new Error(`health check after batch ${bi + 1} failed: ${(e as Error).message}`, { cause: e });
      }
    }
    if (!stopped() && options.batchWaitMs) await new Promise((r) => setTimeout(r, options.batchWaitMs));
  }
  for (const r of results) {
    if (r.status === 'skipped' && !r.error) r.error = new Error(stopReason ? `not started: ${stopReason.message}` : `not started: failures exceeded --max-fail ${maxFail}`);
  }
  return summarize(results);
}

function summarize<T>(hosts: HostResult<T>[]): GroupResult<T> {
  const failed = hosts.filter((h) => h.status === 'failed' || h.status === 'unreachable');
  const skipped = hosts.filter((h) => h.status === 'skipped');
  return { hosts, ok: failed.length === 0 && skipped.length === 0, succeeded: hosts.filter((h) => h.status === 'ok'), failed, skipped };
}

/** Throws a {@link GroupError} carrying the result when any host failed, was unreachable or skipped. */
export function throwIfFailed<T>(result: GroupResult<T>): GroupResult<T> {
  if (!result.ok) throw new GroupError(result);
  return result;
}

/** The `-o json` summary shape: `{"hosts":[{"host","status","durationMs","error"?}]}`. */
export function groupResultJson(result: GroupResult): { hosts: { host: string; status: HostOutcome; durationMs: number; error?: string }[] } {
  return {
    hosts: result.hosts.map((h) => ({
      host: h.host,
      status: h.status,
      durationMs: h.durationMs,
      ...(h.status === 'ok' || !h.error ? {} : { error: h.error.message }),
    })),
  };
}

/**
 * Several {@link Connection}s under one {@link GroupOptions} policy. Every method returns
 * the {@link GroupResult} when all hosts succeeded, and throws a {@link GroupError} carrying
 * it otherwise.
 */
export class Group {
  readonly connections: readonly Connection[];
  private readonly options: GroupOptions;
  constructor(connections: readonly Connection[], options: GroupOptions = {}) {
    if (!Array.isArray(connections)) badOption('connections', 'an array of Connection', connections);
    this.connections = connections;
    this.options = options;
  }

  /** Runs `fn` with each host's connection. */
  async each<T>(fn: (c: Connection) => Promise<T>, options: GroupOptions = {}): Promise<GroupResult<T>> {
    const byName = this.connections;
    const result = await runOnHosts(
      byName.map((c) => c.host),
      (_h, i) => fn(byName[i]!),
      { ...this.options, ...options },
    );
    return throwIfFailed(result);
  }

  run(command: string, options: RunOptions = {}): Promise<GroupResult<CommandResult>> {
    return this.each((c) => c.run(command, options));
  }

  sudo(command: string, options: SudoOptions = {}): Promise<GroupResult<CommandResult>> {
    return this.each((c) => c.sudo(command, options));
  }

  put(localPath: string, remotePath: string, options: PutOptions = {}): Promise<GroupResult<PutResult>> {
    return this.each((c) => c.put(localPath, remotePath, options));
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    await Promise.all(this.connections.map((c) => c.close()));
  }
}

// @flotilla/raft/prometheus — a KV member's metrics under etcd's names (etcd_ → flotilla_),
// so etcd dashboards and alerts carry over: pass `kvServerMetrics()` as `metrics` to
// startKvServer and scrape `/metrics` on the client port.
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { KvServerMetrics } from '../server/kv-server.js';
import type { RaftKvNode } from '../server/raft-kv-node.js';

/**
 * The part of prom-client's `Registry` used here (a prom-client `Registry` is one); declared
 * here so these types never need prom-client's, which is an optional peer.
 */
export interface PromRegistry {
  metrics(): Promise<string>;
  readonly contentType: string;
}

/** Options of {@link kvServerMetrics}. */
export interface KvServerMetricsOptions {
  /** Where the metrics are registered: a prom-client `Registry`. @default a new Registry (one per member) */
  registry?: PromRegistry;
  /** Also register prom-client's process and Node.js metrics (`process_*`, `nodejs_*`), as etcd exposes `process_*`. @default true */
  processMetrics?: boolean;
}

/**
 * prom-client, loaded on first use (an optional peer dependency, CommonJS): importing this
 * sub-path never fails; using it without prom-client says how to fix that.
 */
function prom(): typeof PromClient {
  try {
    return createRequire(import.meta.url)('prom-client') as typeof PromClient;
  } catch (cause) {
    throw new Error('@flotilla/raft/prometheus needs prom-client: npm i prom-client', { cause });
  }
}

/** etcd's buckets of `disk_wal_fsync_duration_seconds`: 1 ms to 8 s, doubling. */
const FSYNC_BUCKETS = Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i);

/**
 * Metrics of one KV member, etcd's set under the `flotilla_` prefix:
 *
 * - `flotilla_server_has_leader` (1 when a leader is known), `flotilla_server_is_leader`,
 *   `flotilla_server_leader_changes_seen_total` (each new leader this member saw, the first included);
 * - `flotilla_server_proposals_committed_total` and `flotilla_server_proposals_applied_total`:
 *   gauges of the commit and applied index, as etcd's are;
 * - `flotilla_disk_wal_fsync_duration_seconds` (histogram, etcd's buckets);
 * - `flotilla_mvcc_put_total`, `flotilla_mvcc_delete_total` (keys written and deleted by
 *   applied commands), `flotilla_debugging_mvcc_keys_total`,
 *   `flotilla_debugging_mvcc_current_revision`, `flotilla_debugging_mvcc_compact_revision`;
 * - `flotilla_server_id` and `flotilla_server_term`;
 * - with `processMetrics`, prom-client's `process_*` and `nodejs_*`.
 *
 * One object per member (it follows the node it is attached to).
 */
export function kvServerMetrics(options: KvServerMetricsOptions = {}): KvServerMetrics & { readonly registry: PromRegistry } {
  const { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } = prom();
  const registry = (options.registry as PromClient.Registry | undefined) ?? new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let node: RaftKvNode | undefined;
  let lastLeader = 0;
  const status = () => node?.status();

  new Gauge({
    name: 'flotilla_server_has_leader',
    help: 'Whether a leader exists: 1 when this member knows one, 0 when it does not.',
    registers,
    collect() {
      this.set((status()?.leader ?? 0) !== 0 ? 1 : 0);
    },
  });
  new Gauge({
    name: 'flotilla_server_is_leader',
    help: 'Whether this member is the leader: 1 if it is, 0 otherwise.',
    registers,
    collect() {
      this.set(node?.isLeader() ? 1 : 0);
    },
  });
  const leaderChanges = new Counter({ name: 'flotilla_server_leader_changes_seen_total', help: 'The number of leader changes seen by this member.', registers });
  new Gauge({
    name: 'flotilla_server_proposals_committed_total',
    help: 'The total number of consensus proposals committed (the commit index).',
    registers,
    collect() {
      this.set(status()?.commitIndex ?? 0);
    },
  });
  new Gauge({
    name: 'flotilla_server_proposals_applied_total',
    help: 'The total number of consensus proposals applied (the applied index).',
    registers,
    collect() {
      this.set(status()?.appliedIndex ?? 0);
    },
  });
  new Gauge({
    name: 'flotilla_server_id',
    help: 'The id of this member, as the value of a gauge.',
    registers,
    collect() {
      this.set(node?.id ?? 0);
    },
  });
  new Gauge({
    name: 'flotilla_server_term',
    help: 'The Raft term this member is in.',
    registers,
    collect() {
      this.set(status()?.term ?? 0);
    },
  });
  const fsync = new Histogram({
    name: 'flotilla_disk_wal_fsync_duration_seconds',
    help: 'The latency distributions of fsync called by the WAL, in seconds.',
    buckets: FSYNC_BUCKETS,
    registers,
  });
  // Counters fed from the state machine's running totals at scrape time (a replaced state
  // machine, after a snapshot install, starts again from zero: counted as a reset).
  const totals = (name: string, help: string, read: (n: RaftKvNode) => number): void => {
    let last = 0;
    new Counter({
      name,
      help,
      registers,
      collect() {
        if (!node) return;
        const cur = read(node);
        this.inc(cur >= last ? cur - last : cur);
        last = cur;
      },
    });
  };
  totals('flotilla_mvcc_put_total', 'Keys written by the commands this member applied.', (n) => n.kv.applied.puts);
  totals('flotilla_mvcc_delete_total', 'Keys deleted by the commands this member applied.', (n) => n.kv.applied.deletes);
  new Gauge({
    name: 'flotilla_debugging_mvcc_keys_total',
    help: 'The number of live keys in the store.',
    registers,
    collect() {
      this.set(node?.kv.size ?? 0);
    },
  });
  new Gauge({
    name: 'flotilla_debugging_mvcc_current_revision',
    help: 'The current revision of the store.',
    registers,
    collect() {
      this.set(node?.kv.revision ?? 0);
    },
  });
  new Gauge({
    name: 'flotilla_debugging_mvcc_compact_revision',
    help: 'The revision of the last compaction of the store.',
    registers,
    collect() {
      this.set(node?.kv.compactRevision ?? 0);
    },
  });

  return {
    registry,
    get contentType() {
      return registry.contentType;
    },
    metrics: () => registry.metrics(),
    walFsync: (seconds) => fsync.observe(seconds),
    attach(n) {
      node = n;
      n.on('leader', (leader: number) => {
        if (leader !== 0 && leader !== lastLeader) leaderChanges.inc();
        if (leader !== 0) lastLeader = leader;
      });
    },
  };
}

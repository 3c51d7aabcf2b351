/** startKvServer: a `flo server` member in this process — data directory, bootstrap/join/resume, HTTP API and peer port. */
import http from 'node:http';
import https from 'node:https';
import { ensurePrivateDir } from '@flotilla/sys';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { KvError, isKvError } from '../kv/errors.js';
import { KvClient } from '../client/kv-client.js';
import { createKvRequestListener, type MetricsSource } from './http-api.js';
import { FileStorage } from '../storage/file-storage.js';
import { RaftKvNode } from './raft-kv-node.js';
import { ServerState } from './server-state.js';
import type { MemberRecord } from './server-state.js';

/** TLS for the client API and (with `ca`) mutual TLS between members. PEM contents. */
export interface KvServerTls {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** CA of all members' certificates: enables mutual TLS on the peer port. */
  readonly ca?: string | Buffer;
}

/** Options of {@link startKvServer} (the `flo server` flags). */
export interface KvServerOptions {
  /** Member id (> 0). */
  readonly id: number;
  /** Client API address, `HOST:PORT`. */
  readonly listen: string;
  /** Peer address, `HOST:PORT`. */
  readonly peerListen: string;
  /** Every founding member's peer address by id, this one's included (only used to bootstrap a new cluster). */
  readonly peers?: ReadonlyMap<number, string>;
  /** Data directory; created when missing. */
  readonly data: string;
  /** Client URL of a running member: join that cluster as a learner, then get promoted. */
  readonly join?: string;
  /** Client URL others use to reach this member. @default http(s)://listen */
  readonly advertiseClientUrl?: string;
  /** Peer address others use to reach this member. @default peerListen */
  readonly advertisePeerUrl?: string;
  readonly tls?: KvServerTls;
  /** Bearer token required from clients. @default none */
  readonly token?: string;
  /**
   * Shared secret of the members (`--peer-token-file`): authenticates the peer port by a
   * challenge–response in each connection's hello (never sent). Required when `token` is set
   * and `tls.ca` (mutual TLS between members) is not. @default none
   */
  readonly peerToken?: string;
  /** A backup (`flo kv snapshot save`) to seed a new cluster with. */
  readonly restore?: Uint8Array;
  /** @default 100 */
  readonly tickMs?: number;
  /** @default 10 */
  readonly electionTicks?: number;
  /** Watch history kept by automatic compaction; 0 disables it. @default 10000 */
  readonly autoCompactRevisions?: number;
  /** Snapshot the state and compact the log after this many applied entries. @default 50000 */
  readonly snapshotEntries?: number;
  /** Entries kept behind a snapshot for slow followers (older ones need the snapshot). @default 10000 */
  readonly snapshotCatchUpEntries?: number;
  /** @default 7000 */
  readonly requestTimeoutMs?: number;
  /** @default 5000 */
  readonly progressIntervalMs?: number;
  /** Diagnostics, one line each (never secrets). */
  readonly log?: (line: string) => void;
  /**
   * Metrics of this member, served at `GET /metrics` on the client port (with `/healthz` and
   * `/readyz`, which need nothing). `kvServerMetrics()` of `@flotilla/raft/prometheus` gives
   * etcd's metric names. @default none (`/metrics` answers 404)
   */
  readonly metrics?: KvServerMetrics;
}

/** Observability hooks of a member; see `kvServerMetrics` in `@flotilla/raft/prometheus`. */
export interface KvServerMetrics extends MetricsSource {
  /** Called with the duration of each WAL fsync, in seconds. */
  walFsync?(seconds: number): void;
  /** Called once with the member's node, before it starts: read its status at scrape time, follow its `leader` events. */
  attach?(node: RaftKvNode): void;
}

/** A running member. */
export interface KvServer {
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly node: RaftKvNode;
  /** Resolves with why the member stopped on its own: removed from the cluster, or a fatal storage error. */
  readonly stopped: Promise<{ reason: 'removed' } | { reason: 'fatal'; error: unknown }>;
  close(): Promise<void>;
}

function hostPort(addr: string, what: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const port = Number(addr.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`${what}: expected HOST:PORT, received ${JSON.stringify(addr)}`);
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port };
}

/**
 * Starts a KV member in this process: opens (or creates) the data directory, bootstraps,
 * joins or resumes, then serves the HTTP API and the peer port.
 *
 * - A new data directory with `peers` founds a cluster (every founder gets the same
 *   `peers`); with `join` it joins a running cluster as a learner and asks to be promoted
 *   once caught up; with `restore` the new cluster starts from a backup.
 * - An existing data directory resumes the member (`peers`/`join` are then ignored).
 */
export async function startKvServer(options: KvServerOptions): Promise<KvServer> {
  const log = options.log ?? (() => undefined);
  if (!Number.isSafeInteger(options.id) || options.id <= 0) throw new TypeError(`id: expected a positive integer, received ${String(options.id)}`);
  const listen = hostPort(options.listen, 'listen');
  hostPort(options.peerListen, 'peerListen');
  if (options.token !== undefined && options.tls?.ca === undefined && options.peerToken === undefined) {
    throw new KvError(
      'bad-request',
      `clients must send a token, but the peer port ${options.peerListen} would accept any connection (anyone reaching it could write without the token). ` +
        'Authenticate members too: give every member the same --peer-token-file FILE, or --tls-ca FILE (mutual TLS between members)',
    );
  }
  if (options.peerToken?.length === 0) throw new KvError('bad-request', 'the peer token is empty');
  const peerUrl = options.advertisePeerUrl ?? options.peerListen;
  if (peerUrl.startsWith('0.0.0.0:')) throw new TypeError('advertisePeerUrl: required when peerListen is 0.0.0.0');
  // The data directory holds user values: 0700 whatever the umask (an older, looser one is tightened).
  const onWarning = (m: string): void => log(`warning: ${m}`);
  ensurePrivateDir(options.data, onWarning);
  const metrics = options.metrics;
  const storage = await FileStorage.open(path.join(options.data, 'raft'), {
    onWarning,
    ...(metrics?.walFsync ? { onWalFsync: (s: number) => metrics.walFsync?.(s) } : {}),
  });
  let initialPeers = new Map<number, string>();
  let joining = false;
  try {
    if (storage.isNew) {
      if (options.join) {
        initialPeers = await joinCluster(options, peerUrl, log);
        joining = true;
      } else {
        const peers = options.peers;
        if (!peers || peers.size === 0) throw new KvError('bad-request', 'a new member needs --peers (to found a cluster) or --join (to join one)');
        if (peers.get(options.id) === undefined) throw new KvError('bad-request', `--peers must list this member (${options.id}) too`);
        const members = new Map<number, MemberRecord>([...peers].map(([id, addr]) => [id, { peerUrl: id === options.id ? peerUrl : addr, clientUrl: '' }]));
        const kv = options.restore ? ServerState.decode(options.restore).kv : undefined;
        await storage.bootstrap({ voters: [...peers.keys()].sort((a, b) => a - b), learners: [] }, ServerState.initial(members, kv));
        log(`member ${options.id}: founded a new cluster of ${peers.size}${options.restore ? ' from a backup' : ''}`);
      }
    } else {
      if (options.restore) throw new KvError('bad-request', `${options.data} already holds a member's state; --restore needs a new --data directory`);
      log(`member ${options.id}: resuming from ${options.data}`);
    }
  } catch (err) {
    await storage.close();
    throw err;
  }

  const peerTls = options.tls?.ca ? { cert: options.tls.cert, key: options.tls.key, ca: options.tls.ca } : undefined;
  const node = new RaftKvNode({
    id: options.id,
    storage,
    peerListen: options.peerListen,
    advertisePeerUrl: peerUrl,
    initialPeers,
    ...(peerTls ? { peerTls } : {}),
    ...(options.peerToken !== undefined ? { peerSecret: Buffer.from(options.peerToken, 'utf8') } : {}),
    ...(options.tickMs !== undefined ? { tickMs: options.tickMs } : {}),
    ...(options.electionTicks !== undefined ? { electionTicks: options.electionTicks } : {}),
    ...(options.autoCompactRevisions !== undefined ? { autoCompactRevisions: options.autoCompactRevisions } : {}),
    ...(options.snapshotEntries !== undefined ? { snapshotEntries: options.snapshotEntries } : {}),
    ...(options.snapshotCatchUpEntries !== undefined ? { snapshotCatchUpEntries: options.snapshotCatchUpEntries } : {}),
    ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    log,
  });
  metrics?.attach?.(node);
  const listener = createKvRequestListener(node, {
    ...(metrics ? { metrics } : {}),
    ...(options.token !== undefined ? { token: options.token } : {}),
    ...(options.progressIntervalMs !== undefined ? { progressIntervalMs: options.progressIntervalMs } : {}),
    ...(options.tls?.ca ? { forwardCa: options.tls.ca } : {}),
  });
  const server = options.tls
    ? https.createServer({ cert: options.tls.cert, key: options.tls.key, noDelay: true }, listener)
    : http.createServer({ noDelay: true }, listener);
  server.keepAliveTimeout = 30_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await storage.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const scheme = options.tls ? 'https' : 'http';
  const host = listen.host === '0.0.0.0' || listen.host === '::' ? '127.0.0.1' : listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const clientUrl = options.advertiseClientUrl ?? `${scheme}://${host}:${port}`;
  node.setClientUrl(clientUrl);
  try {
    await node.start();
  } catch (err) {
    server.close();
    await storage.close();
    throw err;
  }
  log(`member ${options.id}: serving clients on ${clientUrl}, peers on ${peerUrl}`);

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    // In-flight requests get a moment to finish (e.g. the one that removed this member).
    const done = new Promise((r) => server.close(r));
    server.closeIdleConnections();
    await Promise.race([done, new Promise((r) => setTimeout(r, 1500).unref())]);
    server.closeAllConnections();
    await done;
    await node.stop();
  };
  const stopped = new Promise<{ reason: 'removed' } | { reason: 'fatal'; error: unknown }>((resolve) => {
    node.once('removed', () => resolve({ reason: 'removed' }));
    node.once('fatal', (error: unknown) => resolve({ reason: 'fatal', error }));
  });
  if (joining || options.join) void promoteWhenReady(options, node, () => closed, log);
  return { clientUrl, peerUrl, node, stopped, close };
}

function clientFor(options: KvServerOptions): KvClient {
  return new KvClient({
    endpoints: [options.join!],
    ...(options.token !== undefined ? { token: options.token } : {}),
    ...(options.tls?.ca ? { ca: options.tls.ca } : {}),
    retryWindowMs: 60_000,
  });
}

async function joinCluster(options: KvServerOptions, peerUrl: string, log: (l: string) => void): Promise<Map<number, string>> {
  const client = clientFor(options);
  try {
    try {
      await client.addMember(options.id, peerUrl, true);
      log(`member ${options.id}: added to the cluster at ${options.join} as a learner`);
    } catch (err) {
      if (!(isKvError(err) && err.code === 'member-exists')) throw err;
      log(`member ${options.id}: already a member of the cluster at ${options.join}`);
    }
    const members = await client.members();
    return new Map(members.filter((m) => m.id !== options.id).map((m) => [m.id, m.peerUrl]));
  } finally {
    client.close();
  }
}

async function promoteWhenReady(options: KvServerOptions, node: RaftKvNode, isClosed: () => boolean, log: (l: string) => void): Promise<void> {
  const client = clientFor(options);
  try {
    while (!isClosed()) {
      const me = node.members().find((m) => m.id === options.id);
      if (me && !me.learner) return;
      if (me?.learner) {
        try {
          await client.promoteMember(options.id);
          log(`member ${options.id}: promoted to voter`);
          return;
        } catch (err) {
          if (isKvError(err) && err.code === 'member-not-found') return;
          // learner-not-ready or a transient failure: try again shortly.
        }
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    client.close();
  }
}

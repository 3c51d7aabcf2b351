/**
 * `flo server`: a member of a replicated Raft KV store (bootstrap, join or resume), or a local
 * dev cluster.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../cli/args.js';
import type { CommandContext, CommandModule } from '../cli/registry.js';
import { readSecretFile, readTokenFile } from '../cli/secret-file.js';
import { loggerFor, logOptions } from '../observability/log.js';

function str(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.args.options[name];
  if (Array.isArray(v)) return v[v.length - 1];
  return typeof v === 'string' ? v : undefined;
}

function int(ctx: CommandContext, name: string, min: number): number | undefined {
  const v = str(ctx, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`--${name} ${v}: expected an integer ≥ ${min}`);
  return Number(v);
}

function hostPort(v: string, name: string): string {
  if (!/^(\[[0-9a-fA-F:]+\]|[^\s:/]+):\d{1,5}$/.test(v)) throw new UsageError(`--${name} ${v}: expected HOST:PORT`);
  return v;
}

/** Parses `1=HOST:PORT,2=HOST:PORT`. */
export function parsePeers(v: string): Map<number, string> {
  const peers = new Map<number, string>();
  for (const part of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)=(.+)$/.exec(part);
    if (!m || Number(m[1]) <= 0) throw new UsageError(`--peers: expected ID=HOST:PORT,…, got ${JSON.stringify(part)}`);
    if (peers.has(Number(m[1]))) throw new UsageError(`--peers: member ${m[1]} is listed twice`);
    peers.set(Number(m[1]), hostPort(m[2]!.replace(/^tcp:\/\//, ''), 'peers'));
  }
  if (peers.size === 0) throw new UsageError('--peers: expected ID=HOST:PORT,…');
  return peers;
}

function shiftPort(addr: string, by: number): string {
  const i = addr.lastIndexOf(':');
  return `${addr.slice(0, i)}:${Number(addr.slice(i + 1)) + by}`;
}

export const command: CommandModule = {
  usage: 'server --id N --listen HOST:PORT --peer-listen HOST:PORT --peers 1=HOST:PORT,2=… --data DIR [--log-format text|json] [--log-level LEVEL]\n       flo server --id N --listen … --peer-listen … --join CLIENT_URL --data DIR\n       flo server --dev-cluster 3 --data DIR',
  formats: ['text'], // prints no objects: -o is refused (exit 2)
  description: [
    'Runs a member of the replicated KV store in this process (its PID is the one to signal).',
    'A new --data directory founds a cluster with --peers (every member\'s peer address, this one\'s included),',
    'joins a running one with --join (added as a learner, caught up, then promoted), or starts from a backup with',
    '--restore FILE (give every founding member the same file). An existing --data directory resumes the member;',
    '--peers is then ignored. SIGINT/SIGTERM stop it cleanly. --dev-cluster N runs N members on loopback in one',
    'process (client ports from --listen, default 127.0.0.1:2479, peer ports one above each), data in DIR/mN.',
    'The peer port is authenticated whenever clients are: with --token-file, give every member the same',
    '--peer-token-file (challenge–response; the secret never crosses the wire) or --tls-ca (mutual TLS); a member',
    'with --token-file and neither refuses to start. --dev-cluster members share a random secret instead.',
  ].join('\n'),
  deployOptions: false,
  options: [
    { name: 'id', type: 'string', value: 'N', description: 'member id (a positive integer)' },
    { name: 'listen', type: 'string', value: 'HOST:PORT', description: 'client API address (default 127.0.0.1:2479)' },
    { name: 'peer-listen', type: 'string', value: 'HOST:PORT', description: 'peer address (default 127.0.0.1:2480)' },
    { name: 'peers', type: 'string', value: '1=H:P,2=H:P', description: 'every founding member\'s peer address (bootstraps a new cluster)' },
    { name: 'data', type: 'string', value: 'DIR', description: 'data directory (created when missing)' },
    { name: 'join', type: 'string', value: 'CLIENT_URL', description: 'join the cluster of this member as a learner' },
    { name: 'advertise-client-url', type: 'string', value: 'URL', description: 'client URL others use (needed when listening on 0.0.0.0)' },
    { name: 'advertise-peer-url', type: 'string', value: 'HOST:PORT', description: 'peer address others use (needed when listening on 0.0.0.0)' },
    { name: 'tls-cert', type: 'string', value: 'FILE', description: 'certificate (PEM) for the client API and peers' },
    { name: 'tls-key', type: 'string', value: 'FILE', description: 'private key (PEM) of --tls-cert' },
    { name: 'tls-ca', type: 'string', value: 'FILE', description: 'CA (PEM) of the members\' certificates: mutual TLS between peers' },
    { name: 'token-file', type: 'string', value: 'FILE', description: 'file holding the bearer token clients must send' },
    { name: 'peer-token-file', type: 'string', value: 'FILE', description: 'file holding the secret every member shares: authenticates the peer port (needed with --token-file unless --tls-ca)' },
    { name: 'restore', type: 'string', value: 'FILE', description: 'found the new cluster from this backup (flo kv snapshot save)' },
    { name: 'auto-compact-revisions', type: 'string', value: 'N', description: 'keep N revisions of watch history (default 10000; 0 disables automatic compaction)' },
    { name: 'dev-cluster', type: 'string', value: 'N', description: 'run N members on loopback in this process (development)' },
    ...logOptions,
    { name: 'tick-ms', type: 'string', value: 'MS', description: 'Raft tick (default 100; elections after 10–20 ticks)' },
  ],
  async run(ctx) {
    if (ctx.args.positionals.length) throw new UsageError(`server takes no arguments (got ${ctx.args.positionals.join(' ')})`);
    const log = loggerFor(ctx, 'flo server');
    const data = str(ctx, 'data');
    if (!data) throw new UsageError('--data DIR is required');
    const read = (name: string): Buffer | undefined => {
      const f = str(ctx, name);
      if (f === undefined) return undefined;
      try {
        return readFileSync(path.resolve(ctx.cwd, f));
      } catch (e) {
        throw new UsageError(`--${name} ${f}: ${(e as Error).message}`);
      }
    };
    const cert = read('tls-cert');
    const keyFile = str(ctx, 'tls-key');
    const key = keyFile !== undefined ? readSecretFile(ctx.cwd, 'tls-key', keyFile) : undefined;
    const ca = read('tls-ca');
    if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
    if (ca && !cert) throw new UsageError('--tls-ca needs --tls-cert and --tls-key');
    // Both secrets go through the one secret-file reader (and the checks it applies).
    const readToken = (name: 'token-file' | 'peer-token-file'): string | undefined => {
      const file = str(ctx, name);
      return file !== undefined ? readTokenFile(ctx.cwd, name, file) : undefined;
    };
    const token = readToken('token-file');
    let peerToken = readToken('peer-token-file');
    const dev = int(ctx, 'dev-cluster', 1);
    if (token !== undefined && ca === undefined && peerToken === undefined) {
      if (dev === undefined) {
        throw new UsageError(
          '--token-file makes clients authenticate, but the peer port would accept anyone (who could then write without the token). ' +
            'Give every member the same --peer-token-file FILE (a shared secret, e.g. `head -c 32 /dev/urandom | base64 > peer.token; chmod 600 peer.token`), ' +
            'or --tls-ca FILE with --tls-cert/--tls-key for mutual TLS between members',
        );
      }
      // The dev cluster's members all live in this process: they share a fresh secret, never written anywhere.
      peerToken = randomBytes(32).toString('base64');
      log.info('dev cluster members authenticate each other with a random peer secret (this process only)');
    }
    const restore = read('restore');
    const common = {
      ...(cert && key ? { tls: { cert, key, ...(ca ? { ca } : {}) } } : {}),
      ...(token ? { token } : {}),
      ...(peerToken ? { peerToken } : {}),
      ...(int(ctx, 'auto-compact-revisions', 0) !== undefined ? { autoCompactRevisions: int(ctx, 'auto-compact-revisions', 0)! } : {}),
      ...(int(ctx, 'tick-ms', 1) !== undefined ? { tickMs: int(ctx, 'tick-ms', 1)! } : {}),
      log: (line: string) => (line.startsWith('warning: ') ? log.warn(line.slice('warning: '.length)) : log.info(line)),
    };
    const [{ startKvServer }, { kvServerMetrics }] = await Promise.all([import('@flotilla/raft/server'), import('@flotilla/raft/prometheus')]);
    const listen = hostPort(str(ctx, 'listen') ?? '127.0.0.1:2479', 'listen');
    const servers: { close(): Promise<void>; stopped: Promise<{ reason: string; error?: unknown }> }[] = [];
    if (dev !== undefined) {
      for (const name of ['id', 'peers', 'join', 'peer-listen']) if (str(ctx, name) !== undefined) throw new UsageError(`--dev-cluster cannot be combined with --${name}`);
      const base = Number(listen.slice(listen.lastIndexOf(':') + 1));
      if (base === 0 || base + 2 * dev > 65535) throw new UsageError(`--dev-cluster needs --listen with a fixed port and ${2 * dev} free ports from it (got ${listen})`);
      const peers = new Map(Array.from({ length: dev }, (_, i) => [i + 1, shiftPort(listen, 2 * i + 1)] as const));
      for (let i = 0; i < dev; i++) {
        servers.push(
          await startKvServer({ ...common, metrics: kvServerMetrics(), id: i + 1, listen: shiftPort(listen, 2 * i), peerListen: peers.get(i + 1)!, peers, data: path.join(path.resolve(ctx.cwd, data), `m${i + 1}`), ...(restore ? { restore } : {}) }),
        );
      }
      const urls = Array.from({ length: dev }, (_, i) => `${cert ? 'https' : 'http'}://${shiftPort(listen, 2 * i)}`).join(',');
      log.info(`dev cluster of ${dev} up; try: flo kv put hello world --endpoints ${urls}`, { endpoints: urls });
    } else {
      const idText = str(ctx, 'id');
      if (idText === undefined || !/^\d+$/.test(idText) || Number(idText) <= 0) throw new UsageError('--id N is required (a positive integer)');
      const peersText = str(ctx, 'peers');
      const join = str(ctx, 'join');
      if (join !== undefined && !/^https?:\/\//.test(join)) throw new UsageError(`--join ${join}: expected a client URL (http://HOST:PORT)`);
      const advertiseClient = str(ctx, 'advertise-client-url');
      const advertisePeer = str(ctx, 'advertise-peer-url');
      if (/^(0\.0\.0\.0|\[::\]):/.test(str(ctx, 'peer-listen') ?? '') && !advertisePeer) {
        throw new UsageError('--advertise-peer-url HOST:PORT is required when --peer-listen is 0.0.0.0');
      }
      if (advertiseClient !== undefined && !/^https?:\/\//.test(advertiseClient)) throw new UsageError(`--advertise-client-url ${advertiseClient}: expected http(s)://HOST:PORT`);
      servers.push(
        await startKvServer({
          ...common,
          metrics: kvServerMetrics(),
          id: Number(idText),
          listen,
          peerListen: hostPort(str(ctx, 'peer-listen') ?? '127.0.0.1:2480', 'peer-listen'),
          data: path.resolve(ctx.cwd, data),
          ...(peersText ? { peers: parsePeers(peersText) } : {}),
          ...(join ? { join } : {}),
          ...(advertiseClient ? { advertiseClientUrl: advertiseClient } : {}),
          ...(advertisePeer ? { advertisePeerUrl: hostPort(advertisePeer.replace(/^tcp:\/\//, ''), 'advertise-peer-url') } : {}),
          ...(restore ? { restore } : {}),
        }),
      );
    }
    const outcome = await new Promise<{ reason: string; error?: unknown }>((resolve) => {
      const onSignal = (sig: string) => () => resolve({ reason: sig });
      process.once('SIGINT', onSignal('SIGINT'));
      process.once('SIGTERM', onSignal('SIGTERM'));
      for (const s of servers) void s.stopped.then(resolve);
    });
    for (const s of servers) await s.close();
    if (outcome.reason === 'fatal') {
      log.error(`stopped: ${outcome.error instanceof Error ? outcome.error.message : String(outcome.error)}`, { error: outcome.error });
      return 1;
    }
    log.info(`stopped (${outcome.reason})`, { reason: outcome.reason });
    return 0;
  },
};

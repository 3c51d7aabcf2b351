/**
 * Shared plumbing of the cluster commands (apply, get, describe, scale, rollout, logs,
 * cordon, uncordon, drain, delete, controller, demo): `--store`, `--ssh-config`, output
 * formats, the store and the runtime. Loads @flotilla/cluster only when a command runs.
 */
import path from 'node:path';
import { rootCertificates } from 'node:tls';
import type * as Cluster from '@flotilla/cluster';
import { UsageError, type OptionSpec } from './args.js';
import type { CommandContext } from './registry.js';
import { isVerbose } from './global-options.js';
import { canonicalKind } from './kinds.js';
import { storeCredentialOptions, storeCredentials } from './store-credentials.js';
import { trackMethods, waitingNotice } from './waiting.js';
import { colorsFor, type Colors } from '../output/colors.js';

/** `--request-timeout SECONDS`: how long a call to a flotilla:// store (or `flo kv` endpoints) may keep retrying. */
export const requestTimeoutOption: OptionSpec = {
  name: 'request-timeout',
  type: 'string',
  value: 'SECONDS',
  description: 'give up on an unreachable store or endpoint after this long, naming every endpoint tried (default 10)',
};

/**
 * Client options for the Flotilla KV from `--request-timeout`: one deadline per call, and a
 * stderr line the first time each endpoint fails (`flo: trying URL (why); retrying until N s`),
 * so an unreachable store is never a silent wait.
 */
export function kvRetryOptions(ctx: CommandContext): { requestTimeoutMs: number; retryWindowMs: number; onRetry: (info: { endpoint: string; reason: string; attempt: number }) => void } {
  const ms = secondsOption(ctx, 'request-timeout', 10_000);
  if (ms <= 0) throw new UsageError('--request-timeout: expected more than 0 seconds');
  const told = new Set<string>();
  const verbose = isVerbose(ctx.args, ctx.env);
  return {
    requestTimeoutMs: ms,
    retryWindowMs: ms,
    onRetry({ endpoint, reason, attempt }) {
      if (told.has(endpoint) && !verbose) return;
      told.add(endpoint);
      ctx.stderr.write(`flo: trying ${endpoint} (${reason}); retrying until ${ms / 1000} s${verbose ? ` (retry ${attempt + 1})` : ''}\n`);
    },
  };
}

/** Options every cluster command takes. */
export const clusterOptions: readonly OptionSpec[] = [
  { name: 'store', type: 'string', value: 'URL', description: 'the desired state: file:///abs/dir, flotilla://h:p,…, etcd://h:p,… (default $FLO_STORE, else ./.flotilla, created only by a command that writes)' },
  ...storeCredentialOptions,
  requestTimeoutOption,
  { name: 'ssh-config', type: 'string', value: 'FILE', description: 'ssh_config file instead of ~/.ssh/config and /etc/ssh/ssh_config' },
  { name: 'accept-new-host-keys', type: 'boolean', description: 'accept and record unknown host keys (changed keys are always refused)' },
  { name: 'identity', type: 'string', multiple: true, value: 'FILE', description: 'ssh private key file for the hosts, tried first (as in the deploy commands)' },
];

/** `--timeout SECONDS` for the commands that can wait for convergence. */
export const timeoutOption: OptionSpec = { name: 'timeout', type: 'string', value: 'SECONDS', description: 'give up waiting after this long (default 300)' };
/** `--wait` and `--timeout`: converge in this process before returning. */
export const waitOptions: readonly OptionSpec[] = [{ name: 'wait', type: 'boolean', description: 'converge before returning (progress on stderr)' }, timeoutOption];

/**
 * `-l SELECTOR`, checked: bad syntax is a usage error (exit 2) with the parser's message
 * (what was found, what was expected, where). `undefined` when not given.
 */
export async function selectorOption(ctx: CommandContext, name = 'selector'): Promise<string | undefined> {
  const v = stringOption(ctx, name);
  if (v === undefined) return undefined;
  const { parseSelector } = await import('@flotilla/labels');
  try {
    parseSelector(v);
  } catch (e) {
    throw new UsageError(`-l: ${(e as Error).message}`);
  }
  return v;
}

export function stringOption(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.args.options[name];
  if (Array.isArray(v)) return v.at(-1);
  return typeof v === 'string' ? v : undefined;
}

export function listOption(ctx: CommandContext, name: string): string[] {
  const v = ctx.args.options[name];
  if (v === undefined || typeof v === 'boolean') return [];
  return Array.isArray(v) ? v : [v];
}

export function secondsOption(ctx: CommandContext, name: string, fallbackMs: number): number {
  const v = stringOption(ctx, name);
  if (v === undefined) return fallbackMs;
  if (!/^\d+(\.\d+)?$/.test(v)) throw new UsageError(`--${name} ${v}: expected seconds`);
  return Math.round(Number(v) * 1000);
}

/** An open cluster: the store, a runtime (created on first use), colours. */
export interface ClusterSession {
  cluster: typeof Cluster;
  store: Cluster.ClusterStore;
  runtime(): Cluster.DeployRuntime;
  colors: Colors;
  close(): Promise<void>;
}

/** The store a command uses: `--store URL`, else `$FLO_STORE`, else `undefined` (`.flotilla/` in the current directory). */
export function storeUrl(ctx: CommandContext): string | undefined {
  const flag = stringOption(ctx, 'store');
  if (flag !== undefined) return flag;
  const env = ctx.env.FLO_STORE;
  return env !== undefined && env !== '' ? env : undefined;
}

/**
 * Opens the selected store ({@link storeUrl}). `readOnly`: a command that only reads (get,
 * describe, logs, apply --dry-run) never creates a file store; a missing one is a
 * `store-missing` ClusterError (one line, exit 1).
 */
export async function openCluster(ctx: CommandContext, options: { artifactDir?: string; readOnly?: boolean } = {}): Promise<ClusterSession> {
  const cluster = await import('@flotilla/cluster');
  const location = cluster.parseStoreUrl(storeUrl(ctx), ctx.cwd);
  let kv = await cluster.openKvStore(location, {
    ...remoteStoreOptions(ctx),
    ...(options.readOnly === true ? { create: false } : {}),
    file: { onWarning: (m) => void ctx.stderr.write(`flo: warning: ${m}\n`) },
  });
  if (location.type !== 'file') kv = trackStore(ctx, kv, location);
  const store = new cluster.ClusterStore(kv, { artifactDir: options.artifactDir ?? (location.type === 'file' ? path.join(location.dir, 'artifacts') : path.join(ctx.cwd, '.flotilla', 'artifacts')) });
  let runtime: Cluster.DeployRuntime | undefined;
  const sshConfig = stringOption(ctx, 'ssh-config');
  return {
    cluster,
    store,
    colors: colorsFor(ctx.stderr, ctx.env),
    runtime() {
      const keys = listOption(ctx, 'identity').map((f) => path.resolve(ctx.cwd, f));
      runtime ??= new cluster.DeployRuntime({
        ...(sshConfig !== undefined ? { sshConfigFiles: [sshConfig] } : {}),
        ...(keys.length > 0 ? { identityFiles: keys } : {}),
        acceptNewHostKeys: ctx.args.options['accept-new-host-keys'] === true,
        onWarning: (m) => void ctx.stderr.write(`flo: ${m}\n`),
      });
      return runtime;
    },
    async close() {
      await runtime?.close();
      await store.close();
    },
  };
}

/**
 * How the CLI opens a remote store: the credentials ({@link storeCredentials}) and
 * `--request-timeout` for `flotilla://` (the KvClient's deadline and retry notices) and
 * `etcd://` (TLS credentials; the user and password come from the URL; a gRPC deadline per call).
 */
export function remoteStoreOptions(ctx: CommandContext): Cluster.OpenStoreOptions {
  const creds = storeCredentials(ctx);
  const retry = kvRetryOptions(ctx);
  // grpc-js gives Node an IP address as the TLS server name of an etcd endpoint, and Node
  // warns about it on every connection (DEP0123): noise the user cannot act on.
  if (creds.tls && storeUrl(ctx)?.startsWith('etcd://')) process.noDeprecation = true;
  return {
    cwd: ctx.cwd,
    raft: {
      client: {
        ...retry,
        ...(creds.token !== undefined ? { token: creds.token } : {}),
        ...(creds.ca ? { ca: creds.ca } : {}),
        ...(creds.cert && creds.key ? { cert: creds.cert, key: creds.key } : {}),
      },
      scheme: creds.tls ? 'https' : 'http',
    },
    etcd: {
      client: {
        // Without --store-ca the store's certificate must chain to the system's CAs.
        ...(creds.tls ? { credentials: { rootCertificate: creds.ca ?? Buffer.from(rootCertificates.join('\n')), ...(creds.cert && creds.key ? { certChain: creds.cert, privateKey: creds.key } : {}) } } : {}),
        dialTimeout: retry.requestTimeoutMs,
        defaultCallOptions: () => ({ deadline: new Date(Date.now() + retry.requestTimeoutMs) }),
      },
    },
  };
}

/**
 * A remote store's calls, each said on stderr when it has not answered within a second and,
 * for etcd (whose client waits forever on an address that never answers), failed at
 * `--request-timeout` naming the endpoints. The Flotilla KV client keeps its own deadline.
 */
export function trackStore(ctx: CommandContext, kv: Cluster.KvStore, location: { type: 'etcd' | 'flotilla'; endpoints: string[] }): Cluster.KvStore {
  const timeoutMs = secondsOption(ctx, 'request-timeout', 10_000);
  const track = waitingNotice(ctx, location.endpoints, {
    timeoutMs,
    deadline: location.type === 'etcd',
    timeoutError: (m, what) =>
      Object.assign(new Error(`etcd: ${m}${what === 'put' || what === 'delete' ? '; the write may or may not have been applied' : ''}`), { name: 'ClusterError', code: 'store-unavailable' }),
  });
  return trackMethods(kv, track, ['watch', 'close']);
}

/** `kind/name` or `kind name` → a canonical kind and the name. */
export function parseRef(args: readonly string[], kinds: readonly string[]): { kind: string; name: string } {
  const [a, b] = args;
  if (a === undefined) throw new UsageError(`expected <kind>/<name> (kinds: ${kinds.join(', ')})`);
  const [k, n] = a.includes('/') ? [a.slice(0, a.indexOf('/')), a.slice(a.indexOf('/') + 1)] : [a, b];
  const kind = canonicalKind(k);
  if (kind === undefined || !kinds.includes(kind)) throw new UsageError(`unknown kind "${k}" (expected ${kinds.join(', ')})`);
  if (n === undefined || n === '') throw new UsageError(`expected a name after ${k}/`);
  return { kind, name: n };
}

export { canonicalKind } from './kinds.js';

/** `5s`, `3m`, `2h`, `4d` since an ISO time. */
export function age(iso: string | undefined, now = Date.now()): string {
  if (iso === undefined) return '-';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/**
 * When an event was last seen, as kubectl prints it: its age, and for a record of several
 * occurrences (`count`, deduplicated or combined) how many over how long, e.g. `2m (x5 over 10m)`.
 */
export function eventAge(e: { time: string; count?: number; firstTimestamp?: string }, now = Date.now()): string {
  const last = age(e.time, now);
  return e.count !== undefined && e.count > 1 ? `${last} (x${e.count} over ${age(e.firstTimestamp ?? e.time, now)})` : last;
}

/** Prints convergence progress on stderr (one line per change). */
export function progressPrinter(ctx: CommandContext): (waiting: string[]) => void {
  return (waiting) => {
    if (waiting.length === 0) ctx.stderr.write('converged\n');
    else ctx.stderr.write(`waiting: ${waiting.join('; ')}\n`);
  };
}

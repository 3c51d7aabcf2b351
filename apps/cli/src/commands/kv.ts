/**
 * `flo kv`: the replicated KV store's client (etcdctl's habits). This file holds the options,
 * the client set-up (endpoints, credentials, timeouts) and the exit codes; each subcommand
 * group lives in `kv-<sub>.ts` and loads only when it runs.
 */
import { UsageError } from '../cli/args.js';
import { kvRetryOptions, requestTimeoutOption, stringOption } from '../cli/cluster-context.js';
import type { KvCall } from '../cli/kv-context.js';
import type { CommandModule } from '../cli/registry.js';
import { noHeadersOption, outputFormat, yamlDocumentWriter, type OutputFormat } from '../output/format.js';
import { storeCredentialOptions, storeCredentials } from '../cli/store-credentials.js';
import { storeErrorHint } from '../cli/store-hints.js';
import { trackMethods, waitingNotice } from '../cli/waiting.js';

const formats: readonly OutputFormat[] = ['text', 'json', 'yaml'];

type Sub = () => Promise<{ run(call: KvCall): Promise<number> }>;

/** Every subcommand, with the module that runs it. */
const subcommands: Record<string, Sub> = {
  get: () => import('./kv-get.js'),
  put: () => import('./kv-put.js'),
  del: () => import('./kv-del.js'),
  watch: () => import('./kv-watch.js'),
  txn: () => import('./kv-txn.js'),
  lease: () => import('./kv-lease.js'),
  members: () => import('./kv-members.js'),
  endpoint: () => import('./kv-endpoint.js'),
  snapshot: () => import('./kv-snapshot.js'),
};
const names = Object.keys(subcommands).join(', ');

export const command: CommandModule = {
  usage: [
    'kv get KEY | kv get --prefix P [--limit N]   [--serializable]',
    '       flo kv put KEY VALUE [--prev-revision N] [--lease ID]',
    '       flo kv del KEY [--prev-revision N] | kv del --prefix P',
    '       flo kv watch [--prefix P] [--from-revision N]',
    '       flo kv txn [FILE|-]            body {"compare","success","failure"} as JSON (default stdin)',
    '       flo kv lease grant TTL | lease revoke ID | lease keepalive ID [--once] | lease list',
    '       flo kv members [add ID PEER_HOST:PORT [--learner] | promote ID | remove ID]',
    '       flo kv endpoint health | endpoint status',
    '       flo kv snapshot save FILE',
  ].join('\n'),
  description: [
    'Talks to the replicated KV store (flo server). --endpoints lists client URLs (default $FLO_ENDPOINTS or http://127.0.0.1:2479; a bare HOST:PORT',
    'is https when --store-ca or --store-cert is given); writes go to the leader, reads are linearizable unless --serializable.',
    'A secured store: --store-token-file (its bearer token), --store-ca (https), --store-cert/--store-key (mutual TLS); --token-file and --tls-ca are',
    'the older spellings. An endpoint that does not answer within a second is said on stderr; every call gives up after --request-timeout.',
    'Exit code 1 when a key or lease is absent (get, del, lease keepalive/revoke), a compare fails (put, del with --prev-revision; txn prints',
    'succeeded=false), an endpoint is unhealthy (endpoint health), or a watch that never connected gives up.',
  ].join('\n'),
  formats,
  subcommands: Object.keys(subcommands),
  deployOptions: false,
  options: [
    { name: 'endpoints', type: 'string', value: 'URL,…', description: 'client URLs of members' },
    ...storeCredentialOptions,
    { name: 'token-file', type: 'string', value: 'FILE', description: 'same as --store-token-file (older spelling)' },
    { name: 'tls-ca', type: 'string', value: 'FILE', description: 'same as --store-ca (older spelling)' },
    requestTimeoutOption,
    { name: 'prefix', type: 'string', value: 'P', description: 'get/watch/del every key with this prefix' },
    { name: 'limit', type: 'string', value: 'N', description: 'at most N keys (get --prefix)' },
    { name: 'serializable', type: 'boolean', description: 'read the answering member\'s local state (may be stale)' },
    { name: 'prev-revision', type: 'string', value: 'N', description: 'only if the key\'s modRevision is N (0 = only if absent)' },
    { name: 'lease', type: 'string', value: 'ID', description: 'attach the key to this lease' },
    { name: 'from-revision', type: 'string', value: 'N', description: 'watch from this revision (inclusive)' },
    { name: 'once', type: 'boolean', description: 'lease keepalive: renew once and exit (else every TTL/3 until interrupted)' },
    { name: 'learner', type: 'boolean', description: 'members add: add as a learner' },
    noHeadersOption,
  ],
  async run(ctx) {
    const format = outputFormat(ctx, formats);
    const verb = ctx.args.positionals[0];
    if (!verb) throw new UsageError(`expected a subcommand: ${names}`);
    const sub = Object.hasOwn(subcommands, verb) ? subcommands[verb] : undefined;
    if (!sub) throw new UsageError(`unknown kv subcommand ${JSON.stringify(verb)}: expected ${names}`);
    const creds = storeCredentials(ctx, { token: 'token-file', ca: 'tls-ca' });
    const scheme = creds.tls ? 'https' : 'http';
    const endpoints = (stringOption(ctx, 'endpoints') ?? ctx.env.FLO_ENDPOINTS ?? `${scheme}://127.0.0.1:2479`)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((e) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(e) ? e : `${scheme}://${e}`));
    for (const e of endpoints) if (!/^https?:\/\/[^/]+\/?$/.test(e)) throw new UsageError(`--endpoints: expected http(s)://HOST:PORT URLs, got ${JSON.stringify(e)}`);
    if (endpoints.length === 0) throw new UsageError('--endpoints: expected at least one URL');
    const retry = kvRetryOptions(ctx);
    const { KvClient, isKvError } = await import('@flotilla/raft/client');
    const options = {
      ...(creds.token !== undefined ? { token: creds.token } : {}),
      ...(creds.ca ? { ca: creds.ca } : {}),
      ...(creds.cert && creds.key ? { cert: creds.cert, key: creds.key } : {}),
      ...retry,
    };
    const track = waitingNotice(ctx, endpoints, { timeoutMs: retry.requestTimeoutMs });
    const client = trackMethods(new KvClient({ ...options, endpoints }), track, ['watch', 'close']);
    const opened = [client];
    const yamlDoc = format === 'yaml' ? await yamlDocumentWriter(ctx) : undefined;
    const call: KvCall = {
      ctx,
      client,
      endpoints,
      json: format !== 'text',
      requestTimeoutMs: retry.requestTimeoutMs,
      // -o yaml: each JSON document the subcommand prints (one per line) becomes a YAML document
      out: yamlDoc ? (s) => s.split('\n').forEach((line) => line !== '' && yamlDoc(JSON.parse(line))) : (s) => void ctx.stdout.write(s),
      clientFor: (endpoint) => {
        // One attempt, bounded by the request timeout: a health probe must not retry elsewhere.
        const c = new KvClient({ ...options, endpoints: [endpoint], retryWindowMs: 0 });
        opened.push(c);
        return c;
      },
    };
    try {
      return await (await sub()).run(call);
    } catch (e) {
      if (isKvError(e)) {
        if (e.code === 'conflict' || e.code === 'not-found' || e.code === 'lease-not-found') {
          ctx.stderr.write(`flo: ${e.message}\n`);
          return 1;
        }
        if (e.code === 'unauthorized') {
          ctx.stderr.write(`flo: the store refused the request: ${e.message}.${creds.token === undefined ? storeErrorHint(e.message) : ' The token given was not accepted: check --store-token-file (or $FLO_STORE_TOKEN_FILE).'}\n`);
          return 1;
        }
      }
      throw e;
    } finally {
      for (const c of opened) c.close();
    }
  },
};

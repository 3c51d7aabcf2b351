import { closeSync, fsyncSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { openPrivateFileSync } from '@flotilla/sys';
import { UsageError } from '../cli/args.js';
import { kvRetryOptions, requestTimeoutOption } from '../cli/cluster-context.js';
import { readTokenFile } from '../cli/secret-file.js';
import type { CommandContext, CommandModule } from '../cli/registry.js';
import { formatTable } from '../output/table.js';

function str(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.args.options[name];
  if (Array.isArray(v)) return v[v.length - 1];
  return typeof v === 'string' ? v : undefined;
}

function int(ctx: CommandContext, name: string): number | undefined {
  const v = str(ctx, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} ${v}: expected a non-negative integer`);
  return Number(v);
}

function args(ctx: CommandContext, n: number, usage: string): string[] {
  const rest = ctx.args.positionals.slice(1);
  if (rest.length !== n) throw new UsageError(`usage: flo kv ${usage}`);
  return rest;
}

export const command: CommandModule = {
  usage: [
    'kv get KEY | kv get --prefix P [--limit N]   [--serializable]',
    '       flo kv put KEY VALUE [--prev-revision N] [--lease ID]',
    '       flo kv del KEY [--prev-revision N]',
    '       flo kv watch [--prefix P] [--from-revision N]',
    '       flo kv txn [FILE|-]            body {"compare","success","failure"} as JSON (default stdin)',
    '       flo kv members [add ID PEER_HOST:PORT [--learner] | promote ID | remove ID]',
    '       flo kv snapshot save FILE',
  ].join('\n'),
  description:
    'Talks to the replicated KV store (flo server). --endpoints lists client URLs (default $FLO_ENDPOINTS or http://127.0.0.1:2479); writes go to the leader, reads are linearizable unless --serializable. Exit code 1 when a key is absent (get, del) or a compare fails (put, del with --prev-revision; txn prints succeeded=false and exits 1).',
  deployOptions: false,
  options: [
    { name: 'endpoints', type: 'string', value: 'URL,…', description: 'client URLs of members' },
    { name: 'token-file', type: 'string', value: 'FILE', description: 'file holding the bearer token' },
    { name: 'tls-ca', type: 'string', value: 'FILE', description: 'CA (PEM) to trust for https endpoints' },
    requestTimeoutOption,
    { name: 'prefix', type: 'string', value: 'P', description: 'get/watch every key with this prefix' },
    { name: 'limit', type: 'string', value: 'N', description: 'at most N keys (get --prefix)' },
    { name: 'serializable', type: 'boolean', description: 'read the answering member\'s local state (may be stale)' },
    { name: 'prev-revision', type: 'string', value: 'N', description: 'only if the key\'s modRevision is N (0 = only if absent)' },
    { name: 'lease', type: 'string', value: 'ID', description: 'attach the key to this lease' },
    { name: 'from-revision', type: 'string', value: 'N', description: 'watch from this revision (inclusive)' },
    { name: 'learner', type: 'boolean', description: 'members add: add as a learner' },
  ],
  async run(ctx) {
    const format = str(ctx, 'output') ?? 'text';
    if (format !== 'text' && format !== 'json') throw new UsageError(`-o ${format}: expected text or json`);
    const json = format === 'json';
    const verb = ctx.args.positionals[0];
    if (!verb) throw new UsageError('expected a subcommand: get, put, del, watch, txn, members, snapshot');
    const endpoints = (str(ctx, 'endpoints') ?? ctx.env.FLO_ENDPOINTS ?? 'http://127.0.0.1:2479').split(',').map((s) => s.trim()).filter(Boolean);
    for (const e of endpoints) if (!/^https?:\/\//.test(e)) throw new UsageError(`--endpoints: expected http(s):// URLs, got ${JSON.stringify(e)}`);
    const readOpt = (name: string): string | undefined => {
      const f = str(ctx, name);
      if (f === undefined) return undefined;
      try {
        return readFileSync(path.resolve(ctx.cwd, f), 'utf8');
      } catch (e) {
        throw new UsageError(`--${name} ${f}: ${(e as Error).message}`);
      }
    };
    const tokenFile = str(ctx, 'token-file');
    const token = tokenFile !== undefined ? readTokenFile(ctx.cwd, 'token-file', tokenFile) : undefined;
    const ca = readOpt('tls-ca');
    const { KvClient, isKvError } = await import('@flotilla/raft/client');
    const client = new KvClient({ endpoints, ...(token ? { token } : {}), ...(ca ? { ca } : {}), ...kvRetryOptions(ctx) });
    const out = (s: string) => void ctx.stdout.write(s);
    try {
      switch (verb) {
        case 'get': {
          const prefix = str(ctx, 'prefix');
          const serializable = ctx.args.options.serializable === true;
          if (prefix !== undefined) {
            args(ctx, 0, 'get --prefix P');
            const limit = int(ctx, 'limit');
            const items = [];
            let after: string | undefined;
            for (;;) {
              const page = await client.range({ prefix, serializable, ...(after !== undefined ? { after } : {}), limit: limit !== undefined ? Math.min(1000, limit - items.length) : 1000 });
              items.push(...page.items);
              if (!page.more || (limit !== undefined && items.length >= limit) || page.items.length === 0) break;
              after = page.items[page.items.length - 1]!.key;
            }
            if (json) out(`${JSON.stringify(items)}\n`);
            else out(items.length ? formatTable(items.map((i) => [i.key, i.value])) : '');
            return 0;
          }
          const [key] = args(ctx, 1, 'get KEY');
          const kv = await client.get(key!, { serializable });
          if (!kv) {
            ctx.stderr.write(`flo: key ${JSON.stringify(key)} not found\n`);
            return 1;
          }
          out(json ? `${JSON.stringify(kv)}\n` : `${kv.value}\n`);
          return 0;
        }
        case 'put': {
          const [key, value] = args(ctx, 2, 'put KEY VALUE');
          const prev = int(ctx, 'prev-revision');
          const lease = str(ctx, 'lease');
          const revision = await client.put(key!, value!, { ...(prev !== undefined ? { prevRevision: prev } : {}), ...(lease ? { lease } : {}) });
          out(json ? `${JSON.stringify({ revision })}\n` : `${revision}\n`);
          return 0;
        }
        case 'del': {
          const [key] = args(ctx, 1, 'del KEY');
          const prev = int(ctx, 'prev-revision');
          const revision = await client.delete(key!, prev !== undefined ? { prevRevision: prev } : {});
          if (revision === undefined) {
            ctx.stderr.write(`flo: key ${JSON.stringify(key)} not found\n`);
            return 1;
          }
          out(json ? `${JSON.stringify({ revision })}\n` : `${revision}\n`);
          return 0;
        }
        case 'watch': {
          args(ctx, 0, 'watch [--prefix P] [--from-revision N]');
          const from = int(ctx, 'from-revision');
          const ac = new AbortController();
          const stop = () => ac.abort();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
          try {
            for await (const e of client.watch(str(ctx, 'prefix') ?? '', { signal: ac.signal, ...(from !== undefined ? { fromRevision: from } : {}) })) {
              out(json ? `${JSON.stringify(e)}\n` : `${e.type.toUpperCase()} ${e.key} ${e.modRevision}${e.type === 'put' ? ` ${e.value}` : ''}\n`);
            }
          } finally {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
          }
          return 0;
        }
        case 'txn': {
          const rest = ctx.args.positionals.slice(1);
          if (rest.length > 1) throw new UsageError('usage: flo kv txn [FILE|-]');
          const src = rest[0] ?? '-';
          let text: string;
          if (src === '-') {
            const chunks: Buffer[] = [];
            for await (const c of ctx.stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
            text = Buffer.concat(chunks).toString('utf8');
          } else text = readFileSync(path.resolve(ctx.cwd, src), 'utf8');
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch (e) {
            throw new UsageError(`txn body is not JSON: ${(e as Error).message}`);
          }
          const r = await client.txn(body as Parameters<typeof client.txn>[0]);
          out(json ? `${JSON.stringify(r)}\n` : `succeeded=${r.succeeded} revision=${r.revision}\n${r.results.map((x) => JSON.stringify(x)).join('\n')}${r.results.length ? '\n' : ''}`);
          return r.succeeded ? 0 : 1;
        }
        case 'members': {
          const sub = ctx.args.positionals[1] ?? 'list';
          const rest = ctx.args.positionals.slice(2);
          const id = (v: string | undefined) => {
            if (!v || !/^\d+$/.test(v) || Number(v) <= 0) throw new UsageError(`expected a member id, got ${JSON.stringify(v)}`);
            return Number(v);
          };
          if (sub === 'add') {
            if (rest.length !== 2) throw new UsageError('usage: flo kv members add ID PEER_HOST:PORT [--learner]');
            await client.addMember(id(rest[0]), rest[1]!, ctx.args.options.learner === true);
          } else if (sub === 'promote') {
            if (rest.length !== 1) throw new UsageError('usage: flo kv members promote ID');
            await client.promoteMember(id(rest[0]));
          } else if (sub === 'remove') {
            if (rest.length !== 1) throw new UsageError('usage: flo kv members remove ID');
            await client.removeMember(id(rest[0]));
          } else if (sub !== 'list') throw new UsageError(`members ${sub}: expected list, add, promote or remove`);
          const members = await client.members();
          const status = await client.status().catch(() => undefined);
          const leader = status?.leader as number | undefined;
          if (json) out(`${JSON.stringify({ leader, members })}\n`);
          else out(formatTable(members.map((m) => [String(m.id), m.learner ? 'learner' : m.id === leader ? 'leader' : 'voter', m.peerUrl, m.clientUrl]), { header: ['ID', 'ROLE', 'PEER', 'CLIENT'] }));
          return 0;
        }
        case 'snapshot': {
          const [action, file] = args(ctx, 2, 'snapshot save FILE');
          if (action !== 'save') throw new UsageError(`snapshot ${action}: expected save`);
          const data = await client.snapshot();
          // The snapshot holds every value: 0600 whatever the umask (the temp file is private
          // from its creation, and the rename keeps its mode).
          const target = path.resolve(ctx.cwd, file!);
          const fd = openPrivateFileSync(`${target}.part`, 'w');
          try {
            for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
            fsyncSync(fd);
          } finally {
            closeSync(fd);
          }
          renameSync(`${target}.part`, target);
          ctx.stderr.write(`flo: saved a snapshot of ${data.length} bytes to ${file}; restore with flo server --restore ${file}\n`);
          return 0;
        }
        default:
          throw new UsageError(`unknown kv subcommand ${JSON.stringify(verb)}: expected get, put, del, watch, txn, members, snapshot`);
      }
    } catch (e) {
      if (isKvError(e) && (e.code === 'conflict' || e.code === 'not-found')) {
        ctx.stderr.write(`flo: ${e.message}\n`);
        return 1;
      }
      throw e;
    } finally {
      client.close();
    }
  },
};

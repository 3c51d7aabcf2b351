/** `flo kv txn [FILE|-]`: a transaction body as JSON. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { TxnRequest } from '@flotilla/raft/client';
import { UsageError } from '../cli/args.js';
import type { KvCall } from '../cli/kv-context.js';

export async function run({ ctx, client, json, out }: KvCall): Promise<number> {
  const rest = ctx.args.positionals.slice(1);
  if (rest.length > 1) throw new UsageError('usage: flo kv txn [FILE|-]');
  const src = rest[0] ?? '-';
  let text: string;
  if (src === '-') {
    const chunks: Buffer[] = [];
    for await (const c of ctx.stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
    text = Buffer.concat(chunks).toString('utf8');
  } else {
    try {
      text = readFileSync(path.resolve(ctx.cwd, src), 'utf8');
    } catch (e) {
      throw new UsageError(`txn ${src}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`txn body is not JSON: ${(e as Error).message}`);
  }
  const r = await client.txn(body as TxnRequest);
  out(json ? `${JSON.stringify(r)}\n` : `succeeded=${r.succeeded} revision=${r.revision}\n${r.results.map((x) => JSON.stringify(x)).join('\n')}${r.results.length ? '\n' : ''}`);
  return r.succeeded ? 0 : 1;
}

/**
 * `flo kv lease grant TTL | revoke ID | keepalive ID [--once] | list` (etcdctl's lease
 * commands and their wording). Keys attached to a lease (`flo kv put K V --lease ID`) are
 * deleted when it expires or is revoked.
 */
import { UsageError } from '../cli/args.js';
import { kvArgs, type KvCall } from '../cli/kv-context.js';
import { headerUnlessNoHeaders } from '../output/format.js';
import { formatTable } from '../output/table.js';

function leaseId(v: string | undefined): string {
  if (v === undefined || !/^[1-9]\d*$/.test(v)) throw new UsageError(`expected a lease id (as lease grant printed it), got ${JSON.stringify(v)}`);
  return v;
}

export async function run({ ctx, client, json, out }: KvCall): Promise<number> {
  const action = ctx.args.positionals[1];
  switch (action) {
    case 'grant': {
      const [ttl] = kvArgs(ctx, 1, 'lease grant TTL_SECONDS', 2);
      if (!/^[1-9]\d*$/.test(ttl!)) throw new UsageError(`lease grant ${ttl}: expected a TTL in whole seconds (≥ 1)`);
      const l = await client.grantLease(Number(ttl));
      out(json ? `${JSON.stringify(l)}\n` : `lease ${l.id} granted with TTL(${l.ttlSeconds}s)\n`);
      return 0;
    }
    case 'revoke': {
      const [id] = kvArgs(ctx, 1, 'lease revoke ID', 2);
      await client.revokeLease(leaseId(id));
      out(json ? `${JSON.stringify({ id, revoked: true })}\n` : `lease ${id} revoked\n`);
      return 0;
    }
    case 'keepalive': {
      const [raw] = kvArgs(ctx, 1, 'lease keepalive ID [--once]', 2);
      const id = leaseId(raw);
      const once = ctx.args.options.once === true;
      const ac = new AbortController();
      const stop = (): void => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        for (;;) {
          const l = await client.keepAlive(id);
          out(json ? `${JSON.stringify(l)}\n` : `lease ${l.id} keepalived with TTL(${l.ttlSeconds})\n`);
          if (once) return 0;
          // etcdctl renews every TTL/3: two renewals can be lost before the lease expires.
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, Math.max(500, (l.ttlSeconds * 1000) / 3));
            ac.signal.addEventListener('abort', () => {
              clearTimeout(t);
              resolve();
            }, { once: true });
          });
          if (ac.signal.aborted) return 0;
        }
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    }
    case 'list': {
      kvArgs(ctx, 0, 'lease list', 2);
      const leases = await client.leases();
      if (json) out(`${JSON.stringify(leases)}\n`);
      else {
        out(`found ${leases.length} leases\n`);
        if (leases.length) out(formatTable(leases.map((l) => [l.id, `${l.ttlSeconds}s`, l.keys.join(',')]), headerUnlessNoHeaders(ctx, ['ID', 'TTL', 'KEYS'])));
      }
      return 0;
    }
    default:
      throw new UsageError(`lease ${action === undefined ? '' : `${JSON.stringify(action)} `}: expected grant TTL, revoke ID, keepalive ID [--once] or list`.replace(' :', ':'));
  }
}

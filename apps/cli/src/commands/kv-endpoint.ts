/**
 * `flo kv endpoint health` and `flo kv endpoint status` (etcdctl's): each endpoint on its own,
 * once, within --request-timeout. Health is a linearizable read on that endpoint (it needs the
 * member up and a quorum with a leader, as etcdctl's health needs a committed proposal); it
 * exits 1 when any endpoint is unhealthy.
 */
import { UsageError } from '../cli/args.js';
import { kvArgs, type KvCall } from '../cli/kv-context.js';
import { headerUnlessNoHeaders } from '../output/format.js';
import { formatTable } from '../output/table.js';

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function ms(d: number): string {
  return `${d < 10 ? d.toFixed(2) : Math.round(d)}ms`;
}

export async function run(call: KvCall): Promise<number> {
  const { ctx, endpoints, json, out } = call;
  const action = ctx.args.positionals[1];
  if (action === 'health') {
    kvArgs(call.ctx, 0, 'endpoint health', 2);
    const results = await Promise.all(
      endpoints.map(async (endpoint) => {
        const t = performance.now();
        try {
          await call.clientFor(endpoint).get('health');
          return { endpoint, health: true, took: ms(performance.now() - t), error: '' };
        } catch (e) {
          return { endpoint, health: false, took: ms(performance.now() - t), error: reason(e) };
        }
      }),
    );
    if (json) out(`${JSON.stringify(results)}\n`);
    else
      for (const r of results) {
        if (r.health) out(`${r.endpoint} is healthy: took = ${r.took}\n`);
        else ctx.stderr.write(`${r.endpoint} is unhealthy: took = ${r.took}: ${r.error}\n`);
      }
    const bad = results.filter((r) => !r.health).length;
    if (bad > 0) {
      ctx.stderr.write(`flo: ${bad} of ${results.length} endpoints unhealthy\n`);
      return 1;
    }
    return 0;
  }
  if (action === 'status') {
    kvArgs(call.ctx, 0, 'endpoint status', 2);
    const rows = await Promise.all(
      endpoints.map(async (endpoint) => {
        try {
          const s = (await call.clientFor(endpoint).status(endpoint)) as { id: number; leader: number; term: number; revision: number; appliedIndex: number; commitIndex: number };
          return { endpoint, id: s.id, leader: s.leader, isLeader: s.id === s.leader, term: s.term, revision: s.revision, commitIndex: s.commitIndex, appliedIndex: s.appliedIndex };
        } catch (e) {
          return { endpoint, error: reason(e) };
        }
      }),
    );
    if (json) out(`${JSON.stringify(rows)}\n`);
    else
      out(
        formatTable(
          rows.map((r) => ('error' in r ? [r.endpoint, '-', '-', '-', '-', '-', String(r.error)] : [r.endpoint, String(r.id), r.isLeader ? 'true' : 'false', String(r.term), String(r.revision), String(r.appliedIndex), ''])),
          headerUnlessNoHeaders(ctx, ['ENDPOINT', 'ID', 'IS LEADER', 'TERM', 'REVISION', 'APPLIED', 'ERROR']),
        ),
      );
    return rows.some((r) => 'error' in r) ? 1 : 0;
  }
  throw new UsageError(`endpoint ${action ?? ''}: expected health or status`);
}

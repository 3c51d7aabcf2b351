/** `flo kv members [list | add ID PEER [--learner] | promote ID | remove ID]`. */
import { UsageError } from '../cli/args.js';
import type { KvCall } from '../cli/kv-context.js';
import { headerUnlessNoHeaders } from '../output/format.js';
import { formatTable } from '../output/table.js';

export async function run({ ctx, client, json, out }: KvCall): Promise<number> {
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
  else out(formatTable(members.map((m) => [String(m.id), m.learner ? 'learner' : m.id === leader ? 'leader' : 'voter', m.peerUrl, m.clientUrl]), headerUnlessNoHeaders(ctx, ['ID', 'ROLE', 'PEER', 'CLIENT'])));
  return 0;
}

/** `flo kv get KEY` and `flo kv get --prefix P [--limit N]`. */
import { stringOption } from '../cli/cluster-context.js';
import { intOption, kvArgs, type KvCall } from '../cli/kv-context.js';
import { formatTable } from '../output/table.js';

export async function run({ ctx, client, json, out }: KvCall): Promise<number> {
  const prefix = stringOption(ctx, 'prefix');
  const serializable = ctx.args.options.serializable === true;
  if (prefix !== undefined) {
    kvArgs(ctx, 0, 'get --prefix P');
    const limit = intOption(ctx, 'limit');
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
  const [key] = kvArgs(ctx, 1, 'get KEY');
  const kv = await client.get(key!, { serializable });
  if (!kv) {
    ctx.stderr.write(`flo: key ${JSON.stringify(key)} not found\n`);
    return 1;
  }
  out(json ? `${JSON.stringify(kv)}\n` : `${kv.value}\n`);
  return 0;
}

/**
 * `flo kv del KEY [--prev-revision N]` and `flo kv del --prefix P` (etcdctl's `del --prefix`):
 * prints the number of keys deleted, like etcdctl. A prefix is deleted in transactions of up
 * to 100 keys, each key only if it is unchanged since it was listed (a key written meanwhile is
 * listed again and deleted in its new version); keys created under the prefix after the last
 * listing are left.
 */
import { UsageError } from '../cli/args.js';
import { stringOption } from '../cli/cluster-context.js';
import { intOption, kvArgs, type KvCall } from '../cli/kv-context.js';

const BATCH = 100;

export async function run({ ctx, client, json, out }: KvCall): Promise<number> {
  const prefix = stringOption(ctx, 'prefix');
  const prev = intOption(ctx, 'prev-revision');
  if (prefix !== undefined) {
    kvArgs(ctx, 0, 'del --prefix P');
    if (prev !== undefined) throw new UsageError('--prev-revision applies to one key, not to --prefix');
    if (prefix === '') throw new UsageError('--prefix "": refusing to delete every key (give a non-empty prefix)');
    let deleted = 0;
    let revision: number | undefined;
    for (;;) {
      const page = await client.range({ prefix, limit: BATCH });
      if (page.items.length === 0) {
        revision ??= page.revision;
        break;
      }
      const r = await client.txn({
        compare: page.items.map((kv) => ({ key: kv.key, modRevision: kv.modRevision })),
        success: page.items.map((kv) => ({ delete: { key: kv.key } })),
      });
      if (r.succeeded) {
        deleted += page.items.length;
        revision = r.revision;
      }
    }
    out(json ? `${JSON.stringify({ deleted, revision })}\n` : `${deleted}\n`);
    return 0;
  }
  const [key] = kvArgs(ctx, 1, 'del KEY');
  const revision = await client.delete(key!, prev !== undefined ? { prevRevision: prev } : {});
  if (revision === undefined) {
    ctx.stderr.write(`flo: key ${JSON.stringify(key)} not found\n`);
    return 1;
  }
  out(json ? `${JSON.stringify({ revision })}\n` : `${revision}\n`);
  return 0;
}

/** `flo kv put KEY VALUE [--prev-revision N] [--lease ID]`. */
import { stringOption } from '../cli/cluster-context.js';
import { intOption, kvArgs, type KvCall } from '../cli/kv-context.js';

export async function run({ ctx, client, json, out }: KvCall): Promise<number> {
  const [key, value] = kvArgs(ctx, 2, 'put KEY VALUE');
  const prev = intOption(ctx, 'prev-revision');
  const lease = stringOption(ctx, 'lease');
  const revision = await client.put(key!, value!, { ...(prev !== undefined ? { prevRevision: prev } : {}), ...(lease ? { lease } : {}) });
  out(json ? `${JSON.stringify({ revision })}\n` : `${revision}\n`);
  return 0;
}

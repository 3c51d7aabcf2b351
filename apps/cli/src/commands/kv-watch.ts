/**
 * `flo kv watch [--prefix P] [--from-revision N]`: events until interrupted. As etcdctl does, a
 * watch that never reaches a member gives up after --request-timeout (exit 1, naming the
 * endpoints and why); once connected it keeps retrying through outages, resuming from the
 * revision after the last event seen so nothing is lost or repeated, and says so on stderr:
 * `flo: watch lost <endpoint> (why); retrying` once per outage and `flo: watch resumed on
 * <endpoint>` when it is back.
 */
import { stringOption } from '../cli/cluster-context.js';
import { intOption, kvArgs, type KvCall } from '../cli/kv-context.js';

export async function run({ ctx, client, endpoints, json, out, requestTimeoutMs }: KvCall): Promise<number> {
  kvArgs(ctx, 0, 'watch [--prefix P] [--from-revision N]');
  const from = intOption(ctx, 'from-revision');
  const ac = new AbortController();
  let interrupted = false;
  const stop = (): void => {
    interrupted = true;
    ac.abort();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let connected = false;
  let outage = false;
  const tried = new Map<string, string>();
  const started = Date.now();
  const notice = setTimeout(() => {
    if (!connected) ctx.stderr.write(`flo: still waiting for ${endpoints.join(', ')}… (giving up after ${requestTimeoutMs / 1000} s: --request-timeout)\n`);
  }, 1000);
  const giveUp = setTimeout(() => {
    if (!connected) ac.abort();
  }, requestTimeoutMs);
  try {
    const events = client.watch(stringOption(ctx, 'prefix') ?? '', {
      signal: ac.signal,
      ...(from !== undefined ? { fromRevision: from } : {}),
      onConnected(endpoint) {
        if (outage) ctx.stderr.write(`flo: watch resumed on ${endpoint}\n`);
        connected = true;
        outage = false;
      },
      onRetry({ endpoint, reason, connected: wasConnected }) {
        tried.set(endpoint, reason);
        if (wasConnected && !outage) {
          outage = true;
          ctx.stderr.write(`flo: watch lost ${endpoint} (${reason}); retrying every endpoint until it is back (Ctrl-C to stop)\n`);
        }
      },
    });
    for await (const e of events) {
      out(json ? `${JSON.stringify(e)}\n` : `${e.type.toUpperCase()} ${e.key} ${e.modRevision}${e.type === 'put' ? ` ${e.value}` : ''}\n`);
    }
  } finally {
    clearTimeout(notice);
    clearTimeout(giveUp);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  if (!connected && !interrupted) {
    const list = endpoints.map((e) => `${e} (${tried.get(e) ?? 'no answer'})`).join(', ');
    ctx.stderr.write(`flo: watch: no member answered within ${Math.round((Date.now() - started) / 100) / 10} s (--request-timeout); tried ${list}\n`);
    return 1;
  }
  return 0;
}

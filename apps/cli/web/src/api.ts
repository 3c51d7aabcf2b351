// The page's side of the HTTP API (see apps/cli/src/ui/server.ts).
import type { UiDelta, UiError, UiInfo, UiSnapshot } from '../../src/ui/protocol.ts';
import type { ClusterModel } from './model.ts';

export async function getInfo(): Promise<UiInfo> {
  const r = await fetch('./api/info', { cache: 'no-store' });
  if (!r.ok) throw new Error(await errorText(r));
  return (await r.json()) as UiInfo;
}

async function errorText(r: Response): Promise<string> {
  try {
    const body = (await r.json()) as UiError;
    return body.error.message;
  } catch {
    return `${r.status} ${r.statusText}`;
  }
}

/** Proves the token to the server, which answers with a session cookie (HttpOnly). */
export async function login(token: string): Promise<void> {
  const r = await fetch('./api/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  if (!r.ok) throw new Error(await errorText(r));
}

/** An action: resolves to a line for the status area, rejects with the server's reason. */
export async function act(path: string, body: unknown = {}): Promise<string> {
  const r = await fetch(`./api/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(await errorText(r));
  const j = (await r.json()) as { action: string; result?: { from?: string; to?: string } };
  return j.result?.from !== undefined ? `${j.action}: template ${j.result.from} → ${j.result.to}` : `${j.action}: done`;
}

/** Follows /api/stream into the model; the browser's EventSource reconnects by itself. */
export function connect(model: ClusterModel): () => void {
  const es = new EventSource('./api/stream');
  es.addEventListener('snapshot', (e) => {
    model.applySnapshot(JSON.parse((e as MessageEvent<string>).data) as UiSnapshot);
    model.setConnection('live');
  });
  es.addEventListener('delta', (e) => model.applyDelta(JSON.parse((e as MessageEvent<string>).data) as UiDelta));
  es.onerror = () => model.setConnection(es.readyState === EventSource.CLOSED ? 'refused' : 'reconnecting');
  return () => es.close();
}

import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startKvServer } from '../src/server/kv-server.js';
import { FileStorage } from '../src/storage/file-storage.js';
import { ServerState } from '../src/server/server-state.js';
import type { Entry } from '../src/core/types.js';
import { freePort } from '../src/testing/net.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until<T>(f: () => T | undefined | false, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const enc = new TextEncoder();

describe('replaying a poisoned log', () => {
  it('a member whose WAL already holds entries that cannot apply starts, applies them as no-ops, and keeps serving', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'flo-poison-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const peerPort = await freePort();
    const peerUrl = `127.0.0.1:${peerPort}`;

    // Write the poisoned entries through the storage API, as a leader that accepted a forged
    // proposal once did: committed, so every restart replays them.
    const storage = await FileStorage.open(path.join(dir, 'raft'));
    await storage.bootstrap({ voters: [1], learners: [] }, ServerState.initial(new Map([[1, { peerUrl, clientUrl: '' }]])));
    const first = storage.lastIndex() + 1;
    const poison = [
      JSON.stringify({ r: 'forged-1', c: { op: 'txn' } }), // no compare: threw "reading 'every'" on every member
      JSON.stringify({ r: 'forged-2', c: { op: 'put', key: 5, value: { x: 1 } } }),
      JSON.stringify({ r: 'forged-3', c: { op: 'lease-revoke' } }),
      JSON.stringify({ c: { op: 'txn', success: [{ put: null }] } }),
      JSON.stringify({ r: 7, c: null }),
      'not json at all {',
      JSON.stringify({ r: 'ok-1', c: { op: 'put', key: 'after', value: 'applied' } }),
    ];
    const entries: Entry[] = poison.map((p, i) => ({ term: 1, index: first + i, type: 'normal', data: enc.encode(p) }));
    await storage.save({ hardState: { term: 1, vote: 1, commit: first + entries.length - 1 }, entries, snapshot: undefined, mustSync: true });
    await storage.close();

    const logs: string[] = [];
    const server = await startKvServer({ id: 1, listen: '127.0.0.1:0', peerListen: peerUrl, data: dir, tickMs: 20, log: (l) => logs.push(l) });
    let stopped: unknown;
    void server.stopped.then((s) => (stopped = s));
    cleanups.push(() => server.close());

    // Every entry applies (the member does not die), the valid one after them included.
    await until(() => server.node.status().appliedIndex >= first + entries.length - 1 || stopped, 'the poisoned entries to be applied');
    expect(stopped).toBeUndefined();
    expect(server.node.kv.get('after')?.value).toBe('applied');
    expect(logs.some((l) => l.includes('cannot be applied') && l.includes('applied as a no-op'))).toBe(true);
    // And it still serves writes.
    await until(() => server.node.isLeader(), 'leadership');
    const r = await server.node.propose({ op: 'put', key: 'later', value: 'v' });
    expect(r.type).toBe('put');
    expect(stopped).toBeUndefined();
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKvServer } from '../src/server/kv-server.js';
import type { KvServer } from '../src/server/kv-server.js';
import { KvClient } from '../src/client/kv-client.js';
import { freePort } from '../src/testing/net.js';
import { startKvCluster } from './kv-cluster.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until<T>(f: () => Promise<T | undefined | false> | T | undefined | false, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('startKvServer (in-process members, file storage)', () => {
  it('founds a cluster, survives a member restart from its data directory, and admits a member with join', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'flo-kv-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // Tiny snapshots so that restarted and joining members catch up through one.
    const tiny = { snapshotEntries: 8, snapshotCatchUpEntries: 2 };
    const founded = await startKvCluster(3, dir, () => tiny);
    const { peerPorts } = founded;
    const peers = new Map([1, 2, 3].map((id) => [id, `127.0.0.1:${peerPorts[id - 1]}`]));
    const servers = new Map<number, KvServer>(founded.servers.map((s) => [s.node.id, s]));
    const start = async (id: number, extra: { join?: string } = {}) => {
      const s = await startKvServer({ id, listen: '127.0.0.1:0', peerListen: `127.0.0.1:${peerPorts[id - 1]}`, peers, data: founded.dataDir(id), tickMs: 20, ...tiny, ...extra });
      servers.set(id, s);
      return s;
    };
    cleanups.push(async () => {
      for (const s of servers.values()) await s.close();
    });
    const client = new KvClient({ endpoints: [...servers.values()].map((s) => s.clientUrl), retryWindowMs: 20_000 });
    cleanups.push(() => client.close());
    for (let i = 0; i < 20; i++) await client.put(`k${i}`, `v${i}`);

    // Restart member 2 from its data directory.
    await servers.get(2)!.close();
    await new Promise((r) => setTimeout(r, 200)); // pooled connections to member 2 see their close
    await client.put('while-down', 'x');
    const s2 = await start(2);
    await until(async () => (await client.get('while-down', { serializable: false })) && s2.node.kv.get('while-down')?.value === 'x', 'member 2 to catch up');
    expect(s2.node.kv.get('k19')?.value).toBe('v19');

    expect(servers.get(1)!.node.status().appliedIndex).toBeGreaterThan(20);
    // (member 4's port is picked only now: a port held unused for seconds may be taken meanwhile on a shared machine)
    peerPorts.push(await freePort());
    // A fourth member joins as a learner, catches up from a snapshot (the log before it is gone) and is promoted.
    const s4 = await start(4, { join: servers.get(1)!.clientUrl });
    await until(() => s4.node.members().find((m) => m.id === 4 && !m.learner), 'member 4 to be promoted');
    await client.put('after-join', 'y');
    await until(() => s4.node.kv.get('after-join')?.value === 'y', 'member 4 to apply new writes');
    expect(s4.node.kv.get('k0')?.value).toBe('v0');
    const snaps = readdirSync(path.join(founded.dataDir(4), 'raft', 'snap')).filter((n) => n.endsWith('.snap'));
    expect(snaps.some((n) => parseInt(n, 16) > 1)).toBe(true);
    const members = await client.members();
    expect(members.map((m) => [m.id, m.learner])).toEqual([[1, false], [2, false], [3, false], [4, false]]);
    expect(members.every((m) => m.clientUrl.startsWith('http://'))).toBe(true);
  });
});

/** Test-only certificates committed under test/fixtures/tls (no openssl binary needed). */
function makeCerts(_dir: string) {
  const fixtures = fileURLToPath(new URL('./fixtures/tls/', import.meta.url));
  return {
    ca: readFileSync(path.join(fixtures, 'ca.crt')),
    cert: readFileSync(path.join(fixtures, 'member.crt')),
    key: readFileSync(path.join(fixtures, 'member.key')),
  };
}

describe('startKvServer with TLS and a token', () => {
  it('serves HTTPS, speaks mutual TLS between members, and requires the bearer token', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'flo-kv-tls-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const tls = makeCerts(dir);
    const { servers } = await startKvCluster(3, dir, () => ({ tls, token: 'tok' }));
    cleanups.push(async () => {
      for (const s of servers) await s.close();
    });
    expect(servers.every((s) => s.clientUrl.startsWith('https://'))).toBe(true);
    const client = new KvClient({ endpoints: servers.map((s) => s.clientUrl), ca: tls.ca, token: 'tok', retryWindowMs: 20_000 });
    cleanups.push(() => client.close());
    expect(await client.put('secure', 'yes')).toBe(2);
    for (const s of servers) await until(() => s.node.kv.get('secure')?.value === 'yes', 'replication over mutual TLS');
    const anonymous = new KvClient({ endpoints: [servers[0]!.clientUrl], ca: tls.ca, retryWindowMs: 0 });
    cleanups.push(() => anonymous.close());
    const err = await anonymous.get('secure').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'unauthorized', status: 401 });
  });
});

describe('startKvServer: the peer port is authenticated whenever clients are', () => {
  it('refuses to start with a client token and an open peer port, and says how to fix it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'flo-kv-open-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const peers = new Map([[1, `127.0.0.1:${port}`]]);
    const err = await startKvServer({ id: 1, listen: '127.0.0.1:0', peerListen: peers.get(1)!, peers, data: path.join(dir, 'm1'), token: 'tok' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'KvError', code: 'bad-request' });
    expect((err as Error).message).toMatch(/--peer-token-file/);
    expect((err as Error).message).toMatch(/--tls-ca/);
    // Nothing was listening or created meanwhile: the check comes first.
    await expect(new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('connect', () => (s.destroy(), reject(new Error('the peer port is open'))));
      s.on('error', resolve);
    })).resolves.toBeDefined();
  });

  it('members sharing a peer token replicate; one with another token is refused by every member, one with the token joins', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'flo-kv-ptok-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const logs: string[] = [];
    const { servers } = await startKvCluster(3, dir, () => ({ token: 'tok', peerToken: 'peer-secret', log: (l: string) => logs.push(l) }));
    const port4 = await freePort();
    cleanups.push(async () => {
      for (const s of servers) await s.close();
    });
    const client = new KvClient({ endpoints: servers.map((s) => s.clientUrl), token: 'tok', retryWindowMs: 20_000 });
    cleanups.push(() => client.close());
    expect(await client.put('k', 'v')).toBe(2);
    for (const s of servers) await until(() => s.node.kv.get('k')?.value === 'v', 'replication between authenticated members');
    // Member 4 is added, but starts with the wrong peer token: nobody lets it in.
    await client.addMember(4, `127.0.0.1:${port4}`, true);
    const wrong = await startKvServer({ id: 4, listen: '127.0.0.1:0', peerListen: `127.0.0.1:${port4}`, data: path.join(dir, 'm4'), join: servers[0]!.clientUrl, tickMs: 20, token: 'tok', peerToken: 'not-the-secret' });
    cleanups.push(() => wrong.close());
    await until(() => logs.some((l) => l.includes('did not prove the peer secret')), 'the wrong token to be refused');
    await new Promise((r) => setTimeout(r, 500));
    expect(wrong.node.kv.get('k')).toBeUndefined();
    expect(servers.reduce((n, s) => n + s.node.peerRefusals, 0)).toBeGreaterThan(0);
    // Member 5 holds the secret: it joins, catches up and is promoted as usual.
    await wrong.close();
    await client.removeMember(4);
    const port5 = await freePort();
    const good = await startKvServer({ id: 5, listen: '127.0.0.1:0', peerListen: `127.0.0.1:${port5}`, data: path.join(dir, 'm5'), join: servers[0]!.clientUrl, tickMs: 20, token: 'tok', peerToken: 'peer-secret' });
    cleanups.push(() => good.close());
    await until(() => good.node.members().find((m) => m.id === 5 && !m.learner), 'member 5 to be promoted');
    await client.put('after-join', 'yes');
    await until(() => good.node.kv.get('after-join')?.value === 'yes', 'member 5 to apply new writes');
    expect(good.node.kv.get('k')?.value).toBe('v');
  });
});

// Reads and watches served by followers (issue 15: clients spread over the members): a
// linearizable read on a follower sees every write the leader acknowledged before it, and a
// watch opened on a follower from revision R delivers every change from R on, once, in order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KvClient } from '../src/client/kv-client.js';
import type { KvServer } from '../src/server/kv-server.js';
import type { WatchEvent } from '../src/kv/types.js';
import { startKvCluster } from './kv-cluster.js';

let dir: string;
let servers: KvServer[] = [];
const clients: KvClient[] = [];
let leader: KvServer;
let followers: KvServer[];

const client = (endpoints: string[]): KvClient => {
  const c = new KvClient({ endpoints, retryWindowMs: 20_000 });
  clients.push(c);
  return c;
};

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'flo-kv-followers-'));
  ({ servers } = await startKvCluster(3, dir));
  // a leader every member knows (writes through any member find it)
  const probe = client(servers.map((s) => s.clientUrl));
  await probe.put('ready', 'yes');
  for (;;) {
    const ids = servers.map((s) => s.node.status().leader);
    if (ids[0] !== 0 && ids.every((id) => id === ids[0])) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  leader = servers.find((s) => s.node.isLeader())!;
  followers = servers.filter((s) => s !== leader);
}, 60_000);

afterAll(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a 3-member cluster serving reads and watches on its followers', () => {
  it('a linearizable read on either follower sees every write the leader acknowledged before it', async () => {
    const writer = client([leader.clientUrl]);
    const readers = followers.map((f) => client([f.clientUrl]));
    for (let i = 0; i < 60; i++) {
      const revision = await writer.put(`ryw/${i % 7}`, `v${i}`);
      for (const r of readers) {
        expect(await r.get(`ryw/${i % 7}`)).toMatchObject({ value: `v${i}`, modRevision: revision });
        const page = await r.range({ prefix: 'ryw/' });
        expect(page.revision).toBeGreaterThanOrEqual(revision);
      }
    }
  });

  it('a watch opened on a follower from revision R delivers every change from R on, in order, exactly once', async () => {
    const writer = client([leader.clientUrl]);
    const written: { key: string; revision: number }[] = [];
    for (let i = 0; i < 30; i++) written.push({ key: `w/${i}`, revision: await writer.put(`w/${i}`, `v${i}`) });
    const from = written[10]!.revision;
    const ac = new AbortController();
    const watches = followers.map(async (f) => {
      const seen: WatchEvent[] = [];
      for await (const e of client([f.clientUrl]).watch('w/', { fromRevision: from, signal: ac.signal })) {
        seen.push(e);
        if (e.key === 'w/59') break;
      }
      return seen;
    });
    // more writes while the watches open (and a key outside the prefix)
    for (let i = 30; i < 60; i++) {
      if (i % 10 === 0) await writer.put(`other/${i}`, 'x');
      written.push({ key: `w/${i}`, revision: await writer.put(`w/${i}`, `v${i}`) });
    }
    const expected = written.filter((w) => w.revision >= from).map((w) => [w.key, w.revision]);
    for (const seen of await Promise.all(watches)) expect(seen.map((e) => [e.key, e.modRevision])).toEqual(expected);
    ac.abort();
  });

  it('a watch on a follower from a revision it has not applied yet (ahead of it) delivers nothing before that revision', async () => {
    const writer = client([leader.clientUrl]);
    const last = await writer.put('ahead/0', 'x');
    // from a revision that does not exist yet anywhere, opened before the writes that make it
    const from = last + 3;
    const ac = new AbortController();
    const watches = followers.map(async (f) => {
      const seen: number[] = [];
      for await (const e of client([f.clientUrl]).watch('ahead/', { fromRevision: from, signal: ac.signal })) {
        seen.push(e.modRevision);
        if (e.key === 'ahead/6') break;
      }
      return seen;
    });
    await new Promise((r) => setTimeout(r, 100)); // (not a timing assertion: lets the watches open first)
    const revisions: number[] = [];
    for (let i = 1; i <= 6; i++) revisions.push(await writer.put(`ahead/${i}`, 'x'));
    expect(revisions[0]).toBe(last + 1);
    for (const seen of await Promise.all(watches)) expect(seen).toEqual(revisions.filter((r) => r >= from));
    ac.abort();
  });

  it('clients given every endpoint read and watch on a follower once they know the leader, and their writes still reach it', async () => {
    for (let n = 0; n < 12; n++) {
      // the leader listed first: a client that read on its first endpoint would read there
      const c = client([leader.clientUrl, ...followers.map((f) => f.clientUrl)]);
      const revision = await c.put(`spread/${n}`, 'x'); // finds the leader
      const ac = new AbortController();
      let served: string | undefined;
      const it = c.watch('spread/', { fromRevision: revision, signal: ac.signal, onConnected: (ep) => (served = ep) })[Symbol.asyncIterator]();
      expect((await it.next()).value).toMatchObject({ key: `spread/${n}`, modRevision: revision });
      expect(followers.map((f) => f.clientUrl)).toContain(served);
      ac.abort();
      await it.return?.();
      expect(await c.get(`spread/${n}`)).toMatchObject({ modRevision: revision });
    }
  });

  it('clients that have not met the leader spread their watches over the members (each its own, at random)', async () => {
    const used = new Set<string>();
    for (let n = 0; n < 30; n++) {
      const c = client(servers.map((s) => s.clientUrl));
      const ac = new AbortController();
      const it = c.watch('nothing/', { signal: ac.signal, onConnected: (ep) => used.add(ep), onProgress: () => ac.abort() })[Symbol.asyncIterator]();
      await it.next();
    }
    // all 30 on one member: a chance of 3 in 3^30
    expect(used.size).toBeGreaterThan(1);
  });
});

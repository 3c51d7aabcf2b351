import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvClient, isKvError } from '@flotilla/raft/client';
import { FloCluster, until } from './kv-harness.js';

/**
 * Three (then four) real `flo server` processes on loopback. Every acknowledged write is
 * recorded and checked against every member at the end of each scenario.
 */
describe('flo server: a 3-member cluster of real processes', () => {
  const cluster = new FloCluster();
  let client: KvClient;
  const acked = new Map<string, string>();

  async function write(key: string, value: string): Promise<void> {
    await client.put(key, value);
    acked.set(key, value);
  }

  /** Writes continuously until stopped; only acknowledged writes are recorded. */
  function writer(prefix: string): { stop: () => Promise<number> } {
    let running = true;
    let n = 0;
    const loop = (async () => {
      while (running) {
        const key = `${prefix}/${n}`;
        try {
          await write(key, `v${n}`);
        } catch (e) {
          // Unknown outcomes are fine: they are simply not counted as acknowledged.
          if (!isKvError(e)) throw e;
        }
        n++;
      }
    })();
    return {
      stop: async () => {
        running = false;
        await loop;
        return n;
      },
    };
  }

  async function expectAllAcked(ids: number[]): Promise<void> {
    for (const id of ids) {
      await until(`member ${id} to hold every acknowledged write`, async () => {
        const res = await fetch(`${cluster.url(id)}/v1/kv?prefix=&serializable=true`);
        const body = (await res.json()) as { items: { key: string; value: string }[] };
        const have = new Map(body.items.map((i) => [i.key, i.value]));
        for (const [k, v] of acked) if (have.get(k) !== v) return false;
        return true;
      });
    }
  }

  beforeAll(async () => {
    await cluster.start(3);
    client = cluster.client();
  });
  afterAll(async () => {
    client?.close();
    await cluster.stop();
  });

  it('replicates writes to every member', async () => {
    for (let i = 0; i < 20; i++) await write(`basic/${i}`, `v${i}`);
    await expectAllAcked([1, 2, 3]);
  });

  it('keeps every acknowledged write through SIGKILL of a follower, which restarts with the same command and catches up', async () => {
    const leader = await cluster.waitForLeader();
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const w = writer('follower-kill');
    await new Promise((r) => setTimeout(r, 500));
    await cluster.kill(follower);
    await new Promise((r) => setTimeout(r, 1000));
    cluster.spawn(follower);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await w.stop()).toBeGreaterThan(0);
    await expectAllAcked([1, 2, 3]);
  });

  it('keeps every acknowledged write through SIGKILL of the leader; a new leader is elected', async () => {
    const leader = await cluster.waitForLeader();
    const w = writer('leader-kill');
    await new Promise((r) => setTimeout(r, 500));
    await cluster.kill(leader);
    const rest = [1, 2, 3].filter((id) => id !== leader);
    const next = await cluster.waitForLeader(rest);
    expect(next).not.toBe(leader);
    await new Promise((r) => setTimeout(r, 1000));
    cluster.spawn(leader);
    await new Promise((r) => setTimeout(r, 500));
    await w.stop();
    await expectAllAcked([1, 2, 3]);
  });

  it('a leader paused (SIGSTOP) past the election timeout is replaced, and steps down when resumed', async () => {
    const leader = await cluster.waitForLeader();
    const rest = [1, 2, 3].filter((id) => id !== leader);
    const termBefore = (await cluster.status(rest[0]!)).term;
    cluster.signal(leader, 'SIGSTOP');
    try {
      const next = await cluster.waitForLeader(rest);
      expect(next).not.toBe(leader);
      expect((await cluster.status(next)).term).toBeGreaterThan(termBefore);
      // A client that knows only the live members (a request to the frozen one would hang).
      const c = new KvClient({ endpoints: rest.map((id) => cluster.url(id)) });
      try {
        await c.put('pause/during', 'x');
        acked.set('pause/during', 'x');
      } finally {
        c.close();
      }
    } finally {
      cluster.signal(leader, 'SIGCONT');
    }
    await until('the old leader to step down', async () => {
      const s = await cluster.status(leader);
      return s.leader !== leader && s.leader !== 0;
    });
    await expectAllAcked([1, 2, 3]);
  });

  it('a fourth member joins with --join and a member is removed while clients keep writing', async () => {
    const w = writer('membership');
    await cluster.join(4, 1);
    await until('member 4 to be promoted to voter', async () => {
      const s = await cluster.status(1);
      return s.members.some((m) => m.id === 4 && !m.learner);
    });
    const leader = await cluster.waitForLeader([1, 2, 3, 4]);
    const victim = [1, 2, 3, 4].find((id) => id !== leader && id !== 4)!;
    await client.removeMember(victim);
    expect((await client.members()).map((m) => m.id)).not.toContain(victim);
    await until('the removed member to exit', async () => (await Promise.race([cluster.exited(victim), new Promise((r) => setTimeout(() => r('running'), 100))])) !== 'running');
    await new Promise((r) => setTimeout(r, 500));
    expect(await w.stop()).toBeGreaterThan(0);
    const remaining = [1, 2, 3, 4].filter((id) => id !== victim);
    await expectAllAcked(remaining);
  });

  it('answers bad input with its documented status and error code, and keeps serving', async () => {
    const live = [...cluster.members.keys()].filter((id) => cluster.members.get(id)!.proc?.exitCode === null);
    const url = cluster.url(live[live.length - 1]!);
    const call = async (method: string, path: string, body?: string, headers: Record<string, string> = {}) => {
      const res = await fetch(url + path, { method, headers: { 'content-type': 'application/json', ...headers }, ...(body !== undefined ? { body } : {}) });
      return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string } } };
    };
    const cases: [string, string, string | undefined, number, string][] = [
      ['PUT', '/v1/kv/bad', '{"value":', 400, 'bad-request'],
      ['PUT', `/v1/kv/${'k'.repeat(1025)}`, '{"value":"x"}', 413, 'too-large'],
      ['PUT', '/v1/kv/big', JSON.stringify({ value: 'v'.repeat(1024 * 1024 + 1) }), 413, 'too-large'],
      ['DELETE', '/v1/members/99', undefined, 404, 'member-not-found'],
      ['POST', '/v1/members/99/promote', undefined, 404, 'member-not-found'],
      ['GET', '/v1/kv/definitely-absent', undefined, 404, 'not-found'],
      ['PUT', '/v1/kv/cas', '{"value":"x","prevRevision":999999}', 409, 'conflict'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await call(method, path, body);
      expect([method, path.slice(0, 40), r.status, r.body.error?.code]).toEqual([method, path.slice(0, 40), status, code]);
    }
    await write('after-bad-input', 'ok');
    expect((await client.get('after-bad-input'))?.value).toBe('ok');
  });
});

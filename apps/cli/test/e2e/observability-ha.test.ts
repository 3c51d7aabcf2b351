// /metrics and /readyz of a 3-member flo server cluster as leaders come and go: a leader change
// is counted (flotilla_server_leader_changes_seen_total, read with a Prometheus text parser), a
// member is ready while it has a leader and can serve a linearizable read, and answers 503
// naming the failed check once it is alone.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, describe, expect, it } from 'vitest';
import { FloCluster, until } from './kv-harness.js';

const cluster = new FloCluster();
afterAll(async () => {
  await cluster.stop();
});

async function metric(url: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const v = parsePrometheusTextFormat(text).find((f) => f.name === name)?.metrics[0]?.value;
  return v === undefined ? undefined : Number(v);
}

async function readyz(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`${url}/readyz?verbose`);
  return { status: r.status, body: await r.text() };
}

describe('flo server: a leader change counted; /readyz follows the leader and the applied index', () => {
  it('counts the change on a follower, and is not ready once alone', async () => {
    await cluster.start(3);
    const leader = await cluster.waitForLeader();
    const [follower, other] = [1, 2, 3].filter((id) => id !== leader) as [number, number];
    const url = cluster.url(follower);
    await until('the follower ready', async () => (await readyz(url)).status === 200);
    expect((await readyz(url)).body).toBe('[+]leader ok\n[+]linearizable_read ok\nreadyz check passed\n');
    const before = (await metric(url, 'flotilla_server_leader_changes_seen_total'))!;
    expect(before).toBeGreaterThanOrEqual(1);
    expect(await metric(url, 'flotilla_server_has_leader')).toBe(1);

    await cluster.kill(leader);
    const next = await cluster.waitForLeader([follower, other]);
    expect(next).not.toBe(leader);
    await until('the change counted on the follower', async () => ((await metric(url, 'flotilla_server_leader_changes_seen_total')) ?? 0) > before);
    await until('ready under the new leader', async () => (await readyz(url)).status === 200);

    await cluster.kill(follower === next ? other : next); // the follower is left alone
    const alone = follower;
    const r = await until('not ready once alone', async () => {
      const x = await readyz(cluster.url(alone));
      return x.status === 503 ? x : undefined;
    });
    expect(r.body).toMatch(/^\[-\](leader|linearizable_read) failed: .+$/m);
    expect(r.body).toMatch(/readyz check failed\n$/);
    expect((await fetch(`${cluster.url(alone)}/healthz`)).status).toBe(200); // alive all the same
  });
});

// A KV member's /metrics, /healthz and /readyz over real HTTP from in-process members on
// file storage; the exposition text is read with a Prometheus text parser.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterEach, describe, expect, it } from 'vitest';
import { KvClient } from '@flotilla/raft/client';
import { kvServerMetrics } from '@flotilla/raft/prometheus';
import { startKvServer } from '@flotilla/raft/server';
import { withFreePorts } from '@flotilla/raft/testing';
import { startKvCluster } from './kv-cluster.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until<T>(f: () => Promise<T | undefined | false> | T | undefined | false, what: string, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function scrape(url: string): Promise<{ contentType: string; text: string; value(name: string): number | undefined; type(name: string): string | undefined; count(name: string): number }> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  return {
    contentType: res.headers.get('content-type') ?? '',
    text,
    value: (name) => {
      const v = families.get(name)?.metrics[0]?.value;
      return v === undefined ? undefined : Number(v);
    },
    type: (name) => families.get(name)?.type,
    count: (name) => Number(families.get(name)?.metrics[0]?.count ?? NaN),
  };
}

describe('kvServerMetrics: etcd metric names on /metrics of the client port', () => {
  it('counts puts, fsyncs and leader changes; /readyz follows the leader; /metrics needs no token', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'flo-kv-metrics-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const { servers: started } = await startKvCluster(3, dir, () => ({ token: 'tok', peerToken: 'peer-secret', metrics: kvServerMetrics() }));
    const servers = new Map(started.map((s) => [s.node.id, s]));
    cleanups.push(async () => {
      for (const s of servers.values()) await s.close();
    });
    const client = new KvClient({ endpoints: [...servers.values()].map((s) => s.clientUrl), token: 'tok', retryWindowMs: 30_000 });
    cleanups.push(() => client.close());
    await client.put('warm', 'up');
    const leaderId = await until(() => [...servers.values()].find((s) => s.node.isLeader())?.node.id, 'a leader');
    const follower = [...servers.values()].find((s) => s.node.id !== leaderId)!;

    // Health and readiness need no token, as etcd serves them; the KV API does.
    expect((await fetch(`${follower.clientUrl}/v1/kv/warm`)).status).toBe(401);
    const health = await fetch(`${follower.clientUrl}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, 'ok\n']);
    await until(async () => (await fetch(`${follower.clientUrl}/readyz`)).status === 200, 'follower ready');
    const verbose = await fetch(`${follower.clientUrl}/readyz?verbose`);
    expect(await verbose.text()).toBe('[+]leader ok\n[+]linearizable_read ok\nreadyz check passed\n');

    const before = await scrape(follower.clientUrl);
    expect(before.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(before.type('flotilla_server_has_leader')).toBe('GAUGE');
    expect(before.value('flotilla_server_has_leader')).toBe(1);
    expect(before.value('flotilla_server_is_leader')).toBe(0);
    expect(before.value('flotilla_server_leader_changes_seen_total')).toBe(1);
    expect(before.type('flotilla_disk_wal_fsync_duration_seconds')).toBe('HISTOGRAM');
    expect(before.type('process_cpu_seconds_total')).toBe('COUNTER');

    for (let i = 0; i < 10; i++) await client.put(`k${i}`, `v${i}`);
    await client.delete('warm');
    const after = await until(async () => {
      const s = await scrape(follower.clientUrl);
      return s.value('flotilla_mvcc_delete_total')! >= 1 ? s : undefined;
    }, 'the follower applies the writes');
    expect(after.value('flotilla_mvcc_put_total')! - before.value('flotilla_mvcc_put_total')!).toBe(10);
    expect(after.value('flotilla_server_proposals_committed_total')! - before.value('flotilla_server_proposals_committed_total')!).toBeGreaterThanOrEqual(11);
    expect(after.value('flotilla_server_proposals_applied_total')).toBeGreaterThanOrEqual(before.value('flotilla_server_proposals_committed_total')! + 11);
    expect(after.count('flotilla_disk_wal_fsync_duration_seconds')).toBeGreaterThan(before.count('flotilla_disk_wal_fsync_duration_seconds'));
    expect(after.value('flotilla_debugging_mvcc_keys_total')).toBe(10);

    // The leader goes away: the survivors see a second leader.
    await servers.get(leaderId)!.close();
    servers.delete(leaderId);
    const changed = await until(async () => {
      const s = await scrape(follower.clientUrl);
      return s.value('flotilla_server_leader_changes_seen_total') === 2 && s.value('flotilla_server_has_leader') === 1 ? s : undefined;
    }, 'a new leader seen');
    expect(changed.value('flotilla_server_term')).toBeGreaterThan(before.value('flotilla_server_term')!);
    await until(async () => (await fetch(`${follower.clientUrl}/readyz`)).status === 200, 'ready under the new leader');

    // Alone, the last member cannot read (no quorum), then knows no leader: not ready, and it says why.
    const others = [...servers.values()].filter((s) => s !== follower);
    for (const s of others) {
      await s.close();
      servers.delete(s.node.id);
    }
    const lonely = await until(async () => {
      const r = await fetch(`${follower.clientUrl}/readyz`);
      const text = await r.text();
      expect(r.status === 200 || text.endsWith('readyz check failed\n')).toBe(true);
      return r.status === 503 && text.startsWith('[-]leader') ? text : undefined;
    }, 'not ready without a quorum');
    expect(lonely).toMatch(/^\[-\]leader failed: no leader is known\n\[-\]linearizable_read failed: .*\nreadyz check failed\n$/);
    expect((await scrape(follower.clientUrl)).value('flotilla_server_has_leader')).toBe(0);
  });

  it('answers 404 on /metrics when no metrics are configured, and 405 to a POST', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'flo-kv-metrics-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const s = await withFreePorts(1, ([port], attempt) => {
      const peer = `127.0.0.1:${port}`;
      return startKvServer({ id: 1, listen: '127.0.0.1:0', peerListen: peer, peers: new Map([[1, peer]]), data: path.join(dir, `try${attempt}`), tickMs: 20 });
    });
    cleanups.push(() => s.close());
    expect((await fetch(`${s.clientUrl}/metrics`)).status).toBe(404);
    expect((await fetch(`${s.clientUrl}/healthz`, { method: 'POST' })).status).toBe(405);
    await until(async () => (await fetch(`${s.clientUrl}/readyz`)).status === 200, 'a lone member leads itself and is ready');
  });
});

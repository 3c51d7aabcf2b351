// Issue 17, no silent hangs: an endpoint that accepts a connection and then never answers (a
// blackholed address, on loopback: a listening socket that reads nothing and writes nothing)
// is said on stderr within a second and given up at --request-timeout, naming it — for
// flotilla:// and etcd:// stores, flo kv, and flo kv watch. A watch that had connected keeps
// going through a member's restart and says so. Never a timed assertion: the order of the
// lines and the exit code are what is checked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { FloCluster, floCommand, runFlo, until } from './kv-harness.js';

describe('a blackholed endpoint: "still waiting" on stderr, then exit 1 at --request-timeout naming it', () => {
  let hole: net.Server;
  const sockets = new Set<net.Socket>();
  let endpoint: string;
  beforeAll(async () => {
    hole = net.createServer((s) => {
      sockets.add(s);
      s.pause();
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    endpoint = `127.0.0.1:${(hole.address() as net.AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => hole.close(r));
  });

  it.each([
    ['flo get --store flotilla://', () => ['get', 'hosts', '--store', `flotilla://${endpoint}`], /no member answered within 3 s; tried http:\/\/127\.0\.0\.1:\d+/],
    ['flo get --store etcd://', () => ['get', 'hosts', '--store', `etcd://${endpoint}`], /etcd: no answer from 127\.0\.0\.1:\d+ within 3 s \(--request-timeout\)/],
    ['flo store check --store etcd://', () => ['store', 'check', '--store', `etcd://${endpoint}`], /no answer from 127\.0\.0\.1:\d+ within 3 s/],
    ['flo kv get', () => ['kv', 'get', 'k', '--endpoints', endpoint], /no member answered within 3 s; tried http:\/\/127\.0\.0\.1:\d+/],
    ['flo kv watch', () => ['kv', 'watch', '--endpoints', endpoint], /watch: no member answered within [\d.]+ s \(--request-timeout\); tried http:\/\/127\.0\.0\.1:\d+/],
  ])('%s', async (_what, args, final) => {
    const r = await runFlo([...args(), '--request-timeout', '3']);
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stderr.trim().split('\n');
    const still = new RegExp(`^flo: still waiting for (http://)?${endpoint.replace(/\./g, '\\.')}… \\(giving up after 3 s: --request-timeout\\)$`);
    const at = lines.findIndex((l) => still.test(l));
    expect(at, r.stderr).toBeGreaterThanOrEqual(0);
    expect(at).toBeLessThan(lines.length - 1);
    expect(lines.at(-1)).toMatch(final);
    expect(r.stdout).toBe('');
  });
});

describe('flo kv watch across an outage of the member it watches (etcdctl keeps watching; so does flo, and says so)', () => {
  const cluster = new FloCluster();
  beforeAll(async () => {
    await cluster.start(1);
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('says the watch was lost and resumed, and delivers the events written meanwhile and after', async () => {
    const watch = spawn(process.execPath, [...floCommand(), 'kv', 'watch', '--prefix', 'w/', '--endpoints', cluster.url(1), '--request-timeout', '2'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    let err = '';
    watch.stdout.on('data', (d: Buffer) => (out += d.toString()));
    watch.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      await until('the watch to deliver a first event', async () => {
        await runFlo(['kv', 'put', 'w/before', '1', '--endpoints', cluster.url(1)]);
        return out.includes('PUT w/before');
      });
      await cluster.kill(1);
      await until('the watch to say it lost the member', () => err.includes('flo: watch lost'));
      cluster.spawn(1);
      await cluster.waitForLeader();
      await until('the watch to resume and deliver a new event', async () => {
        await runFlo(['kv', 'put', 'w/after', '2', '--endpoints', cluster.url(1)]);
        return out.includes('PUT w/after');
      });
      expect(err).toMatch(new RegExp(`flo: watch lost ${cluster.url(1).replace(/\./g, '\\.')} \\(.*\\); retrying`));
      expect(err).toContain(`flo: watch resumed on ${cluster.url(1)}`);
      // Still running well past its --request-timeout: only a watch that never connected gives up.
      expect(watch.exitCode).toBeNull();
    } finally {
      watch.kill('SIGINT');
    }
    const code = await new Promise<number | null>((r) => (watch.exitCode !== null ? r(watch.exitCode) : watch.once('exit', r)));
    expect(code).toBe(0);
    expect(out.match(/PUT w\/before /g)?.length).toBeGreaterThanOrEqual(1);
  });
});

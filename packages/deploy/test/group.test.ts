import { describe, expect, it } from 'vitest';
import { Connection, DeployError, Group, GroupError, groupResultJson, isGroupError, runOnHosts } from '../src/index.js';

const hosts = (n: number) => Array.from({ length: n }, (_, i) => `h${i + 1}`);
const tick = () => new Promise((r) => setImmediate(r));

/** Runs with a fake operation that records concurrency and fails on the given hosts. */
async function exercise(n: number, failing: Set<string>, options: Parameters<typeof runOnHosts>[2]) {
  let active = 0;
  let peak = 0;
  const started: string[] = [];
  const result = await runOnHosts(
    hosts(n),
    async (h) => {
      started.push(h);
      active++;
      peak = Math.max(peak, active);
      await tick();
      await tick();
      active--;
      if (failing.has(h)) throw new Error(`boom on ${h}`);
      return h.toUpperCase();
    },
    options,
  );
  return { result, peak, started };
}

describe('runOnHosts', () => {
  it('returns one entry per host in the given order, with values', async () => {
    const { result } = await exercise(5, new Set(), {});
    expect(result.ok).toBe(true);
    expect(result.hosts.map((h) => [h.host, h.status, h.value])).toEqual(hosts(5).map((h) => [h, 'ok', h.toUpperCase()]));
  });

  it('never runs more than `parallel` hosts at once; serial is one', async () => {
    expect((await exercise(10, new Set(), { parallel: 3 })).peak).toBe(3);
    const s = await exercise(4, new Set(), { serial: true });
    expect(s.peak).toBe(1);
    expect(s.started).toEqual(hosts(4));
    expect((await exercise(100, new Set(), {})).peak).toBe(64);
  });

  it('max-fail 0 (default): after the first failure no new host starts', async () => {
    const { result, started } = await exercise(5, new Set(['h2']), { serial: true });
    expect(started).toEqual(['h1', 'h2']);
    expect(result.hosts.map((h) => h.status)).toEqual(['ok', 'failed', 'skipped', 'skipped', 'skipped']);
    expect(result.skipped[0]!.error!.message).toMatch(/max-fail 0/);
    expect(result.ok).toBe(false);
  });

  it('max-fail N: the run continues until failures exceed N', async () => {
    const { result } = await exercise(6, new Set(['h1', 'h3', 'h5']), { serial: true, maxFail: 2 });
    expect(result.hosts.map((h) => h.status)).toEqual(['failed', 'ok', 'failed', 'ok', 'failed', 'skipped']);
  });

  it('max-fail P% is a share of all hosts, rounded down', async () => {
    // 25% of 8 = 2 failures allowed; the 3rd stops the run.
    const { result } = await exercise(8, new Set(['h1', 'h2', 'h3']), { serial: true, maxFail: '25%' });
    expect(result.hosts.filter((h) => h.status === 'skipped').map((h) => h.host)).toEqual(['h4', 'h5', 'h6', 'h7', 'h8']);
  });

  it('hosts already running when the budget is exceeded finish', async () => {
    const { result } = await exercise(4, new Set(['h1']), { parallel: 2 });
    expect(result.hosts.map((h) => h.status)).toEqual(['failed', 'ok', 'skipped', 'skipped']);
  });

  it('rolling batches: a batch starts after the previous one, with a health check between', async () => {
    const checks: string[][] = [];
    const batches: string[][] = [];
    const { result, peak } = await exercise(5, new Set(), {
      batch: 2,
      onBatch: (_i, hs) => batches.push(hs),
      healthCheck: (b) => void checks.push(b.map((r) => r.host)),
    });
    expect(result.ok).toBe(true);
    expect(peak).toBe(2);
    expect(batches).toEqual([['h1', 'h2'], ['h3', 'h4'], ['h5']]);
    expect(checks).toEqual([['h1', 'h2'], ['h3', 'h4']]);
  });

  it('a failing batch stops the rollout when failures exceed max-fail', async () => {
    const { result } = await exercise(6, new Set(['h3']), { batch: '34%', maxFail: 0 });
    // 34% of 6 = 2 per batch: h1,h2 | h3,h4 (h3 fails; h4 in flight finishes) | h5,h6 skipped
    expect(result.hosts.map((h) => h.status)).toEqual(['ok', 'ok', 'failed', 'ok', 'skipped', 'skipped']);
  });

  it('a failing health check stops the rollout', async () => {
    const { result } = await exercise(4, new Set(), {
      batch: 1,
      healthCheck: (_b, i) => {
        if (i === 1) throw new Error('http 500');
      },
    });
    expect(result.hosts.map((h) => h.status)).toEqual(['ok', 'ok', 'skipped', 'skipped']);
    expect(result.skipped[0]!.error!.message).toMatch(/health check after batch 2 failed: http 500/);
  });

  it('connect errors are unreachable, other errors failed', async () => {
    const r = await runOnHosts(['a', 'b'], async (h) => {
      await tick();
      throw h === 'a' ? new DeployError('connect-failed', 'no route') : new Error('x');
    }, { maxFail: 5 });
    expect(r.hosts.map((h) => h.status)).toEqual(['unreachable', 'failed']);
    expect(groupResultJson(r)).toEqual({
      hosts: [
        { host: 'a', status: 'unreachable', durationMs: expect.any(Number), error: 'no route' },
        { host: 'b', status: 'failed', durationMs: expect.any(Number), error: 'x' },
      ],
    });
  });

  it('rejects bad options with a TypeError naming expected and received', async () => {
    await expect(runOnHosts(['a'], () => Promise.resolve(1), { parallel: 0 })).rejects.toThrow(/Expected `parallel` to be an integer >= 1, got `0`/);
    await expect(runOnHosts(['a'], () => Promise.resolve(1), { maxFail: 'x%' as never })).rejects.toThrow(TypeError);
  });
});

describe('Group', () => {
  it('throws a GroupError carrying the per-host result when a host fails', async () => {
    const dir = (await import('node:fs')).mkdtempSync((await import('node:path')).join((await import('node:os')).tmpdir(), 'flo-g-'));
    const g = new Group(
      ['a', 'b'].map((n) => Connection.localDir(`${dir}/${n}`, { name: n })),
      { maxFail: 1 },
    );
    const ok = await g.run('echo hi');
    expect(ok.hosts.map((h) => h.value!.stdout)).toEqual(['hi\n', 'hi\n']);
    const err = await g.run('[ "$(basename "$PWD")" = a ]').catch((e: unknown) => e);
    expect(isGroupError(err)).toBe(true);
    expect(err).toBeInstanceOf(GroupError);
    const ge = err as GroupError;
    expect(ge.result.hosts.map((h) => h.status)).toEqual(['ok', 'failed']);
    expect(ge.message).toMatch(/1 of 2 hosts failed \(b\)/);
    await g.close();
  });
});

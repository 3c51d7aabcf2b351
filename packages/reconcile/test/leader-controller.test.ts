// Two replicas of a controller behind a LeaderElector: only the leader reconciles, writes
// carry its fencing token, and a stale leader's late write is rejected by the token check.
import { expect, it } from 'vitest';
import { Controller, LeaderElector, type LeaseRecord } from '../src/index.js';
import { FakeClock, MemoryStore, settle } from '../src/testing/index.js';

interface Target {
  want: number;
}
interface Status {
  seen: number;
  token: number;
  by: string;
}

it('only the leader reconciles; after hand-over the new leader converges and a stale token is refused', async () => {
  const clock = new FakeClock();
  const leases = new MemoryStore<LeaseRecord>({ clock, progressIntervalMs: 0 });
  const targets = new MemoryStore<Target>({ clock });
  const status = new MemoryStore<Status>({ clock, progressIntervalMs: 0 });
  let highestToken = 0;
  let refused = 0;
  /** The "side effect" guarded by the fencing token, as a storage server would check it. */
  const write = (key: string, value: Status): void => {
    if (value.token < highestToken) {
      refused++;
      return;
    }
    highestToken = value.token;
    status.put(key, value);
  };
  const cut = new Set<string>();
  const replica = (id: string) => {
    const ac = new AbortController();
    const elector = new LeaderElector({
      store: {
        get: (k) => (cut.has(id) ? new Promise(() => undefined) : leases.get(k)),
        compareAndSet: (k, v, r) => (cut.has(id) ? new Promise(() => undefined) : leases.compareAndSet(k, v, r)),
      },
      key: 'leases/demo',
      identity: id,
      clock,
      onStartedLeading: ({ signal, fencingToken }) => {
        const c = new Controller(
          'demo',
          async (key) => {
            const t = targets.read(key)?.object;
            if (t === undefined) return;
            await settle(1);
            write(key, { seen: t.want, token: fencingToken, by: id });
          },
          { clock },
        );
        c.watch(targets);
        return c.run(signal);
      },
    });
    return { id, elector, ac, done: elector.run(ac.signal) };
  };
  const a = replica('a');
  await clock.advanceAsync(0);
  const b = replica('b');
  targets.put('t1', { want: 1 });
  await clock.runFor(1000, 100);
  expect(status.read('t1')?.object).toMatchObject({ seen: 1, by: 'a' });
  const tokenA = status.read('t1')!.object.token;

  // Cut the leader off from the lease store; b takes over and reconciles new work.
  cut.add('a');
  await clock.runFor(20_000, 200);
  expect(a.elector.isLeader()).toBe(false);
  expect(b.elector.isLeader()).toBe(true);
  targets.put('t1', { want: 2 });
  await clock.runFor(1000, 100);
  expect(status.read('t1')?.object).toMatchObject({ seen: 2, by: 'b' });
  expect(status.read('t1')!.object.token).toBeGreaterThan(tokenA);

  // A late write from the deposed leader is refused by the fencing check.
  write('t1', { seen: 99, token: tokenA, by: 'a' });
  expect(refused).toBe(1);
  expect(status.read('t1')?.object.seen).toBe(2);

  cut.delete('a');
  a.ac.abort();
  b.ac.abort();
  await clock.runFor(30_000, 1000);
  await Promise.all([a.done, b.done]);
});

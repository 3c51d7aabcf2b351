import { describe, expect, it } from 'vitest';
import { LeaderElector, type CompareAndSetStore, type LeaseRecord } from '../src/index.js';
import { FakeClock, MemoryStore } from '../src/testing/index.js';

type Mode = 'ok' | 'hang' | 'fail';

/** A per-replica view of the shared store that can be partitioned (hang) or fail. */
function link(store: MemoryStore<LeaseRecord>, onWrite?: (record: LeaseRecord, revision: number) => void) {
  const state = { mode: 'ok' as Mode };
  const view: CompareAndSetStore<LeaseRecord> = {
    get: (key) => (state.mode === 'ok' ? store.get(key) : state.mode === 'fail' ? Promise.reject(new Error('down')) : new Promise(() => undefined)),
    compareAndSet: async (key, object, rev) => {
      if (state.mode === 'fail') throw new Error('down');
      if (state.mode === 'hang') return new Promise(() => undefined);
      const r = await store.compareAndSet(key, object, rev);
      if (r.succeeded) onWrite?.(object, r.revision);
      return r;
    },
  };
  return { state, view };
}

function cluster(n: number, options: { releaseOnStop?: boolean } = {}) {
  const clock = new FakeClock();
  const store = new MemoryStore<LeaseRecord>({ clock, progressIntervalMs: 0 });
  const leading = new Set<string>();
  const log: string[] = [];
  let overlaps = 0;
  const lastWrite = new Map<string, number>();
  const tokens: number[] = [];
  const replicas = Array.from({ length: n }, (_, i) => {
    const id = `r${i}`;
    const l = link(store, (record) => {
      if (record.holderIdentity === id) lastWrite.set(id, clock.now());
    });
    const elector = new LeaderElector({
      store: l.view,
      key: 'leases/controller',
      identity: id,
      clock,
      ...(options.releaseOnStop !== undefined && { releaseOnStop: options.releaseOnStop }),
      onStartedLeading: ({ fencingToken }) => {
        if (leading.size > 0) overlaps++;
        leading.add(id);
        tokens.push(fencingToken);
        log.push(`${clock.now()} start ${id} token=${fencingToken}`);
      },
      onStoppedLeading: () => {
        leading.delete(id);
        log.push(`${clock.now()} stop ${id}`);
      },
    });
    const ac = new AbortController();
    const done = elector.run(ac.signal);
    return { id, elector, link: l, ac, done };
  });
  return { clock, store, leading, log, replicas, lastWrite, tokens, overlaps: () => overlaps };
}

describe('LeaderElector validation (client-go defaults and rules)', () => {
  const store = new MemoryStore<LeaseRecord>();
  const base = { store, key: 'l', identity: 'me', onStartedLeading: () => undefined };

  it('accepts the defaults 15 s / 10 s / 2 s', () => {
    expect(() => new LeaderElector(base)).not.toThrow();
  });

  it('requires leaseDuration > renewDeadline > 1.2 × retryPeriod > 0', () => {
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 10_000 })).toThrow(
      /Expected `leaseDurationMs` to be greater than renewDeadlineMs \(10000\), got 10000/,
    );
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 2_400 })).toThrow(
      /Expected `renewDeadlineMs` to be greater than 1.2 × retryPeriodMs \(2400\), got 2400/,
    );
    expect(() => new LeaderElector({ ...base, retryPeriodMs: 0 })).toThrow(/Expected `retryPeriodMs` to be a finite number > 0, got 0/);
    expect(() => new LeaderElector({ ...base, identity: '' })).toThrow(/Expected `identity` to be a non-empty string/);
    expect(() => new LeaderElector({ ...base, onStartedLeading: undefined as never })).toThrow(/onStartedLeading/);
    expect(() => new LeaderElector({ ...base, store: {} as never })).toThrow(/CompareAndSetStore/);
  });
});

describe('LeaderElector', () => {
  it('a lone replica acquires at once; the fencing token is the lease revision', async () => {
    const c = cluster(1);
    await c.clock.advanceAsync(0);
    expect(c.log).toEqual(['0 start r0 token=1']);
    const lease = c.store.read('leases/controller')!;
    expect(lease.object).toMatchObject({ holderIdentity: 'r0', leaseDurationMs: 15_000, leaderTransitions: 0 });
    expect(c.replicas[0]!.elector.isLeader()).toBe(true);
    expect(c.replicas[0]!.elector.fencingToken()).toBe(1);
    // Renews every retry period.
    await c.clock.runFor(10_000, 500);
    expect(c.store.read('leases/controller')!.revision).toBe(6);
    expect(c.store.read('leases/controller')!.object.renewTime).toBe(10_000);
    c.replicas[0]!.ac.abort();
    await c.replicas[0]!.done;
  });

  it('exactly one of three leads, for minutes', async () => {
    const c = cluster(3);
    for (let t = 0; t < 300; t++) {
      await c.clock.advanceAsync(1000);
      expect(c.leading.size).toBe(1);
    }
    expect(c.log.length).toBe(1);
    for (const r of c.replicas) r.ac.abort();
    await Promise.all(c.replicas.map((r) => r.done));
  });

  it.each([7_300, 8_150, 9_990, 31_420])('hands over within leaseDuration + 1.2 × retryPeriod of the last renewal when the leader is cut off at %i ms, never two leaders', async (cutAt) => {
    const c = cluster(3);
    await c.clock.runFor(cutAt, 10);
    const leader = c.replicas.find((r) => r.elector.isLeader())!;
    leader.link.state.mode = 'hang';
    const lastRenewal = c.lastWrite.get(leader.id)!;
    let takeoverAt: number | undefined;
    let stoppedAt: number | undefined;
    for (let t = 0; t < 400 && takeoverAt === undefined; t++) {
      await c.clock.advanceAsync(50);
      if (stoppedAt === undefined && !leader.elector.isLeader()) stoppedAt = c.clock.now();
      const next = c.replicas.find((r) => r !== leader && r.elector.isLeader());
      if (next) takeoverAt = c.clock.now();
    }
    expect(stoppedAt).toBeDefined();
    expect(takeoverAt).toBeDefined();
    // The cut-off leader stopped by its renew deadline, before anyone else started.
    expect(stoppedAt!).toBeLessThanOrEqual(lastRenewal + 10_000 + 50);
    expect(stoppedAt!).toBeLessThan(takeoverAt!);
    expect(takeoverAt! - lastRenewal).toBeGreaterThanOrEqual(15_000);
    expect(takeoverAt! - lastRenewal).toBeLessThanOrEqual(15_000 + 1.2 * 2_000 + 50);
    expect(c.overlaps()).toBe(0);
    // The new term's fencing token is larger.
    expect(c.tokens[1]!).toBeGreaterThan(c.tokens[0]!);
    expect(c.store.read('leases/controller')!.object.leaderTransitions).toBe(1);
    for (const r of c.replicas) r.ac.abort();
    leader.link.state.mode = 'ok';
    await c.clock.advanceAsync(20_000);
    await Promise.all(c.replicas.map((r) => r.done));
  });

  it('never two leaders across repeated random partitions (seeded)', async () => {
    const c = cluster(3);
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let step = 0; step < 600; step++) {
      if (step % 20 === 0) {
        for (const r of c.replicas) r.link.state.mode = rand() < 0.3 ? (rand() < 0.5 ? 'hang' : 'fail') : 'ok';
      }
      await c.clock.advanceAsync(500);
      expect(c.leading.size).toBeLessThanOrEqual(1);
    }
    expect(c.overlaps()).toBe(0);
    expect(c.tokens.length).toBeGreaterThan(1);
    for (let i = 1; i < c.tokens.length; i++) expect(c.tokens[i]!).toBeGreaterThan(c.tokens[i - 1]!);
    for (const r of c.replicas) {
      r.link.state.mode = 'ok';
      r.ac.abort();
    }
    await c.clock.runFor(30_000, 1000);
    await Promise.all(c.replicas.map((r) => r.done));
  });

  it('keeps leading through store failures shorter than the renew deadline', async () => {
    const c = cluster(2);
    await c.clock.advanceAsync(0);
    const leader = c.replicas.find((r) => r.elector.isLeader())!;
    leader.link.state.mode = 'fail';
    await c.clock.runFor(6_000, 100);
    expect(leader.elector.isLeader()).toBe(true);
    leader.link.state.mode = 'ok';
    await c.clock.runFor(30_000, 500);
    expect(leader.elector.isLeader()).toBe(true);
    expect(c.log.length).toBe(1);
    for (const r of c.replicas) r.ac.abort();
    await Promise.all(c.replicas.map((r) => r.done));
  });

  it('releases the lease on stop so another replica takes over within a retry period', async () => {
    const c = cluster(2);
    await c.clock.advanceAsync(0);
    const leader = c.replicas.find((r) => r.elector.isLeader())!;
    const other = c.replicas.find((r) => r !== leader)!;
    await c.clock.runFor(5_000, 100);
    const stopAt = c.clock.now();
    leader.ac.abort();
    await leader.done;
    expect(c.store.read('leases/controller')!.object.holderIdentity).toBe('');
    while (!other.elector.isLeader()) await c.clock.advanceAsync(50);
    expect(c.clock.now() - stopAt).toBeLessThanOrEqual(1.2 * 2_000 + 50);
    other.ac.abort();
    await other.done;
  });

  it('without releaseOnStop, the others wait for the lease to expire', async () => {
    const c = cluster(2, { releaseOnStop: false });
    await c.clock.advanceAsync(0);
    const leader = c.replicas.find((r) => r.elector.isLeader())!;
    const other = c.replicas.find((r) => r !== leader)!;
    leader.ac.abort();
    await leader.done;
    await c.clock.runFor(14_000, 100);
    expect(other.elector.isLeader()).toBe(false);
    await c.clock.runFor(4_000, 100);
    expect(other.elector.isLeader()).toBe(true);
    other.ac.abort();
    await other.done;
  });

  it('reports the observed leader and aborts the leading signal on stop', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore<LeaseRecord>({ clock, progressIntervalMs: 0 });
    const seen: string[] = [];
    let leadingSignal: AbortSignal | undefined;
    const a = new LeaderElector({
      store,
      key: 'k',
      identity: 'a',
      clock,
      onStartedLeading: ({ signal }) => void (leadingSignal = signal),
      onNewLeader: (id) => seen.push(`a sees ${id}`),
    });
    const b = new LeaderElector({ store, key: 'k', identity: 'b', clock, onStartedLeading: () => undefined, onNewLeader: (id) => seen.push(`b sees ${id}`) });
    const acA = new AbortController();
    const acB = new AbortController();
    const runA = a.run(acA.signal);
    await clock.advanceAsync(0);
    const runB = b.run(acB.signal);
    await clock.advanceAsync(0);
    expect(b.leader()).toBe('a');
    expect(leadingSignal?.aborted).toBe(false);
    acA.abort();
    await runA;
    expect(leadingSignal?.aborted).toBe(true);
    await clock.runFor(3_000, 100);
    expect(seen).toEqual(['a sees a', 'b sees a', 'b sees b']);
    acB.abort();
    await runB;
  });
});

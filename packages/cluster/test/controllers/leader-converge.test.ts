import { FakeClock, settle } from '@flotilla/reconcile/testing';
import { describe, expect, it } from 'vitest';
import { ClusterControllers, ClusterStore, MemoryKvStore, applyManifests, converge, convergence, isClusterError, parseManifests } from '../../src/index.js';
import { FakeRuntime } from '../../src/testing/index.js';
import { hostsYaml, webYaml } from './harness.js';

describe('leader election and in-process convergence', () => {
  it('several controller processes: exactly one leads; another takes over when it stops', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const kv = new MemoryKvStore({ progressIntervalMs: 0 });
    const store = new ClusterStore(kv);
    const runtime = new FakeRuntime();
    const leading = new Map<string, boolean>();
    const stops = new Map<string, AbortController>();
    const runs: Promise<void>[] = [];
    for (const id of ['a', 'b', 'c']) {
      const c = new ClusterControllers({ store, runtime, clock, hostProbeIntervalMs: 1000 });
      const abort = new AbortController();
      stops.set(id, abort);
      runs.push(c.runWithLeaderElection({ identity: id, signal: abort.signal, onLeading: (l) => leading.set(id, l) }));
    }
    await clock.runFor(5000);
    const leaders = () => [...leading].filter(([, l]) => l).map(([id]) => id);
    expect(leaders()).toHaveLength(1);
    const first = leaders()[0]!;
    stops.get(first)!.abort();
    await clock.runFor(20_000);
    expect(leaders()).toHaveLength(1);
    expect(leaders()[0]).not.toBe(first);
    for (const a of stops.values()) a.abort();
    await clock.runFor(60_000);
    await settle();
    await Promise.all(runs);
    await kv.close();
  });

  it('converge() runs the controllers in-process until the replica sets are ready, reporting progress', async () => {
    const kv = new MemoryKvStore({ progressIntervalMs: 0 });
    const store = new ClusterStore(kv);
    const runtime = new FakeRuntime();
    await applyManifests(store, parseManifests(hostsYaml(2)).objects);
    await applyManifests(store, parseManifests(webYaml(3)).objects);
    expect((await convergence(store)).done).toBe(false);
    const progress: string[][] = [];
    await converge({
      store,
      runtime,
      hostProbeIntervalMs: 50,
      pollIntervalMs: 20,
      lease: { leaseDurationMs: 1000, renewDeadlineMs: 500, retryPeriodMs: 100 },
      onProgress: (w) => progress.push(w),
      timeoutMs: 30_000,
    });
    expect((await convergence(store)).done).toBe(true);
    expect(runtime.running()).toHaveLength(3);
    expect(progress[0]![0]).toMatch(/^replicaset\/web: 0\/3 ready/);
    // the lease was released: nobody holds it
    const c = new ClusterControllers({ store, runtime });
    expect(await c.leaseHolder()).toBeUndefined();
    // a timeout is a typed error naming what is missing
    await applyManifests(store, parseManifests(webYaml(50)).objects);
    const err = await converge({ store, runtime, hostProbeIntervalMs: 50, pollIntervalMs: 20, timeoutMs: 300, lease: { leaseDurationMs: 1000, renewDeadlineMs: 500, retryPeriodMs: 100 } }).catch((e: unknown) => e);
    expect(isClusterError(err) && err.code).toBe('timeout');
    expect((err as Error).message).toMatch(/replicaset\/web: \d+\/50 ready/);
    await kv.close();
  });
});

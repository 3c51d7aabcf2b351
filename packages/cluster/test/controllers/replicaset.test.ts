import { afterEach, describe, expect, it } from 'vitest';
import { converged, hostsYaml, startHarness, webYaml, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe('replica set controller (fake runtime, fake clock)', () => {
  it('places replicas on ready hosts with the scheduler, starts them, reports status', async () => {
    h = await startHarness();
    await h.apply(hostsYaml(3));
    await h.apply(webYaml(5));
    await h.until('5 ready', () => converged(h!, 'web', 5));
    const instances = await h.store.instances.items();
    // spread: 5 instances over 3 hosts → 2/2/1
    const perHost = new Map<string, number>();
    for (const i of instances) perHost.set(i.spec.host, (perHost.get(i.spec.host) ?? 0) + 1);
    expect([...perHost.values()].sort()).toEqual([1, 2, 2]);
    for (const i of instances) {
      expect(i.status).toMatchObject({ phase: 'Running', ready: true, restarts: 0 });
      expect(i.status!.ports.http).toBeGreaterThan(0);
      expect(i.status!.pid).toBeGreaterThan(0);
      expect(i.metadata.labels).toMatchObject({ app: 'web', 'flotilla.dev/replicaset': 'web' });
    }
    const rs = await h.store.replicaSets.get('web');
    expect(rs!.status).toMatchObject({ replicas: 5, readyReplicas: 5, observedGeneration: 1 });
    const reasons = (await h.store.events.items()).map((e) => e.reason);
    expect(reasons).toContain('Scheduled');
    expect(reasons).toContain('Started');
  });

  it('scales up and down; scale-down removes the least healthy, then the newest', async () => {
    h = await startHarness();
    await h.apply(hostsYaml(3));
    await h.apply(webYaml(3));
    await h.until('3 ready', () => converged(h!, 'web', 3));
    await h.apply(webYaml(6));
    await h.until('6 ready', () => converged(h!, 'web', 6));
    const before = await h.store.instances.items();
    const newest = [...before].sort((a, b) => (a.metadata.creationTimestamp! < b.metadata.creationTimestamp! ? 1 : -1));
    // make one of the oldest unhealthy: it must go first
    const oldest = newest.at(-1)!;
    h.runtime.processes().find((p) => p.name === oldest.metadata.name)!.healthy = false;
    await h.until('oldest unready', async () => (await h!.store.instances.get(oldest.metadata.name))?.status?.ready === false);
    await h.apply(webYaml(4));
    await h.until('4 ready', () => converged(h!, 'web', 4));
    const after = new Set((await h.store.instances.items()).map((i) => i.metadata.name));
    expect(after.has(oldest.metadata.name)).toBe(false);
    // the other deleted one is the newest of the healthy ones
    expect(after.has(newest[0]!.metadata.name)).toBe(false);
    expect(h.runtime.running()).toHaveLength(4);
  });

  it('heals: a killed command is restarted by the supervisor (pid updated), a vanished instance is replaced', async () => {
    h = await startHarness();
    await h.apply(hostsYaml(2));
    await h.apply(webYaml(2));
    await h.until('2 ready', () => converged(h!, 'web', 2));
    const [a, b] = await h.store.instances.items();
    h.runtime.kill(a!.metadata.name);
    await h.until('pid updated', async () => {
      const cur = await h!.store.instances.get(a!.metadata.name);
      return cur?.status?.restarts === 1 && cur.status.pid !== a!.status!.pid && cur.status.ready === true;
    });
    h.runtime.vanish(b!.metadata.name);
    await h.until('replaced', async () => (await h!.store.instances.get(b!.metadata.name)) === undefined && (await converged(h!, 'web', 2)));
    const reasons = (await h.store.events.items()).filter((e) => e.involved.name === b!.metadata.name).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['Failed', 'Replaced']));
  });

  it('reports FailedScheduling with the scheduler reasons, and places when capacity appears', async () => {
    h = await startHarness();
    await h.apply(hostsYaml(1).replace('cpu: 4', 'cpu: 1'));
    await h.apply(webYaml(3));
    await h.until('2 ready', async () => (await h!.store.replicaSets.get('web'))?.status?.readyReplicas === 2);
    const failed = (await h.store.events.items()).find((e) => e.reason === 'FailedScheduling');
    expect(failed?.message).toContain('0/1 nodes are available: 1 Insufficient cpu.');
    await h.apply(hostsYaml(2).replace('cpu: 4', 'cpu: 1'));
    await h.until('3 ready', () => converged(h!, 'web', 3));
  });

  it('a host that stops answering goes NotReady after the grace period; its instances are replaced, and stopped there when it returns', async () => {
    h = await startHarness({ hostGracePeriodMs: 5000 });
    await h.apply(hostsYaml(3));
    await h.apply(webYaml(3, { strategy: 'placement: spread' }));
    await h.until('3 ready', () => converged(h!, 'web', 3));
    const onH1 = (await h.store.instances.items()).filter((i) => i.spec.host === 'h1').map((i) => i.metadata.name);
    expect(onH1.length).toBeGreaterThan(0);
    h.runtime.down.add('h1');
    await h.until('h1 NotReady', async () => (await h!.store.hosts.get('h1'))?.status?.ready === false);
    await h.until('replaced on h2/h3', async () => {
      const live = (await h!.store.instances.items()).filter((i) => i.metadata.deletionTimestamp === undefined);
      return live.length === 3 && live.every((i) => i.spec.host !== 'h1' && i.status?.ready);
    });
    // still running on h1 (unreachable): not stopped yet
    expect(h.runtime.running('h1').map((p) => p.name).sort()).toEqual(onH1.sort());
    h.runtime.down.delete('h1');
    await h.until('stopped on h1', () => h!.runtime.running('h1').length === 0 && converged(h!, 'web', 3));
    expect((await h.store.hosts.get('h1'))?.status?.ready).toBe(true);
    const reasons = (await h.store.events.items()).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['HostNotReady', 'Rescheduled', 'Stopped']));
  });

  it('deleting a replica set stops and removes its instances', async () => {
    h = await startHarness();
    await h.apply(hostsYaml(2));
    await h.apply(webYaml(2));
    await h.until('2 ready', () => converged(h!, 'web', 2));
    await h.store.replicaSets.delete('web');
    await h.until('gone', async () => (await h!.store.instances.items()).length === 0 && h!.runtime.running().length === 0);
  });
});

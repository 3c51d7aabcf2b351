import { afterEach, describe, expect, it } from 'vitest';
import { rolloutUndo } from '../../src/index.js';
import { converged, hostsYaml, startHarness, webYaml, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/** Tracks, at every step, how many instances exist and how many are ready. */
function watchBounds(harness: Harness, name: string): { maxTotal: number; minReady: number; sample(): Promise<void> } {
  const b = {
    maxTotal: 0,
    minReady: Number.POSITIVE_INFINITY,
    async sample() {
      const live = (await harness.store.instances.items()).filter((i) => i.spec.replicaSet === name && i.metadata.deletionTimestamp === undefined);
      b.maxTotal = Math.max(b.maxTotal, live.length);
      b.minReady = Math.min(b.minReady, live.filter((i) => i.status?.ready).length);
    },
  };
  return b;
}

describe('rolling updates', () => {
  it('replaces every instance in batches within maxSurge/maxUnavailable, health-gated', async () => {
    h = await startHarness();
    await h.apply(hostsYaml(3));
    await h.apply(webYaml(4, { strategy: 'updateStrategy: {maxUnavailable: 0, maxSurge: 1}' }));
    await h.until('v1 ready', () => converged(h!, 'web', 4));
    const v1 = new Set((await h.store.instances.items()).map((i) => i.metadata.name));
    await h.apply(webYaml(4, { env: 'v2', strategy: 'updateStrategy: {maxUnavailable: 0, maxSurge: 1}' }));
    const bounds = watchBounds(h, 'web');
    await h.until('v2 ready', async () => {
      await bounds.sample();
      return converged(h!, 'web', 4);
    });
    const now = await h.store.instances.items();
    expect(now.every((i) => !v1.has(i.metadata.name) && i.spec.template.env?.VERSION === 'v2')).toBe(true);
    expect(bounds.maxTotal).toBeLessThanOrEqual(5); // replicas + maxSurge
    expect(bounds.minReady).toBeGreaterThanOrEqual(4); // replicas - maxUnavailable
    const rs = await h.store.replicaSets.get('web');
    expect(rs!.status!.rollout?.state).toBe('Complete');
    expect(rs!.status!.observedGeneration).toBe(2);
    expect(h.runtime.running()).toHaveLength(4);
  });

  it('rolls back automatically when the new template never becomes healthy', async () => {
    h = await startHarness({ runtime: { healthy: (i) => i.spec.template.env?.VERSION !== 'bad' } });
    await h.apply(hostsYaml(3));
    await h.apply(webYaml(3));
    await h.until('v1 ready', () => converged(h!, 'web', 3));
    const v1 = (await h.store.instances.items()).map((i) => i.metadata.name).sort();
    await h.apply(webYaml(3, { env: 'bad' }));
    const bounds = watchBounds(h, 'web');
    await h.until('rolled back', async () => {
      await bounds.sample();
      const rs = await h!.store.replicaSets.get('web');
      return rs?.status?.rollout?.state === 'RolledBack' && (await converged(h!, 'web', 3));
    });
    const rs = await h.store.replicaSets.get('web');
    expect(rs!.spec.template.spec.env?.VERSION).toBe('v1');
    // availability never dropped below replicas - maxUnavailable
    expect(bounds.minReady).toBeGreaterThanOrEqual(2);
    // old instances that survived the failed batch are still the same processes
    const after = (await h.store.instances.items()).map((i) => i.metadata.name);
    expect(after.filter((n) => v1.includes(n)).length).toBeGreaterThanOrEqual(2);
    const warning = (await h.store.events.items()).find((e) => e.reason === 'RolledBack');
    expect(warning?.message).toMatch(/rolling back to/);
  });

  it('rollout undo returns to the previous template', async () => {
    h = await startHarness();
    await h.apply(hostsYaml(2));
    await h.apply(webYaml(2));
    await h.until('v1', () => converged(h!, 'web', 2));
    await h.apply(webYaml(2, { env: 'v2' }));
    await h.until('v2', async () => (await converged(h!, 'web', 2)) && (await h!.store.instances.items()).every((i) => i.spec.template.env?.VERSION === 'v2'));
    const undo = await rolloutUndo(h.store, 'web');
    expect(undo.from).not.toBe(undo.to);
    await h.until('back to v1', async () => (await converged(h!, 'web', 2)) && (await h!.store.instances.items()).every((i) => i.spec.template.env?.VERSION === 'v1'));
  });
});

// A replica set creates its instances in transactions of 50 (issue 15): one write per instance
// made a 150,000-instance apply 450,000 round trips (the instance and two events each). The
// events go in batches too, and the pruning of old events deletes in batches.
import { afterEach, describe, expect, it } from 'vitest';
import type { KvCompare, KvStore, KvTxnOp, MemoryKvStore } from '../../src/index.js';
import { converged, hostsYaml, startHarness, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/** Per transaction: how many instance objects it created, events it wrote, events it deleted. */
interface Txn {
  instancesCreated: number;
  eventsCreated: number;
  eventsDeleted: number;
}

function countingTxns(kv: MemoryKvStore, txns: Txn[], single: { eventWrites: number; eventDeletes: number; instanceCreates: number }): KvStore {
  return new Proxy(kv, {
    get: (target, prop, receiver) => {
      if (prop === 'txn')
        return (compare: readonly KvCompare[], ops: readonly KvTxnOp[]) => {
          const created = new Set(compare.filter((c) => c.modRevision === 0).map((c) => c.key));
          txns.push({
            instancesCreated: ops.filter((o) => o.type === 'put' && o.key.startsWith('/flotilla/v1/instances/') && created.has(o.key)).length,
            eventsCreated: ops.filter((o) => o.type === 'put' && o.key.startsWith('/flotilla/v1/events/')).length,
            eventsDeleted: ops.filter((o) => o.type === 'delete' && o.key.startsWith('/flotilla/v1/events/')).length,
          });
          return target.txn(compare, ops);
        };
      if (prop === 'put')
        return (key: string, value: string, options?: { prevRevision?: number }) => {
          if (key.startsWith('/flotilla/v1/events/')) single.eventWrites++;
          if (key.startsWith('/flotilla/v1/instances/') && options?.prevRevision === 0) single.instanceCreates++;
          return target.put(key, value, options);
        };
      if (prop === 'delete')
        return (key: string, options?: unknown) => {
          if (key.startsWith('/flotilla/v1/events/')) single.eventDeletes++;
          return target.delete(key, options as never);
        };
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const bulk = (replicas: number): string => `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: bulk}
spec:
  replicas: ${replicas}
  selector: "app=bulk"
  template:
    metadata: {labels: {app: bulk}}
    spec:
      command: [node, server.js]
      ports: [{name: http}]
      resources: {cpu: 10m, memory: 16Mi}
`;

describe('a replica set creates its instances in batches', () => {
  it('120 replicas: created in transactions of up to 50 with their Scheduled events batched as well; each instance has its events', async () => {
    const txns: Txn[] = [];
    const single = { eventWrites: 0, eventDeletes: 0, instanceCreates: 0 };
    h = await startHarness({ wrapKv: (m) => countingTxns(m, txns, single) });
    await h.apply(hostsYaml(4));
    await h.until('hosts ready', async () => (await h!.store.hosts.items()).every((x) => x.status?.ready === true));
    const before = txns.length;
    await h.apply(bulk(120));
    await h.until('120 ready', () => converged(h!, 'bulk', 120));
    const creating = txns.slice(before).filter((t) => t.instancesCreated > 0);
    expect(creating.reduce((s, t) => s + t.instancesCreated, 0)).toBe(120);
    expect(Math.max(...creating.map((t) => t.instancesCreated))).toBe(50);
    expect(creating.length).toBeLessThanOrEqual(6);
    expect(single.instanceCreates).toBe(0);
    // two events per instance (Instance Scheduled, ReplicaSet Scheduled), in batches of up to 50:
    // each instance's its own record; the replica set's 120, with 120 different messages, are
    // 9 records and then one "(combined from similar events)" record counting the rest
    const eventTxns = txns.slice(before).filter((t) => t.eventsCreated > 0);
    expect(eventTxns.reduce((s, t) => s + t.eventsCreated, 0)).toBeGreaterThanOrEqual(120 + 10);
    expect(Math.max(...eventTxns.map((t) => t.eventsCreated))).toBe(50);
    const events = await h.store.events.items();
    const instances = await h.store.instances.items();
    for (const i of instances)
      expect(events.filter((e) => e.involved.kind === 'Instance' && e.involved.name === i.metadata.name && e.reason === 'Scheduled').map((e) => [e.message, e.count])).toEqual([
        [`assigned ${i.metadata.name} to ${i.spec.host}`, 1],
      ]);
    const created = new Map(instances.map((i) => [`created instance ${i.metadata.name} on ${i.spec.host}`, i]));
    const ofRs = events.filter((e) => e.involved.kind === 'ReplicaSet' && e.involved.name === 'bulk' && e.reason === 'Scheduled');
    const own = ofRs.filter((e) => !e.message.startsWith('(combined from similar events): '));
    const combined = ofRs.filter((e) => e.message.startsWith('(combined from similar events): '));
    expect(own).toHaveLength(9);
    for (const e of own) expect([created.has(e.message), e.count]).toEqual([true, 1]);
    expect(combined).toHaveLength(1);
    expect(created.has(combined[0]!.message.slice('(combined from similar events): '.length))).toBe(true);
    // no fact lost: every creation counted once
    expect(ofRs.reduce((n, e) => n + (e.count ?? 1), 0)).toBe(120);
    expect(Date.parse(combined[0]!.firstTimestamp!)).toBeLessThanOrEqual(Date.parse(combined[0]!.lastTimestamp!));
    expect(combined[0]!.time).toBe(combined[0]!.lastTimestamp);
  });

  it('old events beyond maxEvents (500) are pruned in batches, oldest first', async () => {
    const txns: Txn[] = [];
    const single = { eventWrites: 0, eventDeletes: 0, instanceCreates: 0 };
    h = await startHarness({ wrapKv: (m) => countingTxns(m, txns, single) });
    await h.apply(hostsYaml(4));
    await h.until('hosts ready', async () => (await h!.store.hosts.items()).every((x) => x.status?.ready === true));
    expect((await h.store.events.items()).filter((e) => e.reason === 'HostReady')).toHaveLength(4);
    await h.apply(bulk(560));
    await h.until('560 ready', () => converged(h!, 'bulk', 560));
    const events = await h.store.events.items();
    // 560 instances' Scheduled events, the replica set's 10 records and the hosts' were written; at most 500 (+ those since the last prune) are kept
    expect(events.length).toBeLessThan(550);
    expect(events.length).toBeGreaterThanOrEqual(500);
    const pruning = txns.filter((t) => t.eventsDeleted > 0);
    expect(pruning.length).toBeGreaterThan(0);
    expect(Math.max(...pruning.map((t) => t.eventsDeleted))).toBeGreaterThan(1);
    expect(single.eventDeletes).toBe(0);
    // oldest first (by time, then by the revision that wrote them): the hosts' HostReady events,
    // written before the apply in the same fake millisecond, are the ones gone
    expect(events.filter((e) => e.reason === 'HostReady')).toEqual([]);
  });
});

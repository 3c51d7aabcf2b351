import { afterEach, describe, expect, it } from 'vitest';
import { drainHost, setUnschedulable, viewHosts, viewInstances, viewReplicaSets, viewServices } from '../../src/index.js';
import { converged, hostsYaml, startHarness, webYaml, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const service = `apiVersion: flotilla.dev/v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  port: http
  render: {hosts: "role=lb", path: upstreams/web.txt}
`;

describe('services, cordon and drain, views', () => {
  it('a service lists the ready instances and renders them to its hosts when they change', async () => {
    h = await startHarness();
    await h.apply(hostsYaml(3));
    await h.apply(webYaml(3));
    await h.apply(service);
    await h.until('3 endpoints', async () => (await h!.store.services.get('web'))?.status?.endpoints.length === 3);
    const instances = await h.store.instances.items();
    const svc = await h.store.services.get('web');
    expect(svc!.status!.endpoints).toEqual(
      instances
        .map((i) => ({ instance: i.metadata.name, address: `127.0.0.${10 + Number(i.spec.host.slice(1))}`, port: i.status!.ports.http }))
        .sort((a, b) => (a.instance < b.instance ? -1 : 1)),
    );
    const file = h.runtime.files.get('h1:upstreams/web.txt');
    expect(file?.trim().split('\n').sort()).toEqual(svc!.status!.endpoints.map((e) => `${e.address}:${e.port}`).sort());
    expect([...h.runtime.files.keys()]).toEqual(['h1:upstreams/web.txt']); // only role=lb
    // an unhealthy instance leaves the endpoints and the rendered file
    const sick = instances[0]!;
    h.runtime.processes().find((p) => p.name === sick.metadata.name)!.healthy = false;
    await h.until('2 endpoints', async () => (await h!.store.services.get('web'))?.status?.endpoints.length === 2);
    await h.until('file updated', () => h!.runtime.files.get('h1:upstreams/web.txt')?.trim().split('\n').length === 2);
    expect(h.runtime.files.get('h1:upstreams/web.txt')).not.toContain(`:${sick.status!.ports.http}\n`);
    expect((await viewServices(h.store))[0]).toMatchObject({ name: 'web', selector: 'app=web' });
  });

  it('cordon keeps new instances off a host; drain moves instances away', async () => {
    h = await startHarness();
    await h.apply(hostsYaml(2));
    await setUnschedulable(h.store, 'h1', true);
    await h.apply(webYaml(2, { strategy: 'placement: spread' }));
    await h.until('2 ready', () => converged(h!, 'web', 2));
    expect((await h.store.instances.items()).every((i) => i.spec.host === 'h2')).toBe(true);
    await setUnschedulable(h.store, 'h1', false);
    const evicted = await drainHost(h.store, 'h2');
    expect(evicted).toHaveLength(2);
    await h.until('moved to h1', async () => (await converged(h!, 'web', 2)) && (await h!.store.instances.items()).every((i) => i.spec.host === 'h1'));
    expect(h.runtime.running('h2')).toEqual([]);
    // a later apply of the host keeps the cordon
    await h.apply(hostsYaml(2));
    expect((await h.store.hosts.get('h2'))!.spec.unschedulable).toBe(true);
  });

  it('views have the documented JSON shapes', async () => {
    h = await startHarness();
    await h.apply(hostsYaml(1));
    await h.apply(webYaml(1));
    await h.until('1 ready', () => converged(h!, 'web', 1));
    const [inst] = await viewInstances(h.store);
    expect(Object.keys(inst!).sort()).toEqual(['address', 'host', 'labels', 'name', 'phase', 'pid', 'ports', 'ready', 'replicaSet', 'restarts', 'runtime', 'startedAt']);
    expect(inst).toMatchObject({ replicaSet: 'web', host: 'h1', address: '127.0.0.11', phase: 'Running', ready: true, restarts: 0, runtime: 'process' });
    const [host] = await viewHosts(h.store);
    expect(host).toEqual({
      name: 'h1',
      labels: { zone: 'a', role: 'lb' },
      address: '127.0.0.11',
      ready: true,
      unschedulable: false,
      capacity: { cpu: 4000, memory: 8192 },
      allocated: { cpu: 500, memory: 256 },
      load1: 0.1,
    });
    expect(await viewReplicaSets(h.store)).toEqual([{ name: 'web', labels: {}, selector: 'app=web', replicas: 1, readyReplicas: 1, observedGeneration: 1 }]);
    expect(await viewInstances(h.store, { selector: 'app=api' })).toEqual([]);
  });
});

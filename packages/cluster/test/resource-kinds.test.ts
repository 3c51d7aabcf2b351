// Kinds defined by embedders (issue 17): what defineKind accepts and refuses, registration,
// and how store checks count them. The store behaviour itself is in the contract suite
// (test/store-contract.ts, "a defined kind"), run against every backend.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClusterStore, MemoryKvStore, ResourceStore, builtInKind, checkFileStore, defineKind, openStore, type ObjectMeta } from '../src/index.js';

interface Widget {
  apiVersion: 'widgets.example.com/v1beta1';
  kind: 'Widget';
  metadata: ObjectMeta;
  spec: { size: number };
}
const widgetKind = defineKind<Widget>({ apiVersion: 'widgets.example.com/v1beta1', kind: 'Widget', plural: 'widgets' });

describe('defineKind', () => {
  it('derives the key prefix from group, version and plural', () => {
    expect(widgetKind).toMatchObject({ apiVersion: 'widgets.example.com/v1beta1', kind: 'Widget', plural: 'widgets', prefix: '/flotilla/widgets.example.com/v1beta1/widgets/', builtIn: false });
    expect(Object.isFrozen(widgetKind)).toBe(true);
    expect(builtInKind('ReplicaSet')).toMatchObject({ apiVersion: 'flotilla.dev/v1', plural: 'replicasets', prefix: '/flotilla/v1/replicasets/', builtIn: true });
  });

  it.each([
    [{ apiVersion: 'v1', kind: 'Widget', plural: 'widgets' }, /`apiVersion`.*group that is a DNS subdomain with at least one dot.*got "v1"/],
    [{ apiVersion: 'example/v1', kind: 'Widget', plural: 'widgets' }, /`apiVersion`.*at least one dot/],
    [{ apiVersion: 'flotilla.dev/v1', kind: 'Widget', plural: 'widgets' }, /`apiVersion` to be a group of your own \("flotilla.dev" is Flotilla's/],
    [{ apiVersion: 'example.com/1', kind: 'Widget', plural: 'widgets' }, /`apiVersion`.*version like v1, v2beta1/],
    [{ apiVersion: 'example.com/v1', kind: 'widget', plural: 'widgets' }, /`kind` to be a name in PascalCase.*got "widget"/],
    [{ apiVersion: 'example.com/v1', kind: 'Widget', plural: 'Widgets' }, /`plural` to be a lowercase DNS label.*got "Widgets"/],
    [{ apiVersion: 'example.com/v1', kind: 'Widget', plural: 'widgets/x' }, /`plural`/],
    [{ apiVersion: 'example.com/v1', kind: 'Widget', plural: 'widgets', validate: 'yes' }, /`validate` to be a function/],
  ])('refuses %j with a TypeError naming the field', (definition, message) => {
    expect(() => defineKind(definition as never)).toThrow(TypeError);
    expect(() => defineKind(definition as never)).toThrow(message);
  });

  it('a built-in kind by name still works, an unknown name is a TypeError', () => {
    const kv = new MemoryKvStore();
    expect(new ResourceStore(kv, 'Service').keyOf('web')).toBe('/flotilla/v1/services/web');
    expect(() => new ResourceStore(kv, 'Widget')).toThrow(/a built-in kind \(Host, ReplicaSet, Service, Network, Instance, Event\), or a kind made with defineKind\(\)/);
  });
});

describe('ClusterStore.register', () => {
  it('returns one store per definition and refuses a second definition of the same kind or prefix', () => {
    const cluster = new ClusterStore(new MemoryKvStore());
    const widgets = cluster.register(widgetKind);
    expect(cluster.register(widgetKind)).toBe(widgets);
    expect(() => cluster.register(defineKind<Widget>({ apiVersion: 'widgets.example.com/v1beta1', kind: 'Widget', plural: 'gadgets' }))).toThrow(
      /kind widgets.example.com\/v1beta1 Widget .* is already registered by another definition/,
    );
    expect(() => cluster.register(defineKind({ apiVersion: 'widgets.example.com/v1beta1', kind: 'Gadget', plural: 'widgets' }))).toThrow(/already registered/);
    expect(() => cluster.register(builtInKind('Host'))).toThrow(/a kind made by defineKind\(\)/);
  });

  it('store checks count a defined kind as <plural>.<group> beside the built-in kinds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-kinds-'));
    try {
      const cluster = await openStore(`file://${dir}`);
      const widgets = cluster.register(widgetKind);
      for (const name of ['a', 'b']) await widgets.create({ apiVersion: 'widgets.example.com/v1beta1', kind: 'Widget', metadata: { name }, spec: { size: 1 } });
      await cluster.hosts.create({ apiVersion: 'flotilla.dev/v1', kind: 'Host', metadata: { name: 'h1' }, spec: { local: { dir } } });
      await cluster.close();
      expect((await checkFileStore(dir)).state?.kinds).toEqual({ 'widgets.widgets.example.com': 2, hosts: 1 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

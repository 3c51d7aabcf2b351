import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deepEqual, diff, isReconcileError } from '../src/index.js';

interface Item {
  name: string;
  image: string;
  env?: Record<string, string>;
}
const byName = { key: (i: Item) => i.name };

describe('diff', () => {
  it('splits desired and current into create, update and delete', () => {
    const desired: Item[] = [
      { name: 'a', image: 'v2' },
      { name: 'b', image: 'v1' },
      { name: 'd', image: 'v1' },
    ];
    const current: Item[] = [
      { name: 'c', image: 'v1' },
      { name: 'a', image: 'v1' },
      { name: 'b', image: 'v1' },
    ];
    expect(diff(desired, current, byName)).toEqual({
      create: [{ name: 'd', image: 'v1' }],
      update: [{ key: 'a', desired: { name: 'a', image: 'v2' }, current: { name: 'a', image: 'v1' } }],
      delete: [{ name: 'c', image: 'v1' }],
    });
  });

  it('uses deep equality by default and a custom equal when given', () => {
    const d = [{ name: 'a', image: 'v1', env: { X: '1' } }];
    const c = [{ name: 'a', env: { X: '1' }, image: 'v1' }];
    expect(diff(d, c, byName).update).toEqual([]);
    const onlyImage = diff([{ name: 'a', image: 'v1', env: { X: '2' } }], c, { ...byName, equal: (x, y) => x.image === y.image });
    expect(onlyImage.update).toEqual([]);
  });

  it('compares different shapes on each side', () => {
    const todo = diff<string, { id: string; n: number }>(['x', 'y'], [{ id: 'y', n: 1 }, { id: 'z', n: 2 }], {
      key: (v) => (typeof v === 'string' ? v : v.id),
      equal: () => true,
    });
    expect(todo).toEqual({ create: ['x'], update: [], delete: [{ id: 'z', n: 2 }] });
  });

  it('rejects duplicate keys with a typed error', () => {
    let err: unknown;
    try {
      diff([{ name: 'a', image: '1' }, { name: 'a', image: '2' }], [], byName);
    } catch (e) {
      err = e;
    }
    expect(isReconcileError(err) && err.code).toBe('duplicate-key');
    expect(() => diff([], [{ name: 'a', image: '1' }, { name: 'a', image: '1' }], byName)).toThrow(/appears twice in current/);
    expect(() => diff([], [], {} as never)).toThrow(/Expected `options.key` to be a function/);
  });

  it('agrees with a naive reference on arbitrary inputs', () => {
    const item: fc.Arbitrary<Item> = fc.record({ name: fc.constantFrom<string>('a', 'b', 'c', 'd', 'e', 'f'), image: fc.constantFrom('v1', 'v2') });
    const uniq = fc.uniqueArray(item, { selector: (i) => i.name, maxLength: 6 });
    fc.assert(
      fc.property(uniq, uniq, (desired, current) => {
        const got = diff(desired, current, byName);
        const names = (xs: Item[]) => xs.map((x) => x.name);
        expect(names(got.create)).toEqual(names(desired.filter((d) => !current.some((c) => c.name === d.name))));
        expect(names(got.delete)).toEqual(names(current.filter((c) => !desired.some((d) => d.name === c.name))));
        expect(got.update.map((u) => u.key)).toEqual(
          names(current.filter((c) => desired.some((d) => d.name === c.name && d.image !== c.image))),
        );
        // Applying the diff to current yields desired.
        const applied = new Map(current.map((c) => [c.name, c]));
        for (const d of got.delete) applied.delete(d.name);
        for (const u of got.update) applied.set(u.key, u.desired);
        for (const c of got.create) applied.set(c.name, c);
        const sorted = (m: Map<string, Item>): [string, Item][] => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        expect(sorted(applied)).toEqual(sorted(new Map<string, Item>(desired.map((d) => [d.name, d]))));
      }),
      { numRuns: 300 },
    );
  });
});

describe('deepEqual', () => {
  it.each([
    [1, 1, true],
    [Number.NaN, Number.NaN, true],
    ['a', 'b', false],
    [{ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }, true],
    [{ a: 1, b: undefined }, { a: 1 }, true],
    [{ a: 1 }, { a: 1, b: 2 }, false],
    [[1, 2], [2, 1], false],
    [[], {}, false],
    [null, {}, false],
    [new Date(5), new Date(5), true],
    [new Map([['a', { x: 1 }]]), new Map([['a', { x: 1 }]]), true],
    [new Set([1, 2]), new Set([2, 1]), true],
    [new Set([1]), new Set([2]), false],
    [Object.assign(Object.create(null) as object, { a: 1 }), { a: 1 }, true],
    [new (class A {})(), {}, false],
  ])('deepEqual(%j, %j) = %s', (a, b, expected) => {
    expect(deepEqual(a, b)).toBe(expected);
  });
});

import { describe, expect, it } from 'vitest';
import {
  countIntolerablePreferNoSchedule,
  findUntoleratedTaint,
  toleratesTaint,
  type Taint,
  type Toleration,
} from '../src/index.js';

describe('toleratesTaint (Kubernetes Toleration.ToleratesTaint)', () => {
  const taint: Taint = { key: 'foo', value: 'bar', effect: 'NoSchedule' };
  const cases: [string, Toleration, Taint, boolean][] = [
    ['empty key with Exists tolerates every taint', { operator: 'Exists' }, taint, true],
    ['same key, Exists, no effect', { key: 'foo', operator: 'Exists' }, taint, true],
    ['same key and value, Equal', { key: 'foo', operator: 'Equal', value: 'bar' }, taint, true],
    ['operator defaults to Equal', { key: 'foo', value: 'bar' }, taint, true],
    ['different value, Equal', { key: 'foo', operator: 'Equal', value: 'baz' }, taint, false],
    ['different key', { key: 'other', operator: 'Exists' }, taint, false],
    ['same effect', { key: 'foo', operator: 'Exists', effect: 'NoSchedule' }, taint, true],
    ['different effect', { key: 'foo', operator: 'Exists', effect: 'NoExecute' }, taint, false],
    ['missing values are empty strings', { key: 'foo' }, { key: 'foo', effect: 'NoSchedule' }, true],
    ['empty value does not equal bar', { key: 'foo' }, taint, false],
    ['empty key with Equal matches any key with that value', { operator: 'Equal', value: 'bar' }, taint, true],
  ];
  it.each(cases)('%s', (_name, toleration, t, expected) => {
    expect(toleratesTaint(toleration, t)).toBe(expected);
  });
});

describe('findUntoleratedTaint', () => {
  const taints: Taint[] = [
    { key: 'soft', value: 'x', effect: 'PreferNoSchedule' },
    { key: 'a', value: '1', effect: 'NoSchedule' },
    { key: 'b', value: '2', effect: 'NoExecute' },
  ];
  it('ignores PreferNoSchedule and returns the first NoSchedule/NoExecute taint not tolerated', () => {
    expect(findUntoleratedTaint(taints, undefined)).toEqual(taints[1]);
    expect(findUntoleratedTaint(taints, [{ key: 'a', value: '1' }])).toEqual(taints[2]);
    expect(findUntoleratedTaint(taints, [{ key: 'a', value: '1' }, { key: 'b', operator: 'Exists' }])).toBeUndefined();
    expect(findUntoleratedTaint(taints, [{ operator: 'Exists' }])).toBeUndefined();
    expect(findUntoleratedTaint(undefined, undefined)).toBeUndefined();
  });
});

describe('countIntolerablePreferNoSchedule', () => {
  it('counts only PreferNoSchedule taints the tolerations miss', () => {
    const taints: Taint[] = [
      { key: 'x', effect: 'PreferNoSchedule' },
      { key: 'y', value: 'v', effect: 'PreferNoSchedule' },
      { key: 'z', effect: 'NoSchedule' },
    ];
    expect(countIntolerablePreferNoSchedule(taints, undefined)).toBe(2);
    expect(countIntolerablePreferNoSchedule(taints, [{ key: 'x', operator: 'Exists' }])).toBe(1);
    // A toleration for another effect does not help.
    expect(countIntolerablePreferNoSchedule(taints, [{ key: 'y', value: 'v', effect: 'NoSchedule' }])).toBe(2);
    expect(countIntolerablePreferNoSchedule(taints, [{ key: 'y', value: 'v', effect: 'PreferNoSchedule' }])).toBe(1);
  });
});

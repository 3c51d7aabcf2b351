import { describe, expect, it } from 'vitest';
import { isSchedulerError, nodeSelectorToSelector, podSelectorToSelector } from '../src/index.js';

describe('nodeSelectorToSelector', () => {
  it('treats a plain map as key=value requirements', () => {
    const s = nodeSelectorToSelector({ zone: 'a', disk: 'ssd' });
    expect(s.toString()).toBe('disk=ssd,zone=a');
    expect(s.matches({ zone: 'a', disk: 'ssd', x: 'y' })).toBe(true);
    expect(s.matches({ zone: 'a' })).toBe(false);
  });

  it('selects everything when absent or empty', () => {
    expect(nodeSelectorToSelector(undefined).matches({})).toBe(true);
    expect(nodeSelectorToSelector({}).matches({ any: 'thing' })).toBe(true);
  });

  it('treats an object with matchLabels or matchExpressions as a LabelSelector', () => {
    const s = nodeSelectorToSelector({
      matchLabels: { zone: 'a' },
      matchExpressions: [
        { key: 'disk', operator: 'In', values: ['ssd', 'nvme'] },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    });
    expect(s.matches({ zone: 'a', disk: 'nvme' })).toBe(true);
    expect(s.matches({ zone: 'a', disk: 'hdd' })).toBe(false);
    expect(s.matches({ zone: 'a', disk: 'ssd', legacy: 'yes' })).toBe(false);
    expect(nodeSelectorToSelector({ matchExpressions: [] }).matches({})).toBe(true);
  });

  it('maps Gt and Lt to the labels package > and < requirements', () => {
    const s = nodeSelectorToSelector({
      matchExpressions: [
        { key: 'cores', operator: 'Gt', values: ['4'] },
        { key: 'generation', operator: 'Lt', values: ['10'] },
      ],
    });
    expect(s.toString()).toBe('cores>4,generation<10');
    expect(s.matches({ cores: '8', generation: '3' })).toBe(true);
    expect(s.matches({ cores: '4', generation: '3' })).toBe(false);
    expect(s.matches({ cores: 'eight', generation: '3' })).toBe(false);
    expect(s.matches({ generation: '3' })).toBe(false);
  });

  it('refuses Gt/Lt without exactly one integer value, and bad operators, as SchedulerErrors', () => {
    const attempts = [
      { matchExpressions: [{ key: 'cores', operator: 'Gt' as const, values: [] }] },
      { matchExpressions: [{ key: 'cores', operator: 'Gt' as const, values: ['1', '2'] }] },
      { matchExpressions: [{ key: 'cores', operator: 'Lt' as const, values: ['x'] }] },
      { matchExpressions: [{ key: 'disk', operator: 'In' as const, values: [] }] },
      { matchExpressions: [{ key: 'disk', operator: 'Near' as unknown as 'In', values: ['a'] }] },
    ];
    for (const selector of attempts) {
      let caught: unknown;
      try {
        nodeSelectorToSelector(selector);
      } catch (error) {
        caught = error;
      }
      expect(isSchedulerError(caught), JSON.stringify(selector)).toBe(true);
      expect((caught as { code: string }).code).toBe('invalid-selector');
    }
  });

  it('throws TypeError for a non-object', () => {
    expect(() => nodeSelectorToSelector('zone=a' as unknown as Record<string, string>)).toThrow(TypeError);
  });
});

describe('podSelectorToSelector', () => {
  it('accepts a map or a LabelSelector', () => {
    expect(podSelectorToSelector({ app: 'web' }).matches({ app: 'web', x: '1' })).toBe(true);
    expect(podSelectorToSelector({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] }).matches({ app: 'db' })).toBe(true);
  });
});

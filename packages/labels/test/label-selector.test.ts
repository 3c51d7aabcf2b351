// Tables after Kubernetes' TestLabelSelectorAsSelector (metav1 helpers_test.go).
import { describe, expect, it } from 'vitest';
import {
  parseSelector,
  selectorFromLabelSelector,
  SelectorValidationError,
  type LabelSelector,
  type LabelSelectorOperator,
} from '../src/index.js';

function issues(labelSelector: LabelSelector): [string, string | readonly string[]][] {
  try {
    selectorFromLabelSelector(labelSelector);
    return [];
  } catch (error) {
    if (!(error instanceof SelectorValidationError)) throw error;
    return error.issues.map((issue) => [issue.field, issue.value]);
  }
}

describe('selectorFromLabelSelector', () => {
  const matchLabels = { foo: 'bar' };
  const matchExpressions = [{ key: 'baz', operator: 'In' as const, values: ['qux', 'norf'] }];

  it.each([
    [{}, ''],
    [{ matchLabels: {}, matchExpressions: [] }, ''],
    [{ matchLabels: null, matchExpressions: null }, ''],
    [{ matchLabels }, 'foo=bar'],
    [{ matchExpressions }, 'baz in (norf,qux)'],
    [{ matchLabels, matchExpressions }, 'baz in (norf,qux),foo=bar'],
    [{ matchExpressions: [{ key: 'a', operator: 'NotIn' as const, values: ['x'] }] }, 'a notin (x)'],
    [{ matchExpressions: [{ key: 'a', operator: 'Exists' as const }] }, 'a'],
    [{ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' as const, values: [] }] }, '!a'],
    [{ matchExpressions: [{ key: 'a', operator: 'Exists' as const, values: null }] }, 'a'],
    // Values are kept as given (duplicates too) and printed sorted.
    [{ matchExpressions: [{ key: 'a', operator: 'In' as const, values: ['y', 'x', 'y'] }] }, 'a in (x,y,y)'],
    [{ matchExpressions: [{ key: 'a', operator: 'In' as const, values: [''] }] }, 'a in ()'],
    // matchLabels come before expressions on the same key; the sort is stable.
    [
      { matchLabels: { a: '1' }, matchExpressions: [{ key: 'a', operator: 'Exists' as const }] },
      'a=1,a',
    ],
    [
      {
        matchExpressions: [
          { key: 'b', operator: 'Exists' as const },
          { key: 'a', operator: 'NotIn' as const, values: ['2'] },
          { key: 'a', operator: 'In' as const, values: ['1'] },
        ],
      },
      'a notin (2),a in (1),b',
    ],
  ])('%j → %j', (labelSelector, expected) => {
    expect(selectorFromLabelSelector(labelSelector).toString()).toBe(expected);
  });

  it('matches like the parsed equivalent', () => {
    const selector = selectorFromLabelSelector({ matchLabels, matchExpressions });
    const parsed = parseSelector('baz in (norf,qux),foo=bar');
    const cases: Record<string, string>[] = [{ foo: 'bar', baz: 'qux' }, { foo: 'bar' }, { foo: 'bar', baz: 'x' }, {}];
    for (const labels of cases) {
      expect(selector.matches(labels)).toBe(parsed.matches(labels));
    }
  });

  it('keeps duplicate values where parseSelector removes them', () => {
    const fromApi = selectorFromLabelSelector({ matchExpressions: [{ key: 'a', operator: 'In', values: ['x', 'x'] }] });
    expect(fromApi.requirements[0]?.values).toEqual(['x', 'x']);
    expect(parseSelector('a in (x,x)').requirements[0]?.values).toEqual(['x']);
  });

  it('gives nothing() for null and undefined, everything() for {}', () => {
    const none = selectorFromLabelSelector(null);
    expect(none.matches({})).toBe(false);
    expect(none.matches({ a: 'b' })).toBe(false);
    expect(none.isEmpty()).toBe(false);
    expect(none.toString()).toBe('');
    expect(selectorFromLabelSelector(undefined).selectable).toBe(false);
    const all = selectorFromLabelSelector({});
    expect(all.matches({})).toBe(true);
    expect(all.isEmpty()).toBe(true);
  });

  it('does not modify its input', () => {
    const input = { matchLabels: { b: '1', a: '2' }, matchExpressions: [{ key: 'c', operator: 'In' as const, values: ['z', 'y'] }] };
    const copy = structuredClone(input);
    selectorFromLabelSelector(input);
    expect(input).toEqual(copy);
  });

  it.each([
    [{ matchExpressions: [{ key: 'baz', operator: 'Exists' as const, values: ['qux', 'norf'] }] }, [['matchExpressions[0].values', ['qux', 'norf']]]],
    [{ matchExpressions: [{ key: 'baz', operator: 'DoesNotExist' as const, values: ['x'] }] }, [['matchExpressions[0].values', ['x']]]],
    [{ matchExpressions: [{ key: 'baz', operator: 'In' as const, values: [] }] }, [['matchExpressions[0].values', []]]],
    [{ matchExpressions: [{ key: 'baz', operator: 'NotIn' as const }] }, [['matchExpressions[0].values', []]]],
    [{ matchExpressions: [{ key: 'baz', operator: 'Gt' as LabelSelectorOperator, values: ['1'] }] }, [['matchExpressions[0].operator', 'Gt']]],
    [{ matchExpressions: [{ key: 'baz', operator: 'in' as LabelSelectorOperator, values: ['1'] }] }, [['matchExpressions[0].operator', 'in']]],
    [{ matchLabels: { '-a': 'ok', b: '-bad' } }, [['matchLabels', '-a'], ['matchLabels[b]', '-bad']]],
    [
      {
        matchLabels: { 'a/b/c': 'x y' },
        matchExpressions: [
          { key: 'ok', operator: 'In' as const, values: ['fine', 'not fine'] },
          { key: 'Bad.com/x', operator: 'Nope' as LabelSelectorOperator },
        ],
      },
      [
        ['matchLabels', 'a/b/c'],
        ['matchLabels[a/b/c]', 'x y'],
        ['matchExpressions[0].values[1]', 'not fine'],
        ['matchExpressions[1].operator', 'Nope'],
        ['matchExpressions[1].key', 'Bad.com/x'],
      ],
    ],
  ])('rejects %j, listing every problem', (labelSelector, expected) => {
    expect(issues(labelSelector)).toEqual(expected);
  });

  it('names an unknown operator as Kubernetes does', () => {
    expect(() =>
      selectorFromLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Gt' as LabelSelectorOperator }] }),
    ).toThrow('"Gt" is not a valid label selector operator');
  });

  it('throws TypeError for values that are not LabelSelectors', () => {
    expect(() => selectorFromLabelSelector('a=b' as never)).toThrow(TypeError);
    expect(() => selectorFromLabelSelector({ matchExpressions: {} } as never)).toThrow(
      'Expected matchExpressions as an array, received an object',
    );
    expect(() => selectorFromLabelSelector({ matchExpressions: [{ key: 'a', operator: 'In', values: 'x' }] } as never)).toThrow(
      TypeError,
    );
  });
});

// Tables after Kubernetes' TestRequirementConstructor, TestToString, TestAdd,
// TestRequiresExactMatch, TestSafeSort and TestMatchesNothing.
import { describe, expect, it } from 'vitest';
import {
  everything,
  isOperator,
  matchesNothing,
  newRequirement,
  nothing,
  Operators,
  parseSelector,
  selectorFromSet,
  SelectorValidationError,
  type Operator,
} from '../src/index.js';

function problems(key: string, operator: Operator, values: string[]): [string, string | readonly string[]][] {
  try {
    newRequirement(key, operator, values);
    return [];
  } catch (error) {
    if (!(error instanceof SelectorValidationError)) throw error;
    return error.issues.map((issue) => [issue.field, issue.value]);
  }
}

describe('newRequirement', () => {
  it.each([
    ['x1', 'in', [], [['values', []]]],
    ['x2', 'notin', [], [['values', []]]],
    ['x3', 'in', ['foo'], []],
    ['x4', 'notin', ['foo'], []],
    ['x5', '=', ['bar', 'foo'], [['values', ['bar', 'foo']]]],
    ['x5b', '==', [], [['values', []]]],
    ['x5c', '!=', ['a', 'b'], [['values', ['a', 'b']]]],
    ['x6', 'exists', [], []],
    ['x7', '!', [], []],
    ['x8', 'exists', ['foo'], [['values', ['foo']]]],
    ['x8b', '!', [''], [['values', ['']]]],
    ['x9', 'in', ['bar'], []],
    ['x11', 'gt', ['1'], []],
    ['x12', 'lt', ['6'], []],
    ['x13', 'gt', [], [['values', []]]],
    ['x14', 'gt', ['bar'], [['values[0]', 'bar']]],
    ['x15', 'lt', ['bar'], [['values[0]', 'bar']]],
    ['x15b', 'lt', ['1', '2'], [['values', ['1', '2']]]],
    ['a'.repeat(254), 'exists', [], [['key', 'a'.repeat(254)]]],
    ['x16', '=', ['a'.repeat(254)], [['values[0]', 'a'.repeat(254)]]],
    ['x17', '=', ['a b'], [['values[0]', 'a b']]],
    ['x18', 'unsupportedOp' as Operator, [], [['operator', 'unsupportedOp']]],
    ['-bad', 'in', ['-x', 'ok', 'y-'], [['key', '-bad'], ['values[0]', '-x'], ['values[2]', 'y-']]],
  ] as const)('(%j, %j, %j)', (key, operator, values, expected) => {
    expect(problems(key, operator, [...values])).toEqual(expected);
  });

  it('keeps values as given, duplicates and order included', () => {
    const requirement = newRequirement('x', 'in', ['b', 'a', 'b']);
    expect(requirement.values).toEqual(['b', 'a', 'b']);
    expect(requirement.toString()).toBe('x in (a,b,b)');
  });

  it('reports an unsupported operator the way Kubernetes does', () => {
    try {
      newRequirement('x', 'nope' as Operator, []);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(SelectorValidationError);
      expect((error as SelectorValidationError).issues[0]?.message).toBe(
        'operator: Unsupported value: "nope": supported values: "in", "notin", "=", "==", "!=", "exists", "!", "gt", "lt"',
      );
    }
  });

  it('rejects values that are not an array of strings with a TypeError', () => {
    expect(() => newRequirement('x', 'in', 'a' as never)).toThrow(TypeError);
    expect(() => newRequirement('x', 'in', [1] as never)).toThrow('Expected values as an array of strings');
  });

  it('knows the operators', () => {
    expect(Object.values(Operators).every(isOperator)).toBe(true);
    expect(isOperator('In')).toBe(false);
  });
});

describe('Requirement.toString and Selector.toString (TestToString)', () => {
  it.each([
    [[['x', 'in', ['abc', 'def']], ['y', 'notin', ['jkl']], ['z', 'exists', []]], 'x in (abc,def),y notin (jkl),z'],
    [[['x', 'notin', ['abc', 'def']], ['y', '!=', ['jkl']], ['z', '!', []]], 'x notin (abc,def),y!=jkl,!z'],
    [[['x', 'notin', ['abc']], ['y', 'in', ['jkl', 'mno']], ['z', 'notin', ['']]], 'x notin (abc),y in (jkl,mno),z notin ()'],
    [[['x', '=', ['abc']], ['y', '==', ['jkl']], ['z', '!=', ['a']], ['z', 'exists', []]], 'x=abc,y==jkl,z!=a,z'],
    [[['x', 'gt', ['2']], ['y', 'lt', ['8']], ['z', 'exists', []]], 'x>2,y<8,z'],
    [[['x', 'in', ['foo', 'bar', 'foo', 'bar']]], 'x in (bar,bar,foo,foo)'],
    [[['x', 'in', ['', 'a']]], 'x in (,a)'],
  ] as const)('%j → %j', (requirements, expected) => {
    const selector = everything().add(
      ...requirements.map(([key, operator, values]) => newRequirement(key, operator, [...values])),
    );
    expect(selector.toString()).toBe(expected);
  });
});

describe('Selector.add (TestAdd)', () => {
  it('adds and sorts without changing the original', () => {
    const first = everything().add(newRequirement('key', 'in', ['value']));
    expect(first.toString()).toBe('key in (value)');
    const second = first.add(newRequirement('key2', '=', ['value2']), newRequirement('a', 'exists'));
    expect(second.toString()).toBe('a,key in (value),key2=value2');
    expect(first.toString()).toBe('key in (value)');
    expect(everything().isEmpty()).toBe(true);
  });

  it('keeps nothing() as nothing', () => {
    expect(nothing().add(newRequirement('a', 'exists'))).toBe(nothing());
  });
});

describe('Selector.requiresExactMatch (TestRequiresExactMatch)', () => {
  it.each([
    ['key in (value)', 'key', 'value'],
    ['key in (value,value2)', 'key', undefined],
    ['key in (value,value1),key2 in (value2)', 'key2', 'value2'],
    ['key=value', 'key', 'value'],
    ['key==value', 'key', 'value'],
    ['key!=value', 'key', undefined],
    ['key in (value),key2 in (value2)', 'key', 'value'],
    ['key', 'key', undefined],
    ['other=x', 'key', undefined],
    ['key!=x,key=y', 'key', undefined],
  ])('%j for %j → %j', (text, key, expected) => {
    expect(parseSelector(text).requiresExactMatch(key)).toBe(expected);
  });
});

describe('matchesNothing (TestMatchesNothing)', () => {
  it.each([
    ['nothing()', nothing(), true],
    ['everything()', everything(), false],
    ['selectorFromSet({})', selectorFromSet({}), false],
    ['selectorFromSet({key: value})', selectorFromSet({ key: 'value' }), false],
    ['""', parseSelector(''), false],
    ['a', parseSelector('a'), false],
    ['!a', parseSelector('!a'), false],
    ['a=b', parseSelector('a=b'), false],
    ['a!=b', parseSelector('a!=b'), false],
    ['a in (b)', parseSelector('a in (b)'), false],
    ['a notin (b)', parseSelector('a notin (b)'), false],
    ['a,!a', parseSelector('a,!a'), false],
    ['a=b,a!=b', parseSelector('a=b,a!=b'), false],
    ['a in (b),a notin (b)', parseSelector('a in (b),a notin (b)'), false],
  ])('%s → %s', (_name, selector, expected) => {
    expect(matchesNothing(selector)).toBe(expected);
  });
});

import { describe, expect, it } from 'vitest';
import {
  LabelIndex,
  parseSelector,
  selectorFromLabelSelector,
  selectorFromSet,
  SelectorSyntaxError,
  validateLabelKey,
} from '../src/index.js';

describe('public API smoke', () => {
  it('parses, prints and matches', () => {
    const selector = parseSelector('env in (prod,staging), tier!=db');
    expect(selector.toString()).toBe('env in (prod,staging),tier!=db');
    expect(selector.matches({ env: 'prod' })).toBe(true);
    expect(selector.matches({ env: 'prod', tier: 'db' })).toBe(false);
  });

  it('reports the first syntax error with its position', () => {
    expect(() => parseSelector('app in (a,b))')).toThrow(SelectorSyntaxError);
    expect(() => parseSelector('app in (a,b))')).toThrow(
      `found ')', expected ',' or end of string at position 12 in "app in (a,b))"`,
    );
  });

  it('builds selectors from sets and LabelSelectors', () => {
    expect(selectorFromSet({ b: '2', a: '1' }).toString()).toBe('a=1,b=2');
    expect(selectorFromLabelSelector(null).matches({})).toBe(false);
    expect(selectorFromLabelSelector({}).matches({})).toBe(true);
  });

  it('validates keys', () => {
    expect(validateLabelKey('example.com/app')).toEqual([]);
    expect(validateLabelKey('a/b/c')).toHaveLength(1);
  });

  it('indexes objects', () => {
    const index = new LabelIndex();
    index.add('a', { app: 'web' });
    index.add('b', { app: 'db' });
    index.add('c', {});
    expect(index.select(parseSelector('app=web'))).toEqual(['a']);
    expect(index.select(parseSelector('app!=web')).sort()).toEqual(['b', 'c']);
  });
});

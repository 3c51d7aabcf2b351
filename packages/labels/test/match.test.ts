// Matching tables after Kubernetes' TestSelectorMatches, TestSetMatches,
// TestRequirementSelectorMatching, plus the traps of issue 2.
import { describe, expect, it } from 'vitest';
import { everything, nothing, parseSelector, selectorFromSet } from '../src/index.js';

describe('Selector.matches', () => {
  it.each([
    // [selector, labels, matches]
    ['', { x: 'y' }, true],
    ['', {}, true],
    ['x=y', { x: 'y' }, true],
    ['x=y,z=w', { x: 'y', z: 'w' }, true],
    ['x!=y,z!=w', { x: 'z', z: 'a' }, true],
    ['notin=in', { notin: 'in' }, true],
    ['x', { x: 'z' }, true],
    ['!x', { y: 'z' }, true],
    ['x>1', { x: '2' }, true],
    ['x<1', { x: '0' }, true],
    ['x=z', {}, false],
    ['x=y', { x: 'z' }, false],
    ['x=y,z=w', { x: 'w', z: 'w' }, false],
    ['x!=y,z!=w', { x: 'z', z: 'w' }, false],
    ['x', { y: 'z' }, false],
    ['!x', { x: 'z' }, false],
    ['x>1', { x: '0' }, false],
    ['x<1', { x: '2' }, false],
    ['foo=bar', { foo: 'bar', baz: 'blah' }, true],
    ['baz=blah', { foo: 'bar', baz: 'blah' }, true],
    ['foo=bar,baz=blah', { foo: 'bar', baz: 'blah' }, true],
    ['foo=blah', { foo: 'bar', baz: 'blah' }, false],
    ['baz=bar', { foo: 'bar', baz: 'blah' }, false],
    ['foo=bar,foobar=bar,baz=blah', { foo: 'bar', baz: 'blah' }, false],
    // TestRequirementSelectorMatching
    ['x in (foo),y notin (alpha)', { x: 'foo', y: 'baz' }, true],
    ['x in (foo),y in (alpha)', { x: 'foo', y: 'baz' }, false],
    ['x notin (),y', { y: '' }, true],
    ['!x,y', { y: '' }, true],
    ['x notin (),!y', { y: '' }, false],
    ['x in ()', { y: 'baz' }, false],
    ['z>1', { z: '2' }, true],
    ['z>1', { z: 'v2' }, false],
    // != and notin match objects lacking the key; > and < never do.
    ['x!=a', {}, true],
    ['x notin (a,b)', {}, true],
    ['x>1', {}, false],
    ['x<1', {}, false],
    ['x!=a', { x: 'a' }, false],
    ['x notin (a,b)', { x: 'b' }, false],
    ['x notin (a,b)', { x: 'c' }, true],
    // Empty values are values: x= needs the label, with an empty value.
    ['x=', { x: '' }, true],
    ['x=', {}, false],
    ['x in ()', { x: '' }, true],
    ['x in (a,)', { x: '' }, true],
    ['x!=', { x: '' }, false],
    ['x!=', {}, true],
    ['x', { x: '' }, true],
    ['!x', { x: '' }, false],
    // == matches like =.
    ['x==y', { x: 'y' }, true],
    ['x==y', { x: 'yy' }, false],
    // Values compare exactly: case and whitespace matter.
    ['x=A', { x: 'a' }, false],
    ['x=a', { x: 'a ' }, false],
    // Contradictions are accepted and never match.
    ['a,!a', { a: '1' }, false],
    ['a,!a', {}, false],
    ['a=b,a!=b', { a: 'b' }, false],
    ['a in (b),a notin (b)', { a: 'b' }, false],
    // Inherited properties are not labels.
    ['constructor', {}, false],
    ['!constructor', {}, true],
    ['toString!=x', {}, true],
    ['hasOwnProperty', {}, false],
    // > and < read the object's value as Go's ParseInt over the full int64 range.
    ['x>5', { x: '+6' }, true],
    ['x>5', { x: '006' }, true],
    ['x<5', { x: '-6' }, true],
    ['x<0', { x: '-0' }, false],
    ['x>0', { x: '+0' }, false],
    ['x<1', { x: '-9223372036854775808' }, true],
    ['x<1', { x: '-9223372036854775809' }, false],
    ['x>1', { x: '9223372036854775807' }, true],
    ['x>1', { x: '9223372036854775808' }, false],
    ['x>1', { x: '99999999999999999999999' }, false],
    ['x>9007199254740992', { x: '9007199254740993' }, true],
    ['x<9007199254740993', { x: '9007199254740992' }, true],
    ['x>9007199254740992', { x: '9007199254740992' }, false],
    ['x>9223372036854775806', { x: '9223372036854775807' }, true],
    ['x<9223372036854775807', { x: '9223372036854775807' }, false],
    ['x>1', { x: '' }, false],
    ['x>1', { x: '+' }, false],
    ['x<1', { x: '-' }, false],
    ['x>1', { x: ' 2' }, false],
    ['x>1', { x: '2 ' }, false],
    ['x>1', { x: '1e3' }, false],
    ['x>1', { x: '0x10' }, false],
    ['x>1', { x: '2.0' }, false],
    ['x>1', { x: '1_000' }, false],
    ['x>1', { x: '٣' }, false],
    ['x>1', { x: '+-2' }, false],
    ['x>01', { x: '2' }, true],
    ['x<010', { x: '9' }, true],
    ['x>0', { x: '000000000000000000000000001' }, true],
  ] as const)('%j on %j → %s', (text, labels, expected) => {
    expect(parseSelector(text).matches(labels)).toBe(expected);
    expect(parseSelector(text).matches(new Map(Object.entries(labels)))).toBe(expected);
  });
});

describe('everything, nothing, selectorFromSet', () => {
  it('everything matches all and is empty (TestEverything)', () => {
    expect(everything().matches({ x: 'y' })).toBe(true);
    expect(everything().isEmpty()).toBe(true);
    expect(everything().toString()).toBe('');
    expect(everything().selectable).toBe(true);
  });

  it('nothing matches nothing, is not empty and prints as the empty string', () => {
    expect(nothing().matches({})).toBe(false);
    expect(nothing().matches({ x: 'y' })).toBe(false);
    expect(nothing().isEmpty()).toBe(false);
    expect(nothing().toString()).toBe('');
    expect(nothing().requirements).toEqual([]);
    expect(nothing().selectable).toBe(false);
  });

  it.each([
    [{}, { foo: 'bar', baz: 'blah' }, true],
    [{ foo: 'bar' }, { foo: 'bar', baz: 'blah' }, true],
    [{ baz: 'blah' }, { foo: 'bar', baz: 'blah' }, true],
    [{ foo: 'bar', baz: 'blah' }, { foo: 'bar', baz: 'blah' }, true],
    [{ foo: 'bar', baz: 'other' }, { foo: 'bar', baz: 'blah' }, false],
    [{ missing: '' }, { foo: 'bar' }, false],
    [{ foo: '=blah' }, { foo: 'bar' }, false],
  ])('selectorFromSet(%j) on %j → %s (TestSetMatches)', (set, labels, expected) => {
    expect(selectorFromSet(set).matches(labels)).toBe(expected);
  });

  it.each([
    [{}, ''],
    [{ app: 'foo' }, 'app=foo'],
    [{ app: 'foo', a: 'b' }, 'a=b,app=foo'],
    [{ '10': 'x', '9': 'y', b: 'z' }, '10=x,9=y,b=z'],
  ])('selectorFromSet(%j) prints %j (TestSetSelectorString)', (set, expected) => {
    expect(selectorFromSet(set).toString()).toBe(expected);
  });

  it('treats null, undefined and {} as everything (TestNilMapIsValid, TestSetIsEmpty)', () => {
    expect(selectorFromSet(null).isEmpty()).toBe(true);
    expect(selectorFromSet(undefined).isEmpty()).toBe(true);
    expect(selectorFromSet({}).isEmpty()).toBe(true);
    expect(selectorFromSet(new Map()).isEmpty()).toBe(true);
  });

  it('does not validate, as Kubernetes does not', () => {
    const selector = selectorFromSet({ 'not a key!': 'not a value!' });
    expect(selector.toString()).toBe('not a key!=not a value!');
    expect(selector.matches({ 'not a key!': 'not a value!' })).toBe(true);
  });

  it('sorts keys byte-wise (code point order, not UTF-16 order)', () => {
    // U+E000 is below U+10000 in UTF-8 byte order, though its UTF-16 unit is greater than a surrogate.
    expect(selectorFromSet({ '\u{10000}': '1', '\uE000': '2' }).requirements.map((r) => r.key)).toEqual([
      '\uE000',
      '\u{10000}',
    ]);
    expect(selectorFromSet({ b: '1', B: '2', _: '3', '0': '4' }).toString()).toBe('0=4,B=2,_=3,b=1');
  });

  it('throws TypeError for a non-object', () => {
    expect(() => selectorFromSet('a=b' as never)).toThrow(TypeError);
    expect(() => selectorFromSet({ a: 1 } as never)).toThrow('Expected label "a" to be a string, received number (1)');
  });
});

// Parsing tables after Kubernetes' TestSelectorParse, TestSetSelectorParser,
// TestDeterministicParse and TestParseOperator, plus the traps of issue 2.
import { describe, expect, it } from 'vitest';
import {
  everything,
  isSelectorSyntaxError,
  isSelectorValidationError,
  parseSelector,
  SelectorSyntaxError,
  SelectorValidationError,
  type Requirement,
} from '../src/index.js';

const shape = (requirements: readonly Requirement[]) =>
  requirements.map(({ key, operator, values }) => ({ key, operator, values: [...values] }));

function syntaxError(text: string): SelectorSyntaxError {
  try {
    parseSelector(text);
  } catch (error) {
    if (isSelectorSyntaxError(error)) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(text)} to fail`);
}

function validationError(text: string): SelectorValidationError {
  try {
    parseSelector(text);
  } catch (error) {
    if (isSelectorValidationError(error)) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(text)} to fail`);
}

describe('parseSelector: accepted text and its canonical form', () => {
  it.each([
    // TestSelectorParse: canonical form is the input without spaces.
    ['x=a,y=b,z=c', 'x=a,y=b,z=c'],
    ['', ''],
    ['x!=a,y=b', 'x!=a,y=b'],
    ['x=', 'x='],
    ['x= ', 'x='],
    ['x=,z= ', 'x=,z='],
    ['x= ,z= ', 'x=,z='],
    ['!x', '!x'],
    ['x>1', 'x>1'],
    ['x>1,z<5', 'x>1,z<5'],
    // TestSetSelectorParser
    ['\rx', 'x'],
    ['this-is-a-dns.domain.com/key-with-dash', 'this-is-a-dns.domain.com/key-with-dash'],
    ['this-is-another-dns.domain.com/key-with-dash in (so,what)', 'this-is-another-dns.domain.com/key-with-dash in (so,what)'],
    ['0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)', '0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)'],
    ['foo  in\t (abc)', 'foo in (abc)'],
    ['x notin\n (abc)', 'x notin (abc)'],
    ['x  notin\t\t\t(abc,def)', 'x notin (abc,def)'],
    ['x in (abc,def)', 'x in (abc,def)'],
    ['x in (abc,)', 'x in (,abc)'],
    ['x in (abc,abc)', 'x in (abc)'],
    ['x in ()', 'x in ()'],
    ['x in (a,,)', 'x in (,a)'],
    ['x in (a,,,)', 'x in (,a)'],
    ['x in (a,,,,,,)', 'x in (,a)'],
    ['x in (a,,a,,a,,a,,)', 'x in (,a)'],
    ['x notin (abc,,def),bar,z in (),w', 'bar,w,x notin (,abc,def),z in ()'],
    ['x,y in (a)', 'x,y in (a)'],
    ['x=a', 'x=a'],
    ['x<7', 'x<7'],
    ['x=a,y!=b', 'x=a,y!=b'],
    ['x=a,y!=b,z in (h,i,j)', 'x=a,y!=b,z in (h,i,j)'],
    ['x notin ( )', 'x notin ()'],
    ['x notin (, a)', 'x notin (,a)'],
    ['a ', 'a'],
    ['a in (x,y,notin, z,in)', 'a in (in,notin,x,y,z)'],
    // `==` keeps its spelling; `in`/`notin` are plain words as keys and values.
    ['x==a', 'x==a'],
    ['notin=in', 'notin=in'],
    ['in in (in)', 'in in (in)'],
    ['notin notin (notin)', 'notin notin (notin)'],
    ['in', 'in'],
    ['!in', '!in'],
    // Values are sorted byte-wise: upper case before lower case, digits first.
    ['x in (b,B,a,1)', 'x in (1,B,a,b)'],
    // Requirements sort by key byte-wise and stably: same-key requirements keep input order.
    ['b=1,a=2', 'a=2,b=1'],
    ['a!=x,a=y,a', 'a!=x,a=y,a'],
    ['a,a!=x,a=y', 'a,a!=x,a=y'],
    ['z,B,a', 'B,a,z'],
    // Duplicate and contradictory keys are accepted.
    ['a=b,a=b', 'a=b,a=b'],
    ['a,!a', 'a,!a'],
    ['a=b,a!=b', 'a=b,a!=b'],
    ['a in (b),a notin (b)', 'a in (b),a notin (b)'],
    // `>`/`<` take a base-10 integer that is also a valid label value: leading zeros stay.
    ['x>01', 'x>01'],
    ['x<9223372036854775807', 'x<9223372036854775807'],
    ['x>0', 'x>0'],
    // Whitespace: space, tab, CR and LF, anywhere between tokens.
    [' \t\r\n', ''],
    ['  a  =  b  ,  c  ', 'a=b,c'],
    ['a\n!=\nb', 'a!=b'],
    ['!\tx', '!x'],
    ['x\r\nin\r\n(\r\na\r\n)', 'x in (a)'],
    // Keys with prefixes; the longest legal ones.
    ['example.com/app=web', 'example.com/app=web'],
    [`${'a'.repeat(253)}/${'b'.repeat(63)}`, `${'a'.repeat(253)}/${'b'.repeat(63)}`],
    [`x=${'v'.repeat(63)}`, `x=${'v'.repeat(63)}`],
    ['Uppercase_Is_OK_123=x.y-z_1', 'Uppercase_Is_OK_123=x.y-z_1'],
  ])('%j prints as %j', (text, canonical) => {
    expect(parseSelector(text).toString()).toBe(canonical);
  });
});

describe('parseSelector: requirements', () => {
  it.each([
    ['', []],
    ['x', [{ key: 'x', operator: 'exists', values: [] }]],
    ['!x', [{ key: 'x', operator: '!', values: [] }]],
    ['x=', [{ key: 'x', operator: '=', values: [''] }]],
    ['x==y', [{ key: 'x', operator: '==', values: ['y'] }]],
    ['x!=y', [{ key: 'x', operator: '!=', values: ['y'] }]],
    ['x>3', [{ key: 'x', operator: 'gt', values: ['3'] }]],
    ['x<3', [{ key: 'x', operator: 'lt', values: ['3'] }]],
    ['x in ()', [{ key: 'x', operator: 'in', values: [''] }]],
    ['x in (,)', [{ key: 'x', operator: 'in', values: [''] }]],
    ['x in (b,a,b)', [{ key: 'x', operator: 'in', values: ['a', 'b'] }]],
    ['x notin (,b,,a)', [{ key: 'x', operator: 'notin', values: ['', 'a', 'b'] }]],
    [
      'x notin (abc,,def),bar,z in (),w',
      [
        { key: 'bar', operator: 'exists', values: [] },
        { key: 'w', operator: 'exists', values: [] },
        { key: 'x', operator: 'notin', values: ['', 'abc', 'def'] },
        { key: 'z', operator: 'in', values: [''] },
      ],
    ],
    [
      'y in (a),x',
      [
        { key: 'x', operator: 'exists', values: [] },
        { key: 'y', operator: 'in', values: ['a'] },
      ],
    ],
  ])('%j', (text, expected) => {
    expect(shape(parseSelector(text).requirements)).toEqual(expected);
  });

  it('parses deterministically whatever the input order (TestDeterministicParse)', () => {
    expect(parseSelector('x=a,a=x').toString()).toBe(parseSelector('a=x,x=a').toString());
  });

  it('gives an empty selector for empty text', () => {
    const selector = parseSelector('');
    expect(selector.isEmpty()).toBe(true);
    expect(selector.selectable).toBe(true);
    expect(selector.matches({ any: 'thing' })).toBe(true);
    expect(selector.toString()).toBe(everything().toString());
  });
});

describe('parseSelector: syntax errors (the first one, with its position)', () => {
  it.each([
    // [text, position, found, Kubernetes' message]
    ['app in (a,b))', 12, ')', "found ')', expected: ',' or 'end of string'"],
    ['x=a||y=b', 6, '=', "found '=', expected: ',' or 'end of string'"],
    ['x==a==b', 4, '==', "found '==', expected: ',' or 'end of string'"],
    ['!x=a', 2, '=', "found '=', expected: ',' or 'end of string'"],
    ['x,,y', 2, ',', "found ',', expected: identifier after ','"],
    [',x,y', 0, ',', "found ',', expected: !, identifier, or 'end of string'"],
    ['x nott in (y)', 2, 'nott', 'unable to parse requirement: found \'nott\', expected: in, notin, =, ==, !=, gt, lt'],
    ['a in (xyz),', 11, '', "found '', expected: identifier after ','"],
    ['a in (xyz)b notin ()', 10, 'b', "found 'b', expected: ',' or 'end of string'"],
    ['a in (xyz abc)', 10, 'abc', "unable to parse requirement: found 'abc', expected: ',' or ')'"],
    ['a notin(', 8, '', "unable to parse requirement: found '', expected: ',', ')' or identifier"],
    ['a (', 2, '(', 'unable to parse requirement: found \'(\', expected: in, notin, =, ==, !=, gt, lt'],
    ['(', 0, '(', "found '(', expected: !, identifier, or 'end of string'"],
    [')', 0, ')', "found ')', expected: !, identifier, or 'end of string'"],
    ['=a', 0, '=', "found '=', expected: !, identifier, or 'end of string'"],
    ['!', 1, '', "unable to parse requirement: found '', expected: identifier"],
    ['!!x', 1, '!', "unable to parse requirement: found '!', expected: identifier"],
    ['!=x', 0, '!=', "found '!=', expected: !, identifier, or 'end of string'"],
    ['a !', 2, '!', 'unable to parse requirement: found \'!\', expected: in, notin, =, ==, !=, gt, lt'],
    ['a b', 2, 'b', 'unable to parse requirement: found \'b\', expected: in, notin, =, ==, !=, gt, lt'],
    ['x in a', 5, 'a', "unable to parse requirement: found 'a' expected: '('"],
    ['x in', 4, '', "unable to parse requirement: found '' expected: '('"],
    ['x in (a', 7, '', "unable to parse requirement: found '', expected: ',' or ')'"],
    ['x in (a,', 8, '', "unable to parse requirement: found '', expected: ',', or identifier"],
    ['x in (a,=)', 8, '=', "unable to parse requirement: found '=', expected: ',', or identifier"],
    ['x in (=)', 6, '=', "unable to parse requirement: found '=', expected: ',', ')' or identifier"],
    ['x in ((a))', 6, '(', "unable to parse requirement: found '(', expected: ',', ')' or identifier"],
    ['x==', 3, '', ''],
    ['x=(a)', 2, '(', "unable to parse requirement: found '(', expected: identifier"],
    ['x=a=b', 3, '=', "found '=', expected: ',' or 'end of string'"],
    ['x>=1', 2, '=', "unable to parse requirement: found '=', expected: identifier"],
    ['x<', 2, '', ''],
    ['a=b,', 4, '', "found '', expected: identifier after ','"],
    ['a=b,,', 4, ',', "found ',', expected: identifier after ','"],
    ['a=b c', 4, 'c', "found 'c', expected: ',' or 'end of string'"],
    ['x in (a) y', 9, 'y', "found 'y', expected: ',' or 'end of string'"],
  ])('%j fails at %i', (text, position, found, kubernetesMessage) => {
    if (kubernetesMessage === '') {
      // Well-formed but invalid instead: "x==" is x=="" (fine), "x<" is x<"" (not an integer).
      if (text === 'x==') {
        expect(parseSelector(text).toString()).toBe('x==');
      } else {
        expect(validationError(text).issues[0]?.detail).toBe("for 'Gt', 'Lt' operators, the value must be an integer");
      }
      return;
    }
    const error = syntaxError(text);
    expect(error).toBeInstanceOf(SelectorSyntaxError);
    expect(error.name).toBe('SelectorSyntaxError');
    expect(error.code).toBe('selector-syntax');
    expect(error.position).toBe(position);
    expect(error.found).toBe(found);
    expect(error.selector).toBe(text);
    expect(error.kubernetesMessage).toBe(kubernetesMessage);
    expect(error.message).toContain(`at position ${position} in ${JSON.stringify(text)}`);
  });

  it('words the message for people', () => {
    expect(syntaxError('app in (a,b))').message).toBe(
      `found ')', expected ',' or end of string at position 12 in "app in (a,b))"`,
    );
    expect(syntaxError('a notin(').message).toBe(
      `found end of string, expected ',', ')' or identifier at position 8 in "a notin("`,
    );
  });

  it('reports the syntax error even when an earlier key is also invalid', () => {
    const error = syntaxError('-bad=x,y in (a');
    expect(error.position).toBe(14);
  });
});

describe('parseSelector: validation errors list every invalid key and value', () => {
  it.each([
    // [text, [field, value, position][]]
    ['x<a', [['requirements[0].values[0]', 'a', 2]]],
    ['x>1.5', [['requirements[0].values[0]', '1.5', 2]]],
    ['x>', [['requirements[0].values[0]', '', 2]]],
    ['x>-1', [['requirements[0].values[0]', '-1', 2]]],
    // Go's ParseInt accepts "+1", but it is not a valid label value.
    ['x>+1', [['requirements[0].values[0]', '+1', 2]]],
    ['x>9223372036854775808', [['requirements[0].values[0]', '9223372036854775808', 2]]],
    ['x>0x10', [['requirements[0].values[0]', '0x10', 2]]],
    // "1_000" is a valid label value, but base-10 ParseInt takes no underscores.
    ['x>1_000', [['requirements[0].values[0]', '1_000', 2]]],
    ['-x', [['requirements[0].key', '-x', 0]]],
    ['x-', [['requirements[0].key', 'x-', 0]]],
    ['a/b/c', [['requirements[0].key', 'a/b/c', 0]]],
    ['Example.com/x', [['requirements[0].key', 'Example.com/x', 0]]],
    ['/x', [['requirements[0].key', '/x', 0]]],
    ['x/', [['requirements[0].key', 'x/', 0]]],
    ['a\vb', [['requirements[0].key', 'a\vb', 0]]],
    ['x=a b', []], // a syntax error, not a validation error: checked below
    ['x=-a', [['requirements[0].values[0]', '-a', 2]]],
    ['x=a.', [['requirements[0].values[0]', 'a.', 2]]],
    ['x=ā', [['requirements[0].values[0]', 'ā', 2]]],
    [`x=${'v'.repeat(64)}`, [['requirements[0].values[0]', 'v'.repeat(64), 2]]],
    [`${'k'.repeat(64)}`, [['requirements[0].key', 'k'.repeat(64), 0]]],
    [`${'a'.repeat(254)}/b`, [['requirements[0].key', `${'a'.repeat(254)}/b`, 0]]],
    [
      '-a=-b,c in (d,-e,-f),!g-,h',
      [
        ['requirements[0].key', '-a', 0],
        ['requirements[0].values[0]', '-b', 3],
        ['requirements[1].values[0]', '-e', 14],
        ['requirements[1].values[1]', '-f', 17],
        ['requirements[2].key', 'g-', 22],
      ],
    ],
  ])('%j', (text, expected) => {
    if (expected.length === 0) {
      expect(() => parseSelector(text)).toThrow(SelectorSyntaxError);
      return;
    }
    const error = validationError(text);
    expect(error).toBeInstanceOf(SelectorValidationError);
    expect(error.code).toBe('invalid-selector');
    expect(error.selector).toBe(text);
    expect(error.issues.map((issue) => [issue.field, issue.value, issue.position])).toEqual(expected);
    for (const issue of error.issues) {
      expect(issue.message).toBe(`${issue.field}: Invalid value: ${JSON.stringify(issue.value)}: ${issue.detail}`);
      expect(error.message).toContain(issue.message);
    }
  });

  it("uses Kubernetes' words", () => {
    const [issue] = validationError('x=-a').issues;
    expect(issue?.detail).toBe(
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
    );
  });

  it('throws TypeError for a non-string', () => {
    expect(() => parseSelector(42 as unknown as string)).toThrow(TypeError);
    expect(() => parseSelector(42 as unknown as string)).toThrow('Expected a selector string, received number (42)');
  });
});

describe('parse → toString → parse round-trips', () => {
  it.each([
    'x=a,y=b,z=c',
    'x in (c,b,a),y notin (),z',
    'x notin (abc,,def),bar,z in (),w',
    'a in (x,y,notin, z,in)',
    '!a,b!=c,d==e,f>10,g<-0'.replace('-0', '0'),
    'example.com/x in (a),example.com/x notin (b)',
    'b,a,b,a',
    'x=,y==,z!=',
    'x>007',
    ' a , b ',
  ])('%j', (text) => {
    const first = parseSelector(text);
    const printed = first.toString();
    const second = parseSelector(printed);
    expect(second.toString()).toBe(printed);
    expect(shape(second.requirements)).toEqual(shape(first.requirements));
  });
});

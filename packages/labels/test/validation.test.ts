// Tables after Kubernetes' TestIsLabelKey / TestIsQualifiedName and TestIsLabelValue /
// TestIsValidLabelValue, with the exact messages.
import { describe, expect, it } from 'vitest';
import { validateLabelKey, validateLabels, validateLabelValue } from '../src/index.js';
import { utf8ByteLength } from '../src/validation.js';

const nameRegexError =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const prefixRegexError =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const valueRegexError =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

describe('validateLabelKey accepts', () => {
  it.each([
    'simple',
    'now-with-dashes',
    '1-starts-with-num',
    '1234',
    'simple/simple',
    'now-with-dashes/simple',
    'now-with-dashes/now-with-dashes',
    'now.with.dots/simple',
    'now-with.dashes-and.dots/simple',
    '1-num.2-num/3-num',
    '1234/5678',
    '1.2.3.4/5678',
    'Uppercase_Is_OK_123',
    'example.com/Uppercase_Is_OK_123',
    'requests.storage-foo',
    'a',
    'a.b',
    'a_b',
    'a'.repeat(63),
    `${'a'.repeat(253)}/${'b'.repeat(63)}`,
    `${'a'.repeat(63)}.${'b'.repeat(63)}/x`,
  ])('%j', (key) => {
    expect(validateLabelKey(key)).toEqual([]);
  });
});

describe('validateLabelKey rejects, with Kubernetes\' messages', () => {
  it.each([
    ['nospecialchars%^=@', [`name part ${nameRegexError}`]],
    ['cantendwithadash-', [`name part ${nameRegexError}`]],
    ['-cantstartwithadash-', [`name part ${nameRegexError}`]],
    ['_a', [`name part ${nameRegexError}`]],
    ['a.', [`name part ${nameRegexError}`]],
    ['a b', [`name part ${nameRegexError}`]],
    ['a\n', [`name part ${nameRegexError}`]],
    ['\na', [`name part ${nameRegexError}`]],
    ['ā', [`name part ${nameRegexError}`]],
    ['Example.com/abc', [`prefix part ${prefixRegexError}`]],
    ['example_com/abc', [`prefix part ${prefixRegexError}`]],
    ['-example.com/abc', [`prefix part ${prefixRegexError}`]],
    ['example..com/abc', [`prefix part ${prefixRegexError}`]],
    ['example.com/', ['name part must be non-empty', `name part ${nameRegexError}`]],
    ['/simple', ['prefix part must be non-empty']],
    ['/', ['prefix part must be non-empty', 'name part must be non-empty', `name part ${nameRegexError}`]],
    ['', ['name part must be non-empty', `name part ${nameRegexError}`]],
    ['a'.repeat(64), ['name part must be no more than 63 characters']],
    [`${'a'.repeat(254)}/abc`, ['prefix part must be no more than 253 characters']],
    [
      `${'A'.repeat(254)}/${'-'.repeat(64)}`,
      [
        'prefix part must be no more than 253 characters',
        `prefix part ${prefixRegexError}`,
        'name part must be no more than 63 characters',
        `name part ${nameRegexError}`,
      ],
    ],
    // Lengths are bytes: 32 two-byte characters are 64 bytes.
    ['é'.repeat(32), ['name part must be no more than 63 characters', `name part ${nameRegexError}`]],
    ['é'.repeat(31), [`name part ${nameRegexError}`]],
    [
      'only/one/slash',
      [
        `a valid label key ${nameRegexError} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
      ],
    ],
  ])('%j', (key, expected) => {
    expect(validateLabelKey(key)).toEqual(expected);
  });
});

describe('validateLabelValue', () => {
  it.each(['simple', 'now-with-dashes', '1-starts-with-num', 'end-with-num-1', '1234', 'a'.repeat(63), '', 'A.b_C-d', 'x'])(
    'accepts %j',
    (value) => {
      expect(validateLabelValue(value)).toEqual([]);
    },
  );

  it.each([
    ['nospecialchars%^=@', [valueRegexError]],
    ['Tama-nui-te-rā.is.Māori.sun', [valueRegexError]],
    ['\\backslashes\\are\\bad', [valueRegexError]],
    ['-starts-with-dash', [valueRegexError]],
    ['ends-with-dash-', [valueRegexError]],
    ['.starts.with.dot', [valueRegexError]],
    ['ends.with.dot.', [valueRegexError]],
    ['a/b', [valueRegexError]],
    ['a b', [valueRegexError]],
    ['a\n', [valueRegexError]],
    ['a'.repeat(64), ['must be no more than 63 characters']],
    ['-'.repeat(64), ['must be no more than 63 characters', valueRegexError]],
    ['ü'.repeat(32), ['must be no more than 63 characters', valueRegexError]],
  ])('rejects %j', (value, expected) => {
    expect(validateLabelValue(value)).toEqual(expected);
  });
});

describe('validateLabels', () => {
  it('returns nothing for valid labels', () => {
    expect(validateLabels({ app: 'web', 'example.com/tier': 'front', empty: '' })).toEqual([]);
    expect(validateLabels(new Map([['a', 'b']]))).toEqual([]);
  });

  it('lists every invalid key and value', () => {
    const messages = validateLabels({ ok: 'fine', '-key': 'fine', good: '-value', 'a/b/c': 'x y' });
    expect(messages).toHaveLength(4);
    expect(messages[0]).toBe(`label key "-key": name part ${nameRegexError}`);
    expect(messages[1]).toBe(`label "good" value "-value": ${valueRegexError}`);
    expect(messages[2]).toMatch(/^label key "a\/b\/c": a valid label key /);
    expect(messages[3]).toBe(`label "a/b/c" value "x y": ${valueRegexError}`);
  });

  it('throws TypeError for something that is not a label set', () => {
    expect(() => validateLabels('a=b' as never)).toThrow(TypeError);
    expect(() => validateLabels([] as never)).toThrow('received an array');
  });
});

describe('utf8ByteLength', () => {
  it.each([
    ['', 0],
    ['abc', 3],
    ['é', 2],
    ['€', 3],
    ['😀', 4],
    ['\ud800', 3],
    ['a😀b', 6],
  ])('%j is %i characters', (text, bytes) => {
    expect(utf8ByteLength(text)).toBe(bytes);
    if (!/[\ud800-\udfff]/.test(text.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))) {
      expect(bytes).toBe(new TextEncoder().encode(text).length);
    }
  });
});

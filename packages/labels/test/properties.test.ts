// Property tests: parse → toString → parse round-trips, and errors that point at the text.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  everything,
  isSelectorSyntaxError,
  isSelectorValidationError,
  newRequirement,
  parseSelector,
  type Operator,
  type Requirement,
} from '../src/index.js';

const shape = (requirements: readonly Requirement[]) =>
  requirements.map(({ key, operator, values }) => ({ key, operator, values: [...values] }));

const nameChar = fc.constantFrom(...'abcXYZ019-_.'.split(''));
const name = fc
  .tuple(fc.constantFrom('a', 'Z', '0', 'in', 'notin'), fc.array(nameChar, { maxLength: 6 }), fc.constantFrom('', 'b', '9'))
  .map(([head, middle, tail]) => {
    const text = head + middle.join('') + tail;
    return /[A-Za-z0-9]$/.test(text) ? text : `${text}x`;
  });
const key = fc.tuple(fc.option(fc.constantFrom('example.com', 'a.b-c', 'x1'), { nil: undefined }), name).map(
  ([prefix, keyName]) => (prefix === undefined ? keyName : `${prefix}/${keyName}`),
);
const value = fc.oneof(fc.constant(''), name);
const integer = fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String);

const requirement = fc
  .record({ key, operator: fc.constantFrom<Operator>('in', 'notin', '=', '==', '!=', 'exists', '!', 'gt', 'lt'), values: fc.array(value, { minLength: 1, maxLength: 4 }), integer })
  .map(({ key: k, operator, values, integer: n }) => {
    switch (operator) {
      case 'in':
      case 'notin':
        return newRequirement(k, operator, [...new Set(values)].sort());
      case '=':
      case '==':
      case '!=':
        return newRequirement(k, operator, [values[0]!]);
      case 'exists':
      case '!':
        return newRequirement(k, operator);
      case 'gt':
      case 'lt':
        return newRequirement(k, operator, [n]);
    }
  });

describe('round-trips', () => {
  it('parseSelector(s.toString()) equals s for random valid selectors', () => {
    fc.assert(
      fc.property(fc.array(requirement, { maxLength: 6 }), (requirements) => {
        const selector = everything().add(...requirements);
        const reparsed = parseSelector(selector.toString());
        expect(shape(reparsed.requirements)).toEqual(shape(selector.requirements));
        expect(reparsed.toString()).toBe(selector.toString());
      }),
      { numRuns: 400, seed: 1 },
    );
  });
});

// Random text from selector-ish pieces: most of it is malformed.
const piece = fc.constantFrom(
  'a', 'b', 'x1', 'in', 'notin', '(', ')', ',', '=', '==', '!=', '!', '>', '<', ' ', '\t', '\n', '-', '01', '',
  'example.com/k', 'a b', '\u0000', '\v', 'é',
);
const text = fc.array(piece, { maxLength: 12 }).map((pieces) => pieces.join(''));

describe('parseSelector on arbitrary text', () => {
  it('accepts and round-trips, or throws a syntax error pointing at the offending token, or a validation error', () => {
    fc.assert(
      fc.property(text, (input) => {
        let selector;
        try {
          selector = parseSelector(input);
        } catch (error) {
          if (isSelectorSyntaxError(error)) {
            expect(error.position).toBeGreaterThanOrEqual(0);
            expect(error.position).toBeLessThanOrEqual(input.length);
            if (error.found === '') {
              // End of string: only whitespace (or a NUL) may follow.
              const rest = input.slice(error.position).replace(/^[ \t\r\n]*/, '');
              expect(rest === '' || rest.startsWith('\u0000')).toBe(true);
            } else {
              expect(input.slice(error.position).startsWith(error.found)).toBe(true);
            }
            return;
          }
          expect(isSelectorValidationError(error)).toBe(true);
          if (!isSelectorValidationError(error)) throw error;
          expect(error.issues.length).toBeGreaterThan(0);
          return;
        }
        const printed = selector.toString();
        expect(parseSelector(printed).toString()).toBe(printed);
      }),
      { numRuns: 2000, seed: 2 },
    );
  });
});

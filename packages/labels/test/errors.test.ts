import { describe, expect, it } from 'vitest';
import {
  isLabelsError,
  isSelectorSyntaxError,
  isSelectorValidationError,
  LabelsError,
  parseSelector,
  SelectorSyntaxError,
  SelectorValidationError,
} from '../src/index.js';

const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('did not throw');
};

describe('errors', () => {
  it('are LabelsErrors with a name and a code', () => {
    const syntax = thrown(() => parseSelector('a in ('));
    const validation = thrown(() => parseSelector('-a'));
    expect(syntax).toBeInstanceOf(LabelsError);
    expect(syntax).toBeInstanceOf(Error);
    expect(validation).toBeInstanceOf(LabelsError);
    expect(isLabelsError(syntax)).toBe(true);
    expect(isSelectorSyntaxError(syntax)).toBe(true);
    expect(isSelectorValidationError(syntax)).toBe(false);
    expect(isSelectorValidationError(validation)).toBe(true);
    expect(isSelectorSyntaxError(validation)).toBe(false);
  });

  it('are recognised across duplicate installs by name and code', () => {
    const foreign = Object.assign(new Error('x'), { name: 'SelectorSyntaxError', code: 'selector-syntax', position: 3 });
    expect(isSelectorSyntaxError(foreign)).toBe(true);
    expect(isLabelsError(foreign)).toBe(true);
    expect(isLabelsError(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(false);
    expect(isLabelsError(null)).toBe(false);
    expect(isLabelsError('selector-syntax')).toBe(false);
  });

  it('carry data', () => {
    const syntax = new SelectorSyntaxError({
      selector: 'a b',
      position: 2,
      found: 'b',
      expected: 'in, notin, =, ==, !=, gt, lt',
      kubernetesMessage: "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt",
    });
    expect(syntax.message).toBe(`found 'b', expected in, notin, =, ==, !=, gt, lt at position 2 in "a b"`);
    expect(syntax.code).toBe('selector-syntax');
    const validation = new SelectorValidationError([], 'x');
    expect(validation.code).toBe('invalid-selector');
    expect(validation.issues).toEqual([]);
  });
});

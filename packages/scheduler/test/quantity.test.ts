import { describe, expect, it } from 'vitest';
import { isQuantityError, isSchedulerError, parseQuantity, toBaseUnits, unitOf } from '../src/index.js';

describe('parseQuantity', () => {
  // Cases in the spirit of apimachinery's quantity tests, converted to base units.
  const cases: [string, 'millicores' | 'mebibytes' | 'count', number][] = [
    ['500m', 'millicores', 500],
    ['2', 'millicores', 2000],
    ['1.5', 'millicores', 1500],
    ['.5', 'millicores', 500],
    ['5.', 'millicores', 5000],
    ['0', 'millicores', 0],
    ['0.1m', 'millicores', 1], // rounds up, as MilliValue() does
    ['100u', 'millicores', 1],
    ['1e3', 'millicores', 1_000_000],
    ['1E-3', 'millicores', 1],
    ['2k', 'millicores', 2_000_000],
    ['+3', 'millicores', 3000],
    ['256Mi', 'mebibytes', 256],
    ['1Gi', 'mebibytes', 1024],
    ['1.5Gi', 'mebibytes', 1536],
    ['1Ti', 'mebibytes', 1024 * 1024],
    ['512Ki', 'mebibytes', 1],
    ['1025Ki', 'mebibytes', 2],
    ['1G', 'mebibytes', 954], // 10^9 / 2^20 = 953.67 → 954
    ['1M', 'mebibytes', 1],
    ['1048576', 'mebibytes', 1],
    ['1048577', 'mebibytes', 2],
    ['128974848', 'mebibytes', 123],
    ['129e6', 'mebibytes', 124],
    ['4', 'count', 4],
    ['1k', 'count', 1000],
    ['500m', 'count', 1],
  ];
  it.each(cases)('%s in %s is %d', (text, unit, expected) => {
    expect(parseQuantity(text, unit)).toBe(expected);
  });

  const bad = ['', 'abc', '1.2.3', '12x', '1 Gi', 'Gi', '1K', '-1', '-500m', '1e', '1ee3', '.', '1Mi3'];
  it.each(bad)('rejects %j with a QuantityError', (text) => {
    let caught: unknown;
    try {
      parseQuantity(text, 'millicores', 'cpu');
    } catch (error) {
      caught = error;
    }
    expect(isQuantityError(caught)).toBe(true);
    expect(isSchedulerError(caught)).toBe(true);
    expect((caught as Error).message).toContain(JSON.stringify(text));
    expect((caught as { code: string }).code).toBe('invalid-quantity');
  });

  it('accepts a negative zero as zero', () => {
    expect(parseQuantity('-0', 'count')).toBe(0);
  });

  it('refuses quantities too large to be exact', () => {
    expect(() => parseQuantity('100E', 'millicores')).toThrow(/too large/);
  });

  it('throws TypeError for a non-string', () => {
    expect(() => parseQuantity(5 as unknown as string, 'count')).toThrow(TypeError);
  });
});

describe('toBaseUnits and unitOf', () => {
  it('takes numbers as base units and parses strings by resource', () => {
    expect(toBaseUnits('cpu', 250)).toBe(250);
    expect(toBaseUnits('cpu', '250m')).toBe(250);
    expect(toBaseUnits('memory', '2Gi')).toBe(2048);
    expect(toBaseUnits('ephemeral-storage', '1Gi')).toBe(1024);
    expect(toBaseUnits('nvidia.com/gpu', '2')).toBe(2);
  });
  it('refuses negative or non-finite numbers', () => {
    expect(() => toBaseUnits('cpu', -1)).toThrow(/finite number ≥ 0/);
    expect(() => toBaseUnits('cpu', Number.NaN)).toThrow();
    expect(() => toBaseUnits('cpu', {} as unknown as number)).toThrow(TypeError);
  });
  it('knows the units', () => {
    expect(unitOf('cpu')).toBe('millicores');
    expect(unitOf('memory')).toBe('mebibytes');
    expect(unitOf('hugepages-2Mi')).toBe('mebibytes');
    expect(unitOf('pods')).toBe('count');
  });
});

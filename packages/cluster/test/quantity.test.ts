import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { quantityInSchedulerUnits, quantityProblem, toSchedulerUnits } from '../src/index.js';

const toMilli = (q: string | number) => quantityInSchedulerUnits('cpu', q);
const toMebibytes = (q: string | number) => quantityInSchedulerUnits('memory', q);

describe('manifest quantities → scheduler units', () => {
  // Cases in the spirit of apimachinery's quantity_test.go: suffixes, fractions, exponents, rounding up.
  const cpu: [string | number, number][] = [
    ['250m', 250],
    ['1', 1000],
    [2, 2000],
    [0.5, 500],
    ['0.1', 100],
    ['.5', 500],
    ['1.', 1000],
    ['100u', 1], // 0.0001 cores → 0.1 millicore → rounds up to 1
    ['1n', 1],
    ['1k', 1_000_000],
    ['1e3', 1_000_000],
    ['1E-3', 1],
    ['+2', 2000],
    ['0', 0],
    ['1500m', 1500],
    ['1.0005', 1001],
  ];
  it.each(cpu)('cpu %j → %d millicores', (input, expected) => {
    expect(toMilli(input)).toBe(expected);
  });

  const memory: [string | number, number][] = [
    ['128Mi', 128],
    ['1Gi', 1024],
    ['1G', 954], // 1e9 bytes = 953.67 MiB → 954
    ['1M', 1], // 1e6 bytes = 0.95 MiB → 1
    ['1Ki', 1],
    ['1Ti', 1024 * 1024],
    ['0.5Gi', 512],
    [1048576, 1],
    [1048577, 2],
    ['1e6', 1],
    ['4Gi', 4096],
    ['1.5Mi', 2],
  ];
  it.each(memory)('memory %j → %d MiB', (input, expected) => {
    expect(toMebibytes(input)).toBe(expected);
  });

  const invalid = ['lots', '', ' 1', '1 ', '1.5.5', 'Mi', '1mi', '1KiB', '1e', '1e1.5', '--1', '1Gb', '0x10', 'e3', '.', '1 Gi'];
  it.each(invalid)('rejects %j', (input) => {
    expect(quantityProblem('cpu', input)).toBe(`${JSON.stringify(input)} is not a quantity (e.g. "250m" or 2)`);
  });

  it('rejects non-finite numbers, negatives and values too large to be exact', () => {
    expect(quantityProblem('memory', Number.NaN)).toBe('null is not a quantity (e.g. "128Mi" or "1Gi")');
    expect(quantityProblem('memory', Number.POSITIVE_INFINITY)).toMatch(/is not a quantity/);
    expect(quantityProblem('cpu', '-1')).toBe('"-1" must not be negative');
    expect(quantityProblem('gpu', -2)).toBe('-2 must not be negative');
    expect(quantityProblem('cpu', '1E')).toBe('"1E" is too large (at most 2^53 millicores)');
    expect(quantityProblem('cpu', '250m')).toBeUndefined();
  });

  it('counts other resources, byte resources in MiB, and converts a resource list', () => {
    expect(quantityInSchedulerUnits('gpu', '2')).toBe(2);
    expect(quantityInSchedulerUnits('ephemeral-storage', '1Gi')).toBe(1024);
    expect(toSchedulerUnits({ cpu: '250m', memory: '128Mi', gpu: 1 })).toEqual({ cpu: 250, memory: 128, gpu: 1 });
    expect(() => toSchedulerUnits({ cpu: 'lots' })).toThrow(/lots/);
  });

  it('agrees with exact integer arithmetic for millicores and MiB (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), (n) => {
        expect(toMilli(`${n}m`)).toBe(n);
        expect(toMebibytes(`${n}Mi`)).toBe(n);
        expect(toMebibytes(n)).toBe(Math.ceil(n / 1048576));
        expect(toMilli(n)).toBe(n * 1000);
      }),
    );
  });

  it('agrees with decimal fractions (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 9999 }), (whole, frac) => {
        const text = `${whole}.${String(frac).padStart(4, '0')}`;
        // millicores = ceil(whole*1000 + frac/10)
        expect(toMilli(text)).toBe(whole * 1000 + Math.ceil(frac / 10));
      }),
    );
  });
});

/**
 * Kubernetes resource quantities (apimachinery `resource.Quantity`), parsed exactly.
 *
 * The scheduler works in base units: cpu in millicores, memory (and other byte resources)
 * in MiB, everything else as counts. A quantity given as a number is already in base units;
 * a quantity given as a string is parsed with BigInt arithmetic (no floating-point
 * rounding) and converted, rounding up as Kubernetes' `MilliValue()`/`Value()` do — so
 * `"1G"` of memory is 954 MiB (10^9 bytes / 2^20 = 953.67…, rounded up).
 */
import { QuantityError, describeReceived } from './errors.js';

/** The unit a resource is measured in, in base units. */
export type ResourceUnit = 'millicores' | 'mebibytes' | 'count';

const decimalSuffixes: Readonly<Record<string, number>> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const binarySuffixes: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

const quantityPattern = /^([+-]?)(\d*)(?:\.(\d*))?(.*)$/;
const exponentPattern = /^[eE]([+-]?\d+)$/;

/**
 * The unit of a resource: `cpu` is in millicores; `memory`, `ephemeral-storage`, `storage`
 * and `hugepages-*` are in MiB; anything else (e.g. `nvidia.com/gpu`, `pods`) is a count.
 */
export function unitOf(resource: string): ResourceUnit {
  if (resource === 'cpu') return 'millicores';
  if (resource === 'memory' || resource === 'ephemeral-storage' || resource === 'storage' || resource.startsWith('hugepages-')) {
    return 'mebibytes';
  }
  return 'count';
}

function pow(base: bigint, exponent: number): bigint {
  return base ** BigInt(exponent);
}

/**
 * Parses a Kubernetes quantity string and converts it to `unit`, rounding up.
 *
 * Accepted: an optional sign, a decimal number (`2`, `1.5`, `.5`, `5.`), then one of the
 * decimal SI suffixes `n u m "" k M G T P E`, the binary suffixes `Ki Mi Gi Ti Pi Ei`, or a
 * decimal exponent (`1e3`, `5E-1`). Negative quantities are refused (a request or a
 * capacity cannot be negative).
 *
 * @example parseQuantity('500m', 'millicores') === 500
 * @example parseQuantity('1.5', 'millicores') === 1500
 * @example parseQuantity('1Gi', 'mebibytes') === 1024
 * @example parseQuantity('1G', 'mebibytes') === 954
 * @throws QuantityError when the text is not a quantity, is negative, or is too large to be
 *   represented exactly (above 2^53 − 1 base units).
 */
export function parseQuantity(text: string, unit: ResourceUnit, resource?: string): number {
  if (typeof text !== 'string') {
    throw new TypeError(`Expected a quantity string, received ${describeReceived(text)}`);
  }
  const match = quantityPattern.exec(text);
  if (match === null) throw new QuantityError(text, 'not a number', resource);
  const [, sign = '', whole = '', fraction = '', suffix = ''] = match;
  if (whole === '' && fraction === '') throw new QuantityError(text, 'no digits', resource);
  let exponent10 = -fraction.length;
  let exponent2 = 0;
  const decimal = decimalSuffixes[suffix];
  const binary = binarySuffixes[suffix];
  if (decimal !== undefined) {
    exponent10 += decimal;
  } else if (binary !== undefined) {
    exponent2 += binary;
  } else {
    const exponent = exponentPattern.exec(suffix);
    if (exponent === null) throw new QuantityError(text, `unknown suffix ${JSON.stringify(suffix)}`, resource);
    const value = Number(exponent[1]);
    if (Math.abs(value) > 400) throw new QuantityError(text, 'exponent out of range', resource);
    exponent10 += value;
  }
  const mantissa = BigInt(`${whole}${fraction}` || '0');
  if (sign === '-' && mantissa !== 0n) throw new QuantityError(text, 'negative quantities are not allowed', resource);
  switch (unit) {
    case 'millicores':
      exponent10 += 3;
      break;
    case 'mebibytes':
      exponent2 -= 20;
      break;
    case 'count':
      break;
  }
  // value = mantissa * 10^exponent10 * 2^exponent2 = numerator / denominator, rounded up.
  let numerator = mantissa;
  let denominator = 1n;
  if (exponent10 >= 0) numerator *= pow(10n, exponent10);
  else denominator *= pow(10n, -exponent10);
  if (exponent2 >= 0) numerator *= pow(2n, exponent2);
  else denominator *= pow(2n, -exponent2);
  const rounded = (numerator + denominator - 1n) / denominator;
  if (rounded > BigInt(Number.MAX_SAFE_INTEGER)) throw new QuantityError(text, 'too large', resource);
  return Number(rounded);
}

/**
 * A request or capacity in base units: numbers are taken as base units (finite, ≥ 0);
 * strings are parsed with {@link parseQuantity} in the resource's {@link unitOf unit}.
 *
 * @throws QuantityError for a bad string, TypeError for a value that is neither.
 */
export function toBaseUnits(resource: string, value: number | string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      throw new QuantityError(String(value), 'a quantity must be a finite number ≥ 0', resource);
    }
    return value;
  }
  if (typeof value === 'string') return parseQuantity(value, unitOf(resource), resource);
  throw new TypeError(`Expected ${resource} as a number (base units) or a quantity string, received ${describeReceived(value)}`);
}

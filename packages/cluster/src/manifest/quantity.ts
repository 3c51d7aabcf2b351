/**
 * Kubernetes quantities (apimachinery `resource.Quantity`), parsed exactly as a rational
 * number with BigInt arithmetic, then converted to the scheduler's base units: cpu in
 * millicores, memory in MiB (rounding up, as Kubernetes' `MilliValue`/`Value` do).
 *
 * Grammar: `<sign>?<digits>[.<digits>]<suffix>` where suffix is one of the binary SI
 * suffixes `Ki Mi Gi Ti Pi Ei`, the decimal SI suffixes `n u m "" k M G T P E`, or a
 * decimal exponent `e<int>`/`E<int>`.
 */

/** A parsed quantity: the exact rational `numerator / denominator` (denominator > 0). */
export interface Quantity {
  readonly numerator: bigint;
  readonly denominator: bigint;
}

const BINARY: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

const QUANTITY = /^([+-]?)(?:(\d+)(?:\.(\d*))?|\.(\d+))(.*)$/;

/**
 * Parses a quantity string or a number (a YAML `cpu: 2` arrives as a number).
 * Returns `undefined` when the text is not a quantity.
 */
export function parseQuantity(input: string | number): Quantity | undefined {
  const text = typeof input === 'number' ? (Number.isFinite(input) ? numberToText(input) : '') : input;
  const m = QUANTITY.exec(text);
  if (!m) return undefined;
  const sign = m[1] === '-' ? -1n : 1n;
  const intPart = m[2] ?? '';
  const fracPart = m[3] ?? m[4] ?? '';
  const suffix = m[5] ?? '';
  let numerator = BigInt((intPart + fracPart).replace(/^0+(?=\d)/, '') || '0') * sign;
  let denominator = 10n ** BigInt(fracPart.length);
  const binary = BINARY[suffix];
  if (binary !== undefined) {
    numerator *= binary;
  } else {
    let exponent: number;
    const decimal = DECIMAL[suffix];
    if (decimal !== undefined) {
      exponent = decimal;
    } else {
      const e = /^[eE]([+-]?\d+)$/.exec(suffix);
      if (!e) return undefined;
      exponent = Number(e[1]);
      if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 1000) return undefined;
    }
    if (exponent >= 0) numerator *= 10n ** BigInt(exponent);
    else denominator *= 10n ** BigInt(-exponent);
  }
  return { numerator, denominator };
}

function numberToText(n: number): string {
  // Numbers from YAML: 2, 0.5, 1e3. String(n) may use exponent form, which the grammar accepts.
  return String(n).replace('e+', 'e');
}

function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return q * b < a ? q + 1n : q;
}

/** The quantity in thousandths, rounded up (cpu `"250m"` → 250, `"1"` → 1000). */
export function toMilli(q: Quantity): number {
  return Number(ceilDiv(q.numerator * 1000n, q.denominator));
}

/** The quantity (bytes) in MiB, rounded up (`"1Gi"` → 1024, `"1G"` → 954). */
export function toMebibytes(q: Quantity): number {
  return Number(ceilDiv(q.numerator, q.denominator * (1n << 20n)));
}

/** The quantity as a whole count, rounded up (other resources, e.g. `gpu: 1`). */
export function toCount(q: Quantity): number {
  return Number(ceilDiv(q.numerator, q.denominator));
}

/** True when the quantity is negative. */
export function isNegative(q: Quantity): boolean {
  return q.numerator < 0n;
}

/**
 * Converts a resource list (`{cpu: "250m", memory: "128Mi", gpu: 1}`) to the scheduler's
 * units. `cpu` → millicores, `memory` → MiB, anything else → count. Throws a `TypeError`
 * on an invalid quantity; manifests validate first and never reach that.
 */
export function toSchedulerUnits(resources: Readonly<Record<string, string | number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, raw] of Object.entries(resources)) {
    const q = parseQuantity(raw);
    if (!q) throw new TypeError(`expected a quantity for ${name}, received ${JSON.stringify(raw)}`);
    const v = inSchedulerUnits(name, q);
    if (!Number.isSafeInteger(v)) throw new TypeError(`expected a quantity for ${name} below 2^53 ${unitName(name)}, received ${JSON.stringify(raw)}`);
    out[name] = v;
  }
  return out;
}

/** A resource's quantity in the scheduler's unit (cpu → millicores, memory → MiB, else a count), rounded up. */
export function inSchedulerUnits(resource: string, q: Quantity): number {
  return resource === 'cpu' ? toMilli(q) : resource === 'memory' ? toMebibytes(q) : toCount(q);
}

/** The scheduler's unit of a resource, for messages. */
export function unitName(resource: string): string {
  return resource === 'cpu' ? 'millicores' : resource === 'memory' ? 'MiB' : 'units';
}

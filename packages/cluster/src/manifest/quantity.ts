/**
 * Manifest quantities, converted to the scheduler's base units by @flotilla/scheduler's exact
 * parser (one parser in the project, so manifests and the scheduler can never disagree).
 *
 * The one difference is what a bare number means: in a manifest it is a Kubernetes quantity
 * (YAML `cpu: 2` is two cores, `memory: 1073741824` is bytes), while the scheduler takes a
 * number as base units already. So a number from a manifest is turned into its quantity text
 * first.
 */
import { isQuantityError, parseQuantity, toBaseUnits, unitOf } from '@flotilla/scheduler';

/** The quantity text of a manifest value (`2` → `"2"`, `0.5` → `"0.5"`, `1e21` → `"1e21"`). */
function quantityText(raw: string | number): string {
  if (typeof raw === 'string') return raw;
  return Number.isFinite(raw) ? String(raw).replace('e+', 'e') : 'NaN';
}

/**
 * One resource's value in the scheduler's unit (cpu → millicores; memory and other byte
 * resources → MiB, rounded up; anything else → a count, rounded up).
 *
 * @throws QuantityError (from @flotilla/scheduler) when the value is not a quantity, is
 *   negative, or is too large to be exact.
 */
export function quantityInSchedulerUnits(resource: string, raw: string | number): number {
  return toBaseUnits(resource, quantityText(raw));
}

/**
 * Converts a resource list (`{cpu: "250m", memory: "128Mi", gpu: 1}`) to the scheduler's
 * units. Manifests are validated first (see {@link quantityProblem}), so a bad value here is
 * a programming error and throws the scheduler's `QuantityError`.
 */
export function toSchedulerUnits(resources: Readonly<Record<string, string | number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, raw] of Object.entries(resources)) out[name] = quantityInSchedulerUnits(name, raw);
  return out;
}

/** Why a manifest value is not a usable quantity for `resource`, or `undefined` when it is. */
export function quantityProblem(resource: string, raw: string | number): string | undefined {
  try {
    quantityInSchedulerUnits(resource, raw);
    return undefined;
  } catch (e) {
    if (!isQuantityError(e)) throw e;
    const shown = JSON.stringify(raw);
    if (e.detail.includes('negative')) return `${shown} must not be negative`;
    if (e.detail === 'too large') return `${shown} is too large (at most 2^53 ${unitName(resource)})`;
    const example = resource === 'cpu' ? '"250m" or 2' : resource === 'memory' ? '"128Mi" or "1Gi"' : '1';
    return `${shown} is not a quantity (e.g. ${example})`;
  }
}

/** The scheduler's unit of a resource, for messages. */
export function unitName(resource: string): string {
  const unit = unitOf(resource);
  return unit === 'millicores' ? 'millicores' : unit === 'mebibytes' ? 'MiB' : 'units';
}

/** A memory quantity in bytes, exact (rounded up to a whole byte): `"64Mi"` → 67108864. */
export function memoryBytes(raw: string | number): number {
  return parseQuantity(quantityText(raw), 'count', 'memory');
}

/** A cpu quantity in cores (from exact millicores): `"250m"` → 0.25. */
export function cpuCores(raw: string | number): number {
  return parseQuantity(quantityText(raw), 'millicores', 'cpu') / 1000;
}

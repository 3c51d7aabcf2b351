/**
 * A requirement: a key, an operator and values (apimachinery `labels.Requirement` and
 * `selection.Operator`).
 */
import { describeReceived, SelectorValidationError, type SelectorIssue } from './errors.js';
import { isSortedBytewise, lookupLabel, parseInt64, sortedBytewise, type LabelSet } from './labels.js';
import { validateLabelKey, validateLabelValue } from './validation.js';

/**
 * The operators, spelled as Kubernetes' `selection.Operator` values:
 * `in`, `notin`, `=`, `==`, `!=`, `exists`, `!` (does not exist), `gt`, `lt`.
 */
export const Operators = {
  In: 'in',
  NotIn: 'notin',
  Equals: '=',
  DoubleEquals: '==',
  NotEquals: '!=',
  Exists: 'exists',
  DoesNotExist: '!',
  GreaterThan: 'gt',
  LessThan: 'lt',
} as const;

/** One of the {@link Operators}. */
export type Operator = (typeof Operators)[keyof typeof Operators];

const allOperators: readonly string[] = Object.values(Operators);
const binaryOperators = ['in', 'notin', '=', '==', '!=', 'gt', 'lt'];

/** Is `value` one of the {@link Operators}? */
export function isOperator(value: unknown): value is Operator {
  return typeof value === 'string' && allOperators.includes(value);
}

/**
 * One condition of a selector. All requirements of a selector must hold (AND).
 *
 * Matching, per operator:
 * - `=`, `==`, `in`: the label exists and its value is one of `values`;
 * - `!=`, `notin`: the label is absent, or its value is none of `values`;
 * - `exists` / `!`: the label is present / absent (any value, even empty);
 * - `gt` / `lt`: the label exists, its value parses as a base-10 int64 (Go's `ParseInt`:
 *   sign and leading zeros accepted, overflow never matches) and is greater / less than the
 *   requirement's value.
 */
export interface Requirement {
  readonly key: string;
  readonly operator: Operator;
  /**
   * The values as given: sorted and without duplicates when parsed from text; in input
   * order with any duplicates when built from a LabelSelector or {@link newRequirement}.
   */
  readonly values: readonly string[];
  /** Does this requirement hold for `labels`? */
  matches(labels: LabelSet): boolean;
  /** Kubernetes' canonical form: `x in (a,b)`, `x notin (a)`, `x=a`, `x==a`, `x!=a`, `x`, `!x`, `x>1`, `x<1`. */
  toString(): string;
}

/** Below this many values a linear search beats a Set. */
const SET_THRESHOLD = 6;

/** The implementation behind every {@link Requirement} this package creates. */
export class RequirementImpl implements Requirement {
  readonly key: string;
  readonly operator: Operator;
  readonly values: readonly string[];
  readonly #valueSet: ReadonlySet<string> | undefined;
  /** For gt/lt: the bound as a number when it is a safe integer, else as a bigint. */
  readonly #boundNumber: number | undefined;
  readonly #boundBigInt: bigint | undefined;

  constructor(key: string, operator: Operator, values: readonly string[]) {
    this.key = key;
    this.operator = operator;
    this.values = Object.freeze([...values]);
    this.#valueSet = values.length >= SET_THRESHOLD ? new Set(values) : undefined;
    if (operator === 'gt' || operator === 'lt') {
      const bound = values.length === 1 ? parseInt64(values[0]!) : undefined;
      this.#boundBigInt = bound;
      this.#boundNumber =
        bound !== undefined && bound >= BigInt(Number.MIN_SAFE_INTEGER) && bound <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(bound)
          : undefined;
    }
  }

  #hasValue(value: string): boolean {
    return this.#valueSet === undefined ? this.values.includes(value) : this.#valueSet.has(value);
  }

  /** Does this requirement hold for an object whose label `key` has `value` (`undefined`: absent)? */
  matchesValue(value: string | undefined): boolean {
    switch (this.operator) {
      case 'in':
      case '=':
      case '==':
        return value !== undefined && this.#hasValue(value);
      case 'notin':
      case '!=':
        return value === undefined || !this.#hasValue(value);
      case 'exists':
        return value !== undefined;
      case '!':
        return value === undefined;
      case 'gt':
      case 'lt':
        return value !== undefined && this.#compare(value);
    }
  }

  #compare(value: string): boolean {
    if (this.#boundBigInt === undefined) return false;
    const greater = this.operator === 'gt';
    // Fast path: short plain decimals fit a double exactly.
    if (this.#boundNumber !== undefined && value.length <= 15 && value.length > 0) {
      let digits = true;
      for (let i = 0; i < value.length; i++) {
        const c = value.charCodeAt(i);
        if (c < 48 || c > 57) {
          if (i === 0 && (c === 43 || c === 45) && value.length > 1) continue;
          digits = false;
          break;
        }
      }
      if (!digits) return false;
      const n = Number(value);
      return greater ? n > this.#boundNumber : n < this.#boundNumber;
    }
    const parsed = parseInt64(value);
    if (parsed === undefined) return false;
    return greater ? parsed > this.#boundBigInt : parsed < this.#boundBigInt;
  }

  matches(labels: LabelSet): boolean {
    return this.matchesValue(lookupLabel(labels, this.key));
  }

  toString(): string {
    const key = this.key;
    switch (this.operator) {
      case 'exists':
        return key;
      case '!':
        return `!${key}`;
      case 'in':
        return `${key} in (${this.#joinedValues()})`;
      case 'notin':
        return `${key} notin (${this.#joinedValues()})`;
      case '=':
        return `${key}=${this.#joinedValues()}`;
      case '==':
        return `${key}==${this.#joinedValues()}`;
      case '!=':
        return `${key}!=${this.#joinedValues()}`;
      case 'gt':
        return `${key}>${this.#joinedValues()}`;
      case 'lt':
        return `${key}<${this.#joinedValues()}`;
    }
  }

  #joinedValues(): string {
    if (this.values.length === 1) return this.values[0]!;
    return (isSortedBytewise(this.values) ? this.values : sortedBytewise(this.values)).join(',');
  }
}

/** A validation problem, before it gets its field path. */
export interface RequirementProblem {
  readonly part: 'key' | 'operator' | 'values' | { readonly valueIndex: number };
  readonly value: string | readonly string[];
  readonly detail: string;
}

/**
 * Kubernetes' `NewRequirement` rules, returning every problem:
 * 1. the key is a valid label key;
 * 2. `in`/`notin` have at least one value; `=`/`==`/`!=` exactly one; `exists`/`!` none;
 *    `gt`/`lt` exactly one, a base-10 int64;
 * 3. every value is a valid label value (the empty string is valid).
 */
export function checkRequirement(key: string, operator: string, values: readonly string[]): RequirementProblem[] {
  const problems: RequirementProblem[] = [];
  const keyErrors = validateLabelKey(key);
  if (keyErrors.length > 0) problems.push({ part: 'key', value: key, detail: keyErrors.join('; ') });
  switch (operator) {
    case 'in':
    case 'notin':
      if (values.length === 0) {
        problems.push({ part: 'values', value: values, detail: "for 'in', 'notin' operators, values set can't be empty" });
      }
      break;
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1) {
        problems.push({ part: 'values', value: values, detail: 'exact-match compatibility requires one single value' });
      }
      break;
    case 'exists':
    case '!':
      if (values.length !== 0) {
        problems.push({ part: 'values', value: values, detail: 'values set must be empty for exists and does not exist' });
      }
      break;
    case 'gt':
    case 'lt':
      if (values.length !== 1) {
        problems.push({ part: 'values', value: values, detail: "for 'Gt', 'Lt' operators, exactly one value is required" });
      }
      values.forEach((value, valueIndex) => {
        if (parseInt64(value) === undefined) {
          problems.push({ part: { valueIndex }, value, detail: "for 'Gt', 'Lt' operators, the value must be an integer" });
        }
      });
      break;
    default:
      problems.push({
        part: 'operator',
        value: operator,
        detail: `supported values: ${allOperators.map((op) => JSON.stringify(op)).join(', ')}`,
      });
  }
  values.forEach((value, valueIndex) => {
    const valueErrors = validateLabelValue(value);
    if (valueErrors.length > 0) problems.push({ part: { valueIndex }, value, detail: valueErrors.join('; ') });
  });
  return problems;
}

/** Formats a field error as Kubernetes prints one. */
export function fieldIssue(
  field: string,
  value: string | readonly string[],
  detail: string,
  options: { position?: number; unsupported?: boolean } = {},
): SelectorIssue {
  const shown = typeof value === 'string' ? JSON.stringify(value) : `[${value.map((v) => JSON.stringify(v)).join(',')}]`;
  const kind = options.unsupported ? 'Unsupported value' : 'Invalid value';
  const message = `${field}: ${kind}: ${shown}: ${detail}`;
  return options.position === undefined
    ? { field, value, detail, message }
    : { field, value, detail, position: options.position, message };
}

/** Field path of a problem under `base` (e.g. `requirements[0]`, `matchExpressions[2]`). */
export function problemField(base: string, problem: RequirementProblem): string {
  const prefix = base === '' ? '' : `${base}.`;
  if (typeof problem.part === 'string') return `${prefix}${problem.part}`;
  return `${prefix}values[${problem.part.valueIndex}]`;
}

/**
 * Creates a validated requirement (Kubernetes' `NewRequirement`). Values are kept as given,
 * in order and with any duplicates.
 *
 * @throws SelectorValidationError listing every problem with the key, operator and values.
 * @throws TypeError when `values` is not an array of strings.
 */
export function newRequirement(key: string, operator: Operator, values: readonly string[] = []): Requirement {
  if (!Array.isArray(values) || !values.every((value) => typeof value === 'string')) {
    throw new TypeError(`Expected values as an array of strings, received ${describeReceived(values)}`);
  }
  if (typeof key !== 'string') throw new TypeError(`Expected key as a string, received ${describeReceived(key)}`);
  const problems = checkRequirement(key, operator, values);
  if (problems.length > 0) {
    throw new SelectorValidationError(
      problems.map((problem) =>
        fieldIssue(problemField('', problem), problem.value, problem.detail, { unsupported: problem.part === 'operator' }),
      ),
    );
  }
  return new RequirementImpl(key, operator, values);
}

export { binaryOperators };

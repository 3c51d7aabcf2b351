/**
 * The structured selector of Kubernetes' API objects (`metav1.LabelSelector`) and its
 * conversion to a {@link Selector} (`metav1.LabelSelectorAsSelector`).
 */
import { describeReceived, SelectorValidationError, type SelectorIssue } from './errors.js';
import { entriesOf } from './labels.js';
import { checkRequirement, fieldIssue, problemField, RequirementImpl, type Operator, type Requirement } from './requirement.js';
import { nothing, selectorOf, sortRequirements, type Selector } from './selector.js';

/** The operators of a {@link LabelSelectorRequirement}. */
export type LabelSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** One expression of a {@link LabelSelector}. */
export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: LabelSelectorOperator;
  /** Non-empty for `In`/`NotIn`; empty or absent for `Exists`/`DoesNotExist`. */
  readonly values?: readonly string[] | null;
}

/** Kubernetes' `LabelSelector`: `matchLabels` and `matchExpressions` are ANDed. */
export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>> | null;
  readonly matchExpressions?: readonly LabelSelectorRequirement[] | null;
}

const operatorMap: Readonly<Record<LabelSelectorOperator, Operator>> = {
  In: 'in',
  NotIn: 'notin',
  Exists: 'exists',
  DoesNotExist: '!',
};

/**
 * Converts a LabelSelector into a {@link Selector}, with Kubernetes' rules:
 * - `null` (or `undefined`, Go's nil pointer) gives `nothing()`: it matches no object;
 * - `{}` (no labels, no expressions) gives `everything()`;
 * - `matchLabels` become `key=value` requirements, expressions keep their values as given
 *   (order and duplicates kept; `toString()` prints them sorted);
 * - `In`/`NotIn` need at least one value, `Exists`/`DoesNotExist` none; any other operator
 *   is invalid.
 *
 * @throws SelectorValidationError listing every invalid key, value and operator.
 * @throws TypeError when the argument is not an object (or null).
 */
export function selectorFromLabelSelector(labelSelector: LabelSelector | null | undefined): Selector {
  if (labelSelector === null || labelSelector === undefined) return nothing();
  if (typeof labelSelector !== 'object' || Array.isArray(labelSelector)) {
    throw new TypeError(
      `Expected a LabelSelector ({ matchLabels?, matchExpressions? }) or null, received ${describeReceived(labelSelector)}`,
    );
  }
  const matchLabels = labelSelector.matchLabels ?? {};
  const matchExpressions = labelSelector.matchExpressions ?? [];
  if (!Array.isArray(matchExpressions)) {
    throw new TypeError(`Expected matchExpressions as an array, received ${describeReceived(matchExpressions)}`);
  }
  const issues: SelectorIssue[] = [];
  const requirements: Requirement[] = [];

  for (const [key, value] of entriesOf(matchLabels)) {
    if (typeof value !== 'string') {
      throw new TypeError(`Expected matchLabels[${key}] to be a string, received ${describeReceived(value)}`);
    }
    for (const problem of checkRequirement(key, '=', [value])) {
      const field = problem.part === 'key' ? 'matchLabels' : `matchLabels[${key}]`;
      issues.push(fieldIssue(field, problem.value, problem.detail));
    }
    requirements.push(new RequirementImpl(key, '=', [value]));
  }

  matchExpressions.forEach((expression: LabelSelectorRequirement, index: number) => {
    if (typeof expression !== 'object' || expression === null) {
      throw new TypeError(`Expected matchExpressions[${index}] to be an object, received ${describeReceived(expression)}`);
    }
    const values = expression.values ?? [];
    if (!Array.isArray(values) || !values.every((value) => typeof value === 'string')) {
      throw new TypeError(
        `Expected matchExpressions[${index}].values to be an array of strings, received ${describeReceived(values)}`,
      );
    }
    const base = `matchExpressions[${index}]`;
    const operator = Object.hasOwn(operatorMap, expression.operator) ? operatorMap[expression.operator] : undefined;
    if (operator === undefined) {
      issues.push(
        fieldIssue(
          `${base}.operator`,
          String(expression.operator),
          `${JSON.stringify(String(expression.operator))} is not a valid label selector operator (supported values: "In", "NotIn", "Exists", "DoesNotExist")`,
          { unsupported: true },
        ),
      );
      for (const problem of checkRequirement(expression.key, 'exists', [])) {
        issues.push(fieldIssue(problemField(base, problem), problem.value, problem.detail));
      }
      return;
    }
    for (const problem of checkRequirement(expression.key, operator, values)) {
      issues.push(fieldIssue(problemField(base, problem), problem.value, problem.detail));
    }
    requirements.push(new RequirementImpl(expression.key, operator, values));
  });

  if (issues.length > 0) throw new SelectorValidationError(issues);
  if (requirements.length === 0) return selectorOf([]);
  return selectorOf(sortRequirements(requirements));
}

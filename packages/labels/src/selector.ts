/**
 * Selectors: an AND of requirements (apimachinery `labels.Selector`, `Everything`,
 * `Nothing`, `SelectorFromSet`).
 */
import { describeReceived } from './errors.js';
import { compareBytewise, entriesOf, type LabelSet } from './labels.js';
import { RequirementImpl, type Requirement } from './requirement.js';

/**
 * A label selector: every one of its requirements must hold.
 *
 * Guarantees: immutable; `requirements` are sorted by key byte-wise and stably (requirements
 * on the same key keep their input order); `toString()` is Kubernetes' canonical form and
 * `parseSelector(s.toString())` gives an equal selector (for selectors whose keys and values
 * are valid).
 */
export interface Selector {
  /** Do `labels` satisfy every requirement? */
  matches(labels: LabelSet): boolean;
  /** True when the selector does not restrict anything (no requirements). `nothing()` is not empty. */
  isEmpty(): boolean;
  /** Kubernetes' canonical form, e.g. `app=web,tier in (back,front)`; `''` for `everything()` and `nothing()`. */
  toString(): string;
  /** The requirements, sorted by key. Empty for `everything()` and for `nothing()`. */
  readonly requirements: readonly Requirement[];
  /** False only for `nothing()`: a selector that selects no object at all. */
  readonly selectable: boolean;
  /** A new selector with these requirements added (and sorted in); `nothing()` stays `nothing()`. */
  add(...requirements: Requirement[]): Selector;
  /**
   * If the selector requires label `key` to have one specific value (`=`, `==`, or `in` with a
   * single value; the first requirement on `key` decides), that value; otherwise `undefined`.
   */
  requiresExactMatch(key: string): string | undefined;
}

/** Stable sort by key, byte-wise (duplicates keep their input order). */
export function sortRequirements(requirements: readonly Requirement[]): Requirement[] {
  return requirements
    .map((requirement, index) => ({ requirement, index }))
    .sort((a, b) => compareBytewise(a.requirement.key, b.requirement.key) || a.index - b.index)
    .map(({ requirement }) => requirement);
}

class RequirementsSelector implements Selector {
  readonly requirements: readonly Requirement[];
  readonly selectable = true;

  /** `requirements` must already be sorted. */
  constructor(requirements: readonly Requirement[]) {
    this.requirements = Object.freeze([...requirements]);
  }

  matches(labels: LabelSet): boolean {
    for (const requirement of this.requirements) {
      if (!requirement.matches(labels)) return false;
    }
    return true;
  }

  isEmpty(): boolean {
    return this.requirements.length === 0;
  }

  toString(): string {
    return this.requirements.map((requirement) => requirement.toString()).join(',');
  }

  add(...requirements: Requirement[]): Selector {
    return new RequirementsSelector(sortRequirements([...this.requirements, ...requirements]));
  }

  requiresExactMatch(key: string): string | undefined {
    for (const requirement of this.requirements) {
      if (requirement.key !== key) continue;
      switch (requirement.operator) {
        case '=':
        case '==':
        case 'in':
          return requirement.values.length === 1 ? requirement.values[0] : undefined;
        default:
          return undefined;
      }
    }
    return undefined;
  }
}

class NothingSelector implements Selector {
  readonly requirements: readonly Requirement[] = Object.freeze([]);
  readonly selectable = false;
  matches(): boolean {
    return false;
  }
  isEmpty(): boolean {
    return false;
  }
  toString(): string {
    return '';
  }
  add(): Selector {
    return this;
  }
  requiresExactMatch(): string | undefined {
    return undefined;
  }
}

const everythingSelector: Selector = new RequirementsSelector([]);
const nothingSelector: Selector = new NothingSelector();

/** A selector with no requirements: matches every label set; `isEmpty()`; `toString()` is `''`. */
export function everything(): Selector {
  return everythingSelector;
}

/** A selector that matches no label set; not empty; `toString()` is `''`; `selectable` is false. */
export function nothing(): Selector {
  return nothingSelector;
}

/** True only for `nothing()` (Kubernetes' `MatchesNothing`; contradictions such as `a,!a` are not detected). */
export function matchesNothing(selector: Selector): boolean {
  return !selector.selectable;
}

/** Builds a selector from already sorted requirements. */
export function selectorOf(requirements: readonly Requirement[]): Selector {
  return requirements.length === 0 ? everythingSelector : new RequirementsSelector(requirements);
}

/**
 * A selector that matches label sets containing every `key=value` of `labels`
 * (Kubernetes' `SelectorFromSet`). Keys and values are not validated, as in Kubernetes;
 * `null`, `undefined` and `{}` give `everything()`.
 */
export function selectorFromSet(labels: LabelSet | null | undefined): Selector {
  if (labels === null || labels === undefined) return everythingSelector;
  if (typeof labels !== 'object') {
    throw new TypeError(`Expected labels as an object or a Map of strings, received ${describeReceived(labels)}`);
  }
  const requirements: Requirement[] = [];
  for (const [key, value] of entriesOf(labels)) {
    if (typeof value !== 'string') {
      throw new TypeError(`Expected label ${JSON.stringify(key)} to be a string, received ${describeReceived(value)}`);
    }
    requirements.push(new RequirementImpl(key, '=', [value]));
  }
  return selectorOf(sortRequirements(requirements));
}

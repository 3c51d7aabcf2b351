/**
 * Errors of `@flotilla/labels`, as data: one base class with a string-literal `code`, and
 * subclasses that carry what went wrong and where.
 *
 * Use the `isXError()` guards rather than `instanceof`: they keep working when two copies of
 * this package are installed side by side.
 */

/** Every `code` a {@link LabelsError} can carry. */
export type LabelsErrorCode = 'selector-syntax' | 'invalid-selector' | 'duplicate-id' | 'unknown-id';

/** Base class of every error thrown by `@flotilla/labels`. */
export class LabelsError extends Error {
  override name = 'LabelsError';
  readonly code: LabelsErrorCode;

  constructor(code: LabelsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Details of a {@link SelectorSyntaxError}. */
export interface SelectorSyntaxDetails {
  /** The selector text that failed to parse. */
  readonly selector: string;
  /**
   * Index (in UTF-16 code units, i.e. a JavaScript string index) of the first character of
   * the offending token in `selector`; `selector.length` when the text ended too early.
   */
  readonly position: number;
  /** The offending token as written (`''` at the end of the string). */
  readonly found: string;
  /** What the parser expected instead, for people (e.g. `',' or end of string`). */
  readonly expected: string;
  /**
   * The message Kubernetes' `labels.Parse` gives for the same input, word for word (e.g.
   * `found ')', expected: ',' or 'end of string'`).
   */
  readonly kubernetesMessage: string;
}

/**
 * The selector text is not well formed. Only the first syntax error is reported, as
 * Kubernetes does; `message` reads like
 * `found ')', expected ',' or end of string at position 12 in "app in (a,b))"`.
 */
export class SelectorSyntaxError extends LabelsError implements SelectorSyntaxDetails {
  override name = 'SelectorSyntaxError';
  declare readonly code: 'selector-syntax';
  readonly selector: string;
  readonly position: number;
  readonly found: string;
  readonly expected: string;
  readonly kubernetesMessage: string;

  constructor(details: SelectorSyntaxDetails) {
    const found = details.found === '' ? 'end of string' : `'${details.found}'`;
    super(
      'selector-syntax',
      `found ${found}, expected ${details.expected} at position ${details.position} in ${JSON.stringify(details.selector)}`,
    );
    this.selector = details.selector;
    this.position = details.position;
    this.found = details.found;
    this.expected = details.expected;
    this.kubernetesMessage = details.kubernetesMessage;
  }
}

/** One invalid key, value or operator found while building a selector. */
export interface SelectorIssue {
  /**
   * Where the problem is, as a field path: `requirements[1].key`,
   * `requirements[0].values[2]` (parsed text, requirements in the order written),
   * `matchLabels`, `matchLabels[app]`, `matchExpressions[0].operator`, ...
   */
  readonly field: string;
  /** The offending value (a key, a value, an operator, or the list of values). */
  readonly value: string | readonly string[];
  /** Why it is invalid, in Kubernetes' words. */
  readonly detail: string;
  /** For parsed text: index of the offending token in the selector text. */
  readonly position?: number;
  /** `field: Invalid value: "value": detail`, as Kubernetes prints a field error. */
  readonly message: string;
}

/**
 * A selector is well formed but some of its keys, values or operators are invalid.
 * `issues` lists every problem at once.
 */
export class SelectorValidationError extends LabelsError {
  override name = 'SelectorValidationError';
  declare readonly code: 'invalid-selector';
  /** Every problem found, in input order. */
  readonly issues: readonly SelectorIssue[];
  /** The selector text, when the selector was parsed from text. */
  readonly selector: string | undefined;

  constructor(issues: readonly SelectorIssue[], selector?: string) {
    const where = selector === undefined ? 'invalid selector' : `invalid selector ${JSON.stringify(selector)}`;
    super('invalid-selector', `${where}: ${issues.map((issue) => issue.message).join('; ')}`);
    this.issues = issues;
    this.selector = selector;
  }
}

function hasCode(error: unknown, code?: LabelsErrorCode): error is LabelsError {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { code?: unknown; name?: unknown };
  if (typeof candidate.code !== 'string' || typeof candidate.name !== 'string') return false;
  if (code !== undefined) return candidate.code === code;
  return ['selector-syntax', 'invalid-selector', 'duplicate-id', 'unknown-id'].includes(candidate.code);
}

/** True for any error thrown by `@flotilla/labels` (works across duplicate installs). */
export function isLabelsError(error: unknown): error is LabelsError {
  return error instanceof LabelsError || hasCode(error);
}

/** True for a {@link SelectorSyntaxError} (works across duplicate installs). */
export function isSelectorSyntaxError(error: unknown): error is SelectorSyntaxError {
  return error instanceof SelectorSyntaxError || hasCode(error, 'selector-syntax');
}

/** True for a {@link SelectorValidationError} (works across duplicate installs). */
export function isSelectorValidationError(error: unknown): error is SelectorValidationError {
  return error instanceof SelectorValidationError || hasCode(error, 'invalid-selector');
}

/** Describes a value for a TypeError message: its type, and the value when short. */
export function describeReceived(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)})`;
    case 'number':
    case 'bigint':
    case 'boolean':
      return `${typeof value} (${String(value)})`;
    case 'undefined':
      return 'undefined';
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    case 'object':
      return value instanceof Map ? 'a Map' : 'an object';
  }
  return typeof value;
}

/**
 * Errors of `@flotilla/scheduler`, as data: one base class with a string-literal `code` and
 * a `cause`. Use {@link isSchedulerError} rather than `instanceof`: it keeps working when two
 * copies of this package are installed side by side.
 *
 * Note that a pod that fits nowhere is not an error: it is reported in
 * `unschedulable` with Kubernetes' reasons. Errors are for input that cannot be understood.
 */

/** Every `code` a {@link SchedulerError} can carry. */
export type SchedulerErrorCode =
  | 'invalid-quantity'
  | 'invalid-selector'
  | 'invalid-node'
  | 'invalid-pod'
  | 'duplicate-node'
  | 'duplicate-pod'
  | 'unknown-node';

/** Base class of every error thrown by `@flotilla/scheduler`. */
export class SchedulerError extends Error {
  override name = 'SchedulerError';
  readonly code: SchedulerErrorCode;

  constructor(code: SchedulerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A Kubernetes quantity string that does not parse, e.g. `"12x"` or `"1.2.3"`. */
export class QuantityError extends SchedulerError {
  override name = 'QuantityError';
  declare readonly code: 'invalid-quantity';
  /** The text that failed to parse. */
  readonly quantity: string;
  /** The resource it was given for (e.g. `cpu`), when known. */
  readonly resource: string | undefined;
  /** What is wrong, e.g. `negative quantities are not allowed` or `too large`. */
  readonly detail: string;

  constructor(quantity: string, detail: string, resource?: string) {
    super(
      'invalid-quantity',
      `invalid quantity ${JSON.stringify(quantity)}${resource === undefined ? '' : ` for ${resource}`}: ${detail}` +
        ' (expected e.g. "500m", "2", "1.5", "256Mi", "1Gi", "1G", or a number in base units)',
    );
    this.quantity = quantity;
    this.resource = resource;
    this.detail = detail;
  }
}

/** Is `error` a {@link SchedulerError} (from any copy of this package)? */
export function isSchedulerError(error: unknown): error is SchedulerError {
  return (
    error instanceof SchedulerError ||
    (error instanceof Error &&
      typeof (error as { code?: unknown }).code === 'string' &&
      (error.name === 'SchedulerError' || error.name === 'QuantityError'))
  );
}

/** Is `error` a {@link QuantityError}? */
export function isQuantityError(error: unknown): error is QuantityError {
  return isSchedulerError(error) && error.code === 'invalid-quantity';
}

/** A short description of a value for TypeError messages. */
export function describeReceived(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${typeof value} ${String(value)}`;
    case 'undefined':
      return 'undefined';
    case 'object':
      return 'an object';
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
  }
  return 'a value';
}

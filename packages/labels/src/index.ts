/**
 * `@flotilla/labels` — Kubernetes' label model, exactly: selectors (string syntax and
 * LabelSelector), label validation, and an inverted label index.
 *
 * @packageDocumentation
 */
export { parseSelector } from './parser.js';
export { everything, nothing, matchesNothing, selectorFromSet } from './selector.js';
export type { Selector } from './selector.js';
export { selectorFromLabelSelector } from './label-selector.js';
export type { LabelSelector, LabelSelectorRequirement, LabelSelectorOperator } from './label-selector.js';
export { newRequirement, isOperator, Operators } from './requirement.js';
export type { Requirement, Operator } from './requirement.js';
export {
  validateLabelKey,
  validateLabelValue,
  validateLabels,
  LABEL_VALUE_MAX_LENGTH,
  LABEL_KEY_NAME_MAX_LENGTH,
  DNS1123_SUBDOMAIN_MAX_LENGTH,
} from './validation.js';
export { LabelIndex } from './label-index.js';
export type { LabelSet } from './labels.js';
export {
  LabelsError,
  SelectorSyntaxError,
  SelectorValidationError,
  isLabelsError,
  isSelectorSyntaxError,
  isSelectorValidationError,
} from './errors.js';
export type { LabelsErrorCode, SelectorIssue, SelectorSyntaxDetails } from './errors.js';

/**
 * Node selectors and pod label selectors, turned into `@flotilla/labels` selectors.
 */
import {
  isLabelsError,
  newRequirement,
  selectorFromLabelSelector,
  selectorFromSet,
  type LabelSelector,
  type LabelSelectorRequirement,
  type Requirement,
  type Selector,
} from '@flotilla/labels';
import { SchedulerError, describeReceived } from './errors.js';
import type { NodeLabelSelector, NodeSelector } from './types.js';

/** Is `value` a structured selector (an object with a `matchLabels` or `matchExpressions` key)? */
export function isStructuredSelector(value: object): value is NodeLabelSelector {
  return 'matchLabels' in value || 'matchExpressions' in value;
}

function wrap(error: unknown, what: string): never {
  if (isLabelsError(error)) {
    throw new SchedulerError('invalid-selector', `invalid ${what}: ${error.message}`, { cause: error });
  }
  throw error;
}

/**
 * The selector of a node selector: a label map gives `key=value` requirements (Kubernetes'
 * `nodeSelector`); a {@link NodeLabelSelector} gives its `matchLabels` and expressions, where
 * `Gt`/`Lt` (as in Kubernetes' `NodeSelectorRequirement`: exactly one integer value) become
 * the labels package's `gt`/`lt` requirements. `undefined` selects every node.
 *
 * @throws SchedulerError `invalid-selector` (with the labels package's error as `cause`).
 */
export function nodeSelectorToSelector(nodeSelector: NodeSelector | undefined): Selector {
  if (nodeSelector === undefined) return selectorFromSet({});
  if (typeof nodeSelector !== 'object' || nodeSelector === null || Array.isArray(nodeSelector)) {
    throw new TypeError(`Expected nodeSelector as a label map or a LabelSelector, received ${describeReceived(nodeSelector)}`);
  }
  try {
    if (!isStructuredSelector(nodeSelector)) return selectorFromSet(nodeSelector);
    const plain: LabelSelectorRequirement[] = [];
    const extra: Requirement[] = [];
    for (const expression of nodeSelector.matchExpressions ?? []) {
      if (expression.operator === 'Gt' || expression.operator === 'Lt') {
        const values = expression.values ?? [];
        if (values.length !== 1) {
          throw new SchedulerError(
            'invalid-selector',
            `invalid node selector: ${expression.key}: ${expression.operator} needs exactly one value, received ${values.length}`,
          );
        }
        extra.push(newRequirement(expression.key, expression.operator === 'Gt' ? 'gt' : 'lt', values));
      } else {
        plain.push(expression as LabelSelectorRequirement);
      }
    }
    const base = selectorFromLabelSelector({ matchLabels: nodeSelector.matchLabels ?? null, matchExpressions: plain });
    return extra.length === 0 ? base : base.add(...extra);
  } catch (error) {
    return wrap(error, 'node selector');
  }
}

/**
 * The selector of an anti-affinity term or a spread constraint over pod labels: a label map
 * or a LabelSelector (In, NotIn, Exists, DoesNotExist).
 */
export function podSelectorToSelector(labelSelector: Readonly<Record<string, string>> | LabelSelector): Selector {
  if (typeof labelSelector !== 'object' || labelSelector === null || Array.isArray(labelSelector)) {
    throw new TypeError(`Expected labelSelector as a label map or a LabelSelector, received ${describeReceived(labelSelector)}`);
  }
  try {
    return isStructuredSelector(labelSelector)
      ? selectorFromLabelSelector(labelSelector)
      : selectorFromSet(labelSelector);
  } catch (error) {
    return wrap(error, 'label selector');
  }
}

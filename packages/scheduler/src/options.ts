/**
 * The options of a placement decision, validated once per call: the strategy and the score
 * weights with their defaults filled in.
 */
import { describeReceived } from './errors.js';
import type { ScoreWeights, Strategy } from './types.js';

const STRATEGIES: readonly Strategy[] = ['binpack', 'spread', 'lowest-load'];

/** Score weights with every default filled in; resources with weight 0 are left out. */
export interface ResolvedWeights {
  readonly strategy: number;
  readonly balancedAllocation: number;
  readonly taintToleration: number;
  readonly resourceNames: readonly string[];
  readonly resourceWeights: readonly number[];
  /** Equal for equal weights (candidate sets are kept per weights). */
  readonly key: string;
}

/** Options of a placement decision. */
export interface DecideOptions {
  readonly strategy: Strategy;
  readonly weights: ResolvedWeights;
  /** Score every candidate node instead of using the index (the reference behaviour). */
  readonly exhaustive: boolean;
}

function checkWeight(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`Expected weights.${name} as a finite number ≥ 0, received ${describeReceived(value)}`);
  }
  return value;
}

/** Validates and fills in score weights. */
export function resolveWeights(weights: ScoreWeights | undefined): ResolvedWeights {
  if (weights !== undefined && (typeof weights !== 'object' || weights === null)) {
    throw new TypeError(`Expected weights as an object, received ${describeReceived(weights)}`);
  }
  const strategy = checkWeight('strategy', weights?.strategy ?? 1);
  const balancedAllocation = checkWeight('balancedAllocation', weights?.balancedAllocation ?? 0);
  const taintToleration = checkWeight('taintToleration', weights?.taintToleration ?? 1);
  const resources = weights?.resources ?? { cpu: 1, memory: 1 };
  if (typeof resources !== 'object' || resources === null) {
    throw new TypeError(`Expected weights.resources as an object, received ${describeReceived(resources)}`);
  }
  const resourceNames: string[] = [];
  const resourceWeights: number[] = [];
  for (const [name, value] of Object.entries(resources)) {
    const w = checkWeight(`resources.${name}`, value);
    if (w === 0) continue;
    resourceNames.push(name);
    resourceWeights.push(w);
  }
  return {
    strategy,
    balancedAllocation,
    taintToleration,
    resourceNames,
    resourceWeights,
    key: resourceNames.map((name, i) => `${name}=${resourceWeights[i]}`).join(','),
  };
}

/** Validates a strategy name. */
export function checkStrategy(strategy: unknown): Strategy {
  if (!STRATEGIES.includes(strategy as Strategy)) {
    throw new TypeError(`Expected strategy to be one of 'binpack', 'spread', 'lowest-load', received ${describeReceived(strategy)}`);
  }
  return strategy as Strategy;
}

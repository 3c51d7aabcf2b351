/**
 * The geometry of binpack's free-capacity grid: which cell a free fraction falls in, and the
 * free fractions each cell spans (candidate-index.ts keeps nodes in use in these cells).
 */
import type { NodeTable } from './node-table.js';
import { requestOf, type PodSpec } from './pod-spec.js';

/**
 * A node in use sits in cell (i, j) of a GRID_SIZE × GRID_SIZE grid, i and j its free
 * fractions of the first two weighted resources (cpu, memory) on a logarithmic scale:
 * CELLS_PER_HALVING cells per halving of the free fraction, the last cell ending at 1 and
 * cell 0 holding everything below 2^-(GRID_SIZE/CELLS_PER_HALVING − 1). Cells are fine near
 * "full", so nodes without room for a pod stay out of the cells a search visits.
 */
export const GRID_SIZE = 128;
export const CELLS_PER_HALVING = 8;
export const WORDS_PER_ROW = GRID_SIZE >>> 5;
/** The least and the greatest free fraction of each cell. */
export const CELL_FREE_LOW = Float64Array.from({ length: GRID_SIZE }, (_, i) => (i === 0 ? 0 : 2 ** ((i - GRID_SIZE) / CELLS_PER_HALVING)));
export const CELL_FREE_HIGH = Float64Array.from({ length: GRID_SIZE }, (_, i) =>
  i === GRID_SIZE - 1 ? 1 : 2 ** ((i + 1 - GRID_SIZE) / CELLS_PER_HALVING),
);

/** The grid coordinate of a free fraction. */
export function cellOfFreeFraction(fraction: number): number {
  if (fraction <= 0) return 0;
  const i = Math.floor(GRID_SIZE + CELLS_PER_HALVING * Math.log2(fraction));
  return i < 0 ? 0 : i >= GRID_SIZE ? GRID_SIZE - 1 : i;
}

/** The lowest grid coordinate along `dim` whose cells can hold a node with room for the pod (`capacity` of its class). */
export function firstCellWithRoom(capacity: Float64Array, dim: number, spec: PodSpec): number {
  if (dim < 0) return 0;
  const c = capacity[dim] ?? 0;
  const q = requestOf(spec, dim);
  if (c <= 0 || q <= 0) return 0;
  return cellOfFreeFraction((q / c) * (1 - 1e-12));
}

/** The grid coordinate of a node's free fraction of `dim` (`capacity` of its class; 0 when the class lacks `dim`). */
export function cellOfNode(nodes: NodeTable, slot: number, capacity: Float64Array, dim: number): number {
  if (dim < 0) return 0;
  const c = capacity[dim] ?? 0;
  if (c <= 0) return 0;
  return cellOfFreeFraction((c - nodes.allocated[dim]![slot]!) / c);
}

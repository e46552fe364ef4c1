/**
 * Checks on the points themselves before a geometric estimate: how many are distinct, whether a requested
 * neighbour count fits the sample, whether labels can say anything. Each returns the value actually usable
 * plus a warning sentence, so every command reports (and records) what it used instead of silently clamping.
 */
import { AtlasError } from '../errors.ts';
import type { Matrix } from './matrix.ts';
import { removeIdenticalPoints } from './knn.ts';

/** Fewest distinct points for a ratio ID estimate (TwoNN needs r1 < r2 among ≥ 2 other distinct points). */
export const MIN_DISTINCT_POINTS = 3;

/** Number of distinct rows (exact float equality; +0 = −0). */
export function countDistinctRows(X: Matrix): number {
  return X.rows - removeIdenticalPoints(X).removed;
}

/** One warning about duplicate points, or undefined when every row is distinct. */
export function duplicateWarning(where: string, n: number, distinct: number): string | undefined {
  if (distinct === n) return undefined;
  return `${where}: only ${distinct} distinct point${distinct === 1 ? '' : 's'} among ${n} (${n - distinct} duplicates)`;
}

export interface NeighbourCount {
  /** The k that is used: min(requested, n − 1). */
  used: number;
  requested: number;
  warning?: string;
}

/**
 * A neighbour count for n points: k above n − 1 is clamped to n − 1 with a warning naming the flag (an overlap
 * with k = n − 1 is trivially 1, so the warning says so); k < 1 or a sample of one point is an error.
 */
export function neighbourCount(requested: number, n: number, flag = 'k'): NeighbourCount {
  if (!Number.isInteger(requested) || requested < 1) throw new AtlasError(`--${flag} must be a positive integer, got ${requested}`, { field: flag });
  if (n < 2) throw new AtlasError(`${n} point${n === 1 ? '' : 's'}: neighbours need at least 2`, { field: flag });
  if (requested <= n - 1) return { used: requested, requested };
  return {
    used: n - 1, requested,
    warning: `--${flag} ${requested} is more than the ${n - 1} other points of ${n}; using --${flag} ${n - 1} (every other point is a neighbour, so overlaps are trivially 1)`,
  };
}

/** A warning when the labels cannot discriminate: one class only (label overlap is then 1 by construction). */
export function singleLabelWarning(labels: ArrayLike<unknown>): string | undefined {
  const seen = new Set<unknown>();
  for (let i = 0; i < labels.length; i++) if (labels[i] !== -1) seen.add(labels[i]);
  if (seen.size === 1) return 'every text has the same label: label overlap is 1 by construction and is not reported (give two or more labels)';
  return undefined;
}

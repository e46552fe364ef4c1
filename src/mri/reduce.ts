/**
 * Per-layer dimensionality reduction as the reference tool applies it (each layer fitted independently):
 * - 'pca': scikit-learn PCA; for the 2-D grid path the features are standardised first (StandardScaler), as
 *   the reference does (`standardize` overrides).
 * - 'svd': the exact truncated SVD (no centring), with the features standardised first on the 2-D grid path as
 *   for PCA — what the reference computes; `svdSolver: 'randomized'` is scikit-learn TruncatedSVD's default
 *   randomized solver (5 iterations) instead.
 * - 'umap': features min-max scaled to [0, 1] first, then UMAP with metric 'cosine' (the reference's default),
 *   n_neighbors 15 (lowered to n − 1 for fewer texts, as umap-learn does), the given seed.
 * A layer where every text has the same vector (BERT's [CLS] at the embedding layer) reduces to all zeros:
 * every text in one place (the reference's methods would return zeros or a degenerate layout).
 */
import { AtlasError } from '../errors.ts';
import type { Matrix } from '../geometry/matrix.ts';
import { pca } from '../geometry/pca.ts';
import { truncatedSvd } from '../geometry/truncated-svd.ts';
import { umap } from '../geometry/umap.ts';
import { applyScaler, fitStandardScaler, minMaxScale } from './split.ts';

export type ReductionMethod = 'pca' | 'svd' | 'umap';
export const REDUCTION_METHODS: readonly ReductionMethod[] = ['pca', 'svd', 'umap'];

export interface ReductionOptions {
  method: ReductionMethod;
  nComponents: number;
  /** Seed of the randomized solvers and of UMAP. Default 0. */
  seed?: number;
  /** PCA and SVD: standardise features first. Default: true when nComponents = 2 (the grid path), else false. */
  standardize?: boolean;
  /** SVD solver: 'exact' (default, the reference's result) or 'randomized' (scikit-learn TruncatedSVD's default). */
  svdSolver?: 'exact' | 'randomized';
  /** UMAP metric. Default 'cosine'. */
  metric?: 'euclidean' | 'cosine';
  /** UMAP n_neighbors. Default 15. */
  nNeighbors?: number;
  threads?: number;
}

export function parseReductionMethod(value: string): ReductionMethod {
  if ((REDUCTION_METHODS as readonly string[]).includes(value)) return value as ReductionMethod;
  throw new AtlasError(`unknown reduction '${value}'`, { field: 'reduce', hint: `use one of: ${REDUCTION_METHODS.join(', ')}` });
}

/** Checks n_components against the data before any work (the error names the layer's shape). */
export function checkComponents(method: ReductionMethod, k: number, rows: number, cols: number): void {
  if (!Number.isInteger(k) || k < 1) throw new AtlasError(`n_components must be a positive integer, got ${k}`, { field: 'components' });
  if (k > cols || (method === 'svd' && k >= cols)) {
    throw new AtlasError(`n_components (${k}) exceeds what ${cols} features allow (${method === 'svd' ? `TruncatedSVD needs n_components < n_features` : `at most ${cols}`})`, { field: 'components' });
  }
  if (k > rows || (method === 'umap' && k >= rows)) throw new AtlasError(`n_components (${k}) is too large for ${rows} texts`, { field: 'components', hint: 'add texts or lower --components' });
}

/** Reduces one layer's activations (n × d) to n × k, in float64. */
export async function reduceLayer(x: Matrix, opts: ReductionOptions): Promise<Matrix<Float64Array>> {
  const k = opts.nComponents;
  checkComponents(opts.method, k, x.rows, x.cols);
  const seed = opts.seed ?? 0;
  // Every text has the same vector (e.g. BERT's [CLS] at the embedding layer: word + position 0 + type 0,
  // whatever the text): there is nothing to reduce; all texts share one point (one grid cell).
  if (identicalRows(x)) return { rows: x.rows, cols: k, data: new Float64Array(x.rows * k) };
  switch (opts.method) {
    case 'pca': {
      const input = (opts.standardize ?? k === 2) ? applyScaler(x, fitStandardScaler(x)) : x;
      return (await pca(input, { nComponents: k, seed, threads: opts.threads })).embedding;
    }
    case 'svd': {
      const input = (opts.standardize ?? k === 2) ? applyScaler(x, fitStandardScaler(x)) : x;
      return (await truncatedSvd(input, { nComponents: k, seed, threads: opts.threads, algorithm: opts.svdSolver ?? 'exact' })).embedding;
    }
    case 'umap': {
      const nNeighbors = Math.min(opts.nNeighbors ?? 15, x.rows - 1);
      if (nNeighbors < 2) throw new AtlasError(`UMAP needs at least 3 texts, got ${x.rows}`, { field: 'data' });
      return (await umap(minMaxScale(x), { nComponents: k, metric: opts.metric ?? 'cosine', nNeighbors, seed, threads: opts.threads })).embedding;
    }
  }
}

function identicalRows(x: Matrix): boolean {
  const d = x.cols;
  for (let i = 1; i < x.rows; i++) for (let j = 0; j < d; j++) if (x.data[i * d + j] !== x.data[j]) return false;
  return true;
}

import { AtlasError } from '../errors.ts';
import type { Matrix } from './matrix.ts';
import { pca } from './pca.ts';
import { truncatedSvd } from './truncated-svd.ts';
import { tsne } from './tsne.ts';
import { umap } from './umap.ts';
import { classicalMds, smacof } from './mds.ts';
import { knn } from './knn.ts';
import { knnGraph } from './graph.ts';
import { geodesicDistances } from './geodesic.ts';
import { condensedDistances } from './quality.ts';
import { MIN_DISTINCT_POINTS, countDistinctRows, duplicateWarning, neighbourCount } from './sample-checks.ts';

/** The reductions a map can use. 'mds' is classical (Torgerson) scaling, 'smacof' metric MDS. */
import { REDUCE_METHODS, REDUCE_OPTIONS, type ReduceMethod } from './defaults.ts';
export { REDUCE_METHODS, type ReduceMethod } from './defaults.ts';

export interface ReduceOptions {
  method: ReduceMethod;
  /** Output dimensions. Default 2. */
  nComponents?: number;
  /** Default 0. */
  seed?: number;
  /**
   * Replace Euclidean distances by geodesic (shortest-path) distances on the k-NN graph (Isomap-style), for the
   * distance-based methods: mds, smacof and tsne. Default false.
   */
  geodesic?: boolean;
  /** Neighbours of the geodesic graph. Default 15. */
  k?: number;
  /** t-SNE perplexity (default 30, clipped below n) and UMAP neighbours (default 15, clipped below n). */
  perplexity?: number;
  nNeighbors?: number;
  /** UMAP minimum distance. Default 0.1. */
  minDist?: number;
  threads?: number;
}

export interface Reduction {
  embedding: Matrix<Float64Array>;
  method: ReduceMethod;
  /** Method-specific numbers worth reporting (explained variance, stress, KL divergence, ...). */
  diagnostics: Record<string, unknown>;
}

/** n × n distance matrix: Euclidean, or geodesic on the (union-symmetrised) k-NN graph. */
async function distanceMatrix(x: Matrix, opts: ReduceOptions): Promise<{ d: Matrix<Float64Array>; diagnostics: Record<string, unknown> }> {
  const n = x.rows;
  if (!opts.geodesic) {
    const c = condensedDistances(x);
    const d = new Float64Array(n * n);
    let p = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) { d[i * n + j] = d[j * n + i] = c[p++]; }
    return { d: { rows: n, cols: n, data: d }, diagnostics: { distances: 'euclidean' } };
  }
  const kk = neighbourCount(opts.k ?? REDUCE_OPTIONS.k.default, n);
  const k = kk.used;
  const table = await knn(x, { k, threads: opts.threads });
  const geo = await geodesicDistances(knnGraph(table), { disconnected: 'connect', points: x, threads: opts.threads });
  return {
    d: { rows: n, cols: n, data: Float64Array.from(geo.distances) },
    diagnostics: { distances: 'geodesic', k, ...(kk.warning ? { warnings: [kk.warning] } : {}), components: geo.components.count, joiningEdges: geo.addedEdges.length },
  };
}

/** Above this many points the MDS diagnostics leave out the negative mass (classicalMds: it needs every eigenvalue). */
export const NEGATIVE_MASS_MAX_POINTS = 1000;

/**
 * Reduces the rows of x to a low-dimensional embedding with the chosen method. Duplicate rows are counted
 * (diagnostics.distinctPoints, and a warning in diagnostics.warnings): a map of near-identical points would
 * otherwise be drawn as a convincing spread of rounding noise. Fewer than 3 distinct points is an error.
 */
export async function reduce(x: Matrix, opts: ReduceOptions): Promise<Reduction> {
  const distinct = countDistinctRows(x);
  if (distinct < MIN_DISTINCT_POINTS) {
    throw new AtlasError(`a map needs at least ${MIN_DISTINCT_POINTS} distinct points, got ${distinct} among ${x.rows} rows`, { field: 'data', hint: 'the texts give (nearly) identical vectors here: try another layer or --aggregate mean' });
  }
  const r = await reduceDistinct(x, opts);
  const warnings = [...((r.diagnostics.warnings as string[] | undefined) ?? [])];
  const dup = duplicateWarning('map', x.rows, distinct);
  if (dup) warnings.unshift(`${dup}: duplicates sit on top of each other`);
  r.diagnostics = { ...r.diagnostics, distinctPoints: distinct, ...(warnings.length ? { warnings } : {}) };
  return r;
}

async function reduceDistinct(x: Matrix, opts: ReduceOptions): Promise<Reduction> {
  const nComponents = opts.nComponents ?? REDUCE_OPTIONS.nComponents.default;
  const seed = opts.seed ?? REDUCE_OPTIONS.seed.default;
  const n = x.rows;
  switch (opts.method) {
    case 'pca': {
      const r = await pca(x, { nComponents, seed, threads: opts.threads });
      return { embedding: r.embedding, method: 'pca', diagnostics: { solver: r.model.solver, explainedVarianceRatio: [...r.model.explainedVarianceRatio], explainedVariance: [...r.model.explainedVariance] } };
    }
    case 'svd': {
      const r = await truncatedSvd(x, { nComponents, seed });
      return { embedding: r.embedding, method: 'svd', diagnostics: { singularValues: [...r.singularValues], explainedVarianceRatio: [...r.explainedVarianceRatio] } };
    }
    case 'tsne': {
      const perplexity = Math.min(opts.perplexity ?? REDUCE_OPTIONS.perplexity.default, Math.max(1, Math.floor((n - 1) / 3)));
      if (opts.geodesic) {
        const { d, diagnostics } = await distanceMatrix(x, opts);
        const r = await tsne(d, { nComponents, seed, perplexity, metric: 'precomputed', init: 'random', method: nComponents === 2 ? 'barnes_hut' : 'exact', threads: opts.threads });
        return { embedding: r.embedding, method: 'tsne', diagnostics: { ...diagnostics, perplexity, klDivergence: r.klDivergence, nIter: r.nIter } };
      }
      const r = await tsne(x, { nComponents, seed, perplexity, method: nComponents === 2 ? 'barnes_hut' : 'exact', threads: opts.threads });
      return { embedding: r.embedding, method: 'tsne', diagnostics: { perplexity, klDivergence: r.klDivergence, nIter: r.nIter, learningRate: r.learningRate } };
    }
    case 'umap': {
      const nNeighbors = Math.min(opts.nNeighbors ?? REDUCE_OPTIONS.nNeighbors.default, n - 1);
      const r = await umap(x, { nComponents, seed, nNeighbors, minDist: opts.minDist ?? REDUCE_OPTIONS.minDist.default, threads: opts.threads });
      return { embedding: r.embedding, method: 'umap', diagnostics: { nNeighbors, ...r.diagnostics } };
    }
    case 'mds': {
      const { d, diagnostics } = await distanceMatrix(x, opts);
      // The negative mass needs the whole spectrum (O(n³)); the embedding only the top eigenpairs.
      const withMass = n <= NEGATIVE_MASS_MAX_POINTS;
      const r = await classicalMds(d, { nComponents, negativeMass: withMass, threads: opts.threads });
      const mass = withMass ? { negativeMass: r.negativeMass } : { negativeMass: null, negativeMassNote: `not computed above ${NEGATIVE_MASS_MAX_POINTS} points (it needs the full O(n³) spectrum)` };
      return { embedding: r.embedding, method: 'mds', diagnostics: { ...diagnostics, eigenvalues: [...r.eigenvalues], ...mass } };
    }
    case 'smacof': {
      const { d, diagnostics } = await distanceMatrix(x, opts);
      const r = smacof(d, { nComponents, seed });
      return { embedding: r.embedding, method: 'smacof', diagnostics: { ...diagnostics, stress: r.stress, normalizedStress: r.normalizedStress, nIter: r.nIter } };
    }
    default:
      throw new AtlasError(`unknown reduction '${String(opts.method)}'`, { field: 'reduce', hint: `use one of: ${REDUCE_METHODS.join(', ')}` });
  }
}

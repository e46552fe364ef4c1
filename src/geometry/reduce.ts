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

/** The reductions a map can use. 'mds' is classical (Torgerson) scaling, 'smacof' metric MDS. */
export type ReduceMethod = 'pca' | 'svd' | 'tsne' | 'umap' | 'mds' | 'smacof';
export const REDUCE_METHODS: readonly ReduceMethod[] = ['pca', 'svd', 'tsne', 'umap', 'mds', 'smacof'];

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
  const k = opts.k ?? 15;
  const table = await knn(x, { k: Math.min(k, n - 1), threads: opts.threads });
  const geo = await geodesicDistances(knnGraph(table), { disconnected: 'connect', points: x, threads: opts.threads });
  return {
    d: { rows: n, cols: n, data: Float64Array.from(geo.distances) },
    diagnostics: { distances: 'geodesic', k, components: geo.components.count, joiningEdges: geo.addedEdges.length },
  };
}

/** Above this many points the MDS diagnostics leave out the negative mass (classicalMds: it needs every eigenvalue). */
export const NEGATIVE_MASS_MAX_POINTS = 1000;

/** Reduces the rows of x to a low-dimensional embedding with the chosen method. */
export async function reduce(x: Matrix, opts: ReduceOptions): Promise<Reduction> {
  const nComponents = opts.nComponents ?? 2;
  const seed = opts.seed ?? 0;
  const n = x.rows;
  if (n < 3) throw new AtlasError(`a map needs at least 3 points, got ${n}`, { field: 'data' });
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
      const perplexity = Math.min(opts.perplexity ?? 30, Math.max(1, Math.floor((n - 1) / 3)));
      if (opts.geodesic) {
        const { d, diagnostics } = await distanceMatrix(x, opts);
        const r = await tsne(d, { nComponents, seed, perplexity, metric: 'precomputed', init: 'random', method: nComponents === 2 ? 'barnes_hut' : 'exact', threads: opts.threads });
        return { embedding: r.embedding, method: 'tsne', diagnostics: { ...diagnostics, perplexity, klDivergence: r.klDivergence, nIter: r.nIter } };
      }
      const r = await tsne(x, { nComponents, seed, perplexity, method: nComponents === 2 ? 'barnes_hut' : 'exact', threads: opts.threads });
      return { embedding: r.embedding, method: 'tsne', diagnostics: { perplexity, klDivergence: r.klDivergence, nIter: r.nIter, learningRate: r.learningRate } };
    }
    case 'umap': {
      const nNeighbors = Math.min(opts.nNeighbors ?? 15, n - 1);
      const r = await umap(x, { nComponents, seed, nNeighbors, threads: opts.threads });
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

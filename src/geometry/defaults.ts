/**
 * Defaults of the geometry operations that the CLI exposes (maps, the ID / overlap profile): the one place
 * they are written (see src/util/option-table.ts).
 */
import { defineOptions, opt } from '../util/option-table.ts';
import { SEED } from '../data/defaults.ts';

export type ReduceMethod = 'pca' | 'svd' | 'tsne' | 'umap' | 'mds' | 'smacof';
export const REDUCE_METHODS: readonly ReduceMethod[] = ['pca', 'svd', 'tsne', 'umap', 'mds', 'smacof'];

export const REDUCE_OPTIONS = defineOptions({
  method: opt<ReduceMethod>({ kind: 'choice', default: 'pca', choices: REDUCE_METHODS, flag: 'reduce', help: 'reduction (mds = classical MDS, smacof = metric MDS)' }),
  nComponents: opt<number>({ kind: 'int', default: 2, min: 1, flag: 'dims', metavar: 'N', help: 'output dimensions (the CLI draws 2 or 3)' }),
  seed: { ...SEED, help: 'seed of t-SNE / UMAP / SMACOF / randomized PCA' },
  geodesic: opt<boolean>({ kind: 'boolean', default: false, help: 'geodesic distances on the k-NN graph (mds, smacof, tsne)' }),
  k: opt<number>({ kind: 'int', default: 15, min: 1, metavar: 'N', help: 'neighbours of the geodesic graph' }),
  perplexity: opt<number>({ kind: 'number', default: 30, min: 0, metavar: 'P', help: 't-SNE perplexity (clipped to (n − 1)/3)' }),
  nNeighbors: opt<number>({ kind: 'int', default: 15, min: 2, metavar: 'N', help: 'UMAP neighbours (clipped below n)' }),
  minDist: opt<number>({ kind: 'number', default: 0.1, min: 0, metavar: 'D', help: 'UMAP minimum distance' }),
});

export const PROFILE_OPTIONS = defineOptions({
  k: opt<number>({ kind: 'int', default: 30, min: 1, metavar: 'N', help: "neighbours for the overlaps (DADApy's default)" }),
  rangeMax: opt<number>({ kind: 'int', default: 64, min: 2, metavar: 'N', help: 'largest Gride rank n2' }),
  metric: opt<'euclidean' | 'cosine'>({ kind: 'choice', default: 'euclidean', choices: ['euclidean', 'cosine'], help: 'distance' }),
  neighbours: opt<'exact' | 'hnsw'>({ kind: 'choice', default: 'exact', choices: ['exact', 'hnsw'], help: 'exact k-NN, or approximate HNSW (optional package usearch) with recall@k measured on --recall-sample rows; or DIR of tables (below)' }),
  recallSample: opt<number>({ kind: 'int', default: 200, min: 1, metavar: 'N', help: 'rows on which HNSW recall against exact k-NN is measured, per layer' }),
  probe: opt<boolean>({ kind: 'boolean', default: true, help: 'per-layer linear probe accuracy with a 95% CI and a shuffled-label control (labelled data)' }),
  probeSplits: opt<number>({ kind: 'int', default: 5, min: 2, metavar: 'N', help: 'stratified shuffle splits of the probe (test size 0.3)' }),
  diagnostics: opt<boolean>({ kind: 'boolean', default: true, help: 'mean residual norm, anisotropy, outlier dimensions, kurtosis, effective rank' }),
  twoNNScaling: opt<boolean>({ kind: 'boolean', default: true, flag: 'twonn-scaling', help: "TwoNN by decimation per layer, subsets of N, N/2, N/4, … points (DADApy's return_id_scaling_2NN)" }),
  idScale: opt<'full' | 'plateau' | 'paper'>({ kind: 'choice', default: 'full', choices: ['full', 'plateau', 'paper'], help: "reported ID: TwoNN on all points, where the decimation curve is flat (Appendix B), or the paper's code (mu_fraction 0.98, 1/32 decimation)" }),
  plateauTol: opt<number>({ kind: 'number', default: 0.1, min: 0, metavar: 'F', help: 'relative ID change between consecutive decimation levels still counted as a plateau' }),
  saveNeighbours: opt<boolean>({ kind: 'boolean', default: false, help: 'write DADApy-style tables OUT/neighbours/layer-<L>/{distances,indices}.npy (N×(k+1), self in column 0)' }),
  saveNeighboursK: opt<number>({ kind: 'int', default: 50, min: 2, metavar: 'N', help: 'neighbours per point in the saved tables (the seed-004 pipeline stores 50)' }),
});

/**
 * Layer × layer similarity matrices within one set of representations or between two (two models, or two
 * checkpoints of one model, on the same inputs):
 * - 'cka' / 'cka_debiased': linear CKA (./cka.ts);
 * - 'overlap': neighbourhood (data) overlap χ = mean over points of |N_k^A(i) ∩ N_k^B(i)| / k (DADApy's
 *   return_data_overlap, the reference paper's Fig. 2), from one exact k-NN table per layer;
 * - 'rsa': representational similarity analysis — Spearman's ρ between the condensed pairwise-distance
 *   matrices (scipy: spearmanr(pdist(A), pdist(B))).
 * Each layer is read once per set and reduced to what the pairs need (a unit-norm centred Gram, a k-NN table,
 * the ranks of its distances), so memory is O(L·N²) floats for CKA/RSA and O(L·N·k) for overlaps; RSA and CKA
 * use at most `maxRows` inputs (a seeded subsample, recorded in the result), because both are O(N²).
 */
import { AtlasError } from '../errors.ts';
import { ckaFromGrams, normalisedGram, type NormalisedGram } from './cka.ts';
import { knn, type KnnResult, type Metric } from './knn.ts';
import { dataOverlapFromKnn } from './overlap.ts';
import { averageRanks, condensedDistances, pearson } from './quality.ts';
import type { Matrix } from './matrix.ts';
import { mulberry32 } from '../util/random.ts';

export type SimilarityMeasure = 'cka' | 'cka_debiased' | 'overlap' | 'rsa';
export const SIMILARITY_MEASURES: readonly SimilarityMeasure[] = ['cka', 'cka_debiased', 'overlap', 'rsa'];

/** Defaults of `layerSimilarity` (the CLI's `compare` flags read this table). */
export const LAYER_SIMILARITY_DEFAULTS = {
  measures: ['cka', 'overlap', 'rsa'] as SimilarityMeasure[],
  /** Neighbours for the overlap (DADApy's default). */
  k: 30,
  metric: 'euclidean' as Metric,
  /** Largest number of inputs for the O(N²) measures (CKA, RSA); more are subsampled with `seed`. */
  maxRows: 2000,
  seed: 0,
};

export interface LayerSimilarityOptions {
  measures?: SimilarityMeasure[];
  k?: number;
  metric?: Metric;
  maxRows?: number;
  seed?: number;
  threads?: number;
  /** Called after each layer is prepared (progress). */
  onLayer?: (set: 'A' | 'B', layer: number) => void;
}

/** One side: its layer indices and a reader (one layer in memory at a time). */
export interface LayerSource {
  layers: number[];
  rows: number;
  readLayer(layer: number): Matrix;
}

export interface LayerSimilarityResult {
  layersA: number[];
  layersB: number[];
  /** Row-major |layersA| × |layersB| matrix per measure. */
  matrices: Partial<Record<SimilarityMeasure, Float64Array>>;
  /** Inputs used by CKA / RSA (after subsampling) and by the overlap. */
  rowsUsed: { gram: number; overlap: number };
  k: number;
  metric: Metric;
}

/** Seeded subset of `n` rows of size min(n, max), ascending. */
function subsample(n: number, max: number, seed: number): Int32Array | null {
  if (n <= max) return null;
  const rand = mulberry32(seed);
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < max; i++) {
    const j = i + Math.floor(rand() * (n - i));
    const t = idx[i]!; idx[i] = idx[j]!; idx[j] = t;
  }
  return idx.subarray(0, max).sort();
}

function takeRows(x: Matrix, rows: Int32Array | null): Matrix {
  if (!rows) return x;
  const out = new (x.data.constructor as { new (n: number): Float32Array | Float64Array })(rows.length * x.cols);
  rows.forEach((r, i) => out.set(x.data.subarray(r * x.cols, (r + 1) * x.cols), i * x.cols));
  return { rows: rows.length, cols: x.cols, data: out };
}

interface Prepared {
  gram?: NormalisedGram;
  gramDebiased?: NormalisedGram;
  table?: KnnResult;
  ranks?: Float64Array;
}

async function prepare(src: LayerSource, set: 'A' | 'B', o: Required<Omit<LayerSimilarityOptions, 'threads' | 'onLayer'>> & LayerSimilarityOptions, sub: Int32Array | null): Promise<Prepared[]> {
  const out: Prepared[] = [];
  for (const l of src.layers) {
    const x = src.readLayer(l);
    const p: Prepared = {};
    const xs = takeRows(x, sub);
    if (o.measures.includes('cka')) p.gram = await normalisedGram(xs, { threads: o.threads });
    if (o.measures.includes('cka_debiased')) p.gramDebiased = await normalisedGram(xs, { debiased: true, threads: o.threads });
    if (o.measures.includes('overlap')) p.table = await knn(x, { k: o.k, metric: o.metric, threads: o.threads });
    if (o.measures.includes('rsa')) p.ranks = averageRanks(condensedDistances(xs, o.metric));
    out.push(p);
    o.onLayer?.(set, l);
  }
  return out;
}

/** Layer × layer matrices of A against itself (B absent) or against B (same inputs, row for row). */
export async function layerSimilarity(a: LayerSource, b: LayerSource | undefined, opts: LayerSimilarityOptions = {}): Promise<LayerSimilarityResult> {
  const o = { ...LAYER_SIMILARITY_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as Required<Omit<LayerSimilarityOptions, 'threads' | 'onLayer'>> & LayerSimilarityOptions;
  for (const m of o.measures) if (!SIMILARITY_MEASURES.includes(m)) throw new AtlasError(`unknown measure '${m}'`, { field: 'measures', hint: `choose from ${SIMILARITY_MEASURES.join(', ')}` });
  if (b && b.rows !== a.rows) {
    throw new AtlasError(`the two runs have ${a.rows} and ${b.rows} rows; a comparison needs the same inputs in the same order`, { field: 'rows', hint: 'extract both runs from the same dataset (same --data, --num-samples and --seed)' });
  }
  if (a.rows < 4) throw new AtlasError(`a comparison needs at least 4 inputs, got ${a.rows}`, { field: 'rows' });
  if (o.measures.includes('overlap') && (!Number.isInteger(o.k) || o.k < 1 || o.k >= a.rows)) {
    throw new AtlasError(`k must be an integer in 1..${a.rows - 1} (the number of inputs − 1), got ${o.k}`, { field: 'k' });
  }
  const sub = subsample(a.rows, o.maxRows, o.seed);
  const pa = await prepare(a, 'A', o, sub);
  const pb = b ? await prepare(b, 'B', o, sub) : pa;
  const layersB = b ? b.layers : a.layers;
  const nA = a.layers.length, nB = layersB.length;
  const matrices: LayerSimilarityResult['matrices'] = {};
  for (const m of o.measures) {
    const mat = new Float64Array(nA * nB);
    for (let i = 0; i < nA; i++) {
      for (let j = 0; j < nB; j++) {
        if (!b && j < i) { mat[i * nB + j] = mat[j * nB + i]!; continue; }
        const x = pa[i]!, y = pb[j]!;
        let v: number;
        if (m === 'cka') v = ckaFromGrams(x.gram!, y.gram!);
        else if (m === 'cka_debiased') v = ckaFromGrams(x.gramDebiased!, y.gramDebiased!);
        else if (m === 'overlap') v = dataOverlapFromKnn(x.table!, y.table!, o.k).overlap;
        else v = rsaFromRanks(x.ranks!, y.ranks!);
        mat[i * nB + j] = v;
      }
    }
    matrices[m] = mat;
  }
  return { layersA: [...a.layers], layersB: [...layersB], matrices, rowsUsed: { gram: sub ? sub.length : a.rows, overlap: a.rows }, k: o.k, metric: o.metric };
}

/** Spearman ρ from precomputed average ranks; NaN when one side has all distances equal. */
function rsaFromRanks(a: Float64Array, b: Float64Array): number {
  try {
    return pearson(a, b);
  } catch {
    return Number.NaN;
  }
}

/**
 * Centered kernel alignment with a linear kernel (Kornblith et al. 2019, "Similarity of Neural Network
 * Representations Revisited"), exactly as their reference code computes it:
 *   K = X Xᵀ, L = Y Yᵀ (Gram matrices of the raw rows), centred (biased: H K H; debiased: the unbiased HSIC
 *   estimator of Song et al. 2012 — zero diagonal, means over n − 2, as `center_gram(unbiased=True)`),
 *   CKA = ⟨K̃, L̃⟩_F / (‖K̃‖_F ‖L̃‖_F).
 * The biased value equals the feature-space form ‖Ycᵀ Xc‖²_F / (‖Xcᵀ Xc‖_F ‖Ycᵀ Yc‖_F). It is 1 for identical
 * representations and invariant to orthogonal transforms and isotropic scaling of either side.
 *
 * Why Gram matrices: a layer × layer CKA matrix needs every pair of L layers; centring and normalising each
 * layer's N × N Gram matrix once turns every entry into one dot product. Grams are float64 (the products run
 * in float64 through onnxruntime; the centring is O(N²)).
 */
import { AtlasError } from '../errors.ts';
import { gemm } from './gemm.ts';
import type { Matrix } from './matrix.ts';

/** A centred Gram matrix scaled to unit Frobenius norm (so CKA of two of them is their dot product). */
export interface NormalisedGram {
  n: number;
  data: Float64Array;
  debiased: boolean;
}

/** K = X Xᵀ in float64. */
export async function linearGram(x: Matrix, threads?: number): Promise<Float64Array> {
  const x64 = x.data instanceof Float64Array ? x : { rows: x.rows, cols: x.cols, data: Float64Array.from(x.data) };
  return (await gemm(x64 as Matrix<Float64Array>, x64 as Matrix<Float64Array>, { transposeB: true, threads })).data;
}

/** Centres a Gram matrix in place (Kornblith's `center_gram`), biased or unbiased. */
export function centerGram(g: Float64Array, n: number, unbiased: boolean): Float64Array {
  if (unbiased && n < 4) throw new AtlasError(`debiased CKA needs at least 4 rows, got ${n}`, { field: 'rows' });
  const means = new Float64Array(n);
  if (unbiased) for (let i = 0; i < n; i++) g[i * n + i] = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += g[i * n + j]!;
    means[i] = unbiased ? s / (n - 2) : s / n;
  }
  let total = 0;
  for (let i = 0; i < n; i++) total += means[i]!;
  const shift = unbiased ? total / (2 * (n - 1)) : total / n / 2;
  for (let i = 0; i < n; i++) means[i]! -= shift;
  for (let i = 0; i < n; i++) {
    const mi = means[i]!;
    const row = i * n;
    for (let j = 0; j < n; j++) g[row + j] = g[row + j]! - mi - means[j]!;
  }
  if (unbiased) for (let i = 0; i < n; i++) g[i * n + i] = 0;
  return g;
}

/** The centred, unit-norm linear Gram matrix of X (one per layer; CKA of two = their dot product). */
export async function normalisedGram(x: Matrix, opts: { debiased?: boolean; threads?: number } = {}): Promise<NormalisedGram> {
  if (x.rows < 2) throw new AtlasError(`CKA needs at least 2 rows, got ${x.rows}`, { field: 'rows' });
  const n = x.rows;
  const debiased = opts.debiased ?? false;
  const g = centerGram(await linearGram(x, opts.threads), n, debiased);
  let ss = 0;
  for (let i = 0; i < g.length; i++) ss += g[i]! * g[i]!;
  const norm = Math.sqrt(ss);
  // A representation that is constant across rows has a zero centred Gram: CKA with it is undefined.
  if (!(norm > 0)) return { n, data: g.fill(Number.NaN), debiased };
  for (let i = 0; i < g.length; i++) g[i]! /= norm;
  return { n, data: g, debiased };
}

/** CKA of two normalised Grams of the same rows. NaN when either representation is constant. */
export function ckaFromGrams(a: NormalisedGram, b: NormalisedGram): number {
  if (a.n !== b.n) throw new AtlasError(`the two representations have ${a.n} and ${b.n} rows; CKA compares the same inputs`, { field: 'rows' });
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += a.data[i]! * b.data[i]!;
  return s;
}

/** Linear CKA (or debiased linear CKA) of two representations of the same N inputs. */
export async function linearCKA(x: Matrix, y: Matrix, opts: { debiased?: boolean; threads?: number } = {}): Promise<number> {
  if (x.rows !== y.rows) throw new AtlasError(`X has ${x.rows} rows but Y has ${y.rows}; CKA compares the same inputs`, { field: 'rows' });
  return ckaFromGrams(await normalisedGram(x, opts), await normalisedGram(y, opts));
}

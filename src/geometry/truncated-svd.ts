import { AtlasError } from '../errors.ts';
import { gemm } from './gemm.ts';
import type { Matrix } from './matrix.ts';
import { toFloat64 } from './matrix.ts';
import { firstNonFiniteRow, luPermutedL, orthonormalColumns, svdFlipByComponents, svdJacobi, symmetricEigen } from './linalg.ts';
import { Rng } from './rng.ts';

export type PowerIterationNormalizer = 'auto' | 'QR' | 'LU' | 'none';

export interface RandomizedSvdOptions {
  /** Extra random directions beyond nComponents. Default 10 (scikit-learn). */
  nOversamples?: number;
  /** Power iterations; 'auto' = 7 if nComponents < 0.1·min(shape) else 4 (scikit-learn's randomized_svd). */
  nIter?: number | 'auto';
  /** Re-normalisation between power iterations; 'auto' = 'none' for nIter ≤ 2, else 'LU' (scikit-learn). */
  powerIterationNormalizer?: PowerIterationNormalizer;
  /** Seed of the Gaussian test matrix. Default 0. */
  seed?: number;
  threads?: number;
}

/**
 * Randomized truncated SVD (Halko, Martinsson & Tropp 2011, Algorithm 4.4), step for step as scikit-learn's
 * randomized_svd: Gaussian sketch, power iterations with LU/QR normalisation, QR of the range, exact SVD of the
 * small projected matrix. Works on the transpose when the matrix is wide (transpose='auto'). Signs are NOT
 * flipped here (callers apply svd_flip). All products go through gemm in float64.
 */
export async function randomizedSvd(a: Matrix<Float64Array>, nComponents: number, opts: RandomizedSvdOptions = {}): Promise<{ u: Matrix<Float64Array>; s: Float64Array; vt: Matrix<Float64Array> }> {
  const nRandom = nComponents + (opts.nOversamples ?? 10);
  const nIterOpt = opts.nIter ?? 'auto';
  const nIter = nIterOpt === 'auto' ? (nComponents < 0.1 * Math.min(a.rows, a.cols) ? 7 : 4) : nIterOpt;
  let normalizer = opts.powerIterationNormalizer ?? 'auto';
  if (normalizer === 'auto') normalizer = nIter <= 2 ? 'none' : 'LU';
  const threads = opts.threads;
  // M = A, or Aᵀ when A is wide; products with M and Mᵀ are expressed through gemm's transpose flags.
  const transpose = a.rows < a.cols;
  const mCols = transpose ? a.rows : a.cols;
  const size = Math.min(nRandom, Math.min(a.rows, a.cols));
  const times = (q: Matrix<Float64Array>) => gemm(a, q, { transposeA: transpose, threads }); // M·Q
  const timesT = (q: Matrix<Float64Array>) => gemm(a, q, { transposeA: !transpose, threads }); // Mᵀ·Q
  const rng = new Rng(opts.seed ?? 0);
  let q: Matrix<Float64Array> = { rows: mCols, cols: size, data: new Float64Array(mCols * size) };
  for (let i = 0; i < q.data.length; i++) q.data[i] = rng.normal();
  const normalise = (m: Matrix<Float64Array>) => (normalizer === 'LU' ? luPermutedL(m) : normalizer === 'QR' ? orthonormalColumns(m) : m);
  for (let it = 0; it < nIter; it++) {
    q = normalise(await times(q));
    q = normalise(await timesT(q));
  }
  q = orthonormalColumns(await times(q)); // rows(M) × size
  // B = Qᵀ M (size × cols(M)); its SVD is exact and cheap (one-sided Jacobi on a short, wide matrix).
  const b = await gemm(q, a, { transposeA: true, transposeB: transpose, threads });
  const small = svdJacobi(b);
  const u = await gemm(q, small.u, { threads }); // rows(M) × size
  const k = Math.min(nComponents, size);
  const uK = takeColumns(u, k);
  const vtK: Matrix<Float64Array> = { rows: k, cols: small.vt.cols, data: small.vt.data.slice(0, k * small.vt.cols) };
  const s = small.s.slice(0, k);
  if (!transpose) return { u: uK, s, vt: vtK };
  // A = (M)ᵀ = V S Uᵀ.
  const uT: Matrix<Float64Array> = { rows: vtK.cols, cols: k, data: new Float64Array(vtK.cols * k) };
  for (let r = 0; r < k; r++) for (let i = 0; i < vtK.cols; i++) uT.data[i * k + r] = vtK.data[r * vtK.cols + i];
  const vtT: Matrix<Float64Array> = { rows: k, cols: uK.rows, data: new Float64Array(k * uK.rows) };
  for (let i = 0; i < uK.rows; i++) for (let r = 0; r < k; r++) vtT.data[r * uK.rows + i] = uK.data[i * k + r];
  return { u: uT, s, vt: vtT };
}

export function takeColumns(m: Matrix<Float64Array>, k: number): Matrix<Float64Array> {
  if (k === m.cols) return m;
  const out = new Float64Array(m.rows * k);
  for (let i = 0; i < m.rows; i++) out.set(m.data.subarray(i * m.cols, i * m.cols + k), i * k);
  return { rows: m.rows, cols: k, data: out };
}

export interface TruncatedSvdOptions extends RandomizedSvdOptions {
  /** Default 2 (scikit-learn). */
  nComponents?: number;
  /** 'randomized' (default, nIter default 5 as scikit-learn's TruncatedSVD) or 'exact' (eigh of the smaller Gram matrix, in place of ARPACK). */
  algorithm?: 'randomized' | 'exact';
}

export interface TruncatedSvdResult {
  /** X·Vᵀ = U·S, n × nComponents. */
  embedding: Matrix<Float64Array>;
  /** nComponents × d right singular vectors. */
  components: Matrix<Float64Array>;
  singularValues: Float64Array;
  /** Variance of each embedding column (ddof 0, as scikit-learn). */
  explainedVariance: Float64Array;
  /** explainedVariance / total variance of X (ddof 0). */
  explainedVarianceRatio: Float64Array;
  transform(x: Matrix): Promise<Matrix<Float64Array>>;
}

/**
 * scikit-learn's TruncatedSVD: SVD of X WITHOUT centering (so it is also LSA on term counts). Signs follow
 * svd_flip(u_based_decision=False).
 */
export async function truncatedSvd(x: Matrix, opts: TruncatedSvdOptions = {}): Promise<TruncatedSvdResult> {
  const nComponents = opts.nComponents ?? 2;
  validateMatrix(x, 'truncatedSvd');
  if (!Number.isInteger(nComponents) || nComponents < 1 || nComponents >= x.cols + (opts.algorithm === 'exact' ? 1 : 0) || nComponents > x.rows) {
    throw new AtlasError(`nComponents must be an integer in [1, ${Math.min(x.rows, x.cols - 1)}] for a ${x.rows}×${x.cols} input, got ${nComponents}`, { field: 'nComponents', hint: 'scikit-learn requires n_components < n_features for TruncatedSVD' });
  }
  const a = toFloat64(x);
  let vt: Matrix<Float64Array>;
  let s: Float64Array;
  if ((opts.algorithm ?? 'randomized') === 'randomized') {
    const r = await randomizedSvd(a, nComponents, { ...opts, nIter: opts.nIter ?? 5 });
    vt = r.vt;
    s = r.s;
  } else {
    const r = await exactTopSvd(a, nComponents, opts.threads);
    vt = r.vt;
    s = r.s;
  }
  svdFlipByComponents(null, vt);
  const embedding = await gemm(a, vt, { transposeB: true, threads: opts.threads });
  const explainedVariance = columnVariances(embedding);
  const total = columnVariances(a).reduce((p, v) => p + v, 0);
  const explainedVarianceRatio = explainedVariance.map((v) => (total > 0 ? v / total : 0));
  return {
    embedding, components: vt, singularValues: s, explainedVariance, explainedVarianceRatio,
    transform: async (y: Matrix) => {
      if (y.cols !== vt.cols) throw new AtlasError(`transform input has ${y.cols} features, the model was fitted on ${vt.cols}`, { field: 'x' });
      return gemm(toFloat64(y), vt, { transposeB: true, threads: opts.threads });
    },
  };
}

/** Top-k SVD from the eigen-decomposition of the smaller of AᵀA and AAᵀ (float64). */
export async function exactTopSvd(a: Matrix<Float64Array>, k: number, threads?: number): Promise<{ s: Float64Array; vt: Matrix<Float64Array> }> {
  if (a.cols <= a.rows) {
    const c = await gemm(a, a, { transposeA: true, threads });
    const { values, vectors } = symmetricEigen(c);
    const s = values.slice(0, k).map((v) => Math.sqrt(Math.max(v, 0)));
    return { s, vt: { rows: k, cols: a.cols, data: vectors.data.slice(0, k * a.cols) } };
  }
  const g = await gemm(a, a, { transposeB: true, threads });
  const { values, vectors } = symmetricEigen(g);
  const s = values.slice(0, k).map((v) => Math.sqrt(Math.max(v, 0)));
  const uT: Matrix<Float64Array> = { rows: k, cols: a.rows, data: vectors.data.slice(0, k * a.rows) };
  const vt = await gemm(uT, a, { threads }); // k×d = Uᵀ A = S Vᵀ
  for (let r = 0; r < k; r++) {
    const inv = s[r] > 0 ? 1 / s[r] : 0;
    for (let j = 0; j < a.cols; j++) vt.data[r * a.cols + j] *= inv;
  }
  return { s, vt };
}

export function columnVariances(m: Matrix, ddof = 0): Float64Array {
  const { rows, cols, data } = m;
  const mean = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) mean[j] += data[i * cols + j];
  for (let j = 0; j < cols; j++) mean[j] /= rows;
  const v = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) v[j] += (data[i * cols + j] - mean[j]) ** 2;
  for (let j = 0; j < cols; j++) v[j] /= Math.max(rows - ddof, 1);
  return v;
}

export function validateMatrix(x: Matrix, what: string): void {
  if (x.rows < 1 || x.cols < 1) throw new AtlasError(`${what}: input is empty (${x.rows}×${x.cols})`, { field: 'x' });
  const bad = firstNonFiniteRow(x);
  if (bad >= 0) throw new AtlasError(`${what}: row ${bad} contains NaN or Infinity`, { field: 'x', hint: 'drop or repair that row before reducing' });
}

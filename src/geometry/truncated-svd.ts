import { AtlasError } from '../errors.ts';
import { gemm } from './gemm.ts';
import type { Matrix } from './matrix.ts';
import { toFloat64 } from './matrix.ts';
import { choleskyUpperInverse, firstNonFiniteRow, luPermutedL, orthonormalColumns, svdFlipByComponents, svdWide, symmetricEigen, type Svd } from './linalg.ts';
import { Rng } from './rng.ts';

export type PowerIterationNormalizer = 'auto' | 'QR' | 'LU' | 'none';

export interface RandomizedSvdOptions {
  /** Extra random directions beyond nComponents. Default 10 (scikit-learn). */
  nOversamples?: number;
  /** Power iterations; 'auto' = 7 if nComponents < 0.1·min(shape) else 4 (scikit-learn's randomized_svd). */
  nIter?: number | 'auto';
  /**
   * Re-normalisation between power iterations; 'auto' = 'none' for nIter ≤ 2, else 'LU' (scikit-learn). A
   * normaliser only replaces the block by another basis of the same column space (P·L = Y·U⁻¹, Q = Y·R⁻¹), so
   * the computed subspace, and every result, is the same whichever is used, up to rounding. 'LU' therefore uses
   * one Cholesky QR pass per block when the block is well conditioned (for the long block, formed from
   * cols(M)-sized products only), and scipy's P·L otherwise.
   */
  powerIterationNormalizer?: PowerIterationNormalizer;
  /** Seed of the Gaussian test matrix. Default 0. */
  seed?: number;
  threads?: number;
  /**
   * The same matrix in float32 (e.g. the caller's float32 input): the power iterations then run on it, as
   * scikit-learn runs them for float32 data, at twice the GEMM speed. Only the starting block of the last range
   * product comes from it; that product, the QR, the projection and the small SVD stay in float64, so the
   * result is the exact Rayleigh–Ritz answer on a subspace that differs from the all-float64 one by float32
   * rounding (far below the method's own approximation error). Ignored with the 'none' normaliser (float32
   * could overflow without re-normalisation).
   */
  sketch?: Matrix<Float32Array>;
}

/** scikit-learn's randomized_svd settings (iterations, normaliser, which side is sketched), shared by both precisions. */
export function randomizedPlan(rows: number, cols: number, nComponents: number, opts: Omit<RandomizedSvdOptions, 'sketch'>) {
  const nRandom = nComponents + (opts.nOversamples ?? 10);
  const nIterOpt = opts.nIter ?? 'auto';
  const nIter = nIterOpt === 'auto' ? (nComponents < 0.1 * Math.min(rows, cols) ? 7 : 4) : nIterOpt;
  const given = opts.powerIterationNormalizer ?? 'auto';
  const normalizer = given === 'auto' ? (nIter <= 2 ? 'none' : 'LU') : given;
  const transpose = rows < cols;
  return { nIter, normalizer, transpose, mCols: transpose ? rows : cols, size: Math.min(nRandom, Math.min(rows, cols)) };
}

/**
 * Whether forming MᵀM (rows·cols² multiply-adds, one large well-shaped product) and iterating with it is cheaper
 * than the 2·nIter sketch products with M (2·nIter·rows·cols·size multiply-adds, plus a normalisation of the long
 * block after each): for 10,000×768 → 50 (size 60, 7 iterations), 768 < 840. A fused Gram product runs at a
 * higher rate than the thin sketch products and skips their per-step round trips, so an even split favours it.
 */
export function gramPaysOff(rows: number, cols: number, nComponents: number, opts: Omit<RandomizedSvdOptions, 'sketch'> = {}): boolean {
  const { nIter, transpose, mCols, size } = randomizedPlan(rows, cols, nComponents, opts);
  return !transpose && nIter > 0 && mCols <= 2 * nIter * size;
}

/**
 * Randomized truncated SVD (Halko, Martinsson & Tropp 2011, Algorithm 4.4), step for step as scikit-learn's
 * randomized_svd: Gaussian sketch, power iterations with LU/QR normalisation, QR of the range, exact SVD of the
 * small projected matrix. Works on the transpose when the matrix is wide (transpose='auto'). Signs are NOT
 * flipped here (callers apply svd_flip). All products go through gemm, in float64 (see `sketch` for the one
 * float32 option).
 */
export async function randomizedSvd(a: Matrix<Float64Array>, nComponents: number, opts: RandomizedSvdOptions = {}): Promise<{ u: Matrix<Float64Array>; s: Float64Array; vt: Matrix<Float64Array> }> {
  const { nIter, normalizer, transpose, mCols, size } = randomizedPlan(a.rows, a.cols, nComponents, opts);
  const threads = opts.threads;
  // M = A, or Aᵀ when A is wide; products with M and Mᵀ are expressed through gemm's transpose flags.
  const times = (q: Matrix<Float64Array>) => gemm(a, q, { transposeA: transpose, threads }); // M·Q
  const timesT = (q: Matrix<Float64Array>) => gemm(a, q, { transposeA: !transpose, threads }); // Mᵀ·Q
  const rng = new Rng(opts.seed ?? 0);
  let q: Matrix<Float64Array> = { rows: mCols, cols: size, data: new Float64Array(mCols * size) };
  for (let i = 0; i < q.data.length; i++) q.data[i] = rng.normal();
  const normalise = async (m: Matrix<Float64Array>) => {
    if (normalizer === 'LU') return (await wellConditionedBasis(m, m.rows <= 4096 ? 1 : threads)) ?? luPermutedL(m);
    return normalizer === 'QR' ? orthonormalBasis(m, threads) : m;
  };
  const sketch = opts.sketch;
  if (sketch && normalizer !== 'none' && nIter > 0) {
    if (sketch.rows !== a.rows || sketch.cols !== a.cols) throw new Error('randomizedSvd: sketch shape differs from the matrix');
    let q32: Matrix<Float32Array> = { rows: q.rows, cols: q.cols, data: new Float32Array(q.data) };
    for (let it = 0; it < nIter; it++) {
      q32 = await normaliseF32(await gemm(sketch, q32, { transposeA: transpose, threads }), threads);
      q32 = await normaliseF32(await gemm(sketch, q32, { transposeA: !transpose, threads }), threads);
    }
    q = { rows: q32.rows, cols: q32.cols, data: new Float64Array(q32.data) };
  } else {
    for (let it = 0; it < nIter; it++) {
      const y = await times(q);
      if (normalizer === 'LU') {
        // Normalise the long block Y without touching it: with RᵀR = YᵀY = Qᵀ·(MᵀY), Mᵀ·(Y·R⁻¹) = (MᵀY)·R⁻¹,
        // so both the Gram matrix and the change of basis cost cols(M)-long work instead of rows(M)-long.
        const z = await timesT(y);
        // These cols(M)×size products are small: one thread (no spinning pool workers; see eigen-dc.ts).
        const g = await gemm(q, z, { transposeA: true, threads: 1 });
        symmetrise(g);
        // MᵀY is formed from the unnormalised Y, so its rounding grows with cond(Y)² rather than cond(Y): only
        // take this route while that stays ≲ 1e-8 relative; otherwise normalise Y itself first (P·L).
        const rInv = choleskyUpperInverse(g, 1e-4);
        const zn = rInv ? await gemm(z, { rows: size, cols: size, data: rInv }, { threads: 1 }) : await timesT(luPermutedL(y));
        q = await normalise(zn);
      } else {
        q = await normalise(y);
        q = await normalise(await timesT(q));
      }
    }
  }
  q = await orthonormalBasis(await times(q), threads); // rows(M) × size
  // B = Qᵀ M (size × cols(M)); its SVD is exact and cheap (QR, then Jacobi on the small triangular factor).
  const b = await gemm(q, a, { transposeA: true, transposeB: transpose, threads });
  const small = svdWide(b);
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

/**
 * randomizedSvd for a float32 matrix, computed as scikit-learn computes it for float32 data: the Gaussian
 * sketch, every power iteration, the range product and its QR, and the projection B = Qᵀ M run in float32
 * (the Gram matrices of the normalisations are formed and factored in float64); only the small SVD of B is
 * float64. Same steps and the same random matrix as randomizedSvd (the normalisers only change the basis, not
 * the subspace), so the result differs from the float64 run of the same matrix by float32 rounding.
 *
 * `gram`: MᵀM (cols(M)×cols(M), float64; M = A, or Aᵀ when A is wide), when the caller has it. Each power
 * iteration Q ← norm(Mᵀ·norm(M·Q)) then is one product Q ← norm(MᵀM·Q) with the small matrix, in float64 —
 * the same subspace (normalisation only changes the basis) at cols(M)·size work instead of 2·rows(M)·cols(M)·size
 * (see `gramPaysOff`). The range, its QR and the projection B = QᵀM are still formed from M itself, so the
 * singular values come from the data, not from the Gram matrix whose float32 rounding squares the conditioning;
 * only the subspace moves, by the Gram matrix's rounding: float32 rounding on the directions the iterations
 * resolve, and on those they do not (a noise bulk) a small part of the method's own error there (measured on
 * low-rank + noise data: σ moves ~1e-4 relative where the randomized σ is 2–4 % below the exact one).
 */
export async function randomizedSvdF32(a: Matrix<Float32Array>, nComponents: number, opts: Omit<RandomizedSvdOptions, 'sketch'> & { gram?: Matrix<Float64Array>; withoutU?: boolean } = {}): Promise<{ u?: Matrix<Float64Array>; s: Float64Array; vt: Matrix<Float64Array> }> {
  const { nIter, normalizer, transpose, mCols, size } = randomizedPlan(a.rows, a.cols, nComponents, opts);
  const threads = opts.threads;
  const rng = new Rng(opts.seed ?? 0);
  let q: Matrix<Float32Array> = { rows: mCols, cols: size, data: new Float32Array(mCols * size) };
  for (let i = 0; i < q.data.length; i++) q.data[i] = rng.normal();
  const gram = opts.gram;
  if (gram) {
    if (gram.rows !== mCols || gram.cols !== mCols) throw new Error(`randomizedSvdF32: the Gram matrix must be ${mCols}×${mCols}`);
    let q64: Matrix<Float64Array> = { rows: q.rows, cols: q.cols, data: new Float64Array(q.data) };
    // Every normaliser (even 'none') gives the same subspace: the cheapest basis, one Cholesky QR pass (scipy's
    // P·L when the block is too ill-conditioned for it), also keeps the block well inside float64's range.
    for (let it = 0; it < nIter; it++) {
      const y = await gemm(gram, q64, { threads });
      // MᵀM·Q squares cond(M·Q) (~2·10⁵ on 10,000×768 → 60): the Cholesky pass still gives a basis there
      // (cond 1 + ε₆₄·cond², only the span matters), so it is taken up to cond 10⁷ before scipy's P·L.
      // cols(M)×size blocks: their products are small, one thread (no hand-off to the pool, see randomizedSvd).
      q64 = (await wellConditionedBasis(y, 1, 1e-7)) ?? luPermutedL(y);
    }
    // The range M·Q has the Gram matrix Qᵀ(MᵀM)Q = RᵀR: with Q·R⁻¹ in its place, M·(Q·R⁻¹) comes out
    // orthonormal up to float32 rounding, and its Cholesky QR below cannot meet a block too ill-conditioned
    // for it (cond(M·Q) ≈ σ₁/σ_size otherwise, and Gram–Schmidt in JavaScript as the fallback).
    const mq = await gemm(gram, q64, { threads });
    const g = await gemm(q64, mq, { transposeA: true, threads: 1 });
    symmetrise(g);
    const rInv = choleskyUpperInverse(g, 1e-7);
    if (rInv) q64 = await gemm(q64, { rows: size, cols: size, data: rInv }, { threads: 1 });
    q = { rows: q64.rows, cols: q64.cols, data: new Float32Array(q64.data) };
  } else {
    const normalise = (m: Matrix<Float32Array>) => (normalizer === 'LU' ? normaliseF32(m, threads) : normalizer === 'QR' ? orthonormalBasisF32(m, threads) : Promise.resolve(m));
    for (let it = 0; it < nIter; it++) {
      q = await normalise(await gemm(a, q, { transposeA: transpose, threads }));
      q = await normalise(await gemm(a, q, { transposeA: !transpose, threads }));
    }
  }
  q = await orthonormalBasisF32(await gemm(a, q, { transposeA: transpose, threads }), threads); // rows(M) × size
  const b32 = await gemm(q, a, { transposeA: true, transposeB: transpose, threads });
  const k = Math.min(nComponents, size);
  const b64: Matrix<Float64Array> = { rows: b32.rows, cols: b32.cols, data: new Float64Array(b32.data) };
  const small = (await svdFromRowGram(b64, k)) ?? svdWide(b64);
  const s = small.s.slice(0, k);
  const vtK: Matrix<Float64Array> = { rows: k, cols: small.vt.cols, data: small.vt.data.slice(0, k * small.vt.cols) };
  // `withoutU`: the caller (PCA) projects the data itself; U = Q·Û is then an n-long product for nothing.
  if (!transpose && opts.withoutU) return { s, vt: vtK };
  const u32 = await gemm(q, { rows: small.u.rows, cols: small.u.cols, data: new Float32Array(small.u.data) }, { threads });
  const uK = takeColumns({ rows: u32.rows, cols: u32.cols, data: new Float64Array(u32.data) }, k);
  if (!transpose) return { u: uK, s, vt: vtK };
  const uT: Matrix<Float64Array> = { rows: vtK.cols, cols: k, data: new Float64Array(vtK.cols * k) };
  for (let r = 0; r < k; r++) for (let i = 0; i < vtK.cols; i++) uT.data[i * k + r] = vtK.data[r * vtK.cols + i];
  const vtT: Matrix<Float64Array> = { rows: k, cols: uK.rows, data: new Float64Array(k * uK.rows) };
  for (let i = 0; i < uK.rows; i++) for (let r = 0; r < k; r++) vtT.data[r * uK.rows + i] = uK.data[i * k + r];
  return { u: uT, s, vt: vtT };
}

/**
 * Thin SVD of a short, wide float64 matrix B (size×m) whose entries carry float32 rounding, from the eigenpairs of
 * B·Bᵀ (size×size, formed and solved in float64): U, S² = eig(B·Bᵀ), Vᵀ = S⁻¹·Uᵀ·B. Forming B·Bᵀ squares the
 * conditioning, but in float64: σᵢ moves by ~ε₆₄·(σ₁/σᵢ)² relative, below the ε₃₂·σ₁/σᵢ that B's float32 entries
 * already carry for every σᵢ ≥ 10⁻⁴·σ₁ — the only case taken (null otherwise, for `svdWide`'s Jacobi), checked
 * on the first `k` values, the ones the caller keeps. An l×l eigenproblem instead of a QR of the m-long rows;
 * its products are small (one thread).
 */
async function svdFromRowGram(b: Matrix<Float64Array>, k: number): Promise<Svd | null> {
  const l = b.rows;
  const m = b.cols;
  if (l > m) return null;
  const g = await gemm(b, b, { transposeB: true, threads: 1 });
  symmetrise(g);
  const eig = symmetricEigen(g);
  const s = eig.values.map((v) => Math.sqrt(Math.max(v, 0)));
  if (!(s[k - 1]! >= 1e-4 * s[0]!)) return null;
  // Vᵀ rows for every positive σ (the caller keeps k); U columns are the eigenvectors.
  const vt = await gemm(eig.vectors, b, { threads: 1 });
  for (let r = 0; r < l; r++) {
    const inv = s[r]! > 0 ? 1 / s[r]! : 0;
    for (let j = 0; j < m; j++) vt.data[r * m + j] *= inv;
  }
  const u = new Float64Array(l * l);
  for (let r = 0; r < l; r++) for (let i = 0; i < l; i++) u[i * l + r] = eig.vectors.data[r * l + i]!;
  return { u: { rows: l, cols: l, data: u }, s, vt };
}

/**
 * Float32 CholeskyQR2 (see orthonormalBasis): each pass forms the Gram matrix in float64 and multiplies by R⁻¹
 * in float32; falls back to float64 Gram–Schmidt when the block is too ill-conditioned.
 */
async function orthonormalBasisF32(y: Matrix<Float32Array>, threads?: number): Promise<Matrix<Float32Array>> {
  const fallback = () => {
    const q = orthonormalColumns({ rows: y.rows, cols: y.cols, data: new Float64Array(y.data) });
    return { rows: q.rows, cols: q.cols, data: new Float32Array(q.data) };
  };
  if (y.rows < y.cols) return fallback();
  let q = y;
  for (let pass = 0; pass < 2; pass++) {
    const q64: Matrix<Float64Array> = { rows: q.rows, cols: q.cols, data: new Float64Array(q.data) };
    const rInv = choleskyUpperInverse(await gemm(q64, q64, { transposeA: true, threads }), pass === 0 ? 1e-3 : 0.5);
    if (!rInv) return fallback();
    q = await gemm(q, { rows: y.cols, cols: y.cols, data: new Float32Array(rInv) }, { threads });
  }
  return q;
}

/** Averages a computed Gram matrix with its transpose (the product of different factors is not exactly symmetric). */
function symmetrise(g: Matrix<Float64Array>): void {
  const k = g.rows;
  for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) {
    const v = 0.5 * (g.data[i * k + j] + g.data[j * k + i]);
    g.data[i * k + j] = v;
    g.data[j * k + i] = v;
  }
}

/**
 * Y·R⁻¹ with RᵀR = YᵀY (one CholeskyQR pass): a basis of span(Y) with condition number ≈ 1 + ε·cond(Y)², or
 * null when Y is too ill-conditioned (or rank-deficient) for that to hold.
 */
async function wellConditionedBasis(y: Matrix<Float64Array>, threads?: number, minRatio = 1e-5): Promise<Matrix<Float64Array> | null> {
  if (y.rows < y.cols) return null;
  const rInv = choleskyUpperInverse(await gemm(y, y, { transposeA: true, threads }), minRatio);
  return rInv ? gemm(y, { rows: y.cols, cols: y.cols, data: rInv }, { threads }) : null;
}

/**
 * Float32 re-normalisation of a power-iteration block: one CholeskyQR pass (Gram matrix formed and factored in
 * float64, Y·R⁻¹ in float32), or scipy's P·L when the block is too ill-conditioned for Cholesky. Either is a
 * basis of span(Y).
 */
async function normaliseF32(y: Matrix<Float32Array>, threads?: number): Promise<Matrix<Float32Array>> {
  if (y.rows >= y.cols) {
    // Gram matrix in float32 while cond(Y) ≲ 1e3. Any invertible R gives a basis of span(Y), and the rounding of
    // the float32 product Y·R⁻¹ (≈ ε₃₂·cond(Y)) is the same whether R came from a float32 or a float64 Gram
    // matrix; the float32 one only leaves Y·R⁻¹ less exactly orthonormal, which the next step absorbs. Beyond
    // that, form it in float64 (and factor up to cond 1e5), then scipy's P·L.
    const g32 = await gemm(y, y, { transposeA: true, threads });
    const rInv32 = choleskyUpperInverse({ rows: y.cols, cols: y.cols, data: new Float64Array(g32.data) }, 1e-3);
    if (rInv32) return gemm(y, { rows: y.cols, cols: y.cols, data: new Float32Array(rInv32) }, { threads });
    const y64: Matrix<Float64Array> = { rows: y.rows, cols: y.cols, data: new Float64Array(y.data) };
    const rInv = choleskyUpperInverse(await gemm(y64, y64, { transposeA: true, threads }), 1e-5);
    if (rInv) return gemm(y, { rows: y.cols, cols: y.cols, data: new Float32Array(rInv) }, { threads });
  }
  const pl = luPermutedL({ rows: y.rows, cols: y.cols, data: new Float64Array(y.data) });
  return { rows: pl.rows, cols: pl.cols, data: new Float32Array(pl.data) };
}

/**
 * Q of a thin QR of a tall m×k matrix by CholeskyQR2 (Yamamoto et al. 2015): Q₁ = Y·R₁⁻¹ with RᵀR = YᵀY, then
 * once more on Q₁ to restore orthogonality to working precision. The m-long work is two k-wide matrix
 * products per pass (gemm) instead of Gram–Schmidt's O(m·k²) JavaScript loops. Same Q as a Householder or
 * Gram–Schmidt QR (positive diagonal R) up to rounding. Squaring the condition number is safe only while
 * cond(Y) ≲ 1e5 here; beyond that, or for rank-deficient Y, it falls back to two-pass modified Gram–Schmidt.
 */
export async function orthonormalBasis(y: Matrix<Float64Array>, threads?: number): Promise<Matrix<Float64Array>> {
  if (y.rows < y.cols) return orthonormalColumns(y);
  let q = y;
  for (let pass = 0; pass < 2; pass++) {
    const g = await gemm(q, q, { transposeA: true, threads });
    const rInv = choleskyUpperInverse(g, pass === 0 ? 1e-5 : 0.5);
    if (!rInv) return orthonormalColumns(y);
    q = await gemm(q, { rows: y.cols, cols: y.cols, data: rInv }, { threads });
  }
  return q;
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

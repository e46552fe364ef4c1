import { AtlasError } from '../errors.ts';
import { defaultThreads } from '../util/workers.ts';
import { gemm } from './gemm.ts';
import type { Matrix } from './matrix.ts';
import { toFloat64 } from './matrix.ts';
import { svdFlipByComponents } from './linalg.ts';
import { symmetricEigenDC } from './eigen-dc.ts';
import { gramPaysOff, randomizedSvd, randomizedSvdF32, validateMatrix, type PowerIterationNormalizer } from './truncated-svd.ts';
import { centre32, type CentredProduct } from './centre32.ts';

export type PcaSolver = 'auto' | 'full' | 'covariance_eigh' | 'randomized';

export interface PcaOptions {
  /**
   * Integer k ≥ 1: keep k components. A fraction in (0, 1): keep the fewest components whose cumulative
   * explained variance ratio exceeds it (exact solvers only). Default: min(n_samples, n_features).
   */
  nComponents?: number;
  /**
   * scikit-learn ≥ 1.5's rule for 'auto': covariance_eigh when n_features ≤ 1000 and n_samples ≥ 10·n_features;
   * else 'full' when max(shape) ≤ 500; else 'randomized' when 1 ≤ k < 0.8·min(shape); else 'full'.
   * 'full' here is the eigen-decomposition of the smaller of the covariance and Gram matrices in float64 (same
   * subspace and values as LAPACK's SVD of the centred data, up to rounding); 'covariance_eigh' always uses
   * the d×d covariance.
   */
  svdSolver?: PcaSolver;
  /** Randomized solver: default 'auto' (7 iterations when k < 0.1·min(shape), else 4). */
  iteratedPower?: number | 'auto';
  /** Randomized solver: default 10. */
  nOversamples?: number;
  /** Randomized solver: default 'auto' (LU). */
  powerIterationNormalizer?: PowerIterationNormalizer;
  /** Divide the embedding by √explained_variance so every component has unit variance. Default false. */
  whiten?: boolean;
  /**
   * Float32 input: compute as scikit-learn does for float32 data — the centred copy, the randomized solver's
   * power iterations, range, QR and projection, the covariance / Gram product of the exact solvers and the
   * final projection in float32 (about twice the GEMM speed, half the memory), the mean in float32 too; the
   * total variance is summed and the eigen-decomposition / SVD of the small matrices done in float64. Values
   * move by float32 rounding: randomized, singular values ~1e-7 relative on the directions it resolves; the
   * exact solvers' float32 covariance / Gram matrix squares the conditioning, so σᵢ moves by up to
   * ~ε₃₂·(σ₁/σᵢ)² (1e-4 for σ₁/σ₅₀ ≈ 460 on 10,000×768; scikit-learn's float32 SVD: ~ε₃₂·σ₁/σᵢ). The randomized
   * solver iterates with that float32 covariance when it is cheaper (randomizedSvdF32's `gram`; its range and
   * projection still come from the data), which moves σ on a noise bulk it does not resolve by ~1e-4 relative,
   * a small part of the method's own error there. Default true; false: every step in float64.
   */
  float32?: boolean;
  /** Seed for the randomized solver. Default 0. */
  seed?: number;
  threads?: number;
}

export interface PcaModel {
  /** k × d principal axes (rows), unit norm, signed by svd_flip(u_based_decision=False). */
  components: Matrix<Float64Array>;
  /** Variance along each component (ddof = 1). */
  explainedVariance: Float64Array;
  explainedVarianceRatio: Float64Array;
  singularValues: Float64Array;
  /** Per-feature mean that was subtracted. */
  mean: Float64Array;
  /** Probabilistic-PCA noise variance: mean of the discarded eigenvalues (0 when none are discarded). */
  noiseVariance: number;
  nSamples: number;
  nFeatures: number;
  /** The solver actually used (after resolving 'auto'). */
  solver: Exclude<PcaSolver, 'auto'>;
  whiten: boolean;
}

export interface PcaResult {
  /** (X − mean)·componentsᵀ (whitened on request), n × k. */
  embedding: Matrix<Float64Array>;
  model: PcaModel;
}

/** scikit-learn's PCA.fit_transform: in float64 for float64 input; float32 input is computed in float32 as scikit-learn's is (see `float32`), results returned as float64. */
export async function pca(x: Matrix, opts: PcaOptions = {}): Promise<PcaResult> {
  if (x.rows < 1 || x.cols < 1) validateMatrix(x, 'pca');
  const n = x.rows;
  const d = x.cols;
  if (n < 2) throw new AtlasError(`pca needs at least 2 samples, got ${n}`, { field: 'x' });
  const minDim = Math.min(n, d);
  const requested = opts.nComponents ?? minDim;
  const fraction = requested > 0 && requested < 1;
  if (!fraction && (!Number.isInteger(requested) || requested < 1 || requested > minDim)) {
    throw new AtlasError(`nComponents must be an integer in [1, ${minDim}] or a fraction in (0, 1), got ${requested}`, { field: 'nComponents' });
  }
  let solver = opts.svdSolver ?? 'auto';
  if (solver === 'auto') {
    if (d <= 1000 && n >= 10 * d) solver = 'covariance_eigh';
    else if (Math.max(n, d) <= 500) solver = 'full';
    else if (!fraction && requested < 0.8 * minDim) solver = 'randomized';
    else solver = 'full';
  }
  if (solver === 'randomized' && fraction) throw new AtlasError('a fractional nComponents needs an exact solver', { field: 'svdSolver', hint: "use 'full' or 'covariance_eigh'" });

  // float32 input: computed in float32, as scikit-learn computes float32 data (see PcaOptions.float32).
  const f32 = x.data instanceof Float32Array && (opts.float32 ?? true);
  const svdOpts = { nIter: opts.iteratedPower ?? 'auto', nOversamples: opts.nOversamples, powerIterationNormalizer: opts.powerIterationNormalizer, seed: opts.seed, threads: opts.threads } as const;
  // Eigenvalues of XcᵀXc and XcXcᵀ are the squared singular values of Xc; the exact solvers take the smaller matrix.
  const useCov = solver === 'covariance_eigh' || d <= n;
  // float32: the cross-product the solver needs is formed in the same onnxruntime run as the centring.
  const wanted: CentredProduct = solver !== 'randomized' ? (useCov ? 'covariance' : 'gram') : gramPaysOff(n, d, requested, svdOpts) ? 'covariance' : 'none';
  const { mean, xc, xc32, sumOfSquares, product: g32 } = f32 ? { xc: undefined, ...(await centre32(x.data as Float32Array, n, d, wanted, opts.threads ?? defaultThreads())) } : centre64(x.data, n, d);
  // A NaN or ±Infinity anywhere makes the sum of squares non-finite: only then scan for the row to name.
  if (!Number.isFinite(sumOfSquares)) validateMatrix(x, 'pca');
  const totalVariance = sumOfSquares / (n - 1);
  /** op(Xc)·op(B) in the working precision, returned in float64. */
  const product = async (left: Matrix<Float64Array> | 'xc', right: Matrix<Float64Array> | 'xc', o: { transposeA?: boolean; transposeB?: boolean }): Promise<Matrix<Float64Array>> => {
    if (!f32) return gemm(left === 'xc' ? xc! : left, right === 'xc' ? xc! : right, { ...o, threads: opts.threads });
    const to32 = (m: Matrix<Float64Array> | 'xc'): Matrix<Float32Array> => (m === 'xc' ? xc32! : { rows: m.rows, cols: m.cols, data: new Float32Array(m.data) });
    const r = await gemm(to32(left), to32(right), { ...o, threads: opts.threads });
    return { rows: r.rows, cols: r.cols, data: new Float64Array(r.data) };
  };

  let k: number;
  let components: Matrix<Float64Array>;
  let explainedVariance: Float64Array;
  let noiseVariance: number;
  if (solver === 'randomized') {
    k = requested;
    const r = f32 ? await randomizedSvdF32(xc32!, k, { ...svdOpts, gram: g32, withoutU: true }) : await randomizedSvd(xc!, k, svdOpts);
    components = r.vt;
    explainedVariance = r.s.map((s) => (s * s) / (n - 1));
    const kept = explainedVariance.reduce((p, v) => p + v, 0);
    noiseVariance = k < minDim ? Math.max(totalVariance - kept, 0) / (minDim - k) : 0;
  } else {
    const g = g32 ?? (useCov ? await product('xc', 'xc', { transposeA: true }) : await product('xc', 'xc', { transposeB: true }));
    // Divide and conquer with GEMM products; only the eigenvectors that can be kept are back-transformed. A few
    // components (an integer k ≤ minDim/8) need only the top k eigenpairs of the tridiagonal (bisection and
    // inverse iteration, O(n·k²)); the discarded eigenvalues then enter the noise variance through their sum,
    // the trace minus the kept ones (as scikit-learn's randomized solver computes it).
    const topOnly = !fraction && requested * 8 <= minDim;
    const eig = await symmetricEigenDC(g, { vectors: fraction ? minDim : requested, threads: opts.threads, topOnly });
    const all = eig.values.slice(0, minDim).map((v) => Math.max(v, 0) / (n - 1));
    if (fraction) {
      const total = all.reduce((p, v) => p + v, 0);
      let cum = 0;
      k = all.length;
      for (let i = 0; i < all.length; i++) {
        cum += all[i] / total;
        if (cum > requested) {
          k = i + 1;
          break;
        }
      }
    } else k = requested;
    explainedVariance = all.slice(0, k);
    let discarded = all.slice(k).reduce((p, v) => p + v, 0);
    if (topOnly) {
      let trace = 0;
      for (let i = 0; i < g.rows; i++) trace += g.data[i * g.rows + i];
      discarded = Math.max(trace / (n - 1) - explainedVariance.reduce((p, v) => p + v, 0), 0);
    }
    noiseVariance = k < minDim ? discarded / (minDim - k) : 0;
    if (useCov) {
      components = { rows: k, cols: d, data: eig.vectors.data.slice(0, k * d) };
    } else {
      // Vᵀ = S⁻¹ Uᵀ Xc from the Gram eigenvectors U.
      const uT: Matrix<Float64Array> = { rows: k, cols: n, data: eig.vectors.data.slice(0, k * n) };
      components = await product(uT, 'xc', {});
      for (let r = 0; r < k; r++) {
        let norm = 0;
        for (let j = 0; j < d; j++) norm += components.data[r * d + j] ** 2;
        const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
        for (let j = 0; j < d; j++) components.data[r * d + j] *= inv;
      }
    }
  }
  svdFlipByComponents(null, components);
  const singularValues = explainedVariance.map((v) => Math.sqrt(v * (n - 1)));
  const explainedVarianceRatio = explainedVariance.map((v) => (totalVariance > 0 ? v / totalVariance : 0));
  const model: PcaModel = {
    components, explainedVariance, explainedVarianceRatio, singularValues, mean, noiseVariance,
    nSamples: n, nFeatures: d, solver, whiten: opts.whiten ?? false,
  };
  const embedding = await product('xc', components, { transposeB: true });
  if (model.whiten) whitenInPlace(embedding, explainedVariance);
  return { embedding, model };
}

/** Projects new points with a fitted model: (Y − mean)·componentsᵀ (whitened when the model is). */
export async function pcaTransform(model: PcaModel, y: Matrix, threads?: number): Promise<Matrix<Float64Array>> {
  if (y.cols !== model.nFeatures) throw new AtlasError(`transform input has ${y.cols} features, the PCA was fitted on ${model.nFeatures}`, { field: 'x' });
  validateMatrix(y, 'pcaTransform');
  const yc = toFloat64(y) === y ? { rows: y.rows, cols: y.cols, data: Float64Array.from(y.data) } : toFloat64(y);
  for (let i = 0; i < yc.rows; i++) for (let j = 0; j < yc.cols; j++) yc.data[i * yc.cols + j] -= model.mean[j];
  const out = await gemm(yc, model.components, { transposeB: true, threads });
  if (model.whiten) whitenInPlace(out, model.explainedVariance);
  return out;
}

/** Column means, the float64 centred copy and its sum of squares. */
function centre64(data: Float32Array | Float64Array, n: number, d: number): { mean: Float64Array; xc: Matrix<Float64Array>; xc32?: undefined; sumOfSquares: number; product?: undefined } {
  const mean = columnMeans(data, n, d);
  const out = new Float64Array(n * d);
  let sumOfSquares = 0;
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) {
      const v = data[o + j] - mean[j];
      out[o + j] = v;
      sumOfSquares += v * v;
    }
  }
  return { mean, xc: { rows: n, cols: d, data: out }, sumOfSquares };
}

function columnMeans(data: Float32Array | Float64Array, n: number, d: number): Float64Array {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) mean[j] += data[o + j];
  }
  for (let j = 0; j < d; j++) mean[j] /= n;
  return mean;
}

function whitenInPlace(m: Matrix<Float64Array>, variance: Float64Array): void {
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) m.data[i * m.cols + j] /= Math.sqrt(variance[j]) || 1;
}

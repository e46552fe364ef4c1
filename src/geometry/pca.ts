import { AtlasError } from '../errors.ts';
import { gemm } from './gemm.ts';
import type { Matrix } from './matrix.ts';
import { toFloat64 } from './matrix.ts';
import { svdFlipByComponents } from './linalg.ts';
import { symmetricEigenDC } from './eigen-dc.ts';
import { randomizedSvd, validateMatrix, type PowerIterationNormalizer } from './truncated-svd.ts';

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
   * Randomized solver on float32 input: run the power iterations in float32 (as scikit-learn does for float32
   * data, at about twice the speed); the final range product, QR, projection and small SVD stay in float64.
   * Moves singular values by ~1e-7 relative, far less than the randomized approximation error. Default true
   * (false: every step in float64).
   */
  float32PowerIterations?: boolean;
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

/** scikit-learn's PCA.fit_transform, in float64 whatever the input dtype — except the randomized solver's power iterations on float32 input, which run in float32 as scikit-learn's do (see float32PowerIterations). */
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

  // float32 input: the randomized solver's power iterations run in float32, as scikit-learn's do on float32 data.
  const f32Sketch = solver === 'randomized' && x.data instanceof Float32Array && (opts.float32PowerIterations ?? true);
  const { mean, xc, sumOfSquares, xc32 } = x.data instanceof Float32Array ? centre(x.data, n, d, f32Sketch) : centre(x.data as Float64Array, n, d, false);
  // A NaN or ±Infinity anywhere makes the sum of squares non-finite: only then scan for the row to name.
  if (!Number.isFinite(sumOfSquares)) validateMatrix(x, 'pca');
  const totalVariance = sumOfSquares / (n - 1);

  let k: number;
  let components: Matrix<Float64Array>;
  let explainedVariance: Float64Array;
  let noiseVariance: number;
  if (solver === 'randomized') {
    k = requested;
    const sketch: Matrix<Float32Array> | undefined = xc32 ? { rows: n, cols: d, data: xc32 } : undefined;
    const r = await randomizedSvd(xc, k, { nIter: opts.iteratedPower ?? 'auto', nOversamples: opts.nOversamples, powerIterationNormalizer: opts.powerIterationNormalizer, seed: opts.seed, threads: opts.threads, sketch });
    components = r.vt;
    explainedVariance = r.s.map((s) => (s * s) / (n - 1));
    const kept = explainedVariance.reduce((p, v) => p + v, 0);
    noiseVariance = k < minDim ? Math.max(totalVariance - kept, 0) / (minDim - k) : 0;
  } else {
    // Eigenvalues of XcᵀXc and XcXcᵀ are the squared singular values of Xc; take the smaller matrix.
    const useCov = solver === 'covariance_eigh' || d <= n;
    const g = useCov ? await gemm(xc, xc, { transposeA: true, threads: opts.threads }) : await gemm(xc, xc, { transposeB: true, threads: opts.threads });
    // Divide and conquer with GEMM products; only the eigenvectors that can be kept are back-transformed.
    const eig = await symmetricEigenDC(g, { vectors: fraction ? minDim : requested, threads: opts.threads });
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
    noiseVariance = k < minDim ? all.slice(k).reduce((p, v) => p + v, 0) / (minDim - k) : 0;
    if (useCov) {
      components = { rows: k, cols: d, data: eig.vectors.data.slice(0, k * d) };
    } else {
      // Vᵀ = S⁻¹ Uᵀ Xc from the Gram eigenvectors U.
      const uT: Matrix<Float64Array> = { rows: k, cols: n, data: eig.vectors.data.slice(0, k * n) };
      components = await gemm(uT, xc, { threads: opts.threads });
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
  const embedding = await gemm(xc, components, { transposeB: true, threads: opts.threads });
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

/**
 * Column means, the centred copy in float64 and its sum of squares (one tight loop per pass, per input type);
 * with `also32` the float32 rounding of the same centred values in the same pass.
 */
function centre(data: Float32Array | Float64Array, n: number, d: number, also32: boolean): { mean: Float64Array; xc: Matrix<Float64Array>; sumOfSquares: number; xc32?: Float32Array } {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) mean[j] += data[o + j];
  }
  for (let j = 0; j < d; j++) mean[j] /= n;
  const out = new Float64Array(n * d);
  const out32 = also32 ? new Float32Array(n * d) : null;
  let sumOfSquares = 0;
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) {
      const v = data[o + j] - mean[j];
      out[o + j] = v;
      sumOfSquares += v * v;
    }
    if (out32) for (let j = 0; j < d; j++) out32[o + j] = out[o + j];
  }
  return { mean, xc: { rows: n, cols: d, data: out }, sumOfSquares, xc32: out32 ?? undefined };
}

function whitenInPlace(m: Matrix<Float64Array>, variance: Float64Array): void {
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) m.data[i * m.cols + j] /= Math.sqrt(variance[j]) || 1;
}

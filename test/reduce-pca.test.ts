import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pca, pcaTransform } from '../src/geometry/pca.ts';
import { truncatedSvd } from '../src/geometry/truncated-svd.ts';
import { isAtlasError } from '../src/errors.ts';
import { jacobiEigenReference, randomMatrix, testNormals } from './reduce-reference.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

function covarianceReference(x: Matrix): { values: number[]; vectors: number[][]; mean: number[] } {
  const { rows: n, cols: d } = x;
  const mean = Array.from({ length: d }, (_, j) => { let s = 0; for (let i = 0; i < n; i++) s += x.data[i * d + j]; return s / n; });
  const c = new Float64Array(d * d);
  for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += (x.data[i * d + a] - mean[a]) * (x.data[i * d + b] - mean[b]);
    c[a * d + b] = s / (n - 1);
  }
  return { ...jacobiEigenReference(c, d), mean };
}

function assertSameAxes(got: Matrix<Float64Array>, ref: number[][], k: number, tol: number): void {
  const d = got.cols;
  for (let r = 0; r < k; r++) {
    let dot = 0;
    for (let j = 0; j < d; j++) dot += got.data[r * d + j] * ref[r][j];
    assert.ok(Math.abs(Math.abs(dot) - 1) < tol, `component ${r}: |cos| = ${Math.abs(dot)}`);
    // svd_flip: the largest-magnitude entry of every component is positive.
    let best = 0;
    for (let j = 0; j < d; j++) if (Math.abs(got.data[r * d + j]) > Math.abs(best)) best = got.data[r * d + j];
    assert.ok(best > 0);
  }
}

// Anisotropic data: distinct, well-separated variances so the axes are well defined.
const scales = (j: number) => 1 + 0.7 * j;

test('PCA (every exact solver) equals the float64 covariance eigen-decomposition (Jacobi) up to sign', async () => {
  for (const [n, d, solver] of [[200, 8, 'covariance_eigh'], [12, 30, 'full'], [200, 8, 'full'], [60, 6, 'auto']] as const) {
    const x = randomMatrix(n, d, n + d, scales);
    const ref = covarianceReference(x);
    const k = Math.min(n, d) - 1;
    const { embedding, model } = await pca(x, { nComponents: k, svdSolver: solver });
    for (let r = 0; r < k; r++) assert.ok(Math.abs(model.explainedVariance[r] - ref.values[r]) < 1e-9 * ref.values[0], `var ${r}`);
    const total = ref.values.reduce((a, b) => a + Math.max(b, 0), 0);
    for (let r = 0; r < k; r++) assert.ok(Math.abs(model.explainedVarianceRatio[r] - ref.values[r] / total) < 1e-10);
    for (let j = 0; j < d; j++) assert.ok(Math.abs(model.mean[j] - ref.mean[j]) < 1e-12);
    assertSameAxes(model.components, ref.vectors, k, 1e-8);
    // embedding = (X − mean)·Vᵀ, column variance = explained variance.
    for (let r = 0; r < k; r++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += embedding.data[i * k + r] ** 2;
      assert.ok(Math.abs(s / (n - 1) - model.explainedVariance[r]) < 1e-9 * ref.values[0]);
    }
    // transform of the training points reproduces the embedding.
    const again = await pcaTransform(model, x);
    for (let i = 0; i < embedding.data.length; i++) assert.ok(Math.abs(again.data[i] - embedding.data[i]) < 1e-9);
    if (n > d) {
      const discarded = ref.values.slice(k);
      assert.ok(Math.abs(model.noiseVariance - discarded.reduce((a, b) => a + b, 0) / discarded.length) < 1e-9);
    }
  }
});

test('PCA with float32 input and fractional nComponents', async () => {
  const x64 = randomMatrix(100, 5, 77, scales);
  const x32: Matrix<Float32Array> = { rows: 100, cols: 5, data: Float32Array.from(x64.data) };
  const { model } = await pca(x32, { nComponents: 0.8 });
  let cum = 0, k = 0;
  for (const r of model.explainedVarianceRatio) { cum += r; k++; }
  assert.ok(cum > 0.8);
  assert.ok(cum - model.explainedVarianceRatio[k - 1] <= 0.8);
});

test('randomized PCA is close to exact PCA on low-rank + noise data; fixed seed → identical', async () => {
  const n = 600, d = 120, rank = 5;
  const g = testNormals(5);
  const basis = randomMatrix(rank, d, 6);
  const x: Matrix<Float64Array> = { rows: n, cols: d, data: new Float64Array(n * d) };
  for (let i = 0; i < n; i++) {
    const coef = Array.from({ length: rank }, (_, r) => g() * (10 - r * 1.5));
    for (let j = 0; j < d; j++) {
      let v = 0.05 * g();
      for (let r = 0; r < rank; r++) v += coef[r] * basis.data[r * d + j];
      x.data[i * d + j] = v;
    }
  }
  const exact = await pca(x, { nComponents: rank, svdSolver: 'full' });
  const rand = await pca(x, { nComponents: rank, svdSolver: 'randomized', seed: 3 });
  assert.equal(rand.model.solver, 'randomized');
  for (let r = 0; r < rank; r++) {
    assert.ok(Math.abs(rand.model.explainedVariance[r] / exact.model.explainedVariance[r] - 1) < 1e-6);
    let dot = 0;
    for (let j = 0; j < d; j++) dot += rand.model.components.data[r * d + j] * exact.model.components.data[r * d + j];
    assert.ok(dot > 1 - 1e-6, `component ${r} cos ${dot}`); // same sign too (svd_flip)
  }
  const rand2 = await pca(x, { nComponents: rank, svdSolver: 'randomized', seed: 3 });
  assert.deepEqual(rand2.embedding.data, rand.embedding.data);
  // 'auto' picks randomized for a large, wide problem with few components.
  const auto = await pca(randomMatrix(520, 600, 1), { nComponents: 3 });
  assert.equal(auto.model.solver, 'randomized');
});

test('TruncatedSVD (no centering) matches the eigen-decomposition of XᵀX; randomized ≈ exact', async () => {
  const x = randomMatrix(80, 10, 21, scales);
  for (let i = 0; i < x.data.length; i++) x.data[i] += 3; // a mean offset that centering would remove
  const xtx = new Float64Array(100);
  for (let a = 0; a < 10; a++) for (let b = 0; b < 10; b++) { let s = 0; for (let i = 0; i < 80; i++) s += x.data[i * 10 + a] * x.data[i * 10 + b]; xtx[a * 10 + b] = s; }
  const ref = jacobiEigenReference(xtx, 10);
  for (const algorithm of ['exact', 'randomized'] as const) {
    const r = await truncatedSvd(x, { nComponents: 3, algorithm, nIter: 10 });
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(r.singularValues[c] - Math.sqrt(ref.values[c])) < 1e-6 * Math.sqrt(ref.values[0]), `${algorithm} s${c}`);
    assertSameAxes(r.components, ref.vectors, 3, 1e-6);
    assert.ok(r.explainedVarianceRatio.every((v) => v > 0 && v < 1));
  }
});

test('PCA bad input: NaN rows, zero variance, bad nComponents', async () => {
  const x = randomMatrix(10, 3, 1);
  x.data[4 * 3 + 1] = NaN;
  await assert.rejects(pca(x), (e) => isAtlasError(e) && /row 4/.test(e.message));
  await assert.rejects(pca(randomMatrix(10, 3, 1), { nComponents: 4 }), isAtlasError);
  await assert.rejects(pca(randomMatrix(1, 3, 1)), isAtlasError);
  // Zero-variance data: documented result is zero variance, ratio 0, finite embedding (no NaN).
  const flat: Matrix<Float64Array> = { rows: 20, cols: 4, data: new Float64Array(80).fill(2.5) };
  const r = await pca(flat, { nComponents: 2 });
  assert.ok(r.model.explainedVariance.every((v) => v === 0));
  assert.ok(r.model.explainedVarianceRatio.every((v) => v === 0));
  assert.ok(r.embedding.data.every((v) => v === 0));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pca, type PcaSolver } from '../src/geometry/pca.ts';
import { randomMatrix } from './reduce-reference.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

/** Largest distance of a row of `b` from the row space of `a` (orthonormal rows): sin of the largest principal angle. */
function maxAngleSine(a: Matrix<Float64Array>, b: Matrix<Float64Array>): number {
  const d = a.cols;
  let worst = 0;
  for (let r = 0; r < b.rows; r++) {
    const v = b.data.subarray(r * d, (r + 1) * d);
    const res = Float64Array.from(v);
    for (let p = 0; p < a.rows; p++) {
      const u = a.data.subarray(p * d, (p + 1) * d);
      let dot = 0;
      for (let j = 0; j < d; j++) dot += u[j] * v[j];
      for (let j = 0; j < d; j++) res[j] -= dot * u[j];
    }
    let norm = 0;
    for (let j = 0; j < d; j++) norm += res[j] ** 2;
    worst = Math.max(worst, Math.sqrt(norm));
  }
  return worst;
}

/** float32 input with an offset mean (centring in float32 must not lose the spread), computed both ways. */
async function both(rows: number, cols: number, seed: number, scale: (j: number) => number, k: number, svdSolver: PcaSolver) {
  const x = randomMatrix(rows, cols, seed, scale);
  // Mix the axes so components are not coordinate vectors, and add an offset of 20 to every column.
  const mixed = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
    const a = x.data[i * cols + j];
    const b = x.data[i * cols + ((j + 1) % cols)];
    mixed[i * cols + j] = 20 + 0.8 * a + 0.6 * b;
  }
  const x32: Matrix<Float32Array> = { rows, cols, data: mixed };
  const f64 = await pca(x32, { nComponents: k, svdSolver, threads: 1, float32: false });
  const f32 = await pca(x32, { nComponents: k, svdSolver, threads: 1 });
  return { f64, f32 };
}

for (const [solver, rows, cols] of [['randomized', 800, 60], ['full', 800, 60], ['full', 50, 120], ['covariance_eigh', 400, 30]] as const) {
  test(`pca ${solver} ${rows}×${cols}: float32 computation (default on float32 input) = float64 computation up to float32 rounding`, async () => {
    const k = 5;
    const { f64, f32 } = await both(rows, cols, 3, (j) => (j < 6 ? 10 / (j + 1) : 0.3), k, solver);
    assert.equal(f32.model.solver, solver);
    const sv64 = f64.model.singularValues;
    for (let i = 0; i < k; i++) assert.ok(Math.abs(f32.model.singularValues[i] - sv64[i]) <= 2e-6 * sv64[0], `σ${i}: ${f32.model.singularValues[i]} vs ${sv64[i]}`);
    for (let i = 0; i < k; i++) assert.ok(Math.abs(f32.model.explainedVarianceRatio[i] - f64.model.explainedVarianceRatio[i]) <= 1e-5 * f64.model.explainedVarianceRatio[i], `ratio ${i}`);
    const sin = maxAngleSine(f64.model.components, f32.model.components);
    assert.ok(sin <= 1e-4, `largest principal angle sin ${sin}`);
    // Each component (sign fixed by svd_flip on both) and its embedding column agree.
    for (let i = 0; i < f32.model.components.data.length; i++) assert.ok(Math.abs(f32.model.components.data[i] - f64.model.components.data[i]) <= 1e-4, `component entry ${i}`);
    let scale = 0;
    for (const v of f64.embedding.data) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < f64.embedding.data.length; i++) assert.ok(Math.abs(f32.embedding.data[i] - f64.embedding.data[i]) <= 1e-4 * scale, `embedding entry ${i}`);
    for (let j = 0; j < cols; j++) assert.ok(Math.abs(f32.model.mean[j] - f64.model.mean[j]) <= 1e-5 * 20, `mean ${j}`);
    assert.ok(Math.abs(f32.model.noiseVariance - f64.model.noiseVariance) <= 1e-4 * f64.model.noiseVariance, 'noise variance');
  });
}

test('pca randomized float32: an ill-conditioned spectrum (float64 Gram / P·L normalisation fallbacks) stays within float32 rounding', async () => {
  const k = 4;
  const { f64, f32 } = await both(600, 40, 9, (j) => (j < 4 ? 1e4 / (j + 1) : j < 12 ? 1 : 1e-3), k, 'randomized');
  for (let i = 0; i < k; i++) assert.ok(Math.abs(f32.model.singularValues[i] - f64.model.singularValues[i]) <= 2e-6 * f64.model.singularValues[0], `σ${i}`);
  const sin = maxAngleSine(f64.model.components, f32.model.components);
  assert.ok(sin <= 1e-4, `largest principal angle sin ${sin}`);
});

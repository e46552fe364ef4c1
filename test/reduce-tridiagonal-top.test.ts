import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orthonormalColumns } from '../src/geometry/linalg.ts';
import { symmetricEigenDC, symmetricEigenDCSync } from '../src/geometry/eigen-dc.ts';
import { topTridiagonalEigen } from '../src/geometry/tridiagonal-top.ts';
import { jacobiEigenReference, randomMatrix } from './reduce-reference.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

/** Q·diag(λ)·Qᵀ for a random orthogonal Q: a symmetric matrix with exactly the given spectrum. */
function withSpectrum(lambda: number[], seed: number): Matrix<Float64Array> {
  const n = lambda.length;
  const q = orthonormalColumns(randomMatrix(n, n, seed));
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) {
    let s = 0;
    for (let t = 0; t < n; t++) s += q.data[i * n + t]! * lambda[t]! * q.data[j * n + t]!;
    a[i * n + j] = s;
    a[j * n + i] = s;
  }
  return { rows: n, cols: n, data: a };
}

/** sin of the largest principal angle between the spans of two sets of k orthonormal rows (length n). */
function subspaceSine(a: Float64Array, b: Float64Array, k: number, n: number): number {
  let worst = 0;
  for (let r = 0; r < k; r++) {
    const res = Float64Array.from(b.subarray(r * n, r * n + n));
    for (let p = 0; p < k; p++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += a[p * n + i]! * b[r * n + i]!;
      for (let i = 0; i < n; i++) res[i] -= dot * a[p * n + i]!;
    }
    worst = Math.max(worst, Math.hypot(...res));
  }
  return worst;
}

/** The top-k path against the full decomposition: values, orthonormality, residuals, and the spanned subspace. */
async function check(a: Matrix<Float64Array>, k: number, lambda: number[], what: string, spanK = k): Promise<void> {
  const n = a.rows;
  const ref = await symmetricEigenDC(a, { vectors: k, threads: 1 });
  for (const top of [await symmetricEigenDC(a, { vectors: k, threads: 1, topOnly: true }), symmetricEigenDCSync(a, { vectors: k, topOnly: true })]) {
    assert.equal(top.values.length, k);
    const sorted = [...lambda].sort((x, y) => y - x);
    const norm = Math.max(...lambda.map(Math.abs));
    for (let r = 0; r < k; r++) {
      // 1e-10 relative, beyond the ~ε·‖A‖ by which forming Q·diag(λ)·Qᵀ itself moves the spectrum.
      assert.ok(Math.abs(top.values[r]! - sorted[r]!) <= 1e-10 * Math.abs(sorted[r]!) + 1e-14 * norm, `${what}: λ${r} ${top.values[r]} vs ${sorted[r]}`);
      assert.ok(Math.abs(top.values[r]! - ref.values[r]!) <= 1e-13 * norm, `${what}: λ${r} vs divide and conquer`);
    }
    const v = top.vectors.data;
    for (let r = 0; r < k; r++) {
      for (let q = 0; q <= r; q++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += v[r * n + i]! * v[q * n + i]!;
        assert.ok(Math.abs(dot - (r === q ? 1 : 0)) <= 1e-12, `${what}: VVᵀ[${r},${q}] = ${dot}`);
      }
      let res = 0;
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += a.data[i * n + j]! * v[r * n + j]!;
        res += (s - top.values[r]! * v[r * n + i]!) ** 2;
      }
      assert.ok(Math.sqrt(res) <= 1e-12 * norm, `${what}: residual ${r} ${Math.sqrt(res) / norm}`);
    }
    // spanK does not split a cluster: the spanned subspace is unique (within a bulk spaced ~1e-8·‖A‖ apart no
    // single vector is determined beyond ε·‖A‖/gap, for any solver; residuals and orthogonality still hold).
    assert.ok(subspaceSine(ref.vectors.data, v, spanK, n) <= 1e-8, `${what}: subspace angle`);
  }
}

test('topTridiagonalEigen: the top eigenpairs of a small tridiagonal match a Jacobi reference', () => {
  const n = 40;
  const r = randomMatrix(1, 2 * n, 3).data;
  const d = Float64Array.from({ length: n }, (_, i) => r[i]!);
  const e = Float64Array.from({ length: n - 1 }, (_, i) => r[n + i]!);
  const full = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    full[i * n + i] = d[i]!;
    if (i < n - 1) full[i * n + i + 1] = full[(i + 1) * n + i] = e[i]!;
  }
  const ref = jacobiEigenReference(full, n);
  const top = topTridiagonalEigen(d, e, n, 7);
  for (let k = 0; k < 7; k++) {
    assert.ok(Math.abs(top.values[k]! - ref.values[k]!) <= 1e-13, `λ${k}`);
    let dot = 0;
    for (let i = 0; i < n; i++) dot += top.vectors[k * n + i]! * ref.vectors[k]![i]!;
    assert.ok(Math.abs(Math.abs(dot) - 1) <= 1e-12, `vector ${k}: |dot| ${dot}`);
  }
});

test('symmetricEigenDC topOnly: well separated, clustered, exactly repeated and ill-conditioned spectra = the full decomposition', async () => {
  const n = 160;
  const rest = (scale: number) => Array.from({ length: n }, (_, i) => scale * ((i * 0.6180339887) % 1));
  // Well separated.
  const sep = Array.from({ length: n }, (_, i) => n - i + 0.5 * Math.sin(i));
  await check(withSpectrum(sep, 1), 12, sep, 'separated');
  // A cluster 1e-12 wide, an exactly threefold eigenvalue, then a continuum.
  const clustered = rest(1);
  clustered.splice(0, 6, 100, 100 * (1 + 1e-12), 100 * (1 + 2e-12), 50, 50, 50);
  await check(withSpectrum(clustered, 2), 6, clustered, 'clustered/repeated');
  // Ill-conditioned: eigenvalues 10^(−i/8), a continuum down to 1e-20.
  const ill = Array.from({ length: n }, (_, i) => 10 ** (-i / 8));
  await check(withSpectrum(ill, 3), 10, ill, 'ill-conditioned');
  // Low-rank + a noise bulk whose eigenvalues are 1e-6 of the top, closely spaced (PCA on hidden states).
  const bulk = rest(1e-6).map((v) => 1e-6 + v);
  for (let i = 0; i < 8; i++) bulk[i] = 10 - i;
  await check(withSpectrum(bulk, 4), 20, bulk, 'signal + bulk', 8);
});

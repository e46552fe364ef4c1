import { test } from 'node:test';
import assert from 'node:assert/strict';
import { topEigenpairs } from '../src/geometry/topk-eigen.ts';
import { symmetricEigen } from '../src/geometry/linalg.ts';
import { testNormals } from './reduce-reference.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

/** A = Q·diag(λ)·Qᵀ with Q a random orthogonal matrix (Householder products, independent of the solver). */
function withSpectrum(lambda: number[], seed: number): Matrix<Float64Array> {
  const n = lambda.length;
  const normal = testNormals(seed);
  // Q = H_1 ⋯ H_r applied to diag(λ) from both sides: A ← H A H with H = I − 2 v vᵀ.
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) a[i * n + i] = lambda[i];
  for (let r = 0; r < 8; r++) {
    const v = Float64Array.from({ length: n }, () => normal());
    const norm = Math.hypot(...v);
    for (let i = 0; i < n; i++) v[i] /= norm;
    const av = new Float64Array(n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) av[i] += a[i * n + j] * v[j];
    let vav = 0;
    for (let i = 0; i < n; i++) vav += v[i] * av[i];
    // H A H = A − 2 v (Av)ᵀ − 2 (Av) vᵀ + 4 (vᵀAv) v vᵀ
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] += -2 * v[i] * av[j] - 2 * av[i] * v[j] + 4 * vav * v[i] * v[j];
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) a[i * n + j] = a[j * n + i] = 0.5 * (a[i * n + j] + a[j * n + i]);
  return { rows: n, cols: n, data: a };
}

/** ‖X − X·Rᵀ·R‖_F for row-orthonormal X, R (k×n): ≥ the sine of the largest principal angle between their spans. */
function subspaceSine(x: Float64Array, ref: Float64Array, k: number, n: number): number {
  let total = 0;
  for (let r = 0; r < k; r++) {
    const e = Float64Array.from(x.subarray(r * n, r * n + n));
    for (let c = 0; c < k; c++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += x[r * n + i] * ref[c * n + i];
      for (let i = 0; i < n; i++) e[i] -= dot * ref[c * n + i];
    }
    for (const v of e) total += v * v;
  }
  return Math.sqrt(total);
}

async function check(name: string, lambda: number[], k: number, opts: { vectors?: boolean } = {}): Promise<void> {
  const n = lambda.length;
  const a = withSpectrum(lambda, n + k);
  const ref = symmetricEigen(a);
  const r = await topEigenpairs(a, k, { threads: 1 });
  assert.equal(r.method, 'krylov', `${name}: the Krylov iteration converged`);
  const scale = Math.max(...lambda.map(Math.abs));
  for (let i = 0; i < k; i++) {
    const rel = Math.abs(r.values[i] - ref.values[i]) / Math.max(Math.abs(ref.values[i]), 1e-300);
    assert.ok(rel <= 1e-10 || Math.abs(r.values[i] - ref.values[i]) <= 1e-13 * scale, `${name}: eigenvalue ${i}: ${r.values[i]} vs ${ref.values[i]} (rel ${rel})`);
  }
  // Unit rows.
  for (let i = 0; i < k; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += r.vectors.data[i * n + j] ** 2;
    assert.ok(Math.abs(s - 1) < 1e-12, `${name}: vector ${i} has norm² ${s}`);
  }
  if (opts.vectors ?? true) {
    const sine = subspaceSine(r.vectors.data, ref.vectors.data, k, n);
    assert.ok(sine <= 1e-8, `${name}: subspace angle ${sine}`);
  }
}

const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

test('top-k eigenpairs: well-conditioned spectrum matches the full float64 decomposition', async () => {
  await check('well-conditioned', range(400, (i) => 10 - (9 * i) / 400), 5);
});

test('top-k eigenpairs: ill-conditioned spectrum (10⁰ … 10⁻¹²)', async () => {
  await check('ill-conditioned', range(400, (i) => 10 ** ((-12 * i) / 399)), 6);
});

test('top-k eigenpairs: clustered eigenvalues (spacing 1e-7 inside the top 4, relative gap 1e-3 after)', async () => {
  const lambda = range(400, (i) => (i < 4 ? 1 - 1e-7 * i : 0.999 - (0.9 * (i - 4)) / 400));
  await check('clustered', lambda, 4);
});

test('top-k eigenpairs: repeated eigenvalues inside the top k', async () => {
  const lambda = range(400, (i) => (i < 3 ? 5 : i < 5 ? 3 : 1 - i / 400));
  await check('repeated', lambda, 5);
});

test('top-k eigenpairs: indefinite matrix (large negative eigenvalues) gives the algebraically largest', async () => {
  const lambda = range(400, (i) => (i % 7 === 0 ? -20 - i / 40 : 5 - (5 * i) / 400));
  await check('indefinite', lambda, 3);
});

test('top-k eigenpairs: low rank (the Krylov space is exhausted) and zero eigenvalues beyond the rank', async () => {
  const lambda = range(400, (i) => (i < 3 ? 3 - i : 0));
  await check('rank 3, k = 2', lambda, 2);
  await check('rank 3, k = 3', lambda, 3);
  // k beyond the rank: the extra eigenvalues are 0, their vectors any null vectors.
  await check('rank 3, k = 5', lambda, 5, { vectors: false });
});

test('top-k eigenpairs: small matrices take the full decomposition', async () => {
  const a = withSpectrum(range(40, (i) => 40 - i), 3);
  const r = await topEigenpairs(a, 3, { threads: 1 });
  assert.equal(r.method, 'full');
  assert.deepEqual(Array.from(r.values, (v) => Math.round(v * 1e9) / 1e9), [40, 39, 38]);
});

test('top-k eigenpairs: Krylov space exhausted mid-cycle (rank 40, entries ~1e7) keeps the basis orthogonal', async () => {
  const lambda = range(400, (i) => (i < 40 ? 1e7 * (40 - i) ** 2 / 1600 : 0));
  await check('rank 40, large scale', lambda, 2);
});

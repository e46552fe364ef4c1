import { test } from 'node:test';
import assert from 'node:assert/strict';
import { symmetricEigen } from '../src/geometry/linalg.ts';
import { symmetricEigenDC, symmetricEigenDCSync, solveSecular } from '../src/geometry/eigen-dc.ts';
import { pca } from '../src/geometry/pca.ts';
import { jacobiEigenReference, randomMatrix } from './reduce-reference.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

function symmetric(n: number, seed: number): Matrix<Float64Array> {
  const r = randomMatrix(n, n, seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = r.data[i * n + j] + r.data[j * n + i];
  return { rows: n, cols: n, data: a };
}

/** XᵀX of an m×n matrix with a rank-`rank` signal plus small noise: many tiny, clustered eigenvalues (deflation). */
function lowRankCovariance(m: number, n: number, rank: number, noise: number, seed: number): Matrix<Float64Array> {
  const basis = randomMatrix(rank, n, seed);
  const coef = randomMatrix(m, rank, seed + 1);
  const eps = randomMatrix(m, n, seed + 2);
  const x = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let v = noise * eps.data[i * n + j];
    for (let r = 0; r < rank; r++) v += coef.data[i * rank + r] * (rank - r) * basis.data[r * n + j];
    x[i * n + j] = v;
  }
  const c = new Float64Array(n * n);
  for (let i = 0; i < m; i++) for (let a = 0; a < n; a++) {
    const xa = x[i * n + a];
    for (let b = 0; b < n; b++) c[a * n + b] += xa * x[i * n + b];
  }
  return { rows: n, cols: n, data: c };
}

/** max |λ − λref| / ‖A‖, max |VVᵀ − I|, max ‖A v − λ v‖ / ‖A‖: everything a correct decomposition must satisfy. */
function quality(a: Matrix<Float64Array>, values: Float64Array, vectors: Float64Array, rows: number, refValues: ArrayLike<number>) {
  const n = a.rows;
  let norm = 0;
  for (let i = 0; i < n; i++) norm = Math.max(norm, Math.abs(refValues[i]));
  norm = Math.max(norm, 1e-300);
  let dl = 0;
  for (let i = 0; i < n; i++) dl = Math.max(dl, Math.abs(values[i] - refValues[i]));
  let orth = 0;
  for (let i = 0; i < rows; i++) for (let j = 0; j <= i; j++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += vectors[i * n + k] * vectors[j * n + k];
    orth = Math.max(orth, Math.abs(s - (i === j ? 1 : 0)));
  }
  let res = 0;
  for (let i = 0; i < rows; i++) for (let r = 0; r < n; r++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += a.data[r * n + k] * vectors[i * n + k];
    res = Math.max(res, Math.abs(s - values[i] * vectors[i * n + r]));
  }
  return { dl: dl / norm, orth, res: res / norm };
}

async function checkAgainstQl(a: Matrix<Float64Array>, label: string, tol = 1e-12): Promise<void> {
  const n = a.rows;
  const ref = symmetricEigen(a);
  const fast = await symmetricEigenDC(a);
  const sync = symmetricEigenDCSync(a);
  for (const [name, r] of [['gemm', fast], ['js', sync]] as const) {
    assert.equal(r.vectors.rows, n);
    const q = quality(a, r.values, r.vectors.data, n, ref.values);
    assert.ok(q.dl < tol, `${label} ${name}: eigenvalues differ from QL by ${q.dl}·‖A‖`);
    assert.ok(q.orth < 1e-12, `${label} ${name}: VVᵀ − I = ${q.orth}`);
    assert.ok(q.res < 1e-12, `${label} ${name}: residual ${q.res}·‖A‖`);
    for (let i = 1; i < n; i++) assert.ok(r.values[i] <= r.values[i - 1], `${label}: not descending`);
  }
  // Well-separated eigenvalues: the vectors themselves agree with QL up to sign.
  const gapTol = 1e-6 * Math.max(Math.abs(ref.values[0]), Math.abs(ref.values[n - 1]));
  for (let i = 0; i < n; i++) {
    const gap = Math.min(i > 0 ? ref.values[i - 1] - ref.values[i] : Infinity, i < n - 1 ? ref.values[i] - ref.values[i + 1] : Infinity);
    if (gap < gapTol) continue;
    let dot = 0;
    for (let k = 0; k < n; k++) dot += fast.vectors.data[i * n + k] * ref.vectors.data[i * n + k];
    assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-8, `${label}: vector ${i} |dot| = ${Math.abs(dot)}`);
  }
}

test('divide-and-conquer eigen agrees with QL and an independent Jacobi solver on random matrices', async () => {
  for (const [n, seed] of [[65, 1], [97, 2], [160, 3]] as const) await checkAgainstQl(symmetric(n, seed), `random n=${n}`);
  const a = symmetric(90, 9);
  const jac = jacobiEigenReference(a.data, 90);
  const r = await symmetricEigenDC(a);
  const q = quality(a, r.values, r.vectors.data, 90, jac.values);
  assert.ok(q.dl < 1e-12 && q.orth < 1e-12 && q.res < 1e-12, JSON.stringify(q));
});

test('divide-and-conquer eigen: deflation cases (low rank, repeated, constant, diagonal, graded)', async () => {
  await checkAgainstQl(lowRankCovariance(150, 120, 5, 1e-3, 4), 'low-rank covariance');
  await checkAgainstQl(lowRankCovariance(60, 100, 3, 0, 5), 'exactly rank 3');
  const n = 130;
  const ones = { rows: n, cols: n, data: new Float64Array(n * n).fill(1) };
  await checkAgainstQl(ones, 'all ones');
  const diag = new Float64Array(n * n);
  for (let i = 0; i < n; i++) diag[i * n + i] = i % 4;
  await checkAgainstQl({ rows: n, cols: n, data: diag }, 'diagonal with repeats');
  // Identity plus a tiny symmetric perturbation: one tight cluster.
  const p = symmetric(n, 11);
  for (let i = 0; i < n * n; i++) p.data[i] = (p.data[i] * 1e-9) + (i % (n + 1) === 0 ? 1 : 0);
  await checkAgainstQl(p, 'clustered');
  // Graded: entries spanning 1e-8 .. 1e4 (scaled internally, results unscaled).
  const g = symmetric(100, 12);
  for (let i = 0; i < 100; i++) for (let j = 0; j < 100; j++) g.data[i * 100 + j] *= 10 ** (4 - 6 * ((i + j) / 198));
  await checkAgainstQl(g, 'graded', 1e-11);
  // Tridiagonal with tiny couplings (Wilkinson-like glued blocks).
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    t[i * n + i] = Math.abs(10 - (i % 21));
    if (i + 1 < n) t[i * n + i + 1] = t[(i + 1) * n + i] = (i + 1) % 21 === 0 ? 1e-14 : 1;
  }
  await checkAgainstQl({ rows: n, cols: n, data: t }, 'glued Wilkinson');
});

test('divide-and-conquer eigen: leading vectors only, lower triangle only, bad input', async () => {
  const a = symmetric(120, 21);
  const all = await symmetricEigenDC(a);
  const top = await symmetricEigenDC(a, { vectors: 7 });
  assert.equal(top.vectors.rows, 7);
  assert.deepEqual(top.values, all.values);
  for (let i = 0; i < 7 * 120; i++) assert.ok(Math.abs(top.vectors.data[i] - all.vectors.data[i]) < 1e-13);
  // Only the lower triangle is read: garbage in the upper triangle changes nothing.
  const lower = { rows: 120, cols: 120, data: Float64Array.from(a.data) };
  for (let i = 0; i < 120; i++) for (let j = i + 1; j < 120; j++) lower.data[i * 120 + j] = 1e6;
  const l = await symmetricEigenDC(lower);
  assert.deepEqual(l.values, all.values);
  const small = await symmetricEigenDC(symmetric(5, 1), { vectors: 2 });
  assert.equal(small.vectors.rows, 2);
  await assert.rejects(symmetricEigenDC({ rows: 2, cols: 3, data: new Float64Array(6) }));
  await assert.rejects(symmetricEigenDC({ rows: 2, cols: 2, data: new Float64Array([1, NaN, NaN, 1]) }));
  await assert.rejects(symmetricEigenDC(a, { vectors: 121 }));
  const zero = await symmetricEigenDC({ rows: 80, cols: 80, data: new Float64Array(6400) });
  assert.ok(zero.values.every((v) => v === 0));
});

test('secular equation roots interlace the poles and satisfy the equation', () => {
  const d = Float64Array.from([-1, 0, 1e-10, 2, 5]);
  const z = Float64Array.from([0.3, 0.5, 1e-3, 0.6, 0.54]);
  const rho = 1.7;
  const { origin, tau } = solveSecular(d, z, rho);
  let zz = 0;
  for (const v of z) zz += v * v;
  for (let i = 0; i < d.length; i++) {
    const lam = d[origin[i]] + tau[i];
    assert.ok(lam > d[i] && (i === d.length - 1 ? lam <= d[i] + rho * zz : lam < d[i + 1]), `root ${i} = ${lam}`);
    // Residual relative to the terms' size, evaluated from the pole-relative form.
    let f = 1;
    let scale = 1;
    for (let j = 0; j < d.length; j++) {
      const t = rho * z[j] * z[j] / ((d[j] - d[origin[i]]) - tau[i]);
      f += t;
      scale += Math.abs(t);
    }
    assert.ok(Math.abs(f) < 1e-13 * scale, `root ${i}: f = ${f}`);
  }
});

test('old QL solver no longer returns NaN on constant matrices (hypot in tql2)', () => {
  for (const n of [45, 64, 100]) {
    const r = symmetricEigen({ rows: n, cols: n, data: new Float64Array(n * n).fill(1) });
    assert.ok(Math.abs(r.values[0] - n) < 1e-10 * n, `n=${n}: λ₀ = ${r.values[0]}`);
    assert.ok(r.values.every((v, i) => i === 0 || Math.abs(v) < 1e-10 * n), `n=${n}`);
    assert.ok(r.vectors.data.every(Number.isFinite));
  }
});

test('PCA through the new eigensolver matches a Jacobi reference on a 300×90 covariance', async () => {
  const x = randomMatrix(300, 90, 31, (j) => 1 + 10 / (1 + j));
  const { model } = await pca(x, { nComponents: 10, svdSolver: 'covariance_eigh' });
  const n = x.rows;
  const d = x.cols;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x.data[i * d + j] / n;
  const c = new Float64Array(d * d);
  for (let i = 0; i < n; i++) for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) c[a * d + b] += (x.data[i * d + a] - mean[a]) * (x.data[i * d + b] - mean[b]) / (n - 1);
  const ref = jacobiEigenReference(c, d);
  for (let r = 0; r < 10; r++) {
    assert.ok(Math.abs(model.explainedVariance[r] - ref.values[r]) < 1e-10 * ref.values[0], `variance ${r}`);
    let dot = 0;
    for (let j = 0; j < d; j++) dot += model.components.data[r * d + j] * ref.vectors[r][j];
    assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-8, `component ${r}: |dot| = ${Math.abs(dot)}`);
  }
  const tail = ref.values.slice(10).reduce((p, v) => p + v, 0) / (d - 10);
  assert.ok(Math.abs(model.noiseVariance - tail) < 1e-10 * ref.values[0]);
});

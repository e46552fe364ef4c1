import { test } from 'node:test';
import assert from 'node:assert/strict';
import { symmetricEigen, svdJacobi, orthonormalColumns, luPermutedL } from '../src/geometry/linalg.ts';
import { jacobiEigenReference, randomMatrix } from './reduce-reference.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

function symmetric(n: number, seed: number): Matrix<Float64Array> {
  const r = randomMatrix(n, n, seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = r.data[i * n + j] + r.data[j * n + i];
  return { rows: n, cols: n, data: a };
}

function reconstructionError(a: Matrix<Float64Array>, values: Float64Array, v: Float64Array): number {
  const n = a.rows;
  let err = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += v[k * n + i] * values[k] * v[k * n + j];
    err = Math.max(err, Math.abs(s - a.data[i * n + j]));
  }
  return err;
}

test('symmetricEigen matches an independent Jacobi eigensolver and reconstructs A', () => {
  for (const [n, seed] of [[1, 1], [2, 2], [7, 3], [40, 4], [97, 5]] as const) {
    const a = symmetric(n, seed);
    const { values, vectors } = symmetricEigen(a);
    const ref = jacobiEigenReference(a.data, n);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(values[i] - ref.values[i]) < 1e-10 * Math.max(1, Math.abs(ref.values[0])), `λ${i} n=${n}`);
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let k = 0; k < n; k++) dot += vectors.data[i * n + k] * ref.vectors[i][k];
      assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-8, `vector ${i} n=${n}: |dot|=${Math.abs(dot)}`);
    }
    assert.ok(reconstructionError(a, values, vectors.data) < 1e-10 * n);
  }
});

test('symmetricEigen handles repeated eigenvalues, zero and diagonal matrices', () => {
  const n = 6;
  const eye = new Float64Array(n * n);
  for (let i = 0; i < n; i++) eye[i * n + i] = i < 3 ? 2 : -1;
  const r = symmetricEigen({ rows: n, cols: n, data: eye });
  assert.deepEqual(Array.from(r.values), [2, 2, 2, -1, -1, -1]);
  assert.ok(reconstructionError({ rows: n, cols: n, data: eye }, r.values, r.vectors.data) < 1e-14);
  const z = symmetricEigen({ rows: 3, cols: 3, data: new Float64Array(9) });
  assert.deepEqual(Array.from(z.values), [0, 0, 0]);
  // Rank-one: v vᵀ has eigenvalue |v|² and zeros.
  const v = [1, 2, 3, 4];
  const a = new Float64Array(16);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) a[i * 4 + j] = v[i] * v[j];
  const ro = symmetricEigen({ rows: 4, cols: 4, data: a });
  assert.ok(Math.abs(ro.values[0] - 30) < 1e-12);
  for (let i = 1; i < 4; i++) assert.ok(Math.abs(ro.values[i]) < 1e-12);
  assert.throws(() => symmetricEigen({ rows: 2, cols: 2, data: new Float64Array([1, NaN, NaN, 1]) }));
});

test('svdJacobi: A = U S Vᵀ, orthonormal factors, tall and wide, rank-deficient', () => {
  for (const [m, n] of [[8, 5], [5, 8], [30, 30], [3, 1]] as const) {
    const a = randomMatrix(m, n, m * 31 + n);
    if (m === 30) for (let j = 0; j < n; j++) a.data[5 * n + j] = a.data[6 * n + j] = a.data[7 * n + j] = 0; // rank < 30 not guaranteed; add a duplicate column below
    if (m === 30) for (let i = 0; i < m; i++) a.data[i * n + 29] = a.data[i * n + 28];
    const { u, s, vt } = svdJacobi(a);
    const r = Math.min(m, n);
    assert.equal(u.rows, m); assert.equal(u.cols, r); assert.equal(vt.rows, r); assert.equal(vt.cols, n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let x = 0;
      for (let k = 0; k < r; k++) x += u.data[i * r + k] * s[k] * vt.data[k * n + j];
      assert.ok(Math.abs(x - a.data[i * n + j]) < 1e-12, `A[${i},${j}]`);
    }
    for (let k = 1; k < r; k++) assert.ok(s[k] <= s[k - 1]);
    for (let p = 0; p < r; p++) for (let q = 0; q < r; q++) {
      let du = 0, dv = 0;
      for (let i = 0; i < m; i++) du += u.data[i * r + p] * u.data[i * r + q];
      for (let j = 0; j < n; j++) dv += vt.data[p * n + j] * vt.data[q * n + j];
      assert.ok(Math.abs(du - (p === q ? 1 : 0)) < 1e-10, `UᵀU ${m}x${n} ${p},${q} ${du}`);
      assert.ok(Math.abs(dv - (p === q ? 1 : 0)) < 1e-10);
    }
    // Singular values squared are the eigenvalues of AᵀA (independent Jacobi eigen).
    const ata = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { let x = 0; for (let t = 0; t < m; t++) x += a.data[t * n + i] * a.data[t * n + j]; ata[i * n + j] = x; }
    const ref = jacobiEigenReference(ata, n);
    for (let k = 0; k < r; k++) assert.ok(Math.abs(s[k] ** 2 - ref.values[k]) < 1e-9 * Math.max(1, ref.values[0]));
  }
});

test('orthonormalColumns spans the input; luPermutedL rebuilds A with U', () => {
  const a = randomMatrix(50, 6, 9);
  const q = orthonormalColumns(a);
  for (let p = 0; p < 6; p++) for (let r = 0; r < 6; r++) {
    let d = 0;
    for (let i = 0; i < 50; i++) d += q.data[i * 6 + p] * q.data[i * 6 + r];
    assert.ok(Math.abs(d - (p === r ? 1 : 0)) < 1e-13);
  }
  // Projection of A onto span(Q) is A itself.
  for (let j = 0; j < 6; j++) {
    const col = Array.from({ length: 50 }, (_, i) => a.data[i * 6 + j]);
    const proj = new Array(50).fill(0);
    for (let p = 0; p < 6; p++) { let d = 0; for (let i = 0; i < 50; i++) d += q.data[i * 6 + p] * col[i]; for (let i = 0; i < 50; i++) proj[i] += d * q.data[i * 6 + p]; }
    for (let i = 0; i < 50; i++) assert.ok(Math.abs(proj[i] - col[i]) < 1e-12);
  }
  const pl = luPermutedL(a);
  // PL has exactly one unit entry per column in a row that is zero to its right, and |entries| ≤ 1 (partial pivoting).
  for (let i = 0; i < pl.data.length; i++) assert.ok(Math.abs(pl.data[i]) <= 1 + 1e-15);
  // PL·U = A where U = (rows of A that were pivots) reduced: check column space equality instead: rank 6 and A ∈ span(PL).
  const qpl = orthonormalColumns(pl);
  for (let j = 0; j < 6; j++) {
    const col = Array.from({ length: 50 }, (_, i) => a.data[i * 6 + j]);
    const proj = new Array(50).fill(0);
    for (let p = 0; p < 6; p++) { let d = 0; for (let i = 0; i < 50; i++) d += qpl.data[i * 6 + p] * col[i]; for (let i = 0; i < 50; i++) proj[i] += d * qpl.data[i * 6 + p]; }
    for (let i = 0; i < 50; i++) assert.ok(Math.abs(proj[i] - col[i]) < 1e-10);
  }
});

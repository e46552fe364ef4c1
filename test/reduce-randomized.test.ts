import { test } from 'node:test';
import assert from 'node:assert/strict';
import { choleskyUpperInverse, luPermutedL, orthonormalColumns, svdJacobi, svdWide } from '../src/geometry/linalg.ts';
import { orthonormalBasis, randomizedSvd } from '../src/geometry/truncated-svd.ts';
import { pca } from '../src/geometry/pca.ts';
import { randomMatrix } from './reduce-reference.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

/** Unblocked P·L with a scan of the unused rows in original order (scipy's lu(permute_l=True) semantics). */
function luReference(a: Matrix<Float64Array>): Float64Array {
  const { rows: m, cols: k } = a;
  const work = Float64Array.from(a.data);
  const l = new Float64Array(m * k);
  const used = new Uint8Array(m);
  for (let j = 0; j < Math.min(k, m); j++) {
    let p = -1;
    let best = -1;
    for (let r = 0; r < m; r++) {
      if (used[r]) continue;
      const v = Math.abs(work[r * k + j]);
      if (v > best) {
        best = v;
        p = r;
      }
    }
    used[p] = 1;
    l[p * k + j] = 1;
    const pivot = work[p * k + j];
    if (pivot === 0) continue;
    for (let r = 0; r < m; r++) {
      if (used[r]) continue;
      const factor = work[r * k + j] / pivot;
      l[r * k + j] = factor;
      if (factor !== 0) for (let c = j; c < k; c++) work[r * k + c] -= factor * work[p * k + c];
    }
  }
  return l;
}

function product(a: Matrix<Float64Array>, b: Matrix<Float64Array>, transA = false): Float64Array {
  const m = transA ? a.cols : a.rows;
  const inner = transA ? a.rows : a.cols;
  const out = new Float64Array(m * b.cols);
  for (let i = 0; i < m; i++) for (let p = 0; p < inner; p++) {
    const v = transA ? a.data[p * a.cols + i] : a.data[i * a.cols + p];
    for (let j = 0; j < b.cols; j++) out[i * b.cols + j] += v * b.data[p * b.cols + j];
  }
  return out;
}

function maxOffIdentity(g: Float64Array, k: number): number {
  let err = 0;
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) err = Math.max(err, Math.abs(g[i * k + j] - (i === j ? 1 : 0)));
  return err;
}

test('blocked luPermutedL is bitwise the unblocked elimination (ties, zero columns, odd widths)', () => {
  const cases: Matrix<Float64Array>[] = [
    randomMatrix(300, 23, 1),
    randomMatrix(64, 8, 2),
    randomMatrix(9, 9, 3),
    // Small integers: many exact pivot ties; a zero column in the middle forces a zero pivot.
    (() => {
      const m = randomMatrix(120, 19, 4);
      for (let i = 0; i < m.data.length; i++) m.data[i] = Math.round(m.data[i] * 1.5);
      for (let i = 0; i < 120; i++) m.data[i * 19 + 10] = 0;
      return m;
    })(),
  ];
  for (const a of cases) {
    const got = luPermutedL(a).data;
    const want = luReference(a);
    for (let i = 0; i < got.length; i++) assert.ok(got[i] === want[i] || (got[i] === 0 && want[i] === 0), `${a.rows}×${a.cols} entry ${i}: ${got[i]} vs ${want[i]}`);
  }
});

test('svdWide: B = U S Vᵀ with orthonormal factors; singular values equal one-sided Jacobi on B', () => {
  const rankDeficient = randomMatrix(12, 90, 6);
  for (let j = 0; j < 90; j++) rankDeficient.data[5 * 90 + j] = rankDeficient.data[2 * 90 + j] - 2 * rankDeficient.data[7 * 90 + j];
  for (const b of [randomMatrix(30, 200, 5, (j) => 1 + 10 * Math.exp(-j / 7)), rankDeficient, randomMatrix(3, 3, 7)]) {
    const { u, s, vt } = svdWide(b);
    const ref = svdJacobi(b);
    const k = b.rows;
    for (let i = 0; i < k; i++) assert.ok(Math.abs(s[i] - ref.s[i]) <= 1e-13 * ref.s[0], `σ${i}: ${s[i]} vs ${ref.s[i]}`);
    let rec = 0;
    for (let r = 0; r < k; r++) for (let c = 0; c < b.cols; c++) {
      let v = 0;
      for (let t = 0; t < k; t++) v += u.data[r * k + t] * s[t] * vt.data[t * b.cols + c];
      rec = Math.max(rec, Math.abs(v - b.data[r * b.cols + c]));
    }
    assert.ok(rec < 1e-12 * s[0], `reconstruction ${rec}`);
    const vtT: Matrix<Float64Array> = { rows: vt.cols, cols: vt.rows, data: new Float64Array(vt.cols * vt.rows) };
    for (let r = 0; r < vt.rows; r++) for (let c = 0; c < vt.cols; c++) vtT.data[c * vt.rows + r] = vt.data[r * vt.cols + c];
    assert.ok(maxOffIdentity(product(vtT, vtT, true), k) < 1e-12, 'V orthonormal');
    assert.ok(maxOffIdentity(product(u, u, true), k) < 1e-12, 'U orthonormal');
  }
});

test('choleskyUpperInverse and orthonormalBasis: QᵀQ = I, span(Q) = span(Y), same Q as Gram–Schmidt; falls back when rank-deficient', async () => {
  const y = randomMatrix(500, 12, 8, (j) => 10 ** (-j / 4)); // cond ≈ 1e3
  const g: Matrix<Float64Array> = { rows: 12, cols: 12, data: product(y, y, true) };
  const rInv = choleskyUpperInverse(g, 1e-8);
  assert.ok(rInv);
  const q1 = product(y, { rows: 12, cols: 12, data: rInv });
  assert.ok(maxOffIdentity(product({ rows: 500, cols: 12, data: q1 }, { rows: 500, cols: 12, data: q1 }, true), 12) < 1e-9, 'one pass: nearly orthonormal');
  assert.equal(choleskyUpperInverse(g, 0.5), null, 'diagonal spread beyond minRatio');
  const indefinite: Matrix<Float64Array> = { rows: 2, cols: 2, data: Float64Array.from([1, 2, 2, 1]) };
  assert.equal(choleskyUpperInverse(indefinite, 0), null);

  const q = await orthonormalBasis(y, 1);
  assert.ok(maxOffIdentity(product(q, q, true), 12) < 1e-13, 'CholeskyQR2 orthonormal');
  const mgs = orthonormalColumns(y);
  for (let i = 0; i < q.data.length; i++) assert.ok(Math.abs(q.data[i] - mgs.data[i]) < 1e-11, `Q entry ${i}`);

  const deficient = randomMatrix(200, 6, 9);
  for (let i = 0; i < 200; i++) deficient.data[i * 6 + 4] = deficient.data[i * 6 + 1];
  const qd = await orthonormalBasis(deficient, 1);
  assert.ok(qd.data.every(Number.isFinite), 'fallback gives finite values');
  const qdm = orthonormalColumns(deficient);
  for (let i = 0; i < qd.data.length; i++) assert.equal(qd.data[i], qdm.data[i], 'rank-deficient → Gram–Schmidt result');
});

test('randomizedSvd: the normaliser only changes rounding (same subspace), and the float32 sketch stays within float32 rounding', async () => {
  // Decaying spectrum with a clear gap after 8 components; 4 requested + 10 oversamples.
  const a = randomMatrix(400, 60, 10, (j) => (j < 8 ? 20 / (j + 1) : 0.3));
  const lu = await randomizedSvd(a, 4, { nIter: 4, powerIterationNormalizer: 'LU', threads: 1 });
  const qr = await randomizedSvd(a, 4, { nIter: 4, powerIterationNormalizer: 'QR', threads: 1 });
  const none = await randomizedSvd(a, 4, { nIter: 4, powerIterationNormalizer: 'none', threads: 1 });
  const f32: Matrix<Float32Array> = { rows: a.rows, cols: a.cols, data: new Float32Array(a.data) };
  const sk = await randomizedSvd(a, 4, { nIter: 4, powerIterationNormalizer: 'LU', threads: 1, sketch: f32 });
  for (let i = 0; i < 4; i++) {
    assert.ok(Math.abs(qr.s[i] - lu.s[i]) < 1e-12 * lu.s[0], `QR vs LU σ${i}`);
    assert.ok(Math.abs(none.s[i] - lu.s[i]) < 1e-12 * lu.s[0], `none vs LU σ${i}`);
    assert.ok(Math.abs(sk.s[i] - lu.s[i]) < 1e-6 * lu.s[i], `float32 sketch σ${i}`);
    // Same right singular vectors up to sign.
    let dot = 0;
    for (let c = 0; c < 60; c++) dot += lu.vt.data[i * 60 + c] * qr.vt.data[i * 60 + c];
    assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-10, `v${i} LU vs QR: |dot| = ${Math.abs(dot)}`);
  }
  // Spectrum spanning 1e6: the block is too ill-conditioned for the Cholesky shortcut, so P·L is used; same answer.
  const stiff = randomMatrix(300, 40, 12, (j) => (j < 6 ? 1e3 / (j + 1) : 1e-3));
  const stiffLu = await randomizedSvd(stiff, 4, { nIter: 4, powerIterationNormalizer: 'LU', threads: 1 });
  const stiffQr = await randomizedSvd(stiff, 4, { nIter: 4, powerIterationNormalizer: 'QR', threads: 1 });
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(stiffLu.s[i] - stiffQr.s[i]) < 1e-12 * stiffQr.s[0], `stiff σ${i}`);
  // Fixed seed → identical output.
  const again = await randomizedSvd(a, 4, { nIter: 4, powerIterationNormalizer: 'LU', threads: 1 });
  assert.deepEqual(again.s, lu.s);
});

test('pca randomized: float32 power iterations (the default on float32 input) stay within float32 rounding of the float64 run', async () => {
  const x64 = randomMatrix(600, 40, 11, (j) => (j < 6 ? 8 / (j + 1) : 0.5));
  const x32: Matrix<Float32Array> = { rows: 600, cols: 40, data: new Float32Array(x64.data) };
  const base = await pca(x32, { nComponents: 5, svdSolver: 'randomized', threads: 1, float32: false });
  const fast = await pca(x32, { nComponents: 5, svdSolver: 'randomized', threads: 1 });
  for (let i = 0; i < 5; i++) assert.ok(Math.abs(fast.model.singularValues[i] - base.model.singularValues[i]) < 1e-6 * base.model.singularValues[i], `σ${i}`);
  for (let i = 0; i < 5 * 40; i++) assert.ok(Math.abs(fast.model.components.data[i] - base.model.components.data[i]) < 1e-5, `component entry ${i}`);
});

import test from 'node:test';
import assert from 'node:assert/strict';
import { linearCKA } from '../src/geometry/cka.ts';
import { layerSimilarity } from '../src/geometry/layer-similarity.ts';
import type { Matrix } from '../src/geometry/matrix.ts';
import { mulberry32 } from '../src/util/random.ts';

function randn(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}
function randomMatrix(n: number, d: number, seed: number): Matrix<Float64Array> {
  const r = mulberry32(seed);
  return { rows: n, cols: d, data: Float64Array.from({ length: n * d }, () => randn(r)) };
}

/** Independent float64 reference: feature-space form ‖YcᵀXc‖² / (‖XcᵀXc‖ ‖YcᵀYc‖) with explicit centring. */
function ckaFeatureRef(x: Matrix, y: Matrix): number {
  const centre = (m: Matrix): number[][] => {
    const rows = Array.from({ length: m.rows }, (_, i) => Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)));
    for (let j = 0; j < m.cols; j++) {
      const mu = rows.reduce((a, r) => a + r[j]!, 0) / m.rows;
      for (const r of rows) r[j]! -= mu;
    }
    return rows;
  };
  const a = centre(x), b = centre(y);
  const cross = (p: number[][], q: number[][]): number => {
    let s = 0;
    for (let i = 0; i < p[0]!.length; i++) for (let j = 0; j < q[0]!.length; j++) {
      let v = 0;
      for (let n = 0; n < p.length; n++) v += p[n]![i]! * q[n]![j]!;
      s += v * v;
    }
    return s;
  };
  return cross(b, a) / Math.sqrt(cross(a, a) * cross(b, b));
}

/** Independent transcription of Kornblith et al.'s debiased CKA (unbiased HSIC, Song et al. 2012, eq. 5). */
function ckaDebiasedRef(x: Matrix, y: Matrix): number {
  const n = x.rows;
  const gram = (m: Matrix): number[][] => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => {
    if (i === j) return 0;
    let s = 0;
    for (let t = 0; t < m.cols; t++) s += m.data[i * m.cols + t]! * m.data[j * m.cols + t]!;
    return s;
  }));
  // HSIC_1(K, L) = [tr(KL) + 1ᵀK1·1ᵀL1/((n−1)(n−2)) − 2/(n−2)·1ᵀKL1] / (n(n−3)), K and L with zero diagonals.
  const hsic = (k: number[][], l: number[][]): number => {
    let tr = 0, sk = 0, sl = 0, kl1 = 0;
    const l1 = l.map((r) => r.reduce((a, b) => a + b, 0));
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      tr += k[i]![j]! * l[j]![i]!;
      sk += k[i]![j]!;
      sl += l[i]![j]!;
      kl1 += k[i]![j]! * l1[j]!;
    }
    return (tr + (sk * sl) / ((n - 1) * (n - 2)) - (2 / (n - 2)) * kl1) / (n * (n - 3));
  };
  const k = gram(x), l = gram(y);
  return hsic(k, l) / Math.sqrt(hsic(k, k) * hsic(l, l));
}

test('linear CKA equals the independent feature-space float64 reference', async () => {
  for (const [n, p, q, seed] of [[30, 5, 7, 1], [12, 20, 3, 2], [50, 8, 8, 3]] as const) {
    const x = randomMatrix(n, p, seed);
    const y = randomMatrix(n, q, seed + 100);
    // y partly depends on x so that CKA is not near 0.
    for (let i = 0; i < n; i++) y.data[i * q] = x.data[i * p]! * 2 + y.data[i * q]! * 0.3;
    const got = await linearCKA(x, y);
    const want = ckaFeatureRef(x, y);
    assert.ok(Math.abs(got - want) <= 1e-12 * Math.max(1, Math.abs(want)), `n=${n}: ${got} vs ${want}`);
  }
});

test('debiased CKA equals the unbiased-HSIC formula written out', async () => {
  const x = randomMatrix(25, 6, 7);
  const y = randomMatrix(25, 4, 8);
  for (let i = 0; i < 25; i++) y.data[i * 4 + 1] = x.data[i * 6 + 2]! - 0.5 * x.data[i * 6]!;
  const got = await linearCKA(x, y, { debiased: true });
  const want = ckaDebiasedRef(x, y);
  assert.ok(Math.abs(got - want) < 1e-12, `${got} vs ${want}`);
});

test('CKA is 1 for identical representations and invariant to orthogonal maps and isotropic scaling', async () => {
  const x = randomMatrix(40, 6, 11);
  assert.ok(Math.abs((await linearCKA(x, x)) - 1) < 1e-12);
  // A random rotation (Gram–Schmidt on a random matrix), a scale of 3.7 and a translation.
  const r = randomMatrix(6, 6, 12);
  const q: number[][] = [];
  for (let i = 0; i < 6; i++) {
    const v = Array.from(r.data.subarray(i * 6, i * 6 + 6));
    for (const u of q) { const dot = v.reduce((a, x2, t) => a + x2 * u[t]!, 0); for (let t = 0; t < 6; t++) v[t]! -= dot * u[t]!; }
    const nr = Math.hypot(...v);
    q.push(v.map((x2) => x2 / nr));
  }
  const y = { rows: 40, cols: 6, data: new Float64Array(240) };
  for (let i = 0; i < 40; i++) for (let j = 0; j < 6; j++) {
    let s = 0;
    for (let t = 0; t < 6; t++) s += x.data[i * 6 + t]! * q[t]![j]!;
    y.data[i * 6 + j] = 3.7 * s + 5;
  }
  const z = randomMatrix(40, 6, 13);
  const c1 = await linearCKA(x, z);
  const c2 = await linearCKA(y, z);
  assert.ok(Math.abs((await linearCKA(x, y)) - 1) < 1e-10);
  assert.ok(Math.abs(c1 - c2) < 1e-10, `${c1} vs ${c2}`);
  assert.ok(Math.abs((await linearCKA(x, y, { debiased: true })) - 1) < 1e-10);
  // A non-isotropic scaling changes CKA: the invariance test above can fail.
  const w = { rows: 40, cols: 6, data: x.data.map((v, i) => (i % 6 === 0 ? v * 10 : v)) };
  assert.ok(Math.abs((await linearCKA(x, w)) - 1) > 1e-3);
});

test('layerSimilarity: symmetric within one run, unit diagonal, cross-run matrix matches pairwise CKA', async () => {
  const layers = [0, 1, 2].map((l) => randomMatrix(30, 5, 20 + l));
  // layer 2 = layer 0 rotated: CKA(0, 2) = 1.
  layers[2] = { rows: 30, cols: 5, data: layers[0]!.data.map((_, i) => { const r = Math.floor(i / 5), c = i % 5; return layers[0]!.data[r * 5 + ((c + 1) % 5)]!; }) };
  const src = { layers: [0, 1, 2], rows: 30, readLayer: (l: number) => layers[l]! };
  const res = await layerSimilarity(src, undefined, { measures: ['cka', 'overlap', 'rsa'], k: 5 });
  const m = res.matrices.cka!;
  for (let i = 0; i < 3; i++) {
    assert.ok(Math.abs(m[i * 4]! - 1) < 1e-12);
    assert.ok(Math.abs(res.matrices.overlap![i * 4]! - 1) < 1e-12);
    assert.ok(Math.abs(res.matrices.rsa![i * 4]! - 1) < 1e-12);
    for (let j = 0; j < 3; j++) assert.equal(m[i * 3 + j], m[j * 3 + i]);
  }
  assert.ok(Math.abs(m[2]! - 1) < 1e-12, 'a permutation of coordinates is orthogonal');
  assert.ok(Math.abs(res.matrices.overlap![2]! - 1) < 1e-12, 'same neighbours after a permutation of coordinates');
  const other = { layers: [5, 6], rows: 30, readLayer: (l: number) => layers[l - 5]! };
  const cross = await layerSimilarity(src, other, { measures: ['cka'] });
  assert.deepEqual(cross.layersB, [5, 6]);
  assert.ok(Math.abs(cross.matrices.cka![1]! - (await linearCKA(layers[0]!, layers[1]!))) < 1e-12);
  await assert.rejects(layerSimilarity(src, { layers: [0], rows: 29, readLayer: () => layers[0]! }), /same inputs/);
  await assert.rejects(layerSimilarity(src, undefined, { measures: ['overlap'], k: 30 }), /k must be an integer in 1\.\.29/);
});

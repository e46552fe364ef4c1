import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/geometry/rng.ts';
import { knnGraph } from '../src/geometry/graph.ts';
import { knn } from '../src/geometry/knn.ts';
import { fisherEdgeLength, fisherGraphs, combineEndpoints, EDGE_RULES } from '../src/fisher/graph.ts';
import { metricEllipses, ellipseOf } from '../src/fisher/ellipses.ts';
import { assertPositiveDefinite, denseMetric, lowRankFactor, quadForm, type MetricStore } from '../src/fisher/store.ts';
import { lmHead, exactFisher } from '../src/fisher/metric.ts';
import type { Matrix } from '../src/geometry/matrix.ts';
import { geodesicDistances } from '../src/geometry/geodesic.ts';

function randomPoints(n: number, d: number, seed: number): Matrix<Float32Array> {
  const r = new Rng(seed);
  return { rows: n, cols: d, data: Float32Array.from({ length: n * d }, () => r.normal()) };
}

/** Random SPD-ish metrics A_iᵀA_i (dense store without λ). */
function randomStore(n: number, d: number, seed: number, lambda = 1e-3): MetricStore {
  const r = new Rng(seed);
  const data = new Float32Array(n * d * d);
  for (let i = 0; i < n; i++) {
    const A = Float64Array.from({ length: d * d }, () => r.normal());
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += A[c * d + a] * A[c * d + b];
      data[i * d * d + a * d + b] = s;
    }
  }
  return { n, d, lambda, kind: 'dense', rank: d, data, captured: new Float64Array(n).fill(1) };
}

test('with G = I every rule gives the Euclidean length and the Fisher graph equals the Euclidean graph', async () => {
  const n = 40, d = 5;
  const pts = randomPoints(n, d, 1);
  const store: MetricStore = { n, d, lambda: 1, kind: 'dense', rank: d, data: new Float32Array(n * d * d), captured: new Float64Array(n).fill(1) };
  for (const rule of EDGE_RULES) {
    const g = await fisherGraphs(pts, store, { k: 6, rule });
    assert.deepEqual(g.fisher.indices, g.euclidean.indices);
    for (let e = 0; e < g.fisher.weights.length; e++) assert.ok(Math.abs(g.fisher.weights[e] - g.euclidean.weights[e]) < 1e-5, rule);
  }
});

test('Fisher edge lengths are invariant under a linear reparametrisation x → A x with G → A⁻ᵀ G A⁻¹', async () => {
  const n = 30, d = 4;
  const pts = randomPoints(n, d, 2);
  const store = randomStore(n, d, 3, 0);
  // A = diag(s) · rotation-free shear; test with a diagonal scaling plus one shear entry
  const A = new Float64Array([2, 0.5, 0, 0, 0, 0.5, 0, 0, 0, 0, 3, 0, 0, 0, 0, 1.5]);
  // inverse of upper-triangular A (solve numerically)
  const Ainv = new Float64Array(d * d);
  for (let col = 0; col < d; col++) {
    for (let row = d - 1; row >= 0; row--) {
      let s = row === col ? 1 : 0;
      for (let k = row + 1; k < d; k++) s -= A[row * d + k] * Ainv[k * d + col];
      Ainv[row * d + col] = s / A[row * d + row];
    }
  }
  const pts2 = { rows: n, cols: d, data: new Float32Array(n * d) };
  const data2 = new Float32Array(n * d * d);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) {
      let s = 0;
      for (let b = 0; b < d; b++) s += A[a * d + b] * pts.data[i * d + b];
      pts2.data[i * d + a] = s;
    }
    const G = denseMetric(store, i);
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) {
      let s = 0;
      for (let c = 0; c < d; c++) for (let e = 0; e < d; e++) s += Ainv[c * d + a] * G[c * d + e] * Ainv[e * d + b];
      data2[i * d * d + a * d + b] = s;
    }
  }
  const store2: MetricStore = { ...store, data: data2 };
  for (const rule of EDGE_RULES) {
    const l1 = fisherEdgeLength(pts, store, rule);
    const l2 = fisherEdgeLength(pts2, store2, rule);
    for (const [i, j] of [[0, 1], [3, 17], [5, 29]]) assert.ok(Math.abs(l1(i, j) - l2(i, j)) < 1e-3 * l1(i, j), `${rule} ${l1(i, j)} vs ${l2(i, j)}`);
  }
  // Euclidean lengths are NOT invariant (the check can fail)
  const e1 = Math.hypot(...Array.from({ length: d }, (_, a) => pts.data[a] - pts.data[d + a]));
  const e2 = Math.hypot(...Array.from({ length: d }, (_, a) => pts2.data[a] - pts2.data[d + a]));
  assert.ok(Math.abs(e1 - e2) > 1e-2);
});

test('edge rules: symmetric, ordered min ≤ geometric ≤ length-mean ≤ mean ≤ max', () => {
  for (const [qi, qj] of [[1, 4], [0.3, 0.3], [9, 0.01]]) {
    const v = Object.fromEntries(EDGE_RULES.map((r) => [r, combineEndpoints(r, qi, qj)]));
    for (const r of EDGE_RULES) assert.equal(combineEndpoints(r, qi, qj), combineEndpoints(r, qj, qi));
    assert.ok(v.min <= v.geometric + 1e-15 && v.geometric <= v['length-mean'] + 1e-15 && v['length-mean'] <= v.mean + 1e-15 && v.mean <= v.max + 1e-15);
  }
  assert.throws(() => combineEndpoints('nope' as never, 1, 1), /unknown Fisher edge rule/);
});

test('fisher graph edge weights equal sqrt(Δᵀ (G_i+G_j)/2 Δ) computed directly', async () => {
  const n = 25, d = 3;
  const pts = randomPoints(n, d, 4);
  const store = randomStore(n, d, 5);
  const g = await fisherGraphs(pts, store, { k: 4 });
  for (let i = 0; i < n; i++) for (let o = g.fisher.indptr[i]; o < g.fisher.indptr[i + 1]; o++) {
    const j = g.fisher.indices[o];
    const D = Array.from({ length: d }, (_, a) => pts.data[j * d + a] - pts.data[i * d + a]);
    const Gi = denseMetric(store, i), Gj = denseMetric(store, j);
    let q = 0;
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) q += D[a] * ((Gi[a * d + b] + Gj[a * d + b]) / 2 + (a === b ? store.lambda : 0)) * D[b];
    assert.ok(Math.abs(g.fisher.weights[o] - Math.sqrt(q)) < 1e-9 * Math.sqrt(q) + 1e-12);
  }
  // fisher candidates: each point's k kept neighbours are the k shortest of its pool
  const gf = await fisherGraphs(pts, store, { k: 4, candidates: 'fisher', pool: 3 });
  const len = fisherEdgeLength(pts, store);
  const pool = await knn(pts, { k: 12 });
  for (let i = 0; i < n; i++) {
    const all = Array.from(pool.indices.subarray(i * 12, (i + 1) * 12)).map((j) => len(Math.min(i, j), Math.max(i, j))).sort((a, b) => a - b);
    assert.ok(Math.abs(gf.fisherKnn.distances[i * 4 + 3] - all[3]) < 1e-12);
  }
  assert.ok(knnGraph(gf.fisherKnn).n === n);
});

test('ellipses: G = I with an orthonormal linear map gives circles of radius ρ; the local fit recovers a linear embedding', () => {
  const n = 30, d = 4;
  const pts = randomPoints(n, d, 6);
  const store: MetricStore = { n, d, lambda: 1, kind: 'dense', rank: d, data: new Float32Array(n * d * d), captured: new Float64Array(n).fill(1) };
  const P = new Float64Array([1, 0, 0, 0, 0, 1, 0, 0]);
  const emb = { rows: n, cols: 2, data: Float64Array.from({ length: 2 * n }, (_, t) => pts.data[Math.floor(t / 2) * d + (t % 2)]) };
  const e = metricEllipses(pts, emb, store, { radius: 0.5, linearMap: P });
  for (const x of e) {
    assert.ok(Math.abs(x.rx - 0.5) < 1e-9 && Math.abs(x.ry - 0.5) < 1e-9);
  }
  // a linear embedding y = M x read by the local least-squares map: S_i = Mᵀ(MMᵀ)⁻¹-like; with G = I and
  // points spanning only 2 dims the pull-back equals (M Mᵀ)⁻¹ exactly.
  const pts2 = { rows: n, cols: d, data: new Float32Array(n * d) };
  for (let i = 0; i < n; i++) { pts2.data[i * d] = pts.data[i * d]; pts2.data[i * d + 1] = pts.data[i * d + 1]; }
  const M = [[2, 0, 0, 0], [1, 1, 0, 0]];
  const emb2 = { rows: n, cols: 2, data: new Float64Array(2 * n) };
  for (let i = 0; i < n; i++) for (let r = 0; r < 2; r++) emb2.data[2 * i + r] = M[r][0] * pts2.data[i * d] + M[r][1] * pts2.data[i * d + 1];
  return knn(pts2, { k: 5 }).then((nb) => {
    const e2 = metricEllipses(pts2, emb2, store, { radius: 1, neighbours: nb });
    // M restricted to the 2-D span = [[2,0],[1,1]]; S = M⁻¹, G2 = M⁻ᵀ M⁻¹
    const mi = [[0.5, 0], [-0.5, 1]];
    const a = mi[0][0] ** 2 + mi[1][0] ** 2, b = mi[0][0] * mi[0][1] + mi[1][0] * mi[1][1], c = mi[0][1] ** 2 + mi[1][1] ** 2;
    for (const x of e2) {
      assert.ok(Math.abs(x.metric[0] - a) < 1e-4 && Math.abs(x.metric[1] - b) < 1e-4 && Math.abs(x.metric[2] - c) < 1e-4, JSON.stringify(x.metric));
    }
  });
});

test('ellipseOf: the boundary points satisfy uᵀ M u = ρ²', () => {
  const m: [number, number, number] = [3, 1.2, 1];
  const e = ellipseOf(0, 0, m, 2);
  for (const t of [0, 0.7, 2.1, 4]) {
    const u0 = e.rx * Math.cos(t), v0 = e.ry * Math.sin(t);
    const x = u0 * Math.cos(e.angle) - v0 * Math.sin(e.angle);
    const y = u0 * Math.sin(e.angle) + v0 * Math.cos(e.angle);
    assert.ok(Math.abs(m[0] * x * x + 2 * m[1] * x * y + m[2] * y * y - 4) < 1e-9);
  }
});

test('λ = 0 with a singular metric is refused with a clear error; low-rank factors capture the spectrum', async () => {
  const n = 3, d = 4;
  const data = new Float32Array(n * d * d);
  for (let i = 0; i < n; i++) for (let a = 0; a < 3; a++) data[i * d * d + a * d + a] = 1; // rank 3 in d = 4
  const store: MetricStore = { n, d, lambda: 0, kind: 'dense', rank: d, data, captured: new Float64Array(n).fill(1) };
  assert.throws(() => assertPositiveDefinite(store), /singular/);
  assert.doesNotThrow(() => assertPositiveDefinite({ ...store, lambda: 1e-4 }));
  for (let i = 0; i < n; i++) data[i * d * d + 15] = 2;
  assert.doesNotThrow(() => assertPositiveDefinite(store));
  // low-rank factor of a rank-3 PSD matrix is exact
  const r = new Rng(9);
  const dd = 12;
  const B = Float64Array.from({ length: 3 * dd }, () => r.normal());
  const G = new Float64Array(dd * dd);
  for (let a = 0; a < dd; a++) for (let b = 0; b < dd; b++) for (let c = 0; c < 3; c++) G[a * dd + b] += B[c * dd + a] * B[c * dd + b];
  const f = await lowRankFactor(G, dd, 3);
  assert.ok(Math.abs(f.captured - 1) < 1e-9);
  const fs: MetricStore = { n: 1, d: dd, lambda: 0, kind: 'factor', rank: 3, data: Float32Array.from(f.F), captured: new Float64Array([1]) };
  const delta = Float64Array.from({ length: dd }, () => r.normal());
  let q = 0;
  for (let a = 0; a < dd; a++) for (let b = 0; b < dd; b++) q += delta[a] * G[a * dd + b] * delta[b];
  assert.ok(Math.abs(quadForm(fs, 0, delta) - q) < 1e-4 * q);
  assert.throws(() => assertPositiveDefinite(fs), /singular/);
});

test('NaN logits are reported with the point named', async () => {
  const head = { W: new Float32Array([1, 0, 0, 1, NaN, 0]), V: 3, d: 2 };
  const T = new Float32Array([1, 0, 0, 1]);
  await assert.rejects(() => exactFisher(head, [1, 1], T, 2, 'text 7'), /logits of text 7 are not finite/);
  assert.equal(typeof lmHead, 'function');
});

test('a disconnected Fisher graph gives a clear error, or is joined with Fisher-length edges on request', async () => {
  const n = 12, d = 2;
  const pts = randomPoints(n, d, 11);
  for (let i = 6; i < n; i++) pts.data[i * d] += 100; // two far clusters
  const store = randomStore(n, d, 12);
  const g = await fisherGraphs(pts, store, { k: 2 });
  await assert.rejects(() => geodesicDistances(g.fisher), /connected components/);
  const len = fisherEdgeLength(pts, store);
  const r = await geodesicDistances(g.fisher, { disconnected: 'connect', points: pts, edgeLength: len });
  assert.equal(r.addedEdges.length, 1);
  const [i, j, w] = r.addedEdges[0];
  assert.ok(Math.abs(w - len(Math.min(i, j), Math.max(i, j))) < 1e-12);
});

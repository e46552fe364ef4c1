import { test } from 'node:test';
import assert from 'node:assert/strict';
import { geodesicDistances } from '../src/geometry/geodesic.ts';
import { graphFromEdges, knnGraph, connectedComponents } from '../src/geometry/graph.ts';
import { knn } from '../src/geometry/knn.ts';
import { spearman, condensed } from '../src/geometry/quality.ts';
import { isAtlasError } from '../src/errors.ts';
import { testNormals, gaussianClusters } from './reduce-reference.ts';
import { Rng } from '../src/geometry/rng.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

function floydWarshall(n: number, edges: [number, number, number][]): Float64Array {
  const d = new Float64Array(n * n).fill(Infinity);
  for (let i = 0; i < n; i++) d[i * n + i] = 0;
  for (const [i, j, w] of edges) { d[i * n + j] = Math.min(d[i * n + j], w); d[j * n + i] = Math.min(d[j * n + i], w); }
  for (let k = 0; k < n; k++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (d[i * n + k] + d[k * n + j] < d[i * n + j]) d[i * n + j] = d[i * n + k] + d[k * n + j];
  return d;
}

function randomEdges(n: number, m: number, seed: number): [number, number, number][] {
  const g = testNormals(seed);
  const u = () => 0.5 + Math.atan(g()) / Math.PI;
  const edges: [number, number, number][] = [];
  for (let e = 0; e < m; e++) edges.push([Math.floor(u() * n), Math.floor(u() * n), Math.round(u() * 100) / 10]);
  return edges;
}

test('Dijkstra equals Floyd–Warshall on small random graphs (incl. zero lengths, duplicates, disconnected)', async () => {
  for (const [n, m, seed] of [[1, 0, 1], [10, 25, 2], [40, 60, 3], [60, 300, 4], [50, 30, 5]] as const) {
    const edges = randomEdges(n, m, seed);
    const ref = floydWarshall(n, edges);
    const r = await geodesicDistances(graphFromEdges(n, edges), { disconnected: 'per-component' });
    for (let i = 0; i < n * n; i++) assert.ok(ref[i] === r.distances[i] || Math.abs(ref[i] - r.distances[i]) < 1e-12, `n=${n} entry ${i}: ${ref[i]} vs ${r.distances[i]}`);
    const comps = connectedComponents(graphFromEdges(n, edges));
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assert.equal(Number.isFinite(r.distances[i * n + j]), comps.labels[i] === comps.labels[j]);
  }
});

test('parallel workers give the same matrix as one thread; float32 option', async () => {
  const n = 1200;
  const edges = randomEdges(n, 6000, 11);
  for (let i = 0; i + 1 < n; i++) edges.push([i, i + 1, 5]); // connected
  const g = graphFromEdges(n, edges);
  const one = await geodesicDistances(g, { threads: 1 });
  const two = await geodesicDistances(g, { threads: 2 });
  assert.ok(two.distances.buffer instanceof SharedArrayBuffer);
  assert.deepEqual(Float64Array.from(two.distances), Float64Array.from(one.distances));
  const f32 = await geodesicDistances(g, { threads: 2, dtype: 'float32' });
  assert.ok(f32.distances instanceof Float32Array);
  for (let i = 0; i < n * n; i += 997) assert.equal(f32.distances[i], Math.fround(one.distances[i]));
});

test('geodesics on a sampled swiss roll recover the unrolled distances (Spearman ≥ 0.95)', async () => {
  // scikit-learn's make_swiss_roll: t = 1.5π(1 + 2u), height 21u, uniform u. With k = 8 and 1,200 points the
  // graph has no short-circuit edges between layers of the roll (at 800 points / k = 10 some seeds do).
  const n = 1200;
  const rng = new Rng(2);
  const u = () => rng.next();
  const x: Matrix<Float64Array> = { rows: n, cols: 3, data: new Float64Array(n * 3) };
  const flat: Matrix<Float64Array> = { rows: n, cols: 2, data: new Float64Array(n * 2) };
  const arc = (t: number) => 0.5 * (t * Math.sqrt(1 + t * t) + Math.asinh(t)); // arc length of the spiral r = t
  for (let i = 0; i < n; i++) {
    const t = 1.5 * Math.PI * (1 + 2 * u());
    const h = 21 * u();
    x.data.set([t * Math.cos(t), h, t * Math.sin(t)], i * 3);
    flat.data.set([arc(t), h], i * 2);
  }
  const graph = knnGraph(await knn(x, { k: 8 }));
  const r = await geodesicDistances(graph, { disconnected: 'connect', points: x });
  const truth: number[] = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) truth.push(Math.hypot(flat.data[2 * i] - flat.data[2 * j], flat.data[2 * i + 1] - flat.data[2 * j + 1]));
  const rho = spearman(condensed({ n, data: r.distances }), truth);
  assert.ok(rho >= 0.95, `spearman ${rho}`);
  // The straight-line (Euclidean) distances do much worse: the test can tell geodesics apart.
  const eu: number[] = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) eu.push(Math.hypot(x.data[3 * i] - x.data[3 * j], x.data[3 * i + 1] - x.data[3 * j + 1], x.data[3 * i + 2] - x.data[3 * j + 2]));
  assert.ok(spearman(eu, truth) < rho - 0.1);
});

test('disconnected graphs: error, per-component Infinity, connect by closest pairs (scikit-learn Isomap fix)', async () => {
  const { x } = gaussianClusters(20, 3, 3, 4, 30);
  const graph = knnGraph(await knn(x, { k: 4 }));
  await assert.rejects(geodesicDistances(graph), (e) => isAtlasError(e) && /3 connected components/.test(e.message));
  const per = await geodesicDistances(graph, { disconnected: 'per-component' });
  assert.equal(per.components.count, 3);
  assert.equal(per.distances[0 * 60 + 1], Infinity); // points 0 and 1 are in different clusters (i % 3)
  await assert.rejects(geodesicDistances(graph, { disconnected: 'connect' }), isAtlasError);
  const con = await geodesicDistances(graph, { disconnected: 'connect', points: x });
  assert.equal(con.addedEdges.length, 3); // every pair of the 3 components
  assert.ok(con.distances.every(Number.isFinite));
  // Each added edge is the closest cross-component pair (brute force).
  const lab = con.components.labels;
  for (const [i, j, len] of con.addedEdges) {
    let best = Infinity;
    for (let a = 0; a < 60; a++) for (let b = 0; b < 60; b++) {
      const pair = new Set([lab[a], lab[b]]);
      if (lab[a] === lab[b] || !pair.has(lab[i]) || !pair.has(lab[j])) continue;
      best = Math.min(best, Math.hypot(...[0, 1, 2].map((t) => x.data[a * 3 + t] - x.data[b * 3 + t])));
    }
    assert.ok(Math.abs(len - best) < 1e-9);
  }
  await assert.rejects(geodesicDistances(graph, { disconnected: 'bogus' as never }), isAtlasError);
  await assert.rejects(geodesicDistances({ n: 2, indptr: new Int32Array([0, 1, 2]), indices: new Int32Array([1, 0]), weights: new Float64Array([NaN, NaN]) }), isAtlasError);
});

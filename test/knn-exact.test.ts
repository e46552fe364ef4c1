import { test } from 'node:test';
import assert from 'node:assert/strict';
import { knn, removeIdenticalPoints, truncateKnn, countZeroDistances, type Metric } from '../src/geometry/knn.ts';
import type { Matrix } from '../src/geometry/matrix.ts';
import { AtlasError } from '../src/errors.ts';
import { mulberry32 } from '../src/util/random.ts';
import { naiveKnn } from './reference/naive-knn.ts';

const rng = mulberry32;

function randomMatrix(n: number, d: number, seed: number, f32 = true): Matrix {
  const r = rng(seed);
  const data = f32 ? new Float32Array(n * d) : new Float64Array(n * d);
  for (let i = 0; i < n * d; i++) data[i] = r() * 2 - 1;
  return { rows: n, cols: d, data };
}


function assertSameAsNaive(X: Matrix, r: Awaited<ReturnType<typeof knn>>, metric: Metric): void {
  const ref = naiveKnn(X, r.k, metric);
  for (let i = 0; i < X.rows; i++) {
    assert.deepEqual(Array.from(r.indices.subarray(i * r.k, (i + 1) * r.k)), ref.indices[i], `indices of row ${i}`);
    assert.deepEqual(Array.from(r.distances.subarray(i * r.k, (i + 1) * r.k)), ref.distances[i], `distances of row ${i}`);
  }
}

test('knn equals a naive float64 search exactly (euclidean, GEMM path, several blocks)', async () => {
  const X = randomMatrix(300, 40, 1);
  const r = await knn(X, { k: 12, blockRows: 64 });
  assert.equal(r.n, 300);
  assertSameAsNaive(X, r, 'euclidean');
});

test('knn equals a naive float64 search exactly (cosine, float64 input)', async () => {
  const X = randomMatrix(250, 33, 2, false);
  const r = await knn(X, { k: 7, metric: 'cosine', blockRows: 100 });
  assertSameAsNaive(X, r, 'cosine');
});

test('knn is exact on low-dimensional data at a tiny scale (float32 screen rescaled)', async () => {
  const X = randomMatrix(900, 3, 3, false); // 900²·3 > 2e6: the GEMM path
  for (let i = 0; i < X.data.length; i++) X.data[i] *= 1e-30;
  const r = await knn(X, { k: 5 });
  assertSameAsNaive(X, r, 'euclidean');
});

test('knn with duplicates and exact ties: zero distances, ties broken by lower index', async () => {
  // Integer lattice points (many exactly equal distances) plus repeated rows.
  const n = 800, d = 4; // 800²·4 > 2e6: the GEMM path
  const r0 = rng(4);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n * d; i++) data[i] = Math.floor(r0() * 4);
  for (let t = 0; t < d; t++) { data[10 * d + t] = data[3 * d + t]; data[200 * d + t] = data[3 * d + t]; }
  const X: Matrix = { rows: n, cols: d, data };
  const r = await knn(X, { k: 9, blockRows: 50 });
  assertSameAsNaive(X, r, 'euclidean');
  // Row 3's first neighbours are its copies 10 and 200 (and any lattice coincidences), at distance 0.
  assert.equal(r.distances[3 * 9], 0);
  assert.ok(countZeroDistances(r) > 0);
  const nz = Array.from({ length: n }, (_, i) => r.distances[i * 9]).filter((v) => !Number.isFinite(v) || Number.isNaN(v));
  assert.equal(nz.length, 0);
});

test('knn direct path (tiny input) also matches naive', async () => {
  const X = randomMatrix(30, 5, 5);
  const r = await knn(X, { k: 29 });
  assertSameAsNaive(X, r, 'euclidean');
});

test('knn errors: NaN row named, too few points, bad k, zero row for cosine', async () => {
  const X = randomMatrix(20, 3, 6);
  X.data[7 * 3 + 1] = Number.NaN;
  await assert.rejects(knn(X, { k: 3 }), (e: unknown) => e instanceof AtlasError && /row 7, column 1/.test(e.message));
  const Y = randomMatrix(5, 3, 7);
  await assert.rejects(knn(Y, { k: 5 }), (e: unknown) => e instanceof AtlasError && /5 points/.test(e.message) && /k \+ 1 = 6/.test(e.message));
  await assert.rejects(knn(Y, { k: 0 }), AtlasError);
  Y.data.fill(0, 6, 9);
  await assert.rejects(knn(Y, { k: 2, metric: 'cosine' }), (e: unknown) => e instanceof AtlasError && /row 2/.test(e.message));
  const inf = randomMatrix(10, 2, 8);
  inf.data[5] = Number.POSITIVE_INFINITY;
  await assert.rejects(knn(inf, { k: 2 }), (e: unknown) => e instanceof AtlasError && /row 2, column 1/.test(e.message));
});

test('removeIdenticalPoints keeps first occurrences in order; truncateKnn takes leading columns', async () => {
  const X: Matrix = { rows: 5, cols: 2, data: Float64Array.from([1, 2, 3, 4, 1, 2, -0, 5, 0, 5]) };
  const u = removeIdenticalPoints(X);
  assert.deepEqual(Array.from(u.kept), [0, 1, 3]);
  assert.equal(u.removed, 2);
  assert.deepEqual(Array.from(u.X.data), [1, 2, 3, 4, -0, 5]);
  const Y = randomMatrix(40, 3, 9);
  const r = await knn(Y, { k: 6 });
  const t = truncateKnn(r, 2);
  const r2 = await knn(Y, { k: 2 });
  assert.deepEqual(t.indices, r2.indices);
  assert.deepEqual(t.distances, r2.distances);
});

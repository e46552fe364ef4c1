import { test } from 'node:test';
import assert from 'node:assert/strict';
import { knn, type Metric } from '../src/geometry/knn.ts';
import type { Matrix } from '../src/geometry/matrix.ts';
import { mulberry32 } from '../src/util/random.ts';
import { naiveRows } from './reference/naive-knn.ts';

const rng = mulberry32;


function assertRowsMatch(X: Matrix, r: Awaited<ReturnType<typeof knn>>, rows: number[], metric: Metric): void {
  const ref = naiveRows(X, r.k, rows, metric);
  rows.forEach((i, t) => {
    assert.deepEqual(Array.from(r.indices.subarray(i * r.k, (i + 1) * r.k)), ref[t].indices, `indices of row ${i}`);
    assert.deepEqual(Array.from(r.distances.subarray(i * r.k, (i + 1) * r.k)), ref[t].distances, `distances of row ${i}`);
  });
}

const everyRow = (n: number) => Array.from({ length: n }, (_, i) => i);

test('symmetric (half-product) search equals the row search and the naive search; worker-thread finishing', async () => {
  // N ≥ 4·max(16k + 64, 512) selects the symmetric path; N·k ≥ 1e5 shares the finishing stage with a worker.
  const n = 3400, d = 12;
  const r0 = rng(11);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n * d; i++) data[i] = r0() * 2 - 1;
  const X: Matrix = { rows: n, cols: d, data };
  const sym = await knn(X, { k: 30, blockRows: 700 });
  const rows = await knn(X, { k: 30, strategy: 'rows' });
  const single = await knn(X, { k: 30, threads: 1 });
  assert.deepEqual(sym.indices, rows.indices);
  assert.deepEqual(sym.distances, rows.distances);
  assert.deepEqual(single.indices, rows.indices);
  assert.deepEqual(single.distances, rows.distances);
  assertRowsMatch(X, sym, everyRow(n).filter((i) => i % 7 === 0), 'euclidean');
});

test('symmetric search: cosine on float64 input matches naive', async () => {
  const n = 2200, d = 6;
  const r0 = rng(12);
  const data = new Float64Array(n * d);
  for (let i = 0; i < n * d; i++) data[i] = r0() - 0.3;
  const X: Matrix = { rows: n, cols: d, data };
  const r = await knn(X, { k: 5, metric: 'cosine' });
  assertRowsMatch(X, r, everyRow(n).filter((i) => i % 5 === 0), 'cosine');
});

test('symmetric search with massive ties (overflowing candidate lists are redone) matches naive', async () => {
  // 8 distinct points repeated ~275 times each: every row has more points at distance 0 than its candidate
  // list holds, so the lists overflow and those rows go through the redo path.
  const n = 2200, d = 3;
  const r0 = rng(13);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n * d; i++) data[i] = r0() < 0.5 ? 0 : 1;
  const X: Matrix = { rows: n, cols: d, data };
  const r = await knn(X, { k: 20 });
  assertRowsMatch(X, r, everyRow(n).filter((i) => i % 3 === 0), 'euclidean');
  assert.equal(r.distances[0], 0);
});

test('symmetric search: concurrent searches share the kept worker and each equals the row search', async () => {
  // Both searches are large enough for the worker; the kept worker follows one at a time (in message order)
  // while the main thread interleaves the two at their product awaits.
  const make = (seed: number) => {
    const n = 3400, d = 10;
    const r0 = rng(seed);
    const data = new Float32Array(n * d);
    for (let i = 0; i < n * d; i++) data[i] = r0() * 2 - 1;
    return { rows: n, cols: d, data } as Matrix;
  };
  const [A, B] = [make(21), make(22)];
  const [a, b] = await Promise.all([knn(A, { k: 30 }), knn(B, { k: 30 })]);
  const [ra, rb] = [await knn(A, { k: 30, strategy: 'rows' }), await knn(B, { k: 30, strategy: 'rows' })];
  assert.deepEqual(a.indices, ra.indices);
  assert.deepEqual(a.distances, ra.distances);
  assert.deepEqual(b.indices, rb.indices);
  assert.deepEqual(b.distances, rb.distances);
  assertRowsMatch(A, a, everyRow(A.rows).filter((i) => i % 11 === 0), 'euclidean');
});

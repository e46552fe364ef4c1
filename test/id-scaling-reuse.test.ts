import { test } from 'node:test';
import assert from 'node:assert/strict';
import { idScaling2NN, twoNNFromKnn, seededRandom, roundHalfEven } from '../src/geometry/twonn.ts';
import { knn, type Metric } from '../src/geometry/knn.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

/**
 * The decimation algorithm as first written (and as DADApy runs it): draw each subset, search its own 2-NN,
 * TwoNN on it. idScaling2NN now reads most subsets' neighbours off one full table; the numbers must not change.
 */
async function decimationBySubsetSearch(X: Matrix, metric: Metric, nMin = 10, seed = 42) {
  const n = X.rows;
  const sizes: number[] = [];
  for (let i = 0; i < Math.floor(Math.log2(n)) - 1; i++) {
    const s = roundHalfEven(n / 2 ** i);
    if (s > nMin) sizes.push(s);
  }
  const rand = seededRandom(seed);
  const perm = new Int32Array(n);
  const ids: number[] = [];
  const errors: number[] = [];
  const scales: number[] = [];
  for (const size of sizes) {
    if (size === n) {
      const r = twoNNFromKnn(await knn(X, { k: 2, metric }));
      ids.push(r.id); errors.push(0); scales.push(r.scale);
      continue;
    }
    const nIter = roundHalfEven(n / size);
    const levelIds: number[] = [];
    let scaleSum = 0;
    for (let it = 0; it < nIter; it++) {
      for (let i = 0; i < n; i++) perm[i] = i;
      for (let i = 0; i < size; i++) {
        const j = i + Math.floor(rand() * (n - i));
        const t = perm[i]; perm[i] = perm[j]; perm[j] = t;
      }
      const { cols, data } = X;
      const sub = new (data.constructor as { new (n: number): Float32Array | Float64Array })(size * cols);
      for (let t = 0; t < size; t++) sub.set(data.subarray(perm[t] * cols, (perm[t] + 1) * cols), t * cols);
      const r = twoNNFromKnn(await knn({ rows: size, cols, data: sub }, { k: 2, metric }));
      levelIds.push(r.id);
      scaleSum += r.scale;
    }
    const mean = levelIds.reduce((p, v) => p + v, 0) / nIter;
    const sd = Math.sqrt(levelIds.reduce((p, v) => p + (v - mean) ** 2, 0) / nIter);
    ids.push(mean); errors.push(sd / Math.sqrt(nIter)); scales.push(scaleSum / nIter);
  }
  return { ids, errors, scales };
}

function dataset(n: number, d: number, seed: number, f64: boolean): Matrix {
  const r = seededRandom(seed);
  const data = f64 ? new Float64Array(n * d) : new Float32Array(n * d);
  // A curved 3-D manifold in d dimensions plus small noise.
  for (let i = 0; i < n; i++) {
    const a = r() * 6, b = r() * 2, c = r();
    for (let j = 0; j < d; j++) data[i * d + j] = Math.sin(a * (j + 1) / d) * b + Math.cos(c * j) * 0.5 + 0.01 * (r() - 0.5);
  }
  return { rows: n, cols: d, data };
}

test('idScaling2NN from a reused neighbour table equals searching every subset (euclidean, float32)', async () => {
  const X = dataset(1500, 20, 1, false);
  const ref = await decimationBySubsetSearch(X, 'euclidean');
  // Small table: many points miss their subset neighbours (exact fallback and per-subset search both run).
  for (const table of [undefined, await knn(X, { k: 4 }), await knn(X, { k: 40 })]) {
    const r = await idScaling2NN(X, { knn: table });
    assert.deepEqual(Array.from(r.ids), ref.ids);
    assert.deepEqual(Array.from(r.errors), ref.errors);
    assert.deepEqual(Array.from(r.scales), ref.scales);
  }
});

test('idScaling2NN from a reused table equals searching every subset (cosine, float64)', async () => {
  const X = dataset(900, 12, 2, true);
  const ref = await decimationBySubsetSearch(X, 'cosine');
  const r = await idScaling2NN(X, { metric: 'cosine', knn: await knn(X, { k: 6, metric: 'cosine' }) });
  assert.deepEqual(Array.from(r.ids), ref.ids);
  assert.deepEqual(Array.from(r.scales), ref.scales);
  await assert.rejects(idScaling2NN(X, { knn: await knn(dataset(800, 12, 3, true), { k: 3 }) }), /neighbour table/);
});

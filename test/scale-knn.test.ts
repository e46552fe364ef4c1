import { test } from 'node:test';
import assert from 'node:assert/strict';
import { knn } from '../src/geometry/knn.ts';
import { knnBlock, knnSharded, mergeKnnBlocks, queryBlocks } from '../src/geometry/knn-sharded.ts';
import { knnHnsw, neighbourRecall } from '../src/geometry/knn-hnsw.ts';
import { idProfile } from '../src/geometry/id-profile.ts';
import { toFloat32, type Matrix } from '../src/geometry/matrix.ts';
import { AtlasError } from '../src/errors.ts';
import { gaussianClusters, naiveKnn, randomMatrix } from './reduce-reference.ts';

/** Small-integer coordinates: many exact ties and some duplicate rows, where tie order matters. */
function latticePoints(n: number, d: number, seed: number): Matrix<Float64Array> {
  const r = randomMatrix(n, d, seed);
  // The offset on the first axis keeps rows away from the zero vector (undefined cosine distance).
  const data = Float64Array.from(r.data, (v, i) => Math.round(v * 1.5) + (i % d === 0 ? 5 : 0));
  for (let j = 0; j < d; j++) data[7 * d + j] = data[3 * d + j]; // row 7 duplicates row 3
  return { rows: n, cols: d, data };
}

test('sharded exact k-NN equals the single-process one (indices and distances) for any split, with ties and duplicates', async () => {
  const X = latticePoints(900, 6, 11); // 900²·6 > 2e6: the GEMM path of knn, not its direct loop
  for (const metric of ['euclidean', 'cosine'] as const) {
    const want = await knn(X, { k: 12, metric, threads: 1 });
    for (const [shards, pointBlock] of [[1, undefined], [3, 100], [8, 257]] as const) {
      const got = await knnSharded(X, { k: 12, metric, shards, pointBlock, threads: 1 });
      assert.deepEqual(got.indices, want.indices, `${metric} shards ${shards} block ${pointBlock}: indices`);
      assert.deepEqual(got.distances, want.distances, `${metric} shards ${shards} block ${pointBlock}: distances`);
    }
  }
  // And against the independent brute-force reference.
  const ref = naiveKnn(X, 12);
  const got = await knnSharded(X, { k: 12, shards: 5, pointBlock: 64, threads: 1 });
  assert.deepEqual(got.indices, ref.indices);
  for (let i = 0; i < ref.distances.length; i++) assert.ok(Math.abs(got.distances[i] - ref.distances[i]) <= 1e-12 * (1 + ref.distances[i]));
});

test('one query block is the matching rows of the full table; blocks must tile the rows', async () => {
  const X = toFloat32(randomMatrix(300, 5, 2));
  const full = await knn(X, { k: 7, threads: 1 });
  const b = await knnBlock(X, 120, 180, { k: 7, pointBlock: 50, threads: 1 });
  assert.deepEqual(b.indices, full.indices.subarray(120 * 7, 180 * 7));
  assert.deepEqual(b.distances, full.distances.subarray(120 * 7, 180 * 7));
  const blocks = await Promise.all(queryBlocks(300, 3).map(([lo, hi]) => knnBlock(X, lo, hi, { k: 7, threads: 1 })));
  assert.throws(() => mergeKnnBlocks(blocks.slice(1), 300, 'euclidean', 2 ** -23), (e: Error) => e instanceof AtlasError && /do not tile/.test(e.message));
  assert.deepEqual(mergeKnnBlocks(blocks, 300, 'euclidean', 2 ** -23).indices, full.indices);
});

test('HNSW neighbours carry exact distances, their recall is measured, and profiles record the method', async () => {
  const { x } = gaussianClusters(500, 4, 16, 3, 6);
  const X = toFloat32(x);
  const exact = await knn(X, { k: 10, threads: 1 });
  const approx = await knnHnsw(X, { k: 10, threads: 1 });
  // Measured recall: 1 for the exact table itself, and an honest count for HNSW (by hand on the same sample).
  assert.equal(neighbourRecall(X, exact, { sample: 100 }).recall, 1);
  const r = neighbourRecall(X, approx, { sample: 3000 });
  let hits = 0;
  for (let i = 0; i < X.rows; i++) {
    const truth = new Set(exact.indices.subarray(i * 10, i * 10 + 10));
    for (let t = 0; t < 10; t++) if (truth.has(approx.indices[i * 10 + t])) hits++;
  }
  assert.equal(r.sample, 2000);
  assert.ok(Math.abs(r.recall - hits / 20000) < 1e-12, `recall ${r.recall} vs ${hits / 20000}`);
  assert.ok(r.recall > 0.9, `HNSW recall ${r.recall}`);
  // Wherever HNSW found a true neighbour, its distance is the exact search's, bit for bit.
  for (let i = 0; i < X.rows; i++) {
    const exactDist = new Map<number, number>();
    for (let t = 0; t < 10; t++) exactDist.set(exact.indices[i * 10 + t], exact.distances[i * 10 + t]);
    for (let t = 0; t < 10; t++) {
      const j = approx.indices[i * 10 + t];
      assert.notEqual(j, i);
      if (exactDist.has(j)) assert.equal(approx.distances[i * 10 + t], exactDist.get(j));
      if (t > 0) assert.ok(approx.distances[i * 10 + t] >= approx.distances[i * 10 + t - 1]);
    }
  }
  const layers = [X, X];
  const exactRows = await idProfile(layers, undefined, { k: 10, rangeMax: 8, threads: 1 });
  const hnswRows = await idProfile(layers, undefined, { k: 10, rangeMax: 8, threads: 1, neighbours: { method: 'hnsw', search: (m, k) => knnHnsw(m, { k, threads: 1 }), recallSample: 50 } });
  assert.equal(exactRows[0].neighbours, 'exact');
  assert.equal(exactRows[0].recall, undefined);
  assert.equal(hnswRows[0].neighbours, 'hnsw');
  assert.equal(hnswRows[0].recall?.sample, 50);
  assert.ok(Math.abs(hnswRows[0].twoNN - exactRows[0].twoNN) < 0.1 * exactRows[0].twoNN);
});

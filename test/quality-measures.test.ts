import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trustworthiness, continuity, spearman, pearson, averageRanks, condensed, condensedDistances, shepardData, silhouetteScore } from '../src/geometry/quality.ts';
import { isAtlasError } from '../src/errors.ts';
import { gaussianClusters, pairwiseEuclidean, randomMatrix, silhouetteReference } from './reduce-reference.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

/** scikit-learn's trustworthiness written with full argsort rank matrices (the textbook form). */
function trustReference(x: Matrix, y: Matrix, k: number): number {
  const n = x.rows;
  const dx = pairwiseEuclidean(x), dy = pairwiseEuclidean(y);
  let t = 0;
  for (let i = 0; i < n; i++) {
    const ox = Array.from({ length: n }, (_, j) => j).filter((j) => j !== i).sort((a, b) => dx[i * n + a] - dx[i * n + b] || a - b);
    const rank = new Map(ox.map((j, r) => [j, r + 1]));
    const oy = Array.from({ length: n }, (_, j) => j).filter((j) => j !== i).sort((a, b) => dy[i * n + a] - dy[i * n + b] || a - b);
    for (let r = 0; r < k; r++) t += Math.max(0, rank.get(oy[r])! - k);
  }
  return 1 - (t * 2) / (n * k * (2 * n - 3 * k - 1));
}

test('trustworthiness and continuity equal the textbook rank-matrix computation', async () => {
  const x = randomMatrix(60, 8, 3);
  const y = randomMatrix(60, 2, 4);
  for (const k of [1, 5, 12]) {
    const t = await trustworthiness(x, y, { nNeighbors: k });
    assert.ok(Math.abs(t - trustReference(x, y, k)) < 1e-12, `k=${k}`);
    const c = await continuity(x, y, { nNeighbors: k });
    assert.ok(Math.abs(c - trustReference(y, x, k)) < 1e-12);
    assert.ok(t < 0.9);
  }
  // Perfect embedding (the data itself) → 1; precomputed distances give the same value as euclidean.
  assert.equal(await trustworthiness(x, x, { nNeighbors: 5 }), 1);
  const pre: Matrix<Float64Array> = { rows: 60, cols: 60, data: pairwiseEuclidean(x) };
  assert.ok(Math.abs((await trustworthiness(pre, y, { metric: 'precomputed', nNeighbors: 5 })) - trustReference(x, y, 5)) < 1e-12);
  await assert.rejects(trustworthiness(x, y, { nNeighbors: 30 }), isAtlasError);
  const bad = randomMatrix(60, 2, 4); bad.data[7] = NaN;
  await assert.rejects(trustworthiness(x, bad), (e) => isAtlasError(e) && /row 3/.test(e.message));
});

test('Spearman with average ranks, Pearson, condensed order', () => {
  assert.deepEqual(Array.from(averageRanks([10, 20, 20, 5, 20])), [2, 4, 4, 1, 4]);
  // Hand-computed: ranks a = [1, 2.5, 2.5, 4], b = [1, 2, 3, 4] → ρ = 4.5 / √(4.5·5) = 0.9486832980505138.
  assert.ok(Math.abs(spearman([1, 2, 2, 3], [1, 2, 3, 4]) - 0.9486832980505138) < 1e-15);
  assert.ok(Math.abs(spearman([1, 2, 3, 4], [1, 8, 27, 64]) - 1) < 1e-15);
  assert.ok(Math.abs(pearson([1, 2, 3], [2, 4, 7]) - 0.9933992677987828) < 1e-15);
  assert.throws(() => pearson([1, 1, 1], [1, 2, 3]), isAtlasError);
  assert.throws(() => spearman([1, Infinity], [1, 2]), isAtlasError);
  const x = randomMatrix(7, 3, 1);
  const full = pairwiseEuclidean(x);
  const c = condensed({ rows: 7, cols: 7, data: full });
  const c2 = condensedDistances(x);
  assert.equal(c.length, 21);
  for (let i = 0; i < 21; i++) assert.ok(Math.abs(c[i] - c2[i]) < 1e-14);
  assert.equal(c[6], full[1 * 7 + 2]); // row 0 has 6 pairs, then (1, 2)
});

test('Shepard data: all pairs when few, seeded distinct subsample when many', () => {
  const x = randomMatrix(30, 3, 2), y = randomMatrix(30, 2, 3);
  const dx = { rows: 30, cols: 30, data: pairwiseEuclidean(x) }, dy = { rows: 30, cols: 30, data: pairwiseEuclidean(y) };
  const all = shepardData(dx, dy);
  assert.equal(all.original.length, 435);
  assert.equal(all.subsampled, false);
  for (let t = 0; t < 435; t++) {
    const [i, j] = [all.pairs[2 * t], all.pairs[2 * t + 1]];
    assert.ok(i < j);
    assert.equal(all.original[t], dx.data[i * 30 + j]);
    assert.equal(all.embedded[t], dy.data[i * 30 + j]);
  }
  const sub = shepardData(dx, dy, { maxPairs: 100, seed: 9 });
  assert.equal(sub.subsampled, true);
  assert.equal(new Set(Array.from({ length: 100 }, (_, t) => sub.pairs[2 * t] * 30 + sub.pairs[2 * t + 1])).size, 100);
  assert.deepEqual(shepardData(dx, dy, { maxPairs: 100, seed: 9 }).pairs, sub.pairs);
  assert.notDeepEqual(shepardData(dx, dy, { maxPairs: 100, seed: 10 }).pairs, sub.pairs);
});

test('silhouette score equals the definition', () => {
  const { x, labels } = gaussianClusters(20, 3, 4, 1, 3);
  assert.ok(Math.abs(silhouetteScore(x, labels) - silhouetteReference(x, labels)) < 1e-12);
});

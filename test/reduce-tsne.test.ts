import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tsne, tsneInternals, conditionalProbabilities } from '../src/geometry/tsne.ts';
import { trustworthiness, silhouetteScore } from '../src/geometry/quality.ts';
import { isAtlasError } from '../src/errors.ts';
import { gaussianClusters, randomMatrix } from './reduce-reference.ts';

test('perplexity calibration: each conditional row has entropy log(perplexity) and sums to 1', () => {
  const n = 5, m = 40;
  const d = randomMatrix(n, m, 3).data.map((v) => v * v * 3);
  const p = conditionalProbabilities(d, n, m, 10);
  for (let i = 0; i < n; i++) {
    let s = 0, h = 0;
    for (let j = 0; j < m; j++) { const v = p[i * m + j]; s += v; if (v > 0) h -= v * Math.log(v); }
    assert.ok(Math.abs(s - 1) < 1e-12);
    assert.ok(Math.abs(h - Math.log(10)) < 1e-4, `entropy ${h}`);
  }
});

test('exact KL gradient equals central finite differences of the KL', () => {
  const x = randomMatrix(25, 5, 1);
  const p = tsneInternals.exactJointProbabilities(x, 'euclidean', 5);
  const y = randomMatrix(25, 2, 2).data;
  const grad = new Float64Array(50), scratch = new Float64Array(50);
  tsneInternals.klExact(p, y, 25, 2, 1, grad, 1);
  for (const t of [0, 7, 31, 49]) {
    const h = 1e-6;
    const yp = Float64Array.from(y); yp[t] += h;
    const ym = Float64Array.from(y); ym[t] -= h;
    const fd = (tsneInternals.klExact(p, yp, 25, 2, 1, scratch, 1) - tsneInternals.klExact(p, ym, 25, 2, 1, scratch, 1)) / (2 * h);
    assert.ok(Math.abs(fd - grad[t]) < 1e-6 * Math.max(1, Math.abs(fd)), `coord ${t}: fd ${fd} vs ${grad[t]}`);
  }
});

test('Barnes-Hut with angle 0 and all neighbours equals the exact gradient and KL', async () => {
  const n = 40;
  const x = randomMatrix(n, 4, 5);
  const y = randomMatrix(n, 2, 6).data;
  y[2] = y[0]; y[3] = y[1]; // a duplicate position exercises the self-exclusion rule
  const perplexity = 13; // 3·13 + 1 ≥ n − 1: the sparse P holds every pair
  const pe = tsneInternals.exactJointProbabilities(x, 'euclidean', perplexity);
  const ps = await tsneInternals.sparseJointProbabilities(x, 'euclidean', perplexity);
  const ge = new Float64Array(2 * n), gb = new Float64Array(2 * n);
  const kle = tsneInternals.klExact(pe, y, n, 2, 1, ge, 1);
  const klb = tsneInternals.klBarnesHut(ps, y, n, gb, true, 1, 0, new tsneInternals.QuadTree(n));
  for (let i = 0; i < 2 * n; i++) assert.ok(Math.abs(ge[i] - gb[i]) < 1e-9 * Math.max(1, Math.abs(ge[i])), `grad ${i}: ${ge[i]} vs ${gb[i]}`);
  assert.ok(Math.abs(kle - klb) < 1e-9);
  // angle 0.5 stays close (the approximation the method is about).
  const ga = new Float64Array(2 * n);
  tsneInternals.klBarnesHut(ps, y, n, ga, false, 1, 0.5, new tsneInternals.QuadTree(n));
  let num = 0, den = 0;
  for (let i = 0; i < 2 * n; i++) { num += (ga[i] - ge[i]) ** 2; den += ge[i] ** 2; }
  assert.ok(Math.sqrt(num / den) < 0.05);
});

test('t-SNE separates well-separated Gaussian clusters (BH and exact); fixed seed → identical output', async () => {
  const { x, labels } = gaussianClusters(100, 3, 10, 3, 8, (j) => (j < 2 ? 1 : 0.2)); // 2-D cores: see reduce-umap.test.ts
  const bh = await tsne(x, { seed: 1, maxIter: 500 });
  assert.equal(bh.learningRate, 50);
  assert.ok((await trustworthiness(x, bh.embedding, { nNeighbors: 15 })) >= 0.95);
  assert.ok(silhouetteScore(bh.embedding, labels) > 0.6, `silhouette ${silhouetteScore(bh.embedding, labels)}`);
  assert.ok(bh.klHistory.length >= 10 && bh.klDivergence > 0);
  const again = await tsne(x, { seed: 1, maxIter: 500 });
  assert.deepEqual(again.embedding.data, bh.embedding.data);
  const ex = await tsne(x, { method: 'exact', init: 'random', seed: 2, maxIter: 400 });
  assert.ok((await trustworthiness(x, ex.embedding, { nNeighbors: 15 })) >= 0.95);
  assert.ok(silhouetteScore(ex.embedding, labels) > 0.6);
  // KL decreases after early exaggeration ends (history entries after iteration 250 are unexaggerated).
  const late = ex.klHistory.filter((h) => h.iter >= 299);
  assert.ok(late[late.length - 1].kl <= late[0].kl + 1e-9);
});

test('t-SNE bad input', async () => {
  const x = randomMatrix(20, 3, 1);
  await assert.rejects(tsne(x), (e) => isAtlasError(e) && /perplexity/.test(e.message)); // 30 ≥ 20
  const nan = randomMatrix(50, 3, 1); nan.data[10] = NaN;
  await assert.rejects(tsne(nan, { perplexity: 5 }), isAtlasError);
  await assert.rejects(tsne(randomMatrix(50, 3, 1), { perplexity: 5, nComponents: 3 }), isAtlasError);
  await assert.rejects(tsne(randomMatrix(50, 3, 1), { perplexity: 5, metric: 'precomputed' }), isAtlasError);
});

test('t-SNE Barnes–Hut with worker threads for the repulsion is bit-identical to one thread', async () => {
  const x = randomMatrix(1200, 10, 41, (j) => (j < 3 ? 4 : 1));
  const one = await tsne(x, { seed: 3, maxIter: 300, threads: 1 });
  const two = await tsne(x, { seed: 3, maxIter: 300, threads: 2 });
  assert.deepEqual(two.embedding.data, one.embedding.data);
  assert.equal(two.klDivergence, one.klDivergence);
  assert.ok(!(two.embedding.data.buffer instanceof SharedArrayBuffer), 'the result is a plain array');
});

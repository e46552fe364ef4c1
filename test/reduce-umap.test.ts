import { test } from 'node:test';
import assert from 'node:assert/strict';
import { umap, findAbParams, smoothKnnDist } from '../src/geometry/umap.ts';
import { trustworthiness, silhouetteScore } from '../src/geometry/quality.ts';
import { isAtlasError } from '../src/errors.ts';
import { power, powerTable } from '../src/geometry/umap-sgd.ts';
import { spectralLayout } from '../src/geometry/umap-spectral.ts';
import { symmetricEigen } from '../src/geometry/linalg.ts';
import { Rng } from '../src/geometry/rng.ts';
import { gaussianClusters, randomMatrix } from './reduce-reference.ts';

test('a, b for the default min_dist/spread match umap-learn (1.5769, 0.8951)', () => {
  const { a, b } = findAbParams(1, 0.1);
  assert.ok(Math.abs(a - 1.5769434603113077) < 1e-4, `a ${a}`);
  assert.ok(Math.abs(b - 0.8950608781227859) < 1e-4, `b ${b}`);
  const r = findAbParams(1, 0.5); // umap-learn: a ≈ 0.5830, b ≈ 1.3344
  assert.ok(Math.abs(r.a - 0.583) < 2e-3 && Math.abs(r.b - 1.334) < 2e-3, `${r.a} ${r.b}`);
});

test('smooth_knn_dist: Σ exp(−(d − ρ)/σ) over the k − 1 neighbours equals log2(k)', () => {
  const k = 15, n = 4;
  const d = new Float64Array(n * k);
  for (let i = 0; i < n; i++) for (let t = 1; t < k; t++) d[i * k + t] = 1 + i + t * 0.3 + (t * t) * 0.01;
  const { sigmas, rhos } = smoothKnnDist(d, n, k);
  for (let i = 0; i < n; i++) {
    assert.equal(rhos[i], d[i * k + 1]);
    let s = 0;
    for (let t = 1; t < k; t++) s += Math.exp(-Math.max(0, d[i * k + t] - rhos[i]) / sigmas[i]);
    assert.ok(Math.abs(s - Math.log2(k)) < 1e-4, `row ${i}: ${s}`);
  }
});

test('UMAP on well-separated clusters: trustworthiness ≥ 0.95, separated, seed-deterministic; cosine works', async () => {
  // Connected graph (clusters close enough to link) → spectral init; far clusters → PCA fallback.
  // Blobs with a 2-D core (std 1 in two axes, 0.2 in the other eight): isotropic 10-D noise has no 2-D
  // neighbourhood structure to preserve, so 15-NN trustworthiness would measure the noise, not the method.
  const within = (j: number) => (j < 2 ? 1 : 0.2);
  for (const spread of [2, 12]) {
    const { x, labels } = gaussianClusters(100, 3, 10, 8, spread, within);
    const r = await umap(x, { seed: 3, nEpochs: 200 });
    assert.ok((await trustworthiness(x, r.embedding, { nNeighbors: 15 })) >= 0.95, `spread ${spread}`);
    const sil = silhouetteScore(r.embedding, labels);
    assert.ok(sil > (spread === 12 ? 0.6 : 0.4), `spread ${spread}: silhouette ${sil} init ${r.diagnostics.init}`);
    const again = await umap(x, { seed: 3, nEpochs: 200 });
    assert.deepEqual(again.embedding.data, r.embedding.data);
    assert.match(r.diagnostics.init, spread === 12 ? /^pca/ : /^spectral$/);
  }
  const { x, labels } = gaussianClusters(100, 3, 10, 9, 12, within);
  const c = await umap(x, { metric: 'cosine', seed: 1, nEpochs: 200, init: 'random' });
  assert.ok(silhouetteScore(c.embedding, labels) > 0.5);
});

test('UMAP bad input', async () => {
  await assert.rejects(umap(randomMatrix(10, 3, 1)), (e) => isAtlasError(e) && /nNeighbors/.test(e.message));
  const nan = randomMatrix(40, 3, 1); nan.data[5] = NaN;
  await assert.rejects(umap(nan, { nNeighbors: 5 }), isAtlasError);
  await assert.rejects(umap(randomMatrix(40, 3, 1), { minDist: 2 }), isAtlasError);
  await assert.rejects(umap(randomMatrix(40, 3, 1), { nNeighbors: 5, sgdThreads: 0 }), (e) => isAtlasError(e) && /sgdThreads/.test(e.message));
});

test('power: x^b from float32 bit fields within 1e-10 of Math.pow on float32 x', () => {
  for (const b of [0.8950608781227859, 1.3344, 0.5, 1, 2.3]) {
    const t = powerTable(b);
    let worst = 0;
    for (let i = 0; i < 20000; i++) {
      const x = Math.fround(Math.exp(-60 + (120 * i) / 20000 + Math.sin(i)));
      worst = Math.max(worst, Math.abs(power(x, t) / Math.pow(x, b) - 1));
    }
    assert.ok(worst < 1e-10, `b ${b}: max relative error ${worst}`);
  }
});

test('spectral layout: the eigenvectors after the trivial one of D^-½·A·D^-½, as the dense decomposition', async () => {
  const within = (j: number) => (j < 2 ? 1 : 0.2);
  const { x } = gaussianClusters(100, 3, 10, 8, 2, within);
  const { graph } = await umap(x, { seed: 1, nEpochs: 1 });
  const n = graph.n;
  const deg = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let o = graph.indptr[i]; o < graph.indptr[i + 1]; o++) deg[i] += graph.weights[o];
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let o = graph.indptr[i]; o < graph.indptr[i + 1]; o++) m[i * n + graph.indices[o]] = graph.weights[o] / Math.sqrt(deg[i] * deg[graph.indices[o]]);
  const full = symmetricEigen({ rows: n, cols: n, data: m });
  assert.ok(Math.abs(full.values[0] - 1) < 1e-12);
  const dim = 3;
  // A search space smaller than n, so that the thick restarts run.
  const r = spectralLayout(graph, dim, new Rng(0), { tol: 1e-9, maxBasis: 24 });
  assert.ok(r.maxResidual <= 1e-9, `residual ${r.maxResidual}`);
  for (let c = 0; c < dim; c++) {
    assert.ok(Math.abs(r.values[c] - full.values[c + 1]) < 1e-12, `λ${c + 2}: ${r.values[c]} vs ${full.values[c + 1]}`);
    // Same eigenvector up to sign: |⟨x, v⟩| = 1 (the eigenvalues here are simple; gaps > 1e-3).
    let d = 0;
    for (let i = 0; i < n; i++) d += r.coords[i * dim + c] * full.vectors.data[(c + 1) * n + i];
    assert.ok(Math.abs(Math.abs(d) - 1) < 1e-9, `eigenvector ${c + 2}: |cos| = ${Math.abs(d)}`);
  }
  for (let c = 1; c < dim + 2; c++) assert.ok(full.values[c] - full.values[c + 1] > 1e-3, `gap at ${c}`);
});

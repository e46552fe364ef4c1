/**
 * Geometry routines vs scikit-learn 1.2.1 / scipy 1.10.1 outputs (and numpy transcriptions of DADApy's
 * compute_id_2NN and umap-learn's find_ab_params) committed under test/fixtures/reference/geometry/ by
 * scripts/reference/geometry_fixtures.py. Inputs are the exact arrays the reference saw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pca } from '../src/geometry/pca.ts';
import { truncatedSvd } from '../src/geometry/truncated-svd.ts';
import { knn } from '../src/geometry/knn.ts';
import { trustworthiness, pearson, spearman } from '../src/geometry/quality.ts';
import { knnGraph } from '../src/geometry/graph.ts';
import { geodesicDistances } from '../src/geometry/geodesic.ts';
import { classicalMds, smacof } from '../src/geometry/mds.ts';
import { twoNN } from '../src/geometry/twonn.ts';
import { tsneInternals } from '../src/geometry/tsne.ts';
import { findAbParams } from '../src/geometry/umap.ts';
import {
  assertColumnsCloseUpToSign, assertRelClose, assertRowsCloseUpToSign, assertScalarClose, jsonFixture, npy, npyF64, npyMatrix,
} from './ref-fixtures.ts';

interface Values {
  versions: Record<string, string>;
  pca: { noise_variance: number; n_components: number };
  trustworthiness: Record<string, number>;
  correlation: Record<string, number>;
  shortest_path: { k: number };
  classical_mds: { negative_mass: number; n_components: number };
  smacof: { stress: number; n_iter: number };
  twonn: Record<string, number>;
  tsne: { perplexity: number; kl: number };
  umap_ab: { spread: number; min_dist: number; a: number; b: number }[];
}
const V = jsonFixture<Values>('geometry', 'values.json');

test('PCA (full SVD) matches sklearn PCA(svd_solver="full"): components up to sign, variances, embedding', async () => {
  const x = npyMatrix('geometry', 'pca', 'x.npy');
  const k = V.pca.n_components;
  for (const svdSolver of ['full', 'covariance_eigh'] as const) {
    const { model, embedding } = await pca(x, { nComponents: k, svdSolver });
    const what = `pca ${svdSolver}`;
    assertRowsCloseUpToSign(model.components, npyMatrix('geometry', 'pca', 'components.npy'), 1e-9, `${what} components`);
    assertRelClose(model.explainedVariance, npyF64('geometry', 'pca', 'explained_variance.npy'), 1e-10, `${what} explained_variance`);
    assertRelClose(model.explainedVarianceRatio, npyF64('geometry', 'pca', 'explained_variance_ratio.npy'), 1e-10, `${what} explained_variance_ratio`);
    assertRelClose(model.singularValues, npyF64('geometry', 'pca', 'singular_values.npy'), 1e-10, `${what} singular_values`);
    assertRelClose(model.mean, npyF64('geometry', 'pca', 'mean.npy'), 1e-12, `${what} mean`);
    assertScalarClose(model.noiseVariance, V.pca.noise_variance, 1e-9, `${what} noise_variance`);
    assertColumnsCloseUpToSign(embedding, npyMatrix('geometry', 'pca', 'embedding.npy'), 1e-9, `${what} embedding`);
  }
});

test('TruncatedSVD (exact) matches sklearn TruncatedSVD(algorithm="arpack")', async () => {
  const x = npyMatrix('geometry', 'tsvd', 'x.npy');
  const r = await truncatedSvd(x, { nComponents: 5, algorithm: 'exact' });
  assertRowsCloseUpToSign(r.components, npyMatrix('geometry', 'tsvd', 'components.npy'), 1e-8, 'tsvd components');
  assertRelClose(r.singularValues, npyF64('geometry', 'tsvd', 'singular_values.npy'), 1e-10, 'tsvd singular_values');
  assertRelClose(r.explainedVariance, npyF64('geometry', 'tsvd', 'explained_variance.npy'), 1e-9, 'tsvd explained_variance');
  assertRelClose(r.explainedVarianceRatio, npyF64('geometry', 'tsvd', 'explained_variance_ratio.npy'), 1e-9, 'tsvd explained_variance_ratio');
  assertColumnsCloseUpToSign(r.embedding, npyMatrix('geometry', 'tsvd', 'embedding.npy'), 1e-8, 'tsvd embedding');
  // randomized (sklearn's default, n_iter 5): the same subspace on this well-separated spectrum
  const rr = await truncatedSvd(x, { nComponents: 5, seed: 0 });
  assertRelClose(rr.singularValues, npyF64('geometry', 'tsvd', 'singular_values.npy'), 1e-7, 'tsvd randomized singular_values');
});

for (const metric of ['euclidean', 'cosine'] as const) {
  test(`exact kNN (k = 10, ${metric}) matches sklearn NearestNeighbors(algorithm="brute")`, async () => {
    const x = npyMatrix('geometry', `knn_${metric}`, 'x.npy');
    const r = await knn(x, { k: 10, metric, threads: 1 });
    const ind = npy('geometry', `knn_${metric}`, 'indices.npy');
    assert.deepEqual(Array.from(r.indices), Array.from(ind.data), 'neighbour indices');
    assertRelClose(r.distances, npyF64('geometry', `knn_${metric}`, 'distances.npy'), 1e-12, `${metric} distances`);
  });
}

test('trustworthiness matches sklearn.manifold.trustworthiness (euclidean and cosine, k = 5 and 12)', async () => {
  const x = npyMatrix('geometry', 'trustworthiness', 'x.npy');
  const y = npyMatrix('geometry', 'trustworthiness', 'y.npy');
  for (const metric of ['euclidean', 'cosine'] as const) {
    for (const k of [5, 12]) {
      const t = await trustworthiness(x, y, { nNeighbors: k, metric });
      assertScalarClose(t, V.trustworthiness[`${metric}_k${k}`]!, 1e-12, `trustworthiness ${metric} k=${k}`);
    }
  }
});

test('Pearson and Spearman match scipy.stats (ties take average ranks)', () => {
  const a = npyF64('geometry', 'correlation', 'a.npy');
  const b = npyF64('geometry', 'correlation', 'b.npy');
  const at = npyF64('geometry', 'correlation', 'a_tied.npy');
  const bt = npyF64('geometry', 'correlation', 'b_tied.npy');
  assertScalarClose(pearson(a, b), V.correlation.pearson!, 1e-12, 'pearson');
  assertScalarClose(spearman(a, b), V.correlation.spearman!, 1e-12, 'spearman');
  assertScalarClose(pearson(at, bt), V.correlation.pearson_tied!, 1e-12, 'pearson (ties)');
  assertScalarClose(spearman(at, bt), V.correlation.spearman_tied!, 1e-12, 'spearman (ties)');
});

test('geodesic distances on a kNN graph match scipy shortest_path(method="D", directed=False) on kneighbors_graph', async () => {
  const x = npyMatrix('geometry', 'shortest_path', 'x.npy');
  const table = await knn(x, { k: V.shortest_path.k, threads: 1 });
  const g = await geodesicDistances(knnGraph(table), { threads: 1 });
  assertRelClose(g.distances, npyF64('geometry', 'shortest_path', 'distances.npy'), 1e-9, 'geodesic distances');
});

test('classical MDS matches a numpy Torgerson scaling (eigenvalues, embedding up to sign, negative mass)', async () => {
  const d = npyMatrix('geometry', 'classical_mds', 'd.npy');
  const r = await classicalMds(d, { nComponents: V.classical_mds.n_components, negativeMass: true });
  assertRelClose(r.eigenvalues, npyF64('geometry', 'classical_mds', 'eigenvalues.npy'), 1e-10, 'cmds eigenvalues');
  assertColumnsCloseUpToSign(r.embedding, npyMatrix('geometry', 'classical_mds', 'embedding.npy'), 1e-8, 'cmds embedding');
  assertScalarClose(r.negativeMass!, V.classical_mds.negative_mass, 1e-8, 'cmds negative mass');
});

test('SMACOF from a fixed init matches sklearn.manifold.smacof (stress, iterations, embedding)', () => {
  const d = npyMatrix('geometry', 'smacof', 'd.npy');
  const init = npyMatrix('geometry', 'smacof', 'init.npy');
  const r = smacof(d, { nComponents: 2, init });
  assert.equal(r.nIter, V.smacof.n_iter, 'iterations');
  assertScalarClose(r.stress, V.smacof.stress, 1e-9, 'stress');
  assertRelClose(r.embedding.data, npyF64('geometry', 'smacof', 'embedding.npy'), 1e-9, 'smacof embedding');
});

test('TwoNN matches the numpy transcription of DADApy compute_id_2NN (base 0.9 / 0.5, ml, fraction 1)', async () => {
  const x = npyMatrix('geometry', 'twonn', 'x.npy');
  const t = V.twonn;
  const base = await twoNN(x, { threads: 1 });
  assertScalarClose(base.id, t['id_base_0.9']!, 1e-8, 'id base 0.9');
  assertScalarClose((await twoNN(x, { muFraction: 0.5, threads: 1 })).id, t['id_base_0.5']!, 1e-8, 'id base 0.5');
  assertScalarClose((await twoNN(x, { algorithm: 'ml', threads: 1 })).id, t.id_ml!, 1e-10, 'id ml');
  assertScalarClose((await twoNN(x, { muFraction: 1, threads: 1 })).id, t['id_base_1.0']!, 1e-10, 'id base 1.0 → ml');
  // DADApy's code averages r1 and r2 (np.mean(distances[:, [1, 2]])); the spec's prose says "mean r2".
  assertScalarClose(base.scale, t.scale_mean_r1_r2!, 1e-10, 'scale');
  const r1 = npyF64('geometry', 'twonn', 'r1.npy');
  const r2 = npyF64('geometry', 'twonn', 'r2.npy');
  assertRelClose(base.mus, r2.map((v, i) => v / r1[i]!), 1e-7, 'mu = r2/r1');
});

test('t-SNE joint probabilities and KL gradient match sklearn _joint_probabilities / _kl_divergence', async () => {
  const x = npyMatrix('geometry', 'tsne', 'x.npy');
  const n = x.rows;
  const pRef = npyF64('geometry', 'tsne', 'p.npy');
  const p = tsneInternals.exactJointProbabilities(x, 'euclidean', V.tsne.perplexity);
  // sklearn rounds the squared distances to float32 before the perplexity search (measured 5e-8 here).
  assertRelClose(p, pRef, 1e-6, 'exact P');
  // KL and gradient at a fixed embedding, evaluated on sklearn's own P (isolates the KL code).
  const y = npyF64('geometry', 'tsne', 'y.npy');
  const grad = new Float64Array(n * 2);
  const kl = tsneInternals.klExact(pRef, y, n, 2, 1, grad, 1);
  assertScalarClose(kl, V.tsne.kl, 1e-10, 'KL divergence');
  assertRelClose(grad, npyF64('geometry', 'tsne', 'grad.npy'), 1e-10, 'KL gradient');
  // Barnes–Hut input: P on the 3·perplexity + 1 nearest neighbours.
  const sp = await tsneInternals.sparseJointProbabilities(x, 'euclidean', V.tsne.perplexity, 1);
  const dense = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let o = sp.indptr[i]!; o < sp.indptr[i + 1]!; o++) dense[i * n + sp.indices[o]!] = sp.values[o]!;
  assertRelClose(dense, npyF64('geometry', 'tsne', 'p_nn.npy'), 1e-6, 'kNN P');
});

test("UMAP a, b match umap-learn's find_ab_params (scipy curve_fit)", () => {
  for (const { spread, min_dist: minDist, a, b } of V.umap_ab) {
    const r = findAbParams(spread, minDist);
    // both are least-squares fits stopped at a tolerance (measured ≤ 4e-7 apart)
    assertScalarClose(r.a, a, 2e-6, `a (spread ${spread}, min_dist ${minDist})`);
    assertScalarClose(r.b, b, 2e-6, `b (spread ${spread}, min_dist ${minDist})`);
  }
});

/**
 * UMAP vs umap-learn 0.5.3: embedding quality on the inputs umap-learn saw (test/fixtures/reference/umap/, by
 * scripts/reference/umap_fixtures.py, seeds 0–2). The random streams differ, so the embeddings are compared by
 * what UMAP is for: trustworthiness (k = 15) and the overlap of the 15-NN sets before and after, computed here
 * for both sides by the same code. Ours (seed 0) must reach umap-learn's worst seed within a margin smaller than
 * the gap to an under-trained embedding (50 epochs instead of 500 falls short on both inputs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { umap } from '../src/geometry/umap.ts';
import { trustworthiness } from '../src/geometry/quality.ts';
import { dataOverlap } from '../src/geometry/overlap.ts';
import type { Matrix } from '../src/geometry/matrix.ts';
import { jsonFixture, npyMatrix } from './ref-fixtures.ts';

const V = jsonFixture<{ cases: string[]; seeds: number[]; params: { n_neighbors: number; min_dist: number; n_components: number } }>('umap', 'values.json');
const K = 15;
/** Below umap-learn's worst seed by at most this (its seeds spread by ~0.006 in trustworthiness, ~0.01 in overlap). */
const MARGIN = { trust: 0.005, overlap: 0.01 };

async function quality(x: Matrix, y: Matrix): Promise<{ trust: number; overlap: number }> {
  return { trust: await trustworthiness(x, y, { nNeighbors: K }), overlap: (await dataOverlap(x, y, { k: K })).overlap };
}

for (const name of V.cases) {
  test(`UMAP on '${name}' preserves neighbourhoods as well as umap-learn (trustworthiness, ${K}-NN overlap)`, async () => {
    const x = npyMatrix('umap', name, 'x.npy');
    const ref = { trust: Infinity, overlap: Infinity };
    for (const s of V.seeds) {
      const q = await quality(x, npyMatrix('umap', name, `seed${s}.npy`));
      ref.trust = Math.min(ref.trust, q.trust);
      ref.overlap = Math.min(ref.overlap, q.overlap);
    }
    const opts = { nNeighbors: V.params.n_neighbors, minDist: V.params.min_dist, nComponents: V.params.n_components, seed: 0 };
    // One SGD thread (reproducible) and two (lock-free, as umap-learn's parallel mode).
    for (const sgdThreads of [1, 2]) {
      const ours = await quality(x, (await umap(x, { ...opts, sgdThreads })).embedding);
      const msg = `ours (${sgdThreads} SGD threads) ${JSON.stringify(ours)}, umap-learn's worst seed ${JSON.stringify(ref)}`;
      assert.ok(ours.trust >= ref.trust - MARGIN.trust, msg);
      assert.ok(ours.overlap >= ref.overlap - MARGIN.overlap, msg);
    }
    // The margins separate a converged embedding from an under-trained one.
    const short = await quality(x, (await umap(x, { ...opts, nEpochs: 50 })).embedding);
    assert.ok(short.trust < ref.trust - MARGIN.trust || short.overlap < ref.overlap - MARGIN.overlap, `50 epochs ${JSON.stringify(short)} passes too`);
  });
}

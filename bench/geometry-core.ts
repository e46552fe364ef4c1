/**
 * Geometry-core benchmark (issue 5): PCA on 10,000×768 (auto → covariance_eigh, and randomized), exact k-NN
 * k = 15 on 10,000×768, UMAP and t-SNE (Barnes-Hut) on 2,000×50, all-pairs geodesics on a 5,000-node k-NN
 * graph (k = 15, union). Synthetic float32 data; prints wall time, RSS after each step and the peak RSS.
 * `LATENT_ATLAS_BENCH_SCALE` (e.g. 0.2) shrinks every N for a quick run.
 */
import { resourceUsage } from 'node:process';
import { pca } from '../src/geometry/pca.ts';
import { knn } from '../src/geometry/knn.ts';
import { symmetricEigenDC } from '../src/geometry/eigen-dc.ts';
import { gemm } from '../src/geometry/gemm.ts';
import { umap } from '../src/geometry/umap.ts';
import { tsne } from '../src/geometry/tsne.ts';
import { knnGraph } from '../src/geometry/graph.ts';
import { geodesicDistances } from '../src/geometry/geodesic.ts';
import { trustworthiness } from '../src/geometry/quality.ts';
import { Rng } from '../src/geometry/rng.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

/** Low-rank (rank 20) signal plus noise, float32: a stand-in for hidden states. */
function lowRankData(n: number, d: number, seed: number): Matrix<Float32Array> {
  const rng = new Rng(seed);
  const rank = 20;
  const basis = Float64Array.from({ length: rank * d }, () => rng.normal());
  const data = new Float32Array(n * d);
  const coef = new Float64Array(rank);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < rank; r++) coef[r] = rng.normal() * (rank - r);
    for (let j = 0; j < d; j++) {
      let v = rng.normal();
      for (let r = 0; r < rank; r++) v += coef[r] * basis[r * d + j];
      data[i * d + j] = v;
    }
  }
  return { rows: n, cols: d, data };
}

/** 10 Gaussian clusters with 2-D cores in d dimensions. */
function clusters(n: number, d: number, seed: number): Matrix<Float32Array> {
  const rng = new Rng(seed);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = i % 10;
    for (let j = 0; j < d; j++) data[i * d + j] = rng.normal() * (j < 2 ? 1 : 0.3) + (j === c + 2 ? 6 : 0);
  }
  return { rows: n, cols: d, data };
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

async function timed<T>(label: string, f: () => Promise<T>, extra: (out: T) => string = () => ''): Promise<T> {
  const t = performance.now();
  const out = await f();
  const s = (performance.now() - t) / 1000;
  console.log(`  ${label.padEnd(40)} ${s.toFixed(2).padStart(7)} s  rss ${mb(process.memoryUsage().rss)}  ${extra(out)}`);
  return out;
}

export async function benchGeometryCore(): Promise<void> {
  const scale = Number(process.env.LATENT_ATLAS_BENCH_SCALE) > 0 ? Number(process.env.LATENT_ATLAS_BENCH_SCALE) : 1;
  const big = Math.round(10000 * scale);
  const mid = Math.round(2000 * scale);
  const graphN = Math.round(5000 * scale);
  console.log(`geometry-core (scale ${scale})`);
  const x = lowRankData(big, 768, 1);
  const x64: Matrix<Float64Array> = { rows: Math.min(big, 2000), cols: 768, data: Float64Array.from(x.data.subarray(0, Math.min(big, 2000) * 768)) };
  const cov = await gemm(x64, x64, { transposeA: true });
  await timed('symmetric eigen 768×768 (all vectors)', () => symmetricEigenDC(cov), (r) => `λ0 ${r.values[0].toExponential(3)}`);
  await timed(`PCA ${big}×768 k=50 auto`, () => pca(x, { nComponents: 50 }), (r) => `solver ${r.model.solver}, top ratio ${r.model.explainedVarianceRatio[0].toFixed(4)}`);
  await timed(`PCA ${big}×768 k=50 randomized`, () => pca(x, { nComponents: 50, svdSolver: 'randomized' }), (r) => `top ratio ${r.model.explainedVarianceRatio[0].toFixed(4)}`);
  await timed(`k-NN ${big}×768 k=15 (knn.ts)`, () => knn(x, { k: 15 }));
  await timed(`k-NN ${big}×768 k=30 (knn.ts)`, () => knn(x, { k: 30 }));
  const c = clusters(mid, 50, 2);
  const um = await timed(`UMAP ${mid}×50 (500 epochs)`, () => umap(c, { seed: 0 }), (r) => `init ${r.diagnostics.init}`);
  const ts = await timed(`t-SNE BH ${mid}×50 (1000 iter)`, () => tsne(c, { seed: 0 }), (r) => `KL ${r.klDivergence.toFixed(3)}, ${r.nIter + 1} iter`);
  await timed('trustworthiness k=15 (UMAP, t-SNE)', async () => [await trustworthiness(c, um.embedding, { nNeighbors: 15 }), await trustworthiness(c, ts.embedding, { nNeighbors: 15 })], (t) => t.map((v) => v.toFixed(4)).join(', '));
  const g = clusters(graphN, 50, 3);
  const graph = await timed(`k-NN graph ${graphN}×50 k=15 (union)`, async () => knnGraph(await knn(g, { k: 15 })), (gr) => `${gr.indices.length} directed edges`);
  await timed(`all-pairs geodesics ${graphN} nodes (2 workers)`, () => geodesicDistances(graph, { disconnected: 'connect', points: g }), (r) => `${r.components.count} components, ${mb(r.distances.byteLength)} matrix`);
  console.log(`  peak RSS ${mb(resourceUsage().maxRSS * 1024)}`);
}

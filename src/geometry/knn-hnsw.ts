/**
 * Approximate k-NN through an HNSW graph (the optional npm package `usearch`, which ships prebuilt binaries:
 * nothing is compiled or downloaded at install). For N in the millions, where exact k-NN is O(N²).
 *
 * The graph only chooses the neighbours; their distances are then recomputed exactly in float64 with the same
 * conventions as the exact search (euclidean √Σ, cosine 1 − cos), and each row is sorted by (distance, index).
 * So a neighbour that HNSW finds carries exactly the distance the exact search would give it, and estimators
 * see the same numbers wherever HNSW was right. How often it was right is measured, never assumed:
 * `hnswRecall` compares against exact k-NN of a random sample of query rows, and every ID result made from
 * HNSW neighbours records that recall next to the method.
 */
import { AtlasError } from '../errors.ts';
import { assertFinite, type KnnResult, type Metric } from './knn.ts';
import { exactDistance, rowNorms } from './knn-select.ts';
import type { Matrix } from './matrix.ts';
import { mulberry32 } from '../util/random.ts';

export type NeighbourMethod = 'exact' | 'hnsw';

export interface HnswOptions {
  k: number;
  metric?: Metric;
  /** Graph degree M (default 16). */
  connectivity?: number;
  /** Candidate list size while building (default 128). */
  expansionAdd?: number;
  /** Candidate list size while searching (default max(64, 2k)). */
  expansionSearch?: number;
  /** 0 = all cores (default). */
  threads?: number;
}

type USearch = typeof import('usearch');

async function loadUsearch(): Promise<USearch> {
  try {
    return await import('usearch');
  } catch (e) {
    throw new AtlasError(`--neighbours hnsw needs the optional package usearch (${(e as Error).message.split('\n')[0]})`, { hint: 'npm install usearch, or use --neighbours exact' });
  }
}

export async function knnHnsw(X: Matrix, o: HnswOptions): Promise<KnnResult> {
  const { rows: n, cols: d } = X;
  const k = o.k;
  const metric = o.metric ?? 'euclidean';
  if (!Number.isInteger(k) || k < 1 || k + 1 > n) throw new AtlasError(`k must be an integer in 1..${n - 1} for ${n} points, got ${k}`, { field: 'k' });
  assertFinite(X);
  const usearch = await loadUsearch();
  const index = new usearch.Index({
    dimensions: d,
    metric: metric === 'cosine' ? usearch.MetricKind.Cos : usearch.MetricKind.L2sq,
    quantization: usearch.ScalarKind.F32,
    connectivity: o.connectivity ?? 16,
    expansion_add: o.expansionAdd ?? 128,
    expansion_search: o.expansionSearch ?? Math.max(64, 2 * k),
    multi: false,
  });
  const data = X.data instanceof Float32Array ? X.data : Float32Array.from(X.data);
  const keys = new BigUint64Array(n);
  for (let i = 0; i < n; i++) keys[i] = BigInt(i);
  index.add(keys, data, o.threads ?? 0);
  const found = index.search(data, k + 1, o.threads ?? 0) as import('usearch').BatchMatches;
  const norms = rowNorms(X);
  const indices = new Int32Array(n * k);
  const distances = new Float64Array(n * k);
  const row: { j: number; dist: number }[] = [];
  for (let i = 0; i < n; i++) {
    row.length = 0;
    const count = Number(found.counts[i]);
    for (let t = 0; t < count && row.length < k; t++) {
      const j = Number(found.keys[i * (k + 1) + t]);
      if (j !== i) row.push({ j, dist: exactDistance(X, i, j, metric, norms) });
    }
    if (row.length < k) throw new AtlasError(`HNSW found only ${row.length} of ${k} neighbours for point ${i}`, { field: 'neighbours', hint: 'raise the search expansion or use --neighbours exact' });
    row.sort((a, b) => a.dist - b.dist || a.j - b.j);
    row.forEach((r, t) => { indices[i * k + t] = r.j; distances[i * k + t] = r.dist; });
  }
  return { n, k, metric, indices, distances, dtypeEps: X.data instanceof Float32Array ? 2 ** -23 : 2 ** -52 };
}

export interface RecallResult {
  /** Mean over the sampled rows of |HNSW neighbours ∩ exact neighbours| / k. */
  recall: number;
  sample: number;
  k: number;
}

/**
 * recall@k of a neighbour table against exact k-NN on `sample` random rows (seeded). The exact neighbours of a
 * sampled row are found by measuring its float64 distance to every point (O(N·d) per row) and taking the k
 * smallest by (distance, index), the exact search's order.
 */
export function neighbourRecall(X: Matrix, approx: KnnResult, o: { sample?: number; seed?: number } = {}): RecallResult {
  const n = X.rows;
  const k = approx.k;
  const sample = Math.min(n, o.sample ?? 200);
  const rand = mulberry32(o.seed ?? 0);
  const picked = new Set<number>();
  while (picked.size < sample) picked.add(Math.floor(rand() * n));
  const norms = rowNorms(X);
  const dist = new Float64Array(n);
  const order = new Int32Array(n);
  let hits = 0;
  for (const i of picked) {
    for (let j = 0; j < n; j++) { dist[j] = j === i ? Infinity : exactDistance(X, i, j, approx.metric, norms); order[j] = j; }
    const truth = new Set(Array.from(order).sort((a, b) => dist[a] - dist[b] || a - b).slice(0, k));
    for (let t = 0; t < k; t++) if (truth.has(approx.indices[i * k + t])) hits++;
  }
  return { recall: hits / (sample * k), sample, k };
}

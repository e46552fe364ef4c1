/**
 * Fisher and Euclidean k-nearest-neighbour graphs on the same points.
 *
 * Edge length of the Fisher graph between x_i and x_j, Δ = x_j − x_i, q_i = Δᵀ G_i Δ (λ included):
 * - 'mean' (default):       sqrt(Δᵀ ((G_i + G_j)/2) Δ) = sqrt((q_i + q_j)/2) — the average endpoint metric
 *                           (the rule; a trapezoid rule for ∫ sqrt(γ'ᵀ G γ') along the straight segment);
 * - 'length-mean':          (sqrt q_i + sqrt q_j)/2 — the mean of the two endpoint lengths;
 * - 'geometric':            (q_i q_j)^(1/4) — the geometric mean of the endpoint lengths;
 * - 'max' / 'min':          the longer / shorter endpoint length (upper / lower envelope).
 * All are symmetric in (i, j) and equal the Euclidean length when G_i = G_j = I. A midpoint rule (the metric
 * at (x_i + x_j)/2) needs a model evaluation per edge and is not offered.
 *
 * Candidates: 'euclidean' takes each point's k Euclidean nearest neighbours (then re-weights the edges);
 * 'fisher' takes a pool of `pool`·k Euclidean neighbours and keeps the k shortest under the Fisher rule — an
 * approximation of Fisher nearest neighbours that is exact when the pool contains them.
 */
import { AtlasError } from '../errors.ts';
import { knnGraph, type CsrGraph, type EdgeLength } from '../geometry/graph.ts';
import { knn, type KnnResult } from '../geometry/knn.ts';
import type { Matrix } from '../geometry/matrix.ts';
import { quadForm, type MetricStore } from './store.ts';

export type EdgeRule = 'mean' | 'length-mean' | 'geometric' | 'max' | 'min';
export const EDGE_RULES: readonly EdgeRule[] = ['mean', 'length-mean', 'geometric', 'max', 'min'];

export function combineEndpoints(rule: EdgeRule, qi: number, qj: number): number {
  switch (rule) {
    case 'mean': return Math.sqrt((qi + qj) / 2);
    case 'length-mean': return (Math.sqrt(qi) + Math.sqrt(qj)) / 2;
    case 'geometric': return Math.sqrt(Math.sqrt(qi * qj));
    case 'max': return Math.sqrt(Math.max(qi, qj));
    case 'min': return Math.sqrt(Math.min(qi, qj));
    default: throw new AtlasError(`unknown Fisher edge rule '${String(rule)}'`, { field: 'edge-rule', hint: `use one of ${EDGE_RULES.join(', ')}` });
  }
}

function delta(points: Matrix, i: number, j: number): Float64Array {
  const d = points.cols;
  const out = new Float64Array(d);
  for (let a = 0; a < d; a++) out[a] = points.data[j * d + a] - points.data[i * d + a];
  return out;
}

/** The Fisher length of the straight segment x_i → x_j under `rule`. */
export function fisherEdgeLength(points: Matrix, store: MetricStore, rule: EdgeRule = 'mean'): EdgeLength {
  if (store.n !== points.rows || store.d !== points.cols) throw new AtlasError(`metrics are for ${store.n} points in d = ${store.d} but the points are ${points.rows} × ${points.cols}`, { field: 'metrics' });
  combineEndpoints(rule, 1, 1); // validates the rule name up front
  return (i, j) => {
    const dl = delta(points, i, j);
    const len = combineEndpoints(rule, quadForm(store, i, dl), quadForm(store, j, dl));
    if (!Number.isFinite(len)) throw new AtlasError(`the Fisher length of edge (${i}, ${j}) is ${len}`, { field: 'metrics', hint: 'the stored metrics hold NaN/Inf values' });
    return len;
  };
}

export interface FisherGraphOptions {
  k?: number;
  rule?: EdgeRule;
  candidates?: 'euclidean' | 'fisher';
  /** Pool size factor for 'fisher' candidates. Default 3. */
  pool?: number;
  symmetrize?: 'union' | 'mutual';
  threads?: number;
}

export interface FisherGraphs {
  euclidean: CsrGraph;
  fisher: CsrGraph;
  euclideanKnn: KnnResult;
  fisherKnn: KnnResult;
}

export async function fisherGraphs(points: Matrix, store: MetricStore, opts: FisherGraphOptions = {}): Promise<FisherGraphs> {
  const k = opts.k ?? 10;
  const rule = opts.rule ?? 'mean';
  const len = fisherEdgeLength(points, store, rule);
  const euclideanKnn = await knn(points, { k, threads: opts.threads });
  let fisherKnn = euclideanKnn;
  if ((opts.candidates ?? 'euclidean') === 'fisher') {
    const poolK = Math.min(points.rows - 1, Math.max(k, Math.round(k * (opts.pool ?? 3))));
    const pool = await knn(points, { k: poolK, threads: opts.threads });
    const n = points.rows;
    const indices = new Int32Array(n * k);
    const distances = new Float64Array(n * k);
    for (let i = 0; i < n; i++) {
      const cand = Array.from(pool.indices.subarray(i * poolK, (i + 1) * poolK), (j) => ({ j, l: len(Math.min(i, j), Math.max(i, j)) }));
      cand.sort((a, b) => a.l - b.l || a.j - b.j);
      for (let t = 0; t < k; t++) {
        indices[i * k + t] = cand[t].j;
        distances[i * k + t] = cand[t].l;
      }
    }
    fisherKnn = { ...pool, k, indices, distances };
  }
  return {
    euclidean: knnGraph(euclideanKnn, { symmetrize: opts.symmetrize }),
    fisher: knnGraph(fisherKnn, { symmetrize: opts.symmetrize, edgeLength: len }),
    euclideanKnn,
    fisherKnn,
  };
}

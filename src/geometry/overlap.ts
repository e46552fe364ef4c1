import { AtlasError } from '../errors.ts';
import { neighboursOf, isKnnResult, type KnnResult, type Metric } from './knn.ts';
import type { Matrix } from './matrix.ts';

/**
 * Neighbourhood overlaps, DADApy's definitions (`NeighborhoodOverlap.return_label_overlap`,
 * `return_data_overlap`).
 *
 * Label overlap: for each point, the fraction of its k nearest neighbours (self excluded) that share its
 * label. DADApy's default average is weighted (`weighted=True`): point i has weight 1/(size of its class),
 * so every class counts equally; `weighted: false` gives the plain mean. With `classFraction`, each class c
 * uses k_c = max(1, ⌊|c|·classFraction⌋) neighbours instead of k.
 * Data overlap: for each point, |N_k^A(i) ∩ N_k^B(i)|/k for two representations A, B of the same points;
 * the plain mean over points.
 * Inputs are coordinates (neighbours computed here) or precomputed neighbour tables with ≥ k columns.
 */
export type Label = number | string | bigint | boolean;

export interface LabelOverlapOptions {
  /** Neighbours per point. Default 30 (the default; recent DADApy versions require it explicitly). */
  k?: number;
  /** Class-balanced average (DADApy default true). */
  weighted?: boolean;
  /** Per-class k as a fraction of the class size; overrides k. */
  classFraction?: number;
  metric?: Metric;
  threads?: number;
}

export interface OverlapResult {
  /** The (weighted) mean overlap. */
  overlap: number;
  /** Each point's overlap. */
  perPoint: Float64Array;
}

export function labelOverlapFromKnn(r: KnnResult, labels: ArrayLike<Label>, opts: LabelOverlapOptions = {}): OverlapResult {
  if (labels.length !== r.n) {
    throw new AtlasError(`${labels.length} labels for ${r.n} points`, { field: 'labels', hint: 'give one label per point, in row order' });
  }
  const counts = new Map<Label, number>();
  for (let i = 0; i < r.n; i++) counts.set(labels[i], (counts.get(labels[i]) ?? 0) + 1);
  const kOf = new Map<Label, number>();
  let maxK = opts.k ?? 30;
  if (opts.classFraction !== undefined) {
    const f = opts.classFraction;
    if (!(f > 0 && f <= 1)) throw new AtlasError(`classFraction must be in (0, 1], got ${f}`, { field: 'classFraction' });
    maxK = 0;
    for (const [label, c] of counts) {
      const kc = Math.max(1, Math.floor(c * f));
      kOf.set(label, kc);
      maxK = Math.max(maxK, kc);
    }
  } else if (!Number.isInteger(maxK) || maxK < 1) {
    throw new AtlasError(`k must be a positive integer, got ${maxK}`, { field: 'k' });
  }
  if (r.k < maxK) throw new AtlasError(`label overlap with k = ${maxK} needs ${maxK} neighbours per point, the table has ${r.k}`, { field: 'knn', hint: `compute knn with k ≥ ${maxK}` });
  const perPoint = new Float64Array(r.n);
  let num = 0;
  let den = 0;
  const weighted = opts.weighted ?? true;
  for (let i = 0; i < r.n; i++) {
    const li = labels[i];
    const ki = kOf.get(li) ?? maxK;
    let same = 0;
    for (let t = 0; t < ki; t++) if (labels[r.indices[i * r.k + t]] === li) same++;
    perPoint[i] = same / ki;
    const w = weighted ? 1 / counts.get(li)! : 1;
    num += w * perPoint[i];
    den += w;
  }
  return { overlap: num / den, perPoint };
}

export async function labelOverlap(input: Matrix | KnnResult, labels: ArrayLike<Label>, opts: LabelOverlapOptions = {}): Promise<OverlapResult> {
  const n = isKnnResult(input) ? input.n : input.rows;
  if (labels.length !== n) throw new AtlasError(`${labels.length} labels for ${n} points`, { field: 'labels', hint: 'give one label per point, in row order' });
  let k = opts.k ?? 30;
  if (opts.classFraction !== undefined && opts.classFraction > 0) {
    const counts = new Map<Label, number>();
    for (let i = 0; i < n; i++) counts.set(labels[i], (counts.get(labels[i]) ?? 0) + 1);
    k = Math.max(...[...counts.values()].map((c) => Math.max(1, Math.floor(c * opts.classFraction!))));
  }
  return labelOverlapFromKnn(await neighboursOf(input, k, { metric: opts.metric, threads: opts.threads }), labels, opts);
}

export interface DataOverlapOptions {
  /** Neighbours per point. Default 30 (DADApy). */
  k?: number;
  metric?: Metric;
  threads?: number;
}

export function dataOverlapFromKnn(a: KnnResult, b: KnnResult, k = 30): OverlapResult {
  if (a.n !== b.n) throw new AtlasError(`the two representations have ${a.n} and ${b.n} points; overlap needs the same points`, { field: 'XB' });
  if (!Number.isInteger(k) || k < 1) throw new AtlasError(`k must be a positive integer, got ${k}`, { field: 'k' });
  if (a.k < k || b.k < k) throw new AtlasError(`data overlap with k = ${k} needs ${k} neighbours per point, the tables have ${a.k} and ${b.k}`, { field: 'knn', hint: `compute knn with k ≥ ${k}` });
  const perPoint = new Float64Array(a.n);
  const mark = new Int32Array(a.n).fill(-1);
  let sum = 0;
  for (let i = 0; i < a.n; i++) {
    for (let t = 0; t < k; t++) mark[a.indices[i * a.k + t]] = i;
    let shared = 0;
    for (let t = 0; t < k; t++) if (mark[b.indices[i * b.k + t]] === i) shared++;
    perPoint[i] = shared / k;
    sum += perPoint[i];
  }
  return { overlap: sum / a.n, perPoint };
}

export async function dataOverlap(A: Matrix | KnnResult, B: Matrix | KnnResult, opts: DataOverlapOptions = {}): Promise<OverlapResult> {
  const k = opts.k ?? 30;
  const o = { metric: opts.metric, threads: opts.threads };
  return dataOverlapFromKnn(await neighboursOf(A, k, { ...o, field: 'XA' }), await neighboursOf(B, k, { ...o, field: 'XB' }), k);
}

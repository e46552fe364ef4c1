import { writeFile } from 'node:fs/promises';
import { AtlasError } from '../errors.ts';
import { knn, removeIdenticalPoints, countZeroDistances, type KnnResult, type Metric } from './knn.ts';
import type { Matrix } from './matrix.ts';
import { twoNNFromKnn } from './twonn.ts';
import { grideRanks, idScalingGride } from './gride.ts';
import { labelOverlapFromKnn, dataOverlapFromKnn, type Label } from './overlap.ts';
import type { LayerDiagnostics } from './layer-diagnostics.ts';
import type { LayerProbeResult } from '../mri/layer-probe.ts';
import { neighbourRecall, type NeighbourMethod } from './knn-hnsw.ts';
import { PROFILE_OPTIONS } from './defaults.ts';

/**
 * Per-layer geometry profile: for every layer's N×d representation of the same N inputs, TwoNN and Gride
 * (scaling over n2 = 2 … rangeMax) intrinsic dimension, label overlap (when labels are given) and the data
 * overlap with the next layer. One exact k-NN table per layer serves all of them (k = max(rangeMax, k_overlap));
 * only the previous layer's neighbour indices are kept, so layers can be streamed one at a time.
 *
 * Identical rows (common in activations: e.g. the first token of every sequence) would make the ratio
 * estimators infinite. Overlaps use the full table (duplicates are ordinary neighbours at distance 0);
 * the ID estimators are computed on the layer with duplicate rows removed, and the row reports how many.
 */
export interface IdProfileOptions {
  /** Neighbours for the label and consecutive-layer overlaps. Default 30. */
  k?: number;
  /** Gride range (largest n2). Default 64. */
  rangeMax?: number;
  /** TwoNN fraction of μ kept. Default 0.9. */
  muFraction?: number;
  metric?: Metric;
  threads?: number;
  /** Called after each layer (progress reporting). */
  onLayer?: (row: IdProfileRow) => void;
  /**
   * How neighbour tables are found. Default: exact k-NN (knn.ts). An approximate method (e.g. HNSW,
   * knn-hnsw.ts) gets its recall@k against exact k-NN measured on `recallSample` rows of every layer.
   */
  neighbours?: { method: NeighbourMethod; search(X: Matrix, k: number): Promise<KnnResult>; recallSample?: number };
}

export interface IdProfileRow {
  layer: number;
  n: number;
  /** Identical rows dropped before the ID estimates. */
  duplicatesRemoved: number;
  twoNN: number;
  twoNNScale: number;
  /** Gride at each scale (n1 = n2/2). */
  gride: { n2: number; id: number; error: number; scale: number }[];
  /** Class-weighted label overlap (DADApy default), when labels were given. */
  labelOverlap?: number;
  /** Data overlap with the next layer (absent on the last layer). */
  overlapNext?: number;
  /** Residual norm, anisotropy, outlier dimensions, effective rank (geometry/layer-diagnostics.ts), when computed. */
  diagnostics?: LayerDiagnostics;
  /** Linear probe accuracy with its CI and the shuffled-label control (mri/layer-probe.ts), when computed. */
  probe?: LayerProbeResult;
  /** Which neighbour search the estimates rest on. */
  neighbours: NeighbourMethod;
  /** recall@k of the approximate neighbours against exact k-NN on a sample (absent for exact). */
  recall?: { recall: number; sample: number; k: number };
}

function tableOf(r: KnnResult, k: number): KnnResult {
  return r.k === k ? r : { ...r, k, indices: slice(r.indices, r, k) as Int32Array, distances: slice(r.distances, r, k) as Float64Array };
}

function slice(a: Int32Array | Float64Array, r: KnnResult, k: number): Int32Array | Float64Array {
  const out = new (a.constructor as { new (n: number): Int32Array | Float64Array })(r.n * k);
  for (let i = 0; i < r.n; i++) out.set(a.subarray(i * r.k, i * r.k + k), i * k);
  return out;
}

export async function idProfile(layers: Iterable<Matrix> | AsyncIterable<Matrix>, labels?: ArrayLike<Label>, opts: IdProfileOptions = {}): Promise<IdProfileRow[]> {
  const kOverlap = opts.k ?? PROFILE_OPTIONS.k.default;
  const rangeMax = opts.rangeMax ?? PROFILE_OPTIONS.rangeMax.default;
  const rows: IdProfileRow[] = [];
  let previous: KnnResult | undefined;
  let layer = 0;
  const method = opts.neighbours?.method ?? 'exact';
  const search = opts.neighbours?.search ?? ((X: Matrix, k: number) => knn(X, { k, metric: opts.metric, threads: opts.threads }));
  for await (const X of layers) {
    if (previous && previous.n !== X.rows) {
      throw new AtlasError(`layer ${layer} has ${X.rows} rows but layer ${layer - 1} has ${previous.n}; a profile needs the same inputs in every layer`, { field: `layers[${layer}]` });
    }
    const kNeeded = Math.min(X.rows - 1, Math.max(kOverlap, grideRanks(X.rows, rangeMax).at(-1)!));
    const nn = await search(X, kNeeded);
    let idTable = nn;
    let removed = 0;
    if (countZeroDistances(nn) > 0) {
      const unique = removeIdenticalPoints(X);
      removed = unique.removed;
      idTable = await search(unique.X, Math.min(unique.X.rows - 1, kNeeded));
    }
    const two = twoNNFromKnn(idTable, { muFraction: opts.muFraction });
    const gr = await idScalingGride(idTable, { rangeMax });
    const row: IdProfileRow = {
      layer, n: X.rows, duplicatesRemoved: removed, twoNN: two.id, twoNNScale: two.scale, neighbours: method,
      gride: Array.from(gr.ranks, (n2, i) => ({ n2, id: gr.ids[i], error: gr.errors[i], scale: gr.scales[i] })),
    };
    if (method !== 'exact') row.recall = neighbourRecall(X, nn, { sample: opts.neighbours?.recallSample });
    const overlapTable = tableOf(nn, Math.min(kOverlap, nn.k));
    if (labels) row.labelOverlap = labelOverlapFromKnn(overlapTable, labels, { k: overlapTable.k }).overlap;
    if (previous) rows[rows.length - 1].overlapNext = dataOverlapFromKnn(previous, overlapTable, overlapTable.k).overlap;
    rows.push(row);
    opts.onLayer?.(row);
    previous = overlapTable;
    layer++;
  }
  return rows;
}

/** One line per layer; Gride columns per scale (gride_n2_<n2>, gride_err_n2_<n2>, gride_scale_n2_<n2>). */
export function profileToCsv(rows: IdProfileRow[]): string {
  const ranks = rows[0]?.gride.map((g) => g.n2) ?? [];
  const header = ['layer', 'n', 'duplicates_removed', 'twonn_id', 'twonn_scale',
    ...ranks.flatMap((r) => [`gride_n2_${r}`, `gride_err_n2_${r}`, `gride_scale_n2_${r}`]), 'label_overlap', 'overlap_next',
    'mean_norm', 'anisotropy', 'outlier_dims', 'mean_kurtosis', 'effective_rank',
    'probe_accuracy', 'probe_ci_low', 'probe_ci_high', 'control_accuracy', 'selectivity'];
  const fmt = (v: number | undefined) => (v === undefined ? '' : String(v));
  const lines = rows.map((r) => [r.layer, r.n, r.duplicatesRemoved, r.twoNN, r.twoNNScale,
    ...ranks.flatMap((n2) => { const g = r.gride.find((x) => x.n2 === n2); return [g?.id, g?.error, g?.scale]; }),
    r.labelOverlap, r.overlapNext,
    r.diagnostics?.meanNorm, r.diagnostics?.anisotropy, r.diagnostics?.outlierDims.length, r.diagnostics?.meanKurtosis, r.diagnostics?.effectiveRank,
    r.probe?.accuracy, r.probe?.ci[0], r.probe?.ci[1], r.probe?.control?.accuracy, r.probe?.selectivity].map(fmt).join(','));
  return [header.join(','), ...lines].join('\n') + '\n';
}

export async function writeProfile(rows: IdProfileRow[], path: string): Promise<void> {
  const text = path.endsWith('.csv') ? profileToCsv(rows) : JSON.stringify({ layers: rows }, null, 2) + '\n';
  await writeFile(path, text);
}

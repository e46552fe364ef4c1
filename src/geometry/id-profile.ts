import { writeFile } from 'node:fs/promises';
import { AtlasError } from '../errors.ts';
import { knn, removeIdenticalPoints, countZeroDistances, isKnnResult, type KnnResult, type Metric } from './knn.ts';
import type { Matrix } from './matrix.ts';
import { twoNNFromKnn, idScaling2NN, roundHalfEven } from './twonn.ts';
import { idScaling2NNFromTable, plateauLevel, scalingLevels, PAPER_ID_SCALE, type IdScaleRule, type ScalingLevel } from './profile-scale.ts';
import { grideRanks, idScalingGride } from './gride.ts';
import { labelOverlapFromKnn, dataOverlapFromKnn, type Label } from './overlap.ts';
import type { LayerDiagnostics } from './layer-diagnostics.ts';
import type { LayerProbeResult } from '../mri/layer-probe.ts';
import { neighbourRecall, type NeighbourMethod } from './knn-hnsw.ts';
import { PROFILE_OPTIONS } from './defaults.ts';
import { MIN_DISTINCT_POINTS, duplicateWarning, neighbourCount, singleLabelWarning } from './sample-checks.ts';

/**
 * Per-layer geometry profile: for every layer's N×d representation of the same N inputs, TwoNN and Gride
 * (scaling over n2 = 2 … rangeMax) intrinsic dimension, label overlap (when labels are given) and the data
 * overlap with the next layer. One exact k-NN table per layer serves all of them (k = max(rangeMax, k_overlap));
 * only the previous layer's neighbour indices are kept, so layers can be streamed one at a time.
 *
 * Identical rows (common in activations: e.g. the first token of every sequence) would make the ratio
 * estimators infinite. Overlaps use the full table (duplicates are ordinary neighbours at distance 0);
 * the ID estimators are computed on the layer with duplicate rows removed, and the row reports how many and
 * warns. A layer with fewer than MIN_DISTINCT_POINTS distinct rows is not estimable: its IDs are NaN with the
 * reason in `notEstimable`, and the other layers are still computed. A k above n − 1 is clamped with a warning
 * and the k used is recorded (`kUsed`); a single label gives no label overlap (undefined) and a warning.
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
  /** TwoNN decimation scaling per layer (DADApy return_id_scaling_2NN). Default true. */
  scaling2NN?: boolean;
  /** Which estimate is reported as the layer's ID (profile-scale.ts). Default 'full'. */
  idScale?: IdScaleRule;
  /** Relative tolerance of the plateau rule. Default 0.1. */
  plateauTol?: number;
  /** At least this many neighbours in the table handed to `onTable` (e.g. 50 for --save-neighbours). */
  tableK?: number;
  /** Called with each layer's full neighbour table (position in the input order) and the overlap table. */
  onTable?: (position: number, table: KnnResult, overlapTable: KnnResult) => void | Promise<void>;
}

/** The ID reported for a layer under `--id-scale`. */
export interface ReportedId {
  rule: IdScaleRule;
  id: number;
  error: number;
  /** Points per subset of the chosen decimation level (N for 'full'). */
  size: number;
  /** For 'plateau': the subset sizes at the plateau's ends (most points first). */
  plateau?: [number, number];
}

export interface IdProfileRow {
  layer: number;
  n: number;
  /** Identical rows dropped before the ID estimates. */
  duplicatesRemoved: number;
  /** Distinct rows (n − duplicatesRemoved). */
  distinct: number;
  /** Neighbours actually used by the overlaps (the requested k, clamped to n − 1). */
  kUsed: number;
  /** Why the ID estimates are NaN, when they are. */
  notEstimable?: string;
  /** What the user must know about this layer's numbers (duplicates, clamped k, a single label). */
  warnings: string[];
  twoNN: number;
  twoNNScale: number;
  /** TwoNN by decimation: subset size N, N/2, N/4, … (DADApy return_id_scaling_2NN); NaN where not computable. */
  twoNNScaling?: ScalingLevel[];
  /** The estimate `--id-scale` reports. */
  idReported?: ReportedId;
  /** Gride at each scale (n1 = n2/2). */
  gride: { n2: number; id: number; error: number; scale: number }[];
  /** Class-weighted label overlap (DADApy default), when labels were given. */
  labelOverlap?: number;
  /** Data overlap with the next layer (absent on the last layer). */
  overlapNext?: number;
  /** Data overlap with the last layer (the paper's Fig. 2 last row). */
  overlapLast?: number;
  /** Data overlap with the same layer of the run given to `profile --compare`. */
  overlapOther?: number;
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

export async function idProfile(layers: Iterable<Matrix | KnnResult> | AsyncIterable<Matrix | KnnResult>, labels?: ArrayLike<Label>, opts: IdProfileOptions = {}): Promise<IdProfileRow[]> {
  const kOverlap = opts.k ?? PROFILE_OPTIONS.k.default;
  const rangeMax = opts.rangeMax ?? PROFILE_OPTIONS.rangeMax.default;
  const rule = opts.idScale ?? 'full';
  const scaling = opts.scaling2NN ?? true;
  const rows: IdProfileRow[] = [];
  let previous: KnnResult | undefined;
  let layer = 0;
  const method = opts.neighbours?.method ?? 'exact';
  const search = opts.neighbours?.search ?? ((X: Matrix, k: number) => knn(X, { k, metric: opts.metric, threads: opts.threads }));
  for await (const input of layers) {
    const fromTable = isKnnResult(input);
    const rowsIn = fromTable ? input.n : input.rows;
    if (previous && previous.n !== rowsIn) {
      throw new AtlasError(`layer ${layer} has ${rowsIn} rows but layer ${layer - 1} has ${previous.n}; a profile needs the same inputs in every layer`, { field: `layers[${layer}]` });
    }
    const warnings: string[] = [];
    const kUse = neighbourCount(kOverlap, rowsIn);
    if (kUse.warning) warnings.push(kUse.warning);
    let nn: KnnResult;
    let idTable: KnnResult | undefined;
    let idX: Matrix | undefined;
    let removed = 0;
    let notEstimable: string | undefined;
    if (fromTable) {
      nn = input;
      if (nn.k < kUse.used) throw new AtlasError(`layer ${layer}: the neighbour table has ${nn.k} neighbours per point, the overlaps need k = ${kUse.used}`, { field: 'k', hint: `lower --k to ≤ ${nn.k} or store larger tables` });
      const zeros = countZeroDistances(nn);
      if (zeros > 0) notEstimable = `${zeros} points have a twin at distance 0 in the neighbour table; remove duplicates before computing the tables (an ID needs distinct points)`;
      else idTable = nn;
    } else {
      const X = input;
      const kNeeded = Math.min(X.rows - 1, Math.max(kUse.used, opts.tableK ?? 0, grideRanks(X.rows, rangeMax).at(-1)!));
      nn = await search(X, kNeeded);
      idTable = nn;
      idX = X;
      if (countZeroDistances(nn) > 0) {
        const unique = removeIdenticalPoints(X);
        removed = unique.removed;
        idX = unique.X;
        idTable = unique.X.rows >= MIN_DISTINCT_POINTS
          ? await search(unique.X, Math.min(unique.X.rows - 1, kNeeded))
          : undefined;
      }
    }
    const distinct = rowsIn - removed;
    const dup = duplicateWarning(`layer ${layer}`, rowsIn, distinct);
    if (!idTable && !notEstimable) notEstimable = `only ${distinct} distinct point${distinct === 1 ? '' : 's'} (an ID estimate needs ${MIN_DISTINCT_POINTS})`;
    if (notEstimable) warnings.push(`layer ${layer}: intrinsic dimension not estimable: ${notEstimable}`);
    else if (dup) warnings.push(`${dup}; the ID estimates use the ${distinct} distinct points`);
    const two = idTable ? twoNNFromKnn(idTable, { muFraction: opts.muFraction }) : { id: NaN, scale: NaN };
    const gr = idTable ? await idScalingGride(idTable, { rangeMax }) : undefined;
    const row: IdProfileRow = {
      layer, n: rowsIn, duplicatesRemoved: removed, distinct, kUsed: kUse.used, twoNN: two.id, twoNNScale: two.scale, neighbours: fromTable ? 'exact' : method,
      gride: gr ? Array.from(gr.ranks, (n2, i) => ({ n2, id: gr.ids[i], error: gr.errors[i], scale: gr.scales[i] })) : [],
      warnings,
    };
    if (notEstimable) row.notEstimable = notEstimable;
    // DADApy's decimation keeps only subsets of more than n_min = 10 points: smaller layers have no curve.
    const levelsExist = idTable !== undefined && idTable.n > SCALING_N_MIN;
    if (idTable && !levelsExist && rule !== 'full') {
      if (rule === 'paper') throw new AtlasError(`--id-scale paper needs at least 128 points; layer ${layer} has ${idTable.n}`, { field: 'idScale', hint: 'use more inputs, or --id-scale full' });
      warnings.push(`layer ${layer}: ${idTable.n} points give no TwoNN decimation curve (subsets must have > ${SCALING_N_MIN} points); reporting the full-data TwoNN`);
      row.idReported = { rule, id: two.id, error: 0, size: idTable.n };
    }
    if (idTable && levelsExist && (scaling || rule !== 'full')) {
      const levels = await twoNNScalingOf(idTable, idX, opts);
      if (scaling) {
        row.twoNNScaling = levels;
        if (fromTable && levels.some((l) => Number.isNaN(l.id))) warnings.push(`layer ${layer}: TwoNN decimation levels below ${levels.filter((l) => !Number.isNaN(l.id)).at(-1)?.size} points need the coordinates (the subsets' neighbours lie beyond the table's k = ${idTable.k}); they are NaN`);
      }
      row.idReported = await reportedId(rule, two.id, idTable, idX, levels, opts, layer, warnings);
    }
    if (!fromTable && method !== 'exact') row.recall = neighbourRecall(input, nn, { sample: opts.neighbours?.recallSample });
    const overlapTable = tableOf(nn, Math.min(kUse.used, nn.k));
    const oneLabel = labels ? singleLabelWarning(labels) : undefined;
    if (oneLabel) warnings.push(oneLabel);
    else if (labels) row.labelOverlap = labelOverlapFromKnn(overlapTable, labels, { k: overlapTable.k }).overlap;
    if (previous) rows[rows.length - 1].overlapNext = dataOverlapFromKnn(previous, overlapTable, overlapTable.k).overlap;
    await opts.onTable?.(layer, nn, overlapTable);
    rows.push(row);
    opts.onLayer?.(row);
    previous = overlapTable;
    layer++;
  }
  return rows;
}

/** DADApy's `n_min` of return_id_scaling_2NN (twonn.ts's default). */
const SCALING_N_MIN = 10;

/** The decimation curve of one layer: from the coordinates when present, else read off the table. */
async function twoNNScalingOf(table: KnnResult, X: Matrix | undefined, opts: IdProfileOptions, muFraction = opts.muFraction, nMin?: number): Promise<ScalingLevel[]> {
  const r = X
    ? await idScaling2NN(X, { knn: table, muFraction, metric: opts.metric, threads: opts.threads, nMin })
    : idScaling2NNFromTable(table, { muFraction, nMin });
  return scalingLevels(r);
}

async function reportedId(rule: IdScaleRule, full: number, table: KnnResult, X: Matrix | undefined, levels: ScalingLevel[], opts: IdProfileOptions, layer: number, warnings: string[]): Promise<ReportedId> {
  const n = table.n;
  if (rule === 'plateau') {
    const p = plateauLevel(levels, opts.plateauTol ?? 0.1);
    if (p) {
      const l = levels[p.index]!;
      return { rule, id: l.id, error: l.error, size: l.size, plateau: [levels[p.start]!.size, levels[p.end]!.size] };
    }
    warnings.push(`layer ${layer}: no plateau in the TwoNN decimation curve within ${(opts.plateauTol ?? 0.1) * 100}%; reporting the full-data TwoNN`);
    return { rule, id: full, error: 0, size: n };
  }
  if (rule === 'paper') {
    const size = roundHalfEven(n / PAPER_ID_SCALE.decimation);
    if (size < 4) throw new AtlasError(`--id-scale paper needs subsets of ≥ 4 points at 1/${PAPER_ID_SCALE.decimation} decimation; layer ${layer} has ${n} points`, { field: 'idScale', hint: `use at least ${4 * PAPER_ID_SCALE.decimation} inputs, or --id-scale plateau` });
    const paper = await twoNNScalingOf(table, X, opts, PAPER_ID_SCALE.muFraction, 3);
    const l = paper.find((x) => x.size === size);
    if (!l || Number.isNaN(l.id)) throw new AtlasError(`--id-scale paper: the 1/${PAPER_ID_SCALE.decimation} decimation of layer ${layer} (${size} points per subset) needs the coordinates; a neighbour table of k = ${table.k} does not reach the subsets' neighbours`, { field: 'idScale', hint: 'profile the activations (--activations), or use --id-scale full|plateau' });
    return { rule, id: l.id, error: l.error, size };
  }
  return { rule, id: full, error: 0, size: n };
}

/** One line per layer; Gride columns per scale (gride_n2_<n2>, gride_err_n2_<n2>, gride_scale_n2_<n2>). */
export function profileToCsv(rows: IdProfileRow[]): string {
  const ranks = rows.reduce((best, r) => (r.gride.length > best.length ? r.gride : best), [] as IdProfileRow['gride']).map((g) => g.n2);
  // TwoNN decimation columns by decimation factor 2^i (level i holds ≈ N/2^i points per subset).
  const decim = Array.from({ length: Math.max(0, ...rows.map((r) => r.twoNNScaling?.length ?? 0)) }, (_, i) => 2 ** i);
  const header = ['layer', 'n', 'duplicates_removed', 'twonn_id', 'twonn_scale',
    ...ranks.flatMap((r) => [`gride_n2_${r}`, `gride_err_n2_${r}`, `gride_scale_n2_${r}`]), 'label_overlap', 'overlap_next',
    'mean_norm', 'anisotropy', 'outlier_dims', 'mean_kurtosis', 'effective_rank',
    'probe_accuracy', 'probe_ci_low', 'probe_ci_high', 'control_accuracy', 'selectivity',
    'id_reported', 'id_reported_err', 'id_reported_size', 'overlap_last', 'overlap_other',
    ...decim.flatMap((f) => [`twonn_dec_${f}`, `twonn_dec_err_${f}`, `twonn_dec_scale_${f}`, `twonn_dec_size_${f}`]), 'distinct', 'k_used'];
  const fmt = (v: number | undefined) => (v === undefined ? '' : String(v));
  const lines = rows.map((r) => [r.layer, r.n, r.duplicatesRemoved, r.twoNN, r.twoNNScale,
    ...ranks.flatMap((n2) => { const g = r.gride.find((x) => x.n2 === n2); return [g?.id, g?.error, g?.scale]; }),
    r.labelOverlap, r.overlapNext,
    r.diagnostics?.meanNorm, r.diagnostics?.anisotropy, r.diagnostics?.outlierDims.length, r.diagnostics?.meanKurtosis, r.diagnostics?.effectiveRank,
    r.probe?.accuracy, r.probe?.ci[0], r.probe?.ci[1], r.probe?.control?.accuracy, r.probe?.selectivity,
    r.idReported?.id, r.idReported?.error, r.idReported?.size, r.overlapLast, r.overlapOther,
    ...decim.flatMap((_, i) => { const l = r.twoNNScaling?.[i]; return [l?.id, l?.error, l?.scale, l?.size]; }), r.distinct, r.kUsed].map(fmt).join(','));
  return [header.join(','), ...lines].join('\n') + '\n';
}

export async function writeProfile(rows: IdProfileRow[], path: string): Promise<void> {
  const text = path.endsWith('.csv') ? profileToCsv(rows) : JSON.stringify({ layers: rows }, null, 2) + '\n';
  await writeFile(path, text);
}

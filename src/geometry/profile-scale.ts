/**
 * The scale at which `profile` reports a layer's intrinsic dimension (`--id-scale`), from the TwoNN decimation
 * scaling (DADApy `return_id_scaling_2NN`: sizes N, N/2, N/4, … ; twonn.ts `idScaling2NN`).
 *
 * - `full`: TwoNN on all N points (DADApy `compute_id_2NN()` with its defaults).
 * - `plateau`: the paper's Appendix-B choice, "the ID where it is stable across scales". The spec gives no
 *   numerical rule; ours: walk the decimation levels from most points to fewest, call two consecutive levels
 *   stable when |ID_a − ID_b| ≤ tol · (ID_a + ID_b)/2 (tol = --plateau-tol, default 0.1); a plateau is a maximal
 *   run of ≥ 2 levels whose consecutive pairs are all stable; the longest plateau wins (ties: the one with more
 *   points), and the reported ID is its first level (the most points, hence the smallest error, inside the
 *   plateau). No stable pair: the full-data TwoNN is reported with a warning.
 * - `paper`: the paper's code, TwoNN with `fraction = 0.98` (mu_fraction) on a 1/32 decimation: the mean ID of
 *   rint(32) random subsets of rint(N/32) points, error = std/√32 (DADApy `compute_id_2NN(data_fraction=1/32,
 *   mu_fraction=0.98)`). Needs N ≥ 128 (a subset of ≥ 4 points, level 5 of the decimation) and coordinates:
 *   from a neighbour table alone the subsets' neighbours are mostly beyond its k.
 */
import { AtlasError } from '../errors.ts';
import type { KnnResult } from './knn.ts';
import { decimationSizes, roundHalfEven, sampleWithoutReplacement, seededRandom, twoNNFromKnn, type IdScaling2NNResult } from './twonn.ts';

export type IdScaleRule = 'full' | 'plateau' | 'paper';
export const ID_SCALE_RULES: readonly IdScaleRule[] = ['full', 'plateau', 'paper'];
/** The paper's code: mu_fraction and data fraction of its reported TwoNN. */
export const PAPER_ID_SCALE = { muFraction: 0.98, decimation: 32 } as const;

export interface ScalingLevel { size: number; repeats: number; id: number; error: number; scale: number }

export function scalingLevels(r: IdScaling2NNResult): ScalingLevel[] {
  return Array.from(r.sizes, (size, i) => ({ size, repeats: r.repeats[i]!, id: r.ids[i]!, error: r.errors[i]!, scale: r.scales[i]! }));
}

/** The plateau of a decimation curve (levels ordered from most points to fewest); undefined when none. */
export function plateauLevel(levels: readonly { id: number }[], tol = 0.1): { index: number; start: number; end: number } | undefined {
  let best: { start: number; end: number } | undefined;
  let start = 0;
  for (let i = 1; i <= levels.length; i++) {
    const a = levels[i - 1]?.id ?? NaN;
    const b = levels[i]?.id ?? NaN;
    const stable = i < levels.length && Number.isFinite(a) && Number.isFinite(b) && Math.abs(a - b) <= tol * (a + b) / 2;
    if (stable) continue;
    // run [start, i − 1] ends here
    if (i - 1 > start && (!best || i - 1 - start > best.end - best.start)) best = { start, end: i - 1 };
    start = i;
  }
  return best ? { index: best.start, ...best } : undefined;
}

/**
 * `idScaling2NN`'s levels from a neighbour table alone (no coordinates): the same subset draws (same seed, same
 * sampler), each subset point's two nearest subset members read off the table. A level where some point has
 * fewer than two subset members among its k table neighbours cannot be computed from the table: its ID is NaN
 * (`computable` false). Where computable, the numbers equal `idScaling2NN` on the coordinates.
 */
export function idScaling2NNFromTable(table: KnnResult, opts: { muFraction?: number; nMin?: number; seed?: number } = {}): IdScaling2NNResult & { computable: boolean[] } {
  const n = table.n;
  const nMin = opts.nMin ?? 10;
  const sizes = decimationSizes(n, nMin);
  if (sizes.length === 0) throw new AtlasError(`${n} points give no decimation level larger than nMin = ${nMin}`, { field: 'nMin' });
  const rand = seededRandom(opts.seed ?? 42);
  const perm = new Int32Array(n);
  const local = new Int32Array(n).fill(-1);
  const L = sizes.length;
  const ids = new Float64Array(L), errors = new Float64Array(L), scales = new Float64Array(L), repeats = new Int32Array(L);
  const computable: boolean[] = [];
  for (let level = 0; level < L; level++) {
    const fraction = sizes[level]! / n;
    if (fraction === 1) {
      const res = twoNNFromKnn(table, { muFraction: opts.muFraction });
      ids[level] = res.id; scales[level] = res.scale; repeats[level] = 1; computable.push(true);
      continue;
    }
    const m = roundHalfEven(n * fraction);
    const nIter = roundHalfEven(1 / fraction);
    const levelIds: number[] = [];
    let scaleSum = 0;
    let ok = true;
    for (let it = 0; it < nIter; it++) {
      const idx = sampleWithoutReplacement(n, m, rand, perm); // drawn even when the level fails: keeps the sequence
      if (!ok) continue;
      for (let t = 0; t < m; t++) local[idx[t]!] = t;
      const indices = new Int32Array(2 * m);
      const distances = new Float64Array(2 * m);
      for (let t = 0; t < m && ok; t++) {
        const i = idx[t]!;
        let found = 0;
        for (let c = i * table.k; c < (i + 1) * table.k && found < 2; c++) {
          const l = local[table.indices[c]!]!;
          if (l < 0) continue;
          indices[2 * t + found] = l;
          distances[2 * t + found++] = table.distances[c]!;
        }
        if (found < 2) ok = false;
      }
      for (let t = 0; t < m; t++) local[idx[t]!] = -1;
      if (!ok) continue;
      const r = twoNNFromKnn({ n: m, k: 2, metric: table.metric, indices, distances, dtypeEps: table.dtypeEps }, { muFraction: opts.muFraction });
      levelIds.push(r.id);
      scaleSum += r.scale;
    }
    computable.push(ok);
    repeats[level] = nIter;
    if (!ok) { ids[level] = NaN; errors[level] = NaN; scales[level] = NaN; continue; }
    const mean = levelIds.reduce((a, b) => a + b, 0) / nIter;
    const v2 = levelIds.reduce((a, b) => a + (b - mean) ** 2, 0);
    ids[level] = mean;
    errors[level] = Math.sqrt(v2 / nIter) / Math.sqrt(nIter);
    scales[level] = scaleSum / nIter;
  }
  return { ids, errors, scales, sizes: Int32Array.from(sizes), repeats, computable };
}

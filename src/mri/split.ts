/**
 * scikit-learn's StratifiedShuffleSplit and StandardScaler.
 *
 * The split follows scikit-learn's algorithm step by step: n_test = ceil(test_size·n), n_train = n − n_test;
 * per split, per-class train counts by `_approximate_mode(class_counts, n_train)`, test counts by the same on
 * the remaining counts, then a random permutation of each class's indices is cut into train and test. So the
 * per-class train/test SIZES equal scikit-learn's; the random draws come from our seeded generator
 * (geometry/rng.ts), not NumPy's Mersenne Twister, so the chosen indices differ from scikit-learn's for the
 * same seed. Checks as scikit-learn: every class needs at least 2 samples; train and test sets must each be able
 * to hold one sample per class.
 */
import { AtlasError } from '../errors.ts';
import type { Matrix } from '../geometry/matrix.ts';
import { Rng } from '../geometry/rng.ts';

export interface StratifiedShuffleSplitOptions {
  /** Default 5 (the reference's; scikit-learn's own default is 10). */
  nSplits?: number;
  /** Fraction in (0, 1) or an absolute count. Default 0.3 (the reference's). */
  testSize?: number;
  /** Default 42 (the reference's random_state). */
  seed?: number;
  /** Class names for error messages. */
  classNames?: readonly string[];
}

export interface Split {
  train: number[];
  test: number[];
}

function shuffle<T>(a: T[], rng: Rng): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** scikit-learn's _approximate_mode: floor of the proportional allocation, remainders handed out largest first (ties at random). */
export function approximateMode(counts: readonly number[], draws: number, rng: Rng): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  const continuous = counts.map((c) => (c / total) * draws);
  const floored = continuous.map(Math.floor);
  let need = draws - floored.reduce((a, b) => a + b, 0);
  if (need > 0) {
    const remainder = continuous.map((c, i) => c - floored[i]!);
    const values = [...new Set(remainder)].sort((a, b) => b - a);
    for (const v of values) {
      const inds = shuffle(remainder.flatMap((r, i) => (r === v ? [i] : [])), rng);
      const now = Math.min(inds.length, need);
      for (let k = 0; k < now; k++) floored[inds[k]!]!++;
      need -= now;
      if (need === 0) break;
    }
  }
  return floored;
}

export function stratifiedShuffleSplit(labels: readonly number[], opts: StratifiedShuffleSplitOptions = {}): Split[] {
  const nSplits = opts.nSplits ?? 5;
  const testSize = opts.testSize ?? 0.3;
  const n = labels.length;
  if (!Number.isInteger(nSplits) || nSplits < 1) throw new AtlasError(`n_splits must be a positive integer, got ${nSplits}`, { field: 'n_splits' });
  let nTest: number;
  if (testSize > 0 && testSize < 1) nTest = Math.ceil(testSize * n);
  else if (Number.isInteger(testSize) && testSize >= 1 && testSize < n) nTest = testSize;
  else throw new AtlasError(`test_size must be a fraction in (0, 1) or a count in [1, ${n - 1}], got ${testSize}`, { field: 'test_size' });
  const nTrain = n - nTest;
  const classes = [...new Set(labels)].sort((a, b) => a - b);
  const name = (c: number): string => opts.classNames?.[c] ?? String(c);
  const members = classes.map((c) => labels.flatMap((l, i) => (l === c ? [i] : [])));
  const counts = members.map((m) => m.length);
  members.forEach((m, k) => {
    if (m.length < 2) {
      throw new AtlasError(`label '${name(classes[k]!)}' has ${m.length} sample; stratified splits need at least 2 per label`, {
        field: 'labels',
        hint: 'add samples of this label or drop it from the dataset',
      });
    }
  });
  if (nTrain < classes.length) throw new AtlasError(`the train set (${nTrain} samples) cannot hold one sample of each of the ${classes.length} labels`, { field: 'test_size', hint: 'lower test_size or add samples' });
  if (nTest < classes.length) throw new AtlasError(`the test set (${nTest} samples) cannot hold one sample of each of the ${classes.length} labels`, { field: 'test_size', hint: 'raise test_size or add samples' });
  const rng = new Rng(opts.seed ?? 42);
  const splits: Split[] = [];
  for (let s = 0; s < nSplits; s++) {
    const nI = approximateMode(counts, nTrain, rng);
    const tI = approximateMode(counts.map((c, k) => c - nI[k]!), nTest, rng);
    const train: number[] = [];
    const test: number[] = [];
    members.forEach((m, k) => {
      const perm = shuffle(m.slice(), rng);
      train.push(...perm.slice(0, nI[k]));
      test.push(...perm.slice(nI[k], nI[k]! + tI[k]!));
    });
    splits.push({ train: shuffle(train, rng), test: shuffle(test, rng) });
  }
  return splits;
}

/** Rows of a matrix, as a float64 matrix. */
export function takeRows(x: Matrix, rows: readonly number[]): Matrix<Float64Array> {
  const out = new Float64Array(rows.length * x.cols);
  rows.forEach((r, i) => {
    for (let j = 0; j < x.cols; j++) out[i * x.cols + j] = x.data[r * x.cols + j]!;
  });
  return { rows: rows.length, cols: x.cols, data: out };
}

/** StandardScaler: per-feature mean and population std (ddof 0); a constant feature gets scale 1. */
export function fitStandardScaler(x: Matrix): { mean: Float64Array; scale: Float64Array } {
  const { rows: n, cols: d } = x;
  const mean = new Float64Array(d);
  const scale = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += x.data[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) scale[j]! += (x.data[i * d + j]! - mean[j]!) ** 2;
  const eps = Number.EPSILON;
  for (let j = 0; j < d; j++) {
    const v = scale[j]! / n;
    // scikit-learn's _is_constant_feature: a variance at float-noise level counts as constant (scale 1).
    const constant = v <= n * eps * v + (n * mean[j]! * eps) ** 2;
    scale[j] = constant ? 1 : Math.sqrt(v);
  }
  return { mean, scale };
}

export function applyScaler(x: Matrix, s: { mean: Float64Array; scale: Float64Array }): Matrix<Float64Array> {
  const out = new Float64Array(x.rows * x.cols);
  for (let i = 0; i < x.rows; i++) for (let j = 0; j < x.cols; j++) out[i * x.cols + j] = (x.data[i * x.cols + j]! - s.mean[j]!) / s.scale[j]!;
  return { rows: x.rows, cols: x.cols, data: out };
}

/** MinMaxScaler to [0, 1] per feature; a constant feature maps to 0 (scikit-learn: range 0 → scale 1). */
export function minMaxScale(x: Matrix): Matrix<Float64Array> {
  const { rows: n, cols: d } = x;
  const lo = new Float64Array(d).fill(Infinity);
  const hi = new Float64Array(d).fill(-Infinity);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      const v = x.data[i * d + j]!;
      if (v < lo[j]!) lo[j] = v;
      if (v > hi[j]!) hi[j] = v;
    }
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      const r = hi[j]! - lo[j]!;
      out[i * d + j] = (x.data[i * d + j]! - lo[j]!) / (r === 0 ? 1 : r);
    }
  return { rows: n, cols: d, data: out };
}

import { AtlasError } from '../errors.ts';
import { knn, knnMany, assertFinite, neighboursOf, isKnnResult, removeIdenticalPoints, type KnnResult, type Metric } from './knn.ts';
import { exactDistancesTo, rowNorms } from './knn-select.ts';
import type { Matrix } from './matrix.ts';
import { mulberry32 } from '../util/random.ts';

/**
 * TwoNN intrinsic dimension (Facco et al. 2017) with DADApy's definitions and defaults
 * (`IdEstimation.compute_id_2NN`, `_compute_id_2NN`, `return_id_scaling_2NN`):
 *
 *  μ_i = r₂(i)/r₁(i). 'base' (default): sort log μ ascending, keep the first n_eff = ⌊N·muFraction⌋, regress
 *  y_j = −log(1 − j/N) (j = 1..n_eff) on log μ through the origin; the slope Σxy/Σx² is the ID (DADApy gets
 *  the same slope from scipy's curve_fit). 'ml': ID = (N − 1)/Σ log μ over all points. muFraction = 1 with
 *  'base' switches to 'ml', as DADApy does (the last y would be −log 0).
 *  Scale = mean of r₁ and r₂ over the points (DADApy: np.mean(distances[:, [1, 2]])).
 *  Error = 0 on the full data set (DADApy's convention); with decimation, std of the subset IDs / √(subsets).
 *
 * Identical points (r₁ = 0) would make μ infinite; they are refused with an AtlasError naming the first such
 * point (DADApy warns and asks for `remove_identical_points`), unless `duplicates: 'remove'` is given with the
 * coordinates, which removes exact duplicate rows first (see knn.ts `removeIdenticalPoints`).
 */
export type TwoNNAlgorithm = 'base' | 'ml';

export interface TwoNNOptions {
  /** Fraction of the smallest μ kept by 'base' (the largest are discarded). Default 0.9. */
  muFraction?: number;
  /** Default 'base'. */
  algorithm?: TwoNNAlgorithm;
  /** Used when the coordinates are given. Default 'euclidean'. */
  metric?: Metric;
  threads?: number;
}

export interface TwoNNResult {
  id: number;
  /** 0 on the full data set (DADApy's convention). */
  error: number;
  /** Mean of the first and second neighbour distances. */
  scale: number;
  /** μ_i = r₂/r₁ for every point, in point order. */
  mus: Float64Array;
  /** Points used. */
  n: number;
}

function checkOptions(opts: { muFraction?: number; algorithm?: string }): { muFraction: number; algorithm: TwoNNAlgorithm } {
  const muFraction = opts.muFraction ?? 0.9;
  if (!(muFraction > 0 && muFraction <= 1)) {
    throw new AtlasError(`muFraction must be in (0, 1], got ${muFraction}`, { field: 'muFraction', hint: 'DADApy default is 0.9' });
  }
  let algorithm: string = opts.algorithm ?? 'base';
  if (algorithm !== 'base' && algorithm !== 'ml') {
    throw new AtlasError(`unknown TwoNN algorithm '${String(algorithm)}'`, { field: 'algorithm', hint: "use 'base' or 'ml'" });
  }
  // math.isclose(mu_fraction, 1.0) in DADApy (rel_tol 1e-9).
  if (algorithm === 'base' && Math.abs(muFraction - 1) <= 1e-9) algorithm = 'ml';
  return { muFraction, algorithm: algorithm as TwoNNAlgorithm };
}

const LITTLE_ENDIAN = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f;

/**
 * Ascending in-place sort of float64 values without NaN, the same order as Float64Array.prototype.sort (−0 before
 * +0): an LSD radix sort on the IEEE bits mapped to unsigned keys (six 11-bit digits; digits on which all keys
 * agree are skipped), several times faster than the built-in comparison sort for the sizes TwoNN sorts.
 */
export function sortFloat64(a: Float64Array): Float64Array {
  const n = a.length;
  if (n < 512 || !LITTLE_ENDIAN) return a.sort();
  const u = new Uint32Array(a.buffer, a.byteOffset, 2 * n);
  let lo = new Uint32Array(n);
  let hi = new Uint32Array(n);
  let lo2 = new Uint32Array(n);
  let hi2 = new Uint32Array(n);
  const hist = new Int32Array(6 * 2048);
  toKeys(u, lo, hi, hist);
  for (let pass = 0; pass < 6; pass++) {
    const off = pass * 2048;
    const shift = (pass % 3) * 11;
    const src = pass >= 3 ? hi : lo;
    // Skip a digit all keys share.
    if (hist[off + ((src[0] >>> shift) & 2047)] === n) continue;
    prefixSums(hist, off);
    scatter(src, lo, hi, lo2, hi2, hist, off, shift);
    let t = lo; lo = lo2; lo2 = t;
    t = hi; hi = hi2; hi2 = t;
  }
  fromKeys(u, lo, hi);
  return a;
}

// The sort's (and TwoNN's) loops are separate small functions: each runs once per call, so a function with
// several loops is compiled on stack (OSR) in its first loop without type feedback for the rest, deoptimises
// there and runs unoptimised through its next calls (measured: the 2nd–4th calls of the ID workload took up
// to 3× the steady time).

/** IEEE bit pairs → unsigned keys in ascending order (lo, hi words), with the six digit histograms. */
function toKeys(u: Uint32Array, lo: Uint32Array, hi: Uint32Array, hist: Int32Array): void {
  for (let i = 0; i < lo.length; i++) {
    let l = u[2 * i];
    let h = u[2 * i + 1];
    if (h & 0x80000000) { h = ~h >>> 0; l = ~l >>> 0; } else h = (h | 0x80000000) >>> 0;
    lo[i] = l;
    hi[i] = h;
    hist[l & 2047]++;
    hist[2048 + ((l >>> 11) & 2047)]++;
    hist[4096 + (l >>> 22)]++;
    hist[6144 + (h & 2047)]++;
    hist[8192 + ((h >>> 11) & 2047)]++;
    hist[10240 + (h >>> 22)]++;
  }
}

/** Exclusive prefix sums of one 2048-bucket histogram. */
function prefixSums(hist: Int32Array, off: number): void {
  let sum = 0;
  for (let b = off; b < off + 2048; b++) {
    const c = hist[b];
    hist[b] = sum;
    sum += c;
  }
}

/** Keys back to IEEE bit pairs (toKeys inverted). */
function fromKeys(u: Uint32Array, lo: Uint32Array, hi: Uint32Array): void {
  for (let i = 0; i < lo.length; i++) {
    let l = lo[i];
    let h = hi[i];
    if (h & 0x80000000) h = (h & 0x7fffffff) >>> 0; else { h = ~h >>> 0; l = ~l >>> 0; }
    u[2 * i] = l;
    u[2 * i + 1] = h;
  }
}

/** One radix pass: (lo, hi) pairs into (lo2, hi2) by the 11-bit digit of `key` at `shift`. */
function scatter(key: Uint32Array, lo: Uint32Array, hi: Uint32Array, lo2: Uint32Array, hi2: Uint32Array, hist: Int32Array, off: number, shift: number): void {
  for (let i = 0; i < key.length; i++) {
    const j = hist[off + ((key[i] >>> shift) & 2047)]++;
    lo2[j] = lo[i];
    hi2[j] = hi[i];
  }
}

/** out[i] = Math.log(a[i]). */
function logsOf(a: Float64Array, out: Float64Array): Float64Array {
  for (let i = 0; i < a.length; i++) out[i] = Math.log(a[i]);
  return out;
}

function sumOf(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

/** DADApy's 'base' fit: slope through the origin of −log(1 − j/N) on the nEff smallest sorted log μ. */
function originSlope(sortedLogMu: Float64Array, nEff: number, n: number): number {
  let sxy = 0;
  let sxx = 0;
  for (let j = 1; j <= nEff; j++) {
    const x = sortedLogMu[j - 1];
    const y = -Math.log(1 - j / n);
    sxy += x * y;
    sxx += x * x;
  }
  return sxy / sxx;
}

/** The TwoNN ID from the ratios μ (DADApy `_compute_id_2NN`). */
export function twoNNFromMus(mus: Float64Array, muFraction = 0.9, algorithm: TwoNNAlgorithm = 'base'): number {
  const n = mus.length;
  const logMu = logsOf(mus, new Float64Array(n));
  if (algorithm === 'ml') return (n - 1) / sumOf(logMu);
  return originSlope(sortFloat64(logMu), Math.floor(n * muFraction), n);
}

/** μ and scale from a neighbour table (needs k ≥ 2); refuses zero first-neighbour distances. */
function musOf(r: KnnResult): { mus: Float64Array; scale: number } {
  const mus = new Float64Array(r.n);
  const first = ratios(r.distances, r.k, mus);
  if (first >= 0) twinError(r, first);
  return { mus, scale: sumFirstTwo(r.distances, r.k, r.n) / (2 * r.n) };
}

/** mus[i] = r₂/r₁ of row i of a table with k columns; returns the first row with r₁ = 0, or −1. */
function ratios(dist: Float64Array, k: number, mus: Float64Array): number {
  let first = -1;
  for (let i = 0; i < mus.length; i++) {
    const r1 = dist[i * k];
    if (r1 === 0 && first < 0) first = i;
    mus[i] = dist[i * k + 1] / r1;
  }
  return first;
}

/** Σ (r₁ + r₂) over the n rows, summed row by row. */
function sumFirstTwo(dist: Float64Array, k: number, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += dist[i * k] + dist[i * k + 1];
  return sum;
}

function twinError(r: KnnResult, i: number): never {
  let count = 0;
  for (let t = 0; t < r.n; t++) if (r.distances[t * r.k] === 0) count++;
  throw new AtlasError(
    `${count} points have an identical twin (first: point ${i}, same as point ${r.indices[i * r.k]}); ` +
      'TwoNN ratios r2/r1 would be infinite', { field: 'X', hint: "remove duplicates first (removeIdenticalPoints, or duplicates: 'remove')" });
}

/** TwoNN on a neighbour table (k ≥ 2). */
export function twoNNFromKnn(r: KnnResult, opts: TwoNNOptions = {}): TwoNNResult {
  const { muFraction, algorithm } = checkOptions(opts);
  if (r.k < 2) throw new AtlasError(`TwoNN needs 2 neighbours per point, the table has ${r.k}`, { field: 'knn', hint: 'compute knn with k ≥ 2' });
  const { mus, scale } = musOf(r);
  return { id: twoNNFromMus(mus, muFraction, algorithm), error: 0, scale, mus, n: r.n };
}

export async function twoNN(input: Matrix | KnnResult, opts: TwoNNOptions & { duplicates?: 'error' | 'remove' } = {}): Promise<TwoNNResult> {
  checkOptions(opts);
  const X = !isKnnResult(input) && opts.duplicates === 'remove' ? removeIdenticalPoints(input).X : input;
  return twoNNFromKnn(await neighboursOf(X, 2, { metric: opts.metric, threads: opts.threads }), opts);
}

// ------------------------------------------------------------------------------------------------------------
// Scaling by decimation

export interface IdScaling2NNOptions extends TwoNNOptions {
  /** Only subset sizes larger than this are used (DADApy `n_min`). Default 10. */
  nMin?: number;
  /** Seed of the subset draws (DADApy's Base uses rng_seed = 42). Default 42. */
  seed?: number;
  /**
   * Neighbour table of the full data set (k ≥ 2, same metric), reused for the undecimated level and to read
   * the subsets' neighbours off (see subsetNeighbours). Default: computed here with k = min(N − 1, 32).
   */
  knn?: KnnResult;
}

export interface IdScalingResult {
  ids: Float64Array;
  errors: Float64Array;
  /** Mean neighbour distance involved in each estimate. */
  scales: Float64Array;
}

export interface IdScaling2NNResult extends IdScalingResult {
  /** Subset size of each level: N, N/2, N/4, … (rounded half to even, as np.round). */
  sizes: Int32Array;
  /** Number of random subsets averaged at each level. */
  repeats: Int32Array;
}

/** numpy's rint / round: to nearest, ties to even. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export const seededRandom = mulberry32;

/** `size` distinct indices of 0..n-1 drawn uniformly (partial Fisher–Yates), like rng.choice(n, size, replace=False). */
export function sampleWithoutReplacement(n: number, size: number, rand: () => number, perm: Int32Array): Int32Array {
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = 0; i < size; i++) {
    const j = i + Math.floor(rand() * (n - i));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return perm.slice(0, size);
}

function rowsOf(X: Matrix, idx: Int32Array): Matrix {
  const { cols, data } = X;
  const out = new (data.constructor as { new (n: number): Float32Array | Float64Array })(idx.length * cols);
  for (let t = 0; t < idx.length; t++) out.set(data.subarray(idx[t] * cols, (idx[t] + 1) * cols), t * cols);
  return { rows: idx.length, cols, data: out };
}

/**
 * The 2-NN table of the subset `idx` (rows in sample order, neighbour indices local to the subset), equal to
 * knn(rowsOf(X, idx), { k: 2 })'s distances: exact distances are symmetric and bit-identical whichever point
 * asks, so a point's nearest subset members are read off the full table when at least two of its table
 * neighbours are in the subset. Points with fewer are measured exactly against the whole subset; when many
 * are (small subsets), null asks the caller for a k-NN search of the subset (batched with the level's others).
 */
function subsetNeighbours(X: Matrix, idx: Int32Array, table: KnnResult, local: Int32Array, metric: Metric, norms: Float64Array): KnnResult | null {
  const m = idx.length;
  for (let t = 0; t < m; t++) local[idx[t]] = t;
  try {
    const indices = new Int32Array(2 * m);
    const distances = new Float64Array(2 * m);
    const missing: number[] = [];
    const { k, indices: ti, distances: td } = table;
    for (let t = 0; t < m; t++) {
      const i = idx[t];
      let found = 0;
      for (let c = i * k; c < i * k + k && found < 2; c++) {
        const l = local[ti[c]];
        if (l < 0) continue;
        indices[2 * t + found] = l;
        distances[2 * t + found++] = td[c];
      }
      if (found < 2) missing.push(t);
    }
    if (missing.length > 0) {
      // Exact distances to the whole subset cost m·d per missing point in JavaScript; a (batched) subset
      // search costs a few m·d per subset plus a float32 GEMM of m²·d that is an order of magnitude cheaper per
      // term, so only a handful of missing points is worth measuring directly.
      if (missing.length > 4 + m / 64) return null;
      const out = new Float64Array(m);
      for (const t of missing) {
        exactDistancesTo(X, metric, norms, idx[t], idx, out, m);
        let d1 = Infinity;
        let d2 = Infinity;
        let l1 = -1;
        let l2 = -1;
        // Scanning u upwards and replacing only on strictly smaller distances keeps ties in local index order,
        // as the subset search breaks them.
        for (let u = 0; u < m; u++) {
          if (u === t) continue;
          const dist = out[u];
          if (dist < d1) {
            d2 = d1; l2 = l1; d1 = dist; l1 = u;
          } else if (dist < d2) {
            d2 = dist; l2 = u;
          }
        }
        indices[2 * t] = l1;
        indices[2 * t + 1] = l2;
        distances[2 * t] = d1;
        distances[2 * t + 1] = d2;
      }
    }
    return { n: m, k: 2, metric, indices, distances, dtypeEps: table.dtypeEps };
  } finally {
    for (let t = 0; t < m; t++) local[idx[t]] = -1;
  }
}

/** DADApy's decimation subset sizes: round(N/2^i) for i = 0 .. ⌊log₂N⌋ − 2, keeping sizes > nMin. */
export function decimationSizes(n: number, nMin: number): number[] {
  const maxNdec = Math.floor(Math.log2(n)) - 1;
  const sizes: number[] = [];
  for (let i = 0; i < maxNdec; i++) {
    const s = roundHalfEven(n / 2 ** i);
    if (s > nMin) sizes.push(s);
  }
  return sizes;
}

/**
 * ID as a function of scale by decimation (DADApy `return_id_scaling_2NN`): subset sizes
 * round(N/2^i) for i = 0 .. ⌊log₂N⌋ − 2, keeping sizes > nMin; at each size, rint(N/size) independent random
 * subsets (each drawn without replacement), TwoNN on each; the level reports the mean ID, std/√(subsets) and
 * the mean of the subsets' scales. The undecimated level (i = 0) is the single full data set (error 0).
 */
export async function idScaling2NN(X: Matrix, opts: IdScaling2NNOptions = {}): Promise<IdScaling2NNResult> {
  const { muFraction, algorithm } = checkOptions(opts);
  const n = X.rows;
  const nMin = opts.nMin ?? 10;
  const sizes = decimationSizes(n, nMin);
  if (sizes.length === 0) {
    throw new AtlasError(`${n} points give no decimation level larger than nMin = ${nMin}`, { field: 'nMin', hint: 'lower nMin or provide more points' });
  }
  const rand = seededRandom(opts.seed ?? 42);
  const perm = new Int32Array(n);
  const metric = opts.metric ?? 'euclidean';
  // One table of the full set serves every level: a subset point's two nearest subset members are usually
  // among its first few dozen neighbours overall.
  assertFinite(X);
  const table = opts.knn ?? (await knn(X, { k: Math.min(n - 1, 32), metric, threads: opts.threads }));
  if (table.n !== n || table.k < 2) throw new AtlasError(`the neighbour table has ${table.n} points × ${table.k} neighbours; idScaling2NN needs ${n} × ≥ 2`, { field: 'knn' });
  const local = new Int32Array(n).fill(-1);
  const norms = metric === 'cosine' ? rowNorms(X) : new Float64Array(0);
  const ids = new Float64Array(sizes.length);
  const errors = new Float64Array(sizes.length);
  const scales = new Float64Array(sizes.length);
  const repeats = new Int32Array(sizes.length);
  for (let level = 0; level < sizes.length; level++) {
    const fraction = sizes[level] / n;
    if (fraction === 1) {
      const res = twoNNFromKnn(table, { muFraction, algorithm });
      ids[level] = res.id;
      scales[level] = res.scale;
      repeats[level] = 1;
      continue;
    }
    const nSubset = roundHalfEven(n * fraction);
    const nIter = roundHalfEven(1 / fraction);
    const levelIds = new Float64Array(nIter);
    let scaleSum = 0;
    // Draw every subset of the level first (the same random sequence as drawing one at a time), read their
    // neighbours off the table, and search the ones that need it together.
    const tables: (KnnResult | null)[] = [];
    const subsets: Int32Array[] = [];
    for (let it = 0; it < nIter; it++) {
      const idx = sampleWithoutReplacement(n, nSubset, rand, perm);
      subsets.push(idx);
      tables.push(subsetNeighbours(X, idx, table, local, metric, norms));
    }
    const searchIdx = tables.flatMap((t, it) => (t ? [] : [it]));
    const searched = await knnMany(searchIdx.map((it) => rowsOf(X, subsets[it])), { k: 2, metric, threads: opts.threads, finite: true });
    searchIdx.forEach((it, s) => { tables[it] = searched[s]; });
    for (let it = 0; it < nIter; it++) {
      const r = twoNNFromKnn(tables[it]!, { muFraction, algorithm });
      levelIds[it] = r.id;
      scaleSum += r.scale;
    }
    let mean = 0;
    for (const v of levelIds) mean += v;
    mean /= nIter;
    let v2 = 0;
    for (const v of levelIds) v2 += (v - mean) ** 2;
    ids[level] = mean;
    errors[level] = Math.sqrt(v2 / nIter) / Math.sqrt(nIter); // np.std (ddof = 0) / √n
    scales[level] = scaleSum / nIter;
    repeats[level] = nIter;
  }
  return { ids, errors, scales, sizes: Int32Array.from(sizes), repeats };
}

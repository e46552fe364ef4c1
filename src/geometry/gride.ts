import { AtlasError } from '../errors.ts';
import { neighboursOf, isKnnResult, removeIdenticalPoints, type KnnResult, type Metric } from './knn.ts';
import type { Matrix } from './matrix.ts';
import type { IdScalingResult } from './twonn.ts';

/**
 * Gride: generalised-ratios ID estimator (Denti et al. 2022), DADApy's definitions and defaults
 * (`return_id_scaling_gride`, `_compute_id_gride_single_scale`, `_utils.utils._argmax_loglik`,
 * `_neg_dloglik_did`, `_filter_mus`, `_fisher_info_scaling`).
 *
 * For neighbour ranks n1 < n2, μ_i = r_{n2}(i)/r_{n1}(i) has density
 *   f(μ) = d (μ^d − 1)^{n2−n1−1} / (B(n2 − n1, n1) μ^{d(n2−1)+1}),  μ > 1.
 * DADApy's estimate is the root in d of
 *   g(d) = Σ [(1 − n2 + n1)/(1 − μ^{−d}) + n2 − 1] log μ − (N − 1)/d
 * found by bisection on [d0, d1] = [0.001, 1000] until the bracket is ≤ eps = 1e-7, with 1 − μ^{−d} floored at
 * 2·eps. g is the negative derivative of the log-likelihood with N − 1 in place of N in its N·log d term, so
 * the estimate maximises ℓ(d) = (N − 1) log d + (n2 − n1 − 1) Σ log(μ^d − 1) − (n2 − 1) d Σ log μ (a small-sample
 * correction of the plain MLE; tests check exactly this).
 * Before the root search μ values equal to 1 are nudged up by 10 machine epsilons of float64 (DADApy casts the
 * coordinates to float64, so float32 input too), and
 * μ ≥ q50 + 20 (q95 − q50) (numpy linear percentiles) are dropped as likely near-duplicates; N counts the kept μ.
 * Error = 1/√J with the observed Fisher information J = N/d² + (n2 − n1 − 1) Σ (log μ)² μ^{−d}/(1 − μ^{−d})²,
 * evaluated like DADApy on all (nudged, unfiltered) μ with 1 − μ^{−d} floored at 5 machine epsilons.
 * Scale = mean over points of (r_{n1} + r_{n2})/2.
 *
 * Zero neighbour distances (identical points) are refused with an AtlasError (see knn.ts); DADApy instead
 * replaces a zero r₁ by machine epsilon, whose huge μ its percentile filter then drops, and produces NaN when
 * a point has several copies. Nonzero r₁ below machine epsilon is raised to it, as DADApy does.
 */
export interface GrideRootOptions {
  /** Lower end of the ID search. Default 0.001. */
  d0?: number;
  /** Upper end of the ID search. Default 1000. */
  d1?: number;
  /** Bisection precision (also the floor of 1 − μ^{−d} is 2·eps). Default 1e-7. */
  eps?: number;
}

export interface GrideOptions extends GrideRootOptions {
  /** Rank of the nearer neighbour. Default 1. */
  n1?: number;
  /** Rank of the farther neighbour. Default 2·n1. */
  n2?: number;
  metric?: Metric;
  threads?: number;
  /** With coordinates: 'remove' drops exact duplicate rows first. Default 'error'. */
  duplicates?: 'error' | 'remove';
}

export interface GrideResult {
  id: number;
  error: number;
  scale: number;
  /** μ values kept by the outlier filter. */
  nUsed: number;
}

/** g(d) above: DADApy `_neg_dloglik_did`. */
export function grideNegDLogLik(d: number, mus: Float64Array, n1: number, n2: number, n: number, eps: number): number {
  let s = 0;
  for (let i = 0; i < mus.length; i++) {
    let oneM = 1 - mus[i] ** -d;
    if (oneM < 2 * eps) oneM = 2 * eps;
    s += ((1 - n2 + n1) / oneM + n2 - 1) * Math.log(mus[i]);
  }
  return s - (n - 1) / d;
}

/**
 * DADApy's bisection for the root of g (`_argmax_loglik`), with the same result bit for bit but a fraction of
 * its cost. g is strictly increasing in d (g'(d) = (n2 − n1 − 1) Σ (log μ)² μ^{−d}/(1 − μ^{−d})² + (N − 1)/d² > 0),
 * so the sign of g at a midpoint is the sign of (midpoint − root) wherever the midpoint is clearly away from
 * the root. The root is located first by safeguarded Newton steps on a vectorised g (log μ computed once,
 * μ^{−d} as exp(−d log μ)); the bisection is then replayed, and g is evaluated exactly as DADApy does
 * (`grideNegDLogLik`) only at the midpoints within a relative 1e-9 of that root, where rounding could decide.
 */
export function grideBisection(mus: Float64Array, n1: number, n2: number, n: number, eps: number, d0: number, d1: number): number {
  const logs = new Float64Array(mus.length);
  for (let i = 0; i < mus.length; i++) logs[i] = Math.log(mus[i]);
  const exact = (d: number) => grideNegDLogLik(d, mus, n1, n2, n, eps);
  // Only the sign of g(d1) enters the bisection: the vectorised value decides unless it is near 0.
  const f1 = scaledSlope(logs, n1, n2, n, eps, d1).f;
  const l1 = Math.abs(f1) > 1e-6 * Math.max(1, n - 1) ? Math.sign(f1) : exact(d1);
  // sign(g(d)) for the replay: +1 above the root, −1 below, exact evaluation near it.
  let root = NaN;
  if (l1 > 0) root = newtonRoot(logs, n1, n2, n, eps, d0, d1);
  else if (l1 < 0) root = Infinity; // g < 0 on the whole interval: every midpoint is below the root
  const band = 1e-9 * Math.max(1, Math.abs(root));
  while (Math.abs(d0 - d1) > eps) {
    const d2 = (d0 + d1) / 2;
    const l2 = Number.isNaN(root) || Math.abs(d2 - root) <= band ? exact(d2) : d2 > root ? 1 : -1;
    if (l2 * l1 > 0) d1 = d2;
    else d0 = d2;
  }
  return (d0 + d1) / 2;
}

/**
 * The root of g in (d0, d1) given g(d1) > 0. Newton steps on f(d) = d·g(d) = d·S(d) − (N − 1), which has g's sign
 * and is nearly linear (exactly so when n2 − n1 = 1, where S is constant), unlike g itself (concave in d, so
 * Newton on g overshoots); bisection whenever a step leaves the bracket.
 */
function newtonRoot(logs: Float64Array, n1: number, n2: number, n: number, eps: number, d0: number, d1: number): number {
  let lo = d0;
  let hi = d1;
  // Start at the plain MLE of the (n2 − n1 = 1) case, clamped into the bracket.
  let sumLog = 0;
  for (let i = 0; i < logs.length; i++) sumLog += logs[i];
  let d = Math.min(hi, Math.max(lo, (n - 1) / ((n2 - 1) * sumLog)));
  for (let it = 0; it < 200; it++) {
    const { f, df } = scaledSlope(logs, n1, n2, n, eps, d);
    if (f > 0) hi = d;
    else if (f < 0) lo = d;
    else return d;
    let next = d - f / df;
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (Math.abs(next - d) <= 1e-14 * Math.max(1, d) || hi - lo <= 1e-14 * Math.max(1, d)) return next;
    d = next;
  }
  return (lo + hi) / 2;
}

/** f(d) = d·g(d) and f'(d) from log μ, with μ^{−d} = exp(−d log μ) (not bit-identical to g: it only locates). */
function scaledSlope(logs: Float64Array, n1: number, n2: number, n: number, eps: number, d: number): { f: number; df: number } {
  const c = n2 - n1 - 1;
  const floor = 2 * eps;
  let sum = 0;
  let dsum = 0;
  for (let i = 0; i < logs.length; i++) {
    const L = logs[i];
    const p = Math.exp(-d * L);
    const raw = 1 - p;
    const oneM = raw < floor ? floor : raw;
    sum += (n2 - 1 - c / oneM) * L;
    if (raw >= floor) dsum += (L * L * p) / (oneM * oneM);
  }
  return { f: d * sum - (n - 1), df: sum + d * c * dsum };
}

/** numpy.percentile with the default 'linear' method, on an ascending-sorted array. */
export function percentileSorted(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q / 100;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const t = h - lo;
  const a = sorted[lo];
  const b = sorted[hi];
  const diff = b - a;
  // numpy's _lerp: symmetric form for t ≥ 0.5, so the endpoints are reproduced exactly.
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

/**
 * percentileSorted without sorting: the two order statistics it interpolates, by quickselect (O(n)). `a` is
 * reordered. Same values as sorting, so the same result bit for bit.
 */
export function percentileSelect(a: Float64Array, q: number): number {
  const h = (a.length - 1) * q / 100;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, a.length - 1);
  const t = h - lo;
  const x = select(a, lo);
  let y = x;
  if (hi > lo) {
    y = Infinity;
    for (let i = lo + 1; i < a.length; i++) if (a[i] < y) y = a[i];
  }
  const diff = y - x;
  return t >= 0.5 ? y - diff * (1 - t) : x + diff * t;
}

/** Hoare-style quickselect: afterwards a[k] is the k-th smallest, a[< k] ≤ a[k] ≤ a[> k]. */
function select(a: Float64Array, k: number): number {
  let left = 0;
  let right = a.length - 1;
  while (right > left) {
    // Median of three as the pivot.
    const mid = (left + right) >> 1;
    let p = a[mid];
    const lv = a[left], rv = a[right];
    if ((lv <= p) !== (lv <= rv)) p = lv;
    else if ((rv <= p) !== (rv <= lv)) p = rv;
    let i = left, j = right;
    while (i <= j) {
      while (a[i] < p) i++;
      while (a[j] > p) j--;
      if (i <= j) {
        const t = a[i]; a[i] = a[j]; a[j] = t;
        i++; j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else break;
  }
  return a[k];
}

/** DADApy `_filter_mus`: nudges μ = 1 in place and returns the μ below the outlier threshold. */
export function filterMus(mus: Float64Array, dtypeEps: number): Float64Array {
  for (let i = 0; i < mus.length; i++) if (mus[i] === 1) mus[i] += 10 * dtypeEps;
  const work = Float64Array.from(mus);
  const q95 = percentileSelect(work, 95);
  const q50 = percentileSelect(work, 50);
  const muMax = 20 * (q95 - q50) + q50;
  return mus.filter((m) => m < muMax);
}

/** DADApy `_fisher_info_scaling` (with n2 as DADApy passes it: 2·n1 at every scale). */
export function grideFisherInformation(d: number, mus: Float64Array, n1: number, n2: number, floor: number): number {
  let j1 = 0;
  for (let i = 0; i < mus.length; i++) {
    const p = mus[i] ** -d;
    let oneM = 1 - p;
    if (oneM < floor) oneM = floor;
    const f = Math.log(mus[i]) / oneM;
    j1 += (n2 - n1 - 1) * f * f * p;
  }
  return mus.length / (d * d) + j1;
}

/**
 * ID and error from the ratios μ = r_{n2}/r_{n1} (DADApy `_compute_id_gride_single_scale`). `mus` is nudged in
 * place where equal to 1, as in DADApy. `dtypeEps` is the machine epsilon of the data's type.
 */
export function grideFromMus(mus: Float64Array, n1: number, n2: number, dtypeEps: number, opts: GrideRootOptions = {}): { id: number; error: number; nUsed: number } {
  let d0 = opts.d0 ?? 0.001;
  let d1 = opts.d1 ?? 1000;
  const eps = opts.eps ?? 1e-7;
  if (!(d0 > 0 && d1 > d0)) throw new AtlasError(`the ID search interval [${d0}, ${d1}] is empty or not positive`, { field: 'd0/d1' });
  if (!(eps > 0)) throw new AtlasError(`eps must be positive, got ${eps}`, { field: 'eps' });
  const kept = filterMus(mus, dtypeEps);
  const n = kept.length;
  if (n < 2) throw new AtlasError(`only ${n} neighbour ratios survive the outlier filter; Gride needs at least 2`, { field: 'X', hint: 'provide more (distinct) points' });
  const id = grideBisection(kept, n1, n2, n, eps, d0, d1);
  const error = 1 / Math.sqrt(grideFisherInformation(id, mus, n1, 2 * n1, 5 * dtypeEps));
  return { id, error, nUsed: n };
}

/** r_rank(i) for every point from a table with k ≥ rank (rank 1 = nearest), DADApy's r₁ regularisation applied. */
function distancesAtRank(r: KnnResult, rank: number, cols?: Map<number, Float64Array>): Float64Array {
  const out = new Float64Array(r.n);
  const col = cols?.get(rank);
  for (let i = 0; i < r.n; i++) {
    const v = col ? col[i] : r.distances[i * r.k + rank - 1];
    if (v === 0) {
      throw new AtlasError(
        `point ${i} has ${rank} or more identical copies (its ${rank}-th neighbour, point ${r.indices[i * r.k + rank - 1]}, is at distance 0); ` +
          'Gride ratios would be infinite', { field: 'X', hint: "remove duplicates first (removeIdenticalPoints, or duplicates: 'remove')" });
    }
    out[i] = rank === 1 && v < r.dtypeEps ? r.dtypeEps : v;
  }
  return out;
}

/**
 * Columns rank − 1 of the distance table for several ranks in one row-major pass: reading one column at a time
 * strides through the whole table (one cache miss per point) once per rank.
 */
function distanceColumns(r: KnnResult, ranks: number[]): Map<number, Float64Array> {
  const cols = ranks.map(() => new Float64Array(r.n));
  for (let i = 0; i < r.n; i++) {
    const o = i * r.k - 1;
    for (let c = 0; c < ranks.length; c++) cols[c][i] = r.distances[o + ranks[c]];
  }
  return new Map(ranks.map((rank, c) => [rank, cols[c]]));
}

function ratioAndScale(r: KnnResult, n1: number, n2: number, cols?: Map<number, Float64Array>): { mus: Float64Array; scale: number } {
  const a = distancesAtRank(r, n1, cols);
  const b = distancesAtRank(r, n2, cols);
  const mus = new Float64Array(r.n);
  let s = 0;
  for (let i = 0; i < r.n; i++) {
    mus[i] = b[i] / a[i];
    s += a[i] + b[i];
  }
  return { mus, scale: s / (2 * r.n) };
}

/** Gride at one pair of ranks (n1, n2), from a table with k ≥ n2. */
export function grideFromKnn(r: KnnResult, opts: GrideOptions = {}): GrideResult {
  return grideAt(r, opts);
}

function grideAt(r: KnnResult, opts: GrideOptions, cols?: Map<number, Float64Array>): GrideResult {
  const n1 = opts.n1 ?? 1;
  const n2 = opts.n2 ?? 2 * n1;
  if (!Number.isInteger(n1) || !Number.isInteger(n2) || n1 < 1 || n2 <= n1) {
    throw new AtlasError(`neighbour ranks must be integers with 1 ≤ n1 < n2, got n1 = ${n1}, n2 = ${n2}`, { field: 'n1/n2' });
  }
  if (r.k < n2) throw new AtlasError(`Gride with n2 = ${n2} needs ${n2} neighbours per point, the table has ${r.k}`, { field: 'knn', hint: `compute knn with k ≥ ${n2}` });
  const { mus, scale } = ratioAndScale(r, n1, n2, cols);
  const { id, error, nUsed } = grideFromMus(mus, n1, n2, r.dtypeEps, opts);
  return { id, error, scale, nUsed };
}

export async function gride(input: Matrix | KnnResult, opts: GrideOptions = {}): Promise<GrideResult> {
  const n2 = opts.n2 ?? 2 * (opts.n1 ?? 1);
  const X = !isKnnResult(input) && opts.duplicates === 'remove' ? removeIdenticalPoints(input).X : input;
  return grideFromKnn(await neighboursOf(X, n2, { metric: opts.metric, threads: opts.threads }), opts);
}

export interface IdScalingGrideOptions extends GrideRootOptions {
  /** Largest neighbour rank used (DADApy `range_max`). Default 64. */
  rangeMax?: number;
  metric?: Metric;
  threads?: number;
  duplicates?: 'error' | 'remove';
}

export interface IdScalingGrideResult extends IdScalingResult {
  /** n2 of each estimate (2, 4, …, 2^⌊log₂ maxRank⌋); n1 = n2/2. */
  ranks: Int32Array;
}

/** The neighbour ranks used for a data set of n points: maxRank = min(n − 1, rangeMax) and n2 = 2, 4, … ≤ maxRank. */
export function grideRanks(n: number, rangeMax = 64): Int32Array {
  // DADApy takes min(N, range_max) and then needs neighbour 2^⌊log₂⌋ of it, which does not exist when it is N.
  const maxRank = Math.min(n - 1, rangeMax);
  if (!(maxRank >= 2)) throw new AtlasError(`Gride scaling needs at least 3 points and rangeMax ≥ 2 (N = ${n}, rangeMax = ${rangeMax})`, { field: 'rangeMax' });
  const steps = Math.floor(Math.log2(maxRank));
  return Int32Array.from({ length: steps }, (_, i) => 2 ** (i + 1));
}

/**
 * ID at the scales n1 = 1, 2, 4, … with n2 = 2·n1 (DADApy `return_id_scaling_gride`). Needs a neighbour
 * table with k ≥ the largest n2 (64 by default); given the coordinates, it computes one.
 */
export async function idScalingGride(input: Matrix | KnnResult, opts: IdScalingGrideOptions = {}): Promise<IdScalingGrideResult> {
  const X = !isKnnResult(input) && opts.duplicates === 'remove' ? removeIdenticalPoints(input).X : input;
  // With a precomputed table the largest rank is also capped by its k (DADApy, too, caps range_max at the
  // stored neighbours).
  const n = isKnnResult(X) ? X.n : X.rows;
  const ranks = grideRanks(n, Math.min(opts.rangeMax ?? 64, isKnnResult(X) ? X.k : Infinity));
  const r = await neighboursOf(X, ranks[ranks.length - 1], { metric: opts.metric, threads: opts.threads });
  const ids = new Float64Array(ranks.length);
  const errors = new Float64Array(ranks.length);
  const scales = new Float64Array(ranks.length);
  const cols = distanceColumns(r, [1, ...ranks]);
  ranks.forEach((n2, i) => {
    const res = grideAt(r, { ...opts, n1: n2 / 2, n2 }, cols);
    ids[i] = res.id;
    errors[i] = res.error;
    scales[i] = res.scale;
  });
  return { ids, errors, scales, ranks };
}

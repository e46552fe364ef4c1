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

/** grideNegDLogLik with log μ given (logs[i] = Math.log(mus[i]), so the same value bit for bit). */
function negDLogLikLogs(d: number, mus: Float64Array, logs: Float64Array, n1: number, n2: number, n: number, eps: number): number {
  let s = 0;
  const floor = 2 * eps;
  const a = 1 - n2 + n1;
  const b = n2 - 1;
  for (let i = 0; i < mus.length; i++) {
    let oneM = 1 - mus[i] ** -d;
    if (oneM < floor) oneM = floor;
    s += (a / oneM + b) * logs[i];
  }
  return s - (n - 1) / d;
}

/**
 * DADApy's bisection for the root of g (`_argmax_loglik`), with the same result bit for bit but a fraction of
 * its cost. g is strictly increasing in d (g'(d) = (n2 − n1 − 1) Σ (log μ)² μ^{−d}/(1 − μ^{−d})² + (N − 1)/d² > 0),
 * so the sign of g at a midpoint is the sign of (midpoint − root) wherever the midpoint is clearly away from
 * the root. The root is located first by safeguarded Halley steps on a vectorised g (log μ computed once,
 * μ^{−d} as exp(−d log μ)); the bisection is then replayed, and g is evaluated exactly as DADApy does
 * (`grideNegDLogLik`) only at the midpoints within a relative 1e-9 of that root, where rounding could decide.
 * The sign of g(d1) comes from the same steps: S(d) = (g(d) + (N − 1)/d) is increasing, so d1·S(p) − (N − 1) at
 * any visited p bounds d1·g(d1) from below; only when that does not settle it is g(d1) evaluated.
 * `logs` (optional) is Math.log of every μ, computed by the caller.
 */
export function grideBisection(mus: Float64Array, n1: number, n2: number, n: number, eps: number, d0: number, d1: number, logs?: Float64Array): number {
  if (!logs) {
    logs = new Float64Array(mus.length);
    for (let i = 0; i < mus.length; i++) logs[i] = Math.log(mus[i]);
  }
  const L = logs;
  const exact = (d: number) => negDLogLikLogs(d, mus, L, n1, n2, n, eps);
  const clear = 1e-6 * Math.max(1, n - 1);
  // Root of the vectorised f in (d0, d1), assuming f(d1) > 0 (checked below).
  const search = rootSearch(L, n1, n2, n, eps, d0, d1);
  let l1: number;
  if (d1 * search.sMax - (n - 1) > clear) l1 = 1;
  else {
    // Only the sign of g(d1) enters the bisection: the vectorised value decides unless it is near 0.
    const f1 = slope(L, n1, n2, n, eps, d1, false).f;
    l1 = Math.abs(f1) > clear ? Math.sign(f1) : exact(d1);
  }
  // sign(g(d)) for the replay: +1 above the root, −1 below, exact evaluation near it.
  let root = NaN;
  if (l1 > 0) root = search.root;
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
 * The root of f(d) = d·g(d) = d·S(d) − (N − 1) in (d0, d1), which has g's sign and is nearly linear (exactly so
 * when n2 − n1 = 1, where S is constant), unlike g itself (concave in d). Halley steps (f, f', f'' from one
 * pass), bisection whenever a step leaves the bracket; assumes f(d1) > 0 (the caller checks). Also returns the
 * largest S seen (S is increasing in d).
 */
function rootSearch(logs: Float64Array, n1: number, n2: number, n: number, eps: number, d0: number, d1: number): { root: number; sMax: number } {
  let lo = d0;
  let hi = d1;
  let sMax = -Infinity;
  // Start at the plain MLE of the (n2 − n1 = 1) case, clamped into the bracket.
  let sumLog = 0;
  for (let i = 0; i < logs.length; i++) sumLog += logs[i];
  let d = Math.min(hi, Math.max(lo, (n - 1) / ((n2 - 1) * sumLog)));
  for (let it = 0; it < 200; it++) {
    const { f, df, d2f, s } = slope(logs, n1, n2, n, eps, d, true);
    if (s > sMax) sMax = s;
    if (f > 0) hi = d;
    else if (f < 0) lo = d;
    else return { root: d, sMax };
    const den = 2 * df * df - f * d2f;
    let step = den > 0 ? (2 * f * df) / den : f / df;
    if (!Number.isFinite(step)) step = f / df;
    let next = d - step;
    const inside = next > lo && next < hi;
    if (!inside) next = (lo + hi) / 2;
    // Cubic convergence: a step this small leaves an error far below the 1e-9 band of the replay.
    if ((inside && Math.abs(step) <= 1e-5 * Math.max(1, d)) || hi - lo <= 1e-14 * Math.max(1, d)) return { root: next, sMax };
    d = next;
  }
  return { root: (lo + hi) / 2, sMax };
}

/**
 * f(d) = d·S(d) − (N − 1) with S(d) = Σ (n2 − 1 − c/(1 − μ^{−d})) log μ, c = n2 − n1 − 1, and (with `derivs`)
 * f', f'', from log μ, with μ^{−d} = exp(−d log μ) (not bit-identical to g: it only locates). Where 1 − μ^{−d}
 * is floored the term is constant in d.
 */
function slope(logs: Float64Array, n1: number, n2: number, n: number, eps: number, d: number, derivs: boolean): { f: number; df: number; d2f: number; s: number } {
  const c = n2 - n1 - 1;
  const floor = 2 * eps;
  const b = n2 - 1;
  let sum = 0;
  let s1 = 0;
  let s2 = 0;
  if (c === 0) {
    for (let i = 0; i < logs.length; i++) sum += b * logs[i];
  } else if (!derivs) {
    for (let i = 0; i < logs.length; i++) {
      const Lg = logs[i];
      const raw = 1 - Math.exp(-d * Lg);
      sum += (b - c / (raw < floor ? floor : raw)) * Lg;
    }
  } else {
    for (let i = 0; i < logs.length; i++) {
      const Lg = logs[i];
      const p = Math.exp(-d * Lg);
      const raw = 1 - p;
      if (raw < floor) {
        sum += (b - c / floor) * Lg;
      } else {
        const inv = 1 / raw;
        sum += (b - c * inv) * Lg;
        // d/dd of −c/(1 − p) = c·L·p/(1 − p)²; its derivative −c·L²·p(1 + p)/(1 − p)³ (times L each).
        const q = Lg * Lg * p * inv * inv;
        s1 += q;
        s2 -= q * Lg * (1 + p) * inv;
      }
    }
  }
  const ds = c * s1;
  const d2s = c * s2;
  return { f: d * sum - (n - 1), df: sum + d * ds, d2f: 2 * ds + d * d2s, s: sum };
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

/** q50 + 20 (q95 − q50) of `work` (reordered), both percentiles as percentileSelect computes them. */
function muThreshold(work: Float64Array): number {
  const n = work.length;
  const h95 = (n - 1) * 95 / 100;
  const lo95 = Math.floor(h95);
  const x95 = select(work, lo95);
  let y95 = x95;
  if (lo95 + 1 < n) {
    y95 = Infinity;
    for (let i = lo95 + 1; i < n; i++) if (work[i] < y95) y95 = work[i];
  }
  const t95 = h95 - lo95;
  const q95 = t95 >= 0.5 ? y95 - (y95 - x95) * (1 - t95) : x95 + (y95 - x95) * t95;
  // work[0..lo95] now holds the lo95 + 1 smallest values: the median's two order statistics are among them.
  const h50 = (n - 1) * 50 / 100;
  const lo50 = Math.floor(h50);
  const head = work.subarray(0, lo95 + 1);
  const x50 = select(head, lo50);
  let y50: number;
  if (lo50 + 1 >= n) y50 = x50;
  else if (lo50 + 1 > lo95) y50 = y95;
  else {
    y50 = Infinity;
    for (let i = lo50 + 1; i < head.length; i++) if (head[i] < y50) y50 = head[i];
  }
  const t50 = h50 - lo50;
  const q50 = t50 >= 0.5 ? y50 - (y50 - x50) * (1 - t50) : x50 + (y50 - x50) * t50;
  return 20 * (q95 - q50) + q50;
}

/** Nudges μ = 1 in place (DADApy `_filter_mus`) and returns the outlier threshold. */
function nudgeAndThreshold(mus: Float64Array, dtypeEps: number): number {
  return muThreshold(nudgeInto(mus, dtypeEps, new Float64Array(mus.length)));
}

/** Nudges μ = 1 in place and copies the μ into `work`. */
function nudgeInto(mus: Float64Array, dtypeEps: number, work: Float64Array): Float64Array {
  for (let i = 0; i < mus.length; i++) {
    if (mus[i] === 1) mus[i] += 10 * dtypeEps;
    work[i] = mus[i];
  }
  return work;
}

/** DADApy `_filter_mus`: nudges μ = 1 in place and returns the μ below the outlier threshold. */
export function filterMus(mus: Float64Array, dtypeEps: number): Float64Array {
  const muMax = nudgeAndThreshold(mus, dtypeEps);
  const out = new Float64Array(mus.length);
  let m = 0;
  for (let i = 0; i < mus.length; i++) if (mus[i] < muMax) out[m++] = mus[i];
  return out.slice(0, m);
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

/** grideFisherInformation from log μ, with μ^{−d} = exp(−d log μ) (equal up to float rounding). */
function fisherInformationLogs(d: number, logs: Float64Array, n1: number, n2: number, floor: number): number {
  const c = n2 - n1 - 1;
  return logs.length / (d * d) + c * (c !== 0 ? fisherSum(d, logs, floor) : 0);
}

// Loops that run once per call live in functions of their own (here and below): a function with code after
// its loop is compiled on stack (OSR) inside the loop, without type feedback for what follows, and that code
// then deoptimised on every call (measured: every Gride scale, every run).

/** Σ (log μ / (1 − μ^{−d}))² μ^{−d} with 1 − μ^{−d} floored (fisherInformationLogs). */
function fisherSum(d: number, logs: Float64Array, floor: number): number {
  let j1 = 0;
  for (let i = 0; i < logs.length; i++) {
    const p = Math.exp(-d * logs[i]);
    let oneM = 1 - p;
    if (oneM < floor) oneM = floor;
    const f = logs[i] / oneM;
    j1 += f * f * p;
  }
  return j1;
}

/**
 * ID and error from the ratios μ = r_{n2}/r_{n1} (DADApy `_compute_id_gride_single_scale`). `mus` is nudged in
 * place where equal to 1, as in DADApy. `dtypeEps` is the machine epsilon of the data's type.
 */
export function grideFromMus(mus: Float64Array, n1: number, n2: number, dtypeEps: number, opts: GrideRootOptions = {}): { id: number; error: number; nUsed: number } {
  const d0 = opts.d0 ?? 0.001;
  const d1 = opts.d1 ?? 1000;
  const eps = opts.eps ?? 1e-7;
  if (!(d0 > 0 && d1 > d0)) throw new AtlasError(`the ID search interval [${d0}, ${d1}] is empty or not positive`, { field: 'd0/d1' });
  if (!(eps > 0)) throw new AtlasError(`eps must be positive, got ${eps}`, { field: 'eps' });
  const muMax = nudgeAndThreshold(mus, dtypeEps);
  // log μ once for all μ (the Fisher information) and the kept ones (the root), in one pass.
  const logs = new Float64Array(mus.length);
  const kept = new Float64Array(mus.length);
  const keptLogs = new Float64Array(mus.length);
  const n = logsAndKept(mus, muMax, logs, kept, keptLogs);
  if (n < 2) throw new AtlasError(`only ${n} neighbour ratios survive the outlier filter; Gride needs at least 2`, { field: 'X', hint: 'provide more (distinct) points' });
  const id = grideBisection(kept.subarray(0, n), n1, n2, n, eps, d0, d1, keptLogs.subarray(0, n));
  const error = 1 / Math.sqrt(fisherInformationLogs(id, logs, n1, 2 * n1, 5 * dtypeEps));
  return { id, error, nUsed: n };
}

/** logs = log μ; kept/keptLogs = the μ < muMax and their logs, in order; returns how many are kept. */
function logsAndKept(mus: Float64Array, muMax: number, logs: Float64Array, kept: Float64Array, keptLogs: Float64Array): number {
  let n = 0;
  for (let i = 0; i < mus.length; i++) {
    const v = mus[i];
    const lg = Math.log(v);
    logs[i] = lg;
    if (v < muMax) {
      kept[n] = v;
      keptLogs[n] = lg;
      n++;
    }
  }
  return n;
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
  const n = r.n;
  const flat = new Float64Array(ranks.length * n);
  gatherColumns(r.distances, r.k, Int32Array.from(ranks), flat, n);
  return new Map(ranks.map((rank, c) => [rank, flat.subarray(c * n, (c + 1) * n)]));
}

/** flat[c·n + i] = dist[i·k + ranks[c] − 1]: one loop over flat typed arrays (an array of columns deoptimised). */
function gatherColumns(dist: Float64Array, k: number, ranks: Int32Array, flat: Float64Array, n: number): void {
  const m = ranks.length;
  for (let i = 0; i < n; i++) {
    const o = i * k - 1;
    for (let c = 0; c < m; c++) flat[c * n + i] = dist[o + ranks[c]];
  }
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

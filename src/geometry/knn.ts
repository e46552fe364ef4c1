import { AtlasError } from '../errors.ts';
import { gemm } from './gemm.ts';
import type { Matrix } from './matrix.ts';

/**
 * Exact k nearest neighbours of every row of an N×d matrix (rows = points), the point itself excluded.
 *
 * How it stays exact and fast: distances are screened in row blocks with a float32 matrix product
 * (‖q‖² + ‖x‖² − 2 q·xᵀ, through onnxruntime's GEMM), so memory is O(block·N + N·k). float32 products carry
 * rounding error, so the screen does not pick the k nearest directly: it finds the k-th smallest screened
 * value τ and keeps every point whose screened value is within a rigorous float32 error bound of τ (see
 * `screenBound`). Those candidates are then measured exactly in float64 from the original coordinates and
 * sorted by (distance, index). The result therefore equals a naive O(N²) float64 search bit for bit,
 * with ties broken by the lower index.
 *
 * Distances (the reference library's conventions — DADApy / scikit-learn):
 *  - 'euclidean' (default): √Σ(aᵢ − bᵢ)², summed in coordinate order in float64.
 *  - 'cosine': 1 − a·b / (‖a‖‖b‖), clipped to [0, 2] like scikit-learn's cosine_distances.
 *
 * Identical points: a point's duplicates are ordinary neighbours at distance 0 (the point itself is always
 * excluded by index, never by distance). Estimators that divide by neighbour distances (TwoNN, Gride)
 * refuse zero distances with an AtlasError instead of producing Infinity/NaN; DADApy only warns there and
 * asks the user to call `remove_identical_points`. `removeIdenticalPoints` below is that step.
 */
export type Metric = 'euclidean' | 'cosine';

export interface KnnOptions {
  /** Neighbours per point, self excluded. Must satisfy k + 1 ≤ N. */
  k: number;
  /** Default 'euclidean'. */
  metric?: Metric;
  /** Intra-op threads for the distance products. Default: all cores. */
  threads?: number;
  /** Query rows per distance block. Default: chosen so a block is ~64 MB of float32. */
  blockRows?: number;
  /**
   * 'symmetric' (default): half the distance products (upper block triangle) when N is large enough;
   * 'rows': every row's full product row. Same result either way (kept for tests and comparisons).
   */
  strategy?: 'symmetric' | 'rows';
}

export interface KnnResult {
  /** Number of points. */
  n: number;
  /** Neighbours per point. */
  k: number;
  metric: Metric;
  /** n·k neighbour indices, row i holds point i's neighbours nearest first (self excluded). */
  indices: Int32Array;
  /** n·k distances matching `indices`, ascending per row (ties: lower index first). */
  distances: Float64Array;
  /**
   * Machine epsilon of the input's storage type (float32: 2⁻²³, float64: 2⁻⁵²). DADApy's Gride uses
   * `np.finfo(dtype).eps` of the data for its small-number regularisations; estimators read it from here.
   */
  dtypeEps: number;
}

const F32_EPS = 2 ** -23;
const F64_EPS = 2 ** -52;

/** Rejects NaN/±Infinity with the row and column named; the field names the matrix for the message. */
export function assertFinite(X: Matrix, field = 'X'): void {
  const { rows, cols, data } = X;
  for (let i = 0; i < rows * cols; i++) {
    if (!Number.isFinite(data[i])) {
      const r = Math.floor(i / cols);
      throw new AtlasError(`row ${r}, column ${i - r * cols} is ${data[i]}; distances need finite coordinates`, {
        field, hint: 'remove or impute that row before computing neighbours',
      });
    }
  }
}

function checkK(n: number, k: number, field = 'k'): void {
  if (!Number.isInteger(k) || k < 1) throw new AtlasError(`k must be a positive integer, got ${k}`, { field });
  if (n < k + 1) {
    throw new AtlasError(`${n} points cannot have ${k} neighbours each (need N ≥ k + 1 = ${k + 1})`, {
      field, hint: 'lower k or provide more points',
    });
  }
}

/** ‖row‖ in float64, summed in coordinate order (the same order the exact distance uses). */
function rowNorms(X: Matrix): Float64Array {
  const { rows, cols, data } = X;
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    const o = i * cols;
    for (let j = 0; j < cols; j++) s += data[o + j] * data[o + j];
    out[i] = Math.sqrt(s);
  }
  return out;
}

/** Exact float64 distance between rows i and j; `norms` are the row norms (used by cosine only). */
function exactDistance(X: Matrix, i: number, j: number, metric: Metric, norms: Float64Array): number {
  const { cols, data } = X;
  const a = i * cols;
  const b = j * cols;
  if (metric === 'euclidean') {
    let s = 0;
    for (let t = 0; t < cols; t++) {
      const d = data[a + t] - data[b + t];
      s += d * d;
    }
    return Math.sqrt(s);
  }
  let dot = 0;
  for (let t = 0; t < cols; t++) dot += data[a + t] * data[b + t];
  const c = 1 - dot / (norms[i] * norms[j]);
  return c < 0 ? 0 : c > 2 ? 2 : c;
}

/**
 * The screen works on s_j = ‖x_j‖²/2 − q·x_j (the per-row constant ‖q‖²/2 dropped), which orders points like
 * the squared Euclidean distance (cosine: on unit-normalised rows, like 1 − cos). With the dot product in
 * float32 over d terms, |error(q·x_j)| ≤ γ·‖q‖·‖x_j‖ with γ = (d + 3)·u / (1 − (d + 3)·u), u = 2⁻²⁴ (standard
 * bound for any summation order, plus input rounding to float32 and output rounding); the float64 terms add
 * a few ulps of ‖q‖² + ‖x‖². We double γ for safety: a wider screen costs a few extra exact distances, never
 * correctness.
 */
function screenGamma(d: number): number {
  const u = 2 ** -24;
  const nu = (d + 3) * u;
  return 2 * nu / (1 - nu);
}

interface Candidate { idx: number; dist: number }

/** The prepared, read-only state shared by all blocks of one search (also by the worker threads). */
export interface Search {
  X: Matrix;
  n: number;
  k: number;
  metric: Metric;
  norms: Float64Array;
  /** float32 copy (cosine: of the unit-normalised rows) fed to GEMM. */
  screen: Float32Array;
  /** ‖x_j‖²/2 of the screened rows, float64. */
  halfSq: Float64Array;
  /** ‖x_j‖ of the screened rows. */
  screenNorm: Float64Array;
  gamma: number;
  /** Relative float64 slack: rounding in the norms and in the exact distance itself. */
  slack: number;
  /** Absolute slack for float32 subnormal flushing of tiny coordinates. */
  tiny: number;
  /** max_j ‖x_j‖ of the screened rows. */
  maxNorm: number;
  indices: Int32Array;
  distances: Float64Array;
}

/** Typed array of n elements, in a SharedArrayBuffer when `shared` (so worker threads see the same memory). */
function alloc<T extends Float32Array | Float64Array | Int32Array>(C: { new (b: ArrayBuffer | SharedArrayBuffer): T; BYTES_PER_ELEMENT: number }, n: number, shared: boolean): T {
  return new C(shared ? new SharedArrayBuffer(n * C.BYTES_PER_ELEMENT) : new ArrayBuffer(n * C.BYTES_PER_ELEMENT));
}

export function prepare(X: Matrix, k: number, metric: Metric, shared = false): Search {
  const { rows: n, cols: d } = X;
  const norms = rowNorms(X);
  const screen = alloc(Float32Array, n * d, shared);
  const halfSq = alloc(Float64Array, n, shared);
  const screenNorm = alloc(Float64Array, n, shared);
  if (metric === 'cosine') {
    for (let i = 0; i < n; i++) {
      if (norms[i] === 0) {
        throw new AtlasError(`row ${i} is the zero vector; its cosine distance is undefined`, {
          field: 'X', hint: "remove zero rows or use metric 'euclidean'",
        });
      }
      const inv = 1 / norms[i];
      for (let t = 0; t < d; t++) screen[i * d + t] = X.data[i * d + t] * inv;
      halfSq[i] = 0.5;
      screenNorm[i] = 1;
    }
  } else {
    // Scale by a power of two (exact) so the largest |value| is ~1: float32 then neither overflows nor loses
    // relative precision to subnormals, and the error bound below stays valid at any data scale.
    let maxAbs = 0;
    for (let i = 0; i < n * d; i++) maxAbs = Math.max(maxAbs, Math.abs(X.data[i]));
    const c = maxAbs > 0 ? 2 ** -Math.round(Math.log2(maxAbs)) : 1;
    for (let i = 0; i < n * d; i++) screen[i] = X.data[i] * c;
    for (let i = 0; i < n; i++) {
      screenNorm[i] = norms[i] * c;
      halfSq[i] = screenNorm[i] * screenNorm[i] / 2;
    }
  }
  return {
    X, n, k, metric, norms, screen, halfSq, screenNorm, gamma: screenGamma(d),
    slack: (d + 16) * F64_EPS, tiny: 4 * (d + 4) * 2 ** -126, maxNorm: screenNorm.reduce((a, b) => Math.max(a, b), 0),
    indices: alloc(Int32Array, n * k, shared), distances: alloc(Float64Array, n * k, shared),
  };
}

/** Reusable per-search buffers (candidate lists grow on demand; one Scratch per thread). */
export interface Scratch {
  /** Candidate indices and their screened values. */
  ci: Int32Array;
  cv: Float64Array;
  /** Exact distances of the kept candidates. */
  cd: Float64Array;
  /** Sampled screened values (threshold guess). */
  sample: Float64Array;
}

export function scratch(k: number, n: number): Scratch {
  const cap = 8 * k + 64;
  return { ci: new Int32Array(cap), cv: new Float64Array(cap), cd: new Float64Array(cap), sample: new Float64Array(Math.min(n, 32 * k + 64)) };
}

/** Sorts the first m candidates by (distance, index): insertion sort, since m is ~k and nearly random. */
function sortCandidates(ci: Int32Array, cd: Float64Array, m: number): void {
  for (let i = 1; i < m; i++) {
    const di = cd[i];
    const ii = ci[i];
    let j = i - 1;
    while (j >= 0 && (cd[j] > di || (cd[j] === di && ci[j] > ii))) {
      cd[j + 1] = cd[j];
      ci[j + 1] = ci[j];
      j--;
    }
    cd[j + 1] = di;
    ci[j + 1] = ii;
  }
}

/** The r-th smallest (0-based) of a[0..m), partially reordering a (Hoare quickselect, median-of-3 pivots). */
function selectValue(a: Float64Array, m: number, r: number): number {
  let lo = 0;
  let hi = m - 1;
  while (hi > lo) {
    const mid = (lo + hi) >> 1;
    const x = a[lo];
    const y = a[mid];
    const z = a[hi];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (r <= j) hi = j;
    else if (r >= i) lo = i;
    else return a[r];
  }
  return a[r];
}

/** Collects every j ≠ q with screened value ≤ thr into w.ci/w.cv; returns the count (grows the buffers). */
function collect(S: Search, q: number, g: Float32Array, go: number, thr: number, w: Scratch): number {
  const { n, halfSq } = S;
  let ci = w.ci;
  let cv = w.cv;
  let m = 0;
  for (let j = 0; j < n; j++) {
    const v = halfSq[j] - g[go + j];
    if (v <= thr) {
      if (m === ci.length) {
        const ni = new Int32Array(2 * m);
        ni.set(ci);
        const nv = new Float64Array(2 * m);
        nv.set(cv);
        w.ci = ci = ni;
        w.cv = cv = nv;
        w.cd = new Float64Array(2 * m);
      }
      ci[m] = j;
      cv[m++] = v;
    }
  }
  // Drop the query itself (excluded by index, never by distance).
  for (let t = 0; t < m; t++) {
    if (ci[t] === q) {
      ci[t] = ci[m - 1];
      cv[t] = cv[m - 1];
      m--;
      break;
    }
  }
  return m;
}

/**
 * Selects point q's exact k nearest from its row g (offset go, length n) of screened dot products q·x_j.
 *
 * Screened values s̃_j = ‖x_j‖²/2 − q·x_j. The screen error of point j is at most
 * e_j = γ‖q‖‖x_j‖ + slack·(‖q‖ + ‖x_j‖)²/2 + tiny·(1 + ‖q‖ + ‖x_j‖), so with τ the k-th smallest s̃ (self
 * excluded), every true top-k point j has s̃_j ≤ τ + max e(k smallest) + e_j ≤ τ + band, band = 2·e(max ‖x‖).
 *
 * Instead of a running heap, a threshold is guessed from an evenly spaced sample of the row (an order
 * statistic that leaves ~2k points below it), one branch-light pass collects every j under it, and the guess
 * is verified: it is valid when at least k points lie under it and τ + band ≤ threshold; otherwise the pass is
 * repeated with τ + band (or with no threshold). The candidates within each point's own bound are then
 * measured exactly in float64 and sorted by (distance, index) — the same set and result as the naive search.
 */
export function selectRow(S: Search, q: number, g: Float32Array, go: number, w: Scratch): void {
  const { n, k, halfSq, screenNorm, gamma, slack, tiny, maxNorm } = S;
  const qn = screenNorm[q];
  // e(x) = c0 + c1·x + c2·x², the bound above as a polynomial in ‖x_j‖.
  const c0 = slack * qn * qn / 2 + tiny * (1 + qn);
  const c1 = gamma * qn + slack * qn + tiny;
  const c2 = slack / 2;
  const band = 2 * (c0 + c1 * maxNorm + c2 * maxNorm * maxNorm);
  // Threshold guess: sample every `stride`-th value; its order statistic r ≈ 2k·(sample/n) + 4 leaves about
  // 2k + 4·stride points below it.
  const sample = w.sample;
  const stride = Math.ceil(n / sample.length);
  let ms = 0;
  for (let j = 0; j < n; j += stride) sample[ms++] = halfSq[j] - g[go + j];
  const r = Math.min(ms - 1, Math.ceil((2 * k * ms) / n) + 4);
  let thr = stride === 1 && r >= ms - 1 ? Infinity : selectValue(sample, ms, r) + band;
  let m = collect(S, q, g, go, thr, w);
  let tau = 0;
  for (let attempt = 0; ; attempt++) {
    if (m >= k) {
      // τ = k-th smallest candidate value: the candidates hold every value ≤ thr, so it is the row's τ.
      w.cd.set(w.cv.subarray(0, m));
      tau = selectValue(w.cd, m, k - 1);
      if (tau + band <= thr) break;
      thr = tau + band;
    } else thr = Infinity;
    if (attempt > 2) throw new Error('knn: candidate threshold did not settle (non-finite screen value?)');
    m = collect(S, q, g, go, thr, w);
  }
  finishRow(S, q, w, m, tau);
}

/**
 * Final stage of a row: w.ci/w.cv hold m candidates that include every j with s̃_j ≤ τ + band (τ = the row's k-th
 * smallest screened value). Keeps those within their own bound, measures them exactly, sorts, writes row q.
 */
function finishRow(S: Search, q: number, w: Scratch, m: number, tau: number): void {
  const { k, screenNorm, gamma, slack, tiny } = S;
  const qn = screenNorm[q];
  const c0 = slack * qn * qn / 2 + tiny * (1 + qn);
  const c1 = gamma * qn + slack * qn + tiny;
  const c2 = slack / 2;
  const { ci, cv, cd } = w;
  // max ‖x‖ over k candidates with value ≤ τ (any such set bounds the true k-th value).
  let hn = 0;
  let taken = 0;
  for (let t = 0; t < m && taken < k; t++) {
    if (cv[t] < tau) {
      hn = Math.max(hn, screenNorm[ci[t]]);
      taken++;
    }
  }
  for (let t = 0; t < m && taken < k; t++) {
    if (cv[t] === tau) {
      hn = Math.max(hn, screenNorm[ci[t]]);
      taken++;
    }
  }
  const limit = tau + (c0 + c1 * hn + c2 * hn * hn) + c0;
  let kept = 0;
  for (let t = 0; t < m; t++) {
    const xn = screenNorm[ci[t]];
    if (cv[t] <= limit + c1 * xn + c2 * xn * xn) ci[kept++] = ci[t];
  }
  exactDistances(S, q, ci, cd, kept);
  sortCandidates(ci, cd, kept);
  const o = q * k;
  for (let t = 0; t < k; t++) {
    S.indices[o + t] = ci[t];
    S.distances[o + t] = cd[t];
  }
}

/**
 * cd[t] = exact float64 distance from q to ci[t], t < m. Four candidates share one pass over q so their four
 * sums (each still accumulated in coordinate order, bit-identical to `exactDistance`) proceed in parallel.
 */
function exactDistances(S: Search, q: number, ci: Int32Array, cd: Float64Array, m: number): void {
  const { cols, data } = S.X;
  const a = q * cols;
  let t = 0;
  if (S.metric === 'euclidean') {
    for (; t + 3 < m; t += 4) {
      const b0 = ci[t] * cols;
      const b1 = ci[t + 1] * cols;
      const b2 = ci[t + 2] * cols;
      const b3 = ci[t + 3] * cols;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let u = 0; u < cols; u++) {
        const x = data[a + u];
        const e0 = x - data[b0 + u];
        const e1 = x - data[b1 + u];
        const e2 = x - data[b2 + u];
        const e3 = x - data[b3 + u];
        s0 += e0 * e0;
        s1 += e1 * e1;
        s2 += e2 * e2;
        s3 += e3 * e3;
      }
      cd[t] = Math.sqrt(s0);
      cd[t + 1] = Math.sqrt(s1);
      cd[t + 2] = Math.sqrt(s2);
      cd[t + 3] = Math.sqrt(s3);
    }
  }
  for (; t < m; t++) cd[t] = exactDistance(S.X, q, ci[t], S.metric, S.norms);
}

/** band(q) = 2·e(max ‖x‖): the widest screen-error margin any candidate of row q can need (see selectRow). */
function bandOf(S: Search, q: number): number {
  const qn = S.screenNorm[q];
  const c0 = S.slack * qn * qn / 2 + S.tiny * (1 + qn);
  const c1 = S.gamma * qn + S.slack * qn + S.tiny;
  const x = S.maxNorm;
  return 2 * (c0 + c1 * x + (S.slack / 2) * x * x);
}

/**
 * The GEMM search using the symmetry of distances: only the upper block triangle of X·Xᵀ is computed (half
 * the flops), and each product value feeds both its row point and its column point.
 *
 * Because a row's values then arrive in pieces, its candidate threshold must be known up front: a first, thin
 * product against an evenly spaced sample of the points gives every row a guess (an order statistic of its
 * sampled values, plus the band), exactly as selectRow guesses. The main pass appends every pair under either
 * point's threshold to that point's list. A row is finished from its list when the list proves complete
 * (≥ k entries, τ + band ≤ threshold, no overflow); otherwise — rare — the row is redone by selectRow on its
 * full product row. Either way the candidate set contains all points the exact filter needs, so the result is
 * the same as the one-sided search.
 */
async function symmetricSearch(S: Search, opts: KnnOptions): Promise<void> {
  const { n, k, X, halfSq } = S;
  const d = X.cols;
  const all: Matrix<Float32Array> = { rows: n, cols: d, data: S.screen };
  // Pass 1: thresholds from sampled columns.
  const sampleSize = Math.min(n, Math.max(16 * k + 64, 512));
  const stride = Math.ceil(n / sampleSize);
  const cols: number[] = [];
  for (let j = 0; j < n; j += stride) cols.push(j);
  const ms = cols.length;
  const sampled = new Float32Array(ms * d);
  for (let t = 0; t < ms; t++) sampled.set(S.screen.subarray(cols[t] * d, cols[t] * d + d), t * d);
  const r = Math.min(ms - 1, Math.ceil((2 * k * ms) / n) + 3);
  const thr = new Float64Array(n);
  const block = Math.max(1, Math.min(n, opts.blockRows ?? Math.floor((16 * 2 ** 20) / n)));
  const vals = new Float64Array(ms);
  for (let start = 0; start < n; start += block) {
    const end = Math.min(n, start + block);
    const g = (await gemm({ rows: end - start, cols: d, data: S.screen.subarray(start * d, end * d) }, { rows: ms, cols: d, data: sampled }, { transposeB: true, threads: opts.threads })).data;
    for (let i = start; i < end; i++) {
      const o = (i - start) * ms;
      for (let t = 0; t < ms; t++) vals[t] = halfSq[cols[t]] - g[o + t];
      thr[i] = selectValue(vals, ms, r) + bandOf(S, i);
    }
  }
  // Pass 2: upper block triangle. Lists of capacity `cap` per point; overflow marks the point for a redo.
  const cap = 2 * (r + 3) * stride + k + 16;
  const li = new Int32Array(n * cap);
  const lv = new Float64Array(n * cap);
  const count = new Int32Array(n); // −1: overflowed
  for (let start = 0; start < n; start += block) {
    const end = Math.min(n, start + block);
    const width = n - start;
    const g = (await gemm({ rows: end - start, cols: d, data: S.screen.subarray(start * d, end * d) }, { rows: width, cols: d, data: S.screen.subarray(start * d) }, { transposeB: true, threads: opts.threads })).data;
    for (let i = start; i < end; i++) {
      const go = (i - start) * width - start;
      const hi = halfSq[i];
      const ti = thr[i];
      let ci = count[i];
      const oi = i * cap;
      for (let j = i + 1; j < n; j++) {
        const gv = g[go + j];
        if (halfSq[j] - gv <= ti) {
          if (ci >= 0) {
            if (ci === cap) ci = -1;
            else {
              li[oi + ci] = j;
              lv[oi + ci++] = halfSq[j] - gv;
            }
          }
        }
        if (hi - gv <= thr[j]) {
          const cj = count[j];
          if (cj >= 0) {
            if (cj === cap) count[j] = -1;
            else {
              li[j * cap + cj] = i;
              lv[j * cap + cj] = hi - gv;
              count[j] = cj + 1;
            }
          }
        }
      }
      count[i] = ci;
    }
  }
  // Finish every row whose list is provably complete; collect the others.
  const w = scratch(k, n);
  const redo: number[] = [];
  for (let i = 0; i < n; i++) {
    const m = count[i];
    if (m < k) {
      redo.push(i);
      continue;
    }
    if (w.ci.length < m) Object.assign(w, { ci: new Int32Array(m), cv: new Float64Array(m), cd: new Float64Array(m) });
    w.ci.set(li.subarray(i * cap, i * cap + m));
    w.cv.set(lv.subarray(i * cap, i * cap + m));
    w.cd.set(w.cv.subarray(0, m));
    const tau = selectValue(w.cd, m, k - 1);
    if (tau + bandOf(S, i) > thr[i]) {
      redo.push(i);
      continue;
    }
    finishRow(S, i, w, m, tau);
  }
  for (let t = 0; t < redo.length; t += block) {
    const rows = redo.slice(t, t + block);
    const q = new Float32Array(rows.length * d);
    rows.forEach((i, u) => q.set(S.screen.subarray(i * d, i * d + d), u * d));
    const g = (await gemm({ rows: rows.length, cols: d, data: q }, all, { transposeB: true, threads: opts.threads })).data;
    rows.forEach((i, u) => selectRow(S, i, g, u * n, w));
  }
}

/** Exact search by direct float64 distances: used for tiny inputs, where a GEMM call costs more than it saves. */
function directSearch(S: Search): void {
  const { n, k } = S;
  const cands: Candidate[] = new Array(n - 1);
  for (let q = 0; q < n; q++) {
    let c = 0;
    for (let j = 0; j < n; j++) if (j !== q) cands[c++] = { idx: j, dist: exactDistance(S.X, q, j, S.metric, S.norms) };
    cands.sort((a, b) => a.dist - b.dist || a.idx - b.idx);
    for (let t = 0; t < k; t++) {
      S.indices[q * k + t] = cands[t].idx;
      S.distances[q * k + t] = cands[t].dist;
    }
  }
}

export async function knn(X: Matrix, opts: KnnOptions): Promise<KnnResult> {
  const metric = opts.metric ?? 'euclidean';
  if (metric !== 'euclidean' && metric !== 'cosine') {
    throw new AtlasError(`unknown metric '${String(metric)}'`, { field: 'metric', hint: "use 'euclidean' or 'cosine'" });
  }
  const { rows: n, cols: d } = X;
  checkK(n, opts.k);
  if (d === 0) throw new AtlasError('the matrix has no columns', { field: 'X' });
  assertFinite(X);
  const S = prepare(X, opts.k, metric);
  const dtypeEps = X.data instanceof Float32Array ? F32_EPS : F64_EPS;

  // Below ~2 MFLOP a GEMM round trip costs more than the direct loop.
  if (n * n * d <= 2e6) {
    directSearch(S);
  } else if (n >= 4 * Math.max(16 * opts.k + 64, 512) && (opts.strategy ?? 'symmetric') === 'symmetric') {
    await symmetricSearch(S, opts);
  } else {
    const block = Math.max(1, Math.min(n, opts.blockRows ?? Math.floor((16 * 2 ** 20) / n)));
    const all: Matrix<Float32Array> = { rows: n, cols: d, data: S.screen };
    const product = (start: number) => {
      const end = Math.min(n, start + block);
      const q: Matrix<Float32Array> = { rows: end - start, cols: d, data: S.screen.slice(start * d, end * d) };
      return gemm(q, all, { transposeB: true, threads: opts.threads });
    };
    const w = scratch(opts.k, n);
    // Pipeline: the next block's product runs on onnxruntime's threads while this block is selected.
    let pending = product(0);
    for (let start = 0; start < n; start += block) {
      const g = await pending;
      if (start + block < n) pending = product(start + block);
      const rowsHere = Math.min(block, n - start);
      for (let r = 0; r < rowsHere; r++) selectRow(S, start + r, g.data, r * n, w);
    }
  }
  return { n, k: opts.k, metric, indices: S.indices, distances: S.distances, dtypeEps };
}

/** The first `k` columns of a neighbour table (k ≤ result.k), as a new result. */
export function truncateKnn(r: KnnResult, k: number): KnnResult {
  if (!Number.isInteger(k) || k < 1 || k > r.k) {
    throw new AtlasError(`cannot take ${k} neighbours from a table of ${r.k}`, { field: 'k', hint: `compute knn with k ≥ ${k}` });
  }
  if (k === r.k) return r;
  const indices = new Int32Array(r.n * k);
  const distances = new Float64Array(r.n * k);
  for (let i = 0; i < r.n; i++) {
    indices.set(r.indices.subarray(i * r.k, i * r.k + k), i * k);
    distances.set(r.distances.subarray(i * r.k, i * r.k + k), i * k);
  }
  return { ...r, k, indices, distances };
}

/** Number of points whose nearest neighbour is at distance 0 (duplicates of another point). */
export function countZeroDistances(r: KnnResult, rank = 1): number {
  let c = 0;
  for (let i = 0; i < r.n; i++) if (r.distances[i * r.k + rank - 1] === 0) c++;
  return c;
}

/**
 * Drops exact duplicate rows, keeping the first occurrence of each in the original order (DADApy's
 * `remove_identical_points` keeps one copy too, but reorders the rows through np.unique). Returns the
 * reduced matrix and, for each kept row, its index in the input.
 */
export function removeIdenticalPoints<T extends Float32Array | Float64Array>(X: Matrix<T>): { X: Matrix<T>; kept: Int32Array; removed: number } {
  const { rows, cols, data } = X;
  const seen = new Map<number, number[]>();
  const kept: number[] = [];
  const f64 = new Float64Array(1);
  const bits = new Int32Array(f64.buffer);
  for (let i = 0; i < rows; i++) {
    // Hash the float64 bit patterns (+0 for −0, which compares equal, as in np.unique), then compare exactly.
    let h = 0;
    for (let t = 0; t < cols; t++) {
      f64[0] = data[i * cols + t] + 0;
      h = (Math.imul(h, 31) + bits[0] + Math.imul(bits[1], 17)) | 0;
    }
    const bucket = seen.get(h);
    let dup = false;
    if (bucket) {
      for (const j of bucket) {
        let same = true;
        for (let t = 0; t < cols && same; t++) same = data[i * cols + t] === data[j * cols + t];
        if (same) { dup = true; break; }
      }
    }
    if (!dup) {
      kept.push(i);
      if (bucket) bucket.push(i); else seen.set(h, [i]);
    }
  }
  const out = new (data.constructor as { new (n: number): T })(kept.length * cols);
  kept.forEach((r, t) => out.set(data.subarray(r * cols, (r + 1) * cols), t * cols));
  return { X: { rows: kept.length, cols, data: out }, kept: Int32Array.from(kept), removed: rows - kept.length };
}

export { checkK as assertNeighbourCount };

export function isKnnResult(x: unknown): x is KnnResult {
  return typeof x === 'object' && x !== null && (x as KnnResult).indices instanceof Int32Array && (x as KnnResult).distances instanceof Float64Array;
}

/**
 * Neighbour tables are computed once and reused by every estimator: each accepts either the data matrix
 * (and computes what it needs) or a KnnResult with at least the `k` neighbours it needs.
 */
export async function neighboursOf(input: Matrix | KnnResult, k: number, opts: { metric?: Metric; threads?: number; field?: string } = {}): Promise<KnnResult> {
  if (isKnnResult(input)) {
    if (input.k < k) {
      throw new AtlasError(`the neighbour table has ${input.k} neighbours per point but ${k} are needed`, {
        field: opts.field ?? 'knn', hint: `compute knn with k ≥ ${k}`,
      });
    }
    return input;
  }
  return knn(input, { k, metric: opts.metric, threads: opts.threads });
}

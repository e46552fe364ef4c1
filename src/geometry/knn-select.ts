import { AtlasError } from '../errors.ts';
import type { Matrix } from './matrix.ts';

/**
 * The selection core of the exact k-NN search (see knn.ts for the method): the prepared search state, the
 * float32 screen's error bound, per-row candidate selection and the exact float64 re-check. Kept free of
 * onnxruntime so worker threads can load it cheaply.
 */
export type Metric = 'euclidean' | 'cosine';

const F64_EPS = 2 ** -52;

/** ‖row‖ in float64, summed in coordinate order (the same order the exact distance uses). */
export function rowNorms(X: Matrix): Float64Array {
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
export function exactDistance(X: Matrix, i: number, j: number, metric: Metric, norms: Float64Array): number {
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
export function screenGamma(d: number): number {
  const u = 2 ** -24;
  const nu = (d + 3) * u;
  return 2 * nu / (1 - nu);
}


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
export function alloc<T extends Float32Array | Float64Array | Int32Array>(C: { new (b: ArrayBuffer | SharedArrayBuffer): T; BYTES_PER_ELEMENT: number }, n: number, shared: boolean): T {
  return new C(shared ? new SharedArrayBuffer(n * C.BYTES_PER_ELEMENT) : new ArrayBuffer(n * C.BYTES_PER_ELEMENT));
}

export function prepare(input: Matrix, k: number, metric: Metric, shared = false): Search {
  const { rows: n, cols: d } = input;
  // Worker threads read the coordinates too: give them the same memory.
  const X: Matrix = shared
    ? { rows: n, cols: d, data: input.data instanceof Float32Array ? alloc(Float32Array, n * d, true) : alloc(Float64Array, n * d, true) }
    : input;
  if (shared) X.data.set(input.data);
  const norms = rowNorms(X);
  // Never shared: onnxruntime refuses SharedArrayBuffer-backed inputs, and only the main thread runs products.
  const screen = alloc(Float32Array, n * d, false);
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
export function sortCandidates(ci: Int32Array, cd: Float64Array, m: number): void {
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
export function selectValue(a: Float64Array, m: number, r: number): number {
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
export function collect(S: Search, q: number, g: Float32Array, go: number, thr: number, w: Scratch): number {
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
export function finishRow(S: Search, q: number, w: Scratch, m: number, tau: number): void {
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
export function exactDistances(S: Search, q: number, ci: Int32Array, cd: Float64Array, m: number): void {
  exactDistancesTo(S.X, S.metric, S.norms, q, ci, cd, m);
}

/** cd[t] = exactDistance(X, q, ci[t]) for t < m, four candidates per pass over q (see exactDistances). */
export function exactDistancesTo(X: Matrix, metric: Metric, norms: Float64Array, q: number, ci: Int32Array, cd: Float64Array, m: number): void {
  const { cols, data } = X;
  const a = q * cols;
  let t = 0;
  if (metric === 'euclidean') {
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
  for (; t < m; t++) cd[t] = exactDistance(X, q, ci[t], metric, norms);
}

/** band(q) = 2·e(max ‖x‖): the widest screen-error margin any candidate of row q can need (see selectRow). */
export function bandOf(S: Pick<Search, 'screenNorm' | 'slack' | 'gamma' | 'tiny' | 'maxNorm'>, q: number): number {
  const qn = S.screenNorm[q];
  const c0 = S.slack * qn * qn / 2 + S.tiny * (1 + qn);
  const c1 = S.gamma * qn + S.slack * qn + S.tiny;
  const x = S.maxNorm;
  return 2 * (c0 + c1 * x + (S.slack / 2) * x * x);
}

/**
 * The per-point candidate lists of a symmetric search (see knn.ts symmetricSearch), filled by scanBlock and
 * finished by finishListedRows, on the main thread and a worker.
 *
 * Point p's t-th entry is li[2(p·cap + t)], lg[2(p·cap + t) + 1] (t < count[p]; two views of one buffer, so an
 * append touches one cache line): a neighbour index and the float32 product q·x of the pair; its screened value
 * is halfSq[index] − product (recomputed exactly where needed, so an entry costs 8 bytes). count −1 marks an overflowed list (its row is redone from a full product row).
 *
 * thr[p] is p's collection threshold, first guessed from a sample (seedThresholds), then lowered to (the k-th
 * smallest of some k screened values of p seen so far) + band(p) when p has k entries and whenever its list is
 * compacted. Any k values' k-th smallest is ≥ p's final k-th smallest τ, so these updates keep thr[p] ≥ τ +
 * band(p), and the list holds every value ≤ τ + band — exactly the candidates selectRow's proof needs — as long
 * as the guess was not too low; finishListedRows checks that (≥ k entries, τ + band ≤ thr[p]) and otherwise
 * hands the row back to be redone, as it does an overflowed one.
 */
export interface Lists {
  n: number;
  k: number;
  cap: number;
  halfSq: Float64Array;
  /** band(p) = bandOf(S, p) per point. */
  band: Float64Array;
  thr: Float64Array;
  li: Int32Array;
  lg: Float32Array;
  count: Int32Array;
}

/** Lists for n points in shared memory when `shared`; cap entries per point. */
export function makeLists(S: Search, cap: number, shared: boolean): Lists {
  const { n, k } = S;
  const band = alloc(Float64Array, n, shared);
  for (let p = 0; p < n; p++) band[p] = bandOf(S, p);
  const thr = alloc(Float64Array, n, shared).fill(Infinity);
  const li = alloc(Int32Array, 2 * n * cap, shared);
  return {
    n, k, cap, halfSq: S.halfSq, band, thr,
    li, lg: new Float32Array(li.buffer), count: alloc(Int32Array, n, shared),
  };
}

/** Scratch of one list compaction. */
const compactVals = { a: new Float64Array(0), b: new Float64Array(0) };

/**
 * Appends (e, product g) to point p's list and returns p's threshold afterwards. At k entries the threshold
 * becomes their largest value + band; a full list is compacted: threshold = its k-th smallest value + band,
 * entries above it dropped. A list that stays over ¾ full (massive ties within the band) is marked overflowed
 * and its threshold set to −∞ so it takes nothing more.
 */
function push(L: Lists, p: number, e: number, g: number): number {
  const { li, lg, count, thr, halfSq, k, cap } = L;
  const o = 2 * p * cap;
  let c = count[p];
  li[o + 2 * c] = e;
  lg[o + 2 * c++ + 1] = g;
  if (c === k) {
    let mx = -Infinity;
    for (let t = o; t < o + 2 * k; t += 2) mx = Math.max(mx, halfSq[li[t]] - lg[t + 1]);
    if (mx + L.band[p] < thr[p]) thr[p] = mx + L.band[p];
  } else if (c === cap) {
    if (compactVals.a.length < cap) compactVals.a = new Float64Array(cap), compactVals.b = new Float64Array(cap);
    const { a, b } = compactVals;
    for (let t = 0; t < cap; t++) b[t] = a[t] = halfSq[li[o + 2 * t]] - lg[o + 2 * t + 1];
    const limit = Math.min(thr[p], selectValue(b, cap, k - 1) + L.band[p]);
    thr[p] = limit;
    c = 0;
    for (let t = 0; t < cap; t++) {
      if (a[t] <= limit) {
        li[o + 2 * c] = li[o + 2 * t];
        lg[o + 2 * c++ + 1] = lg[o + 2 * t + 1];
      }
    }
    if (c > cap - (cap >> 2)) {
      c = -1;
      thr[p] = -Infinity;
    }
  }
  count[p] = c;
  return thr[p];
}

/** Scratch of scanBlock: the columns of two rows that passed a first test (row pairs: the second from `width` on). */
let hitBuf = new Int32Array(0);

/**
 * One row block of the symmetric search: its product g holds rows [start, end) against columns [start, n)
 * (row-major, width n − start). Every pair (i, j > i) under either point's threshold goes to that point's list
 * (row i's list gets j, column j's list gets i).
 *
 * The pass over a row only notes the columns that pass either test and the appends follow in a second loop
 * (appendHits): with the appends inlined, the scan over the ~98 % of pairs that pass neither test ran almost
 * twice as slowly (measured). Rows go through that first pass in pairs, so each column's ‖x‖²/2 and threshold
 * are loaded once for two rows. The second row is tested against thresholds read before the first row's
 * appends; thresholds only fall, so those tests note a superset of the columns, and appendHits re-tests every
 * noted column against the current thresholds: the lists get exactly what row-by-row scanning would give them.
 */
export function scanBlock(L: Lists, start: number, end: number, g: Float32Array): void {
  const { n, halfSq, thr } = L;
  const width = n - start;
  if (hitBuf.length < 2 * width) hitBuf = new Int32Array(2 * width);
  const hit = hitBuf;
  let i = start;
  for (; i + 1 < end; i += 2) {
    const go0 = (i - start) * width - start;
    const go1 = go0 + width;
    const h0 = halfSq[i];
    const h1 = halfSq[i + 1];
    const t0 = thr[i];
    const t1 = thr[i + 1];
    let m0 = 0;
    let m1 = width;
    // Column i + 1 pairs with row i only.
    const gd = g[go0 + i + 1];
    if (halfSq[i + 1] - gd <= t0 || h0 - gd <= t1) hit[m0++] = i + 1;
    for (let j = i + 2; j < n; j++) {
      const hj = halfSq[j];
      const tj = thr[j];
      const g0 = g[go0 + j];
      const g1 = g[go1 + j];
      if (hj - g0 <= t0 || h0 - g0 <= tj) hit[m0++] = j;
      if (hj - g1 <= t1 || h1 - g1 <= tj) hit[m1++] = j;
    }
    appendHits(L, i, g, go0, hit, 0, m0);
    appendHits(L, i + 1, g, go1, hit, width, m1);
  }
  if (i < end) {
    const go = (i - start) * width - start;
    const hi = halfSq[i];
    const ti = thr[i];
    let m = 0;
    for (let j = i + 1; j < n; j++) {
      const gv = g[go + j];
      if (halfSq[j] - gv <= ti || hi - gv <= thr[j]) hit[m++] = j;
    }
    appendHits(L, i, g, go, hit, 0, m);
  }
}

/** Row i's appends for the columns hit[from..to) noted by scanBlock's first pass, each re-tested against the current thresholds. */
function appendHits(L: Lists, i: number, g: Float32Array, go: number, hit: Int32Array, from: number, to: number): void {
  const { halfSq, thr } = L;
  const hi = halfSq[i];
  let ti = thr[i];
  for (let t = from; t < to; t++) {
    const j = hit[t];
    const gv = g[go + j];
    if (halfSq[j] - gv <= ti) ti = push(L, i, j, gv);
    if (hi - gv <= thr[j]) push(L, j, i, gv);
  }
}

/** The finishing stage of a symmetric search; run by the main thread and a worker. */
export interface FinishTask {
  S: Search;
  L: Lists;
  /**
   * Shared control words (Atomics): [NEXT] the first row not yet handed out (rows go out in chunks, so threads
   * balance themselves), [READY] rows below it are complete (every pair seen), [GATE] 1 while the main thread
   * runs a product, during which a following worker waits instead of taking a core from the product's threads.
   */
  ctl: Int32Array;
}

export const NEXT = 0;
export const READY = 1;
export const GATE = 2;

const FINISH_CHUNK = 64;

/** Hands out the next chunk [from, min(from + chunk, limit)); −1 when none is left below limit. */
function claim(ctl: Int32Array, limit: number): number {
  for (;;) {
    const from = Atomics.load(ctl, NEXT);
    if (from >= limit) return -1;
    if (Atomics.compareExchange(ctl, NEXT, from, Math.min(limit, from + FINISH_CHUNK)) === from) return from;
  }
}

/**
 * Finishes every row whose list is provably complete; returns the others, to be redone from full product rows.
 * `follow` (the worker, started while the search still runs): take rows as they become ready and pause while
 * the gate is closed, until every row is handed out.
 */
export function finishListedRows(t: FinishTask, follow = false): number[] {
  const { S, L, ctl } = t;
  const w = scratch(S.k, S.n);
  const redo: number[] = [];
  for (;;) {
    // Timed waits: a missed wake-up costs a few milliseconds, never a hang.
    if (follow) while (Atomics.load(ctl, GATE) === 1) Atomics.wait(ctl, GATE, 1, 20);
    const limit = Atomics.load(ctl, READY);
    const from = claim(ctl, limit);
    if (from < 0) {
      if (limit >= S.n || !follow) break;
      Atomics.wait(ctl, READY, limit, 20);
      continue;
    }
    for (let i = from; i < Math.min(limit, from + FINISH_CHUNK); i++) finishListed(S, L, i, w, redo);
  }
  return redo;
}

function finishListed(S: Search, L: Lists, i: number, w: Scratch, redo: number[]): void {
  const m = L.count[i];
  if (m < S.k) {
    redo.push(i);
    return;
  }
  if (w.ci.length < m) Object.assign(w, { ci: new Int32Array(m), cv: new Float64Array(m), cd: new Float64Array(m) });
  const o = 2 * i * L.cap;
  for (let u = 0; u < m; u++) {
    const e = L.li[o + 2 * u];
    w.ci[u] = e;
    w.cd[u] = w.cv[u] = L.halfSq[e] - L.lg[o + 2 * u + 1];
  }
  const tau = selectValue(w.cd, m, S.k - 1);
  if (tau + L.band[i] > L.thr[i]) redo.push(i);
  else finishRow(S, i, w, m, tau);
}

/**
 * The threshold guesses: thr[i] = the r-th smallest screened value of row i against the sampled points + band(i),
 * for the rows [start, end) of g = rows × sampled points (`cols`), which then leaves ~(r + 1)·n/|cols| points
 * under it.
 */
export function seedThresholds(L: Lists, start: number, end: number, cols: Int32Array, r: number, g: Float32Array): void {
  const ms = cols.length;
  const { halfSq, thr, band } = L;
  const sampledHalfSq = Float64Array.from(cols, (j) => halfSq[j]);
  const top = new Float64Array(r + 1);
  for (let i = start; i < end; i++) thr[i] = smallValue(sampledHalfSq, g, (i - start) * ms, ms, r, top) + band[i];
}

/**
 * The r-th smallest (0-based, r < m) of the screened values h[t] − g[go + t], t < m, for a small r: one pass that
 * keeps the r + 1 smallest in order in `top`. Nearly every value fails the first comparison, where a quickselect
 * (selectValue) copies, compares and swaps each value several times; the seeds (~600 values, r ≈ 7 per row) took
 * a tenth of the search's JavaScript time that way.
 */
export function smallValue(h: Float64Array, g: Float32Array, go: number, m: number, r: number, top: Float64Array): number {
  let size = 0;
  for (let t = 0; t < m; t++) {
    const v = h[t] - g[go + t];
    if (size > r && !(v < top[r])) continue;
    let j = size > r ? r : size++;
    while (j > 0 && top[j - 1] > v) {
      top[j] = top[j - 1];
      j--;
    }
    top[j] = v;
  }
  return top[r];
}

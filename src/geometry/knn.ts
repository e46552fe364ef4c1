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

/** Restores the max-heap property of (hv, hi)[0..size) below `start`. */
function heapSiftDown(hv: Float64Array, hi: Int32Array, size: number, start: number): void {
  let i = start;
  const v = hv[i];
  const id = hi[i];
  for (;;) {
    let c = 2 * i + 1;
    if (c >= size) break;
    if (c + 1 < size && hv[c + 1] > hv[c]) c++;
    if (hv[c] <= v) break;
    hv[i] = hv[c];
    hi[i] = hi[c];
    i = c;
  }
  hv[i] = v;
  hi[i] = id;
}

/** The prepared, read-only state shared by all blocks of one search. */
interface Search {
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

function prepare(X: Matrix, k: number, metric: Metric): Search {
  const { rows: n, cols: d } = X;
  const norms = rowNorms(X);
  const screen = new Float32Array(n * d);
  const halfSq = new Float64Array(n);
  const screenNorm = new Float64Array(n);
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
    indices: new Int32Array(n * k), distances: new Float64Array(n * k),
  };
}

/** Reusable per-search buffers for the candidate lists (sized to grow). */
interface Scratch { hv: Float64Array; hi: Int32Array; ci: Int32Array; cd: Float64Array }

function scratch(k: number): Scratch {
  return { hv: new Float64Array(k), hi: new Int32Array(k), ci: new Int32Array(4 * k + 16), cd: new Float64Array(4 * k + 16) };
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

/** Appends j to the candidate buffer, growing it when full; returns the new count. */
function pushCandidate(w: Scratch, m: number, j: number): number {
  if (m === w.ci.length) {
    const ni = new Int32Array(2 * m);
    ni.set(w.ci);
    w.ci = ni;
    w.cd = new Float64Array(2 * m);
  }
  w.ci[m] = j;
  return m + 1;
}

/**
 * Selects point q's exact k nearest from its row g (offset go, length n) of screened dot products q·x_j.
 *
 * One scan keeps the k smallest screened values s̃_j = ‖x_j‖²/2 − q·x_j (self excluded) in a max-heap (top τ)
 * and, on the side, every j with s̃_j ≤ τ_current + 2·E, where E bounds the screen error of any point
 * (E = e(max ‖x‖), see below). τ only decreases, so this side list is a superset of the final candidates and
 * stays short (≈ k·log(N/k) entries on random data). The final filter then uses the per-point bound: the
 * screen error of point j is at most e_j = γ‖q‖‖x_j‖ + slack·(‖q‖ + ‖x_j‖)²/2 + tiny·(1 + ‖q‖ + ‖x_j‖); the true
 * k-th value is at most τ + max e(heap), so a true top-k point j has s̃_j ≤ τ + max e(heap) + e_j.
 */
function selectRow(S: Search, q: number, g: Float32Array, go: number, w: Scratch): void {
  const { n, k, halfSq, screenNorm, gamma, slack, tiny, maxNorm } = S;
  const { hv, hi } = w;
  const qn = screenNorm[q];
  // e(x) = c0 + c1·x + c2·x², the bound above as a polynomial in ‖x_j‖.
  const c0 = slack * qn * qn / 2 + tiny * (1 + qn);
  const c1 = gamma * qn + slack * qn + tiny;
  const c2 = slack / 2;
  const band = 2 * (c0 + c1 * maxNorm + c2 * maxNorm * maxNorm);
  let size = 0;
  let m = 0;
  let j = 0;
  for (; j < n && size < k; j++) {
    if (j === q) continue;
    hv[size] = halfSq[j] - g[go + j];
    hi[size++] = j;
    m = pushCandidate(w, m, j);
  }
  for (let s = (k >> 1) - 1; s >= 0; s--) heapSiftDown(hv, hi, k, s);
  let top = hv[0];
  let thr = top + band;
  for (; j < n; j++) {
    const v = halfSq[j] - g[go + j];
    if (v <= thr && j !== q) {
      m = pushCandidate(w, m, j);
      if (v < top) {
        hv[0] = v;
        hi[0] = j;
        heapSiftDown(hv, hi, k, 0);
        top = hv[0];
        thr = top + band;
      }
    }
  }
  let hn = 0;
  for (let t = 0; t < k; t++) hn = Math.max(hn, screenNorm[hi[t]]);
  const limit = top + (c0 + c1 * hn + c2 * hn * hn) + c0;
  const { ci, cd } = w;
  let kept = 0;
  for (let t = 0; t < m; t++) {
    const jj = ci[t];
    const xn = screenNorm[jj];
    if (halfSq[jj] - g[go + jj] <= limit + c1 * xn + c2 * xn * xn) {
      ci[kept] = jj;
      cd[kept++] = exactDistance(S.X, q, jj, S.metric, S.norms);
    }
  }
  sortCandidates(ci, cd, kept);
  const o = q * k;
  for (let t = 0; t < k; t++) {
    S.indices[o + t] = ci[t];
    S.distances[o + t] = cd[t];
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
  } else {
    const block = Math.max(1, Math.min(n, opts.blockRows ?? Math.floor((16 * 2 ** 20) / n)));
    const all: Matrix<Float32Array> = { rows: n, cols: d, data: S.screen };
    const product = (start: number) => {
      const end = Math.min(n, start + block);
      const q: Matrix<Float32Array> = { rows: end - start, cols: d, data: S.screen.slice(start * d, end * d) };
      return gemm(q, all, { transposeB: true, threads: opts.threads });
    };
    const w = scratch(opts.k);
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

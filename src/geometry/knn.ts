import { AtlasError } from '../errors.ts';
import { gemm } from './gemm.ts';
import type { Matrix } from './matrix.ts';
import { type Metric, type Search, type FinishTask, GATE, NEXT, READY, prepare, selectRow, finishListedRows, scanBlock, makeLists, seedThresholds, scratch, exactDistancesTo } from './knn-select.ts';
import { defaultThreads, startWorker } from '../util/workers.ts';
import type { Worker } from 'node:worker_threads';
import { batchedGemmNT } from './batched-gemm.ts';
export type { Metric } from './knn-select.ts';

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
 *
 * Speed: for large N only the upper block triangle of the product is computed (distances are symmetric), each
 * value screened once against running per-point thresholds (symmetricSearch); the exact re-check, which then
 * dominates the JavaScript work, is shared with a worker thread. onnxruntime runs each product synchronously
 * on the calling thread (with its own intra-op threads), so products and selection alternate.
 */

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
  /** When given, the distance products' flops and seconds are added to it (throughput reports). */
  stats?: KnnStats;
}

export interface KnnStats {
  /** 2·M·N·d summed over the float32 distance products. */
  gemmFlops: number;
  /** Wall time spent in them. */
  gemmSeconds: number;
}

/** A·Bᵀ of the screen (into `out` when given), its cost added to opts.stats. */
async function timedGemm(opts: KnnOptions, a: Matrix<Float32Array>, b: Matrix<Float32Array>, out?: Float32Array): Promise<Matrix<Float32Array>> {
  const t0 = performance.now();
  const g = await gemm(a, b, { transposeB: true, threads: opts.threads, out });
  if (opts.stats) {
    opts.stats.gemmSeconds += (performance.now() - t0) / 1000;
    opts.stats.gemmFlops += 2 * a.rows * b.rows * a.cols;
  }
  return g;
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
   * Machine epsilon of the distances' type, which DADApy's Gride uses (`np.finfo(dtype).eps`) for its
   * small-number regularisations (the μ = 1 nudge, the r₁ floor, the Fisher-information floor). Always 2⁻⁵²:
   * DADApy casts the coordinates to float64, and these distances are float64 from exactly upcast coordinates,
   * whatever the input's storage type (issue 15, 10b: float32's 2⁻²³ moved Gride by 1.6 % on tied distances).
   */
  dtypeEps: number;
}

/** `KnnResult.dtypeEps`: float64's machine epsilon. */
export const DISTANCE_EPS = 2 ** -52;


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

/**
 * The GEMM search using the symmetry of distances: only the upper block triangle of X·Xᵀ is computed (half
 * the flops), and each product value feeds both its row point and its column point.
 *
 * A row's values therefore arrive in pieces, so each point keeps a bounded candidate list with a threshold
 * (knn-select.ts `Lists`): guessed from a thin product against a sample of the points, then tightened to the
 * k-th smallest value seen so far + the band whenever the list fills. One comparison rejects almost every pair,
 * and the list holds every candidate the exact filter needs, so each row is finished from its list exactly as
 * selectRow would finish it from the full row. A row whose guess proves too low (rare) or whose list cannot
 * shrink (massive ties within the band) is redone by selectRow on its full product row. The products go into
 * one reused buffer (a fresh 50 MB array per block costs its page faults every time).
 */
async function symmetricSearch(S: Search, opts: KnnOptions, shared: boolean): Promise<void> {
  const { n, k, X } = S;
  const d = X.cols;
  // Capacity 2k + 32: a compaction keeps ~k entries, so it runs at most once per ~k + 32 appends. Each one lowers
  // the list's threshold to its k-th smallest value + band, so a small capacity tightens thresholds early and
  // later values are rejected by the scan's first test instead of appended (4k + 32 held nearly all ~150 points
  // under a seed, measured: ~15 % more JavaScript time per 10,000-point search), and the lists take half the cache.
  const L = makeLists(S, Math.min(n, 2 * k + 32), shared);
  const block = symmetricBlockRows(n, opts.blockRows);
  const out = new Float32Array(block * n);
  // Threshold guesses from a thin product against an evenly spaced sample of the points: an order statistic
  // leaving ~2k + 3·stride points under each threshold (without them, running thresholds start loose and each
  // list fills and compacts several times).
  const sampleSize = Math.min(n, Math.max(16 * k + 64, 512));
  const stride = Math.ceil(n / sampleSize);
  const cols = new Int32Array(Math.ceil(n / stride)).map((_, t) => t * stride);
  const ms = cols.length;
  const sampled = new Float32Array(ms * d);
  cols.forEach((j, t) => sampled.set(S.screen.subarray(j * d, j * d + d), t * d));
  const r = Math.min(ms - 1, Math.ceil((2 * k * ms) / n) + 3);
  const seedBlock = Math.max(1, Math.floor(out.length / ms));
  for (let start = 0; start < n; start += seedBlock) {
    const end = Math.min(n, start + seedBlock);
    const g = (await timedGemm(opts, { rows: end - start, cols: d, data: S.screen.subarray(start * d, end * d) }, { rows: ms, cols: d, data: sampled }, out)).data;
    seedThresholds(L, start, end, cols, r, g);
  }
  // Rows are complete once their block is scanned: the worker finishes them (the exact re-check, the bulk of
  // the JavaScript work) on the otherwise idle core while this thread scans, and waits while a product runs.
  const task: FinishTask = { S, L, ctl: new Int32Array(new SharedArrayBuffer(12)) };
  const { ctl } = task;
  const answer = shared ? helper().call<number[]>({ kind: 'finish', task: { ...task, S: { ...S, screen: new Float32Array(0) } } }) : null;
  try {
    await scanAll();
  } catch (e) {
    // Release the following worker (nothing more is handed out), or it would wait for these rows forever.
    Atomics.store(ctl, NEXT, n);
    Atomics.store(ctl, READY, n);
    Atomics.store(ctl, GATE, 0);
    Atomics.notify(ctl, GATE);
    Atomics.notify(ctl, READY);
    throw e;
  }
  async function scanAll(): Promise<void> {
    for (let start = 0; start < n; start += block) {
      const end = Math.min(n, start + block);
      Atomics.store(ctl, GATE, 1);
      const g = (await timedGemm(opts, { rows: end - start, cols: d, data: S.screen.subarray(start * d, end * d) }, { rows: n - start, cols: d, data: S.screen.subarray(start * d) }, out)).data;
      Atomics.store(ctl, GATE, 0);
      Atomics.notify(ctl, GATE);
      scanBlock(L, start, end, g);
      Atomics.store(ctl, READY, end);
      Atomics.notify(ctl, READY);
    }
  }
  // The rest is shared out between both threads; rows that cannot be finished from their lists are redone below.
  const redo = finishListedRows(task);
  if (answer) redo.push(...(await answer));
  const all: Matrix<Float32Array> = { rows: n, cols: d, data: S.screen };
  const w = scratch(k, n);
  for (let t = 0; t < redo.length; t += block) {
    const rows = redo.slice(t, t + block);
    const q = new Float32Array(rows.length * d);
    rows.forEach((i, u) => q.set(S.screen.subarray(i * d, i * d + d), u * d));
    const g = (await timedGemm(opts, { rows: rows.length, cols: d, data: q }, all, out.length >= rows.length * n ? out : undefined)).data;
    rows.forEach((i, u) => selectRow(S, i, g, u * n, w));
  }
}

/**
 * Query rows per block of the symmetric search (its products are these rows against the columns from the block
 * on). Narrow blocks: the diagonal blocks are computed whole, so ~16 blocks keep that waste near 6 %; at most
 * 16 Mi products per block.
 */
export function symmetricBlockRows(n: number, blockRows?: number): number {
  return Math.max(1, Math.min(n, blockRows ?? Math.min(Math.floor((16 * 2 ** 20) / n), Math.ceil(n / 16))));
}

/** The helper worker of symmetric searches: requests are answered in order (see knn-worker.ts). */
interface Helper {
  worker: Worker;
  call<R>(message: unknown, transfer?: ArrayBuffer[]): Promise<R>;
}

let theHelper: Helper | null = null;

/**
 * The process's helper worker, started on first use and kept: starting one (loading its module) costs more
 * than most searches' finishing stage. It holds the event loop open only while a request is pending, so an
 * idle helper never keeps the process alive; if it fails, the next search starts a new one.
 */
function helper(): Helper {
  if (theHelper) return theHelper;
  const worker = startWorker(new URL('./knn-worker.ts', import.meta.url), null);
  worker.unref();
  const waiting: { resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  const fail = (e: unknown) => {
    if (theHelper === h) theHelper = null;
    for (const w of waiting.splice(0)) w.reject(e);
  };
  const h: Helper = {
    worker,
    call<R>(message: unknown, transfer: ArrayBuffer[] = []): Promise<R> {
      const answer = new Promise<R>((resolve, reject) => waiting.push({ resolve: resolve as (v: unknown) => void, reject }));
      answer.catch(() => {}); // observed by the awaiting caller, if it still awaits (a failed search does not)
      worker.ref();
      worker.postMessage(message, transfer);
      return answer;
    },
  };
  worker.on('message', (m: unknown) => {
    waiting.shift()?.resolve(m);
    if (waiting.length === 0) worker.unref();
  });
  worker.once('error', fail);
  worker.once('exit', (code) => fail(new Error(`knn worker exited with code ${code} before answering`)));
  theHelper = h;
  return h;
}

/** Exact search by direct float64 distances: used for tiny inputs, where a GEMM call costs more than it saves. */
function directSearch(S: Search): void {
  const { n, k } = S;
  // Each unordered pair once (exact distances are symmetric bit for bit), then per row the k smallest by
  // (distance, index).
  const all = new Float64Array(n * n);
  const targets = new Int32Array(n);
  const out = new Float64Array(n);
  for (let q = 0; q < n - 1; q++) {
    const m = n - 1 - q;
    for (let t = 0; t < m; t++) targets[t] = q + 1 + t;
    exactDistancesTo(S.X, S.metric, S.norms, q, targets, out, m);
    for (let t = 0; t < m; t++) {
      all[q * n + q + 1 + t] = out[t];
      all[(q + 1 + t) * n + q] = out[t];
    }
  }
  const ci = new Int32Array(n);
  const cd = new Float64Array(n);
  for (let q = 0; q < n; q++) {
    let c = 0;
    for (let j = 0; j < n; j++) {
      if (j === q) continue;
      ci[c] = j;
      cd[c++] = all[q * n + j];
    }
    partialSortCandidates(ci, cd, c, k);
    S.indices.set(ci.subarray(0, k), q * k);
    S.distances.set(cd.subarray(0, k), q * k);
  }
}

/** Moves the k smallest of the first m (distance, index) pairs, in order, to the front (insertion into a sorted prefix). */
function partialSortCandidates(ci: Int32Array, cd: Float64Array, m: number, k: number): void {
  let size = 0;
  for (let t = 0; t < m; t++) {
    const dv = cd[t];
    const iv = ci[t];
    if (size === k && (dv > cd[k - 1] || (dv === cd[k - 1] && iv > ci[k - 1]))) continue;
    let j = size < k ? size++ : k - 1;
    while (j > 0 && (cd[j - 1] > dv || (cd[j - 1] === dv && ci[j - 1] > iv))) {
      cd[j] = cd[j - 1];
      ci[j] = ci[j - 1];
      j--;
    }
    cd[j] = dv;
    ci[j] = iv;
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
  // Below ~2 MFLOP a GEMM round trip costs more than the direct loop; below a few thousand points the row
  // search's single product is as fast as the symmetric search's blocks.
  const direct = n * n * d <= 2e6;
  const symmetric = !direct && n >= 4 * Math.max(16 * opts.k + 64, 512) && (opts.strategy ?? 'symmetric') === 'symmetric';
  // Large symmetric searches share their state with a worker thread (SharedArrayBuffer).
  const shared = symmetric && n * opts.k >= 100000 && (opts.threads ?? defaultThreads()) > 1;
  const S = prepare(X, opts.k, metric, shared);

  if (direct) {
    directSearch(S);
  } else if (symmetric) {
    await symmetricSearch(S, opts, shared);
  } else {
    const block = Math.max(1, Math.min(n, opts.blockRows ?? Math.floor((16 * 2 ** 20) / n)));
    const all: Matrix<Float32Array> = { rows: n, cols: d, data: S.screen };
    const product = (start: number) => {
      const end = Math.min(n, start + block);
      const q: Matrix<Float32Array> = { rows: end - start, cols: d, data: S.screen.slice(start * d, end * d) };
      return timedGemm(opts, q, all);
    };
    const w = scratch(opts.k, n);
    let pending = product(0);
    for (let start = 0; start < n; start += block) {
      const g = await pending;
      if (start + block < n) pending = product(start + block);
      const rowsHere = Math.min(block, n - start);
      for (let r = 0; r < rowsHere; r++) selectRow(S, start + r, g.data, r * n, w);
    }
  }
  return { n, k: opts.k, metric, indices: S.indices, distances: S.distances, dtypeEps: DISTANCE_EPS };
}

/**
 * Exact k-NN tables of many small matrices of one shape (e.g. the random subsets of a decimation level), each
 * equal to `knn(m, { k, metric })`: their float32 screens go through one batched product per group instead of
 * one session call each, then every row is selected exactly as in the row search.
 */
export async function knnMany(mats: Matrix[], opts: { k: number; metric?: Metric; threads?: number; /** The rows are known to be finite (skips the check). */ finite?: boolean }): Promise<KnnResult[]> {
  if (mats.length === 0) return [];
  const metric = opts.metric ?? 'euclidean';
  const { rows: n, cols: d } = mats[0];
  for (const X of mats) {
    if (X.rows !== n || X.cols !== d) throw new Error('knnMany: all matrices must have the same shape');
    checkK(n, opts.k);
    if (!opts.finite) assertFinite(X);
  }
  const searches = mats.map((X) => prepare(X, opts.k, metric));
  const group = Math.max(1, Math.floor((16 * 2 ** 20) / (n * n)));
  const w = scratch(opts.k, n);
  for (let g0 = 0; g0 < searches.length; g0 += group) {
    const part = searches.slice(g0, g0 + group);
    const a = new Float32Array(part.length * n * d);
    part.forEach((S, b) => a.set(S.screen, b * n * d));
    const g = await batchedGemmNT(a, a, part.length, n, n, d, opts.threads);
    part.forEach((S, b) => {
      for (let r = 0; r < n; r++) selectRow(S, r, g, (b * n + r) * n, w);
    });
  }
  return searches.map((S) => ({ n, k: opts.k, metric, indices: S.indices, distances: S.distances, dtypeEps: DISTANCE_EPS }));
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

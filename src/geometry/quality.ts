import { AtlasError } from '../errors.ts';
import { gemm } from './gemm.ts';
import type { Matrix } from './matrix.ts';
import { rowSquaredNorms, toFloat64 } from './matrix.ts';
import { firstNonFiniteRow } from './linalg.ts';
import { Rng } from './rng.ts';

/**
 * Quality measures of an embedding: neighbourhood preservation (trustworthiness, continuity) and global
 * distance agreement (Pearson / Spearman of condensed distance matrices, Shepard diagram data).
 */

export type QualityMetric = 'euclidean' | 'cosine' | 'precomputed';

export interface NeighbourhoodOptions {
  /** k. Default 5 (scikit-learn). Must be < n/2. */
  nNeighbors?: number;
  /** Metric of the ORIGINAL space: 'precomputed' means `x` is an n×n distance matrix. Default 'euclidean'. The embedding is always Euclidean. */
  metric?: QualityMetric;
}

/**
 * sklearn.manifold.trustworthiness: 1 − 2/(n·k·(2n − 3k − 1)) · Σ_i Σ_{j ∈ kNN_embedded(i)} max(0, r(i, j) − k),
 * where r(i, j) is j's rank among i's neighbours in the ORIGINAL space (1 = nearest). Penalises embedded
 * neighbours that were far apart. Rank ties are broken by index (scikit-learn's argsort leaves them unspecified).
 */
export async function trustworthiness(x: Matrix, embedding: Matrix, opts: NeighbourhoodOptions = {}): Promise<number> {
  const k = checkNeighbourhood(x, embedding, opts);
  const metric = opts.metric ?? 'euclidean';
  const penalty = await rankPenalty(distanceRows(x, metric), distanceRows(embedding, 'euclidean'), x.rows, k);
  return 1 - penalty * (2 / (x.rows * k * (2 * x.rows - 3 * k - 1)));
}

/**
 * Continuity (Venna & Kaski): trustworthiness with the roles swapped — penalises original neighbours that the
 * embedding tore apart (ranks taken in the embedding, neighbours in the original space).
 */
export async function continuity(x: Matrix, embedding: Matrix, opts: NeighbourhoodOptions = {}): Promise<number> {
  const k = checkNeighbourhood(x, embedding, opts);
  const metric = opts.metric ?? 'euclidean';
  const penalty = await rankPenalty(distanceRows(embedding, 'euclidean'), distanceRows(x, metric), x.rows, k);
  return 1 - penalty * (2 / (x.rows * k * (2 * x.rows - 3 * k - 1)));
}

function checkNeighbourhood(x: Matrix, y: Matrix, opts: NeighbourhoodOptions): number {
  const n = x.rows;
  const k = opts.nNeighbors ?? 5;
  if (y.rows !== n) throw new AtlasError(`the embedding has ${y.rows} rows, the data ${n}`, { field: 'embedding' });
  if (opts.metric === 'precomputed' && x.cols !== n) throw new AtlasError(`a precomputed distance matrix must be ${n}×${n}, got ${x.rows}×${x.cols}`, { field: 'x' });
  if (!Number.isInteger(k) || k < 1 || k >= n / 2) throw new AtlasError(`nNeighbors (${k}) must be an integer in [1, n/2) for n = ${n}`, { field: 'nNeighbors', hint: 'scikit-learn requires n_neighbors < n_samples / 2' });
  for (const [m, f] of [[x, 'x'], [y, 'embedding']] as const) {
    const bad = firstNonFiniteRow(m);
    if (bad >= 0) throw new AtlasError(`row ${bad} contains NaN or Infinity`, { field: f });
  }
  return k;
}

/**
 * A source of distance rows in blocks: rows [start, end) → (end − start) × n values written into `out` (any
 * monotone transform of the distance is fine for ranks).
 */
type RowSource = (start: number, end: number, out: Float64Array) => Promise<Float64Array>;

function distanceRows(m: Matrix, metric: QualityMetric): RowSource {
  const n = m.rows;
  if (metric === 'precomputed') {
    return async (s, e, out) => {
      out.set(m.data.subarray(s * n, e * n));
      return out;
    };
  }
  let x = toFloat64(m);
  if (metric === 'cosine') {
    // Cosine distance = ½‖u/|u| − v/|v|‖²: same ranks as Euclidean between normalised rows.
    const d = x.cols;
    const data = new Float64Array(x.data.length);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += x.data[i * d + t] ** 2;
      const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
      for (let t = 0; t < d; t++) data[i * d + t] = x.data[i * d + t] * inv;
    }
    x = { rows: n, cols: d, data };
  }
  const norms = rowSquaredNorms(x);
  const d = x.cols;
  if (d <= 4) {
    // Low dimension (embeddings): direct, exact differences.
    return async (s, e, out) => squaredDistanceRows(x.data, d, n, s, e, out);
  }
  return async (s, e, out) => {
    const q: Matrix<Float64Array> = { rows: e - s, cols: d, data: x.data.subarray(s * d, e * d) };
    const g = await gemm(q, x, { transposeB: true, out });
    return gramToSquared(g.data, norms, s, e - s, n);
  };
}

// The loops of the distance rows are functions of their own: each runs once per block (once per call for small
// inputs), and a loop inside the closure was compiled on stack and deoptimised after it on every call.

/** out[(i − s)·n + j] = ‖x_i − x_j‖² for rows [s, e), by direct differences (low dimension). */
function squaredDistanceRows(x: Float64Array, d: number, n: number, s: number, e: number, out: Float64Array): Float64Array {
  for (let i = s; i < e; i++) for (let j = 0; j < n; j++) {
    let v = 0;
    for (let t = 0; t < d; t++) {
      const q = x[i * d + t] - x[j * d + t];
      v += q * q;
    }
    out[(i - s) * n + j] = v;
  }
  return out;
}

/** g (rows × n block of Gram values of rows s…) → squared distances max(0, ‖x_i‖² + ‖x_j‖² − 2g), in place. */
function gramToSquared(g: Float64Array, norms: Float64Array, s: number, rows: number, n: number): Float64Array {
  for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) g[r * n + j] = Math.max(0, norms[s + r] + norms[j] - 2 * g[r * n + j]);
  return g;
}

/**
 * Σ_i Σ_{j ∈ kNN_B(i)} max(0, rank_A(i, j) − k). rank_A(i, j) = 1 + #{m ≠ i : a_im < a_ij or (a_im = a_ij and m < j)},
 * found with one pass over row i (no n×n rank matrix: memory stays O(block·n)).
 */
async function rankPenalty(a: RowSource, b: RowSource, n: number, k: number): Promise<number> {
  // 4 MB blocks, each source writing into one reused buffer: fresh n×n arrays cost their page faults every call.
  const block = Math.max(1, Math.min(n, Math.floor(2 ** 19 / n)));
  const bufA = new Float64Array(block * n);
  const bufB = new Float64Array(block * n);
  let total = 0;
  const nbr = new Int32Array(k);
  const nbrD = new Float64Array(k);
  const tv = new Float64Array(k);
  const tj = new Int32Array(k);
  const first = new Int32Array(k);
  for (let s = 0; s < n; s += block) {
    const e = Math.min(n, s + block);
    const [ra, rb] = await Promise.all([a(s, e, bufA.subarray(0, (e - s) * n)), b(s, e, bufB.subarray(0, (e - s) * n))]);
    for (let i = s; i < e; i++) {
      nearestInRow(rb, (i - s) * n, n, i, k, nbr, nbrD);
      total += excessRanks(ra, (i - s) * n, n, i, nbr, k, tv, tj, first);
    }
  }
  return total;
}

/** The k nearest of point i in its row rb[o, o + n) into nbr/nbrD (ties by index): insertion into a sorted buffer. */
function nearestInRow(rb: Float64Array, o: number, n: number, i: number, k: number, nbr: Int32Array, nbrD: Float64Array): void {
  let filled = 0;
  for (let j = 0; j < n; j++) {
    if (j === i) continue;
    const v = rb[o + j];
    if (filled === k && v >= nbrD[k - 1]) continue;
    let p = filled < k ? filled++ : k - 1;
    while (p > 0 && nbrD[p - 1] > v) {
      nbrD[p] = nbrD[p - 1];
      nbr[p] = nbr[p - 1];
      p--;
    }
    nbrD[p] = v;
    nbr[p] = j;
  }
}

/**
 * Σ_t max(0, rank(nbr[t]) − k) in the row ra[o, o + n) of point i, rank as in rankPenalty, all k ranks in one
 * pass over the row. With the targets (a_ij, j) sorted, a value that precedes target p (by value, then index)
 * precedes every later one too, so each value costs a comparison with the largest target and, below it, a
 * short scan for the first target it precedes; the ranks are prefix sums of those first positions.
 */
function excessRanks(ra: Float64Array, o: number, n: number, i: number, nbr: Int32Array, k: number, tv: Float64Array, tj: Int32Array, first: Int32Array): number {
  for (let t = 0; t < k; t++) {
    const v = ra[o + nbr[t]];
    const j = nbr[t];
    let p = t;
    while (p > 0 && (tv[p - 1] > v || (tv[p - 1] === v && tj[p - 1] > j))) {
      tv[p] = tv[p - 1];
      tj[p] = tj[p - 1];
      p--;
    }
    tv[p] = v;
    tj[p] = j;
    first[t] = 0;
  }
  const vmax = tv[k - 1];
  for (let m = 0; m < n; m++) {
    const v = ra[o + m];
    if (v > vmax || m === i) continue;
    let p = 0;
    while (p < k && !(v < tv[p] || (v === tv[p] && m < tj[p]))) p++;
    if (p < k) first[p]++;
  }
  let excess = 0;
  let rank = 1;
  for (let t = 0; t < k; t++) {
    rank += first[t];
    if (rank > k) excess += rank - k;
  }
  return excess;
}

/** Condensed upper triangle (i < j, row by row: scipy's squareform order) of a square matrix. */
export function condensed(d: Matrix | { n: number; data: Float64Array | Float32Array }): Float64Array {
  const n = 'n' in d ? d.n : d.rows;
  if (!('n' in d) && d.cols !== n) throw new AtlasError(`a distance matrix must be square, got ${d.rows}×${d.cols}`, { field: 'distances' });
  const out = new Float64Array((n * (n - 1)) / 2);
  let o = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) out[o++] = d.data[i * n + j];
  return out;
}

/** Condensed Euclidean (or cosine) distances of the rows of X, in float64. */
export function condensedDistances(x: Matrix, metric: 'euclidean' | 'cosine' = 'euclidean'): Float64Array {
  const n = x.rows;
  const d = x.cols;
  const out = new Float64Array((n * (n - 1)) / 2);
  const norms = metric === 'cosine' ? rowSquaredNorms(x).map(Math.sqrt) : null;
  let o = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
    let s = 0;
    if (norms) {
      for (let t = 0; t < d; t++) s += x.data[i * d + t] * x.data[j * d + t];
      const den = norms[i] * norms[j];
      out[o++] = Math.min(2, Math.max(0, 1 - (den > 0 ? s / den : 0)));
    } else {
      for (let t = 0; t < d; t++) s += (x.data[i * d + t] - x.data[j * d + t]) ** 2;
      out[o++] = Math.sqrt(s);
    }
  }
  return out;
}

function checkPair(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new AtlasError(`the two distance vectors have ${a.length} and ${b.length} entries`, { field: 'b' });
  if (a.length < 2) throw new AtlasError('correlation needs at least 2 pairs', { field: 'a' });
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) {
      throw new AtlasError(`entry ${i} is not finite (${a[i]}, ${b[i]})`, { field: 'distances', hint: 'geodesic distances between components are Infinity: compare per component or connect the graph' });
    }
  }
}

/** Pearson correlation (float64, two-pass). NaN when either side is constant — scipy's behaviour — reported as an AtlasError instead. */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkPair(a, b);
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i] - ma;
    const y = b[i] - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  if (saa === 0 || sbb === 0) throw new AtlasError('correlation is undefined: one of the distance sets is constant', { field: 'distances' });
  return Math.max(-1, Math.min(1, sab / Math.sqrt(saa * sbb)));
}

/** Ranks 1..n with ties given their average rank (scipy.stats.rankdata 'average'). */
export function averageRanks(v: ArrayLike<number>): Float64Array {
  const n = v.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const vals = Float64Array.from(v as ArrayLike<number>);
  order.sort((x, y) => vals[x] - vals[y]);
  const ranks = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && vals[order[j + 1]] === vals[order[i]]) j++;
    const r = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) ranks[order[t]] = r;
    i = j + 1;
  }
  return ranks;
}

/** Spearman's ρ: Pearson correlation of average ranks (scipy.stats.spearmanr). */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkPair(a, b);
  return pearson(averageRanks(a), averageRanks(b));
}

export interface ShepardData {
  /** Node pairs (i < j) as [i0, j0, i1, j1, …]. */
  pairs: Int32Array;
  original: Float64Array;
  embedded: Float64Array;
  /** True when the pairs are a random subsample of all n(n−1)/2. */
  subsampled: boolean;
}

/**
 * Shepard diagram data: (original, embedded) distance for node pairs. All pairs when there are at most
 * `maxPairs`; otherwise `maxPairs` distinct pairs drawn uniformly with the seed. Inputs are n×n distance
 * matrices (or {n, data}).
 */
export function shepardData(original: Matrix | { n: number; data: Float64Array | Float32Array }, embedded: Matrix | { n: number; data: Float64Array | Float32Array }, opts: { maxPairs?: number; seed?: number } = {}): ShepardData {
  const n = 'n' in original ? original.n : original.rows;
  const ne = 'n' in embedded ? embedded.n : embedded.rows;
  if (n !== ne) throw new AtlasError(`the distance matrices have ${n} and ${ne} points`, { field: 'embedded' });
  const total = (n * (n - 1)) / 2;
  const maxPairs = opts.maxPairs ?? 10000;
  const pick: number[] = [];
  let subsampled = false;
  if (total <= maxPairs) for (let p = 0; p < total; p++) pick.push(p);
  else {
    subsampled = true;
    const rng = new Rng(opts.seed ?? 0);
    const seen = new Set<number>();
    while (seen.size < maxPairs) seen.add(Math.floor(rng.next() * total));
    pick.push(...[...seen].sort((x, y) => x - y));
  }
  const pairs = new Int32Array(pick.length * 2);
  const a = new Float64Array(pick.length);
  const b = new Float64Array(pick.length);
  // Condensed index p → (i, j): row i starts at i·n − i(i+1)/2.
  let i = 0;
  let rowStart = 0;
  for (let t = 0; t < pick.length; t++) {
    const p = pick[t];
    while (p >= rowStart + (n - 1 - i)) {
      rowStart += n - 1 - i;
      i++;
    }
    const j = i + 1 + (p - rowStart);
    pairs[2 * t] = i;
    pairs[2 * t + 1] = j;
    a[t] = original.data[i * n + j];
    b[t] = embedded.data[i * n + j];
  }
  return { pairs, original: a, embedded: b, subsampled };
}

/** Mean silhouette coefficient with Euclidean distances (sklearn.metrics.silhouette_score); O(n²·d). */
export function silhouetteScore(x: Matrix, labels: Int32Array): number {
  const n = x.rows;
  const d = x.cols;
  if (labels.length !== n) throw new AtlasError(`${labels.length} labels for ${n} points`, { field: 'labels' });
  let nl = 0;
  for (const l of labels) nl = Math.max(nl, l + 1);
  const counts = new Float64Array(nl);
  for (const l of labels) counts[l]++;
  if (counts.filter((c) => c > 0).length < 2) throw new AtlasError('silhouette needs at least 2 labels', { field: 'labels' });
  const sums = new Float64Array(nl);
  let total = 0;
  for (let i = 0; i < n; i++) {
    sums.fill(0);
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      let s = 0;
      for (let t = 0; t < d; t++) s += (x.data[i * d + t] - x.data[j * d + t]) ** 2;
      sums[labels[j]] += Math.sqrt(s);
    }
    const own = labels[i];
    if (counts[own] <= 1) continue; // scikit-learn: silhouette 0 for singleton clusters
    const a = sums[own] / (counts[own] - 1);
    let b = Infinity;
    for (let c = 0; c < nl; c++) if (c !== own && counts[c] > 0) b = Math.min(b, sums[c] / counts[c]);
    total += (b - a) / Math.max(a, b);
  }
  return total / n;
}

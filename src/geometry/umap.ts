import { AtlasError } from '../errors.ts';
import type { Matrix } from './matrix.ts';
import { knn } from './knn.ts';
import { pca } from './pca.ts';
import { connectedComponents, type CsrGraph } from './graph.ts';
import { spectralLayout } from './umap-spectral.ts';
import { optimizeLayout, schedule, tauState } from './umap-sgd.ts';
import { optimizeLayoutThreaded } from './umap-pool.ts';
import { Rng } from './rng.ts';
import { validateMatrix } from './truncated-svd.ts';

/**
 * UMAP (McInnes, Healy & Melville 2018) following umap-learn 0.5: exact k-NN (knn.ts, the point itself counted
 * as the first of n_neighbors, as umap-learn), smooth_knn_dist (local_connectivity 1, bandwidth 1, 64 bisection
 * steps), fuzzy union A + Aᵀ − A∘Aᵀ, edges below max/n_epochs dropped, then umap-learn's SGD (umap-sgd.ts:
 * float32 coordinates, epochs-per-sample scheduling, negative sampling rate 5, gradient clip 4, linearly
 * decaying learning rate), a/b fitted to min_dist/spread.
 *
 * Why not the umap-js package: measured here on 2,000×50 it took 10 s (8 s in its optimiser, which works on
 * number[][]), and it only initialises at random. This implementation uses typed arrays and umap-learn's
 * spectral initialisation.
 *
 * Initialisation 'spectral' (default): eigenvectors 2..k+1 of the normalised graph adjacency (umap-spectral.ts,
 * Lanczos on the sparse graph). When the graph is disconnected umap-learn lays out each component separately
 * (multi_component_layout); here such graphs fall back to the 'pca' initialisation and `diagnostics.init` says so.
 */
export interface UmapOptions {
  /** Default 15 (the point itself included, as umap-learn). */
  nNeighbors?: number;
  /** Default 2. */
  nComponents?: number;
  /** Default 0.1. */
  minDist?: number;
  /** Default 1. */
  spread?: number;
  /** Default 'euclidean'. */
  metric?: 'euclidean' | 'cosine';
  /** Default: 500 when n ≤ 10,000, else 200. */
  nEpochs?: number;
  /** Default 1. */
  learningRate?: number;
  /** Default 5. */
  negativeSampleRate?: number;
  /** γ. Default 1. */
  repulsionStrength?: number;
  /** Default 'spectral'. */
  init?: 'spectral' | 'pca' | 'random' | Matrix;
  /** Default 0. Same seed → identical output (with the default sgdThreads 1). */
  seed?: number;
  /** Intra-op threads of the k-NN products. Default: all cores. */
  threads?: number;
  /**
   * Threads of the SGD (umap-pool.ts). Default 1: seeded runs reproducible bit for bit, as umap-learn, which
   * also runs one thread when seeded. More threads share the edges lock-free (umap-learn's parallel mode), and
   * the result then varies from run to run.
   */
  sgdThreads?: number;
}

export interface UmapResult {
  embedding: Matrix<Float64Array>;
  diagnostics: {
    a: number;
    b: number;
    nEpochs: number;
    /** Directed edge count of the fuzzy graph after pruning. */
    edges: number;
    /** Connected components of the fuzzy graph. */
    components: number;
    /** Initialisation actually used. */
    init: string;
  };
  /** The symmetric fuzzy simplicial set (membership strengths), CSR. */
  graph: CsrGraph;
}

export async function umap(x: Matrix, opts: UmapOptions = {}): Promise<UmapResult> {
  validateMatrix(x, 'umap');
  const n = x.rows;
  const kTotal = opts.nNeighbors ?? 15;
  const dim = opts.nComponents ?? 2;
  const minDist = opts.minDist ?? 0.1;
  const spread = opts.spread ?? 1;
  const metric = opts.metric ?? 'euclidean';
  if (!Number.isInteger(kTotal) || kTotal < 2) throw new AtlasError(`nNeighbors must be an integer ≥ 2, got ${kTotal}`, { field: 'nNeighbors' });
  if (kTotal > n) throw new AtlasError(`nNeighbors (${kTotal}) exceeds the number of points (${n})`, { field: 'nNeighbors', hint: 'lower nNeighbors or add points' });
  if (!Number.isInteger(dim) || dim < 1) throw new AtlasError(`nComponents must be a positive integer, got ${dim}`, { field: 'nComponents' });
  if (!(minDist >= 0) || !(spread > 0) || minDist > spread) throw new AtlasError(`minDist (${minDist}) must be in [0, spread = ${spread}]`, { field: 'minDist' });
  if (dim >= n) throw new AtlasError(`nComponents (${dim}) must be smaller than the number of points (${n})`, { field: 'nComponents' });
  const sgdThreads = opts.sgdThreads ?? 1;
  if (!Number.isInteger(sgdThreads) || sgdThreads < 1) throw new AtlasError(`sgdThreads must be a positive integer, got ${sgdThreads}`, { field: 'sgdThreads' });
  const nEpochs = opts.nEpochs ?? (n <= 10000 ? 500 : 200);
  const rng = new Rng(opts.seed ?? 0);

  // 1. Neighbours: the point itself first at distance 0, then its nNeighbors − 1 nearest others.
  const table = await knn(x, { k: kTotal - 1, metric, threads: opts.threads });
  const k = kTotal;
  const idx = new Int32Array(n * k);
  const dst = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    idx[i * k] = i;
    for (let t = 1; t < k; t++) {
      idx[i * k + t] = table.indices[i * (k - 1) + t - 1];
      dst[i * k + t] = table.distances[i * (k - 1) + t - 1];
    }
  }
  // 2-3. Fuzzy simplicial set.
  const graph = fuzzySimplicialSet(idx, dst, n, k);
  // 4. Drop edges too weak to be sampled even once in nEpochs.
  let maxW = 0;
  for (const w of graph.weights) maxW = Math.max(maxW, w);
  let kept = 0;
  for (const w of graph.weights) if (w >= maxW / nEpochs) kept++;
  const head = new Int32Array(kept);
  const tail = new Int32Array(kept);
  const weight = new Float64Array(kept);
  for (let i = 0, e = 0; i < n; i++) for (let o = graph.indptr[i]; o < graph.indptr[i + 1]; o++) {
    if (graph.weights[o] < maxW / nEpochs) continue;
    head[e] = i;
    tail[e] = graph.indices[o];
    weight[e++] = graph.weights[o];
  }
  const comps = connectedComponents(graph);

  // 5. Initial layout.
  let initUsed: string;
  let y: Float64Array;
  const init = opts.init ?? 'spectral';
  if (typeof init === 'object') {
    if (init.rows !== n || init.cols !== dim) throw new AtlasError(`init is ${init.rows}×${init.cols}, expected ${n}×${dim}`, { field: 'init' });
    y = Float64Array.from(init.data);
    initUsed = 'given';
  } else if (init === 'random') {
    y = new Float64Array(n * dim);
    for (let i = 0; i < y.length; i++) y[i] = rng.next() * 20 - 10;
    initUsed = 'random';
  } else if (init === 'spectral' && comps.count === 1 && n > dim + 2) {
    y = spectralLayout(graph, dim, rng).coords;
    let m = 0;
    for (const v of y) m = Math.max(m, Math.abs(v));
    for (let i = 0; i < y.length; i++) y[i] = y[i] * (10 / (m || 1)) + 1e-4 * rng.normal();
    initUsed = 'spectral';
  } else if (init === 'spectral' || init === 'pca') {
    if (x.cols < dim) throw new AtlasError(`init 'pca' needs at least ${dim} features`, { field: 'init', hint: "use init: 'random'" });
    y = (await pca(x, { nComponents: dim, svdSolver: 'randomized', seed: opts.seed ?? 0, threads: opts.threads })).embedding.data;
    noisyScale(y, dim, rng);
    initUsed = init === 'pca' ? 'pca' : `pca (graph has ${comps.count} components; spectral needs a connected graph)`;
  } else throw new AtlasError(`unknown init '${String(init)}'`, { field: 'init', hint: "use 'spectral', 'pca', 'random' or a matrix" });
  // umap-learn rescales every coordinate to [0, 10] before optimising.
  for (let c = 0; c < dim; c++) {
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) { lo = Math.min(lo, y[i * dim + c]); hi = Math.max(hi, y[i * dim + c]); }
    const s = hi > lo ? 10 / (hi - lo) : 0;
    for (let i = 0; i < n; i++) y[i * dim + c] = (y[i * dim + c] - lo) * s;
  }

  // 6-7. Optimise, in float32 as umap-learn.
  const { a, b } = findAbParams(spread, minDist);
  const y32 = Float32Array.from(y);
  const plan = schedule(head, tail, weight, nEpochs, opts.negativeSampleRate ?? 5);
  const params = { n, dim, a, b, gamma: opts.repulsionStrength ?? 1 };
  if (sgdThreads > 1) await optimizeLayoutThreaded(y32, plan, nEpochs, opts.learningRate ?? 1, params, () => rng.next(), sgdThreads);
  else optimizeLayout(y32, plan, nEpochs, opts.learningRate ?? 1, params, tauState(() => rng.next()));
  y = Float64Array.from(y32);
  return {
    embedding: { rows: n, cols: dim, data: y },
    diagnostics: { a, b, nEpochs, edges: head.length, components: comps.count, init: initUsed },
    graph,
  };
}

/** umap-learn's smooth_knn_dist: ρ_i = nearest non-zero distance, σ_i so that Σ_j exp(−(d_ij − ρ_i)/σ_i) = log2(k). */
export function smoothKnnDist(dist: Float64Array, n: number, k: number): { sigmas: Float64Array; rhos: Float64Array } {
  const target = Math.log2(k);
  const sigmas = new Float64Array(n);
  const rhos = new Float64Array(n);
  let meanAll = 0;
  for (const v of dist) meanAll += v / dist.length;
  for (let i = 0; i < n; i++) {
    const o = i * k;
    let rho = 0;
    for (let t = 0; t < k; t++) {
      if (dist[o + t] > 0) {
        rho = dist[o + t]; // local_connectivity 1: the nearest non-zero distance
        break;
      }
    }
    rhos[i] = rho;
    let lo = 0, hi = Infinity, mid = 1;
    for (let it = 0; it < 64; it++) {
      let psum = 0;
      for (let t = 1; t < k; t++) {
        const d = dist[o + t] - rho;
        psum += d > 0 ? Math.exp(-(d / mid)) : 1;
      }
      if (Math.abs(psum - target) < 1e-5) break;
      if (psum > target) {
        hi = mid;
        mid = (lo + hi) / 2;
      } else {
        lo = mid;
        mid = hi === Infinity ? mid * 2 : (lo + hi) / 2;
      }
    }
    let meanI = 0;
    for (let t = 0; t < k; t++) meanI += dist[o + t] / k;
    if (rho > 0) mid = Math.max(mid, 1e-3 * meanI);
    else mid = Math.max(mid, 1e-3 * meanAll);
    sigmas[i] = mid;
  }
  return { sigmas, rhos };
}

/**
 * umap-learn's fuzzy_simplicial_set: memberships a_ij = exp(−(d_ij − ρ_i)/σ_i) (1 within ρ_i) of each point's
 * neighbours (self and zeros left out), then the probabilistic t-conorm w_ij = a_ij + a_ji − a_ij·a_ji
 * (set_op_mix_ratio 1). CSR with columns ascending in each row.
 */
function fuzzySimplicialSet(idx: Int32Array, dst: Float64Array, n: number, k: number): CsrGraph {
  const { sigmas, rhos } = smoothKnnDist(dst, n, k);
  // Entries of A and of Aᵀ bucketed by row; a row holds an (i, j) at most once from each.
  const count = new Int32Array(n + 1);
  const member = new Float64Array(n * k);
  for (let i = 0; i < n; i++) for (let t = 0; t < k; t++) {
    const o = i * k + t;
    const j = idx[o];
    if (j === i) continue;
    const d = dst[o] - rhos[i];
    member[o] = d <= 0 || sigmas[i] === 0 ? 1 : Math.exp(-d / sigmas[i]);
    if (member[o] === 0) continue;
    count[i + 1]++;
    count[j + 1]++;
  }
  for (let i = 0; i < n; i++) count[i + 1] += count[i];
  const fill = count.slice(0, n);
  const col = new Int32Array(count[n]);
  const val = new Float64Array(count[n]);
  for (let i = 0; i < n; i++) for (let t = 0; t < k; t++) {
    const o = i * k + t;
    if (member[o] === 0) continue;
    const j = idx[o];
    col[fill[i]] = j;
    val[fill[i]++] = member[o];
    col[fill[j]] = i;
    val[fill[j]++] = member[o];
  }
  // Sort each row by column (insertion sort: a row has ~2k entries), then merge the pairs.
  const indptr = new Int32Array(n + 1);
  let out = 0;
  for (let i = 0; i < n; i++) {
    const lo = count[i], hi = count[i + 1];
    for (let p = lo + 1; p < hi; p++) {
      const c = col[p], v = val[p];
      let q = p - 1;
      while (q >= lo && col[q] > c) {
        col[q + 1] = col[q];
        val[q + 1] = val[q];
        q--;
      }
      col[q + 1] = c;
      val[q + 1] = v;
    }
    for (let p = lo; p < hi; p++) {
      if (p + 1 < hi && col[p + 1] === col[p]) {
        const x = val[p], y = val[p + 1];
        col[out] = col[p];
        val[out++] = x + y - x * y;
        p++;
      } else {
        col[out] = col[p];
        val[out++] = val[p];
      }
    }
    indptr[i + 1] = out;
  }
  return { n, indptr, indices: col.slice(0, out), weights: val.slice(0, out) };
}

/**
 * a, b of the output kernel 1/(1 + a·d^(2b)) fitted by least squares (Levenberg–Marquardt, start (1, 1) as
 * scipy's curve_fit) to the target 1 for d < minDist, exp(−(d − minDist)/spread) beyond, on 300 points of [0, 3·spread].
 */
export function findAbParams(spread: number, minDist: number): { a: number; b: number } {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < 300; i++) {
    const xv = (i * spread * 3) / 299;
    xs.push(xv);
    ys.push(xv < minDist ? 1 : Math.exp(-(xv - minDist) / spread));
  }
  const residual = (a: number, b: number) => {
    let s = 0;
    for (let i = 0; i < 300; i++) s += (1 / (1 + a * xs[i] ** (2 * b)) - ys[i]) ** 2;
    return s;
  };
  let a = 1, b = 1, lambda = 1e-3;
  let cost = residual(a, b);
  for (let it = 0; it < 500; it++) {
    let jaa = 0, jab = 0, jbb = 0, ga = 0, gb = 0;
    for (let i = 0; i < 300; i++) {
      const xv = xs[i];
      const p = xv > 0 ? xv ** (2 * b) : 0;
      const den = 1 + a * p;
      const f = 1 / den;
      const r = f - ys[i];
      const da = -p / (den * den);
      const db = xv > 0 ? (-a * p * 2 * Math.log(xv)) / (den * den) : 0;
      jaa += da * da; jab += da * db; jbb += db * db;
      ga += da * r; gb += db * r;
    }
    let improved = false;
    for (let tries = 0; tries < 30; tries++) {
      const m11 = jaa * (1 + lambda), m22 = jbb * (1 + lambda);
      const det = m11 * m22 - jab * jab;
      const sa = -(m22 * ga - jab * gb) / det;
      const sb = -(m11 * gb - jab * ga) / det;
      const c = residual(a + sa, b + sb);
      if (c < cost) {
        const rel = (cost - c) / cost;
        a += sa; b += sb; cost = c; lambda = Math.max(lambda / 10, 1e-12);
        improved = rel > 1e-15;
        break;
      }
      lambda *= 10;
    }
    if (!improved) break;
  }
  return { a, b };
}

function noisyScale(y: Float64Array, dim: number, rng: Rng): void {
  const n = y.length / dim;
  for (let c = 0; c < dim; c++) {
    let m = 0;
    for (let i = 0; i < n; i++) m += y[i * dim + c] / n;
    for (let i = 0; i < n; i++) y[i * dim + c] -= m;
  }
  let mx = 0;
  for (const v of y) mx = Math.max(mx, Math.abs(v));
  const e = mx > 0 ? 10 / mx : 1;
  for (let i = 0; i < y.length; i++) y[i] = y[i] * e + 1e-4 * rng.normal();
}

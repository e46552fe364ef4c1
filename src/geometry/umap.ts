import { AtlasError } from '../errors.ts';
import type { Matrix } from './matrix.ts';
import { knn } from './knn.ts';
import { pca } from './pca.ts';
import { connectedComponents, type CsrGraph } from './graph.ts';
import { orthonormalColumns, symmetricEigen } from './linalg.ts';
import { Rng } from './rng.ts';
import { validateMatrix } from './truncated-svd.ts';

/**
 * UMAP (McInnes, Healy & Melville 2018) following umap-learn 0.5: exact k-NN (knn.ts, the point itself counted
 * as the first of n_neighbors, as umap-learn), smooth_knn_dist (local_connectivity 1, bandwidth 1, 64 bisection
 * steps), fuzzy union A + Aᵀ − A∘Aᵀ, edges below max/n_epochs dropped, epochs-per-sample scheduling, SGD with
 * negative sampling (rate 5, gradient clip 4, linearly decaying learning rate), a/b fitted to min_dist/spread.
 *
 * Why not the umap-js package: measured here on 2,000×50 it took 10 s (8 s in its optimiser, which works on
 * number[][]), and it only initialises at random. This implementation uses typed arrays and umap-learn's
 * spectral initialisation.
 *
 * Initialisation 'spectral' (default): eigenvectors 2..k+1 of the normalised graph adjacency, computed by block
 * power iteration with Rayleigh–Ritz. When the graph is disconnected umap-learn lays out each component
 * separately (multi_component_layout); here such graphs fall back to the 'pca' initialisation and
 * `diagnostics.init` says so.
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
  /** Default 0. Same seed → identical output (the optimiser runs on one thread). */
  seed?: number;
  threads?: number;
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
  const { sigmas, rhos } = smoothKnnDist(dst, n, k);
  const rows: Map<number, number>[] = Array.from({ length: n }, () => new Map());
  for (let i = 0; i < n; i++) for (let t = 0; t < k; t++) {
    const j = idx[i * k + t];
    if (j === i) continue;
    const d = dst[i * k + t] - rhos[i];
    const v = d <= 0 || sigmas[i] === 0 ? 1 : Math.exp(-d / sigmas[i]);
    rows[i].set(j, v);
  }
  const graph = fuzzyUnion(n, rows);
  let maxW = 0;
  for (const w of graph.weights) maxW = Math.max(maxW, w);
  // 4. Drop edges too weak to be sampled even once in nEpochs.
  const head: number[] = [];
  const tail: number[] = [];
  const weight: number[] = [];
  for (let i = 0; i < n; i++) for (let o = graph.indptr[i]; o < graph.indptr[i + 1]; o++) {
    if (graph.weights[o] < maxW / nEpochs) continue;
    head.push(i);
    tail.push(graph.indices[o]);
    weight.push(graph.weights[o]);
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
    y = spectralLayout(graph, dim, rng);
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

  // 6-7. Optimise.
  const { a, b } = findAbParams(spread, minDist);
  optimizeLayout(y, n, dim, Int32Array.from(head), Int32Array.from(tail), Float64Array.from(weight), nEpochs, a, b, opts.repulsionStrength ?? 1, opts.learningRate ?? 1, opts.negativeSampleRate ?? 5, rng);
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

/** Probabilistic t-conorm of A and Aᵀ: w_ij = a_ij + a_ji − a_ij·a_ji (set_op_mix_ratio 1). */
function fuzzyUnion(n: number, rows: Map<number, number>[]): CsrGraph {
  const sym: Map<number, number>[] = Array.from({ length: n }, () => new Map());
  for (let i = 0; i < n; i++) for (const [j, v] of rows[i]) {
    const u = rows[j].get(i) ?? 0;
    const w = v + u - v * u;
    sym[i].set(j, w);
    sym[j].set(i, w);
  }
  const indptr = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) indptr[i + 1] = indptr[i] + sym[i].size;
  const indices = new Int32Array(indptr[n]);
  const weights = new Float64Array(indptr[n]);
  for (let i = 0; i < n; i++) {
    let o = indptr[i];
    for (const [j, w] of [...sym[i].entries()].sort((p, q) => p[0] - q[0])) {
      indices[o] = j;
      weights[o++] = w;
    }
  }
  return { n, indptr, indices, weights };
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

/** Coordinates of eigenvectors 2..dim+1 of D^-½ A D^-½ (the smallest non-trivial of the normalised Laplacian). */
function spectralLayout(g: CsrGraph, dim: number, rng: Rng): Float64Array {
  const n = g.n;
  const deg = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let o = g.indptr[i]; o < g.indptr[i + 1]; o++) deg[i] += g.weights[o];
  const inv = deg.map((d) => (d > 0 ? 1 / Math.sqrt(d) : 0));
  const l = Math.min(n, dim + 1 + 8);
  // (I + M)/2 has the spectrum of M mapped into [0, 1], so power iteration favours the top of M's spectrum.
  const apply = (v: Float64Array, out: Float64Array) => {
    for (let i = 0; i < n; i++) {
      const oi = i * l;
      for (let c = 0; c < l; c++) out[oi + c] = 0.5 * v[oi + c];
      for (let o = g.indptr[i]; o < g.indptr[i + 1]; o++) {
        const j = g.indices[o];
        const w = 0.5 * g.weights[o] * inv[i] * inv[j];
        const oj = j * l;
        for (let c = 0; c < l; c++) out[oi + c] += w * v[oj + c];
      }
    }
  };
  let q: Float64Array = new Float64Array(n * l);
  for (let i = 0; i < q.length; i++) q[i] = rng.normal();
  // The trivial top eigenvector D^½·1 is known: put it first.
  for (let i = 0; i < n; i++) q[i * l] = Math.sqrt(deg[i]);
  let tmp: Float64Array = new Float64Array(n * l);
  for (let it = 0; it < 300; it++) {
    apply(q, tmp);
    [q, tmp] = [tmp, q];
    if (it % 5 === 4 || it === 299) q = orthonormalColumns({ rows: n, cols: l, data: q }).data;
  }
  // Rayleigh–Ritz in span(Q).
  apply(q, tmp);
  const t = new Float64Array(l * l);
  for (let i = 0; i < n; i++) for (let p = 0; p < l; p++) {
    const qp = q[i * l + p];
    for (let r = 0; r < l; r++) t[p * l + r] += qp * tmp[i * l + r];
  }
  for (let p = 0; p < l; p++) for (let r = 0; r < p; r++) t[p * l + r] = t[r * l + p] = (t[p * l + r] + t[r * l + p]) / 2;
  const eig = symmetricEigen({ rows: l, cols: l, data: t });
  const out = new Float64Array(n * dim);
  for (let c = 0; c < dim; c++) {
    const vec = eig.vectors.data.subarray((c + 1) * l, (c + 2) * l);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let p = 0; p < l; p++) s += q[i * l + p] * vec[p];
      out[i * dim + c] = s;
    }
  }
  return out;
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

function optimizeLayout(y: Float64Array, n: number, dim: number, head: Int32Array, tail: Int32Array, weight: Float64Array, nEpochs: number, a: number, b: number, gamma: number, initialAlpha: number, negativeSampleRate: number, rng: Rng): void {
  const m = head.length;
  let maxW = 0;
  for (const w of weight) maxW = Math.max(maxW, w);
  const epochsPerSample = new Float64Array(m);
  for (let e = 0; e < m; e++) {
    const samples = (nEpochs * weight[e]) / maxW;
    epochsPerSample[e] = samples > 0 ? nEpochs / samples : -1;
  }
  const epochsPerNeg = epochsPerSample.map((v) => v / negativeSampleRate);
  const nextNeg = Float64Array.from(epochsPerNeg);
  const nextSample = Float64Array.from(epochsPerSample);
  // Gradient clipped to ±4 per coordinate (umap-learn's clip).
  const attract = -2 * a * b;
  const repel = 2 * gamma * b;
  let alpha = initialAlpha;
  for (let epoch = 0; epoch < nEpochs; epoch++) {
    for (let e = 0; e < m; e++) {
      if (nextSample[e] > epoch) continue;
      const j = head[e];
      const k = tail[e];
      const oj = j * dim;
      const ok = k * dim;
      let d2 = 0;
      for (let c = 0; c < dim; c++) d2 += (y[oj + c] - y[ok + c]) ** 2;
      let coeff = 0;
      if (d2 > 0) {
        // d^(2b) as exp(b·ln d²): within an ulp or two of Math.pow, at about half its cost (the SGD's hot spot);
        // d^(2(b−1)) = pb / d² saves a second power.
        const pb = Math.exp(b * Math.log(d2));
        coeff = (attract * (pb / d2)) / (a * pb + 1);
      }
      for (let c = 0; c < dim; c++) {
        let g = coeff * (y[oj + c] - y[ok + c]);
        g = g > 4 ? 4 : g < -4 ? -4 : g;
        y[oj + c] += g * alpha;
        y[ok + c] -= g * alpha;
      }
      nextSample[e] += epochsPerSample[e];
      const nNeg = Math.floor((epoch - nextNeg[e]) / epochsPerNeg[e]);
      for (let p = 0; p < nNeg; p++) {
        const r = rng.int(n);
        const or = r * dim;
        let s2 = 0;
        for (let c = 0; c < dim; c++) s2 += (y[oj + c] - y[or + c]) ** 2;
        let rc: number;
        if (s2 > 0) rc = repel / ((0.001 + s2) * (a * Math.exp(b * Math.log(s2)) + 1));
        else if (j === r) continue;
        else rc = 0;
        if (rc > 0) for (let c = 0; c < dim; c++) {
          let g = rc * (y[oj + c] - y[or + c]);
          g = g > 4 ? 4 : g < -4 ? -4 : g;
          y[oj + c] += g * alpha;
        }
      }
      nextNeg[e] += nNeg * epochsPerNeg[e];
    }
    alpha = initialAlpha * (1 - epoch / nEpochs);
  }
}

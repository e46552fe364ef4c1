import { AtlasError } from '../errors.ts';
import type { Matrix } from './matrix.ts';
import { toFloat64 } from './matrix.ts';
import { knn } from './knn.ts';
import { pca } from './pca.ts';
import { Rng } from './rng.ts';
import { validateMatrix } from './truncated-svd.ts';
import { defaultThreads } from '../util/workers.ts';
import { RepulsionPool } from './tsne-pool.ts';

/**
 * t-SNE (van der Maaten & Hinton 2008; Barnes-Hut: van der Maaten 2014) following scikit-learn's TSNE step
 * for step: perplexity-calibrated conditional probabilities (binary search on the precision, entropy in
 * nats), joint P = (P + Pᵀ)/ΣP, Student-t kernel with max(nComponents − 1, 1) degrees of freedom, early
 * exaggeration for 250 iterations with momentum 0.5, then momentum 0.8, delta-bar-delta gains (+0.2 / ×0.8,
 * min 0.01), convergence checks every 50 iterations. Barnes-Hut uses the 3·perplexity nearest neighbours
 * (exact, knn.ts) for the sparse P and a quadtree with the angle criterion for the repulsive forces.
 * Everything is float64 (scikit-learn optimises in float32).
 */
export interface TsneOptions {
  /** Default 2. Barnes-Hut supports 2 only (use method 'exact' for more). */
  nComponents?: number;
  /** Default 30. Must be < n. */
  perplexity?: number;
  /** Default 12. */
  earlyExaggeration?: number;
  /** Default 'auto' = max(n / earlyExaggeration / 4, 50) (scikit-learn ≥ 1.2). */
  learningRate?: number | 'auto';
  /** Total iterations including the 250 of early exaggeration. Default 1000. (scikit-learn requires ≥ 250; smaller values are allowed here and shorten the exaggeration phase.) */
  maxIter?: number;
  /** Default 300. */
  nIterWithoutProgress?: number;
  /** Default 1e-7. */
  minGradNorm?: number;
  /** Input metric. 'euclidean' (default) uses squared distances, as scikit-learn; others use plain distances. 'precomputed': x is an n×n distance matrix. */
  metric?: 'euclidean' | 'cosine' | 'precomputed';
  /** Default 'pca': randomized PCA scaled so the first column has std 1e-4. 'random': N(0, 1e-4²). Or an n×nComponents matrix. */
  init?: 'pca' | 'random' | Matrix;
  /** Default 'barnes_hut'. */
  method?: 'barnes_hut' | 'exact';
  /** Barnes-Hut trade-off θ. Default 0.5. */
  angle?: number;
  /** Default 0. */
  seed?: number;
  /**
   * Threads: the k-NN products and, from 1,000 points on, worker threads for the Barnes–Hut repulsion (bit-identical
   * results for any count). Default: all cores.
   */
  threads?: number;
}

export interface TsneResult {
  embedding: Matrix<Float64Array>;
  /** KL(P‖Q) at the last evaluation (with the exaggerated P if the run ended in that phase). */
  klDivergence: number;
  /** Index of the last iteration run (scikit-learn's n_iter_). */
  nIter: number;
  learningRate: number;
  /** KL divergence at every check (every 50 iterations and the last). */
  klHistory: { iter: number; kl: number }[];
  method: 'barnes_hut' | 'exact';
}

const MACHINE_EPSILON = 2 ** -52;
const EXPLORATION_N_ITER = 250;
const N_ITER_CHECK = 50;

/** Sparse symmetric joint probabilities (CSR, both directions stored, sums to 1). */
export interface SparseP {
  indptr: Int32Array;
  indices: Int32Array;
  values: Float64Array;
}

export async function tsne(x: Matrix, opts: TsneOptions = {}): Promise<TsneResult> {
  const metric = opts.metric ?? 'euclidean';
  const method = opts.method ?? 'barnes_hut';
  const dim = opts.nComponents ?? 2;
  const perplexity = opts.perplexity ?? 30;
  const exaggeration = opts.earlyExaggeration ?? 12;
  const maxIter = opts.maxIter ?? 1000;
  const seed = opts.seed ?? 0;
  validateMatrix(x, 'tsne');
  const n = x.rows;
  if (metric === 'precomputed' && x.cols !== n) throw new AtlasError(`a precomputed distance matrix must be square, got ${n}×${x.cols}`, { field: 'x' });
  if (!(perplexity > 0) || perplexity >= n) throw new AtlasError(`perplexity (${perplexity}) must be in (0, n_samples = ${n})`, { field: 'perplexity', hint: 'lower the perplexity or add samples' });
  if (!(exaggeration >= 1)) throw new AtlasError(`earlyExaggeration must be ≥ 1, got ${exaggeration}`, { field: 'earlyExaggeration' });
  if (!Number.isInteger(maxIter) || maxIter < 1) throw new AtlasError(`maxIter must be a positive integer, got ${maxIter}`, { field: 'maxIter' });
  if (!Number.isInteger(dim) || dim < 1) throw new AtlasError(`nComponents must be a positive integer, got ${dim}`, { field: 'nComponents' });
  if (method === 'barnes_hut' && dim !== 2) throw new AtlasError(`Barnes-Hut t-SNE supports nComponents = 2, got ${dim}`, { field: 'nComponents', hint: "use method: 'exact'" });
  if (method !== 'barnes_hut' && method !== 'exact') throw new AtlasError(`unknown method '${String(method)}'`, { field: 'method' });
  const lrOpt = opts.learningRate ?? 'auto';
  const learningRate = lrOpt === 'auto' ? Math.max(n / exaggeration / 4, 50) : lrOpt;
  if (!(learningRate > 0)) throw new AtlasError(`learningRate must be > 0, got ${learningRate}`, { field: 'learningRate' });
  const dof = Math.max(dim - 1, 1);

  // --- Initial embedding.
  let y: Float64Array;
  const init = opts.init ?? 'pca';
  if (typeof init === 'object') {
    if (init.rows !== n || init.cols !== dim) throw new AtlasError(`init is ${init.rows}×${init.cols}, expected ${n}×${dim}`, { field: 'init' });
    y = Float64Array.from(init.data);
  } else if (init === 'pca') {
    if (metric === 'precomputed') throw new AtlasError("init 'pca' cannot be used with a precomputed distance matrix", { field: 'init', hint: "use init: 'random'" });
    if (x.cols < dim) throw new AtlasError(`init 'pca' needs at least ${dim} features`, { field: 'init' });
    const p = await pca(x, { nComponents: dim, svdSolver: 'randomized', seed, threads: opts.threads });
    y = p.embedding.data;
    let m = 0;
    for (let i = 0; i < n; i++) m += y[i * dim] / n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (y[i * dim] - m) ** 2 / n;
    const scale = v > 0 ? 1e-4 / Math.sqrt(v) : 1;
    for (let i = 0; i < y.length; i++) y[i] *= scale;
  } else if (init === 'random') {
    const rng = new Rng(seed);
    y = new Float64Array(n * dim);
    for (let i = 0; i < y.length; i++) y[i] = 1e-4 * rng.normal();
  } else throw new AtlasError(`unknown init '${String(init)}'`, { field: 'init', hint: "use 'pca', 'random' or a matrix" });

  // --- Joint probabilities.
  let objective: (y: Float64Array, grad: Float64Array, computeError: boolean, pScale: number) => number;
  let pool: RepulsionPool | undefined;
  if (method === 'exact') {
    const p = exactJointProbabilities(x, metric, perplexity);
    objective = (yy, grad, _ce, pScale) => klExact(p, yy, n, dim, dof, grad, pScale);
  } else {
    const p = await sparseJointProbabilities(x, metric, perplexity, opts.threads);
    const theta = opts.angle ?? 0.5;
    const tree = new QuadTree(n);
    // Worker threads for the repulsion above ~1,000 points (below, their start-up costs more than they save).
    const threads = Math.min(opts.threads ?? defaultThreads(), Math.floor(n / 500));
    if (threads > 1) {
      pool = await RepulsionPool.create(n, theta, threads, p);
      pool.y.set(y);
      y = pool.y;
    }
    objective = (yy, grad, ce, pScale) => klBarnesHut(p, yy, n, grad, ce, pScale, theta, tree, pool);
  }
  try {
    // --- Optimisation: two calls of scikit-learn's _gradient_descent (gains and update restart between them).
    const klHistory: { iter: number; kl: number }[] = [];
    const exploreIter = Math.min(EXPLORATION_N_ITER, maxIter);
    let r = gradientDescent(objective, y, { it: 0, nIter: exploreIter, momentum: 0.5, learningRate, minGradNorm: opts.minGradNorm ?? 1e-7, nIterWithoutProgress: EXPLORATION_N_ITER, pScale: exaggeration, history: klHistory });
    if (maxIter > exploreIter) {
      r = gradientDescent(objective, y, { it: r.it + 1, nIter: maxIter, momentum: 0.8, learningRate, minGradNorm: opts.minGradNorm ?? 1e-7, nIterWithoutProgress: opts.nIterWithoutProgress ?? 300, pScale: 1, history: klHistory });
    }
    return { embedding: { rows: n, cols: dim, data: pool ? Float64Array.from(y) : y }, klDivergence: r.error, nIter: r.it, learningRate, klHistory, method };
  } finally {
    await pool?.close();
  }
}

interface GdOptions {
  it: number;
  nIter: number;
  momentum: number;
  learningRate: number;
  minGradNorm: number;
  nIterWithoutProgress: number;
  pScale: number;
  history: { iter: number; kl: number }[];
}

function gradientDescent(objective: (y: Float64Array, grad: Float64Array, computeError: boolean, pScale: number) => number, p: Float64Array, o: GdOptions): { error: number; it: number } {
  const update = new Float64Array(p.length);
  const gains = new Float64Array(p.length).fill(1);
  const grad = new Float64Array(p.length);
  let error = Number.MAX_VALUE;
  let bestError = Number.MAX_VALUE;
  let bestIter = o.it;
  let i = o.it;
  for (; i < o.nIter; i++) {
    const check = (i + 1) % N_ITER_CHECK === 0;
    const computeError = check || i === o.nIter - 1;
    const e = objective(p, grad, computeError, o.pScale);
    if (computeError) {
      error = e;
      o.history.push({ iter: i, kl: e });
    }
    let gradNorm = 0;
    for (let t = 0; t < p.length; t++) {
      const g0 = grad[t];
      if (update[t] * g0 < 0) gains[t] += 0.2;
      else gains[t] *= 0.8;
      if (gains[t] < 0.01) gains[t] = 0.01;
      const g = g0 * gains[t];
      gradNorm += g * g;
      update[t] = o.momentum * update[t] - o.learningRate * g;
      p[t] += update[t];
    }
    if (check) {
      if (error < bestError) {
        bestError = error;
        bestIter = i;
      } else if (i - bestIter > o.nIterWithoutProgress) break;
      if (Math.sqrt(gradNorm) <= o.minGradNorm) break;
    }
  }
  return { error, it: Math.min(i, o.nIter - 1) };
}

/**
 * Row-wise binary search for the precision β_i so that the conditional distribution exp(−d·β) over the given
 * distances has entropy log(perplexity) (scikit-learn's _binary_search_perplexity: 100 steps, tolerance 1e-5).
 * `dist` holds `m` distances per row; returns the row-normalised conditional P in the same layout.
 */
export function conditionalProbabilities(dist: Float64Array, n: number, m: number, perplexity: number): Float64Array {
  const out = new Float64Array(n * m);
  const desired = Math.log(perplexity);
  for (let i = 0; i < n; i++) {
    let beta = 1;
    let betaMin = -Infinity;
    let betaMax = Infinity;
    const o = i * m;
    for (let step = 0; step < 100; step++) {
      let sumP = 0;
      for (let j = 0; j < m; j++) {
        const v = Math.exp(-dist[o + j] * beta);
        out[o + j] = v;
        sumP += v;
      }
      if (sumP === 0) sumP = 1e-8;
      let sumDP = 0;
      for (let j = 0; j < m; j++) {
        out[o + j] /= sumP;
        sumDP += dist[o + j] * out[o + j];
      }
      const entropy = Math.log(sumP) + beta * sumDP;
      const diff = entropy - desired;
      if (Math.abs(diff) <= 1e-5) break;
      if (diff > 0) {
        betaMin = beta;
        beta = betaMax === Infinity ? beta * 2 : (beta + betaMax) / 2;
      } else {
        betaMax = beta;
        beta = betaMin === -Infinity ? beta / 2 : (beta + betaMin) / 2;
      }
    }
  }
  return out;
}

function exactJointProbabilities(x: Matrix, metric: 'euclidean' | 'cosine' | 'precomputed', perplexity: number): Float64Array {
  const n = x.rows;
  const d = x.cols;
  const xf = toFloat64(x);
  // Distances to the n − 1 others per row (self skipped).
  const dist = new Float64Array(n * (n - 1));
  const norms = new Float64Array(n);
  if (metric === 'cosine') for (let i = 0; i < n; i++) { let s = 0; for (let t = 0; t < d; t++) s += xf.data[i * d + t] ** 2; norms[i] = Math.sqrt(s); }
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      let v: number;
      if (metric === 'precomputed') v = xf.data[i * n + j];
      else if (metric === 'cosine') {
        let s = 0;
        for (let t = 0; t < d; t++) s += xf.data[i * d + t] * xf.data[j * d + t];
        const den = norms[i] * norms[j];
        v = Math.min(2, Math.max(0, 1 - (den > 0 ? s / den : 0)));
      } else {
        let s = 0;
        for (let t = 0; t < d; t++) s += (xf.data[i * d + t] - xf.data[j * d + t]) ** 2;
        v = s;
      }
      if (!(v >= 0) || !Number.isFinite(v)) throw new AtlasError(`distance (${i}, ${j}) is ${v}; t-SNE needs finite distances ≥ 0`, { field: 'x' });
      dist[i * (n - 1) + c++] = v;
    }
  }
  const cond = conditionalProbabilities(dist, n, n - 1, perplexity);
  // Full symmetric P (diagonal 0), normalised and floored at machine epsilon like scikit-learn.
  const p = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (let j = 0; j < n; j++) if (j !== i) p[i * n + j] = cond[i * (n - 1) + c++];
  }
  let sum = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
    const v = p[i * n + j] + p[j * n + i];
    p[i * n + j] = p[j * n + i] = v;
    sum += 2 * v;
  }
  sum = Math.max(sum, MACHINE_EPSILON);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) p[i * n + j] = Math.max(p[i * n + j] / sum, MACHINE_EPSILON);
  return p;
}

function klExact(p: Float64Array, y: Float64Array, n: number, dim: number, dof: number, grad: Float64Array, pScale: number): number {
  const w = new Float64Array(n * n);
  const expo = (dof + 1) / -2;
  let z = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
    let s = 0;
    for (let c = 0; c < dim; c++) s += (y[i * dim + c] - y[j * dim + c]) ** 2;
    const v = dof === 1 ? 1 / (1 + s) : (s / dof + 1) ** expo;
    w[i * n + j] = w[j * n + i] = v;
    z += 2 * v;
  }
  grad.fill(0);
  let kl = 0;
  const c4 = (2 * (dof + 1)) / dof;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const pij = p[i * n + j] * pScale;
      const q = Math.max(w[i * n + j] / z, MACHINE_EPSILON);
      if (j > i) kl += 2 * pij * Math.log(Math.max(pij, MACHINE_EPSILON) / q);
      const f = (pij - q) * w[i * n + j];
      for (let c = 0; c < dim; c++) grad[i * dim + c] += f * (y[i * dim + c] - y[j * dim + c]);
    }
    for (let c = 0; c < dim; c++) grad[i * dim + c] *= c4;
  }
  return kl;
}

async function sparseJointProbabilities(x: Matrix, metric: 'euclidean' | 'cosine' | 'precomputed', perplexity: number, threads?: number): Promise<SparseP> {
  const n = x.rows;
  const k = Math.min(n - 1, Math.floor(3 * perplexity + 1));
  const idx = new Int32Array(n * k);
  const dist = new Float64Array(n * k);
  if (metric === 'precomputed') {
    for (let i = 0; i < n; i++) {
      const order = Array.from({ length: n }, (_, j) => j).filter((j) => j !== i).sort((a, b) => x.data[i * n + a] - x.data[i * n + b] || a - b);
      for (let t = 0; t < k; t++) {
        idx[i * k + t] = order[t];
        const v = x.data[i * n + order[t]];
        if (!(v >= 0) || !Number.isFinite(v)) throw new AtlasError(`distance (${i}, ${order[t]}) is ${v}; t-SNE needs finite distances ≥ 0`, { field: 'x' });
        dist[i * k + t] = v;
      }
    }
  } else {
    const r = await knn(x, { k, metric, threads });
    idx.set(r.indices);
    for (let t = 0; t < dist.length; t++) dist[t] = metric === 'euclidean' ? r.distances[t] ** 2 : r.distances[t];
  }
  const cond = conditionalProbabilities(dist, n, k, perplexity);
  // P + Pᵀ on the union pattern, normalised to sum 1.
  const rows: Map<number, number>[] = Array.from({ length: n }, () => new Map());
  for (let i = 0; i < n; i++) for (let t = 0; t < k; t++) {
    const j = idx[i * k + t];
    const v = cond[i * k + t];
    rows[i].set(j, (rows[i].get(j) ?? 0) + v);
    rows[j].set(i, (rows[j].get(i) ?? 0) + v);
  }
  const indptr = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) indptr[i + 1] = indptr[i] + rows[i].size;
  const indices = new Int32Array(indptr[n]);
  const values = new Float64Array(indptr[n]);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let o = indptr[i];
    for (const [j, v] of [...rows[i].entries()].sort((a, b) => a[0] - b[0])) {
      indices[o] = j;
      values[o++] = v;
      sum += v;
    }
  }
  sum = Math.max(sum, MACHINE_EPSILON);
  for (let o = 0; o < values.length; o++) values[o] /= sum;
  return { indptr, indices, values };
}

/** Point-region quadtree over the 2-D embedding, rebuilt every iteration; flat typed arrays, grown on demand. */
export class QuadTree {
  cap: number;
  size = 0;
  cx!: Float64Array; cy!: Float64Array; hw!: Float64Array;
  sx!: Float64Array; sy!: Float64Array; count!: Int32Array;
  child!: Int32Array; // 4 per node, -1 = no children
  point!: Int32Array; // leaf's representative point, -1 when empty

  constructor(n: number) {
    this.cap = Math.max(16, 4 * n);
    this.alloc(this.cap);
  }

  private alloc(cap: number): void {
    const grow = <T extends Float64Array | Int32Array>(old: T | undefined, len: number, make: (l: number) => T): T => {
      const a = make(len);
      if (old) a.set(old.subarray(0, Math.min(old.length, len)) as never);
      return a;
    };
    this.cx = grow(this.cx, cap, (l) => new Float64Array(l));
    this.cy = grow(this.cy, cap, (l) => new Float64Array(l));
    this.hw = grow(this.hw, cap, (l) => new Float64Array(l));
    this.sx = grow(this.sx, cap, (l) => new Float64Array(l));
    this.sy = grow(this.sy, cap, (l) => new Float64Array(l));
    this.count = grow(this.count, cap, (l) => new Int32Array(l));
    this.child = grow(this.child, cap * 4, (l) => new Int32Array(l));
    this.point = grow(this.point, cap, (l) => new Int32Array(l));
    this.cap = cap;
  }

  private node(cx: number, cy: number, hw: number): number {
    if (this.size === this.cap) this.alloc(this.cap * 2);
    const id = this.size++;
    this.cx[id] = cx; this.cy[id] = cy; this.hw[id] = hw;
    this.sx[id] = 0; this.sy[id] = 0; this.count[id] = 0; this.point[id] = -1;
    this.child[4 * id] = -1;
    return id;
  }

  build(y: Float64Array, n: number): void {
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      const a = y[2 * i], b = y[2 * i + 1];
      if (a < minX) minX = a; if (a > maxX) maxX = a;
      if (b < minY) minY = b; if (b > maxY) maxY = b;
    }
    if (!Number.isFinite(minX + maxX + minY + maxY)) throw new Error('t-SNE diverged: non-finite coordinates (try a smaller learningRate)');
    this.size = 0;
    const hw = Math.max(maxX - minX, maxY - minY) / 2 * (1 + 1e-6) + 1e-12;
    this.node((minX + maxX) / 2, (minY + maxY) / 2, hw);
    for (let i = 0; i < n; i++) this.insert(i, y[2 * i], y[2 * i + 1], y);
  }

  private insert(p: number, px: number, py: number, y: Float64Array): void {
    let nd = 0;
    for (let depth = 0; ; depth++) {
      if (this.child[4 * nd] === -1) {
        if (this.count[nd] === 0) {
          this.point[nd] = p; this.count[nd] = 1; this.sx[nd] = px; this.sy[nd] = py;
          return;
        }
        const q = this.point[nd];
        const qx = y[2 * q], qy = y[2 * q + 1];
        if ((qx === px && qy === py) || depth > 64) {
          // Duplicate position (or float resolution reached): the leaf holds several points.
          this.count[nd]++; this.sx[nd] += px; this.sy[nd] += py;
          return;
        }
        // Split: the leaf's points move to the matching child.
        const h = this.hw[nd] / 2;
        const first = this.size;
        for (let c = 0; c < 4; c++) this.node(this.cx[nd] + (c & 1 ? h : -h), this.cy[nd] + (c & 2 ? h : -h), h);
        for (let c = 0; c < 4; c++) this.child[4 * nd + c] = first + c;
        const cq = first + ((qx >= this.cx[nd] ? 1 : 0) | (qy >= this.cy[nd] ? 2 : 0));
        this.point[cq] = q; this.count[cq] = this.count[nd]; this.sx[cq] = this.sx[nd]; this.sy[cq] = this.sy[nd];
        this.point[nd] = -1;
      }
      this.count[nd]++; this.sx[nd] += px; this.sy[nd] += py;
      nd = this.child[4 * nd + ((px >= this.cx[nd] ? 1 : 0) | (py >= this.cy[nd] ? 2 : 0))];
    }
  }
}

/**
 * Barnes–Hut repulsion of points [start, end) from the built tree: neg[2i..2i+1] = Σ_j q_ij² (y_i − y_j) and
 * qOut[i] = Σ_j q_ij (unnormalised), with far cells summarised by their centre of mass.
 */
export function repulsion(tree: QuadTree, y: Float64Array, start: number, end: number, theta: number, neg: Float64Array, qOut: Float64Array): void {
  const theta2 = theta * theta;
  const { child, count, sx, sy, hw } = tree;
  const stack = new Int32Array(4 * 64 + 8 + tree.size);
  for (let i = start; i < end; i++) {
    const yx = y[2 * i], yy = y[2 * i + 1];
    let fx = 0, fy = 0, q = 0;
    let top = 0;
    stack[top++] = 0;
    while (top > 0) {
      const nd = stack[--top];
      const c = count[nd];
      if (c === 0) continue;
      const mx = sx[nd] / c, my = sy[nd] / c;
      const dx = yx - mx, dy = yy - my;
      const d2 = dx * dx + dy * dy;
      const leaf = child[4 * nd] === -1;
      const w = 2 * hw[nd];
      if (leaf || w * w < theta2 * d2) {
        const m = leaf && d2 === 0 ? c - 1 : c; // the point itself is not its own neighbour
        if (m === 0) continue;
        const qz = 1 / (1 + d2);
        q += m * qz;
        const mult = m * qz * qz;
        fx += mult * dx;
        fy += mult * dy;
      } else {
        const b = 4 * nd;
        stack[top++] = child[b]; stack[top++] = child[b + 1]; stack[top++] = child[b + 2]; stack[top++] = child[b + 3];
      }
    }
    qOut[i] = q;
    neg[2 * i] = fx;
    neg[2 * i + 1] = fy;
  }
}

/** Attractive forces of points [start, end): attr[2i..2i+1] = Σ_j p_ij·pScale·q_ij (y_i − y_j), summed in CSR order. */
export function attraction(p: SparseP, y: Float64Array, start: number, end: number, pScale: number, attr: Float64Array): void {
  const { indptr, indices, values } = p;
  for (let i = start; i < end; i++) {
    const yx = y[2 * i], yy = y[2 * i + 1];
    let fx = 0, fy = 0;
    for (let o = indptr[i]; o < indptr[i + 1]; o++) {
      const j = indices[o];
      const dx = yx - y[2 * j], dy = yy - y[2 * j + 1];
      const qij = 1 / (1 + dx * dx + dy * dy);
      const pij = values[o] * pScale;
      const f = pij * qij;
      fx += f * dx;
      fy += f * dy;
    }
    attr[2 * i] = fx;
    attr[2 * i + 1] = fy;
  }
}

/**
 * KL divergence (on request) and its gradient by Barnes–Hut. The repulsion, most of the cost, is split over
 * the pool's worker threads by chunks of points (each builds the same tree from the shared embedding); sumQ is
 * summed over points in order afterwards, so the result is bit-identical for any number of threads.
 */
function klBarnesHut(p: SparseP, y: Float64Array, n: number, grad: Float64Array, computeError: boolean, pScale: number, theta: number, tree: QuadTree, pool?: RepulsionPool): number {
  tree.build(y, n);
  const tiny = 1.1754943508222875e-38; // FLOAT32_TINY, as scikit-learn
  const { indptr, indices, values } = p;
  // Both force terms per chunk of points (on the pool's workers, or here in one chunk); the sums over points
  // (sumQ, KL) in order afterwards, so every thread count gives the same bits.
  let neg: Float64Array, q: Float64Array, attr: Float64Array;
  if (pool) {
    ({ neg, q, attr } = pool);
    pool.run(pScale, (start, end) => {
      repulsion(tree, y, start, end, theta, neg, q);
      attraction(p, y, start, end, pScale, attr);
    });
  } else {
    neg = new Float64Array(2 * n);
    q = new Float64Array(n);
    attr = new Float64Array(2 * n);
    repulsion(tree, y, 0, n, theta, neg, q);
    attraction(p, y, 0, n, pScale, attr);
  }
  let sumQ = 0;
  for (let i = 0; i < n; i++) sumQ += q[i];
  let kl = 0;
  if (computeError) {
    for (let i = 0; i < n; i++) {
      const yx = y[2 * i], yy = y[2 * i + 1];
      for (let o = indptr[i]; o < indptr[i + 1]; o++) {
        const j = indices[o];
        const dx = yx - y[2 * j], dy = yy - y[2 * j + 1];
        const qij = 1 / (1 + dx * dx + dy * dy);
        const pij = values[o] * pScale;
        kl += pij * Math.log(Math.max(pij, tiny) / Math.max(qij / sumQ, tiny));
      }
    }
  }
  for (let i = 0; i < 2 * n; i++) grad[i] = 4 * (attr[i] - neg[i] / sumQ);
  return kl;
}

/** Internals exposed for the gradient tests only. */
export const tsneInternals = { exactJointProbabilities, sparseJointProbabilities, klExact, klBarnesHut, QuadTree };

import { AtlasError } from '../errors.ts';
import type { Matrix } from './matrix.ts';
import { symmetricEigen } from './linalg.ts';
import { topEigenpairs } from './topk-eigen.ts';
import { Rng } from './rng.ts';

/**
 * Multidimensional scaling on a given n×n dissimilarity matrix (symmetric, zero diagonal, finite, ≥ 0):
 * classical (Torgerson) scaling and metric MDS by SMACOF (scikit-learn's MDS(metric=True, dissimilarity=
 * 'precomputed')).
 */
export function validateDissimilarities(d: Matrix, what: string): void {
  const n = d.rows;
  if (d.cols !== n) throw new AtlasError(`${what}: the dissimilarity matrix is ${d.rows}×${d.cols}, it must be square`, { field: 'dissimilarities' });
  if (n < 2) throw new AtlasError(`${what}: needs at least 2 points`, { field: 'dissimilarities' });
  for (let i = 0; i < n; i++) {
    if (d.data[i * n + i] !== 0) throw new AtlasError(`${what}: diagonal entry ${i} is ${d.data[i * n + i]}, not 0`, { field: 'dissimilarities' });
    for (let j = i + 1; j < n; j++) {
      const a = d.data[i * n + j];
      const b = d.data[j * n + i];
      if (!Number.isFinite(a) || a < 0) {
        throw new AtlasError(`${what}: entry (${i}, ${j}) is ${a}; dissimilarities must be finite and ≥ 0`, {
          field: 'dissimilarities', hint: Number.isFinite(a) ? undefined : "a disconnected geodesic graph gives Infinity: use geodesicDistances with disconnected: 'connect'",
        });
      }
      if (Math.abs(a - b) > 1e-9 * Math.max(1, Math.abs(a))) throw new AtlasError(`${what}: the matrix is not symmetric at (${i}, ${j}): ${a} vs ${b}`, { field: 'dissimilarities' });
    }
  }
}

export interface ClassicalMdsOptions {
  /** Default 2. */
  nComponents?: number;
  /**
   * Also compute `negativeMass`, which needs every eigenvalue of the n×n matrix (a full O(n³) decomposition,
   * seconds at a few thousand points). Default false: only the top nComponents eigenpairs are computed.
   */
  negativeMass?: boolean;
  /** Intra-op threads of the eigensolver's products. Default: all cores. */
  threads?: number;
}

export interface ClassicalMdsResult {
  /** n × k: eigenvectors of the double-centred matrix scaled by √λ (sign: each column's largest |entry| positive). */
  embedding: Matrix<Float64Array>;
  /** The k largest eigenvalues of B = −½ J D² J (descending). */
  eigenvalues: Float64Array;
  /**
   * With `negativeMass: true`: Σ|negative eigenvalues| / Σ|all eigenvalues|: 0 for exactly Euclidean input;
   * large values mean the dissimilarities are far from Euclidean and the embedding distorts them.
   */
  negativeMass?: number;
  /** Components whose eigenvalue was ≤ 0 were set to zero (not representable). */
  zeroedComponents: number;
}

/** −½ J D² J, the double-centred squared dissimilarities (Torgerson–Gower). */
function doubleCentred(d: Matrix): Matrix<Float64Array> {
  const n = d.rows;
  const b = new Float64Array(n * n);
  const rowMean = new Float64Array(n);
  let total = 0;
  const src = d.data;
  for (let i = 0; i < n; i++) {
    const o = i * n;
    let m = 0;
    for (let j = 0; j < n; j++) {
      const v = src[o + j];
      const s = v * v;
      b[o + j] = s;
      m += s / n;
    }
    rowMean[i] = m;
  }
  for (let i = 0; i < n; i++) total += rowMean[i] / n;
  for (let i = 0; i < n; i++) {
    const o = i * n;
    const ri = rowMean[i] - total;
    for (let j = 0; j < n; j++) b[o + j] = -0.5 * (b[o + j] - ri - rowMean[j]);
  }
  return { rows: n, cols: n, data: b };
}

/**
 * Classical (Torgerson–Gower) scaling: the top k eigenpairs of the double-centred matrix by the block Krylov
 * solver (topk-eigen.ts, matrix products; eigenvalues to ~1e-12 relative of the full decomposition).
 */
export async function classicalMds(d: Matrix, opts: ClassicalMdsOptions = {}): Promise<ClassicalMdsResult> {
  validateDissimilarities(d, 'classicalMds');
  const n = d.rows;
  const k = opts.nComponents ?? 2;
  if (!Number.isInteger(k) || k < 1 || k > n) throw new AtlasError(`nComponents must be an integer in [1, ${n}], got ${k}`, { field: 'nComponents' });
  const b = doubleCentred(d);
  const { values, vectors } = await topEigenpairs(b, k, { threads: opts.threads });
  let negativeMass: number | undefined;
  if (opts.negativeMass) {
    let neg = 0;
    let abs = 0;
    for (const v of symmetricEigen(b).values) {
      abs += Math.abs(v);
      if (v < 0) neg -= v;
    }
    negativeMass = abs > 0 ? neg / abs : 0;
  }
  const embedding = new Float64Array(n * k);
  let zeroed = 0;
  for (let c = 0; c < k; c++) {
    const lambda = values[c];
    if (!(lambda > 0)) {
      zeroed++;
      continue;
    }
    const v = vectors.data.subarray(c * n, c * n + n);
    let big = 0;
    for (let i = 0; i < n; i++) if (Math.abs(v[i]) > Math.abs(big)) big = v[i];
    const s = Math.sqrt(lambda) * (big < 0 ? -1 : 1);
    for (let i = 0; i < n; i++) embedding[i * k + c] = v[i] * s;
  }
  return { embedding: { rows: n, cols: k, data: embedding }, eigenvalues: values.slice(0, k), negativeMass, zeroedComponents: zeroed };
}

export interface SmacofOptions {
  /** Default 2. */
  nComponents?: number;
  /** Random restarts; the run with the lowest final stress is kept. Default 4 (scikit-learn ≤ 1.8). Ignored (1) with `init`. */
  nInit?: number;
  /** Default 300. */
  maxIter?: number;
  /** Stop when (previous − current stress/‖X‖-sum) < eps, scikit-learn's criterion. Default 1e-3. */
  eps?: number;
  /** Starting configuration (n × nComponents). Default: uniform random in [0, 1) per coordinate, as scikit-learn. */
  init?: Matrix;
  /** Default 0. */
  seed?: number;
}

export interface SmacofRun {
  /** Raw stress Σ_{i<j} (d̂_ij − δ_ij)² of the final configuration's predecessor, as scikit-learn reports it. */
  stress: number;
  nIter: number;
  /** Raw stress at the start of every iteration (non-increasing: the Guttman transform is a majorisation step). */
  stressHistory: Float64Array;
}

export interface SmacofResult extends SmacofRun {
  embedding: Matrix<Float64Array>;
  /** Kruskal's Stress-1: √(stress / Σ_{i<j} δ_ij²). */
  normalizedStress: number;
  /** Every restart's final stress and iteration count, in order (the best one is `stress`). */
  runs: { stress: number; nIter: number }[];
}

/** Metric MDS by SMACOF (de Leeuw), as scikit-learn's _smacof_single with metric=True and unit weights. */
export function smacof(d: Matrix, opts: SmacofOptions = {}): SmacofResult {
  validateDissimilarities(d, 'smacof');
  const n = d.rows;
  const k = opts.nComponents ?? 2;
  if (!Number.isInteger(k) || k < 1) throw new AtlasError(`nComponents must be a positive integer, got ${k}`, { field: 'nComponents' });
  if (opts.init && (opts.init.rows !== n || opts.init.cols !== k)) throw new AtlasError(`init is ${opts.init.rows}×${opts.init.cols}, expected ${n}×${k}`, { field: 'init' });
  const nInit = opts.init ? 1 : (opts.nInit ?? 4);
  const rng = new Rng(opts.seed ?? 0);
  const delta = Float64Array.from(d.data);
  let best: (SmacofRun & { x: Float64Array }) | null = null;
  const runs: { stress: number; nIter: number }[] = [];
  for (let r = 0; r < nInit; r++) {
    const x0 = new Float64Array(n * k);
    if (opts.init) x0.set(opts.init.data);
    else for (let i = 0; i < x0.length; i++) x0[i] = rng.next();
    const run = smacofSingle(delta, n, k, x0, opts.maxIter ?? 300, opts.eps ?? 1e-3);
    runs.push({ stress: run.stress, nIter: run.nIter });
    if (!best || run.stress < best.stress) best = run;
  }
  let sumSq = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) sumSq += delta[i * n + j] ** 2;
  const b = best!;
  return {
    embedding: { rows: n, cols: k, data: b.x }, stress: b.stress, nIter: b.nIter, stressHistory: b.stressHistory,
    normalizedStress: sumSq > 0 ? Math.sqrt(b.stress / sumSq) : 0, runs,
  };
}

function smacofSingle(delta: Float64Array, n: number, k: number, x: Float64Array, maxIter: number, eps: number): SmacofRun & { x: Float64Array } {
  let next: Float64Array = new Float64Array(n * k);
  const history: number[] = [];
  let oldStress: number | null = null;
  let stress = 0;
  let it = 0;
  for (; it < maxIter; it++) {
    // One pass per row: distances of the current configuration, stress, and the Guttman transform
    // X⁺ = (1/n)·B(X)·X with b_ij = −δ_ij/d_ij (i ≠ j), b_ii = Σ_j δ_ij/d_ij (d = 0 → 1e-5 as scikit-learn).
    stress = 0;
    next.fill(0);
    for (let i = 0; i < n; i++) {
      let diag = 0;
      const oi = i * k;
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        const oj = j * k;
        let s = 0;
        for (let c = 0; c < k; c++) {
          const t = x[oi + c] - x[oj + c];
          s += t * t;
        }
        const dist = Math.sqrt(s);
        const dl = delta[i * n + j];
        if (j > i) stress += (dist - dl) ** 2;
        const ratio = dl / (dist === 0 ? 1e-5 : dist);
        diag += ratio;
        for (let c = 0; c < k; c++) next[oi + c] -= ratio * x[oj + c];
      }
      for (let c = 0; c < k; c++) next[oi + c] = (next[oi + c] + diag * x[oi + c]) / n;
    }
    history.push(stress);
    [x, next] = [next, x];
    let norm = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let c = 0; c < k; c++) s += x[i * k + c] ** 2;
      norm += Math.sqrt(s);
    }
    if (oldStress !== null && oldStress - stress / norm < eps) {
      it++;
      break;
    }
    oldStress = stress / norm;
  }
  return { x, stress, nIter: Math.min(it, maxIter), stressHistory: Float64Array.from(history) };
}

/**
 * Per-point Fisher metrics of a point set, as stored on disk and used by the graph and ellipse steps.
 *
 * - 'dense': G_i − λI as an n × d × d float32 array (exact; used when d ≤ `denseMaxDim`, default 256).
 * - 'factor': G_i − λI ≈ F_i F_iᵀ with F_i d × r (n × d × r float32). Monte-Carlo metrics ARE this form
 *   exactly (r = samples); exact metrics of large d are truncated to their top-r eigenpairs by a randomized
 *   subspace iteration, and `captured` reports the trace fraction kept per point.
 * λ I is never stored: every quadratic form adds λ‖Δ‖² exactly.
 */
import { AtlasError } from '../errors.ts';
import { gemm } from '../geometry/gemm.ts';
import { orthonormalColumns, symmetricEigen } from '../geometry/linalg.ts';
import { Rng } from '../geometry/rng.ts';

export interface MetricStore {
  n: number;
  d: number;
  lambda: number;
  kind: 'dense' | 'factor';
  /** d for dense, r for factor. */
  rank: number;
  /** n × d × d (dense) or n × d × rank (factor), row-major per point. */
  data: Float32Array;
  /** Per point: fraction of trace(G − λI) kept by the factor (1 for dense and Monte-Carlo). */
  captured: Float64Array;
}

/** Δᵀ G_i Δ (with the λ term). */
export function quadForm(s: MetricStore, i: number, delta: ArrayLike<number>): number {
  const { d, rank, data } = s;
  const base = i * d * rank;
  let q = 0;
  let nn = 0;
  for (let a = 0; a < d; a++) nn += delta[a] * delta[a];
  if (s.kind === 'dense') {
    for (let a = 0; a < d; a++) {
      let t = 0;
      const o = base + a * d;
      for (let b = 0; b < d; b++) t += data[o + b] * delta[b];
      q += delta[a] * t;
    }
  } else {
    const t = new Float64Array(rank);
    for (let a = 0; a < d; a++) {
      const o = base + a * rank;
      const da = delta[a];
      for (let c = 0; c < rank; c++) t[c] += data[o + c] * da;
    }
    for (let c = 0; c < rank; c++) q += t[c] * t[c];
  }
  return Math.max(0, q) + s.lambda * nn;
}

/** The 2 × 2 matrix Sᵀ G_i S for S = [s1 s2] (d × 2 as two vectors), by polarisation of quadratic forms. */
export function metric2(s: MetricStore, i: number, s1: ArrayLike<number>, s2: ArrayLike<number>): [number, number, number] {
  const a = quadForm(s, i, s1);
  const c = quadForm(s, i, s2);
  const sum = Float64Array.from(s1, (v, k) => v + s2[k]);
  const b = (quadForm(s, i, sum) - a - c) / 2;
  return [a, b, c];
}

/** Dense d × d (G_i − λI) of one point, float64 (from either storage). */
export function denseMetric(s: MetricStore, i: number): Float64Array {
  const { d, rank, data } = s;
  const out = new Float64Array(d * d);
  const base = i * d * rank;
  if (s.kind === 'dense') for (let k = 0; k < d * d; k++) out[k] = data[base + k];
  else for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) {
    let t = 0;
    for (let c = 0; c < rank; c++) t += data[base + a * rank + c] * data[base + b * rank + c];
    out[a * d + b] = t;
  }
  return out;
}

/**
 * Top-r eigen-factor of a PSD d × d matrix: G ≈ F Fᵀ, F = Q U √Λ from a randomized subspace iteration
 * (Halko et al.; r + 10 columns, `iters` power steps, each one gemm). Returns the captured trace fraction.
 */
export async function lowRankFactor(G: Float64Array, d: number, r: number, opts: { iters?: number; seed?: number } = {}): Promise<{ F: Float64Array; captured: number }> {
  const k = Math.min(d, r + 10);
  const rng = new Rng(opts.seed ?? 0);
  let Y = new Float64Array(d * k);
  for (let i = 0; i < Y.length; i++) Y[i] = rng.normal();
  let Q = orthonormalColumns({ rows: d, cols: k, data: Y }).data;
  for (let it = 0; it < (opts.iters ?? 2); it++) {
    Y = Float64Array.from((await gemm({ rows: d, cols: d, data: G }, { rows: d, cols: k, data: Q })).data);
    Q = orthonormalColumns({ rows: d, cols: k, data: Y }).data;
  }
  const GQ = (await gemm({ rows: d, cols: d, data: G }, { rows: d, cols: k, data: Q })).data;
  const B = Float64Array.from((await gemm({ rows: d, cols: k, data: Q }, { rows: d, cols: k, data: GQ as Float64Array }, { transposeA: true })).data);
  for (let i = 0; i < k; i++) for (let j = i + 1; j < k; j++) B[i * k + j] = B[j * k + i] = 0.5 * (B[i * k + j] + B[j * k + i]);
  const { values, vectors } = symmetricEigen({ rows: k, cols: k, data: B });
  const rr = Math.min(r, k);
  const F = new Float64Array(d * rr);
  let kept = 0;
  for (let c = 0; c < rr; c++) {
    const lam = Math.max(0, values[c]);
    kept += lam;
    const s = Math.sqrt(lam);
    for (let a = 0; a < d; a++) {
      let t = 0;
      for (let j = 0; j < k; j++) t += Q[a * k + j] * vectors.data[c * k + j];
      F[a * rr + c] = t * s;
    }
  }
  let trace = 0;
  for (let a = 0; a < d; a++) trace += G[a * d + a];
  return { F, captured: trace > 0 ? Math.min(1, kept / trace) : 1 };
}

/**
 * With λ = 0 every G_i must be positive definite for the Fisher length to be a distance (LayerNorm/RMSNorm
 * make the last-layer metric singular along their invariant directions, so this usually fails): checked by a
 * Cholesky factorisation of each dense metric; factor storage with rank < d is singular by construction.
 */
export function assertPositiveDefinite(s: MetricStore): void {
  if (s.lambda > 0) return;
  const hint = 'use a positive --lambda (default 1e-4): the metric is singular (e.g. along the final norm\'s scale-invariant directions), so distinct points can be at Fisher distance 0';
  if (s.kind === 'factor' && s.rank < s.d) throw new AtlasError(`λ = 0 with a rank-${s.rank} metric factor in d = ${s.d}: G is singular`, { field: 'lambda', hint });
  const d = s.d;
  for (let i = 0; i < s.n; i++) {
    const a = denseMetric(s, i);
    let maxDiag = 0;
    for (let k = 0; k < d; k++) maxDiag = Math.max(maxDiag, a[k * d + k]);
    const tol = 1e-10 * Math.max(maxDiag, Number.MIN_VALUE);
    for (let j = 0; j < d; j++) {
      let v = a[j * d + j];
      for (let k = 0; k < j; k++) v -= a[j * d + k] ** 2;
      if (!(v > tol)) throw new AtlasError(`λ = 0 and the Fisher metric of point ${i} is singular (pivot ${j} = ${v.toExponential(2)})`, { field: 'lambda', hint });
      const l = Math.sqrt(v);
      a[j * d + j] = l;
      for (let r = j + 1; r < d; r++) {
        let t = a[r * d + j];
        for (let k = 0; k < j; k++) t -= a[r * d + k] * a[j * d + k];
        a[r * d + j] = t / l;
      }
    }
  }
}

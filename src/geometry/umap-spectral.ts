import type { CsrGraph } from './graph.ts';
import { symmetricEigen } from './linalg.ts';
import type { Rng } from './rng.ts';

/**
 * UMAP's spectral initialisation (umap-learn's spectral_layout): the eigenvectors of the normalised Laplacian
 * L = I − D^-½·A·D^-½ with the 2nd to (dim+1)-th smallest eigenvalues, that is the eigenvectors of
 * M = D^-½·A·D^-½ with the largest eigenvalues after the trivial λ = 1 (eigenvector D^½·1, known, so it is
 * projected out of the search space instead of being searched for).
 *
 * umap-learn calls ARPACK (scipy eigsh, which='SM', tol 1e-4) on the sparse L. Here: thick-restart Lanczos with
 * full reorthogonalisation on the sparse M (a block Krylov solver on dense products, topk-eigen.ts, would need
 * the n×n matrix: 200 MB at n = 5,000, while M has ~30 non-zeros a row). The search space V grows by
 * v ← M·v orthogonalised twice against V (classical Gram–Schmidt, "twice is enough"); Rayleigh–Ritz on
 * T = Vᵀ·(M·V) gives Ritz pairs (θ, x = V·y), and M·x = (M·V)·y needs no product. A pair is converged when
 * ‖M·x − θ·x‖ ≤ `tol` (‖M‖ = 1); when V is full it restarts from the leading Ritz vectors (their Krylov
 * relation is kept because the next vector, orthogonal to all of V, is kept too).
 */

export interface SpectralOptions {
  /** Residual tolerance ‖M·x − θ·x‖ (‖M‖ = 1). Default 1e-6 (umap-learn asks ARPACK for 1e-4). */
  tol?: number;
  /** Largest search space. Default max(4·(dim + 1), 48), at most n − 1. */
  maxBasis?: number;
  /** Restarts before the current Ritz vectors are returned as they are. Default 200. */
  maxRestarts?: number;
}

export interface SpectralLayout {
  /** n×dim, row-major: coordinate c of point i is eigenvector c (unit norm) at i. */
  coords: Float64Array;
  /** The dim eigenvalues of M found, descending. */
  values: Float64Array;
  /** Largest residual ‖M·x − θ·x‖ of the returned vectors. */
  maxResidual: number;
  /** Products M·v. */
  products: number;
}

export function spectralLayout(g: CsrGraph, dim: number, rng: Rng, opts: SpectralOptions = {}): SpectralLayout {
  const n = g.n;
  const tol = opts.tol ?? 1e-6;
  const maxBasis = Math.min(n - 1, opts.maxBasis ?? Math.max(4 * (dim + 1), 48));
  const keep = Math.min(maxBasis - 1, Math.max(dim + 8, Math.floor(maxBasis / 3)));
  const maxRestarts = opts.maxRestarts ?? 200;
  if (dim >= maxBasis) throw new Error(`spectralLayout: ${dim} eigenvectors need more than ${n} points`);

  // M's entries (D^-½·A·D^-½) and its trivial eigenvector u = D^½·1 / ‖D^½·1‖.
  const deg = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let o = g.indptr[i]; o < g.indptr[i + 1]; o++) deg[i] += g.weights[o];
  const inv = deg.map((d) => (d > 0 ? 1 / Math.sqrt(d) : 0));
  const mw = new Float64Array(g.weights.length);
  for (let i = 0; i < n; i++) for (let o = g.indptr[i]; o < g.indptr[i + 1]; o++) mw[o] = g.weights[o] * inv[i] * inv[g.indices[o]];
  const u = deg.map(Math.sqrt);
  scale(u, 1 / Math.sqrt(dot(u, u)));
  let products = 0;
  const apply = (v: Float64Array, out: Float64Array) => {
    products++;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let o = g.indptr[i]; o < g.indptr[i + 1]; o++) s += mw[o] * v[g.indices[o]];
      out[i] = s;
    }
  };

  const V = new Float64Array(maxBasis * n);
  const W = new Float64Array(maxBasis * n);
  const T = new Float64Array(maxBasis * maxBasis);
  const row = (a: Float64Array, r: number) => a.subarray(r * n, (r + 1) * n);
  let m = 0;
  // The next basis vector, orthonormal to u and V.
  const next = new Float64Array(n);
  const coef = new Float64Array(maxBasis);
  const orthonormalise = (r: Float64Array): boolean => {
    for (let pass = 0; pass < 2; pass++) {
      axpy(-dot(u, r), u, r);
      for (let p = 0; p < m; p++) coef[p] = dot(row(V, p), r);
      for (let p = 0; p < m; p++) axpy(-coef[p], row(V, p), r);
    }
    const norm = Math.sqrt(dot(r, r));
    if (!(norm > 1e-10)) return false;
    scale(r, 1 / norm);
    return true;
  };
  const randomNext = () => {
    for (let tries = 0; tries < 10; tries++) {
      for (let i = 0; i < n; i++) next[i] = rng.normal();
      if (orthonormalise(next)) return;
    }
    throw new Error('spectralLayout: no direction left outside the search space');
  };
  randomNext();

  let ritz = { values: new Float64Array(0), y: new Float64Array(0), residual: Infinity };
  const rayleighRitz = (count: number) => {
    const t = symmetricEigen({ rows: m, cols: m, data: lowerOf(T, maxBasis, m) });
    const y = t.vectors.data.slice(0, count * m); // row c: coefficients of Ritz vector c in V
    let residual = 0;
    const x = new Float64Array(n);
    const mx = new Float64Array(n);
    for (let c = 0; c < Math.min(dim, count); c++) {
      x.fill(0);
      mx.fill(0);
      for (let p = 0; p < m; p++) {
        axpy(y[c * m + p], row(V, p), x);
        axpy(y[c * m + p], row(W, p), mx);
      }
      axpy(-t.values[c], x, mx);
      residual = Math.max(residual, Math.sqrt(dot(mx, mx)));
    }
    ritz = { values: t.values.slice(0, count), y, residual };
  };

  // Check for convergence every few products: Rayleigh–Ritz costs about dim products.
  const checkEvery = Math.max(4, 2 * dim);
  for (let restart = 0; ; ) {
    row(V, m).set(next);
    apply(row(V, m), row(W, m));
    m++;
    const w = row(W, m - 1);
    for (let p = 0; p < m; p++) T[(m - 1) * maxBasis + p] = T[p * maxBasis + m - 1] = dot(row(V, p), w);
    next.set(w);
    // V spanning all of u's complement is an invariant subspace: its Ritz pairs are exact.
    const exhausted = m === n - 1;
    if (!exhausted && !orthonormalise(next)) randomNext();
    if (!exhausted && (m < dim + 1 || (m % checkEvery !== 0 && m < maxBasis))) continue;
    rayleighRitz(m < maxBasis ? dim : keep);
    if (exhausted || ritz.residual <= tol || (m === maxBasis && restart >= maxRestarts)) break;
    if (m < maxBasis) continue;
    // Thick restart: V ← V·Y, W ← W·Y on the leading `keep` Ritz vectors, T ← diag(θ); `next` stays (⟂ V).
    restart++;
    const nv = new Float64Array(keep * n);
    const nw = new Float64Array(keep * n);
    for (let c = 0; c < keep; c++) for (let p = 0; p < m; p++) {
      axpy(ritz.y[c * m + p], row(V, p), nv.subarray(c * n, (c + 1) * n));
      axpy(ritz.y[c * m + p], row(W, p), nw.subarray(c * n, (c + 1) * n));
    }
    V.set(nv);
    W.set(nw);
    T.fill(0);
    for (let c = 0; c < keep; c++) T[c * maxBasis + c] = ritz.values[c];
    m = keep;
  }
  const coords = new Float64Array(n * dim);
  for (let c = 0; c < dim; c++) for (let p = 0; p < m; p++) {
    const yc = ritz.y[c * m + p];
    const vp = row(V, p);
    for (let i = 0; i < n; i++) coords[i * dim + c] += yc * vp[i];
  }
  return { coords, values: ritz.values.slice(0, dim), maxResidual: ritz.residual, products };
}

function lowerOf(t: Float64Array, stride: number, m: number): Float64Array {
  const out = new Float64Array(m * m);
  for (let p = 0; p < m; p++) for (let q = 0; q <= p; q++) out[p * m + q] = out[q * m + p] = t[p * stride + q];
  return out;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** y += α·x */
function axpy(alpha: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) y[i] += alpha * x[i];
}

function scale(a: Float64Array, s: number): void {
  for (let i = 0; i < a.length; i++) a[i] *= s;
}

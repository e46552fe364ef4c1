import type { Matrix } from './matrix.ts';
import { gemm } from './gemm.ts';
import { symmetricEigen, type SymmetricEigen } from './linalg.ts';
import { symmetricEigenDC } from './eigen-dc.ts';
import { Rng } from './rng.ts';

/**
 * The k largest eigenpairs of a dense symmetric float64 matrix by block Krylov iteration with full
 * reorthogonalisation and thick restarts (a block Lanczos/Davidson hybrid), every O(n²) step a matrix product
 * on onnxruntime's float64 GEMM:
 *
 *  - the basis V (stored as rows: Vᵀ, so that appending vectors is appending rows) grows by blocks
 *    Q_{j+1} = orth(A·Q_j ⟂ V), classical Gram–Schmidt applied twice ("twice is enough") as two products each;
 *  - Rayleigh–Ritz on T = Vᵀ·(A·V) (small, m×m) gives Ritz pairs (θ, x = V·y); A·x = (A·V)·y needs no product;
 *  - a pair is converged when ‖A·x − θ·x‖ ≤ tol·‖A‖ (‖A‖ estimated by the largest |θ|); this bounds the
 *    eigenvalue error by ‖r‖²/gap and the angle to the eigenvector by ‖r‖/gap (Davis–Kahan);
 *  - when the basis is full it restarts from the leading 2·b Ritz vectors, extended by their residuals.
 *
 * A block of b ≥ k + 8 vectors resolves eigenvalues repeated or clustered up to multiplicity b. When the
 * iteration does not converge within `maxCycles` restarts (a matrix with no gap at all near λ_k), or the matrix
 * is small next to the basis, the full divide-and-conquer decomposition (eigen-dc.ts) answers instead, so the
 * result always meets the tolerance. Same contract as `symmetricEigen`, restricted to the top k: eigenvalues
 * descending (algebraically largest first), row r of `vectors` the unit eigenvector of values[r].
 */
export interface TopEigenOptions {
  /** Relative residual tolerance ‖A·x − θ·x‖ / ‖A‖. Default 1e-12 (rounding in A·x is ~√n·2⁻⁵³·‖A‖). */
  tol?: number;
  /** Block size b. Default max(k + 8, 12). */
  blockSize?: number;
  /** Restarts before falling back to the full decomposition. Default 100. */
  maxCycles?: number;
  /** Seed of the random start block. Default 0. */
  seed?: number;
  /** Intra-op threads of the products. Default: all cores. */
  threads?: number;
}

export interface TopEigen extends SymmetricEigen {
  /** 'krylov', or 'full' where the full decomposition answered. */
  method: 'krylov' | 'full';
  /** Products of A with a block. */
  products: number;
  /** Largest relative residual ‖A·x − θ·x‖/‖A‖ of the returned pairs (0 for 'full'). */
  maxResidual: number;
}

/** Basis blocks per restart cycle beyond the kept Ritz vectors. */
const CYCLE_BLOCKS = 8;

export async function topEigenpairs(a: Matrix<Float64Array>, k: number, opts: TopEigenOptions = {}): Promise<TopEigen> {
  const n = a.rows;
  if (a.cols !== n) throw new Error(`topEigenpairs: matrix is ${a.rows}×${a.cols}, not square`);
  if (!Number.isInteger(k) || k < 1 || k > n) throw new Error(`topEigenpairs: k must be an integer in [1, ${n}], got ${k}`);
  for (let i = 0; i < a.data.length; i++) if (!Number.isFinite(a.data[i])) throw new Error('topEigenpairs: matrix has a non-finite entry');
  const b = opts.blockSize ?? Math.max(k + 8, 12);
  const keep = 2 * b;
  const maxBasis = keep + CYCLE_BLOCKS * b;
  const tol = opts.tol ?? 1e-12;
  const threads = opts.threads;
  if (n <= 2 * maxBasis) return full(a, k, threads);
  // Only the lower triangle is the contract (as symmetricEigen): products need the full symmetric matrix.
  const sym = symmetrised(a);
  const A: Matrix<Float64Array> = sym;
  const rng = new Rng(opts.seed ?? 0);
  let products = 0;
  // (A·Q)ᵀ = Qᵀ·A for symmetric A: blocks are kept as rows.
  const times = async (qt: Float64Array, rows: number): Promise<Float64Array> => {
    products++;
    return (await gemm({ rows, cols: n, data: qt }, A, { threads })).data;
  };

  const vt = new Float64Array(maxBasis * n);
  const wt = new Float64Array(maxBasis * n);
  let m = 0;
  let next: Float64Array = new Float64Array(b * n);
  for (let i = 0; i < next.length; i++) next[i] = rng.normal();
  let nextRows = b;

  // Rayleigh–Ritz in span(V): the leading `count` Ritz pairs, their images, and the residual norms of the first b.
  const ritz = async (count: number) => {
    const V = { rows: m, cols: n, data: vt.subarray(0, m * n) };
    const W = { rows: m, cols: n, data: wt.subarray(0, m * n) };
    const t = (await gemm(V, W, { transposeB: true, threads })).data;
    for (let i = 0; i < m; i++) for (let j = 0; j < i; j++) t[i * m + j] = t[j * m + i] = 0.5 * (t[i * m + j] + t[j * m + i]);
    const small = symmetricEigen({ rows: m, cols: m, data: t });
    const c = Math.min(count, m);
    const yt = { rows: c, cols: m, data: small.vectors.data.slice(0, c * m) };
    const xt = (await gemm(yt, V, { threads })).data;
    const axt = (await gemm(yt, W, { threads })).data;
    let anorm = 0;
    for (const v of small.values) anorm = Math.max(anorm, Math.abs(v));
    const rows = Math.min(b, c);
    const resid = new Float64Array(rows * n);
    let worst = 0;
    for (let r = 0; r < rows; r++) {
      const th = small.values[r];
      let s2 = 0;
      for (let i = 0; i < n; i++) {
        const v = axt[r * n + i] - th * xt[r * n + i];
        resid[r * n + i] = v;
        s2 += v * v;
      }
      if (r < k) worst = Math.max(worst, Math.sqrt(s2));
    }
    const rel = anorm > 0 ? worst / anorm : 0;
    const done = rel <= tol ? { values: small.values.slice(0, k), vectors: { rows: k, cols: n, data: xt.slice(0, k * n) }, method: 'krylov' as const, products, maxResidual: rel } : null;
    return { xt, axt, resid, done, c };
  };

  for (let cycle = 0; cycle < (opts.maxCycles ?? 100); cycle++) {
    let added = 0;
    while (m + nextRows <= maxBasis) {
      const q = await orthogonalBlock(vt.subarray(0, m * n), m, next, nextRows, n, rng, threads);
      vt.set(q, m * n);
      const w = await times(q, nextRows);
      wt.set(w, m * n);
      m += nextRows;
      next = w;
      // An early look every 3 blocks (cheap next to the products): low-rank or well-separated spectra stop here.
      if (++added % 3 === 0 && m + nextRows <= maxBasis) {
        const early = await ritz(k);
        if (early.done) return early.done;
      }
    }
    const r = await ritz(keep);
    if (r.done) return r.done;
    // Thick restart: the leading Ritz vectors (orthonormal to rounding) and their images, then their residuals.
    vt.set(r.xt, 0);
    wt.set(r.axt, 0);
    m = r.c;
    next = r.resid;
    nextRows = b;
  }
  return full(a, k, threads);
}

async function full(a: Matrix<Float64Array>, k: number, threads?: number): Promise<TopEigen> {
  const r = await symmetricEigenDC(a, { vectors: k, threads: threads ?? 1 });
  return { values: r.values.slice(0, k), vectors: { rows: k, cols: a.cols, data: r.vectors.data.slice(0, k * a.cols) }, method: 'full', products: 0, maxResidual: 0 };
}

/** A copy with the lower triangle mirrored onto the upper one, in cache-sized tiles (a plain transpose walk strides). */
function symmetrised(a: Matrix<Float64Array>): Matrix<Float64Array> {
  const n = a.rows;
  const s = Float64Array.from(a.data);
  const T = 64;
  for (let i0 = 0; i0 < n; i0 += T) {
    for (let j0 = 0; j0 <= i0; j0 += T) {
      const iEnd = Math.min(n, i0 + T);
      for (let i = i0; i < iEnd; i++) {
        const jEnd = Math.min(i, j0 + T);
        for (let j = j0; j < jEnd; j++) s[j * n + i] = s[i * n + j];
      }
    }
  }
  return { rows: n, cols: n, data: s };
}

/**
 * The rows of `q` (rows×n) made orthonormal and orthogonal to the m orthonormal rows of `vt`: block classical
 * Gram–Schmidt twice against V (products), then modified Gram–Schmidt twice within the block. A row that
 * vanishes (the Krylov space is exhausted: A has low rank, or an invariant subspace was found) is replaced by a
 * random direction and orthogonalised again.
 */
async function orthogonalBlock(vt: Float64Array, m: number, q0: Float64Array, rows: number, n: number, rng: Rng, threads?: number): Promise<Float64Array> {
  const q = Float64Array.from(q0.subarray(0, rows * n));
  const norms0 = new Float64Array(rows);
  const project = async (x: Float64Array, count: number) => {
    if (m === 0) return;
    const V = { rows: m, cols: n, data: vt };
    for (let pass = 0; pass < 2; pass++) {
      const c = await gemm({ rows: count, cols: n, data: x }, V, { transposeB: true, threads }); // count×m = Q·Vᵀ
      const p = (await gemm(c, V, { threads })).data; // count×n
      for (let i = 0; i < count * n; i++) x[i] -= p[i];
    }
  };
  // Two rounds of (project against V, orthonormalise within the block): a direction that lost many digits to
  // the projection (an exhausted Krylov space) is only orthogonal to ~eps/remaining after one round.
  for (let round = 0; round < 2; round++) {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += q[r * n + i] ** 2;
    norms0[r] = Math.sqrt(s);
  }
  await project(q, rows);
  for (let r = 0; r < rows; r++) {
    for (let attempt = 0; ; attempt++) {
      const o = r * n;
      for (let pass = 0; pass < 2; pass++) {
        for (let c = 0; c < r; c++) {
          const oc = c * n;
          let dot = 0;
          for (let i = 0; i < n; i++) dot += q[oc + i] * q[o + i];
          for (let i = 0; i < n; i++) q[o + i] -= dot * q[oc + i];
        }
      }
      let s = 0;
      for (let i = 0; i < n; i++) s += q[o + i] ** 2;
      const norm = Math.sqrt(s);
      // Replaced by a random direction when less than 1e-6 of it is new (its orthogonality would be ~eps·1e6).
      if (norm > 1e-6 * Math.max(norms0[r], 1e-300) && norm > 0) {
        const inv = 1 / norm;
        for (let i = 0; i < n; i++) q[o + i] *= inv;
        break;
      }
      if (attempt > 5) throw new Error('topEigenpairs: could not extend the Krylov basis');
      const fresh = new Float64Array(n);
      for (let i = 0; i < n; i++) fresh[i] = rng.normal();
      await project(fresh, 1);
      q.set(fresh, o);
      let f = 0;
      for (let i = 0; i < n; i++) f += fresh[i] ** 2;
      norms0[r] = Math.sqrt(f);
    }
  }
  }
  return q;
}

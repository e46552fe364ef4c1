import type { Matrix } from './matrix.ts';
import { gemm } from './gemm.ts';
import { symmetricEigen, tql2, type SymmetricEigen } from './linalg.ts';
import { topTridiagonalEigen } from './tridiagonal-top.ts';

/**
 * Fast dense symmetric eigen-decomposition (the LAPACK dsyevd route), same contract as `symmetricEigen`
 * (eigenvalues descending, row r = unit eigenvector r; only the lower triangle is read):
 *
 *  1. Blocked Householder tridiagonalisation (dsytrd/dlatrd): the matrix–vector products of each panel run in
 *     JavaScript, the rank-2b trailing updates are one matrix product per panel.
 *  2. Cuppen's divide and conquer on the tridiagonal (dstedc/dlaed*): rank-one tearing, deflation of small
 *     coupling components and of close poles, the secular equation solved per root by safeguarded Newton
 *     relative to the nearest pole, and Gu–Eisenstat recomputation of the coupling vector so the eigenvectors
 *     come out orthogonal to working precision. Merging multiplies by the sub-problems' eigenvectors.
 *  3. Back-transformation by the Householder reflectors in compact-WY blocks (dormtr): matrix products.
 *
 * The O(n³) work is almost all matrix products; `symmetricEigenDC` runs them through onnxruntime's float64
 * GEMM (gemm.ts), `symmetricEigenDCSync` through a plain JavaScript kernel. The algorithm is written once as
 * a generator that yields the products it needs. Eigenvalues agree with `symmetricEigen` (tql2) to rounding;
 * eigenvectors agree up to sign (and, for repeated eigenvalues, up to a rotation within the eigenspace).
 * Below `SMALL` rows the QL solver is used directly.
 */

const SMALL = 64;
/** Sub-problems at most this size are solved by QL with accumulated rotations. */
const LEAF = 32;
/** Reflectors per panel / per back-transformation block. */
const PANEL = 32;
const EPS = 2 ** -52;

/** C (m×n) = A (m×k) · B (k×n), all row-major float64. */
interface Product {
  a: Float64Array; b: Float64Array; m: number; k: number; n: number;
  /** The result is read only until the next product: it may live in a buffer reused for every such product. */
  scratch?: boolean;
}
type Work<T> = Generator<Product, T, Float64Array>;

function* mul(a: Float64Array, b: Float64Array, m: number, k: number, n: number, scratch = false): Work<Float64Array> {
  return yield { a, b, m, k, n, scratch };
}

/** Row-major product in JavaScript (i-k-j order: contiguous inner loop, no bounds surprises). */
export function jsProduct({ a, b, m, k, n }: Product): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p];
      if (aip === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) c[ci + j] += aip * b[bp + j];
    }
  }
  return c;
}

function checkInput(a: Matrix<Float64Array>): void {
  if (a.cols !== a.rows) throw new Error(`symmetricEigen: matrix is ${a.rows}×${a.cols}, not square`);
  for (let i = 0; i < a.data.length; i++) if (!Number.isFinite(a.data[i])) throw new Error('symmetricEigen: matrix has a non-finite entry');
}

export interface EigenOptions {
  /**
   * Eigenvectors wanted: those of the `vectors` largest eigenvalues (all eigenvalues are always computed).
   * `vectors.rows` is then this count. Default: all n. Fewer saves most of the back-transformation.
   */
  vectors?: number;
  /**
   * Intra-op threads of the products. Default 1: the products are at most n×64×n and alternate with JavaScript
   * work, and a multi-threaded onnxruntime pool keeps its idle workers spinning after each product, taking the
   * core that work needs (measured: 768×768 with 50 vectors, 1.21 s with 2 threads vs 0.75 s with 1 on 2 cores).
   */
  threads?: number;
  /**
   * Only the `vectors` largest eigenpairs (values.length = vectors, e.g. for a top-k PCA that takes the rest
   * of the spectrum from the trace): the tridiagonal's are found by bisection and inverse iteration
   * (tridiagonal-top.ts) instead of divide and conquer's all-n eigenvectors. Default false.
   */
  topOnly?: boolean;
}

/** `symmetricEigen` with the O(n³) products on onnxruntime's float64 GEMM. */
export async function symmetricEigenDC(a: Matrix<Float64Array>, opts: EigenOptions = {}): Promise<SymmetricEigen> {
  checkInput(a);
  const count = vectorCount(a.rows, opts.vectors);
  if (a.rows <= SMALL) return topValues(firstVectors(symmetricEigen(a), count), opts.topOnly ? count : a.rows);
  const it = eigenWork(a, count, opts.topOnly ?? false);
  // One buffer for every scratch product (the n²-sized trailing updates): fresh arrays of that size per panel
  // cost more in garbage collection than the products themselves.
  let scratch = new Float64Array(0);
  let step = it.next();
  while (!step.done) {
    const p = step.value;
    if (p.scratch && scratch.length < p.m * p.n) scratch = new Float64Array(p.m * p.n);
    // Small products are cheaper in JavaScript than a session round trip.
    const out = p.m * p.k * p.n < 262144 ? jsProduct(p) : (await gemm({ rows: p.m, cols: p.k, data: p.a }, { rows: p.k, cols: p.n, data: p.b }, { threads: opts.threads ?? 1, out: p.scratch ? scratch : undefined })).data;
    step = it.next(out);
  }
  return step.value;
}

/** `symmetricEigen` by divide and conquer with JavaScript products (synchronous). */
export function symmetricEigenDCSync(a: Matrix<Float64Array>, opts: Omit<EigenOptions, 'threads'> = {}): SymmetricEigen {
  checkInput(a);
  const count = vectorCount(a.rows, opts.vectors);
  if (a.rows <= SMALL) return topValues(firstVectors(symmetricEigen(a), count), opts.topOnly ? count : a.rows);
  const it = eigenWork(a, count, opts.topOnly ?? false);
  let step = it.next();
  while (!step.done) step = it.next(jsProduct(step.value));
  return step.value;
}

function vectorCount(n: number, wanted: number | undefined): number {
  const count = wanted ?? n;
  if (!Number.isInteger(count) || count < 0 || count > n) throw new Error(`symmetricEigen: vectors must be an integer in [0, ${n}], got ${wanted}`);
  return count;
}

function topValues(r: SymmetricEigen, count: number): SymmetricEigen {
  return count === r.values.length ? r : { values: r.values.slice(0, count), vectors: r.vectors };
}

function firstVectors(r: SymmetricEigen, count: number): SymmetricEigen {
  const n = r.values.length;
  return count === n ? r : { values: r.values, vectors: { rows: count, cols: n, data: r.vectors.data.slice(0, count * n) } };
}

function* eigenWork(input: Matrix<Float64Array>, count: number, topOnly = false): Work<SymmetricEigen> {
  const n = input.rows;
  // Scale by a power of two (exact) so the entries are O(1): the secular equation and the products then
  // neither overflow nor underflow.
  const scaled = scaledSymmetricCopy(input.data, n);
  if (!scaled) return topValues(firstVectors(symmetricEigen(input), count), topOnly ? count : n);
  const { scale, A } = scaled;
  const d = new Float64Array(n);
  const e = new Float64Array(n - 1);
  const refl = new Float64Array(n * n); // row i: reflector v_i (v_i[i+1] = 1, zero before)
  const taus = new Float64Array(n);
  yield* tridiagonalize(A, n, d, e, refl, taus);
  if (topOnly) {
    const top = topTridiagonalEigen(d, e, n, count);
    const Zt = new Float64Array(n * count);
    for (let r = 0; r < count; r++) for (let i = 0; i < n; i++) Zt[i * count + r] = top.vectors[r * n + i];
    if (count > 0) yield* backTransform(Zt, n, count, refl, taus);
    const vectors = new Float64Array(count * n);
    for (let r = 0; r < count; r++) for (let i = 0; i < n; i++) vectors[r * n + i] = Zt[i * count + r];
    return { values: top.values.map((v) => v / scale), vectors: { rows: count, cols: n, data: vectors } };
  }
  const { lam, Q } = yield* tridiagonalEigen(d, e, n);
  // Q: column c = eigenvector of lam[c] (ascending). Keep the `count` largest, descending: Z column r = Q column n−1−r.
  const Z = new Float64Array(n * count);
  for (let i = 0; i < n; i++) for (let r = 0; r < count; r++) Z[i * count + r] = Q[i * n + n - 1 - r];
  if (count > 0) yield* backTransform(Z, n, count, refl, taus);
  const values = new Float64Array(n);
  for (let r = 0; r < n; r++) values[r] = lam[n - 1 - r] / scale;
  const vectors = new Float64Array(count * n);
  for (let r = 0; r < count; r++) for (let i = 0; i < n; i++) vectors[r * n + i] = Z[i * count + r];
  return { values, vectors: { rows: count, cols: n, data: vectors } };
}

/** The lower triangle times a power of two that makes max |A| ≈ 1, mirrored to full storage; null for A = 0. */
function scaledSymmetricCopy(data: Float64Array, n: number): { scale: number; A: Float64Array } | null {
  let maxAbs = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) maxAbs = Math.max(maxAbs, Math.abs(data[i * n + j]));
  if (maxAbs === 0) return null;
  const scale = 2 ** -Math.round(Math.log2(maxAbs));
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) {
    const v = data[i * n + j] * scale;
    A[i * n + j] = v;
    A[j * n + i] = v;
  }
  return { scale, A };
}

/**
 * A = H₀H₁…H_{n−2} · T · (…)ᵀ with H_i = I − τ_i v_i v_iᵀ (LAPACK dsytrd, lower). `A` is full symmetric storage
 * and is overwritten; d, e receive T's diagonal and off-diagonal (e[i] couples i and i+1).
 */
function* tridiagonalize(A: Float64Array, n: number, d: Float64Array, e: Float64Array, refl: Float64Array, taus: Float64Array): Work<void> {
  const ws: PanelWork = {
    col: new Float64Array(n),
    ww: new Float64Array(PANEL * n), // panel W vectors, row t = w_t (global row index)
    // The trailing update's factors, every entry rewritten per panel.
    left: new Float64Array(n * 2 * PANEL),
    right: new Float64Array(2 * PANEL * n),
    vtw: new Float64Array(PANEL),
    wtv: new Float64Array(PANEL),
  };
  // The generator only yields the products: every O(n²) loop is in a plain function, because V8 optimises a
  // generator's body only after several calls (no on-stack replacement), and this one runs once per
  // decomposition — its loops ran unoptimised on the first few calls (0.7 s instead of 0.3 s on 768×768).
  for (let p = 0; p < n - 1; p += PANEL) {
    const b = Math.min(PANEL, n - 1 - p);
    for (let j = 0; j < b; j++) panelColumn(A, n, p, j, d, e, refl, taus, ws);
    // Trailing update A[q][q'] −= Σ_t v_t[q] w_t[q'] + w_t[q] v_t[q'] for q, q' ≥ p + b: one product
    // [V W] (nt × 2b) · [W V]ᵀ (2b × nt).
    const q0 = p + b;
    const nt = n - q0;
    if (nt <= 0) continue;
    packTrailingFactors(n, p, b, refl, ws);
    const upd = yield* mul(ws.left.subarray(0, nt * 2 * b), ws.right.subarray(0, 2 * b * nt), nt, 2 * b, nt, true);
    subtractTrailing(A, n, q0, upd);
  }
  d[n - 1] = A[(n - 1) * n + n - 1];
}

interface PanelWork {
  col: Float64Array; ww: Float64Array; left: Float64Array; right: Float64Array; vtw: Float64Array; wtv: Float64Array;
}

/** Column i = p + j of the panel: its Householder reflector (refl row i, taus[i]), d[i], e[i] and the panel's w_j. */
function panelColumn(A: Float64Array, n: number, p: number, j: number, d: Float64Array, e: Float64Array, refl: Float64Array, taus: Float64Array, ws: PanelWork): void {
  const { col, ww, vtw, wtv } = ws;
  const i = p + j;
  // Column i of the panel-updated matrix (rows i..n−1): stale A minus the panel's pending rank-2j update.
  for (let r = i; r < n; r++) col[r] = A[i * n + r];
  // The panel loops below take the reflectors two at a time: each col / w access then serves four products.
  let t = 0;
  for (; t + 1 < j; t += 2) {
    const vo = (p + t) * n;
    const wo = t * n;
    const vo1 = vo + n;
    const wo1 = wo + n;
    const wi = ww[wo + i];
    const vi = refl[vo + i];
    const wi1 = ww[wo1 + i];
    const vi1 = refl[vo1 + i];
    for (let r = i; r < n; r++) col[r] -= refl[vo + r] * wi + ww[wo + r] * vi + refl[vo1 + r] * wi1 + ww[wo1 + r] * vi1;
  }
  if (t < j) {
    const vo = (p + t) * n;
    const wo = t * n;
    const wi = ww[wo + i];
    const vi = refl[vo + i];
    for (let r = i; r < n; r++) col[r] -= refl[vo + r] * wi + ww[wo + r] * vi;
  }
  d[i] = col[i];
  // Householder vector for col[i+1..n).
  const alpha = col[i + 1];
  let sigma = 0;
  for (let r = i + 2; r < n; r++) sigma += col[r] * col[r];
  const v = refl.subarray(i * n, i * n + n);
  v[i + 1] = 1;
  const w = ww.subarray(j * n, j * n + n);
  w.fill(0);
  if (sigma === 0) {
    taus[i] = 0;
    e[i] = alpha;
    return;
  }
  const norm = Math.sqrt(alpha * alpha + sigma);
  const beta = alpha > 0 ? -norm : norm;
  const tau = (beta - alpha) / beta;
  const inv = 1 / (alpha - beta);
  for (let r = i + 2; r < n; r++) v[r] = col[r] * inv;
  taus[i] = tau;
  e[i] = beta;
  // w = τ (A v − V (Wᵀ v) − W (Vᵀ v)) on rows i+1..n−1, A being the stale trailing matrix.
  symmetricMatVec(A, n, i + 1, v, w);
  for (t = 0; t + 1 < j; t += 2) {
    const vo = (p + t) * n;
    const wo = t * n;
    const vo1 = vo + n;
    const wo1 = wo + n;
    let a1 = 0;
    let a2 = 0;
    let b1 = 0;
    let b2 = 0;
    for (let r = i + 1; r < n; r++) {
      const vr = v[r];
      a1 += ww[wo + r] * vr;
      a2 += refl[vo + r] * vr;
      b1 += ww[wo1 + r] * vr;
      b2 += refl[vo1 + r] * vr;
    }
    vtw[t] = a1; // w_tᵀ v
    wtv[t] = a2; // v_tᵀ v
    vtw[t + 1] = b1;
    wtv[t + 1] = b2;
  }
  if (t < j) {
    const vo = (p + t) * n;
    const wo = t * n;
    let a1 = 0;
    let a2 = 0;
    for (let r = i + 1; r < n; r++) {
      a1 += ww[wo + r] * v[r];
      a2 += refl[vo + r] * v[r];
    }
    vtw[t] = a1;
    wtv[t] = a2;
  }
  for (t = 0; t + 1 < j; t += 2) {
    const vo = (p + t) * n;
    const wo = t * n;
    const vo1 = vo + n;
    const wo1 = wo + n;
    const c1 = vtw[t];
    const c2 = wtv[t];
    const d1 = vtw[t + 1];
    const d2 = wtv[t + 1];
    for (let r = i + 1; r < n; r++) w[r] -= refl[vo + r] * c1 + ww[wo + r] * c2 + refl[vo1 + r] * d1 + ww[wo1 + r] * d2;
  }
  if (t < j) {
    const vo = (p + t) * n;
    const wo = t * n;
    const c1 = vtw[t];
    const c2 = wtv[t];
    for (let r = i + 1; r < n; r++) w[r] -= refl[vo + r] * c1 + ww[wo + r] * c2;
  }
  let dot = 0;
  for (let r = i + 1; r < n; r++) {
    w[r] *= tau;
    dot += w[r] * v[r];
  }
  const half = -0.5 * tau * dot;
  for (let r = i + 1; r < n; r++) w[r] += half * v[r];
}

/** left = [V W] (nt × 2b), right = [W V]ᵀ (2b × nt) restricted to rows q0 = p + b .. n−1. */
function packTrailingFactors(n: number, p: number, b: number, refl: Float64Array, ws: PanelWork): void {
  const { ww, left, right } = ws;
  const q0 = p + b;
  const nt = n - q0;
  for (let t = 0; t < b; t++) {
    const vo = (p + t) * n + q0;
    const wo = t * n + q0;
    for (let r = 0; r < nt; r++) {
      left[r * 2 * b + t] = refl[vo + r];
      left[r * 2 * b + b + t] = ww[wo + r];
    }
    right.set(ww.subarray(wo, wo + nt), t * nt);
    right.set(refl.subarray(vo, vo + nt), (b + t) * nt);
  }
}

function subtractTrailing(A: Float64Array, n: number, q0: number, upd: Float64Array): void {
  const nt = n - q0;
  for (let r = 0; r < nt; r++) {
    const ar = (q0 + r) * n + q0;
    const ur = r * nt;
    for (let c = 0; c < nt; c++) A[ar + c] -= upd[ur + c];
  }
}

/**
 * w[r] = Σ_c A[r][c] v[c] for r, c in [from, n), reading only the lower triangle (LAPACK dsymv): each loaded
 * A[r][c] (c < r) feeds both w[r] += A[r][c]·v[c] and w[c] += A[r][c]·v[r], so the O(n²) loop run once per
 * column reads half the memory. Four rows at a time: each v[c] / w[c] access serves four matrix entries.
 */
function symmetricMatVec(A: Float64Array, n: number, from: number, v: Float64Array, w: Float64Array): void {
  for (let r = from; r < n; r++) w[r] = 0;
  // The (n − from) mod 4 leading rows one at a time, before the blocks: this branch then runs on the first
  // columns, before V8 optimises the function, instead of deoptimising it later for lack of type feedback.
  const lead = from + ((n - from) % 4);
  for (let r = from; r < lead; r++) {
    const ar = r * n;
    const vr = v[r];
    let s = 0;
    for (let c = from; c < r; c++) {
      const x = A[ar + c];
      s += x * v[c];
      w[c] += x * vr;
    }
    w[r] += s + A[ar + r] * vr;
  }
  for (let r = lead; r + 3 < n; r += 4) {
    const a0 = r * n;
    const a1 = a0 + n;
    const a2 = a1 + n;
    const a3 = a2 + n;
    const v0 = v[r];
    const v1 = v[r + 1];
    const v2 = v[r + 2];
    const v3 = v[r + 3];
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let c = from; c < r; c++) {
      const vc = v[c];
      const x0 = A[a0 + c];
      const x1 = A[a1 + c];
      const x2 = A[a2 + c];
      const x3 = A[a3 + c];
      s0 += x0 * vc;
      s1 += x1 * vc;
      s2 += x2 * vc;
      s3 += x3 * vc;
      w[c] += x0 * v0 + x1 * v1 + x2 * v2 + x3 * v3;
    }
    // The 4×4 diagonal block (lower part, mirrored).
    const x10 = A[a1 + r];
    const x20 = A[a2 + r];
    const x21 = A[a2 + r + 1];
    const x30 = A[a3 + r];
    const x31 = A[a3 + r + 1];
    const x32 = A[a3 + r + 2];
    w[r] += s0 + A[a0 + r] * v0 + x10 * v1 + x20 * v2 + x30 * v3;
    w[r + 1] += s1 + x10 * v0 + A[a1 + r + 1] * v1 + x21 * v2 + x31 * v3;
    w[r + 2] += s2 + x20 * v0 + x21 * v1 + A[a2 + r + 2] * v2 + x32 * v3;
    w[r + 3] += s3 + x30 * v0 + x31 * v1 + x32 * v2 + A[a3 + r + 3] * v3;
  }
}

/** Z ← H₀H₁…H_{n−2} Z (Z row-major n×width), blocks of reflectors applied as I − V T Vᵀ (LAPACK dlarft/dlarfb). */
function* backTransform(Z: Float64Array, n: number, width: number, refl: Float64Array, taus: Float64Array): Work<void> {
  const last = n - 2; // reflectors 0..n−2
  const starts: number[] = [];
  for (let i0 = 0; i0 <= last; i0 += PANEL) starts.push(i0);
  for (let s = starts.length - 1; s >= 0; s--) {
    const i0 = starts[s];
    const b = Math.min(PANEL, last + 1 - i0);
    const r0 = i0 + 1;
    const nr = n - r0;
    // Vt (b × nr): row t = v_{i0+t} restricted to rows r0..n−1.
    const vt = new Float64Array(b * nr);
    for (let t = 0; t < b; t++) vt.set(refl.subarray((i0 + t) * n + r0, (i0 + t) * n + n), t * nr);
    // T (b × b upper triangular): T[j][j] = τ_j, T[0:j, j] = −τ_j T[0:j, 0:j] (Vᵀ v_j)[0:j].
    const T = new Float64Array(b * b);
    const tmp = new Float64Array(b);
    for (let j = 0; j < b; j++) {
      const tau = taus[i0 + j];
      T[j * b + j] = tau;
      if (tau === 0) continue;
      for (let t = 0; t < j; t++) {
        let s2 = 0;
        for (let r = 0; r < nr; r++) s2 += vt[t * nr + r] * vt[j * nr + r];
        tmp[t] = s2;
      }
      for (let t = 0; t < j; t++) {
        let s2 = 0;
        for (let u = t; u < j; u++) s2 += T[t * b + u] * tmp[u];
        T[t * b + j] = -tau * s2;
      }
    }
    const zsub = Z.subarray(r0 * width, n * width);
    const p1 = yield* mul(vt, zsub, b, nr, width, true); // Vᵀ Z (read once, by T·p1)
    const p2 = jsProduct({ a: T, b: p1, m: b, k: b, n: width }); // T Vᵀ Z
    const v = new Float64Array(nr * b);
    for (let t = 0; t < b; t++) for (let r = 0; r < nr; r++) v[r * b + t] = vt[t * nr + r];
    const p3 = yield* mul(v, p2, nr, b, width, true);
    for (let i = 0; i < zsub.length; i++) zsub[i] -= p3[i];
  }
}

/** Eigenvalues ascending and eigenvectors (columns of row-major Q) of the symmetric tridiagonal (d, e). */
function* tridiagonalEigen(d: Float64Array, e: Float64Array, n: number): Work<{ lam: Float64Array; Q: Float64Array }> {
  if (n <= LEAF) return leafEigen(d, e, n);
  const m = n >> 1;
  // T = diag(T₁, T₂) + ρ u uᵀ with u = e_{m−1} + sgn·e_m, ρ = |β| ≥ 0.
  const beta = e[m - 1];
  const rho = Math.abs(beta);
  const sgn = beta < 0 ? -1 : 1;
  const d1 = d.slice(0, m);
  d1[m - 1] -= rho;
  const d2 = d.slice(m);
  d2[0] -= rho;
  const top = yield* tridiagonalEigen(d1, e.subarray(0, m - 1), m);
  const bottom = yield* tridiagonalEigen(d2, e.subarray(m), n - m);
  return yield* merge(top, bottom, m, n, rho, sgn);
}

function leafEigen(d: Float64Array, e: Float64Array, n: number): { lam: Float64Array; Q: Float64Array } {
  const w = new Float64Array(n * n);
  for (let i = 0; i < n; i++) w[i * n + i] = 1;
  const dd = Float64Array.from(d);
  const ee = new Float64Array(n);
  for (let i = 1; i < n; i++) ee[i] = e[i - 1]; // tql2 wants the coupling of (i−1, i) in e[i]
  tql2(n, w, dd, ee);
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => dd[x] - dd[y]);
  const lam = new Float64Array(n);
  const Q = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    const j = order[c];
    lam[c] = dd[j];
    for (let r = 0; r < n; r++) Q[r * n + c] = w[j * n + r]; // w row j = eigenvector j
  }
  return { lam, Q };
}

/** Eigen-decomposition of diag(D₁, D₂) + ρ z zᵀ in the basis diag(Q₁, Q₂) (LAPACK dlaed1/2/3/4). */
function* merge(top: { lam: Float64Array; Q: Float64Array }, bottom: { lam: Float64Array; Q: Float64Array }, m: number, n: number, rho0: number, sgn: number): Work<{ lam: Float64Array; Q: Float64Array }> {
  const n2 = n - m;
  const D = new Float64Array(n);
  const z = new Float64Array(n);
  // Column c's vector: c < m lives in rows 0..m−1 (Q₁), else rows m..n−1 (Q₂); rotations may mix them.
  const Qf = new Float64Array(n * n);
  const type = new Uint8Array(n); // bit 1: nonzero in the top rows, bit 2: in the bottom rows
  for (let c = 0; c < m; c++) {
    D[c] = top.lam[c];
    z[c] = top.Q[(m - 1) * m + c] * Math.SQRT1_2;
    type[c] = 1;
  }
  for (let c = 0; c < n2; c++) {
    D[m + c] = bottom.lam[c];
    z[m + c] = sgn * bottom.Q[c] * Math.SQRT1_2;
    type[m + c] = 2;
  }
  for (let r = 0; r < m; r++) Qf.set(top.Q.subarray(r * m, r * m + m), r * n);
  for (let r = 0; r < n2; r++) Qf.set(bottom.Q.subarray(r * n2, r * n2 + n2), (m + r) * n + m);
  const rho = 2 * rho0; // ‖z‖ = 1 now
  let maxD = 0;
  for (let c = 0; c < n; c++) maxD = Math.max(maxD, Math.abs(D[c]));
  const tol = 8 * EPS * Math.max(maxD, rho);
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => D[x] - D[y]);
  const kept: number[] = [];
  const deflated: number[] = [];
  for (const c of order) {
    if (rho * Math.abs(z[c]) <= tol) {
      deflated.push(c);
      continue;
    }
    if (kept.length > 0) {
      const p = kept[kept.length - 1];
      const tau = Math.hypot(z[p], z[c]);
      const cs = z[c] / tau;
      const sn = z[p] / tau;
      if (Math.abs(cs * sn * (D[c] - D[p])) <= tol) {
        // Rotate in the (p, c) plane so z_p = 0: p becomes an eigenpair, c carries the coupling.
        const dp = D[p];
        const dcv = D[c];
        D[p] = cs * cs * dp + sn * sn * dcv;
        D[c] = sn * sn * dp + cs * cs * dcv;
        z[p] = 0;
        z[c] = tau;
        for (let r = 0; r < n; r++) {
          const qp = Qf[r * n + p];
          const qc = Qf[r * n + c];
          Qf[r * n + p] = cs * qp - sn * qc;
          Qf[r * n + c] = sn * qp + cs * qc;
        }
        type[p] = type[c] = type[p] | type[c];
        kept.pop();
        deflated.push(p);
        kept.push(c);
        continue;
      }
    }
    kept.push(c);
  }
  const K = kept.length;
  const dk = new Float64Array(K);
  const zk = new Float64Array(K);
  for (let i = 0; i < K; i++) {
    dk[i] = D[kept[i]];
    zk[i] = z[kept[i]];
  }
  const { origin, tau } = solveSecular(dk, zk, rho);
  // Gu–Eisenstat: the ẑ for which the computed roots are exact; then eigenvectors ẑ_i / (d_i − λ_j).
  const diff = (j: number, i: number) => (dk[origin[j]] - dk[i]) + tau[j]; // λ_j − d_i
  const zh = new Float64Array(K);
  for (let i = 0; i < K; i++) {
    let prod = diff(K - 1, i) / rho;
    for (let j = 0; j < i; j++) prod *= diff(j, i) / (dk[j] - dk[i]);
    for (let j = i; j < K - 1; j++) prod *= diff(j, i) / (dk[j + 1] - dk[i]);
    zh[i] = Math.sign(zk[i]) * Math.sqrt(Math.max(prod, 0));
  }
  const U = new Float64Array(K * K); // U[i*K + j]: component i of eigenvector j
  for (let j = 0; j < K; j++) {
    let s = 0;
    for (let i = 0; i < K; i++) {
      const u = zh[i] / -diff(j, i);
      U[i * K + j] = u;
      s += u * u;
    }
    const inv = 1 / Math.sqrt(s);
    for (let i = 0; i < K; i++) U[i * K + j] *= inv;
  }
  // New vectors = Q_kept · U, split into top and bottom rows so each side only multiplies its nonzero columns.
  const part = function* (bit: number, r0: number, rows: number): Work<Float64Array> {
    const sel: number[] = [];
    for (let i = 0; i < K; i++) if (type[kept[i]] & bit) sel.push(i);
    const a = new Float64Array(rows * sel.length);
    const b = new Float64Array(sel.length * K);
    for (let s = 0; s < sel.length; s++) {
      const c = kept[sel[s]];
      for (let r = 0; r < rows; r++) a[r * sel.length + s] = Qf[(r0 + r) * n + c];
      b.set(U.subarray(sel[s] * K, sel[s] * K + K), s * K);
    }
    return sel.length === 0 ? new Float64Array(rows * K) : yield* mul(a, b, rows, sel.length, K);
  };
  const upper = yield* part(1, 0, m);
  const lower = yield* part(2, m, n2);
  // Assemble all n eigenpairs in ascending order.
  const lamAll = new Float64Array(n);
  const src = new Int32Array(n); // ≥ 0: kept root j; < 0: deflated column −1 − c
  for (let j = 0; j < K; j++) {
    lamAll[j] = dk[origin[j]] + tau[j];
    src[j] = j;
  }
  for (let t = 0; t < deflated.length; t++) {
    lamAll[K + t] = D[deflated[t]];
    src[K + t] = -1 - deflated[t];
  }
  const idx = Array.from({ length: n }, (_, i) => i).sort((x, y) => lamAll[x] - lamAll[y]);
  const lam = new Float64Array(n);
  const Q = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    const s = idx[c];
    lam[c] = lamAll[s];
    const j = src[s];
    if (j >= 0) {
      for (let r = 0; r < m; r++) Q[r * n + c] = upper[r * K + j];
      for (let r = 0; r < n2; r++) Q[(m + r) * n + c] = lower[r * K + j];
    } else {
      const col = -1 - j;
      for (let r = 0; r < n; r++) Q[r * n + c] = Qf[r * n + col];
    }
  }
  return { lam, Q };
}

/**
 * Roots of 1 + ρ Σ z_j² / (d_j − λ) = 0 for strictly increasing d and nonzero z (ρ > 0): root j lies in
 * (d_j, d_{j+1}), the last in (d_K, d_K + ρ‖z‖²). Each is returned as λ_j = d[origin_j] + τ_j relative to its
 * nearest pole, so the differences λ_j − d_i keep full relative accuracy.
 */
export function solveSecular(d: Float64Array, z: Float64Array, rho: number): { origin: Int32Array; tau: Float64Array } {
  const K = d.length;
  const z2 = Float64Array.from(z, (v) => v * v);
  const delta = new Float64Array(K);
  const origin = new Int32Array(K);
  const tau = new Float64Array(K);
  let zz = 0;
  for (let i = 0; i < K; i++) zz += z2[i];
  for (let i = 0; i < K; i++) {
    let o: number;
    let lo: number;
    let hi: number;
    if (i < K - 1) {
      const half = (d[i + 1] - d[i]) / 2;
      let f = 1;
      for (let j = 0; j < K; j++) f += rho * z2[j] / ((d[j] - d[i]) - half);
      if (f >= 0) {
        o = i;
        lo = 0;
        hi = half;
      } else {
        o = i + 1;
        lo = -half;
        hi = 0;
      }
    } else {
      o = K - 1;
      lo = 0;
      hi = rho * zz;
    }
    for (let j = 0; j < K; j++) delta[j] = d[j] - d[o];
    // f increases on (lo, hi) from −∞ (or < 0) to > 0: Newton steps kept inside the bracket, bisection otherwise.
    let t = (lo + hi) / 2;
    for (let iter = 0; iter < 400; iter++) {
      let f = 1;
      let df = 0;
      for (let j = 0; j < K; j++) {
        const q = 1 / (delta[j] - t);
        const w = rho * z2[j] * q;
        f += w;
        df += w * q;
      }
      if (f === 0) break;
      if (f < 0) lo = t;
      else hi = t;
      let next = t - f / df;
      if (!(next > lo && next < hi) || iter > 100) next = lo + (hi - lo) / 2;
      if (next === t || !(next > lo && next < hi)) break;
      const step = Math.abs(next - t);
      t = next;
      if (step <= 2 * EPS * Math.abs(t)) break;
    }
    origin[i] = o;
    tau[i] = t;
  }
  return { origin, tau };
}

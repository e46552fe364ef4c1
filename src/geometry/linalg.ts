import { transpose, type Matrix } from './matrix.ts';

/**
 * Dense float64 linear algebra that onnxruntime does not offer: the symmetric eigensolver behind PCA
 * (covariance / Gram matrices), classical MDS and spectral initialisations; a one-sided Jacobi SVD for the small
 * matrices of randomized SVD and Procrustes; and the QR / LU normalisations of randomized range finding.
 * Large products go through gemm.ts; what is here is O(n³) on matrices of at most a few thousand rows.
 */

export interface SymmetricEigen {
  /** Eigenvalues in descending order. */
  values: Float64Array;
  /** Row i is the unit eigenvector of values[i] (n×n, row-major). */
  vectors: Matrix<Float64Array>;
}

/**
 * Eigen-decomposition of a real symmetric matrix: Householder reduction to tridiagonal form, then the implicit
 * QL algorithm with Wilkinson-like shifts (EISPACK tred2/tql2, as in JAMA). Only the lower triangle is read. The
 * orthogonal factor is kept transposed (w[j*n+k] = V[k][j]) so every inner loop walks memory contiguously.
 */
export function symmetricEigen(a: Matrix<Float64Array>): SymmetricEigen {
  const n = a.rows;
  if (a.cols !== n) throw new Error(`symmetricEigen: matrix is ${a.rows}×${a.cols}, not square`);
  for (let i = 0; i < a.data.length; i++) if (!Number.isFinite(a.data[i])) throw new Error('symmetricEigen: matrix has a non-finite entry');
  const w = new Float64Array(n * n); // w[j*n + k] = V[k][j]
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) {
    const v = a.data[i * n + j];
    w[j * n + i] = v;
    w[i * n + j] = v;
  }
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { values: d, vectors: { rows: 0, cols: 0, data: w } };
  tred2(n, w, d, e);
  tql2(n, w, d, e);
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[y] - d[x]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let r = 0; r < n; r++) {
    const j = order[r];
    values[r] = d[j];
    vectors.set(w.subarray(j * n, j * n + n), r * n);
  }
  return { values, vectors: { rows: n, cols: n, data: vectors } };
}

function tred2(n: number, w: Float64Array, d: Float64Array, e: Float64Array): void {
  // V[a][b] == w[b*n + a]
  for (let j = 0; j < n; j++) d[j] = w[j * n + n - 1];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = w[j * n + i - 1];
        w[j * n + i] = 0;
        w[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        w[i * n + j] = f; // V[j][i]
        const cj = j * n;
        g = e[j] + w[cj + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += w[cj + k] * d[k];
          e[k] += w[cj + k] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        const cj = j * n;
        for (let k = j; k <= i - 1; k++) w[cj + k] -= f * e[k] + g * d[k];
        d[j] = w[cj + i - 1];
        w[cj + i] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    w[i * n + n - 1] = w[i * n + i];
    w[i * n + i] = 1;
    const h = d[i + 1];
    const ci1 = (i + 1) * n;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = w[ci1 + k] / h;
      for (let j = 0; j <= i; j++) {
        const cj = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += w[ci1 + k] * w[cj + k];
        for (let k = 0; k <= i; k++) w[cj + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) w[ci1 + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = w[j * n + n - 1];
    w[j * n + n - 1] = 0;
  }
  w[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

export function tql2(n: number, w: Float64Array, d: Float64Array, e: Float64Array): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 200) throw new Error('symmetricEigen: QL iteration did not converge');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          const ci = i * n;
          const ci1 = ci + n;
          for (let k = 0; k < n; k++) {
            const hk = w[ci1 + k];
            const vk = w[ci + k];
            w[ci1 + k] = s * vk + c * hk;
            w[ci + k] = c * vk - s * hk;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}

export interface Svd {
  /** m×r left singular vectors (columns). */
  u: Matrix<Float64Array>;
  /** r singular values, descending. */
  s: Float64Array;
  /** r×n right singular vectors (rows). */
  vt: Matrix<Float64Array>;
}

/**
 * Thin SVD by one-sided (Hestenes) Jacobi rotations: accurate to working precision for every singular value,
 * including tiny ones (unlike eigh of AᵀA). Cost O(m·n²) per sweep, so meant for matrices with a small side
 * (the (k+p)×d sketch of randomized SVD, k×k Procrustes cross-products).
 */
export function svdJacobi(a: Matrix<Float64Array>): Svd {
  if (a.rows < a.cols) {
    const t = svdJacobi(transpose64(a));
    return { u: transpose64(t.vt), s: t.s, vt: transpose64(t.u) };
  }
  const m = a.rows;
  const n = a.cols;
  // cols[j*m + i] = A[i][j]: columns are contiguous; v[j*n + i] = V[i][j].
  const cols = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) cols[j * m + i] = a.data[i * n + j];
  const v = new Float64Array(n * n);
  for (let j = 0; j < n; j++) v[j * n + j] = 1;
  const eps = 2 ** -52;
  for (let sweep = 0; sweep < 100; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const op = p * m;
        const oq = q * m;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < m; i++) {
          const x = cols[op + i];
          const y = cols[oq + i];
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma === 0 || Math.abs(gamma) <= eps * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < m; i++) {
          const x = cols[op + i];
          const y = cols[oq + i];
          cols[op + i] = c * x - s * y;
          cols[oq + i] = s * x + c * y;
        }
        const vp = p * n;
        const vq = q * n;
        for (let i = 0; i < n; i++) {
          const x = v[vp + i];
          const y = v[vq + i];
          v[vp + i] = c * x - s * y;
          v[vq + i] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }
  const norms = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < m; i++) s += cols[j * m + i] ** 2;
    norms[j] = Math.sqrt(s);
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => norms[y] - norms[x]);
  const u = new Float64Array(m * n);
  const s = new Float64Array(n);
  const vt = new Float64Array(n * n);
  for (let r = 0; r < n; r++) {
    const j = order[r];
    s[r] = norms[j];
    const inv = norms[j] > 0 ? 1 / norms[j] : 0;
    for (let i = 0; i < m; i++) u[i * n + r] = cols[j * m + i] * inv;
    vt.set(v.subarray(j * n, j * n + n), r * n);
  }
  // A (numerically) zero singular value leaves a zero or noise column in U; replace it so U stays orthonormal.
  completeOrthonormalColumns(u, m, n, s, Math.max(m, n) * eps * (s[0] ?? 0));
  return { u: { rows: m, cols: n, data: u }, s, vt: { rows: n, cols: n, data: vt } };
}

function completeOrthonormalColumns(u: Float64Array, m: number, n: number, s: Float64Array, tol: number): void {
  for (let r = 0; r < n; r++) {
    if (s[r] > tol) continue;
    for (let i = 0; i < m; i++) u[i * n + r] = 0;
    for (let e = 0; e < m; e++) {
      const col = new Float64Array(m);
      col[e] = 1;
      for (let pass = 0; pass < 2; pass++) {
        for (let c = 0; c < n; c++) {
          if (c === r) continue;
          let dot = 0;
          for (let i = 0; i < m; i++) dot += u[i * n + c] * col[i];
          for (let i = 0; i < m; i++) col[i] -= dot * u[i * n + c];
        }
      }
      let norm = 0;
      for (let i = 0; i < m; i++) norm += col[i] * col[i];
      norm = Math.sqrt(norm);
      if (norm > 1e-6) {
        for (let i = 0; i < m; i++) u[i * n + r] = col[i] / norm;
        break;
      }
    }
  }
}

export function transpose64(m: Matrix<Float64Array>): Matrix<Float64Array> {
  return transpose(m);
}

/**
 * Orthonormal basis of the column space of an m×k matrix (m ≥ k): the Q of a thin QR, by modified Gram–Schmidt
 * applied twice ("twice is enough") for orthogonality to working precision.
 */
export function orthonormalColumns(a: Matrix<Float64Array>): Matrix<Float64Array> {
  const { rows: m, cols: k } = a;
  const q = new Float64Array(m * k); // q[j*m + i]: column-contiguous
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) q[j * m + i] = a.data[i * k + j];
  for (let j = 0; j < k; j++) {
    const oj = j * m;
    for (let pass = 0; pass < 2; pass++) {
      for (let c = 0; c < j; c++) {
        const oc = c * m;
        let dot = 0;
        for (let i = 0; i < m; i++) dot += q[oc + i] * q[oj + i];
        for (let i = 0; i < m; i++) q[oj + i] -= dot * q[oc + i];
      }
    }
    let norm = 0;
    for (let i = 0; i < m; i++) norm += q[oj + i] * q[oj + i];
    norm = Math.sqrt(norm);
    const inv = norm > 0 ? 1 / norm : 0;
    for (let i = 0; i < m; i++) q[oj + i] *= inv;
  }
  const out = new Float64Array(m * k);
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) out[i * k + j] = q[j * m + i];
  return { rows: m, cols: k, data: out };
}

/** Columns per panel of the blocked LU (two passes of the four-column kernel per trailing column). */
const LU_PANEL = 8;

/**
 * P·L of an LU factorisation with partial pivoting of an m×k matrix (m ≥ k), as scipy.linalg.lu(permute_l=True)
 * returns it: scikit-learn's 'LU' normaliser for power iterations (cheaper than QR, keeps the columns apart).
 * Blocked right-looking elimination on a column-major copy with explicit row swaps: a panel of LU_PANEL
 * columns is factored, then every later column receives the panel's updates in one pass over its rows (the
 * unblocked form streams the whole 10,000×60 matrix through memory once per column). The updates of each entry
 * are applied in the same order as unblocked elimination, so the result is bitwise the same. Pivot ties go to
 * the lowest original row, as a scan of the rows in their original order would pick.
 */
export function luPermutedL(a: Matrix<Float64Array>): Matrix<Float64Array> {
  const { rows: m, cols: k, data } = a;
  const w = new Float64Array(m * k); // w[c*m + r]: column-contiguous
  for (let r = 0; r < m; r++) for (let c = 0; c < k; c++) w[c * m + r] = data[r * k + c];
  const origin = new Int32Array(m); // original index of the row now at position r
  for (let r = 0; r < m; r++) origin[r] = r;
  const steps = Math.min(k, m);
  const zeroPivot = new Uint8Array(steps);
  const u = new Float64Array(LU_PANEL);
  for (let j0 = 0; j0 < steps; j0 += LU_PANEL) {
    const j1 = Math.min(j0 + LU_PANEL, steps);
    for (let j = j0; j < j1; j++) {
      const cj = j * m;
      let p = j;
      let best = -1;
      for (let r = j; r < m; r++) {
        const v = Math.abs(w[cj + r]);
        if (v > best || (v === best && origin[r] < origin[p])) {
          best = v;
          p = r;
        }
      }
      if (p !== j) {
        for (let c = 0; c < k; c++) {
          const t = w[c * m + j];
          w[c * m + j] = w[c * m + p];
          w[c * m + p] = t;
        }
        const t = origin[j];
        origin[j] = origin[p];
        origin[p] = t;
      }
      const pivot = w[cj + j];
      if (pivot === 0) {
        zeroPivot[j] = 1; // the whole remaining column is zero: its multipliers stay zero, nothing to update
        continue;
      }
      for (let r = j + 1; r < m; r++) w[cj + r] /= pivot;
      for (let c = j + 1; c < j1; c++) {
        const cc = c * m;
        const f = w[cc + j];
        if (f === 0) continue;
        for (let r = j + 1; r < m; r++) w[cc + r] -= w[cj + r] * f;
      }
    }
    for (let c = j1; c < k; c++) {
      const cc = c * m;
      // Rows inside the panel: forward substitution with the panel's unit lower triangle.
      for (let j = j0; j < j1; j++) {
        const f = zeroPivot[j] ? 0 : w[cc + j];
        u[j - j0] = f;
        if (f === 0) continue;
        const cj = j * m;
        for (let i = j + 1; i < j1; i++) w[cc + i] -= w[cj + i] * f;
      }
      // Rows below: all of the panel's updates in one pass, four at a time, in elimination order.
      let j = j0;
      for (; j + 4 <= j1; j += 4) {
        const u0 = u[j - j0];
        const u1 = u[j - j0 + 1];
        const u2 = u[j - j0 + 2];
        const u3 = u[j - j0 + 3];
        const c0 = j * m;
        const c1 = c0 + m;
        const c2 = c1 + m;
        const c3 = c2 + m;
        for (let r = j1; r < m; r++) w[cc + r] = w[cc + r] - w[c0 + r] * u0 - w[c1 + r] * u1 - w[c2 + r] * u2 - w[c3 + r] * u3;
      }
      for (; j < j1; j++) {
        const f = u[j - j0];
        if (f === 0) continue;
        const cj = j * m;
        for (let r = j1; r < m; r++) w[cc + r] -= w[cj + r] * f;
      }
    }
  }
  const l = new Float64Array(m * k);
  for (let r = 0; r < m; r++) {
    const row = origin[r] * k;
    const last = Math.min(r, steps);
    for (let c = 0; c < last; c++) l[row + c] = w[c * m + r] || 0;
    if (r < steps) l[row + r] = 1;
  }
  return { rows: m, cols: k, data: l };
}

/**
 * Thin SVD of a short, wide matrix B (k×m, k ≤ m), as LAPACK's gesdd would give it: Householder QR of Bᵀ = Q·R,
 * then one-sided Jacobi on the k×k factor Rᵀ = U·S·Wᵀ, so B = U·S·(Q·W)ᵀ. Jacobi works on k-long columns
 * instead of m-long ones (the randomized solver's 60×768 sketch: ~50× less work than Jacobi on B itself) and
 * keeps Jacobi's relative accuracy for small singular values.
 */
export function svdWide(b: Matrix<Float64Array>): Svd {
  const k = b.rows;
  const m = b.cols;
  if (k > m || k <= 2) return svdJacobi(b);
  // Column c of Bᵀ is row c of B, so B's row-major data is Bᵀ column-major.
  const a = b.data.slice();
  const tau = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    const cj = j * m;
    let sigma = 0;
    for (let i = j + 1; i < m; i++) sigma += a[cj + i] * a[cj + i];
    const alpha = a[cj + j];
    if (sigma === 0) continue; // already triangular in this column: H = I
    const norm = Math.sqrt(alpha * alpha + sigma);
    const beta = alpha >= 0 ? -norm : norm;
    tau[j] = (beta - alpha) / beta;
    const scale = 1 / (alpha - beta);
    for (let i = j + 1; i < m; i++) a[cj + i] *= scale;
    a[cj + j] = beta;
    for (let c = j + 1; c < k; c++) {
      const cc = c * m;
      let dot = a[cc + j];
      for (let i = j + 1; i < m; i++) dot += a[cj + i] * a[cc + i];
      dot *= tau[j];
      a[cc + j] -= dot;
      for (let i = j + 1; i < m; i++) a[cc + i] -= dot * a[cj + i];
    }
  }
  // Q (m×k, column-major) = H₀·H₁·…·H_{k−1}·[I; 0], applied from the last reflector back.
  const q = new Float64Array(m * k);
  for (let c = 0; c < k; c++) q[c * m + c] = 1;
  for (let j = k - 1; j >= 0; j--) {
    if (tau[j] === 0) continue;
    const cj = j * m;
    for (let c = j; c < k; c++) {
      const cc = c * m;
      let dot = q[cc + j];
      for (let i = j + 1; i < m; i++) dot += a[cj + i] * q[cc + i];
      dot *= tau[j];
      q[cc + j] -= dot;
      for (let i = j + 1; i < m; i++) q[cc + i] -= dot * a[cj + i];
    }
  }
  const rT = new Float64Array(k * k); // Rᵀ, row-major: Rᵀ[c][i] = R[i][c] = a[c*m + i] for i ≤ c
  for (let c = 0; c < k; c++) for (let i = 0; i <= c; i++) rT[c * k + i] = a[c * m + i];
  const small = svdJacobi({ rows: k, cols: k, data: rT });
  // Vᵀ = Wᵀ·Qᵀ: row r is Σ_c Wᵀ[r][c]·(column c of Q).
  const vt = new Float64Array(k * m);
  for (let r = 0; r < k; r++) {
    const vr = r * m;
    for (let c = 0; c < k; c++) {
      const f = small.vt.data[r * k + c];
      if (f === 0) continue;
      const cc = c * m;
      for (let i = 0; i < m; i++) vt[vr + i] += f * q[cc + i];
    }
  }
  return { u: small.u, s: small.s, vt: { rows: k, cols: m, data: vt } };
}

/**
 * Inverse of the upper Cholesky factor R of a symmetric positive definite k×k matrix G = RᵀR (row-major), or
 * null when G is not numerically positive definite or R's diagonal spans more than `minRatio` (the caller
 * then falls back to a method that does not square the condition number).
 */
export function choleskyUpperInverse(g: Matrix<Float64Array>, minRatio: number): Float64Array | null {
  const k = g.rows;
  const r = new Float64Array(k * k);
  let maxDiag = 0;
  let minDiag = Infinity;
  for (let j = 0; j < k; j++) {
    let s = g.data[j * k + j];
    for (let p = 0; p < j; p++) s -= r[p * k + j] * r[p * k + j];
    if (!(s > 0) || !Number.isFinite(s)) return null;
    const rjj = Math.sqrt(s);
    r[j * k + j] = rjj;
    maxDiag = Math.max(maxDiag, rjj);
    minDiag = Math.min(minDiag, rjj);
    for (let c = j + 1; c < k; c++) {
      let t = g.data[j * k + c];
      for (let p = 0; p < j; p++) t -= r[p * k + j] * r[p * k + c];
      r[j * k + c] = t / rjj;
    }
  }
  if (minDiag < minRatio * maxDiag) return null;
  // Back substitution for R⁻¹ (upper triangular), one column at a time.
  const inv = new Float64Array(k * k);
  for (let c = 0; c < k; c++) {
    for (let i = c; i >= 0; i--) {
      let s = i === c ? 1 : 0;
      for (let p = i + 1; p <= c; p++) s -= r[i * k + p] * inv[p * k + c];
      inv[i * k + c] = s / r[i * k + i];
    }
  }
  return inv;
}

/**
 * scikit-learn's svd_flip with u_based_decision=False (PCA and TruncatedSVD since 1.5): each component (row of
 * Vt) is signed so that its largest-magnitude entry is positive; U's matching column follows. Makes results
 * independent of the solver's arbitrary signs.
 */
export function svdFlipByComponents(u: Matrix<Float64Array> | null, vt: Matrix<Float64Array>): void {
  for (let r = 0; r < vt.rows; r++) {
    let idx = 0;
    let best = -1;
    for (let c = 0; c < vt.cols; c++) {
      const v = Math.abs(vt.data[r * vt.cols + c]);
      if (v > best) {
        best = v;
        idx = c;
      }
    }
    if (vt.data[r * vt.cols + idx] < 0) {
      for (let c = 0; c < vt.cols; c++) vt.data[r * vt.cols + c] = -vt.data[r * vt.cols + c];
      if (u) for (let i = 0; i < u.rows; i++) u.data[i * u.cols + r] = -u.data[i * u.cols + r];
    }
  }
}

/** Rejects non-finite values with the row at fault named (NaN/Inf would silently poison every product). */
export function firstNonFiniteRow(m: Matrix): number {
  const { cols, data } = m;
  // Fast screen: x·0 is NaN exactly when x is NaN or ±Infinity, so one NaN-propagating sum finds any.
  let probe = 0;
  for (let i = 0; i < data.length; i++) probe += data[i] * 0;
  if (probe === 0) return -1;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return Math.floor(i / cols);
  return -1;
}

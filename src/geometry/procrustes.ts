import { AtlasError } from '../errors.ts';
import type { Matrix } from './matrix.ts';
import { svdJacobi } from './linalg.ts';

export interface ProcrustesResult {
  /** Σ (Â − B̂R)² after both are centred and scaled to unit Frobenius norm (scipy.spatial.procrustes' disparity), in [0, 1]. */
  disparity: number;
  /** k×k orthogonal matrix (reflections allowed) with B̂R ≈ Â. */
  rotation: Matrix<Float64Array>;
  /** B̂·R·‖A_c‖ + mean(A): B mapped into A's frame and scale. */
  aligned: Matrix<Float64Array>;
}

/**
 * Orthogonal Procrustes analysis as scipy.spatial.procrustes: compares two configurations of the same points
 * up to translation, uniform scale, rotation and reflection. Embeddings of different width are zero-padded
 * to the wider one. Used to compare embeddings (MDS vs. ground truth, two seeds, two layers).
 */
export function procrustes(a: Matrix, b: Matrix): ProcrustesResult {
  if (a.rows !== b.rows) throw new AtlasError(`procrustes: the configurations have ${a.rows} and ${b.rows} points`, { field: 'b' });
  const n = a.rows;
  const k = Math.max(a.cols, b.cols);
  const prep = (m: Matrix) => {
    const out = new Float64Array(n * k);
    const mean = new Float64Array(k);
    for (let i = 0; i < n; i++) for (let j = 0; j < m.cols; j++) mean[j] += m.data[i * m.cols + j] / n;
    let norm = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < m.cols; j++) {
      const v = m.data[i * m.cols + j] - mean[j];
      out[i * k + j] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm);
    if (!(norm > 0)) throw new AtlasError('procrustes: a configuration has all points identical (zero spread)', { field: 'a' });
    for (let i = 0; i < out.length; i++) out[i] /= norm;
    return { data: out, mean, norm };
  };
  const A = prep(a);
  const B = prep(b);
  // M = B̂ᵀ Â; R = U Vᵀ from M = U S Vᵀ maximises trace(Rᵀ M).
  const m = new Float64Array(k * k);
  for (let i = 0; i < n; i++) for (let p = 0; p < k; p++) {
    const bp = B.data[i * k + p];
    if (bp === 0) continue;
    for (let q = 0; q < k; q++) m[p * k + q] += bp * A.data[i * k + q];
  }
  const { u, s, vt } = svdJacobi({ rows: k, cols: k, data: m });
  const r = new Float64Array(k * k);
  for (let p = 0; p < k; p++) for (let q = 0; q < k; q++) {
    let v = 0;
    for (let t = 0; t < k; t++) v += u.data[p * k + t] * vt.data[t * k + q];
    r[p * k + q] = v;
  }
  const trace = s.reduce((x, y) => x + y, 0);
  // Optimal scale of B̂R is trace(S); scipy reports 1 − trace(S)².
  const aligned = new Float64Array(n * k);
  let disparity = 0;
  for (let i = 0; i < n; i++) for (let q = 0; q < k; q++) {
    let v = 0;
    for (let p = 0; p < k; p++) v += B.data[i * k + p] * r[p * k + q];
    v *= trace;
    disparity += (A.data[i * k + q] - v) ** 2;
    aligned[i * k + q] = v * A.norm + (A.mean[q] ?? 0);
  }
  return { disparity, rotation: { rows: k, cols: k, data: r }, aligned: { rows: n, cols: k, data: aligned } };
}

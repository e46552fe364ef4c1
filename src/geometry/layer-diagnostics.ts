/**
 * Per-layer diagnostics of a representation X (N rows, d dimensions), the quantities interpretability papers
 * report beside intrinsic dimension:
 * - norm: mean and median row L2 norm (residual-stream growth with depth);
 * - anisotropy: the mean cosine similarity over distinct pairs (Ethayarajh 2019), exactly, in O(N·d):
 *   with unit rows u_i, Σ_{i≠j} u_i·u_j = ‖Σ u_i‖² − N;
 * - outlier dimensions: dimensions whose mean |x| exceeds the mean over dimensions by more than 3 standard
 *   deviations (Kovaleva et al. 2021's criterion), and the mean kurtosis of the rows' values across dimensions
 *   (Pearson kurtosis E[(x−μ)⁴]/σ⁴ per row; 3 for Gaussian rows, large when a few dimensions dominate);
 * - effective rank (Roy & Vetterli 2007): exp of the entropy of the normalised singular values of the
 *   column-centred X (1 … min(N, d)); singular values from the eigenvalues of the smaller Gram / covariance.
 */
import { AtlasError } from '../errors.ts';
import { gemm } from './gemm.ts';
import { symmetricEigenDC } from './eigen-dc.ts';
import type { Matrix } from './matrix.ts';

export interface LayerDiagnostics {
  meanNorm: number;
  medianNorm: number;
  anisotropy: number;
  /** Outlier dimensions (indices), by decreasing mean |x|. */
  outlierDims: number[];
  meanKurtosis: number;
  effectiveRank: number;
}

export async function layerDiagnostics(x: Matrix, opts: { threads?: number } = {}): Promise<LayerDiagnostics> {
  const n = x.rows, d = x.cols;
  if (n < 2) throw new AtlasError(`diagnostics need at least 2 rows, got ${n}`, { field: 'rows' });
  const norms = new Float64Array(n);
  const sumUnit = new Float64Array(d);
  const meanAbs = new Float64Array(d);
  const colMean = new Float64Array(d);
  let kurtSum = 0, kurtCount = 0, zeroRows = 0;
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let ss = 0, mu = 0;
    for (let j = 0; j < d; j++) {
      const v = x.data[o + j]!;
      ss += v * v;
      mu += v;
      meanAbs[j]! += Math.abs(v);
      colMean[j]! += v;
    }
    const nr = Math.sqrt(ss);
    norms[i] = nr;
    if (nr > 0) for (let j = 0; j < d; j++) sumUnit[j]! += x.data[o + j]! / nr;
    else zeroRows++;
    mu /= d;
    let m2 = 0, m4 = 0;
    for (let j = 0; j < d; j++) {
      const c = x.data[o + j]! - mu;
      m2 += c * c;
      m4 += c * c * c * c;
    }
    m2 /= d; m4 /= d;
    if (m2 > 0) { kurtSum += m4 / (m2 * m2); kurtCount++; }
  }
  const unitRows = n - zeroRows;
  let su = 0;
  for (let j = 0; j < d; j++) su += sumUnit[j]! * sumUnit[j]!;
  const anisotropy = unitRows > 1 ? (su - unitRows) / (unitRows * (unitRows - 1)) : Number.NaN;

  for (let j = 0; j < d; j++) { meanAbs[j]! /= n; colMean[j]! /= n; }
  let ma = 0;
  for (let j = 0; j < d; j++) ma += meanAbs[j]!;
  ma /= d;
  let va = 0;
  for (let j = 0; j < d; j++) va += (meanAbs[j]! - ma) ** 2;
  const sa = Math.sqrt(va / d);
  const outlierDims = Array.from({ length: d }, (_, j) => j).filter((j) => sa > 0 && meanAbs[j]! > ma + 3 * sa).sort((a, b) => meanAbs[b]! - meanAbs[a]!);

  // Effective rank from the spectrum of the centred matrix: the smaller of XcᵀXc (d×d) and XcXcᵀ (N×N).
  const xc = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) xc[i * d + j] = x.data[i * d + j]! - colMean[j]!;
  const m = { rows: n, cols: d, data: xc };
  const gram = d <= n ? await gemm(m, m, { transposeA: true, threads: opts.threads }) : await gemm(m, m, { transposeB: true, threads: opts.threads });
  const eig = await symmetricEigenDC(gram, { vectors: 0 });
  const sv = Array.from(eig.values, (v) => Math.sqrt(Math.max(0, v)));
  const total = sv.reduce((a, b) => a + b, 0);
  let h = 0;
  if (total > 0) for (const s of sv) { const p = s / total; if (p > 0) h -= p * Math.log(p); }
  const sorted = Array.from(norms).sort((a, b) => a - b);
  const median = n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  return {
    meanNorm: norms.reduce((a, b) => a + b, 0) / n,
    medianNorm: median,
    anisotropy,
    outlierDims,
    meanKurtosis: kurtCount ? kurtSum / kurtCount : Number.NaN,
    effectiveRank: total > 0 ? Math.exp(h) : Number.NaN,
  };
}

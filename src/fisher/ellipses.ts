/**
 * Fisher metric ellipses in a 2-D embedding.
 *
 * An embedding y = φ(x) maps d dimensions to 2, so the metric cannot be pushed forward; instead it is PULLED
 * BACK along a section s: R² → R^d that says which latent displacement a 2-D displacement stands for:
 *     G2_i = S_iᵀ G_i S_i   (2 × 2),   ellipse_i = { y_i + u : uᵀ G2_i u = ρ² }
 * i.e. the set of 2-D moves whose latent counterpart has Fisher length ρ. When distances in the embedding
 * reproduce Fisher lengths, the ellipses are circles of radius ρ.
 * - Linear embeddings (PCA: y = P x with P 2 × d): S = Pᵀ (P Pᵀ)⁻¹, the minimum-norm section (for orthonormal
 *   rows S = Pᵀ). Pass `linearMap`.
 * - Non-linear embeddings (MDS of geodesics, t-SNE): S_i is the local least-squares linear map fitted on the k
 *   neighbours of i, Δx_j ≈ S_i Δy_j:  S_i = ΔXᵀ ΔY (ΔYᵀ ΔY)⁻¹. It is the best linear reading of the embedding
 *   around i; its quality degrades where the embedding tears neighbourhoods (low trustworthiness).
 * ρ default: half the median Fisher edge length, so neighbouring ellipses just touch where the map is faithful.
 */
import { AtlasError } from '../errors.ts';
import type { KnnResult } from '../geometry/knn.ts';
import type { Matrix } from '../geometry/matrix.ts';
import { metric2, type MetricStore } from './store.ts';

export interface MetricEllipse {
  cx: number;
  cy: number;
  /** Semi-axes (embedding units) and the angle of the rx axis (radians from +x). */
  rx: number;
  ry: number;
  angle: number;
  /** The pulled-back 2 × 2 metric [a, b, c] = [[a, b], [b, c]]. */
  metric: [number, number, number];
}

export interface EllipseOptions {
  /** Fisher radius ρ of the drawn level set. Required (see `defaultRadius`). */
  radius: number;
  /** 2 × d row-major linear map of the embedding (PCA components), when it is linear. */
  linearMap?: Float64Array;
  /** Neighbours for the local fit (non-linear embeddings). */
  neighbours?: KnnResult;
}

function inv2(a: number, b: number, c: number): [number, number, number] {
  const det = a * c - b * b;
  if (!(Math.abs(det) > 1e-300)) throw new AtlasError('the local 2-D displacements are degenerate (collinear neighbours)', { field: 'embedding', hint: 'use more neighbours (k) or check for duplicated points' });
  return [c / det, -b / det, a / det];
}

/** Eigen-decomposition of a symmetric 2 × 2 → ellipse of uᵀ M u = ρ². */
export function ellipseOf(cx: number, cy: number, m: [number, number, number], radius: number): MetricEllipse {
  const [a, b, c] = m;
  const tr = (a + c) / 2;
  const disc = Math.sqrt(((a - c) / 2) ** 2 + b * b);
  const l1 = tr - disc; // smaller eigenvalue → longer axis
  const l2 = tr + disc;
  const angle = Math.abs(b) > 1e-300 ? Math.atan2(l1 - a, b) : a <= c ? 0 : Math.PI / 2;
  const axis = (l: number) => (l > 0 ? radius / Math.sqrt(l) : Infinity);
  return { cx, cy, rx: axis(l1), ry: axis(l2), angle, metric: m };
}

export function metricEllipses(points: Matrix, embedding: Matrix, store: MetricStore, opts: EllipseOptions): MetricEllipse[] {
  const n = points.rows;
  const d = points.cols;
  if (embedding.rows !== n || embedding.cols !== 2) throw new AtlasError(`embedding is ${embedding.rows} × ${embedding.cols}, expected ${n} × 2`, { field: 'embedding' });
  if (!(opts.radius > 0)) throw new AtlasError(`ellipse radius must be > 0, got ${opts.radius}`, { field: 'radius' });
  const out: MetricEllipse[] = [];
  let global: [Float64Array, Float64Array] | null = null;
  if (opts.linearMap) {
    const P = opts.linearMap;
    if (P.length !== 2 * d) throw new AtlasError(`linear map has ${P.length} values, expected 2 × ${d}`, { field: 'linearMap' });
    let a = 0, b = 0, c = 0;
    for (let k = 0; k < d; k++) {
      a += P[k] * P[k];
      b += P[k] * P[d + k];
      c += P[d + k] * P[d + k];
    }
    const [ia, ib, ic] = inv2(a, b, c);
    const s1 = new Float64Array(d);
    const s2 = new Float64Array(d);
    for (let k = 0; k < d; k++) {
      s1[k] = P[k] * ia + P[d + k] * ib;
      s2[k] = P[k] * ib + P[d + k] * ic;
    }
    global = [s1, s2];
  } else if (!opts.neighbours) throw new AtlasError('metric ellipses of a non-linear embedding need neighbours (or pass the linear map)', { field: 'neighbours' });
  for (let i = 0; i < n; i++) {
    const cx = embedding.data[2 * i];
    const cy = embedding.data[2 * i + 1];
    let s1: Float64Array, s2: Float64Array;
    if (global) [s1, s2] = global;
    else {
      const nb = opts.neighbours!;
      let a = 0, b = 0, c = 0;
      const dys: [number, number][] = [];
      for (let t = 0; t < nb.k; t++) {
        const j = nb.indices[i * nb.k + t];
        const u = embedding.data[2 * j] - cx;
        const v = embedding.data[2 * j + 1] - cy;
        dys.push([u, v]);
        a += u * u;
        b += u * v;
        c += v * v;
      }
      const [ia, ib, ic] = inv2(a, b, c);
      s1 = new Float64Array(d);
      s2 = new Float64Array(d);
      for (let t = 0; t < nb.k; t++) {
        const j = nb.indices[i * nb.k + t];
        const [u, v] = dys[t];
        const w1 = u * ia + v * ib;
        const w2 = u * ib + v * ic;
        for (let k = 0; k < d; k++) {
          const dx = points.data[j * d + k] - points.data[i * d + k];
          s1[k] += dx * w1;
          s2[k] += dx * w2;
        }
      }
    }
    out.push(ellipseOf(cx, cy, metric2(store, i, s1, s2), opts.radius));
  }
  return out;
}

/** Half the median of the graph's edge lengths (see the module comment). */
export function defaultRadius(weights: Float64Array): number {
  if (weights.length === 0) return 1;
  const s = Float64Array.from(weights).sort();
  const med = s[s.length >> 1];
  return med > 0 ? med / 2 : 1;
}

/** Deterministic synthetic data for the intrinsic-dimension and overlap tests (not a test file itself). */
import type { Matrix } from '../src/geometry/matrix.ts';
import { mulberry32 } from '../src/util/random.ts';

export const rng = mulberry32;

/** Standard normal numbers (Box–Muller). */
export function gaussian(seed: number): () => number {
  const u = rng(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** A random D×d matrix with orthonormal columns (Gram–Schmidt on Gaussian columns). */
function orthonormal(D: number, d: number, seed: number): Float64Array {
  const g = gaussian(seed);
  const Q = new Float64Array(D * d);
  for (let c = 0; c < d; c++) {
    const v = Float64Array.from({ length: D }, g);
    for (let p = 0; p < c; p++) {
      let dot = 0;
      for (let r = 0; r < D; r++) dot += v[r] * Q[r * d + p];
      for (let r = 0; r < D; r++) v[r] -= dot * Q[r * d + p];
    }
    const norm = Math.hypot(...v);
    for (let r = 0; r < D; r++) Q[r * d + c] = v[r] / norm;
  }
  return Q;
}

/** Rotates n points of dimension d (rows of `pts`) into D dimensions. */
function embed(pts: Float64Array, n: number, d: number, D: number, seed: number): Matrix<Float64Array> {
  const Q = orthonormal(D, d, seed);
  const out = new Float64Array(n * D);
  for (let i = 0; i < n; i++) for (let r = 0; r < D; r++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += Q[r * d + c] * pts[i * d + c];
    out[i * D + r] = s;
  }
  return { rows: n, cols: D, data: out };
}

/** n points uniform in the unit d-cube, randomly rotated into D dimensions. */
export function uniformCube(n: number, d: number, D: number, seed: number): Matrix<Float64Array> {
  const u = rng(seed);
  return embed(Float64Array.from({ length: n * d }, u), n, d, D, seed + 1);
}

/** n points uniform on the unit d-sphere (in R^{d+1}), randomly rotated into D dimensions. */
export function uniformSphere(n: number, d: number, D: number, seed: number): Matrix<Float64Array> {
  const g = gaussian(seed);
  const pts = new Float64Array(n * (d + 1));
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c <= d; c++) { pts[i * (d + 1) + c] = g(); s += pts[i * (d + 1) + c] ** 2; }
    s = Math.sqrt(s);
    for (let c = 0; c <= d; c++) pts[i * (d + 1) + c] /= s;
  }
  return embed(pts, n, d + 1, D, seed + 1);
}

/** Gaussian clusters: `classes` centres at distance ~`separation` apart (random directions), unit spread. */
export function gaussianClusters(perClass: number, classes: number, d: number, separation: number, seed: number): { X: Matrix<Float64Array>; labels: Int32Array } {
  const g = gaussian(seed);
  const centres = Float64Array.from({ length: classes * d }, () => g() * separation / Math.sqrt(2 * d));
  const n = perClass * classes;
  const data = new Float64Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    labels[i] = c;
    for (let t = 0; t < d; t++) data[i * d + t] = centres[c * d + t] + g();
  }
  return { X: { rows: n, cols: d, data }, labels };
}

/**
 * n points uniform on the flat d-torus (one angle per intrinsic coordinate, each circle of radius 1 as
 * (cos φ, sin φ)), randomly rotated into D ≥ 2d dimensions: no boundary and constant density, so the
 * neighbour statistics are those of a homogeneous d-dimensional process up to the chord/arc distortion.
 */
export function uniformTorus(n: number, d: number, D: number, seed: number): Matrix<Float64Array> {
  const u = rng(seed);
  const pts = new Float64Array(n * 2 * d);
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) {
    const phi = 2 * Math.PI * u();
    pts[i * 2 * d + 2 * c] = Math.cos(phi);
    pts[i * 2 * d + 2 * c + 1] = Math.sin(phi);
  }
  return embed(pts, n, 2 * d, D, seed + 1);
}

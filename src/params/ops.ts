/**
 * The elementwise and row-wise pieces of a transformer block, each defined once with its value, its
 * forward-mode tangent and its reverse-mode adjoint. Both derivative engines are built from these: the
 * reverse-mode gradient engine (./backprop.ts, whole batches with a tape) and the forward-mode Jacobian of
 * one token's state (src/fisher/tail.ts, a value row plus tangent rows). The products with weight matrices
 * are not here: both engines run them through gemm (src/geometry/gemm.ts, batched-gemm.ts).
 *
 * Conventions: row-major [rows, d] arrays in the parameters' precision (Float32Array or Float64Array);
 * statistics in float64 scalars.
 */
import type { ActivationKind, NormSpec, RotarySpec } from '../model/spec.ts';

export type Arr = Float32Array | Float64Array;

export const alloc = (f64: boolean, n: number): Arr => (f64 ? new Float64Array(n) : new Float32Array(n));
export const allocLike = (like: Arr, n: number): Arr => (like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));
/** Where an operation's outputs come from when it writes every element: fresh arrays (allocLike) or a caller's pool. */
export type OutputAlloc = (like: Arr, n: number) => Arr;

// ---------------------------------------------------------------------------------------------------------
// Norms

/** What a norm's adjoint and tangent need: the normalised rows (before the weight) and 1/σ per row. */
export interface NormStats {
  xhat: Arr;
  rstd: Float64Array;
}

/**
 * y = xhat ⊙ (w + offset) + b per row, xhat = (x − mean)/√(var + eps) (LayerNorm) or x/√(mean(x²) + eps)
 * (RMSNorm). `b` only for LayerNorm with a bias.
 */
export function normForward(x: Arr, rows: number, d: number, n: NormSpec, w: Arr, b: Arr | null, out: OutputAlloc = allocLike): { y: Arr; stats: NormStats } {
  const y = out(x, rows * d);
  const xhat = out(x, rows * d);
  const rstd = new Float64Array(rows);
  const rms = n.kind === 'rmsnorm';
  const off = n.weightOffset;
  for (let i = 0; i < rows; i++) {
    const o = i * d;
    let mean = 0;
    if (!rms) {
      for (let j = 0; j < d; j++) mean += x[o + j];
      mean /= d;
    }
    let v = 0;
    for (let j = 0; j < d; j++) {
      const c = x[o + j] - mean;
      v += c * c;
    }
    const r = 1 / Math.sqrt(v / d + n.eps);
    rstd[i] = r;
    for (let j = 0; j < d; j++) {
      const h = (x[o + j] - mean) * r;
      xhat[o + j] = h;
      y[o + j] = h * (w[j] + off) + (b ? b[j] : 0);
    }
  }
  return { y, stats: { xhat, rstd } };
}

/**
 * Adjoint w.r.t. the input: dx = rstd · (g − mean(g) − xhat · mean(g ⊙ xhat)), g = dy ⊙ (w + offset); the
 * mean(g) term is absent for RMSNorm. (The weight's gradient Σ dy ⊙ xhat and the bias's Σ dy are reductions
 * the engine splits by sample.)
 */
export function normBackward(dy: Arr, stats: NormStats, d: number, n: NormSpec, w: Arr): Arr {
  const { xhat, rstd } = stats;
  const rows = rstd.length;
  const rms = n.kind === 'rmsnorm';
  const off = n.weightOffset;
  const dx = allocLike(dy, rows * d);
  for (let i = 0; i < rows; i++) {
    const o = i * d;
    let sg = 0;
    let sgx = 0;
    for (let j = 0; j < d; j++) {
      const g = dy[o + j] * (w[j] + off);
      sg += g;
      sgx += g * xhat[o + j];
    }
    const mg = rms ? 0 : sg / d;
    const mgx = sgx / d;
    const r = rstd[i];
    for (let j = 0; j < d; j++) dx[o + j] = r * (dy[o + j] * (w[j] + off) - mg - xhat[o + j] * mgx);
  }
  return dx;
}

/**
 * Tangent of the norm of row 0 along rows 1..R-1 of `x` (written into the same rows of `y`): the same linear
 * map as the adjoint, transposed — dy = (w + offset) ⊙ rstd · (dx − mean(dx) − xhat · mean(xhat ⊙ dx)).
 */
export function normTangent(x: Arr, R: number, d: number, n: NormSpec, w: Arr, stats: NormStats, y: Arr): void {
  const rms = n.kind === 'rmsnorm';
  const off = n.weightOffset;
  const r = stats.rstd[0];
  const xhat = stats.xhat;
  for (let row = 1; row < R; row++) {
    const o = row * d;
    let mt = 0;
    let s = 0;
    for (let j = 0; j < d; j++) {
      if (!rms) mt += x[o + j];
      s += xhat[j] * x[o + j];
    }
    mt = rms ? 0 : mt / d;
    s /= d;
    for (let j = 0; j < d; j++) y[o + j] = (w[j] + off) * r * (x[o + j] - mt - xhat[j] * s);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Activations

/** √(2/π), the tanh-GELU constant. */
const GELU_C = 0.7978845608028654;
const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 0.3989422804014327;

/** erf to ~1e-15: Taylor series for |x| < 3, Lentz continued fraction of erfc beyond. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    // erf x = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1))
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 100; n++) {
      term *= -x2 / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    return 1.1283791670955126 * sum;
  }
  // erfc x = exp(-x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …)))), continued fraction in modified Lentz form
  const tiny = 1e-300;
  let f = ax;
  let C = ax;
  let D = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    D = ax + an * D;
    D = D === 0 ? tiny : 1 / D;
    C = ax + an / C;
    if (C === 0) C = tiny;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / (f * 1.7724538509055159);
  return x > 0 ? 1 - erfc : erfc - 1;
}

/**
 * Fills y[i] = act(x[i]) and dy[i] = act'(x[i]) in one pass (the derivative is what both engines need next,
 * and for tanh-GELU / SiLU it costs no second exp). tanh(u) is taken as 1 − 2/(e^{2u} + 1): faster than
 * Math.tanh, absolute error ~1e-16, exact ±1 limits.
 */
export function activate(kind: ActivationKind, x: Arr, y: Arr, dy: Arr, n = x.length, start = 0): void {
  switch (kind) {
    case 'gelu_tanh':
      for (let i = start; i < start + n; i++) {
        const v = x[i];
        const t = 1 - 2 / (Math.exp(2 * GELU_C * (v + 0.044715 * v * v * v)) + 1);
        y[i] = 0.5 * v * (1 + t);
        dy[i] = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * v * v);
      }
      return;
    case 'gelu':
      for (let i = start; i < start + n; i++) {
        const v = x[i];
        const cdf = 0.5 * (1 + erf(v * INV_SQRT2));
        y[i] = v * cdf;
        dy[i] = cdf + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v);
      }
      return;
    case 'silu':
      for (let i = start; i < start + n; i++) {
        const v = x[i];
        const s = 1 / (1 + Math.exp(-v));
        y[i] = v * s;
        dy[i] = s * (1 + v * (1 - s));
      }
      return;
    case 'relu':
      for (let i = start; i < start + n; i++) {
        const v = x[i];
        y[i] = v > 0 ? v : 0;
        dy[i] = v > 0 ? 1 : 0;
      }
  }
}

/** Scalar act(x) (for callers outside the array loops). */
export function activationValue(kind: ActivationKind, x: number): number {
  const a = new Float64Array([x]);
  const y = new Float64Array(1);
  activate(kind, a, y, new Float64Array(1));
  return y[0];
}

// ---------------------------------------------------------------------------------------------------------
// Soft-capping (Gemma-2 attention scores and final logits)

/** x ← c·tanh(x/c) in place on [start, start + n); returns nothing, writes c'(x) = 1 − tanh² into `deriv` when given. */
export function softcapInPlace(x: Arr, cap: number, start: number, n: number, deriv?: Arr): void {
  for (let i = start; i < start + n; i++) {
    const t = Math.tanh(x[i] / cap);
    x[i] = cap * t;
    if (deriv) deriv[i] = 1 - t * t;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Rotary embeddings

/**
 * inv_freq[e] = base^(-2e/dims) for e < dims/2, adjusted by `rope_scaling` as Hugging Face's
 * ROPE_INIT_FUNCTIONS do ('linear': ÷factor; 'dynamic': the NTK base when `seqLen` exceeds the original
 * context; 'llama3': Llama-3.1's wavelength bands). `seqLen` = the largest position in the batch + 1.
 */
export function rotaryInvFreq(rot: RotarySpec, seqLen: number): Float64Array {
  const half = rot.dims / 2;
  const sc = rot.scaling;
  let base = rot.base;
  if (sc.type === 'dynamic' && seqLen > sc.originalMaxPositions) {
    base = base * ((sc.factor * seqLen) / sc.originalMaxPositions - (sc.factor - 1)) ** (rot.dims / (rot.dims - 2));
  }
  const inv = new Float64Array(half);
  for (let e = 0; e < half; e++) inv[e] = 1 / Math.pow(base, (2 * e) / rot.dims);
  if (sc.type === 'linear') for (let e = 0; e < half; e++) inv[e] /= sc.factor;
  if (sc.type === 'llama3') {
    const lowWavelen = sc.originalMaxPositions / sc.lowFreqFactor;
    const highWavelen = sc.originalMaxPositions / sc.highFreqFactor;
    for (let e = 0; e < half; e++) {
      const wavelen = (2 * Math.PI) / inv[e];
      if (wavelen > lowWavelen) inv[e] /= sc.factor;
      else if (wavelen >= highWavelen) {
        const smooth = (sc.originalMaxPositions / wavelen - sc.lowFreqFactor) / (sc.highFreqFactor - sc.lowFreqFactor);
        inv[e] = (1 - smooth) * (inv[e] / sc.factor) + smooth * inv[e];
      }
    }
  }
  return inv;
}

/** cos / sin of position × inv_freq for each position in `positions`: [positions.length, dims/2] each. */
export function rotaryTables(rot: RotarySpec, positions: ArrayLike<number>, seqLen: number): { cos: Float64Array; sin: Float64Array } {
  const inv = rotaryInvFreq(rot, seqLen);
  const half = inv.length;
  const cos = new Float64Array(positions.length * half);
  const sin = new Float64Array(positions.length * half);
  for (let n = 0; n < positions.length; n++) for (let e = 0; e < half; e++) {
    const a = positions[n] * inv[e];
    cos[n * half + e] = Math.cos(a);
    sin[n * half + e] = Math.sin(a);
  }
  return { cos, sin };
}

/**
 * Rotates one head vector at x[o..o+dims) in place by the angles of table row `row`: pairs (e, e + dims/2)
 * ('half', rotate_half) or (2e, 2e + 1) ('interleaved'); dimensions ≥ dims pass through. `sign` −1 applies
 * the inverse rotation, which is also the transpose (the adjoint); the map is linear, so tangents rotate too.
 */
export function rotateHead(x: Arr, o: number, rot: RotarySpec, cos: Float64Array, sin: Float64Array, row: number, sign: 1 | -1): void {
  const half = rot.dims / 2;
  const t = row * half;
  const inter = rot.style === 'interleaved';
  for (let e = 0; e < half; e++) {
    const c = cos[t + e];
    const s = sign * sin[t + e];
    const i1 = inter ? o + 2 * e : o + e;
    const i2 = inter ? i1 + 1 : i1 + half;
    const x1 = x[i1];
    const x2 = x[i2];
    x[i1] = x1 * c - x2 * s;
    x[i2] = x2 * c + x1 * s;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Attention visibility

/** Key at index j visible to the query at index i (both real tokens of one text): causal order and the window. */
export function keyVisible(i: number, j: number, causal: boolean, window: number | undefined): boolean {
  if (causal && j > i) return false;
  return window === undefined || i - j < window;
}

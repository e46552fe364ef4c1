/**
 * The Fisher information metric of the next-token distribution at one point:
 *
 *   G(h) = Jᵀ (diag p − p pᵀ) J + λ I,   J = ∂logits/∂h = W · K,   K = ∂(final-norm output)/∂h  (d × d)
 *
 * where W [V, d] is the LM head and K comes from src/fisher/tail.ts (the final norm's Jacobian at the last
 * layer; the whole remaining stack at an earlier one). Factorisation (no V × d Jacobian per point):
 *
 *   C = Wᵀ (diag p − p pᵀ) W = Wcᵀ Wc,  Wc = diag(√p) (W − 1 w̄ᵀ),  w̄ = Wᵀ p      (d × d: ~2/3 of 2·V·d², symmetric)
 *   G = K C Kᵀ-in-our-layout + λ I                                                   (two d × d gemms)
 *
 * Centring W before the product (instead of Wᵀ diag(p) W − w̄ w̄ᵀ) avoids the cancellation that loses all
 * digits when p is peaked, and makes C positive semi-definite by construction.
 *
 * Monte-Carlo option: with y_s ~ p, the score ∇_h log p(y_s | h) = Kᵀ (w_{y_s} − w̄), and
 * E_y[score scoreᵀ] = Kᵀ C K exactly; the mean of S outer products has error O(1/√S) and is stored as its
 * rank-S factor. It skips the 2·V·d² product (V·d + S·d² instead); K is computed exactly either way.
 *
 * Layout: `tangents` is m × d with row r = K·e_r (the derivative of the LM-head input along seed direction r),
 * i.e. tangents = Kᵀ. All results here are WITHOUT the λ I term (callers add it).
 */
import { AtlasError } from '../errors.ts';
import { gemm } from '../geometry/gemm.ts';
import { centredGram, headLogits } from './head-products.ts';
import type { FloatArray, ParamStore } from '../params/param-store.ts';
import { W, type ModelSpec } from '../model/spec.ts';
import { requireLmHead } from '../params/block.ts';

export interface LmHead {
  /** [V, d] row-major (the tied embedding when the model ties them). */
  W: FloatArray;
  V: number;
  d: number;
  /** Logit bias b_U (GPT-J, Phi-2). */
  b?: FloatArray;
  /** Gemma-2: logits = softcap · tanh((W h + b) / softcap). */
  softcap?: number;
}

export function lmHead(params: ParamStore): LmHead {
  return lmHeadOf(params.spec, params.canonical());
}

/** The LM head from canonical tensors holding at least the head's (a layer-streamed run's head piece). */
export function lmHeadOf(spec: ModelSpec, c: Map<string, { shape: number[]; data: FloatArray }>): LmHead {
  const u = requireLmHead(spec, 'the Fisher metric');
  const t = c.get(W.unembed)!;
  return { W: t.data, V: t.shape[0], d: t.shape[1], b: u.bias ? c.get(W.unembedBias)!.data : undefined, softcap: u.softcap };
}

/**
 * The head as a linear map at this point: W itself, or diag(1 − tanh²(z/c)) · W under a final soft-cap
 * (its Jacobian ∂logits/∂h), which is what the metric's factorisation needs.
 */
export async function linearisedHead(head: LmHead, postNorm: ArrayLike<number>): Promise<LmHead> {
  if (head.softcap === undefined) return head;
  const { V, d } = head;
  const z = await headLogits(head, postNorm);
  const Wl = new (head.W.constructor as { new (n: number): FloatArray })(V * d);
  for (let v = 0; v < V; v++) {
    const t = Math.tanh(z[v] / head.softcap);
    const g = 1 - t * t;
    for (let j = 0; j < d; j++) Wl[v * d + j] = g * head.W[v * d + j];
  }
  return { W: Wl, V, d };
}

/** Next-token probabilities at an LM-head input (float64); NaN/Inf logits are an error naming `what`. */
export async function headProbabilities(head: LmHead, postNorm: ArrayLike<number>, what = 'point'): Promise<Float64Array> {
  const { V } = head;
  const p = await headLogits(head, postNorm);
  let max = -Infinity;
  for (let v = 0; v < V; v++) {
    const s = head.softcap === undefined ? p[v] : head.softcap * Math.tanh(p[v] / head.softcap);
    if (!Number.isFinite(s)) throw new AtlasError(`the logits of ${what} are not finite (token ${v}: ${s})`, { field: 'logits', hint: 'the checkpoint or the hidden state holds NaN/Inf values; check the weights (float16 overflow?)' });
    p[v] = s;
    if (s > max) max = s;
  }
  let sum = 0;
  for (let v = 0; v < V; v++) sum += p[v] = Math.exp(p[v] - max);
  for (let v = 0; v < V; v++) p[v] /= sum;
  return p;
}

/** w̄ = Wᵀ p. */
function meanRow(head: LmHead, p: Float64Array): Float64Array {
  const { W, V, d } = head;
  const wbar = new Float64Array(d);
  for (let v = 0; v < V; v++) {
    const pv = p[v];
    if (pv === 0) continue;
    const o = v * d;
    for (let j = 0; j < d; j++) wbar[j] += pv * W[o + j];
  }
  return wbar;
}

/** C = Wᵀ (diag p − p pᵀ) W (d × d, float64, PSD) via the centred factor: C = Wcᵀ·Wc, the symmetric product. */
export async function headCovariance(head: LmHead, p: Float64Array): Promise<Float64Array> {
  return centredGram(head, p);
}

export function symmetrize(a: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
    const s = 0.5 * (a[i * n + j] + a[j * n + i]);
    a[i * n + j] = s;
    a[j * n + i] = s;
  }
}

/** Tangents (m × d, any precision) as float64. */
function asF64(a: FloatArray): Float64Array {
  return a instanceof Float64Array ? a : new Float64Array(a);
}

/** Exact G − λI = T C Tᵀ (m × m) for tangents T = Kᵀ (m × d). */
export async function exactFisher(head: LmHead, postNorm: ArrayLike<number>, tangents: FloatArray, m: number, what?: string): Promise<{ G: Float64Array; p: Float64Array }> {
  const d = head.d;
  const p = await headProbabilities(head, postNorm, what);
  const C = await headCovariance(await linearisedHead(head, postNorm), p);
  const T = asF64(tangents);
  const TC = (await gemm({ rows: m, cols: d, data: T }, { rows: d, cols: d, data: C })).data;
  const G = new Float64Array((await gemm({ rows: m, cols: d, data: TC }, { rows: m, cols: d, data: T }, { transposeB: true })).data);
  symmetrize(G, m);
  return { G, p };
}

/** Draws y ~ p by inversion (one uniform per draw). */
export function sampleToken(p: Float64Array, u: number): number {
  let v = 0;
  while (v < p.length - 1 && u >= p[v]) u -= p[v++];
  return v;
}

/**
 * Monte-Carlo G − λI ≈ F Fᵀ with F = [T (w_{y_s} − w̄)]_s / √S (m × S), y_s ~ p drawn with `rand`.
 */
export async function monteCarloFisher(head: LmHead, postNorm: ArrayLike<number>, tangents: FloatArray, m: number, samples: number, rand: () => number, what?: string): Promise<{ F: Float64Array; p: Float64Array }> {
  if (!Number.isInteger(samples) || samples < 1) throw new AtlasError(`Monte-Carlo samples must be a positive integer, got ${samples}`, { field: 'samples' });
  const p = await headProbabilities(head, postNorm, what);
  const J = await linearisedHead(head, postNorm);
  const { W: Wj, d } = J;
  const wbar = meanRow(J, p);
  const scores = new Float64Array(samples * d); // S × d, post-norm coordinates
  const inv = 1 / Math.sqrt(samples);
  for (let s = 0; s < samples; s++) {
    const y = sampleToken(p, rand());
    for (let j = 0; j < d; j++) scores[s * d + j] = (Wj[y * d + j] - wbar[j]) * inv;
  }
  const F = new Float64Array((await gemm({ rows: m, cols: d, data: asF64(tangents) }, { rows: samples, cols: d, data: scores }, { transposeB: true })).data);
  return { F, p };
}

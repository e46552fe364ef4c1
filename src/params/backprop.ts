/**
 * Reverse-mode gradients of the next-token language-modelling loss for GPT-2 and Llama-family models, written
 * out by hand (forward with a tape of activations, then the backward of every op), in float32 or float64.
 *
 * Why this engine: every product with a weight matrix (and the attention products, batched over batch×heads)
 * runs through onnxruntime's MLAS kernels (src/geometry/gemm.ts, src/geometry/batched-gemm.ts); the elementwise ops
 * (norms, softmax, activations, rotary) are O(N·d) loops in JavaScript, cheap next to the matmuls. Per-sample
 * gradients come from the same backward: activation gradients are computed for the whole batch, and only the
 * parameter-gradient reductions (Xᵀ·dY, bias and norm sums, embedding scatters) are split by sample.
 *
 * Semantics follow Hugging Face transformers: GPT-2 pre-LN blocks, LayerNorm, gelu_new, learned positions,
 * Conv1D [in, out] weights; Llama RMSNorm, rotary (rotate_half convention), grouped-query attention, SwiGLU
 * MLP, nn.Linear [out, in]. Padding as in src/model/graph-common.ts: positions are cumsum(mask) - 1, key j is
 * visible to query i iff j <= i and mask[j] = 1.
 *
 * Loss: for text b, loss_b = -Σ_t log p(target[b, t] | tokens ≤ t), summed over its predicted tokens
 * (document normalisation); by default target[b, t] = ids[b, t+1] where both positions are real tokens.
 * The batch loss is Σ_b loss_b, so per-sample gradients sum to the batch gradient. Gradients are those of the
 * loss (negative log-likelihood), i.e. minus the gradient of log p(x).
 */
import { AtlasError } from '../errors.ts';
import { gemm } from '../geometry/gemm.ts';
import { bmm } from '../geometry/batched-gemm.ts';
import type { FloatArray, ParamStore, ParamTensor } from './param-store.ts';
import { activation } from './activations.ts';

type Arr = FloatArray;

export interface TokenBatch {
  /** [batch, seqLen] row-major token ids (padded positions hold any valid id). */
  ids: Int32Array;
  /** [batch, seqLen]: 1 for real tokens, 0 for padding. */
  attentionMask: Uint8Array;
  batch: number;
  seqLen: number;
}

/**
 * Receives parameter gradients during the backward pass: once per parameter tensor and sample (`sample` ≥ 0)
 * in per-sample mode, once per tensor (`sample` = -1) otherwise. The array is fresh and may be kept.
 */
export type GradientSink = (name: string, sample: number, grad: Arr) => void;

interface NormTape {
  /** Normalised input (before the weight), [N, d]. */
  xhat: Arr;
  /** 1/σ (LayerNorm) or 1/rms (RMSNorm) per row. */
  rstd: Arr;
}

interface LayerTape {
  norm1: NormTape;
  /** Input of the q/k/v projections (norm1 output), [N, d]. */
  a: Arr;
  /** Head layout [B, H, T, hd]; post-rotary for llama; k/v expanded to H heads. */
  q: Arr;
  k: Arr;
  v: Arr;
  /** Attention probabilities [B, H, T, T]. */
  p: Arr;
  /** Merged attention output (input of the output projection), [N, H·hd]. */
  o: Arr;
  norm2: NormTape;
  /** Input of the MLP (norm2 output), [N, d]. */
  m: Arr;
  /** MLP pre-activation: gpt2 c_fc output / llama gate_proj output, [N, f]. */
  f: Arr;
  /** llama up_proj output, [N, f]. */
  up?: Arr;
  /** Input of the MLP's down projection, [N, f]. */
  act: Arr;
  /** gelu_new only: tanh(√(2/π)(x + 0.044715x³)) of `f`, so the backward needs no second tanh, [N, f]. */
  geluTanh?: Arr;
}

/** Activations kept by `forward` for `backward`. */
export interface Tape {
  params: ParamStore;
  batch: TokenBatch;
  positions: Int32Array;
  layers: LayerTape[];
  finalNorm: NormTape;
  /** Input of the LM head, [N, d]. */
  hFinal: Arr;
  /** [N, V] logits (row n = b·T + t). */
  logits: Arr;
}

/** √(2/π), gelu_new's constant (as in ./activations.ts). */
const GELU_C = 0.7978845608028654;

const alloc = (f64: boolean, n: number): Arr => (f64 ? new Float64Array(n) : new Float32Array(n));

async function mm(a: Arr, aRows: number, aCols: number, b: Arr, bRows: number, bCols: number, transposeA = false, transposeB = false): Promise<Arr> {
  return (await gemm({ rows: aRows, cols: aCols, data: a }, { rows: bRows, cols: bCols, data: b }, { transposeA, transposeB })).data;
}

/** y = x·W (+ bias): layout 'io' is GPT-2 Conv1D W[in, out], 'oi' nn.Linear W[out, in]. */
async function linear(x: Arr, rows: number, w: ParamTensor, bias: ParamTensor | undefined, layout: 'io' | 'oi'): Promise<Arr> {
  const [r, c] = w.shape;
  const out = layout === 'io' ? c : r;
  const y = await mm(x, rows, layout === 'io' ? r : c, w.data, r, c, false, layout === 'oi');
  if (bias) {
    const bd = bias.data;
    for (let i = 0; i < rows; i++) for (let j = 0, o = i * out; j < out; j++) y[o + j] += bd[j];
  }
  return y;
}

function layerNorm(x: Arr, rows: number, d: number, w: Arr, b: Arr | null, eps: number, rms: boolean): { y: Arr; tape: NormTape } {
  const f64 = x instanceof Float64Array;
  const y = alloc(f64, rows * d);
  const xhat = alloc(f64, rows * d);
  const rstd = alloc(f64, rows);
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
    const r = 1 / Math.sqrt(v / d + eps);
    rstd[i] = r;
    for (let j = 0; j < d; j++) {
      const h = (x[o + j] - mean) * r;
      xhat[o + j] = h;
      y[o + j] = h * w[j] + (b ? b[j] : 0);
    }
  }
  return { y, tape: { xhat, rstd } };
}

/** positions[b, t] = (real tokens before t in row b), as the runtime computes them. */
function positionsOf(batch: TokenBatch, maxPositions: number): Int32Array {
  const { batch: B, seqLen: T, attentionMask: mask } = batch;
  const pos = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    let c = 0;
    for (let t = 0; t < T; t++) {
      pos[b * T + t] = Math.max(0, c - (mask[b * T + t] ? 0 : 1));
      if (mask[b * T + t]) c++;
    }
    if (c > maxPositions) throw new AtlasError(`text ${b} has ${c} tokens, more than the model's ${maxPositions} positions`, { field: 'max_position_embeddings', hint: 'lower --max-length' });
  }
  return pos;
}

/** Copies columns [offset, offset + H·hd) of a [B·T, stride] matrix into head layout [B, H, T, hd]; head h reads source head h / rep. */
function toHeads(src: Arr, B: number, T: number, stride: number, offset: number, H: number, hd: number, rep = 1): Arr {
  const out = alloc(src instanceof Float64Array, B * H * T * hd);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const sh = Math.floor(h / rep);
    for (let t = 0; t < T; t++) {
      const so = (b * T + t) * stride + offset + sh * hd;
      const oo = ((b * H + h) * T + t) * hd;
      for (let j = 0; j < hd; j++) out[oo + j] = src[so + j];
    }
  }
  return out;
}

/** Adds head layout [B, H, T, hd] into columns of a [B·T, stride] matrix (the transpose of toHeads: repeated heads sum). */
function addFromHeads(heads: Arr, dst: Arr, B: number, T: number, stride: number, offset: number, H: number, hd: number, rep = 1): void {
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const sh = Math.floor(h / rep);
    for (let t = 0; t < T; t++) {
      const so = (b * T + t) * stride + offset + sh * hd;
      const oo = ((b * H + h) * T + t) * hd;
      for (let j = 0; j < hd; j++) dst[so + j] += heads[oo + j];
    }
  }
}

/** Rotary embedding in place on head layout [B, H, T, hd] (HF rotate_half); `sign` -1 applies the inverse (= transpose). */
function rotary(x: Arr, B: number, H: number, T: number, hd: number, pos: Int32Array, theta: number, sign: 1 | -1): void {
  const half = hd / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(theta, (2 * i) / hd);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) {
    const p = pos[b * T + t];
    const o = ((b * H + h) * T + t) * hd;
    for (let i = 0; i < half; i++) {
      const c = Math.cos(p * inv[i]);
      const s = sign * Math.sin(p * inv[i]);
      const x1 = x[o + i];
      const x2 = x[o + i + half];
      x[o + i] = x1 * c - x2 * s;
      x[o + i + half] = x2 * c + x1 * s;
    }
  }
}

/** Causal masked softmax attention on head layout; returns probabilities and merged output [B·T, H·hd]. */
async function attention(q: Arr, k: Arr, v: Arr, B: number, H: number, T: number, hd: number, mask: Uint8Array): Promise<{ p: Arr; o: Arr }> {
  const p = await bmm(q, k, { g: B * H, m: T, k: hd, n: T, transB: true });
  const scale = 1 / Math.sqrt(hd);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) {
    const o = ((b * H + h) * T + i) * T;
    let max = -Infinity;
    for (let j = 0; j <= i; j++) if (mask[b * T + j] && p[o + j] * scale > max) max = p[o + j] * scale;
    let sum = 0;
    for (let j = 0; j < T; j++) {
      const e = j <= i && mask[b * T + j] ? Math.exp(p[o + j] * scale - max) : 0;
      p[o + j] = e;
      sum += e;
    }
    // A query that sees no key (a left pad) gets zero output; nothing real depends on it.
    const invSum = sum > 0 ? 1 / sum : 0;
    for (let j = 0; j < T; j++) p[o + j] *= invSum;
  }
  const oh = await bmm(p, v, { g: B * H, m: T, k: T, n: hd });
  const o = alloc(q instanceof Float64Array, B * T * H * hd);
  addFromHeads(oh, o, B, T, H * hd, 0, H, hd);
  return { p, o };
}

/** Forward pass keeping what the backward needs. */
export async function forward(params: ParamStore, batch: TokenBatch): Promise<Tape> {
  const cfg = params.config;
  const f64 = params.isFloat64;
  const { batch: B, seqLen: T, ids, attentionMask: mask } = batch;
  if (ids.length !== B * T || mask.length !== B * T) throw new Error(`forward: ids/attentionMask must hold batch×seqLen = ${B * T} values`);
  const N = B * T;
  const d = cfg.dModel;
  const V = cfg.vocabSize;
  for (let i = 0; i < N; i++) {
    if (!(ids[i] >= 0 && ids[i] < V)) throw new AtlasError(`token id ${ids[i]} is outside the vocabulary (0..${V - 1})`, { field: 'vocab_size', hint: 'the tokenizer does not match the model' });
  }
  const pos = positionsOf(batch, cfg.maxPositions);
  const gpt2 = cfg.architecture === 'gpt2';
  const H = cfg.nHead;
  const Hkv = cfg.nKvHead;
  const hd = cfg.headDim;
  const [act] = activation(cfg.activation);
  const P = (n: string): ParamTensor => params.get(n);
  const opt = (n: string): ParamTensor | undefined => (params.has(n) ? params.get(n) : undefined);

  // embeddings
  const h = alloc(f64, N * d);
  const emb = params.get(params.embeddingName).data;
  const wpe = gpt2 ? P('wpe.weight').data : null;
  for (let n = 0; n < N; n++) {
    const eo = ids[n] * d;
    const po = pos[n] * d;
    for (let j = 0; j < d; j++) h[n * d + j] = emb[eo + j] + (wpe ? wpe[po + j] : 0);
  }

  const layers: LayerTape[] = [];
  for (let l = 0; l < cfg.nLayer; l++) {
    const pre = gpt2 ? `h.${l}` : `layers.${l}`;
    const n1 = gpt2
      ? layerNorm(h, N, d, P(`${pre}.ln_1.weight`).data, P(`${pre}.ln_1.bias`).data, cfg.normEps, false)
      : layerNorm(h, N, d, P(`${pre}.input_layernorm.weight`).data, null, cfg.normEps, true);
    const a = n1.y;
    let q: Arr, k: Arr, v: Arr;
    if (gpt2) {
      const qkv = await linear(a, N, P(`${pre}.attn.c_attn.weight`), P(`${pre}.attn.c_attn.bias`), 'io');
      q = toHeads(qkv, B, T, 3 * d, 0, H, hd);
      k = toHeads(qkv, B, T, 3 * d, d, H, hd);
      v = toHeads(qkv, B, T, 3 * d, 2 * d, H, hd);
    } else {
      const at = `${pre}.self_attn`;
      const rep = H / Hkv;
      q = toHeads(await linear(a, N, P(`${at}.q_proj.weight`), opt(`${at}.q_proj.bias`), 'oi'), B, T, H * hd, 0, H, hd);
      k = toHeads(await linear(a, N, P(`${at}.k_proj.weight`), opt(`${at}.k_proj.bias`), 'oi'), B, T, Hkv * hd, 0, H, hd, rep);
      v = toHeads(await linear(a, N, P(`${at}.v_proj.weight`), opt(`${at}.v_proj.bias`), 'oi'), B, T, Hkv * hd, 0, H, hd, rep);
      rotary(q, B, H, T, hd, pos, cfg.ropeTheta, 1);
      rotary(k, B, H, T, hd, pos, cfg.ropeTheta, 1);
    }
    const { p, o } = await attention(q, k, v, B, H, T, hd, mask);
    const attnOut = gpt2
      ? await linear(o, N, P(`${pre}.attn.c_proj.weight`), P(`${pre}.attn.c_proj.bias`), 'io')
      : await linear(o, N, P(`${pre}.self_attn.o_proj.weight`), opt(`${pre}.self_attn.o_proj.bias`), 'oi');
    for (let i = 0; i < N * d; i++) h[i] += attnOut[i];
    const n2 = gpt2
      ? layerNorm(h, N, d, P(`${pre}.ln_2.weight`).data, P(`${pre}.ln_2.bias`).data, cfg.normEps, false)
      : layerNorm(h, N, d, P(`${pre}.post_attention_layernorm.weight`).data, null, cfg.normEps, true);
    const m = n2.y;
    let f: Arr, up: Arr | undefined, actOut: Arr, mlpOut: Arr, geluTanh: Arr | undefined;
    if (gpt2) {
      f = await linear(m, N, P(`${pre}.mlp.c_fc.weight`), P(`${pre}.mlp.c_fc.bias`), 'io');
      actOut = alloc(f64, f.length);
      if (cfg.activation === 'gelu_new') {
        // gelu() of ./activations.ts, keeping tanh for the backward (tanh dominates the MLP's JS time). tanh(u) is
        // taken as 1 - 2/(e^{2u} + 1): ~25% faster than Math.tanh, absolute error ~1e-16, exact ±1 limits.
        geluTanh = alloc(f64, f.length);
        for (let i = 0; i < f.length; i++) {
          const x = f[i];
          const t = 1 - 2 / (Math.exp(2 * GELU_C * (x + 0.044715 * x * x * x)) + 1);
          geluTanh[i] = t;
          actOut[i] = 0.5 * x * (1 + t);
        }
      } else for (let i = 0; i < f.length; i++) actOut[i] = act(f[i]);
      mlpOut = await linear(actOut, N, P(`${pre}.mlp.c_proj.weight`), P(`${pre}.mlp.c_proj.bias`), 'io');
    } else {
      const mp = `${pre}.mlp`;
      f = await linear(m, N, P(`${mp}.gate_proj.weight`), opt(`${mp}.gate_proj.bias`), 'oi');
      up = await linear(m, N, P(`${mp}.up_proj.weight`), opt(`${mp}.up_proj.bias`), 'oi');
      actOut = alloc(f64, f.length);
      for (let i = 0; i < f.length; i++) actOut[i] = act(f[i]) * up[i];
      mlpOut = await linear(actOut, N, P(`${mp}.down_proj.weight`), opt(`${mp}.down_proj.bias`), 'oi');
    }
    for (let i = 0; i < N * d; i++) h[i] += mlpOut[i];
    layers.push({ norm1: n1.tape, a, q, k, v, p, o, norm2: n2.tape, m, f, up, act: actOut, geluTanh });
  }
  const nf = gpt2
    ? layerNorm(h, N, d, P('ln_f.weight').data, P('ln_f.bias').data, cfg.normEps, false)
    : layerNorm(h, N, d, P('norm.weight').data, null, cfg.normEps, true);
  const head = params.tied ? params.get(params.embeddingName) : P('lm_head.weight');
  const logits = await mm(nf.y, N, d, head.data, V, d, false, true);
  return { params, batch, positions: pos, layers, finalNorm: nf.tape, hFinal: nf.y, logits };
}

/** The default targets: the text's own next tokens, -1 (ignored) where either position is padding. */
export function nextTokenTargets(batch: TokenBatch): Int32Array {
  const { batch: B, seqLen: T, ids, attentionMask: mask } = batch;
  const tg = new Int32Array(B * T).fill(-1);
  for (let b = 0; b < B; b++) for (let t = 0; t + 1 < T; t++) {
    const n = b * T + t;
    if (mask[n] && mask[n + 1]) tg[n] = ids[n + 1];
  }
  return tg;
}

export interface LossResult {
  /** Σ over samples of the per-sample loss (nats). */
  loss: number;
  /** -log p(x_b) summed over each text's predicted tokens. */
  perSampleLoss: Float64Array;
  /** Predicted tokens per sample. */
  tokens: Int32Array;
  /** ∂(scale·loss)/∂logits, [N, V]. */
  dLogits: Arr;
}

/**
 * Cross-entropy of `targets` (-1 = ignored) under the tape's logits and its gradient w.r.t. the logits.
 * `scale` multiplies the gradient only (e.g. 1/tokens for a per-token mean when training). The logits are
 * left untouched.
 */
export function crossEntropy(tape: Tape, targets: Int32Array, scale = 1): LossResult {
  const { batch: B, seqLen: T } = tape.batch;
  const V = tape.params.config.vocabSize;
  const L = tape.logits;
  const dl = alloc(L instanceof Float64Array, L.length);
  const perSampleLoss = new Float64Array(B);
  const tokens = new Int32Array(B);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
    const n = b * T + t;
    const y = targets[n];
    if (y < 0) continue;
    const o = n * V;
    let max = -Infinity;
    for (let j = 0; j < V; j++) if (L[o + j] > max) max = L[o + j];
    // One exp per logit (the vocabulary pass dominates): exp(l - max) goes into dl and is normalised in place.
    let sum = 0;
    for (let j = 0; j < V; j++) {
      const e = Math.exp(L[o + j] - max);
      dl[o + j] = e;
      sum += e;
    }
    const lse = max + Math.log(sum);
    perSampleLoss[b] += lse - L[o + y];
    tokens[b]++;
    const f = scale / sum;
    for (let j = 0; j < V; j++) dl[o + j] *= f;
    dl[o + y] -= scale;
  }
  let loss = 0;
  for (const x of perSampleLoss) loss += x;
  return { loss, perSampleLoss, tokens, dLogits: dl };
}

/** Softmax probabilities of one logits row (float64). */
export function softmaxRow(logits: Arr, row: number, V: number): Float64Array {
  const o = row * V;
  let max = -Infinity;
  for (let j = 0; j < V; j++) if (logits[o + j] > max) max = logits[o + j];
  const p = new Float64Array(V);
  let s = 0;
  for (let j = 0; j < V; j++) s += p[j] = Math.exp(logits[o + j] - max);
  for (let j = 0; j < V; j++) p[j] /= s;
  return p;
}

/** Reductions of parameter gradients over the batch, or over each sample's rows. */
class Emitter {
  constructor(readonly sink: GradientSink, readonly B: number, readonly T: number, readonly perSample: boolean) {}

  private slices(): [number, number, number][] {
    return this.perSample ? Array.from({ length: this.B }, (_, b) => [b, b * this.T, this.T]) : [[-1, 0, this.B * this.T]];
  }

  /** Weight gradient of y = x·W ('io', dW = xᵀ·dy) or y = x·Wᵀ ('oi', dW = dyᵀ·x). */
  async matmul(name: string, x: Arr, xCols: number, dy: Arr, yCols: number, layout: 'io' | 'oi'): Promise<void> {
    for (const [s, r0, rows] of this.slices()) {
      const xs = x.subarray(r0 * xCols, (r0 + rows) * xCols) as Arr;
      const ds = dy.subarray(r0 * yCols, (r0 + rows) * yCols) as Arr;
      const g = layout === 'io' ? await mm(xs, rows, xCols, ds, rows, yCols, true) : await mm(ds, rows, yCols, xs, rows, xCols, true);
      this.sink(name, s, g);
    }
  }

  /** Σ_rows v[row, j]·(w ? w[row, j] : 1): bias and norm-weight gradients. */
  colSum(name: string, v: Arr, cols: number, w?: Arr): void {
    for (const [s, r0, rows] of this.slices()) {
      const g = alloc(v instanceof Float64Array, cols);
      for (let r = r0; r < r0 + rows; r++) {
        const o = r * cols;
        if (w) for (let j = 0; j < cols; j++) g[j] += v[o + j] * w[o + j];
        else for (let j = 0; j < cols; j++) g[j] += v[o + j];
      }
      this.sink(name, s, g);
    }
  }
}

async function linearBackward(em: Emitter, dy: Arr, x: Arr, rows: number, w: ParamTensor, wName: string, bName: string | null, layout: 'io' | 'oi'): Promise<Arr> {
  const [r, c] = w.shape;
  const inDim = layout === 'io' ? r : c;
  const outDim = layout === 'io' ? c : r;
  await em.matmul(wName, x, inDim, dy, outDim, layout);
  if (bName) em.colSum(bName, dy, outDim);
  return mm(dy, rows, outDim, w.data, r, c, false, layout === 'io');
}

/** Backward of a (Layer|RMS)Norm; emits weight (and bias) gradients, returns dx. */
function normBackward(em: Emitter, dy: Arr, tape: NormTape, w: Arr, d: number, wName: string, bName: string | null, rms: boolean): Arr {
  const { xhat, rstd } = tape;
  em.colSum(wName, dy, d, xhat);
  if (bName) em.colSum(bName, dy, d);
  const rows = rstd.length;
  const dx = alloc(dy instanceof Float64Array, rows * d);
  for (let i = 0; i < rows; i++) {
    const o = i * d;
    let sg = 0;
    let sgx = 0;
    for (let j = 0; j < d; j++) {
      const g = dy[o + j] * w[j];
      sg += g;
      sgx += g * xhat[o + j];
    }
    const mg = rms ? 0 : sg / d;
    const mgx = sgx / d;
    for (let j = 0; j < d; j++) dx[o + j] = rstd[i] * (dy[o + j] * w[j] - mg - xhat[o + j] * mgx);
  }
  return dx;
}

/** Backward of attention: returns dq, dk, dv in head layout. */
async function attentionBackward(dO: Arr, lt: LayerTape, B: number, H: number, T: number, hd: number): Promise<{ dq: Arr; dk: Arr; dv: Arr }> {
  const G = B * H;
  const dOh = toHeads(dO, B, T, H * hd, 0, H, hd);
  const dp = await bmm(dOh, lt.v, { g: G, m: T, k: hd, n: T, transB: true });
  const dv = await bmm(lt.p, dOh, { g: G, m: T, k: T, n: hd, transA: true });
  const scale = 1 / Math.sqrt(hd);
  const p = lt.p;
  for (let r = 0; r < G * T; r++) {
    const o = r * T;
    let s = 0;
    for (let j = 0; j < T; j++) s += dp[o + j] * p[o + j];
    for (let j = 0; j < T; j++) dp[o + j] = p[o + j] * (dp[o + j] - s) * scale;
  }
  const dq = await bmm(dp, lt.k, { g: G, m: T, k: T, n: hd });
  const dk = await bmm(dp, lt.q, { g: G, m: T, k: T, n: hd, transA: true });
  return { dq, dk, dv };
}

export interface BackwardOptions {
  /** Per-sample parameter gradients (sink called with sample ≥ 0) instead of batch sums. Default false. */
  perSample?: boolean;
}

/** Backpropagates `dLogits` through the taped forward, handing every parameter gradient to `sink`. */
export async function backward(tape: Tape, dLogits: Arr, sink: GradientSink, opts: BackwardOptions = {}): Promise<void> {
  const params = tape.params;
  const cfg = params.config;
  const f64 = params.isFloat64;
  const { batch: B, seqLen: T, ids } = tape.batch;
  const N = B * T;
  const d = cfg.dModel;
  const V = cfg.vocabSize;
  const H = cfg.nHead;
  const Hkv = cfg.nKvHead;
  const hd = cfg.headDim;
  const gpt2 = cfg.architecture === 'gpt2';
  const [, actGrad] = activation(cfg.activation);
  const em = new Emitter(sink, B, T, opts.perSample ?? false);
  const P = (n: string): ParamTensor => params.get(n);
  const has = (n: string): string | null => (params.has(n) ? n : null);
  const embName = params.embeddingName;
  const head = params.tied ? params.get(embName) : P('lm_head.weight');

  // LM head: dx now; its weight gradient waits until the embedding's is known (they share storage when tied).
  const dhf = await mm(dLogits, N, V, head.data, V, d);
  const dh = gpt2
    ? normBackward(em, dhf, tape.finalNorm, P('ln_f.weight').data, d, 'ln_f.weight', 'ln_f.bias', false)
    : normBackward(em, dhf, tape.finalNorm, P('norm.weight').data, d, 'norm.weight', null, true);

  for (let l = cfg.nLayer - 1; l >= 0; l--) {
    const lt = tape.layers[l];
    const pre = gpt2 ? `h.${l}` : `layers.${l}`;
    // MLP branch
    let dm: Arr;
    if (gpt2) {
      const dAct = await linearBackward(em, dh, lt.act, N, P(`${pre}.mlp.c_proj.weight`), `${pre}.mlp.c_proj.weight`, `${pre}.mlp.c_proj.bias`, 'io');
      const th = lt.geluTanh;
      if (th) {
        // geluGrad of ./activations.ts with the forward's tanh
        const fx = lt.f;
        for (let i = 0; i < dAct.length; i++) {
          const x = fx[i];
          const t = th[i];
          dAct[i] *= 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * x * x);
        }
      } else for (let i = 0; i < dAct.length; i++) dAct[i] *= actGrad(lt.f[i]);
      dm = await linearBackward(em, dAct, lt.m, N, P(`${pre}.mlp.c_fc.weight`), `${pre}.mlp.c_fc.weight`, `${pre}.mlp.c_fc.bias`, 'io');
    } else {
      const mp = `${pre}.mlp`;
      const dAct = await linearBackward(em, dh, lt.act, N, P(`${mp}.down_proj.weight`), `${mp}.down_proj.weight`, has(`${mp}.down_proj.bias`), 'oi');
      const up = lt.up!;
      const dGate = alloc(f64, dAct.length);
      const dUp = alloc(f64, dAct.length);
      const [act] = activation(cfg.activation);
      for (let i = 0; i < dAct.length; i++) {
        dUp[i] = dAct[i] * act(lt.f[i]);
        dGate[i] = dAct[i] * up[i] * actGrad(lt.f[i]);
      }
      dm = await linearBackward(em, dGate, lt.m, N, P(`${mp}.gate_proj.weight`), `${mp}.gate_proj.weight`, has(`${mp}.gate_proj.bias`), 'oi');
      const dm2 = await linearBackward(em, dUp, lt.m, N, P(`${mp}.up_proj.weight`), `${mp}.up_proj.weight`, has(`${mp}.up_proj.bias`), 'oi');
      for (let i = 0; i < dm.length; i++) dm[i] += dm2[i];
    }
    const dn2 = gpt2
      ? normBackward(em, dm, lt.norm2, P(`${pre}.ln_2.weight`).data, d, `${pre}.ln_2.weight`, `${pre}.ln_2.bias`, false)
      : normBackward(em, dm, lt.norm2, P(`${pre}.post_attention_layernorm.weight`).data, d, `${pre}.post_attention_layernorm.weight`, null, true);
    for (let i = 0; i < N * d; i++) dh[i] += dn2[i];

    // attention branch
    let da: Arr;
    if (gpt2) {
      const dO = await linearBackward(em, dh, lt.o, N, P(`${pre}.attn.c_proj.weight`), `${pre}.attn.c_proj.weight`, `${pre}.attn.c_proj.bias`, 'io');
      const { dq, dk, dv } = await attentionBackward(dO, lt, B, H, T, hd);
      const dqkv = alloc(f64, N * 3 * d);
      addFromHeads(dq, dqkv, B, T, 3 * d, 0, H, hd);
      addFromHeads(dk, dqkv, B, T, 3 * d, d, H, hd);
      addFromHeads(dv, dqkv, B, T, 3 * d, 2 * d, H, hd);
      da = await linearBackward(em, dqkv, lt.a, N, P(`${pre}.attn.c_attn.weight`), `${pre}.attn.c_attn.weight`, `${pre}.attn.c_attn.bias`, 'io');
    } else {
      const at = `${pre}.self_attn`;
      const rep = H / Hkv;
      const dO = await linearBackward(em, dh, lt.o, N, P(`${at}.o_proj.weight`), `${at}.o_proj.weight`, has(`${at}.o_proj.bias`), 'oi');
      const { dq, dk, dv } = await attentionBackward(dO, lt, B, H, T, hd);
      rotary(dq, B, H, T, hd, tape.positions, cfg.ropeTheta, -1);
      rotary(dk, B, H, T, hd, tape.positions, cfg.ropeTheta, -1);
      const dqm = alloc(f64, N * H * hd);
      const dkm = alloc(f64, N * Hkv * hd);
      const dvm = alloc(f64, N * Hkv * hd);
      addFromHeads(dq, dqm, B, T, H * hd, 0, H, hd);
      addFromHeads(dk, dkm, B, T, Hkv * hd, 0, H, hd, rep);
      addFromHeads(dv, dvm, B, T, Hkv * hd, 0, H, hd, rep);
      da = await linearBackward(em, dqm, lt.a, N, P(`${at}.q_proj.weight`), `${at}.q_proj.weight`, has(`${at}.q_proj.bias`), 'oi');
      const dak = await linearBackward(em, dkm, lt.a, N, P(`${at}.k_proj.weight`), `${at}.k_proj.weight`, has(`${at}.k_proj.bias`), 'oi');
      const dav = await linearBackward(em, dvm, lt.a, N, P(`${at}.v_proj.weight`), `${at}.v_proj.weight`, has(`${at}.v_proj.bias`), 'oi');
      for (let i = 0; i < da.length; i++) da[i] += dak[i] + dav[i];
    }
    const dn1 = gpt2
      ? normBackward(em, da, lt.norm1, P(`${pre}.ln_1.weight`).data, d, `${pre}.ln_1.weight`, `${pre}.ln_1.bias`, false)
      : normBackward(em, da, lt.norm1, P(`${pre}.input_layernorm.weight`).data, d, `${pre}.input_layernorm.weight`, null, true);
    for (let i = 0; i < N * d; i++) dh[i] += dn1[i];
  }

  // embeddings (dh is now ∂loss/∂h0), positions, and the LM head
  const slices: [number, number, number][] = em.perSample ? Array.from({ length: B }, (_, b) => [b, b * T, T]) : [[-1, 0, N]];
  if (gpt2) {
    const rows = P('wpe.weight').shape[0];
    for (const [s, r0, rows_] of slices) {
      const g = alloc(f64, rows * d);
      for (let n = r0; n < r0 + rows_; n++) {
        const o = tape.positions[n] * d;
        for (let j = 0; j < d; j++) g[o + j] += dh[n * d + j];
      }
      sink('wpe.weight', s, g);
    }
  }
  for (const [s, r0, rows] of slices) {
    // tied: the head's gradient dLogitsᵀ·hFinal and the embedding scatter add into one tensor
    const headGrad = await mm(dLogits.subarray(r0 * V, (r0 + rows) * V) as Arr, rows, V, tape.hFinal.subarray(r0 * d, (r0 + rows) * d) as Arr, rows, d, true);
    const embGrad = params.tied ? headGrad : alloc(f64, V * d);
    for (let n = r0; n < r0 + rows; n++) {
      const o = ids[n] * d;
      for (let j = 0; j < d; j++) embGrad[o + j] += dh[n * d + j];
    }
    if (!params.tied) sink('lm_head.weight', s, headGrad);
    sink(embName, s, embGrad);
  }
}

export interface LossAndGradientsOptions {
  /** Return per-sample gradients (`perSampleGrads`) instead of the batch sum (`grads`). Default false. */
  perSample?: boolean;
  /** Targets [batch·seqLen], -1 = ignored. Default: nextTokenTargets(batch). */
  targets?: Int32Array;
  /** Multiplies the gradients (not the reported loss), e.g. 1/tokens for a per-token mean. Default 1. */
  scale?: number;
}

export interface LossAndGradients {
  loss: number;
  perSampleLoss: Float64Array;
  tokens: Int32Array;
  /** Batch gradient by parameter name (perSample false). */
  grads?: Map<string, Arr>;
  /** grads[name][b] for each sample b (perSample true). */
  perSampleGrads?: Map<string, Arr[]>;
}

/** Forward, next-token cross-entropy and backward in one call; keeps all gradients in memory. */
export async function lossAndGradients(params: ParamStore, batch: TokenBatch, opts: LossAndGradientsOptions = {}): Promise<LossAndGradients> {
  const tape = await forward(params, batch);
  const ce = crossEntropy(tape, opts.targets ?? nextTokenTargets(batch), opts.scale ?? 1);
  const base = { loss: ce.loss, perSampleLoss: ce.perSampleLoss, tokens: ce.tokens };
  if (opts.perSample) {
    const per = new Map<string, Arr[]>();
    await backward(tape, ce.dLogits, (name, s, g) => {
      let list = per.get(name);
      if (!list) per.set(name, (list = []));
      list[s] = g;
    }, { perSample: true });
    return { ...base, perSampleGrads: per };
  }
  const grads = new Map<string, Arr>();
  await backward(tape, ce.dLogits, (name, _s, g) => grads.set(name, g));
  return { ...base, grads };
}

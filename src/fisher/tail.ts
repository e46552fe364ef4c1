/**
 * The map from one token's residual-stream state at layer ℓ to the input of the LM head, with its Jacobian.
 *
 * Why a single-token "tail": the Fisher metric at a text's representation h (the hidden state of its last
 * real token, aggregation 'final') is defined by how the model's next-token distribution at THAT token moves
 * when h moves, with everything else the text fixes held fixed. Under causal attention, changing the last
 * token's state at layer ℓ changes nothing at earlier positions, so blocks ℓ..L-1 only need, per layer, the
 * keys and values of the earlier (context) positions — taken from a full forward of the text by the params
 * engine (src/params/backprop.ts `forward`, whose tape holds k/v in head layout) — plus the token's own
 * query/key/value, which depend on h.
 *
 * State layout: a (1 + m) × d matrix whose row 0 is the value and rows 1..m are tangents (directional
 * derivatives along m seed directions, forward-mode). Linear layers are one gemm over all rows (bias on row 0
 * only); norms, attention weights and activations are linearised at row 0. Seeding the identity (m = d) gives
 * the full Jacobian. Cost per token for m directions, per remaining block: 2·(1+m)·(4d² + 2·d·dFF) flops in
 * gemm (GPT-2; Llama has 3 MLP matrices) + O(m·d·T) for attention; m = d for the exact metric.
 *
 * Outputs follow Hugging Face: `residuals[l]` equals hidden_states[l] for l < L; `preNorm` is the output of the
 * last block (NOT returned by HF, whose hidden_states[L] = final_norm(preNorm) = `postNorm`).
 */
import { gemm } from '../geometry/gemm.ts';
import { AtlasError } from '../errors.ts';
import type { Tape } from '../params/backprop.ts';
import type { FloatArray, ParamStore, ParamTensor } from '../params/param-store.ts';
import { activation } from '../params/activations.ts';

export interface TailOptions {
  /** Layer ℓ of the point: 0..nLayer (nLayer = the pre-final-norm output of the last block). */
  layer: number;
  /**
   * Seed directions at layer ℓ, m × d row-major (same precision as the parameters), or 'identity' (m = d:
   * the full Jacobian). Default: none (value only).
   */
  seeds?: FloatArray | 'identity';
  /** Replace the token's state at layer ℓ by this vector (finite-difference checks, counterfactual points). */
  pointValue?: ArrayLike<number>;
}

export interface TailResult {
  /** The token's residual state at layer ℓ (the point). */
  point: Float64Array;
  /** Residual states entering block 0..L-1, and after the last block (index L, pre-norm). */
  residuals: Float64Array[];
  preNorm: Float64Array;
  /** Final-norm output: the LM head's input. */
  postNorm: Float64Array;
  /** m × d: row r = ∂postNorm/∂point · seed_r. Absent without seeds. */
  tangents?: FloatArray;
  m: number;
}

type Ctor = { new (n: number): FloatArray };

/** Norm of row 0 and its linearisation applied to rows 1..R-1 (LayerNorm when `bias` is given or !rms). */
export function normRows(x: FloatArray, R: number, d: number, w: FloatArray, b: FloatArray | null, eps: number, rms: boolean): FloatArray {
  const y = new (x.constructor as Ctor)(R * d);
  let mean = 0;
  if (!rms) {
    for (let j = 0; j < d; j++) mean += x[j];
    mean /= d;
  }
  let v = 0;
  for (let j = 0; j < d; j++) v += (x[j] - mean) ** 2;
  const r = 1 / Math.sqrt(v / d + eps);
  const xhat = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    xhat[j] = (x[j] - mean) * r;
    y[j] = xhat[j] * w[j] + (b ? b[j] : 0);
  }
  // d xhat = r · (dt − mean(dt) − xhat · (xhat·dt)/d); the mean term is absent for RMSNorm.
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
    for (let j = 0; j < d; j++) y[o + j] = w[j] * r * (x[o + j] - mt - xhat[j] * s);
  }
  return y;
}

/** Rows × W ('io' = [in, out], 'oi' = [out, in]) with the bias added to row 0 (the value) only. */
async function linearRows(x: FloatArray, R: number, w: ParamTensor, bias: ParamTensor | undefined, layout: 'io' | 'oi'): Promise<FloatArray> {
  const [r, c] = w.shape;
  const inDim = layout === 'io' ? r : c;
  const out = layout === 'io' ? c : r;
  const y = (await gemm({ rows: R, cols: inDim, data: x }, { rows: r, cols: c, data: w.data }, { transposeB: layout === 'oi' })).data;
  if (bias) for (let j = 0; j < out; j++) y[j] += bias.data[j];
  return y;
}

/** HF rotate_half rotary at position `pos` on every row of a [R, nHeads·hd] block (linear, so tangents rotate too). */
function rotaryRows(x: FloatArray, R: number, nHeads: number, hd: number, pos: number, theta: number): void {
  const half = hd / 2;
  const c = new Float64Array(half);
  const s = new Float64Array(half);
  for (let i = 0; i < half; i++) {
    const inv = 1 / Math.pow(theta, (2 * i) / hd);
    c[i] = Math.cos(pos * inv);
    s[i] = Math.sin(pos * inv);
  }
  for (let row = 0; row < R; row++) for (let h = 0; h < nHeads; h++) {
    const o = row * nHeads * hd + h * hd;
    for (let i = 0; i < half; i++) {
      const x1 = x[o + i];
      const x2 = x[o + i + half];
      x[o + i] = x1 * c[i] - x2 * s[i];
      x[o + i + half] = x2 * c[i] + x1 * s[i];
    }
  }
}

/** Real positions before t in text b (the context the token attends to besides itself). */
function contextPositions(tape: Tape, b: number, t: number): number[] {
  const { seqLen: T, attentionMask } = tape.batch;
  const out: number[] = [];
  for (let j = 0; j < t; j++) if (attentionMask[b * T + j]) out.push(j);
  return out;
}

/** Index of the last real token of text b (aggregation 'final'). */
export function lastRealPosition(tape: Tape, b: number): number {
  const { seqLen: T, attentionMask } = tape.batch;
  for (let t = T - 1; t >= 0; t--) if (attentionMask[b * T + t]) return t;
  throw new AtlasError(`text ${b} has no real token`, { field: 'attentionMask' });
}

/**
 * Attention of the token (query rows) over its context (fixed k/v from the tape) and itself, with the
 * linearised softmax for the tangent rows. q: [R, H·hd]; k, v: [R, Hkv·hd]. Returns [R, H·hd].
 */
async function attentionRows(q: FloatArray, k: FloatArray, v: FloatArray, R: number, tape: Tape, l: number, b: number, ctx: number[], H: number, Hkv: number, hd: number): Promise<FloatArray> {
  const ctor = q.constructor as Ctor;
  const T = tape.batch.seqLen;
  const lt = tape.layers[l];
  const rep = H / Hkv;
  const tc = ctx.length;
  const scale = 1 / Math.sqrt(hd);
  const out = new ctor(R * H * hd);
  const Kc = new ctor(tc * hd);
  const Vc = new ctor(tc * hd);
  const Qh = new ctor(R * hd);
  for (let h = 0; h < H; h++) {
    const kvh = Math.floor(h / rep);
    // tape k/v are in head layout [B, H, T, hd] with kv heads already expanded to H.
    for (let c = 0; c < tc; c++) {
      const src = ((b * H + h) * T + ctx[c]) * hd;
      for (let e = 0; e < hd; e++) {
        Kc[c * hd + e] = lt.k[src + e];
        Vc[c * hd + e] = lt.v[src + e];
      }
    }
    for (let row = 0; row < R; row++) for (let e = 0; e < hd; e++) Qh[row * hd + e] = q[row * H * hd + h * hd + e];
    const S = tc > 0 ? (await gemm({ rows: R, cols: hd, data: Qh }, { rows: tc, cols: hd, data: Kc }, { transposeB: true })).data : new ctor(0);
    const ko = kvh * hd; // own key/value columns in k/v rows
    const kStride = Hkv * hd;
    let selfScore = 0;
    for (let e = 0; e < hd; e++) selfScore += Qh[e] * k[ko + e];
    // softmax over [context, self] of row 0
    const a = new Float64Array(tc + 1);
    let max = selfScore * scale;
    for (let c = 0; c < tc; c++) max = Math.max(max, S[c] * scale);
    let sum = 0;
    for (let c = 0; c < tc; c++) sum += a[c] = Math.exp(S[c] * scale - max);
    sum += a[tc] = Math.exp(selfScore * scale - max);
    for (let c = 0; c <= tc; c++) a[c] /= sum;
    // P: row 0 = a (context part), rows ≥ 1 = da = a ⊙ (ds − a·ds)
    const P = new ctor(R * tc);
    const daSelf = new Float64Array(R);
    for (let c = 0; c < tc; c++) P[c] = a[c];
    for (let row = 1; row < R; row++) {
      let dsSelf = 0;
      for (let e = 0; e < hd; e++) dsSelf += Qh[row * hd + e] * k[ko + e] + Qh[e] * k[row * kStride + ko + e];
      dsSelf *= scale;
      let mean = a[tc] * dsSelf;
      for (let c = 0; c < tc; c++) mean += a[c] * S[row * tc + c] * scale;
      for (let c = 0; c < tc; c++) P[row * tc + c] = a[c] * (S[row * tc + c] * scale - mean);
      daSelf[row] = a[tc] * (dsSelf - mean);
    }
    const Oc = tc > 0 ? (await gemm({ rows: R, cols: tc, data: P }, { rows: tc, cols: hd, data: Vc })).data : new ctor(R * hd);
    for (let row = 0; row < R; row++) {
      const o = row * H * hd + h * hd;
      for (let e = 0; e < hd; e++) {
        const v0 = v[ko + e];
        out[o + e] = Oc[row * hd + e] + (row === 0 ? a[tc] * v0 : daSelf[row] * v0 + a[tc] * v[row * kStride + ko + e]);
      }
    }
  }
  return out;
}

/**
 * Runs text `b`'s token at position `t` (default: its last real token) from the embeddings through every
 * block and the final norm, seeding tangents at layer `opts.layer`. `tape` must come from
 * `forward(params, batch)` on the same parameters.
 */
export async function tokenTail(params: ParamStore, tape: Tape, b: number, opts: TailOptions, t?: number): Promise<TailResult> {
  const cfg = params.config;
  const L = cfg.nLayer;
  const d = cfg.dModel;
  const layer = opts.layer;
  if (!Number.isInteger(layer) || layer < 0 || layer > L) throw new AtlasError(`layer ${layer} does not exist: hidden layers are 0..${L}`, { field: 'layer' });
  const gpt2 = cfg.architecture === 'gpt2';
  const H = cfg.nHead;
  const Hkv = cfg.nKvHead;
  const hd = cfg.headDim;
  const [act, actGrad] = activation(cfg.activation);
  const P = (n: string): ParamTensor => params.get(n);
  const opt = (n: string): ParamTensor | undefined => (params.has(n) ? params.get(n) : undefined);
  const ctor = params.get(params.embeddingName).data.constructor as Ctor;
  const T = tape.batch.seqLen;
  const pos = t ?? lastRealPosition(tape, b);
  const n = b * T + pos;
  const ctx = contextPositions(tape, b, pos);
  const position = tape.positions[n];

  let R = 1;
  let x = new ctor(d);
  const emb = P(params.embeddingName).data;
  const id = tape.batch.ids[n];
  for (let j = 0; j < d; j++) x[j] = emb[id * d + j] + (gpt2 ? P('wpe.weight').data[position * d + j] : 0);

  const residuals: Float64Array[] = [];
  let m = 0;
  const seed = (): void => {
    if (!opts.seeds) return;
    const s = opts.seeds === 'identity' ? null : opts.seeds;
    if (s && s.length % d !== 0) throw new AtlasError(`seed directions have ${s.length} values, not a multiple of d = ${d}`, { field: 'seeds' });
    m = s ? s.length / d : d;
    R = 1 + m;
    const nx = new ctor(R * d);
    nx.set(x.subarray(0, d));
    if (s) nx.set(s, d);
    else for (let r = 0; r < d; r++) nx[(1 + r) * d + r] = 1;
    x = nx;
  };

  const override = (): void => {
    if (opts.pointValue) for (let j = 0; j < d; j++) x[j] = opts.pointValue[j];
  };
  for (let l = 0; l < L; l++) {
    if (l === layer) override();
    residuals.push(Float64Array.from(x.subarray(0, d)));
    if (l === layer) seed();
    const pre = gpt2 ? `h.${l}` : `layers.${l}`;
    const a = gpt2
      ? normRows(x, R, d, P(`${pre}.ln_1.weight`).data, P(`${pre}.ln_1.bias`).data, cfg.normEps, false)
      : normRows(x, R, d, P(`${pre}.input_layernorm.weight`).data, null, cfg.normEps, true);
    let q: FloatArray, k: FloatArray, v: FloatArray;
    if (gpt2) {
      const qkv = await linearRows(a, R, P(`${pre}.attn.c_attn.weight`), P(`${pre}.attn.c_attn.bias`), 'io');
      q = new ctor(R * d);
      k = new ctor(R * d);
      v = new ctor(R * d);
      for (let row = 0; row < R; row++) {
        q.set(qkv.subarray(row * 3 * d, row * 3 * d + d), row * d);
        k.set(qkv.subarray(row * 3 * d + d, row * 3 * d + 2 * d), row * d);
        v.set(qkv.subarray(row * 3 * d + 2 * d, row * 3 * d + 3 * d), row * d);
      }
    } else {
      const at = `${pre}.self_attn`;
      q = await linearRows(a, R, P(`${at}.q_proj.weight`), opt(`${at}.q_proj.bias`), 'oi');
      k = await linearRows(a, R, P(`${at}.k_proj.weight`), opt(`${at}.k_proj.bias`), 'oi');
      v = await linearRows(a, R, P(`${at}.v_proj.weight`), opt(`${at}.v_proj.bias`), 'oi');
      rotaryRows(q, R, H, hd, position, cfg.ropeTheta);
      rotaryRows(k, R, Hkv, hd, position, cfg.ropeTheta);
    }
    const o = await attentionRows(q, k, v, R, tape, l, b, ctx, H, Hkv, hd);
    const attnOut = gpt2
      ? await linearRows(o, R, P(`${pre}.attn.c_proj.weight`), P(`${pre}.attn.c_proj.bias`), 'io')
      : await linearRows(o, R, P(`${pre}.self_attn.o_proj.weight`), opt(`${pre}.self_attn.o_proj.bias`), 'oi');
    for (let i = 0; i < R * d; i++) x[i] += attnOut[i];
    const mIn = gpt2
      ? normRows(x, R, d, P(`${pre}.ln_2.weight`).data, P(`${pre}.ln_2.bias`).data, cfg.normEps, false)
      : normRows(x, R, d, P(`${pre}.post_attention_layernorm.weight`).data, null, cfg.normEps, true);
    let mlpOut: FloatArray;
    if (gpt2) {
      const f = await linearRows(mIn, R, P(`${pre}.mlp.c_fc.weight`), P(`${pre}.mlp.c_fc.bias`), 'io');
      const F = f.length / R;
      for (let j = 0; j < F; j++) {
        const g = actGrad(f[j]);
        for (let row = 1; row < R; row++) f[row * F + j] *= g;
        f[j] = act(f[j]);
      }
      mlpOut = await linearRows(f, R, P(`${pre}.mlp.c_proj.weight`), P(`${pre}.mlp.c_proj.bias`), 'io');
    } else {
      const mp = `${pre}.mlp`;
      const g = await linearRows(mIn, R, P(`${mp}.gate_proj.weight`), opt(`${mp}.gate_proj.bias`), 'oi');
      const u = await linearRows(mIn, R, P(`${mp}.up_proj.weight`), opt(`${mp}.up_proj.bias`), 'oi');
      const F = g.length / R;
      for (let j = 0; j < F; j++) {
        const g0 = g[j];
        const ag = act(g0);
        const dg = actGrad(g0) * u[j];
        for (let row = 1; row < R; row++) g[row * F + j] = dg * g[row * F + j] + ag * u[row * F + j];
        g[j] = ag * u[j];
      }
      mlpOut = await linearRows(g, R, P(`${mp}.down_proj.weight`), opt(`${mp}.down_proj.bias`), 'oi');
    }
    for (let i = 0; i < R * d; i++) x[i] += mlpOut[i];
  }
  if (layer === L) override();
  residuals.push(Float64Array.from(x.subarray(0, d)));
  if (layer === L) seed();
  const y = gpt2
    ? normRows(x, R, d, P('ln_f.weight').data, P('ln_f.bias').data, cfg.normEps, false)
    : normRows(x, R, d, P('norm.weight').data, null, cfg.normEps, true);
  return {
    point: residuals[layer],
    residuals,
    preNorm: residuals[L],
    postNorm: Float64Array.from(y.subarray(0, d)),
    tangents: m > 0 ? (y.subarray(d) as FloatArray) : undefined,
    m,
  };
}

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
 * The blocks are the spec's own wiring (src/params/block.ts) run with operations on a (1 + m) × width
 * matrix whose row 0 is the value and rows 1..m are tangents (directional derivatives along m seed
 * directions, forward-mode): linear layers are one gemm over all rows (bias on row 0 only); norms, attention
 * weights, soft-caps and activations are linearised at row 0 with the same per-op definitions as the
 * reverse engine (src/params/ops.ts). Seeding the identity (m = d) gives the full Jacobian. Cost per token
 * for m directions, per remaining block: 2·(1+m)·(4d² + 2·d·dFF) flops in gemm (3 MLP matrices when gated)
 * + O(m·d·T) for attention; m = d for the exact metric.
 *
 * Outputs follow Hugging Face: `residuals[l]` equals hidden_states[l] for l < L; `preNorm` is the output of the
 * last block (NOT returned by HF, whose hidden_states[L] = final_norm(preNorm) = `postNorm`).
 */
import { gemm } from '../geometry/gemm.ts';
import { AtlasError } from '../errors.ts';
import { W, type ActivationKind, type ModelSpec, type NormSpec } from '../model/spec.ts';
import type { Tape } from '../params/backprop.ts';
import type { FloatArray, ParamStore, ParamTensor } from '../params/param-store.ts';
import { activate, allocLike, keyVisible, normForward, normTangent, rotaryTables, rotateHead, softcapInPlace } from '../params/ops.ts';
import { requireLmHead, runBlock, runEmbedNorm, runFinalNorm, type BlockOps } from '../params/block.ts';

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

/** [R, cols]: row 0 the value, rows 1.. tangents. */
interface Rows {
  data: FloatArray;
  cols: number;
}

/**
 * What the tail reads from its text's batch forward: the batch, positions, rotary length and, per block, the
 * keys/values attention saw. A Tape, or (layer-streamed) the same fields with only the current block's kv.
 */
export type TailContext = Pick<Tape, 'batch' | 'positions' | 'ropeSeqLen' | 'layers'>;

/** Index of the last real token of text b (aggregation 'final'). */
export function lastRealPosition(tape: Pick<Tape, 'batch'>, b: number): number {
  const { seqLen: T, attentionMask } = tape.batch;
  for (let t = T - 1; t >= 0; t--) if (attentionMask[b * T + t]) return t;
  throw new AtlasError(`text ${b} has no real token`, { field: 'attentionMask' });
}

/** One token's forward-mode operations (value row + tangent rows) against a taped forward of its text. */
class TangentOps implements BlockOps<Rows> {
  /** Rows in flight: 1 before the seeds, 1 + m after. */
  R = 1;

  /** `weights`: the canonical tensors the next operations read (swapped per block when streaming). */
  constructor(readonly spec: ModelSpec, public weights: Map<string, ParamTensor>, readonly tape: TailContext, readonly b: number, readonly t: number) {}

  w(name: string): FloatArray {
    const x = this.weights.get(name);
    if (!x) throw new Error(`Fisher tail: the spec reads '${name}', which the parameters lack`);
    return x.data;
  }

  norm(n: NormSpec, wName: string, bName: string, x: Rows): Rows {
    const d = x.cols;
    const w = this.w(wName);
    const { y, stats } = normForward(x.data.subarray(0, d) as FloatArray, 1, d, n, w, n.kind === 'layernorm' && n.bias ? this.w(bName) : null);
    const out = allocLike(x.data, this.R * d);
    out.set(y);
    normTangent(x.data, this.R, d, n, w, stats, out);
    return { data: out, cols: d };
  }

  async linear(x: Rows, wName: string, bName: string, hasBias: boolean): Promise<Rows> {
    const Wt = this.weights.get(wName)!;
    const [outDim, inDim] = Wt.shape;
    const y = (await gemm({ rows: this.R, cols: inDim, data: x.data }, { rows: outDim, cols: inDim, data: Wt.data }, { transposeB: true })).data;
    if (hasBias) {
      const bd = this.w(bName);
      for (let j = 0; j < outDim; j++) y[j] += bd[j];
    }
    return { data: y, cols: outDim };
  }

  /**
   * The token's query rows against its visible context (fixed k/v from the tape) and itself, with the
   * linearised softmax (and soft-cap) for the tangent rows.
   */
  async attention(qn: Rows, kn: Rows, vn: Rows, l: number): Promise<Rows> {
    const a = this.spec.blocks[l].attn;
    if (!a.causal) throw new AtlasError('the Fisher tail needs causal attention', { field: 'model', hint: 'use a causal language model' });
    const { tape, b, t, R } = this;
    const T = tape.batch.seqLen;
    const H = a.nHead;
    const hd = a.headDim;
    const rep = H / a.nKvHead;
    const kStride = a.nKvHead * hd;
    const q = qn.data;
    const k = kn.data;
    const v = vn.data;
    if (a.rotary) {
      const tab = rotaryTables(a.rotary, [tape.positions[b * T + t]], tape.ropeSeqLen);
      for (let row = 0; row < R; row++) {
        for (let h = 0; h < H; h++) rotateHead(q, row * H * hd + h * hd, a.rotary, tab.cos, tab.sin, 0, 1);
        for (let h = 0; h < a.nKvHead; h++) rotateHead(k, row * kStride + h * hd, a.rotary, tab.cos, tab.sin, 0, 1);
      }
    }
    const ctx: number[] = [];
    const mask = tape.batch.attentionMask;
    for (let j = 0; j < t; j++) if (mask[b * T + j] && keyVisible(t, j, a.causal, a.window)) ctx.push(j);
    const lt = tape.layers[l];
    const tc = ctx.length;
    const scale = a.scale;
    const out = allocLike(q, R * H * hd);
    const Kc = allocLike(q, tc * hd);
    const Vc = allocLike(q, tc * hd);
    const Qh = allocLike(q, R * hd);
    // z = cap(scale · q·k) for [context…, self]; row 0 values, rows ≥ 1 tangents
    const z = new Float64Array(R * (tc + 1));
    const capD = new Float64Array(tc + 1);
    for (let h = 0; h < H; h++) {
      const ko = Math.floor(h / rep) * hd; // own key/value columns in k/v rows
      // tape k/v are in head layout [B, H, T, hd] with kv heads already expanded to H.
      for (let c = 0; c < tc; c++) {
        const src = ((b * H + h) * T + ctx[c]) * hd;
        Kc.set(lt.k.subarray(src, src + hd), c * hd);
        Vc.set(lt.v.subarray(src, src + hd), c * hd);
      }
      for (let row = 0; row < R; row++) for (let e = 0; e < hd; e++) Qh[row * hd + e] = q[row * H * hd + h * hd + e];
      const S = tc > 0 ? (await gemm({ rows: R, cols: hd, data: Qh }, { rows: tc, cols: hd, data: Kc }, { transposeB: true })).data : allocLike(q, 0);
      for (let row = 0; row < R; row++) {
        for (let c = 0; c < tc; c++) z[row * (tc + 1) + c] = S[row * tc + c] * scale;
        let self = 0;
        for (let e = 0; e < hd; e++) self += Qh[row * hd + e] * k[ko + e] + (row > 0 ? Qh[e] * k[row * kStride + ko + e] : 0);
        z[row * (tc + 1) + tc] = self * scale;
      }
      if (a.softcap !== undefined) {
        softcapInPlace(z, a.softcap, 0, tc + 1, capD);
        for (let row = 1; row < R; row++) for (let c = 0; c <= tc; c++) z[row * (tc + 1) + c] *= capD[c];
      }
      // softmax of row 0; rows ≥ 1: da = a ⊙ (dz − a·dz)
      let max = -Infinity;
      for (let c = 0; c <= tc; c++) max = Math.max(max, z[c]);
      let sum = 0;
      for (let c = 0; c <= tc; c++) sum += z[c] = Math.exp(z[c] - max);
      for (let c = 0; c <= tc; c++) z[c] /= sum;
      for (let row = 1; row < R; row++) {
        const o = row * (tc + 1);
        let mean = 0;
        for (let c = 0; c <= tc; c++) mean += z[c] * z[o + c];
        for (let c = 0; c <= tc; c++) z[o + c] = z[c] * (z[o + c] - mean);
      }
      const P = allocLike(q, R * tc);
      for (let row = 0; row < R; row++) for (let c = 0; c < tc; c++) P[row * tc + c] = z[row * (tc + 1) + c];
      const Oc = tc > 0 ? (await gemm({ rows: R, cols: tc, data: P }, { rows: tc, cols: hd, data: Vc })).data : allocLike(q, R * hd);
      const aSelf = z[tc];
      for (let row = 0; row < R; row++) {
        const o = row * H * hd + h * hd;
        const daSelf = z[row * (tc + 1) + tc];
        for (let e = 0; e < hd; e++) {
          const v0 = v[ko + e];
          out[o + e] = Oc[row * hd + e] + (row === 0 ? aSelf * v0 : daSelf * v0 + aSelf * v[row * kStride + ko + e]);
        }
      }
    }
    return { data: out, cols: H * hd };
  }

  activation(kind: ActivationKind, x: Rows, gate: Rows | null): Rows {
    const F = x.cols;
    const src = gate ?? x;
    const act = allocLike(x.data, F);
    const deriv = allocLike(x.data, F);
    activate(kind, src.data, act, deriv, F);
    const y = allocLike(x.data, this.R * F);
    const xd = x.data;
    if (!gate) {
      for (let j = 0; j < F; j++) {
        y[j] = act[j];
        for (let row = 1; row < this.R; row++) y[row * F + j] = deriv[j] * xd[row * F + j];
      }
    } else {
      const gd = gate.data;
      for (let j = 0; j < F; j++) {
        y[j] = act[j] * xd[j];
        for (let row = 1; row < this.R; row++) y[row * F + j] = deriv[j] * gd[row * F + j] * xd[j] + act[j] * xd[row * F + j];
      }
    }
    return { data: y, cols: F };
  }

  add(a: Rows, b: Rows): Rows {
    const y = allocLike(a.data, a.data.length);
    for (let i = 0; i < y.length; i++) y[i] = a.data[i] + b.data[i];
    return { data: y, cols: a.cols };
  }

  /** The token's embedding (value row only). */
  embed(): Rows {
    const { spec, tape, b, t } = this;
    const e = spec.embed;
    const d = spec.dModel;
    const n = b * tape.batch.seqLen + t;
    const emb = this.w(W.embed);
    const id = tape.batch.ids[n];
    const lp = e.learnedPositions;
    const pos = lp ? this.w(W.pos) : null;
    const po = lp ? (tape.positions[n] + lp.offset) * d : 0;
    const type0 = e.tokenTypes > 0 ? this.w(W.tokenType) : null;
    const x = allocLike(emb, d);
    for (let j = 0; j < d; j++) x[j] = emb[id * d + j] * e.scale + (pos ? pos[po + j] : 0) + (type0 ? type0[j] : 0);
    return { data: x, cols: d };
  }
}

/**
 * One token's tail, run piece by piece — the embeddings, block 0, 1, …, the final norm — each piece reading
 * the canonical weights it is given, so that a layer-streamed caller can hold one block's weights (and the
 * batch forward's keys/values of that block only) at a time. `tokenTail` runs all pieces on one set of weights.
 */
export class TokenTail {
  private readonly ops: TangentOps;
  private x: Rows | undefined;
  private readonly residuals: Float64Array[] = [];
  private m = 0;
  private next = 0;

  /** `t`: the token's position (default: text `b`'s last real token). */
  constructor(readonly spec: ModelSpec, ctx: TailContext, b: number, readonly opts: TailOptions, t?: number) {
    requireLmHead(spec, 'the Fisher metric');
    const L = spec.nLayer;
    const layer = opts.layer;
    if (!Number.isInteger(layer) || layer < 0 || layer > L) throw new AtlasError(`layer ${layer} does not exist: hidden layers are 0..${L}`, { field: 'layer' });
    this.ops = new TangentOps(spec, new Map(), ctx, b, t ?? lastRealPosition(ctx, b));
  }

  /** The token's embedding and the embedding norm. */
  embed(weights: Map<string, ParamTensor>): void {
    this.ops.weights = weights;
    this.x = runEmbedNorm(this.ops, this.spec, this.ops.embed());
  }

  /** Enters layer l: records the residual, and seeds the tangents (or sets the point) at the chosen layer. */
  private enter(l: number): void {
    const { opts, ops } = this;
    const d = this.spec.dModel;
    let x = this.x!;
    if (l === opts.layer && opts.pointValue) for (let j = 0; j < d; j++) x.data[j] = opts.pointValue[j];
    this.residuals.push(Float64Array.from(x.data.subarray(0, d)));
    if (l !== opts.layer || !opts.seeds) return;
    const s = opts.seeds === 'identity' ? null : opts.seeds;
    if (s && s.length % d !== 0) throw new AtlasError(`seed directions have ${s.length} values, not a multiple of d = ${d}`, { field: 'seeds' });
    this.m = s ? s.length / d : d;
    ops.R = 1 + this.m;
    const nx = allocLike(x.data, ops.R * d);
    nx.set(x.data.subarray(0, d));
    if (s) nx.set(s, d);
    else for (let r = 0; r < d; r++) nx[(1 + r) * d + r] = 1;
    this.x = { data: nx, cols: d };
  }

  /** Block l (blocks run in order, after `embed`); the context's layers[l] must hold that block's keys/values. */
  async block(l: number, weights: Map<string, ParamTensor>): Promise<void> {
    if (!this.x || l !== this.next) throw new Error(`TokenTail: block ${l} out of order (expected ${this.next})`);
    this.enter(l);
    this.ops.weights = weights;
    this.x = await runBlock(this.ops, this.spec, l, this.x);
    this.next++;
  }

  /** The final norm (after the last block): the LM head's input and the tangents there. */
  finish(weights: Map<string, ParamTensor>): TailResult {
    const L = this.spec.nLayer;
    if (this.next !== L) throw new Error(`TokenTail: finish after ${this.next} of ${L} blocks`);
    this.enter(L);
    this.ops.weights = weights;
    const d = this.spec.dModel;
    const y = runFinalNorm(this.ops, this.spec, this.x!).data;
    const { residuals, m } = this;
    return {
      point: residuals[this.opts.layer],
      residuals,
      preNorm: residuals[L],
      postNorm: Float64Array.from(y.subarray(0, d)),
      tangents: m > 0 ? (y.subarray(d) as FloatArray) : undefined,
      m,
    };
  }
}

/**
 * Runs text `b`'s token at position `t` (default: its last real token) from the embeddings through every
 * block and the final norm, seeding tangents at layer `opts.layer`. `tape` must come from
 * `forward(params, batch)` on the same parameters.
 */
export async function tokenTail(params: ParamStore, tape: Tape, b: number, opts: TailOptions, t?: number): Promise<TailResult> {
  const weights = params.canonical() as Map<string, ParamTensor>;
  const tail = new TokenTail(params.spec, tape, b, opts, t);
  tail.embed(weights);
  for (let l = 0; l < params.spec.nLayer; l++) await tail.block(l, weights);
  return tail.finish(weights);
}

/**
 * Reverse-mode gradients of the next-token language-modelling loss for any ModelSpec, in float32 or float64.
 *
 * The forward runs the spec's wiring (./block.ts) with operations that compute the whole batch and push their
 * adjoint onto a tape; `backward` replays the tape in reverse. Every product with a weight matrix (and the
 * attention products, batched over batch × heads) runs through onnxruntime's MLAS kernels
 * (src/geometry/gemm.ts, src/geometry/batched-gemm.ts), and so do the big elementwise passes (./ort-rows.ts:
 * the logits softmax, attention's masked softmax and its adjoint, tanh-GELU / SiLU); the other elementwise ops
 * (./ops.ts: norms, rotary, soft-capping, erf-GELU, ReLU) are O(N·d) loops in JavaScript. Per-sample
 * gradients come from the same backward: activation gradients are computed for the whole batch, and only the
 * parameter-gradient reductions (Xᵀ·dY, bias and norm sums, embedding scatters) are split by sample.
 *
 * Weights are the canonical tensors of the spec (ParamStore.canonical()); gradients are reported per STORED
 * tensor through the recipes' adjoint (./stored-gradients.ts), so callers keep naming checkpoint tensors.
 *
 * Padding as in src/model/graph-common.ts: positions are cumsum(mask) - 1, key j is visible to query i iff
 * mask[j] = 1, j <= i (causal) and i - j < window (sliding window).
 *
 * Loss: for text b, loss_b = -Σ_t log p(target[b, t] | tokens ≤ t), summed over its predicted tokens
 * (document normalisation); by default target[b, t] = ids[b, t+1] where both positions are real tokens.
 * The batch loss is Σ_b loss_b, so per-sample gradients sum to the batch gradient. Gradients are those of the
 * loss (negative log-likelihood), i.e. minus the gradient of log p(x).
 */
import { AtlasError } from '../errors.ts';
import { gemm } from '../geometry/gemm.ts';
import { transposeInto } from '../geometry/matrix.ts';
import { bmm } from '../geometry/batched-gemm.ts';
import { W, type ActivationKind, type ModelSpec, type NormSpec, type RotarySpec } from '../model/spec.ts';
import type { ParamStore, ParamTensor } from './param-store.ts';
import { activate, allocLike, keyVisible, normBackward, normForward, rotaryTables, rotateHead, softcapInPlace, type Arr, type OutputAlloc } from './ops.ts';
import { requireLmHead, runBlock, runEmbedNorm, runFinalNorm, type BlockOps } from './block.ts';
import { StoredGradientRouter, type GradientSink } from './stored-gradients.ts';
import { BufferPool } from './buffer-pool.ts';
import { HIDDEN_KEY, activateRows, maskedSoftmax, ortActivation, softmaxBackward, softmaxRows } from './ort-rows.ts';

export type { GradientSink } from './stored-gradients.ts';

export interface TokenBatch {
  /** [batch, seqLen] row-major token ids (padded positions hold any valid id). */
  ids: Int32Array;
  /** [batch, seqLen]: 1 for real tokens, 0 for padding. */
  attentionMask: Uint8Array;
  batch: number;
  seqLen: number;
}

/** A value on the tape: [N, cols] row-major. */
interface Node {
  data: Arr;
  cols: number;
}

/** Keys and values of one block as attention saw them: head layout [B, nHead, T, hd], after rotary, kv heads expanded. */
export interface LayerKV {
  k: Arr;
  v: Arr;
}

/** What a backward step works with. */
interface BackCtx {
  /** The gradient of a node (zeros if nothing reached it); the node's entry is dropped. */
  take(n: Node): Arr;
  /** Adds `g` into a node's gradient; `owned`: `g` is fresh and may be modified (else it is copied on write). */
  acc(n: Node, g: Arr, owned: boolean): void;
  em: Emitter;
}

type Step = (c: BackCtx) => Promise<void> | void;
/** Final-phase contributions (embeddings, LM head weight), run per sample slice so tied tensors complete together. */
type SliceStep = (em: Emitter, slice: Slice) => Promise<void> | void;

/** Activations kept by `forward` for `backward`. */
export interface Tape {
  params: ParamStore;
  spec: ModelSpec;
  batch: TokenBatch;
  positions: Int32Array;
  /** Sequence length the rotary scaling saw (largest position + 1). */
  ropeSeqLen: number;
  layers: LayerKV[];
  /** Input of the LM head (final-norm output), [N, d]. */
  hFinal: Arr;
  /** [N, V] logits (row n = b·T + t), after the final soft-cap when the spec has one. */
  logits: Arr;
  /** softmax(logits) per row, [N, V], and log Σ exp(logits) per row, [N] (what the cross-entropy needs). */
  probs: Arr;
  logSumExp: Arr;
  /** @internal */
  steps: Step[];
  /** @internal */
  sliceSteps: SliceStep[];
  /** @internal */
  logitsNode: Node;
  /** @internal: d logits / d (pre-soft-cap logits), when soft-capped. */
  capDeriv: Arr | null;
  /** @internal: every array the forward took from the parameters' workspace (handed back by a releasing backward). */
  arrays: Arr[];
}

async function mm(a: Arr, aRows: number, aCols: number, b: Arr, bRows: number, bCols: number, transposeA = false, transposeB = false, alloc: OutputAlloc = allocLike, bias?: Arr): Promise<Arr> {
  // a JS output array MLAS writes into directly (onnxruntime would allocate its own and copy it out)
  const out = alloc(a, (transposeA ? aCols : aRows) * (transposeB ? bRows : bCols));
  return (await gemm({ rows: aRows, cols: aCols, data: a }, { rows: bRows, cols: bCols, data: b }, { transposeA, transposeB, out, bias })).data;
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
function toHeads(src: Arr, B: number, T: number, stride: number, H: number, hd: number, rep = 1, alloc: OutputAlloc = allocLike): Arr {
  const out = alloc(src, B * H * T * hd);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const sh = Math.floor(h / rep);
    for (let t = 0; t < T; t++) {
      const so = (b * T + t) * stride + sh * hd;
      const oo = ((b * H + h) * T + t) * hd;
      for (let j = 0; j < hd; j++) out[oo + j] = src[so + j];
    }
  }
  return out;
}

/** Adds head layout [B, H, T, hd] into a [B·T, stride] matrix (the transpose of toHeads: repeated heads sum). */
function addFromHeads(heads: Arr, dst: Arr, B: number, T: number, stride: number, H: number, hd: number, rep = 1): void {
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const sh = Math.floor(h / rep);
    for (let t = 0; t < T; t++) {
      const so = (b * T + t) * stride + sh * hd;
      const oo = ((b * H + h) * T + t) * hd;
      for (let j = 0; j < hd; j++) dst[so + j] += heads[oo + j];
    }
  }
}

/** Rotates every head vector of a head-layout [B, H, T, hd] array at its token's position. */
function rotateAll(x: Arr, B: number, H: number, T: number, hd: number, rot: RotarySpec, tab: { cos: Float64Array; sin: Float64Array }, sign: 1 | -1): void {
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) rotateHead(x, ((b * H + h) * T + t) * hd, rot, tab.cos, tab.sin, b * T + t, sign);
}

type Slice = [sample: number, row0: number, rows: number];

/** Output rows per product when a weight gradient's output is vocabulary-wide (see Emitter.productT). */
const WIDE_CHUNK = 1024;

/** Weight-gradient contributions to one stored tensor held back until its siblings arrive (see Emitter.matmul). */
interface ColumnGroup {
  columns: number;
  want: number;
  parts: { name: string; start: number; x: Arr; xCols: number; dy: Arr; yCols: number }[];
}

/** Reductions of parameter gradients over the batch, or over each sample's rows, handed to the router. */
class Emitter {
  readonly slices: Slice[];
  private readonly groups = new Map<string, ColumnGroup>();
  constructor(readonly router: StoredGradientRouter, B: number, readonly T: number, readonly perSample: boolean, readonly pool: BufferPool | null) {
    this.slices = perSample ? Array.from({ length: B }, (_, b) => [b, b * T, T] as Slice) : [[-1, 0, B * T]];
  }

  emit(name: string, sample: number, g: Arr): void {
    this.router.add(name, sample, g);
  }

  /** A zeroed reduction target: pooled when the sink borrows its arrays (BackwardOptions.reuse), else fresh. */
  private zeros(like: Arr, n: number): Arr {
    return this.pool ? this.pool.take(like, n, true) : allocLike(like, n);
  }

  /**
   * aᵀ·b for a [rows, aCols], b [rows, bCols], written by MLAS straight into a pooled or fresh array (no
   * output copy out of onnxruntime).
   */
  private async productT(a: Arr, aCols: number, b: Arr, bCols: number, rows: number): Promise<Arr> {
    const out = this.pool ? this.pool.take(a, aCols * bCols, false) : allocLike(a, aCols * bCols);
    if (aCols < 2 * WIDE_CHUNK) return (await gemm({ rows, cols: aCols, data: a }, { rows, cols: bCols, data: b }, { transposeA: true, out })).data;
    // Vocabulary-wide aᵀ (the LM head's dlogitsᵀ·h, [V, d] from K = 128 rows): one MLAS call over all V rows
    // of the output runs at 50–80 GFLOP/s on two cores, the same product in row blocks of WIDE_CHUNK on a
    // materialised aᵀ at 1.5–3× that (measured in this shape); each output element is still one dot product
    // over the same K terms in the same kernel, so the values do not change.
    const aT = this.pool ? this.pool.take(a, a.length, false) : allocLike(a, a.length);
    transposeInto(a, rows, aCols, aT);
    for (let c0 = 0; c0 < aCols; c0 += WIDE_CHUNK) {
      const c = Math.min(WIDE_CHUNK, aCols - c0);
      await gemm({ rows: c, cols: rows, data: aT.subarray(c0 * rows, (c0 + c) * rows) as Arr }, { rows, cols: bCols, data: b }, { out: out.subarray(c0 * bCols, (c0 + c) * bCols) as Arr });
    }
    this.pool?.give(aT);
    return out;
  }

  /**
   * Weight gradient of y = x·Wᵀ, W [out, in]: dW = dyᵀ·x per slice (xᵀ·dy when the stored tensor is Wᵀ).
   * Canonical tensors that are column ranges of one transposed stored tensor (GPT-2's c_attn → W_Q, W_K,
   * W_V, all read from the same x) are held until the last one arrives and then computed as one product
   * xᵀ·[dy_Q dy_K dy_V] per sample, directly in the stored layout (no per-range scatter).
   */
  async matmul(name: string, x: Arr, xCols: number, dy: Arr, yCols: number, only?: Slice): Promise<void> {
    const range = only ? null : this.router.columnRange(name);
    if (!range) {
      for (const slice of only ? [only] : this.slices) await this.single(name, x, xCols, dy, yCols, slice);
      return;
    }
    let g = this.groups.get(range.from);
    if (!g) this.groups.set(range.from, (g = { columns: range.columns, want: range.parts, parts: [] }));
    g.parts.push({ name, start: range.start, x, xCols, dy, yCols });
    if (g.parts.length < g.want) return;
    this.groups.delete(range.from);
    await this.fused(range.from, g);
  }

  private async single(name: string, x: Arr, xCols: number, dy: Arr, yCols: number, [s, r0, rows]: Slice): Promise<void> {
    const xs = x.subarray(r0 * xCols, (r0 + rows) * xCols) as Arr;
    const ds = dy.subarray(r0 * yCols, (r0 + rows) * yCols) as Arr;
    if (this.router.transposed(name)) this.router.addTransposed(name, s, await this.productT(xs, xCols, ds, yCols, rows));
    else this.emit(name, s, await this.productT(ds, yCols, xs, xCols, rows));
  }

  private async fused(from: string, g: ColumnGroup): Promise<void> {
    const parts = [...g.parts].sort((a, b) => a.start - b.start);
    const { x, xCols } = parts[0]!;
    let next = 0;
    for (const p of parts) {
      if (p.x !== x || p.start !== next) break;
      next += p.yCols;
    }
    if (next !== g.columns) {
      // not a tiling of the stored columns by products of one input: each range on its own
      for (const p of g.parts) for (const slice of this.slices) await this.single(p.name, p.x, p.xCols, p.dy, p.yCols, slice);
      return;
    }
    const C = g.columns;
    const N = x.length / xCols;
    const dcat = this.pool ? this.pool.take(x, N * C, false) : allocLike(x, N * C);
    for (const p of parts) for (let n = 0; n < N; n++) dcat.set(p.dy.subarray(n * p.yCols, (n + 1) * p.yCols), n * C + p.start);
    for (const [s, r0, rows] of this.slices) {
      const gT = await this.productT(x.subarray(r0 * xCols, (r0 + rows) * xCols) as Arr, xCols, dcat.subarray(r0 * C, (r0 + rows) * C) as Arr, C, rows);
      this.router.addStoredTransposed(from, s, gT, parts.length);
    }
    this.pool?.give(dcat);
  }

  /** Groups still waiting (a stored tensor with other kinds of contributions too): each range on its own. */
  async flush(): Promise<void> {
    for (const g of this.groups.values()) for (const p of g.parts) for (const slice of this.slices) await this.single(p.name, p.x, p.xCols, p.dy, p.yCols, slice);
    this.groups.clear();
  }

  /** [slices, N] with row k = 1 on slice k's rows: S·v sums v's rows per slice. */
  private selector(like: Arr): Arr {
    const f64 = like instanceof Float64Array;
    let S = f64 ? this.selector64 : this.selector32;
    if (!S) {
      const N = this.slices.reduce((n, [, , rows]) => n + rows, 0);
      S = allocLike(like, this.slices.length * N);
      this.slices.forEach(([, r0, rows], k) => S!.fill(1, k * N + r0, k * N + r0 + rows));
      if (f64) this.selector64 = S;
      else this.selector32 = S;
    }
    return S;
  }
  private selector32: Arr | null = null;
  private selector64: Arr | null = null;

  /**
   * Σ_rows v[row, j]·(w ? w[row, j] : 1) per slice: bias and norm-weight gradients, as one product S·v with
   * the slice selector S instead of a JS loop over all rows.
   */
  async colSum(name: string, v: Arr, cols: number, w?: Arr): Promise<void> {
    const N = v.length / cols;
    let src = v;
    if (w) {
      src = this.pool ? this.pool.take(v, v.length, false) : allocLike(v, v.length);
      for (let i = 0; i < v.length; i++) src[i] = v[i] * w[i];
    }
    const K = this.slices.length;
    const sums = (await gemm({ rows: K, cols: N, data: this.selector(v) }, { rows: N, cols, data: src })).data;
    if (w) this.pool?.give(src);
    this.slices.forEach(([s], k) => {
      const g = this.pool ? this.pool.take(v, cols, false) : allocLike(v, cols);
      g.set(sums.subarray(k * cols, (k + 1) * cols));
      this.emit(name, s, g);
    });
  }
}

/** Forward operations over the whole batch, recording adjoints. */
class Recorder implements BlockOps<Node> {
  readonly steps: Step[] = [];
  readonly sliceSteps: SliceStep[] = [];
  readonly layers: LayerKV[] = [];
  /** Softmax of the logits and their log-sum-exp per row (set by unembed). */
  softmax: { p: Arr; lse: Arr } | null = null;
  private readonly maskCache = new Map<string, { mask: Arr; blind: number[] }>();
  private readonly rotaryCache = new Map<RotarySpec, { cos: Float64Array; sin: Float64Array }>();
  readonly N: number;
  /** The arrays taken from `pool` (the tape's, handed back when a backward releases it). */
  readonly arrays: Arr[] = [];
  /** Output arrays of the forward's operations (all elements written): from the workspace when there is one. */
  readonly out: OutputAlloc;

  constructor(readonly spec: ModelSpec, readonly weights: Map<string, ParamTensor>, readonly batch: TokenBatch, readonly positions: Int32Array, readonly ropeSeqLen: number, readonly f64: boolean, private readonly pool: BufferPool | null = null) {
    this.N = batch.batch * batch.seqLen;
    this.out = (like, n) => this.buf(like, n, false);
  }

  /** An array for the tape: pooled (zeroed when `zero`) when the recorder has a workspace and it is big, else fresh. */
  private buf(like: Arr, n: number, zero: boolean): Arr {
    if (!this.pool || !pooled(like, n)) return allocLike(like, n);
    const a = this.pool.take(like, n, zero);
    this.arrays.push(a);
    return a;
  }

  private zeros(n: number): Arr {
    const like = this.f64 ? Float64Array.of() : Float32Array.of();
    return this.buf(like, n, true);
  }

  w(name: string): ParamTensor {
    const t = this.weights.get(name);
    if (!t) throw new Error(`gradient engine: the spec reads '${name}', which the parameters lack`);
    return t;
  }

  norm(n: NormSpec, wName: string, bName: string, x: Node): Node {
    const d = x.cols;
    const w = this.w(wName).data;
    const hasB = n.kind === 'layernorm' && n.bias;
    const { y, stats } = normForward(x.data, this.N, d, n, w, hasB ? this.w(bName).data : null, this.out);
    const out: Node = { data: y, cols: d };
    this.steps.push(async (c) => {
      const dy = c.take(out);
      await c.em.colSum(wName, dy, d, stats.xhat);
      if (hasB) await c.em.colSum(bName, dy, d);
      c.acc(x, normBackward(dy, stats, d, n, w), true);
    });
    return out;
  }

  async linear(x: Node, wName: string, bName: string, hasBias: boolean): Promise<Node> {
    const Wt = this.w(wName);
    const [outDim, inDim] = Wt.shape;
    const N = this.N;
    // the bias is added inside the product's MLAS call (no second pass over the output)
    const y = await mm(x.data, N, inDim, Wt.data, outDim, inDim, false, true, this.out, hasBias ? this.w(bName).data : undefined);
    const out: Node = { data: y, cols: outDim };
    this.steps.push(async (c) => {
      const dy = c.take(out);
      await c.em.matmul(wName, x.data, inDim, dy, outDim);
      if (hasBias) await c.em.colSum(bName, dy, outDim);
      c.acc(x, await mm(dy, N, outDim, Wt.data, outDim, inDim), true);
    });
    return out;
  }

  /**
   * The additive key mask [B, T, T] of one visibility rule (0 where key j is visible to query i: a real token,
   * causal order, the window; HIDDEN_KEY elsewhere) and the rows b·T + i that see no key at all.
   */
  private keyMask(causal: boolean, window: number | undefined): { mask: Arr; blind: number[] } {
    const key = `${causal}|${window}`;
    let m = this.maskCache.get(key);
    if (!m) {
      const { batch: B, seqLen: T, attentionMask: am } = this.batch;
      const mask = (this.f64 ? new Float64Array(B * T * T) : new Float32Array(B * T * T)).fill(HIDDEN_KEY);
      const blind: number[] = [];
      for (let b = 0; b < B; b++) for (let i = 0; i < T; i++) {
        let seen = false;
        for (let j = 0; j < T; j++) if (am[b * T + j] && keyVisible(i, j, causal, window)) {
          mask[(b * T + i) * T + j] = 0;
          seen = true;
        }
        if (!seen) blind.push(b * T + i);
      }
      this.maskCache.set(key, (m = { mask, blind }));
    }
    return m;
  }

  private rotary(rot: RotarySpec): { cos: Float64Array; sin: Float64Array } {
    let t = this.rotaryCache.get(rot);
    if (!t) this.rotaryCache.set(rot, (t = rotaryTables(rot, this.positions, this.ropeSeqLen)));
    return t;
  }

  async attention(q: Node, k: Node, v: Node, layer: number): Promise<Node> {
    const a = this.spec.blocks[layer].attn;
    const { batch: B, seqLen: T, attentionMask: mask } = this.batch;
    const H = a.nHead;
    const hd = a.headDim;
    const rep = H / a.nKvHead;
    const kvCols = a.nKvHead * hd;
    const qh = toHeads(q.data, B, T, H * hd, H, hd, 1, this.out);
    const kh = toHeads(k.data, B, T, kvCols, H, hd, rep, this.out);
    const vh = toHeads(v.data, B, T, kvCols, H, hd, rep, this.out);
    const rot = a.rotary;
    if (rot) {
      const tab = this.rotary(rot);
      rotateAll(qh, B, H, T, hd, rot, tab, 1);
      rotateAll(kh, B, H, T, hd, rot, tab, 1);
    }
    const G = B * H;
    const scores = await bmm(qh, kh, { g: G, m: T, k: hd, n: T, transB: true });
    const scale = a.scale;
    // Gemma-2 soft-caps the scaled scores: scale and cap here, then the softmax sees them unscaled
    const capDeriv = a.softcap !== undefined ? this.out(scores, scores.length) : null;
    if (a.softcap !== undefined) {
      for (let i = 0; i < scores.length; i++) scores[i] *= scale;
      softcapInPlace(scores, a.softcap, 0, scores.length, capDeriv!);
    }
    const km = this.keyMask(a.causal, a.window);
    const p = await maskedSoftmax(scores, km.mask, B, H, T, capDeriv ? 1 : scale, this.out);
    // A query that sees no key (a left pad) gets zero output; nothing real depends on it.
    for (const r of km.blind) {
      const b = Math.floor(r / T), i = r % T;
      for (let h = 0; h < H; h++) p.fill(0, ((b * H + h) * T + i) * T, ((b * H + h) * T + i + 1) * T);
    }
    const oh = await bmm(p, vh, { g: G, m: T, k: T, n: hd });
    const o = this.zeros(this.N * H * hd);
    addFromHeads(oh, o, B, T, H * hd, H, hd);
    this.layers[layer] = { k: kh, v: vh };
    const out: Node = { data: o, cols: H * hd };
    this.steps.push(async (c) => {
      const dOh = toHeads(c.take(out), B, T, H * hd, H, hd);
      const dp = await bmm(dOh, vh, { g: G, m: T, k: hd, n: T, transB: true });
      const dv = await bmm(p, dOh, { g: G, m: T, k: T, n: hd, transA: true });
      const ds = await softmaxBackward(p, dp, G * T, T, scale);
      if (capDeriv) for (let i = 0; i < ds.length; i++) ds[i] *= capDeriv[i];
      const dq = await bmm(ds, kh, { g: G, m: T, k: T, n: hd });
      const dk = await bmm(ds, qh, { g: G, m: T, k: T, n: hd, transA: true });
      if (rot) {
        const tab = this.rotary(rot);
        rotateAll(dq, B, H, T, hd, rot, tab, -1);
        rotateAll(dk, B, H, T, hd, rot, tab, -1);
      }
      const dqm = allocLike(dq, this.N * H * hd);
      const dkm = allocLike(dq, this.N * kvCols);
      const dvm = allocLike(dq, this.N * kvCols);
      addFromHeads(dq, dqm, B, T, H * hd, H, hd);
      addFromHeads(dk, dkm, B, T, kvCols, H, hd, rep);
      addFromHeads(dv, dvm, B, T, kvCols, H, hd, rep);
      c.acc(q, dqm, true);
      c.acc(k, dkm, true);
      c.acc(v, dvm, true);
    });
    return out;
  }

  async activation(kind: ActivationKind, x: Node, gate: Node | null): Promise<Node> {
    const n = x.data.length;
    const src = gate ?? x;
    let act: Arr, deriv: Arr;
    if (ortActivation(kind)) ({ y: act, dy: deriv } = await activateRows(kind, src.data, this.out));
    else {
      act = this.out(x.data, n);
      deriv = this.out(x.data, n);
      activate(kind, src.data, act, deriv);
    }
    let y = act;
    if (gate) {
      y = this.out(x.data, n);
      for (let i = 0; i < n; i++) y[i] = act[i] * x.data[i];
    }
    const out: Node = { data: y, cols: x.cols };
    this.steps.push((c) => {
      const dy = c.take(out);
      if (!gate) {
        const dx = allocLike(dy, n);
        for (let i = 0; i < n; i++) dx[i] = dy[i] * deriv[i];
        c.acc(x, dx, true);
        return;
      }
      const dx = allocLike(dy, n);
      const dg = allocLike(dy, n);
      const xd = x.data;
      for (let i = 0; i < n; i++) {
        dx[i] = dy[i] * act[i];
        dg[i] = dy[i] * xd[i] * deriv[i];
      }
      c.acc(x, dx, true);
      c.acc(gate, dg, true);
    });
    return out;
  }

  add(a: Node, b: Node): Node {
    const y = this.out(a.data, a.data.length);
    for (let i = 0; i < y.length; i++) y[i] = a.data[i] + b.data[i];
    const out: Node = { data: y, cols: a.cols };
    this.steps.push((c) => {
      const dy = c.take(out);
      c.acc(a, dy, false);
      c.acc(b, dy, false);
    });
    return out;
  }

  /** Token embedding × scale + learned position + token type 0. */
  embed(): Node {
    const { ids } = this.batch;
    const e = this.spec.embed;
    const d = this.spec.dModel;
    const N = this.N;
    const emb = this.w(W.embed).data;
    const lp = e.learnedPositions;
    const pos = lp ? this.w(W.pos).data : null;
    const type0 = e.tokenTypes > 0 ? this.w(W.tokenType).data : null;
    const h = this.zeros(N * d);
    for (let n = 0; n < N; n++) {
      const eo = ids[n] * d;
      const po = lp ? (this.positions[n] + lp.offset) * d : 0;
      for (let j = 0; j < d; j++) h[n * d + j] = emb[eo + j] * e.scale + (pos ? pos[po + j] : 0) + (type0 ? type0[j] : 0);
    }
    const out: Node = { data: h, cols: d };
    let dh: Arr | undefined;
    this.steps.push((c) => {
      dh = c.take(out);
    });
    const V = this.spec.vocabSize;
    this.sliceSteps.push((em, [s, r0, rows]) => {
      const slice = dh!.subarray(r0 * d, (r0 + rows) * d) as Arr;
      const scaled = e.scale === 1 ? slice : slice.map((x) => x * e.scale);
      em.router.addRows(W.embed, s, ids.subarray(r0, r0 + rows), scaled, d, [V, d]);
      if (lp) em.router.addRows(W.pos, s, this.positions.subarray(r0, r0 + rows).map((p) => p + lp.offset), slice, d, [lp.rows, d]);
      if (type0) em.router.addRows(W.tokenType, s, new Int32Array(rows), slice, d, [e.tokenTypes, d]);
    });
    return out;
  }

  /** logits = x·W_Uᵀ + b_U, soft-capped; the weight gradient waits for the final phase (it may share storage with W_E). */
  async unembed(x: Node): Promise<{ logits: Node; capDeriv: Arr | null }> {
    const u = this.spec.unembed!;
    const Wu = this.w(W.unembed);
    const [V, d] = Wu.shape;
    const N = this.N;
    const z = await mm(x.data, N, d, Wu.data, V, d, false, true, this.out, u.bias ? this.w(W.unembedBias).data : undefined);
    const capDeriv = u.softcap !== undefined ? this.out(z, z.length) : null;
    if (u.softcap !== undefined) softcapInPlace(z, u.softcap, 0, z.length, capDeriv!);
    const out: Node = { data: z, cols: V };
    this.softmax = await softmaxRows(z, N, V, this.out);
    let dz: Arr | undefined;
    this.steps.push(async (c) => {
      dz = c.take(out);
      if (u.bias) await c.em.colSum(W.unembedBias, dz, V);
      c.acc(x, await mm(dz, N, V, Wu.data, V, d), true);
    });
    this.sliceSteps.push((em, slice) => em.matmul(W.unembed, x.data, d, dz!, V, slice));
    return { logits: out, capDeriv };
  }
}

/** Checks a batch's ids against the vocabulary; its positions and the length the rotary scaling sees. */
function prepareBatch(spec: ModelSpec, batch: TokenBatch): { positions: Int32Array; ropeSeqLen: number } {
  const { batch: B, seqLen: T, ids, attentionMask: mask } = batch;
  if (ids.length !== B * T || mask.length !== B * T) throw new Error(`forward: ids/attentionMask must hold batch×seqLen = ${B * T} values`);
  const N = B * T;
  const V = spec.vocabSize;
  for (let i = 0; i < N; i++) {
    if (!(ids[i] >= 0 && ids[i] < V)) throw new AtlasError(`token id ${ids[i]} is outside the vocabulary (0..${V - 1})`, { field: 'vocab_size', hint: 'the tokenizer does not match the model' });
  }
  const lp = spec.embed.learnedPositions;
  const positions = positionsOf(batch, lp ? Math.min(spec.maxPositions, lp.rows - lp.offset) : spec.maxPositions);
  let ropeSeqLen = 1;
  for (const p of positions) ropeSeqLen = Math.max(ropeSeqLen, p + 1);
  return { positions, ropeSeqLen };
}

/**
 * The forward of one batch, one piece at a time — the embeddings, then block 0, 1, … — each piece reading only
 * its own canonical weights and keeping nothing for a backward. For callers that hold one block's weights at a
 * time (the layer-streamed Fisher metrics, src/fisher/compute.ts). The operations are `forward`'s own, so the
 * residual stream and each block's keys/values are bitwise those of `forward`'s tape.
 */
export class PiecewiseForward {
  readonly positions: Int32Array;
  readonly ropeSeqLen: number;
  /** The residual stream [batch·seqLen, dModel] after the pieces run so far. */
  private h: Arr | undefined;

  constructor(readonly spec: ModelSpec, readonly batch: TokenBatch, readonly f64: boolean) {
    ({ positions: this.positions, ropeSeqLen: this.ropeSeqLen } = prepareBatch(spec, batch));
  }

  private recorder(weights: Map<string, ParamTensor>): Recorder {
    return new Recorder(this.spec, weights, this.batch, this.positions, this.ropeSeqLen, this.f64);
  }

  /** Token (+ position, type) embeddings and the embedding norm. */
  embed(weights: Map<string, ParamTensor>): void {
    const rec = this.recorder(weights);
    this.h = runEmbedNorm(rec, this.spec, rec.embed()).data;
  }

  /** Applies block `l` to the residual stream; returns the keys/values its attention saw (as Tape.layers[l]). */
  async block(l: number, weights: Map<string, ParamTensor>): Promise<LayerKV> {
    if (!this.h) throw new Error('PiecewiseForward.block before embed');
    const rec = this.recorder(weights);
    this.h = (await runBlock(rec, this.spec, l, { data: this.h, cols: this.spec.dModel })).data;
    return rec.layers[l]!;
  }
}

/** Forward pass keeping what the backward needs. */
export async function forward(params: ParamStore, batch: TokenBatch): Promise<Tape> {
  const spec = params.spec;
  requireLmHead(spec, 'the next-token loss');
  const { positions: pos, ropeSeqLen } = prepareBatch(spec, batch);
  const rec = new Recorder(spec, params.canonical() as Map<string, ParamTensor>, batch, pos, ropeSeqLen, params.isFloat64, workspace(params));
  let h = runEmbedNorm(rec, spec, rec.embed());
  for (let l = 0; l < spec.nLayer; l++) h = await runBlock(rec, spec, l, h);
  const hf = runFinalNorm(rec, spec, h);
  const { logits, capDeriv } = await rec.unembed(hf);
  return {
    params, spec, batch, positions: pos, ropeSeqLen, layers: rec.layers, hFinal: hf.data, logits: logits.data, probs: rec.softmax!.p, logSumExp: rec.softmax!.lse,
    steps: rec.steps, sliceSteps: rec.sliceSteps, logitsNode: logits, capDeriv, arrays: rec.arrays,
  };
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
  const V = tape.spec.vocabSize;
  const L = tape.logits;
  const lse = tape.logSumExp;
  // dl = scale·(softmax − onehot(target)) on predicted rows, 0 elsewhere; the softmax comes from the forward
  const dl = pooled(tape.probs, tape.probs.length) ? workspace(tape.params).take(tape.probs, tape.probs.length, false) : allocLike(tape.probs, tape.probs.length);
  dl.set(tape.probs);
  const perSampleLoss = new Float64Array(B);
  const tokens = new Int32Array(B);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
    const n = b * T + t;
    const y = targets[n];
    const o = n * V;
    if (y < 0) {
      dl.fill(0, o, o + V);
      continue;
    }
    perSampleLoss[b] += lse[n] - L[o + y];
    tokens[b]++;
    if (scale !== 1) for (let j = o; j < o + V; j++) dl[j] *= scale;
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

/**
 * Buffers shared by the forwards and backwards of one parameter store, across batches: gradient arrays of
 * reusing backwards (BackwardOptions.reuse) and the activations and logits of released tapes
 * (BackwardOptions.release). A forward takes its tape's arrays from here when there are (only dead arrays
 * are ever handed back), so a training or Fisher loop over same-shaped batches stops allocating (page
 * faults, garbage collection) after its first batch. Trimmed after every releasing backward to what that
 * batch used; it lives as long as the store.
 */
const workspaces = new WeakMap<ParamStore, BufferPool>();
/**
 * Activations and scratch arrays are pooled from 32 MiB (GPT-2 small: the [tokens, vocab] logits, their
 * softmax, dlogits): glibc maps every allocation that big fresh and unmaps it on free (32 MiB is its
 * largest mmap threshold), so each use pays a page fault per 4 KiB (measured ~17 µs each on the bench
 * machine). Smaller ones come from malloc's heap, which recycles them itself; pooling those too only moved
 * the faults into onnxruntime's own temporaries.
 */
const POOL_BYTES = 32 * 2 ** 20;
const pooled = (like: Arr, n: number): boolean => n * like.BYTES_PER_ELEMENT >= POOL_BYTES;
function workspace(params: ParamStore): BufferPool {
  let p = workspaces.get(params);
  if (!p) workspaces.set(params, (p = new BufferPool()));
  return p;
}

export interface BackwardOptions {
  /** Per-sample parameter gradients (sink called with sample ≥ 0) instead of batch sums. Default false. */
  perSample?: boolean;
  /**
   * The sink only reads each array during its call (accumulates, reduces, writes it out) and keeps none:
   * the engine then reuses the arrays for later tensors and samples instead of allocating ~2 GB of fresh
   * ones per GPT-2-small batch of 4. Default false (the arrays are fresh and may be kept).
   */
  reuse?: boolean;
  /**
   * The tape and `dLogits` are dead after this call (nothing reads the tape's fields, nor a crossEntropy
   * result's dLogits, again): their arrays go back to the parameters' workspace for the next forward.
   * Default false.
   */
  release?: boolean;
}

/**
 * Backpropagates `dLogits` (w.r.t. the tape's logits) through the taped forward, handing every stored
 * parameter tensor's gradient to `sink`: once per tensor and sample (`sample` ≥ 0) in per-sample mode, once
 * per tensor (`sample` = -1) otherwise. The arrays are fresh and may be kept, unless `opts.reuse`.
 */
export async function backward(tape: Tape, dLogits: Arr, sink: GradientSink, opts: BackwardOptions = {}): Promise<void> {
  const { batch: B, seqLen: T } = tape.batch;
  const pool = opts.reuse ? workspace(tape.params) : null;
  const router = new StoredGradientRouter(tape.params.layout.recipes, sink, pool);
  const em = new Emitter(router, B, T, opts.perSample ?? false, pool);
  const grads = new Map<Node, { g: Arr; owned: boolean }>();
  const ctx: BackCtx = {
    em,
    take(n) {
      const e = grads.get(n);
      grads.delete(n);
      return e ? e.g : allocLike(n.data, n.data.length);
    },
    acc(n, g, owned) {
      const e = grads.get(n);
      if (!e) {
        grads.set(n, { g, owned });
        return;
      }
      if (!e.owned) {
        if (owned) {
          for (let i = 0; i < g.length; i++) g[i] += e.g[i];
          grads.set(n, { g, owned: true });
          return;
        }
        e.g = e.g.slice() as Arr;
        e.owned = true;
      }
      const t = e.g;
      for (let i = 0; i < t.length; i++) t[i] += g[i];
    },
  };
  const ws = workspace(tape.params);
  let dz = dLogits;
  if (tape.capDeriv) {
    const cd = tape.capDeriv;
    dz = pooled(dLogits, dLogits.length) ? ws.take(dLogits, dLogits.length, false) : allocLike(dLogits, dLogits.length);
    for (let i = 0; i < dz.length; i++) dz[i] = dLogits[i] * cd[i];
  }
  grads.set(tape.logitsNode, { g: dz, owned: false });
  for (let i = tape.steps.length - 1; i >= 0; i--) await tape.steps[i](ctx);
  await em.flush();
  // per sample: the LM head's weight gradient, then the embedding scatters (a tied W_U and W_E complete together)
  for (const slice of em.slices) for (let i = tape.sliceSteps.length - 1; i >= 0; i--) await tape.sliceSteps[i](em, slice);
  router.finish();
  if (opts.release) {
    for (const a of tape.arrays) ws.give(a);
    for (const a of new Set([dLogits, dz])) if (pooled(a, a.length)) ws.give(a);
    tape.arrays.length = 0;
  }
  ws.trim();
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
  /** Batch gradient by stored parameter name (perSample false). */
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

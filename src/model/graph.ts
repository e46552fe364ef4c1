/**
 * The ONE forward graph builder: any ModelSpec (src/model/spec.ts) + its canonical weights → an ONNX graph
 * that returns exactly the requested hook points (and logits). Nothing here knows an architecture by name;
 * every branch reads the spec.
 *
 * Layout: the residual stream is a 2-D [B*T, d] tensor, so every projection is one Gemm with a constant
 * weight (pre-packed by onnxruntime) and a fused bias: q/k/v are one Gemm on their stacked weights, gate/up
 * one Gemm. Fused onnxruntime kernels are used where the spec allows: com.microsoft Attention (multi-head,
 * no rotary, no softcap, no window, no attention hooks on that layer), FastGelu / Gelu,
 * LayerNormalization, SimplifiedLayerNormalization (RMSNorm; Gemma's (1 + w) is folded into the constant).
 *
 * Padding (why outputs do not depend on padding side or batch composition):
 * - position ids are cumsum(attention_mask) - 1, clamped at 0, so a text's first real token has position 0
 *   whether it is left- or right-padded (HF `generate` does the same; HF's plain forward uses arange(T), which
 *   coincides for unpadded and right-padded texts). Learned tables read row position + offset (OPT 2,
 *   RoBERTa padding_idx + 1), as HF's cumsum-based position ids for those models do;
 * - key j is visible to query i iff attention_mask[b, j] = 1, and for causal blocks j <= i, and with a
 *   sliding window i - j < window;
 * - values AT padded positions are finite but meaningless and must be ignored by callers.
 *
 * Rotary embeddings: 'half' style (HF rotate_half) directly; 'interleaved' (GPT-J, llama2.c) by permuting the
 * rows of W_Q / W_K (and b_Q / b_K) within each head so that pairs (2e, 2e+1) become (e, e + dims/2): scores
 * q·k are unchanged by one permutation applied to both, and only half-style rotation is emitted.
 */
import { AtlasError } from '../errors.ts';
import { type BlockSpec, type HookPoint, type ModelSpec, type NormSpec, type RotarySpec, W, hookName } from './spec.ts';
import type { F32Tensor } from './tensor.ts';
import { GraphBuilder } from './onnx-builder.ts';
import type { ScratchBuffer } from './scratch.ts';

/** What the graph reads weights from (CanonicalWeights satisfies it). */
export interface CanonicalTensorSource {
  /** With `scratch` the result may be a view of it, valid until its next use (scratch.ts). */
  get(name: string, scratch?: ScratchBuffer): F32Tensor;
  /**
   * With `lazy` and `shape`: weights that feed the graph unchanged become lazy initializers (read when the graph
   * is serialised, one at a time: GraphBuilder.lazyInitializer), so a big model is never held whole in JS.
   */
  lazy?: boolean;
  shape?(name: string): number[];
}

export interface ForwardRequest {
  /** Hook points to return (spec.ts); output names are `hookName(h)`. */
  hooks: HookPoint[];
  /** Logits for every position, for each text's last real token, or none. */
  logits: 'none' | 'all' | 'last';
}

export interface GraphOptions {
  /** Use onnxruntime's fused com.microsoft Attention where the spec allows (default true). */
  fusedAttention?: boolean;
  /**
   * Build only blocks first..last (inclusive) of the same graph, for layer-streamed execution
   * (streamed-runtime.ts). A segment with first > 0 reads the residual stream from input `resid_in`
   * [B, T, d] instead of embedding the ids; one that ends before the model's last needed block returns the
   * residual after block `last` as output `resid_out`. The embeddings belong to the segment with first = 0,
   * the final norm and unembedding to the one with last = nLayer - 1. Only hooks inside the segment may be
   * requested. `through` is the last block the whole request needs (lastNeededBlock of the whole-model
   * request), so a segment's blocks are wired exactly as in the whole graph. Whole-model and segment graphs
   * are the same code, so their values agree.
   */
  segment?: { first: number; last: number; through: number };
}

export interface ForwardGraph {
  graph: GraphBuilder;
  /** Output names of the requested hooks, in request order. */
  hooks: string[];
  /** 'logits' when requested. */
  logits?: string;
  /** A segment's residual output (`resid_out`) when a later block still needs it. */
  residOut?: string;
}

export const INPUT_IDS = 'input_ids';
export const ATTENTION_MASK = 'attention_mask';
export const LOGITS = 'logits';
/** Residual stream into / out of a segment graph (GraphOptions.segment). */
export const RESID_IN = 'resid_in';
export const RESID_OUT = 'resid_out';

/**
 * The last block a request needs over the whole model (-1: embeddings only). Segment builders must use the
 * whole-model value so that a segment's blocks are wired as in the whole graph.
 */
export function lastNeededBlock(spec: ModelSpec, request: ForwardRequest): number {
  const L = spec.nLayer;
  const needHead = request.logits !== 'none' || request.hooks.some((h) => h.kind === 'final');
  return needHead ? L - 1 : Math.max(-1, ...request.hooks.map((h) => (h.kind === 'final' ? L - 1 : h.layer)));
}

/** Additive mask value: exp(score - 1e9) underflows to exactly 0 in float32, and fully masked rows stay finite. */
const MASKED = -1e9;

/** Shape of a hook's output for a batch of B texts of T tokens. */
export function hookShape(spec: ModelSpec, h: HookPoint, B: number, T: number): number[] {
  if (h.kind === 'final') return [B, T, spec.dModel];
  const b = spec.blocks[h.layer]!;
  switch (h.kind) {
    case 'mlp_post': return [B, T, b.mlp.dFF];
    case 'attn_pattern': return [B, b.attn.nHead, T, T];
    case 'attn_pattern_last': return [B, b.attn.nHead, T];
    case 'attn_v': return [B, T, b.attn.nKvHead * b.attn.headDim];
    default: return [B, T, spec.dModel];
  }
}

/** AtlasError unless every hook exists in this spec. */
export function checkHooks(spec: ModelSpec, hooks: HookPoint[]): void {
  for (const h of hooks) {
    if (h.kind === 'final') {
      if (!spec.finalNorm) throw new AtlasError(`a ${spec.modelType} model has no final norm (use resid_post of layer ${spec.nLayer - 1})`, { field: 'hook final' });
      continue;
    }
    if (!Number.isInteger(h.layer) || h.layer < 0 || h.layer >= spec.nLayer) {
      throw new AtlasError(`layer ${h.layer} does not exist: blocks are 0..${spec.nLayer - 1}`, { field: `hook ${h.kind}` });
    }
    if (h.kind === 'resid_mid' && spec.blocks[h.layer]!.residual === 'parallel') {
      throw new AtlasError(`a ${spec.modelType} block adds attention and MLP in parallel: there is no residual between them`, { field: 'hook resid_mid' });
    }
  }
}

/** inv_freq of a rotary spec with static scaling (linear / llama3 applied; dynamic is done in the graph). */
export function rotaryInvFreq(r: RotarySpec): Float32Array {
  const half = r.dims / 2;
  const inv = Float64Array.from({ length: half }, (_, e) => Math.pow(r.base, (-2 * e) / r.dims));
  const s = r.scaling;
  if (s.type === 'linear') for (let e = 0; e < half; e++) inv[e]! /= s.factor;
  if (s.type === 'llama3') {
    const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositions / s.highFreqFactor;
    for (let e = 0; e < half; e++) {
      const f = inv[e]!;
      const wavelen = (2 * Math.PI) / f;
      if (wavelen > lowWavelen) inv[e] = f / s.factor;
      else if (wavelen >= highWavelen) {
        const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        inv[e] = (1 - smooth) * (f / s.factor) + smooth * f;
      }
    }
  }
  return Float32Array.from(inv);
}

/** Row permutation within each head that turns interleaved rotary pairs into half-split ones. */
function interleavedToHalf(data: Float32Array, heads: number, headDim: number, dims: number, width: number): Float32Array {
  const out = new Float32Array(data.length);
  const half = dims / 2;
  for (let h = 0; h < heads; h++) {
    for (let k = 0; k < headDim; k++) {
      const src = k >= dims ? k : k < half ? 2 * k : 2 * (k - half) + 1;
      out.set(data.subarray((h * headDim + src) * width, (h * headDim + src + 1) * width), (h * headDim + k) * width);
    }
  }
  return out;
}

class Ctx {
  readonly g: GraphBuilder;
  readonly shapeBT: string;
  readonly positions: string;
  private readonly B: string;
  private readonly T: string;
  readonly Tscalar: string;
  private readonly shapeCache = new Map<string, string>();
  private readonly biasCache = new Map<string, string>();
  private readonly ropeCache = new Map<string, { cos: string; sin: string }>();
  private mask32?: string;
  private lastRows?: string;

  /** `ids` false: a graph without token inputs (the head graph reads residual rows). */
  constructor(readonly spec: ModelSpec, readonly w: CanonicalTensorSource, name: string, ids = true) {
    const g = (this.g = new GraphBuilder(name));
    if (!ids) {
      this.shapeBT = this.B = this.T = this.Tscalar = this.positions = '';
      return;
    }
    g.input(INPUT_IDS, 'int64', ['batch', 'seq']);
    g.input(ATTENTION_MASK, 'int64', ['batch', 'seq']);
    this.shapeBT = g.node('Shape', [INPUT_IDS]);
    this.B = g.node('Slice', [this.shapeBT, g.constI64([0]), g.constI64([1])]);
    this.T = g.node('Slice', [this.shapeBT, g.constI64([1]), g.constI64([2])]);
    this.Tscalar = g.node('Squeeze', [this.T, g.constI64([0])]);
    const cum = g.node('CumSum', [ATTENTION_MASK, g.constI64(1)]);
    this.positions = g.node('Max', [g.node('Sub', [cum, g.constI64(1)]), g.constI64(0)]);
  }

  private readonly inits = new Map<string, string>();
  private readonly tensors = new Map<string, F32Tensor>();

  /** A canonical tensor as an initializer (once per name). */
  weight(name: string): string {
    let init = this.inits.get(name);
    if (!init) {
      if (this.w.lazy && this.w.shape && !this.tensors.has(name)) {
        // read at serialisation time; a tensor also read for a derived constant meanwhile is reused
        init = this.g.lazyInitializer(name, this.w.shape(name), 'float32', (emit, scratch) => emit(this.transient(name, scratch)));
      } else {
        const t = this.tensor(name);
        init = this.g.initializer(name, t.data, t.shape);
      }
      this.inits.set(name, init);
    }
    return init;
  }

  /** A canonical tensor's data, read once per graph (several graph constants may derive from it). */
  tensor(name: string): F32Tensor {
    let t = this.tensors.get(name);
    if (!t) {
      t = this.w.get(name);
      this.tensors.set(name, t);
    }
    return t;
  }

  /** A canonical tensor for a lazy initializer to emit at once: the graph's copy if it read one, else a view of `scratch`. */
  private transient(name: string, scratch: ScratchBuffer): Float32Array {
    return (this.tensors.get(name) ?? this.w.get(name, scratch)).data;
  }

  /**
   * Rows of several canonical tensors stacked (row-major: a concatenation), each through `map` if given
   * (fused q/k/v, fused gate/up). From a lazy source each part is read and written in turn at serialisation,
   * through the serialiser's scratch buffer: no stacked copy and no fresh array per tensor.
   */
  stackedRows(name: string, shape: number[], parts: { name: string; map?: (x: Float32Array) => Float32Array }[]): string {
    const part = (p: (typeof parts)[number], x: Float32Array): Float32Array => (p.map ? p.map(x) : x);
    if (this.w.lazy && this.w.shape) {
      return this.g.lazyInitializer(name, shape, 'float32', (emit, scratch) => {
        for (const p of parts) emit(part(p, this.transient(p.name, scratch)));
      });
    }
    return this.constant(stackRows(parts.map((p) => part(p, this.tensor(p.name).data))), shape, name);
  }

  constant(data: Float32Array, shape: number[], name?: string): string {
    return this.g.initializer(name, data, shape);
  }

  /**
   * A constant made from canonical tensors (stacked q/k/v, stacked gate/up, the fused attention's transposed
   * weights). From a lazy source it is made at serialisation, reading its tensors afresh and keeping none, so
   * the graph never holds the model's big matrices in JS (issue 18: one copy of the weights); otherwise now.
   */
  derived(name: string, shape: number[], make: (get: (n: string) => Float32Array) => Float32Array): string {
    if (this.w.lazy && this.w.shape) return this.g.lazyInitializer(name, shape, 'float32', (emit) => emit(make((n) => (this.tensors.get(n) ?? this.w.get(n)).data)));
    return this.constant(make((n) => this.tensor(n).data), shape, name);
  }

  /** int64 shape tensor; 'B'/'T' are the dynamic batch size and length (cached per distinct shape). */
  dims(parts: (number | 'B' | 'T')[]): string {
    const key = parts.join(',');
    const hit = this.shapeCache.get(key);
    if (hit) return hit;
    const out = parts.every((p) => typeof p === 'number')
      ? this.g.constI64(parts as number[])
      : this.g.node('Concat', parts.map((p) => (p === 'B' ? this.B : p === 'T' ? this.T : this.g.constI64([p]))), 1, { axis: 0 });
    this.shapeCache.set(key, out);
    return out;
  }

  /** y = x Wᵀ + b on a 2-D x (W canonical [out, in]). */
  linear(x: string, w: string, b?: string): string {
    return this.g.node('Gemm', b ? [x, w, b] : [x, w], 1, { transB: 1 });
  }

  norm(x: string, n: NormSpec, wName: string, bName: string): string {
    const t = this.tensor(wName);
    const scale = n.weightOffset === 0 ? this.weight(wName) : this.constant(Float32Array.from(t.data, (v) => v + n.weightOffset), t.shape);
    if (n.kind === 'rmsnorm') {
      // onnxruntime's SimplifiedLayerNormalization = x / sqrt(mean(x²) + eps) * scale, in float32.
      return this.g.node('SimplifiedLayerNormalization', [x, scale], 1, { axis: -1, epsilon: { f: n.eps } });
    }
    const inputs = n.bias ? [x, scale, this.weight(bName)] : [x, scale];
    return this.g.node('LayerNormalization', inputs, 1, { axis: -1, epsilon: { f: n.eps } });
  }

  activation(x: string, kind: BlockSpec['mlp']['activation']): string {
    const g = this.g;
    switch (kind) {
      case 'gelu_tanh': return g.node('FastGelu', [x], 1, {}, 'com.microsoft'); // = HF NewGELU / gelu_pytorch_tanh
      case 'gelu': return g.node('Gelu', [x], 1, {}, 'com.microsoft'); // exact erf GELU
      case 'silu': return g.node('Mul', [x, g.node('Sigmoid', [x])]);
      case 'relu': return g.node('Relu', [x]);
    }
  }

  maskInt32(): string {
    this.mask32 ??= this.g.node('Cast', [ATTENTION_MASK], 1, { to: 6 /* int32 */ });
    return this.mask32;
  }

  /** Flat row index b*T + (last real position of text b), [B]. */
  lastRowIndex(): string {
    if (this.lastRows) return this.lastRows;
    const g = this.g;
    // last real index of row b = argmax_j mask[b, j] * (j + 1)
    const r = g.node('Range', [g.constF32(1), g.node('Add', [g.node('Cast', [this.Tscalar], 1, { to: 1 }), g.constF32(1)]), g.constF32(1)]);
    const last = g.node('ArgMax', [g.node('Mul', [g.node('Cast', [ATTENTION_MASK], 1, { to: 1 }), r])], 1, { axis: 1, keepdims: 0 });
    const bIdx = g.node('Range', [g.constI64(0), g.node('Squeeze', [this.B, g.constI64([0])]), g.constI64(1)]);
    this.lastRows = g.node('Add', [g.node('Mul', [bIdx, this.Tscalar]), last]);
    return this.lastRows;
  }

  /**
   * Additive attention bias, broadcastable to [B, nKv, rep*T, T]: 0 where key j is visible to query i, -1e9
   * elsewhere. Causal biases with rep > 1 repeat their rows (query heads of a group stacked along time).
   */
  attentionBias(causal: boolean, window: number | undefined, rep: number): string {
    const key = `${causal}|${window}|${rep}`;
    const hit = this.biasCache.get(key);
    if (hit) return hit;
    const g = this.g;
    let bias: string;
    const keyOk = g.node('Unsqueeze', [g.node('Cast', [ATTENTION_MASK], 1, { to: 9 /* bool */ }), g.constI64([1, 2])]); // [B,1,1,T]
    if (!causal) {
      if (window !== undefined) throw new AtlasError('a sliding window needs causal attention', { field: 'window' });
      bias = g.node('Where', [keyOk, g.constF32(0), g.constF32(MASKED)]);
    } else if (rep === 1) {
      const r = g.node('Range', [g.constI64(0), this.Tscalar, g.constI64(1)]);
      const keyIdx = g.node('Unsqueeze', [r, g.constI64([0])]); // [1, T]
      const queryIdx = g.node('Unsqueeze', [r, g.constI64([1])]); // [T, 1]
      let visible = g.node('LessOrEqual', [keyIdx, queryIdx]); // [T, T]
      if (window !== undefined) visible = g.node('And', [visible, g.node('Greater', [g.node('Add', [keyIdx, g.constI64(window)]), queryIdx])]);
      bias = g.node('Where', [g.node('And', [visible, keyOk]), g.constF32(0), g.constF32(MASKED)]);
    } else {
      const base = g.node('Unsqueeze', [this.attentionBias(causal, window, 1), g.constI64([2])]); // [B,1,1,T,T]
      const tiled = g.node('Expand', [base, g.constI64([1, 1, rep, 1, 1])]);
      bias = g.node('Reshape', [tiled, this.dims(['B', 1, -1, 'T'])]);
    }
    this.biasCache.set(key, bias);
    return bias;
  }

  /** cos and signed sin tables [B, T, 1, dims] for half-split rotation (rotate_half(x)·sin = swap(x)·(-sin, sin)). */
  rope(r: RotarySpec): { cos: string; sin: string } {
    const key = JSON.stringify(r);
    const hit = this.ropeCache.get(key);
    if (hit) return hit;
    const g = this.g;
    const half = r.dims / 2;
    let inv: string;
    if (r.scaling.type === 'dynamic') {
      // HF dynamic NTK: base' = base · (factor·s/orig - (factor - 1))^(dims/(dims-2)), s = max(max position + 1, orig).
      const s = r.scaling;
      const seq = g.node('Max', [g.node('Add', [g.node('Cast', [g.node('ReduceMax', [this.positions], 1, { keepdims: 0 })], 1, { to: 1 }), g.constF32(1)]), g.constF32(s.originalMaxPositions)]);
      const ratio = g.node('Sub', [g.node('Mul', [seq, g.constF32(s.factor / s.originalMaxPositions)]), g.constF32(s.factor - 1)]);
      const lnBase = g.node('Add', [g.constF32(Math.log(r.base)), g.node('Mul', [g.node('Log', [ratio]), g.constF32(r.dims / (r.dims - 2))])]);
      const expo = Float32Array.from({ length: half }, (_, e) => (-2 * e) / r.dims);
      inv = g.node('Exp', [g.node('Mul', [this.constant(expo, [half]), lnBase])]);
    } else if (r.scaling.type === 'longrope') {
      // Short factors up to originalMaxPositions, long ones beyond (decided by the batch's max position + 1).
      const s = r.scaling;
      const plain = rotaryInvFreq({ ...r, scaling: { type: 'none' } });
      const by = (f: number[]): string => {
        if (f.length !== half) throw new AtlasError(`rope_scaling factors have ${f.length} entries, need rotary dims / 2 = ${half}`, { field: 'rope_scaling' });
        return this.constant(Float32Array.from(plain, (v, e) => v / f[e]!), [half]);
      };
      const long = g.node('Greater', [g.node('ReduceMax', [this.positions], 1, { keepdims: 0 }), g.constI64(s.originalMaxPositions - 1)]);
      inv = g.node('Where', [long, by(s.longFactor), by(s.shortFactor)]);
    } else {
      inv = this.constant(rotaryInvFreq(r), [half]);
    }
    const pos = g.node('Unsqueeze', [g.node('Cast', [this.positions], 1, { to: 1 }), g.constI64([2])]); // [B,T,1]
    const freqs = g.node('Mul', [pos, inv]); // [B,T,half], angles in float32 as HF
    let cosH = g.node('Cos', [freqs]);
    let sinH = g.node('Sin', [freqs]);
    if (r.scaling.type === 'longrope' && r.scaling.attentionFactor !== 1) {
      cosH = g.node('Mul', [cosH, g.constF32(r.scaling.attentionFactor)]);
      sinH = g.node('Mul', [sinH, g.constF32(r.scaling.attentionFactor)]);
    }
    const toHeads = (t: string): string => g.node('Unsqueeze', [t, g.constI64([2])]);
    const out = {
      cos: toHeads(g.node('Concat', [cosH, cosH], 1, { axis: -1 })),
      sin: toHeads(g.node('Concat', [g.node('Neg', [sinH]), sinH], 1, { axis: -1 })),
    };
    this.ropeCache.set(key, out);
    return out;
  }

  /** Rotates the first r.dims of every head of x4 [B, T, heads, hd]. */
  applyRope(x4: string, r: RotarySpec, hd: number): string {
    const g = this.g;
    const { cos, sin } = this.rope(r);
    const half = r.dims / 2;
    const rotate = (x: string): string => {
      const [x1, x2] = g.nodeMulti('Split', [x, g.constI64([half, half])], 2, { axis: -1 });
      return g.node('Add', [g.node('Mul', [x, cos]), g.node('Mul', [g.node('Concat', [x2!, x1!], 1, { axis: -1 }), sin])]);
    };
    if (r.dims === hd) return rotate(x4);
    const [rot, pass] = g.nodeMulti('Split', [x4, g.constI64([r.dims, hd - r.dims])], 2, { axis: -1 });
    return g.node('Concat', [rotate(rot!), pass!], 1, { axis: -1 });
  }

  /** Declares x ([B*T, ...] or any) as output `name` reshaped to `dims`. */
  output(x: string, name: string, dims: (number | 'B' | 'T')[]): string {
    this.g.node('Reshape', [x, this.dims(dims)], name);
    this.g.output(name, 'float32', dims.map((d) => (d === 'B' ? 'batch' : d === 'T' ? 'seq' : d)));
    return name;
  }
}

/** Stacks the rows of several [rows_i, cols] arrays (row-major: plain concatenation). */
function stackRows(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Builds the forward graph of `spec` returning `request`'s hooks and logits. */
export function buildForwardGraph(spec: ModelSpec, weights: CanonicalTensorSource, request: ForwardRequest, opts: GraphOptions = {}): ForwardGraph {
  checkHooks(spec, request.hooks);
  // a middle segment of a streamed run may only pass the residual stream on
  const passesResidual = opts.segment !== undefined && opts.segment.last < opts.segment.through;
  if (request.hooks.length === 0 && request.logits === 'none' && !passesResidual) throw new AtlasError('nothing requested: give hook points or logits', { field: 'hooks' });
  if (request.logits !== 'none' && !spec.unembed) {
    throw new AtlasError(`logits are not available for a ${spec.modelType} model loaded without an LM head (an encoder)`, { field: 'logits' });
  }
  const fusedOk = opts.fusedAttention ?? true;
  const ctx = new Ctx(spec, weights, `${spec.family}_forward`);
  const { g } = ctx;
  const d = spec.dModel;
  const L = spec.nLayer;
  const wanted = new Map<string, HookPoint>();
  for (const h of request.hooks) wanted.set(hookName(h), h);
  const want = (h: HookPoint): boolean => wanted.has(hookName(h));
  const emit = (h: HookPoint, x: string): void => {
    if (!want(h)) return;
    const name = hookName(h);
    const shape = hookShape(spec, h, 1, 1);
    if (h.kind === 'attn_pattern') ctx.output(x, name, ['B', shape[1]!, 'T', 'T']);
    else if (h.kind === 'attn_pattern_last') ctx.output(x, name, ['B', shape[1]!, 'T']);
    else ctx.output(x, name, ['B', 'T', shape[2]!]);
  };
  // Blocks after the last requested hook are not built.
  const needHead0 = request.logits !== 'none' || request.hooks.some((h) => h.kind === 'final');
  const lastBlock = opts.segment ? opts.segment.through : lastNeededBlock(spec, request);
  const seg = opts.segment ?? { first: 0, last: Math.max(lastBlock, 0) };
  if (!Number.isInteger(seg.first) || !Number.isInteger(seg.last) || seg.first < 0 || seg.last < seg.first || seg.last >= L) {
    throw new Error(`graph segment ${seg.first}..${seg.last} is outside blocks 0..${L - 1}`);
  }
  for (const hk of request.hooks) {
    const inside = hk.kind === 'final' ? seg.last === L - 1 : hk.layer >= seg.first && hk.layer <= seg.last;
    if (!inside) throw new Error(`hook ${hookName(hk)} is outside graph segment ${seg.first}..${seg.last}`);
  }
  const needHead = needHead0 && seg.last === L - 1;
  const lastHere = Math.min(lastBlock, seg.last);

  let h: string;
  let embedW: string | undefined;
  const tiedHead = (): string => (embedW ??= ctx.weight(W.embed));
  if (seg.first === 0) {
    // Embeddings.
    let emb = g.node('Gather', [tiedHead(), INPUT_IDS]);
    if (spec.embed.scale !== 1) emb = g.node('Mul', [emb, g.constF32(Math.fround(spec.embed.scale))]);
    const lp = spec.embed.learnedPositions;
    if (lp) {
      const idx = lp.offset ? g.node('Add', [ctx.positions, g.constI64(lp.offset)]) : ctx.positions;
      emb = g.node('Add', [emb, g.node('Gather', [ctx.weight(W.pos), idx])]);
    }
    if (spec.embed.tokenTypes > 0) {
      // Token type 0 everywhere (single-segment input): add row 0 of the table.
      emb = g.node('Add', [emb, ctx.constant(ctx.tensor(W.tokenType).data.slice(0, d), [d], 'token_type_0')]);
    }
    h = g.node('Reshape', [emb, ctx.dims([-1, d])]);
    if (spec.embed.norm) h = ctx.norm(h, spec.embed.norm, W.embedNormW, W.embedNormB);
  } else {
    g.input(RESID_IN, 'float32', ['batch', 'seq', d]);
    h = g.node('Reshape', [RESID_IN, ctx.dims([-1, d])]);
  }

  for (let l = seg.first; l <= lastHere; l++) {
    const b = spec.blocks[l]!;
    const n = W.block(l);
    const a = b.attn;
    const H = a.nHead, KV = a.nKvHead, hd = a.headDim, q = H * hd, kv = KV * hd, f = b.mlp.dFF;
    emit({ kind: 'resid_pre', layer: l }, h);
    const needMlp = l < lastBlock || needHead || request.hooks.some((x) => x.kind !== 'final' && x.layer === l && ['mlp_post', 'mlp_out', 'resid_post'].includes(x.kind));

    const attnIn = b.residual === 'post' ? h : ctx.norm(h, b.ln1, n.ln1W, n.ln1B);
    if (b.residual !== 'post') emit({ kind: 'ln1', layer: l }, attnIn);

    // --- attention
    const wantsInternals = want({ kind: 'attn_pattern', layer: l }) || want({ kind: 'attn_pattern_last', layer: l }) || want({ kind: 'attn_v', layer: l });
    const fused = fusedOk && KV === H && !a.rotary && a.softcap === undefined && a.window === undefined && !wantsInternals;
    const zeros = (k: number): Float32Array => new Float32Array(k);
    const bq = a.qkvBias ? ctx.tensor(n.bq).data : zeros(q), bk = a.qkvBias ? ctx.tensor(n.bk).data : zeros(kv), bv = a.qkvBias ? ctx.tensor(n.bv).data : zeros(kv);
    let att: string;
    if (fused) {
      // The fused op wants W as [in, 3·q]: the transposed stacked [W_Q; W_K; W_V].
      const wT = ctx.derived(`${n.Wq}|K|V.T`, [d, 3 * q], (get) => {
        const out = new Float32Array(d * 3 * q);
        [n.Wq, n.Wk, n.Wv].forEach((name, part) => {
          const w = get(name);
          for (let o = 0; o < q; o++) for (let i = 0; i < d; i++) out[i * 3 * q + part * q + o] = w[o * d + i]!;
        });
        return out;
      });
      const x3 = g.node('Reshape', [attnIn, ctx.dims(['B', 'T', d])]);
      const attrs: Record<string, number | { f: number }> = { num_heads: H, unidirectional: a.causal ? 1 : 0 };
      if (Math.abs(a.scale * Math.sqrt(hd) - 1) > 1e-12) attrs.scale = { f: a.scale };
      const a3 = g.node('Attention', [x3, wT, ctx.constant(stackRows([bq, bk, bv]), [3 * q], `${n.bq}|K|V`), ctx.maskInt32()], 1, attrs, 'com.microsoft');
      att = g.node('Reshape', [a3, ctx.dims([-1, q])]);
    } else {
      const r = a.rotary;
      const perm = (x: Float32Array, heads: number, width: number): Float32Array => (r && r.style === 'interleaved' ? interleavedToHalf(x, heads, hd, r.dims, width) : x);
      const wqkv = ctx.stackedRows(`${n.Wq}|K|V`, [q + 2 * kv, d], [{ name: n.Wq, map: (x) => perm(x, H, d) }, { name: n.Wk, map: (x) => perm(x, KV, d) }, { name: n.Wv }]);
      const bqkv = a.qkvBias ? stackRows([perm(bq, H, 1), perm(bk, KV, 1), bv]) : undefined;
      const qkv = ctx.linear(attnIn, wqkv, bqkv && ctx.constant(bqkv, [q + 2 * kv], `${n.bq}|K|V`));
      const [q2, k2, v2] = g.nodeMulti('Split', [qkv, g.constI64([q, kv, kv])], 3, { axis: 1 });
      emit({ kind: 'attn_v', layer: l }, v2!);
      let q4 = g.node('Reshape', [q2!, ctx.dims(['B', 'T', H, hd])]);
      let k4 = g.node('Reshape', [k2!, ctx.dims(['B', 'T', KV, hd])]);
      const v4 = g.node('Reshape', [v2!, ctx.dims(['B', 'T', KV, hd])]);
      if (r) {
        if (r.dims % 2 !== 0 || r.dims > hd) throw new AtlasError(`rotary dims ${r.dims} must be even and at most head_dim ${hd}`, { field: 'rotary' });
        q4 = ctx.applyRope(q4, r, hd);
        k4 = ctx.applyRope(k4, r, hd);
      }
      // Query head h reads kv head floor(h / rep): the rep query heads of a group are stacked along time
      // ([B, KV, rep*T, hd]) so each group is one batched MatMul, without copying k/v.
      const rep = H / KV;
      let qh = g.node('Transpose', [g.node('Mul', [q4, g.constF32(a.scale)])], 1, { perm: [0, 2, 1, 3] }); // [B,H,T,hd]
      if (rep > 1) qh = g.node('Reshape', [qh, ctx.dims([0, KV, -1, hd])]);
      const kT = g.node('Transpose', [k4], 1, { perm: [0, 2, 3, 1] }); // [B,KV,hd,T]
      const vh = g.node('Transpose', [v4], 1, { perm: [0, 2, 1, 3] }); // [B,KV,T,hd]
      let scores = g.node('MatMul', [qh, kT]);
      if (a.softcap !== undefined) scores = g.node('Mul', [g.node('Tanh', [g.node('Mul', [scores, g.constF32(1 / a.softcap)])]), g.constF32(a.softcap)]);
      const probs = g.node('Softmax', [g.node('Add', [scores, ctx.attentionBias(a.causal, a.window, rep)])], 1, { axis: -1 });
      if (wantsInternals) {
        const p4 = rep > 1 ? g.node('Reshape', [probs, ctx.dims(['B', H, 'T', 'T'])]) : probs;
        emit({ kind: 'attn_pattern', layer: l }, p4);
        if (want({ kind: 'attn_pattern_last', layer: l })) {
          const rows = g.node('Reshape', [g.node('Transpose', [p4], 1, { perm: [0, 2, 1, 3] }), ctx.dims([-1, H, 'T'])]); // [B*T, H, T]
          emit({ kind: 'attn_pattern_last', layer: l }, g.node('Gather', [rows, ctx.lastRowIndex()], 1, { axis: 0 }));
        }
      }
      let o = g.node('MatMul', [probs, vh]); // [B,KV,rep*T,hd]
      if (rep > 1) o = g.node('Reshape', [o, ctx.dims([0, H, -1, hd])]);
      att = g.node('Reshape', [g.node('Transpose', [o], 1, { perm: [0, 2, 1, 3] }), ctx.dims([-1, q])]);
    }
    let attnOut = ctx.linear(att, ctx.weight(n.Wo), a.outBias ? ctx.weight(n.bo) : undefined);
    if (b.ln1Post) attnOut = ctx.norm(attnOut, b.ln1Post, n.ln1PostW, '');
    emit({ kind: 'attn_out', layer: l }, attnOut);

    // --- residual wiring and MLP
    const mlp = (x: string): string => {
      let pre: string;
      if (b.mlp.gated) {
        const gu = ctx.linear(
          x,
          ctx.stackedRows(`${n.Wgate}|in`, [2 * f, d], [{ name: n.Wgate }, { name: n.Win }]),
          b.mlp.bias ? ctx.constant(stackRows([ctx.tensor(n.bgate).data, ctx.tensor(n.bin).data]), [2 * f], `${n.bgate}|in`) : undefined,
        );
        const [gate, up] = g.nodeMulti('Split', [gu, g.constI64([f, f])], 2, { axis: 1 });
        pre = g.node('Mul', [ctx.activation(gate!, b.mlp.activation), up!]);
      } else {
        pre = ctx.activation(ctx.linear(x, ctx.weight(n.Win), b.mlp.bias ? ctx.weight(n.bin) : undefined), b.mlp.activation);
      }
      emit({ kind: 'mlp_post', layer: l }, pre);
      let out = ctx.linear(pre, ctx.weight(n.Wout), b.mlp.bias ? ctx.weight(n.bout) : undefined);
      if (b.ln2Post) out = ctx.norm(out, b.ln2Post, n.ln2PostW, '');
      emit({ kind: 'mlp_out', layer: l }, out);
      return out;
    };
    if (b.residual === 'pre') {
      const mid = g.node('Add', [h, attnOut]);
      emit({ kind: 'resid_mid', layer: l }, mid);
      if (!needMlp) break;
      h = g.node('Add', [mid, mlp(ctx.norm(mid, b.ln2!, n.ln2W, n.ln2B))]);
    } else if (b.residual === 'parallel') {
      if (!needMlp) break;
      const m = mlp(b.ln2 ? ctx.norm(h, b.ln2, n.ln2W, n.ln2B) : attnIn);
      h = g.node('Add', [g.node('Add', [h, attnOut]), m]);
    } else {
      // Post-LN (TransformerLens BertBlock naming): resid_mid = x + attn_out, ln1 = its normalisation.
      const sum = g.node('Add', [h, attnOut]);
      emit({ kind: 'resid_mid', layer: l }, sum);
      const mid = ctx.norm(sum, b.ln1, n.ln1W, n.ln1B);
      emit({ kind: 'ln1', layer: l }, mid);
      if (!needMlp) break;
      h = ctx.norm(g.node('Add', [mid, mlp(mid)]), b.ln2!, n.ln2W, n.ln2B);
    }
    emit({ kind: 'resid_post', layer: l }, h);
  }

  let residOut: string | undefined;
  if (seg.last < lastBlock) residOut = ctx.output(h, RESID_OUT, ['B', 'T', d]);

  let logits: string | undefined;
  if (needHead) {
    const final = finalNorm(ctx, h);
    emit({ kind: 'final' }, final);
    if (request.logits !== 'none') {
      const rows = request.logits === 'last' ? g.node('Gather', [final, ctx.lastRowIndex()], 1, { axis: 0 }) : final;
      const y = unembed(ctx, rows, tiedHead);
      logits = request.logits === 'last' ? ctx.output(y, LOGITS, ['B', spec.vocabSize]) : ctx.output(y, LOGITS, ['B', 'T', spec.vocabSize]);
    }
  }
  return { graph: g, hooks: request.hooks.map(hookName), ...(logits ? { logits } : {}), ...(residOut ? { residOut } : {}) };
}

/** The final norm of the residual rows x [N, d] (x itself for models without one). */
function finalNorm(ctx: Ctx, x: string): string {
  return ctx.spec.finalNorm ? ctx.norm(x, ctx.spec.finalNorm, W.finalNormW, W.finalNormB) : x;
}

/** Logits of normalised rows [N, d]: the unembedding (tied: the embedding `embedW()`, else its own W_U), its bias and the logit softcap. */
function unembed(ctx: Ctx, rows: string, embedW: () => string): string {
  const u = ctx.spec.unembed!;
  const g = ctx.g;
  const wU = u.tied ? embedW() : ctx.weight(W.unembed);
  const bU = u.bias ? ctx.weight(W.unembedBias) : undefined;
  let y = ctx.linear(rows, wU, bU);
  if (u.softcap !== undefined) y = g.node('Mul', [g.node('Tanh', [g.node('Mul', [y, g.constF32(1 / u.softcap)])]), g.constF32(u.softcap)]);
  return y;
}

/** Input of the head graph: residual-stream rows [N, d] (before the final norm). */
export const HEAD_ROWS = 'resid_rows';

/**
 * The model's head alone, from the same code as the forward graph's: input HEAD_ROWS [N, d] (residual rows
 * before the final norm) → final norm → unembedding (→ softcap) → LOGITS [N, V]. Applied to the residual of
 * any layer this is the logit lens; applied to the last block's output it gives the model's own logits.
 */
export function buildHeadGraph(spec: ModelSpec, weights: CanonicalTensorSource): GraphBuilder {
  if (!spec.unembed) throw new AtlasError(`a ${spec.modelType} model loaded without an LM head has no unembedding`, { field: 'unembed' });
  const ctx = new Ctx(spec, weights, `${spec.family}_head`, false);
  const { g } = ctx;
  g.input(HEAD_ROWS, 'float32', ['rows', spec.dModel]);
  const y = unembed(ctx, finalNorm(ctx, HEAD_ROWS), () => ctx.weight(W.embed));
  g.node('Identity', [y], LOGITS);
  g.output(LOGITS, 'float32', ['rows', spec.vocabSize]);
  return g;
}

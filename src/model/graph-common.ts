/**
 * Pieces shared by the GPT-2 and Llama forward graphs: inputs, position ids, the attention mask, attention,
 * linear layers, activations and the graph outputs (hidden states, MLP activations, logits).
 *
 * Layout: the residual stream is kept as a 2-D [B*T, d] tensor so that every projection is one Gemm with a
 * constant (pre-packed by onnxruntime) weight and a fused bias; weights are used in their checkpoint layout
 * (Gemm transB=1 for nn.Linear [out, in], transB=0 for GPT-2's Conv1D [in, out]) so nothing is transposed in JS.
 *
 * Padding (why outputs do not depend on padding side or batch composition):
 * - position ids are cumsum(attention_mask) - 1, clamped at 0, so a text's first real token has position 0
 *   whether it is left- or right-padded (Hugging Face `generate` does the same; HF's plain forward uses
 *   arange(T), which coincides for unpadded and right-padded texts);
 * - a key position j is visible to query i iff j <= i (causal) and attention_mask[b, j] = 1;
 * - hidden states AT padded positions are finite but meaningless and must be ignored by callers.
 */
import { AtlasError } from '../errors.ts';
import type { ModelConfig } from './config.ts';
import type { F32Tensor } from './tensor.ts';
import { GraphBuilder } from './onnx-builder.ts';

/** Where the runtime gets weights from (the checkpoint loader's `Checkpoint` satisfies it). */
export interface WeightSource {
  config: ModelConfig;
  /** The float32 tensor with a canonical name (see graph-gpt2.ts / graph-llama.ts); throws if missing. */
  tensor(name: string, expectedShape?: number[]): F32Tensor;
}

/** Which optional outputs a graph computes. */
export interface OutputSelection {
  /** Post-nonlinearity MLP activations of every block. */
  mlp: boolean;
  /** Logits for every position, for each text's last non-pad token, or none. */
  logits: 'none' | 'all' | 'last';
}

/** A built forward graph and the names of its outputs. */
export interface ForwardGraph {
  graph: GraphBuilder;
  /** nLayer + 1 names, each [B, T, d]. */
  hidden: string[];
  /** nLayer names, each [B, T, dFF] (empty unless selected). */
  mlp: string[];
  /** [B, T, V] ('all') or [B, V] ('last'). */
  logits?: string;
}

export const INPUT_IDS = 'input_ids';
export const ATTENTION_MASK = 'attention_mask';

/** Additive mask value: exp(score - 1e9) underflows to exactly 0 in float32, and fully masked rows stay finite. */
const MASKED = -1e9;

export class ForwardGraphContext {
  readonly g: GraphBuilder;
  readonly cfg: ModelConfig;
  /** int64 [2] = (B, T). */
  readonly shapeBT: string;
  /** int64 [B, T] position ids = max(cumsum(mask) - 1, 0). */
  readonly positions: string;
  private readonly weightNames = new Map<Float32Array, string>();
  private readonly shapeCache = new Map<string, string>();
  private readonly biasCache = new Map<number, string>();
  private readonly B: string;
  private readonly T: string;
  private readonly Tscalar: string;

  constructor(readonly src: WeightSource, name: string) {
    this.cfg = src.config;
    const g = (this.g = new GraphBuilder(name));
    g.input(INPUT_IDS, 'int64', ['batch', 'seq']);
    g.input(ATTENTION_MASK, 'int64', ['batch', 'seq']);
    this.shapeBT = g.node('Shape', [INPUT_IDS]);
    this.B = g.node('Slice', [this.shapeBT, g.constI64([0]), g.constI64([1])]);
    this.T = g.node('Slice', [this.shapeBT, g.constI64([1]), g.constI64([2])]);
    this.Tscalar = g.node('Squeeze', [this.T, g.constI64([0])]);
    const cum = g.node('CumSum', [ATTENTION_MASK, g.constI64(1)]);
    this.positions = g.node('Max', [g.node('Sub', [cum, g.constI64(1)]), g.constI64(0)]);
  }

  /**
   * Registers a checkpoint tensor as an initializer (once per distinct array, so tied embeddings are shared)
   * after checking its shape.
   */
  weight(name: string, shape: number[]): string {
    const t = this.src.tensor(name, shape);
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new AtlasError(`has shape [${t.shape}] but the config implies [${shape}]`, { field: name, hint: 'config.json and the weights do not match' });
    }
    return this.constant(t.data, shape, name);
  }

  /** Registers a float32 array computed at build time (e.g. concatenated q/k/v weights). */
  constant(data: Float32Array, shape: number[], nameHint?: string): string {
    const known = this.weightNames.get(data);
    if (known) return known;
    const n = this.g.initializer(nameHint, data, shape);
    this.weightNames.set(data, n);
    return n;
  }

  /** Concatenation of several checkpoint tensors along axis 0 (row-major: plain array concatenation). */
  concatRows(names: string[], shapes: number[][]): { data: Float32Array; rows: number } {
    const parts = names.map((n, i) => {
      const t = this.src.tensor(n, shapes[i]);
      const want = shapes[i]!;
      if (t.shape.length !== want.length || t.shape.some((s, j) => s !== want[j])) {
        throw new AtlasError(`has shape [${t.shape}] but the config implies [${want}]`, { field: n, hint: 'config.json and the weights do not match' });
      }
      return t.data;
    });
    const data = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
    let off = 0;
    for (const p of parts) {
      data.set(p, off);
      off += p.length;
    }
    return { data, rows: shapes.reduce((s, sh) => s + sh[0]!, 0) };
  }

  /**
   * An int64 shape tensor; 'B' and 'T' stand for the dynamic batch size and sequence length, numbers are
   * literal (0 and -1 keep their Reshape meaning). Cached so each distinct shape is computed once per graph.
   */
  dims(parts: (number | 'B' | 'T')[]): string {
    const key = parts.join(',');
    const hit = this.shapeCache.get(key);
    if (hit) return hit;
    let out: string;
    if (parts.every((p) => typeof p === 'number')) out = this.g.constI64(parts as number[]);
    else out = this.g.node('Concat', parts.map((p) => (p === 'B' ? this.B : p === 'T' ? this.T : this.g.constI64([p]))), 1, { axis: 0 });
    this.shapeCache.set(key, out);
    return out;
  }

  /** y = x Wᵀ + b (transB, nn.Linear [out, in]) or y = x W + b (Conv1D [in, out]) on a 2-D x. */
  linear(x: string, w: string, b: string | undefined, transB: boolean): string {
    return this.g.node('Gemm', b ? [x, w, b] : [x, w], 1, { transB: transB ? 1 : 0 });
  }

  activation(x: string, kind: ModelConfig['activation']): string {
    const g = this.g;
    switch (kind) {
      case 'gelu_new': // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): exactly HF's NewGELU.
        return g.node('FastGelu', [x], 1, {}, 'com.microsoft');
      case 'gelu': // exact erf GELU
        return g.node('Gelu', [x], 1, {}, 'com.microsoft');
      case 'silu':
        return g.node('Mul', [x, g.node('Sigmoid', [x])]);
      case 'relu':
        return g.node('Relu', [x]);
    }
  }

  /**
   * Additive attention bias [B, 1, rep*T, T]: 0 where key j is visible to query i (j <= i and key j is not
   * padding), -1e9 elsewhere. `rep` > 1 repeats the rows for grouped-query attention (see `attention`).
   */
  attentionBias(rep: number): string {
    const hit = this.biasCache.get(rep);
    if (hit) return hit;
    const g = this.g;
    let bias: string;
    if (rep === 1) {
      const r = g.node('Range', [g.constI64(0), this.Tscalar, g.constI64(1)]);
      const keyIdx = g.node('Unsqueeze', [r, g.constI64([0])]); // [1, T]
      const queryIdx = g.node('Unsqueeze', [r, g.constI64([1])]); // [T, 1]
      const causal = g.node('LessOrEqual', [keyIdx, queryIdx]); // [T, T]
      const keyOk = g.node('Unsqueeze', [g.node('Cast', [ATTENTION_MASK], 1, { to: 9 /* bool */ }), g.constI64([1, 2])]); // [B,1,1,T]
      bias = g.node('Where', [g.node('And', [causal, keyOk]), g.constF32(0), g.constF32(MASKED)]);
    } else {
      const base = g.node('Unsqueeze', [this.attentionBias(1), g.constI64([2])]); // [B,1,1,T,T]
      const tiled = g.node('Expand', [base, g.constI64([1, 1, rep, 1, 1])]);
      bias = g.node('Reshape', [tiled, this.dims(['B', 1, -1, 'T'])]);
    }
    this.biasCache.set(rep, bias);
    return bias;
  }

  /**
   * Causal scaled-dot-product attention. q4: [B, T, nHead, hd], k4/v4: [B, T, nKv, hd] (rotary already
   * applied). Query head h uses key/value head floor(h / rep), rep = nHead / nKv (HF repeat_kv): instead of
   * copying k/v rep times, the rep query heads of a group are stacked along the time axis
   * ([B, nKv, rep*T, hd]) so each group is one batched MatMul. Returns [B*T, nHead*hd].
   */
  attention(q4: string, k4: string, v4: string, nHead: number, nKv: number, hd: number): string {
    const g = this.g;
    const rep = nHead / nKv;
    const scaled = g.node('Mul', [q4, g.constF32(1 / Math.sqrt(hd))]);
    let q = g.node('Transpose', [scaled], 1, { perm: [0, 2, 1, 3] }); // [B, H, T, hd]
    if (rep > 1) q = g.node('Reshape', [q, this.dims([0, nKv, -1, hd])]); // [B, nKv, rep*T, hd]
    const kT = g.node('Transpose', [k4], 1, { perm: [0, 2, 3, 1] }); // [B, nKv, hd, T]
    const v = g.node('Transpose', [v4], 1, { perm: [0, 2, 1, 3] }); // [B, nKv, T, hd]
    const scores = g.node('Add', [g.node('MatMul', [q, kT]), this.attentionBias(rep)]);
    const probs = g.node('Softmax', [scores], 1, { axis: -1 });
    let o = g.node('MatMul', [probs, v]); // [B, nKv, rep*T, hd]
    if (rep > 1) o = g.node('Reshape', [o, this.dims([0, nHead, -1, hd])]);
    const oT = g.node('Transpose', [o], 1, { perm: [0, 2, 1, 3] }); // [B, T, H, hd]
    return g.node('Reshape', [oT, this.dims([-1, nHead * hd])]);
  }

  private mask32?: string;
  /** attention_mask as int32 (the mask_index format of onnxruntime's fused attention ops). */
  maskInt32(): string {
    this.mask32 ??= this.g.node('Cast', [ATTENTION_MASK], 1, { to: 6 /* int32 */ });
    return this.mask32;
  }

  /** Splits a 2-D tensor along axis 1 into parts of the given widths. */
  splitCols(x: string, widths: number[]): string[] {
    return this.g.nodeMulti('Split', [x, this.g.constI64(widths)], widths.length, { axis: 1 });
  }

  /** Declares `x` ([B*T, width]) as graph output `name` with shape [B, T, width]. */
  outputBTD(x: string, name: string, width: number): string {
    this.g.node('Reshape', [x, this.dims(['B', 'T', width])], name);
    this.g.output(name, 'float32', ['batch', 'seq', width]);
    return name;
  }

  /** Adds the logits output: lm_head(final) for all positions or for each text's last non-pad token. */
  logits(final2d: string, lmHead: string, mode: 'all' | 'last'): string {
    const g = this.g;
    const V = this.cfg.vocabSize;
    if (mode === 'all') return this.outputBTD(this.linear(final2d, lmHead, undefined, true), 'logits', V);
    // last non-pad index of row b = argmax_j mask[b, j] * (j + 1); flat row index = b * T + that.
    const r = g.node('Range', [g.constF32(1), g.node('Add', [g.node('Cast', [this.Tscalar], 1, { to: 1 }), g.constF32(1)]), g.constF32(1)]);
    const weighted = g.node('Mul', [g.node('Cast', [ATTENTION_MASK], 1, { to: 1 }), r]);
    const last = g.node('ArgMax', [weighted], 1, { axis: 1, keepdims: 0 }); // [B]
    const bIdx = g.node('Range', [g.constI64(0), g.node('Squeeze', [this.B, g.constI64([0])]), g.constI64(1)]);
    const flat = g.node('Add', [g.node('Mul', [bIdx, this.Tscalar]), last]);
    const rows = g.node('Gather', [final2d, flat], 1, { axis: 0 }); // [B, d]
    g.node('Gemm', [rows, lmHead], 'logits', { transB: 1 });
    g.output('logits', 'float32', ['batch', V]);
    return 'logits';
  }
}

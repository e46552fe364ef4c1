/**
 * The single description of a transformer: what every consumer (ONNX forward graphs, the reverse-mode gradient
 * engine, the forward-mode Fisher Jacobians, the streamed block-by-block runtime) builds from.
 *
 * Three layers, each described once:
 * 1. `ModelSpec` — the maths of one checkpoint, declaratively: embeddings, per-block norms / attention / MLP /
 *    residual wiring, final norm and unembedding, with every number resolved from config.json (one file per
 *    architecture family under src/model/architectures/ turns config keys into a ModelSpec).
 * 2. Canonical weight names (TransformerLens-style, `blocks.{l}.attn.W_Q`), always in nn.Linear layout
 *    [out, in], heads flattened along `out`. `canonicalWeightShapes(spec)` lists exactly which tensors a spec
 *    reads, with their shapes (llm.c's ParameterTensors, as a table).
 * 3. `WeightRecipe` — how each canonical tensor is made from the checkpoint's stored tensors (rename,
 *    transpose, row slice / gather). Declarative so that the inverse direction (gradients w.r.t. canonical
 *    weights → gradients w.r.t. stored tensors) is derived, not written per architecture.
 *
 * Hook points (what a forward can return) are named after TransformerLens's hooks; `hfHiddenStateIndex`
 * documents how they map to Hugging Face's `output_hidden_states`.
 */

/** Normalisation of a [.., d] row. */
export interface NormSpec {
  kind: 'layernorm' | 'rmsnorm';
  eps: number;
  /** LayerNorm with a learned bias (`.b` tensor). RMSNorm never has one. */
  bias: boolean;
  /**
   * The effective scale is `w + weightOffset`: 0 for everything but Gemma / Gemma-2, whose RMSNorm stores w and
   * multiplies by (1 + w). Consumers add the offset; the stored tensor is left as it is.
   */
  weightOffset: number;
}

/** `rope_scaling` of config.json, resolved. */
export type RopeScaling =
  | { type: 'none' }
  /** positions divided by `factor` (HF 'linear'). */
  | { type: 'linear'; factor: number }
  /** NTK-aware dynamic scaling (HF 'dynamic'): base grows with the sequence length once it exceeds `originalMaxPositions`. */
  | { type: 'dynamic'; factor: number; originalMaxPositions: number }
  /** Llama-3.1 frequency-dependent scaling (HF 'llama3'). */
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number }
  /**
   * Phi-3 LongRoPE (HF 'longrope' / 'su'): inv_freq[e] / shortFactor[e], or / longFactor[e] once the batch's
   * max position + 1 exceeds `originalMaxPositions`; cos and sin are multiplied by `attentionFactor`.
   */
  | { type: 'longrope'; shortFactor: number[]; longFactor: number[]; originalMaxPositions: number; attentionFactor: number };

export interface RotarySpec {
  /** Number of leading dimensions of each head that rotate (= headDim, or rotary_pct · headDim for GPT-NeoX / Phi, rotary_dim for GPT-J). */
  dims: number;
  /** Frequency base θ: inv_freq[e] = θ^(-2e / dims). */
  base: number;
  /**
   * 'half': dimension e pairs with e + dims/2 (HF rotate_half: Llama, GPT-NeoX, Gemma, Phi-3);
   * 'interleaved': dimension 2e pairs with 2e + 1 (GPT-J rotate_every_two, llama2.c).
   */
  style: 'half' | 'interleaved';
  scaling: RopeScaling;
}

export interface AttentionSpec {
  nHead: number;
  /** Key/value heads: = nHead (MHA), < nHead (GQA), 1 (MQA). Query head h reads kv head floor(h / (nHead / nKvHead)). */
  nKvHead: number;
  headDim: number;
  /** Scores are (q · k) · scale: 1/√headDim usually; 1 for GPT-Neo; query_pre_attn_scalar^-½ for Gemma-2. */
  scale: number;
  /** b_Q, b_K, b_V present. */
  qkvBias: boolean;
  /** b_O present. */
  outBias: boolean;
  /** Rotary embeddings on q and k; absent for learned-position models. */
  rotary?: RotarySpec;
  /** Gemma-2: scores = softcap · tanh(scores / softcap) before the mask. */
  softcap?: number;
  /** Key j visible to query i only if i - j < window (sliding-window / local attention); absent = unlimited. */
  window?: number;
  /** Causal (decoders) or bidirectional (encoders; padded keys are masked either way). */
  causal: boolean;
}

/**
 * Activations: 'gelu_tanh' = 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))) (HF gelu_new / gelu_pytorch_tanh /
 * gelu_fast), 'gelu' = exact erf GELU, 'silu', 'relu'.
 */
export type ActivationKind = 'gelu_tanh' | 'gelu' | 'silu' | 'relu';

export interface MlpSpec {
  /** Gated: W_out · (act(W_gate x) ⊙ W_in x) (SwiGLU / GeGLU); plain: W_out · act(W_in x). */
  gated: boolean;
  activation: ActivationKind;
  dFF: number;
  /** b_in (and b_gate when gated) and b_out present. */
  bias: boolean;
}

/**
 * How a block wires its residual stream (x is the block input):
 * - 'pre':      a = x + attn(ln1(x));          out = a + mlp(ln2(a))              (GPT-2, Llama, Gemma, OPT, Phi-3)
 * - 'parallel': out = x + attn(ln1(x)) + mlp(ln2(x)), or mlp(ln1(x)) when `ln2` is absent (one shared norm:
 *               GPT-J, Phi-1/2; two norms: GPT-NeoX `use_parallel_residual`)
 * - 'post':     a = ln1(x + attn(x));          out = ln2(a + mlp(a))              (BERT, RoBERTa, OPT-350m)
 * Gemma-2's sandwich norms (`ln1Post`, `ln2Post`) normalise the attention / MLP output before it is added.
 */
export interface BlockSpec {
  residual: 'pre' | 'parallel' | 'post';
  ln1: NormSpec;
  ln2?: NormSpec;
  ln1Post?: NormSpec;
  ln2Post?: NormSpec;
  attn: AttentionSpec;
  mlp: MlpSpec;
}

export interface EmbeddingSpec {
  /** Token embedding rows are multiplied by this (Gemma: √d_model, rounded to float32 as HF does; 1 otherwise). */
  scale: number;
  /** Learned absolute positions (`pos_embed.W_pos`); absent for rotary models. */
  learnedPositions?: {
    /** Rows of the table. */
    rows: number;
    /** Row read for position p is p + offset (OPT: 2; RoBERTa: padding_idx + 1). */
    offset: number;
  };
  /** Rows of the token-type table (`embed.W_type`, BERT; row 0 is added); 0 = none. */
  tokenTypes: number;
  /** LayerNorm right after the embeddings (BERT, RoBERTa). */
  norm?: NormSpec;
}

export interface UnembedSpec {
  /** `unembed.W_U` is the token embedding (no separate tensor stored). */
  tied: boolean;
  /** `unembed.b_U` present (GPT-J, Phi-2). */
  bias: boolean;
  /** Gemma-2: logits = softcap · tanh(logits / softcap). */
  softcap?: number;
}

export interface ModelSpec {
  /** Architecture family id: the file under src/model/architectures/ that produced this spec. */
  family: string;
  /** `model_type` of config.json. */
  modelType: string;
  nLayer: number;
  dModel: number;
  vocabSize: number;
  /** Longest sequence the model supports (learned positions: their count; rotary: max_position_embeddings). */
  maxPositions: number;
  embed: EmbeddingSpec;
  /** One entry per block (most families repeat one object; GPT-Neo and Gemma-2 vary the attention window). */
  blocks: BlockSpec[];
  /** Final norm before the unembedding; absent for encoders (BERT) and post-LN decoders. */
  finalNorm?: NormSpec;
  /** Absent for encoders loaded without an LM head. */
  unembed?: UnembedSpec;
  bosTokenId?: number;
  eosTokenId?: number;
  padTokenId?: number;
}

// ---------------------------------------------------------------------------------------------------------
// Canonical weight names

/** Canonical names (nn.Linear layout [out, in]; heads flattened along `out`: W_Q is [nHead·headDim, d]). */
export const W = {
  embed: 'embed.W_E',
  pos: 'pos_embed.W_pos',
  tokenType: 'embed.W_type',
  embedNormW: 'embed.ln.w',
  embedNormB: 'embed.ln.b',
  finalNormW: 'ln_final.w',
  finalNormB: 'ln_final.b',
  unembed: 'unembed.W_U',
  unembedBias: 'unembed.b_U',
  block: (l: number) => ({
    ln1W: `blocks.${l}.ln1.w`,
    ln1B: `blocks.${l}.ln1.b`,
    ln2W: `blocks.${l}.ln2.w`,
    ln2B: `blocks.${l}.ln2.b`,
    ln1PostW: `blocks.${l}.ln1_post.w`,
    ln2PostW: `blocks.${l}.ln2_post.w`,
    Wq: `blocks.${l}.attn.W_Q`,
    bq: `blocks.${l}.attn.b_Q`,
    Wk: `blocks.${l}.attn.W_K`,
    bk: `blocks.${l}.attn.b_K`,
    Wv: `blocks.${l}.attn.W_V`,
    bv: `blocks.${l}.attn.b_V`,
    Wo: `blocks.${l}.attn.W_O`,
    bo: `blocks.${l}.attn.b_O`,
    Win: `blocks.${l}.mlp.W_in`,
    bin: `blocks.${l}.mlp.b_in`,
    Wgate: `blocks.${l}.mlp.W_gate`,
    bgate: `blocks.${l}.mlp.b_gate`,
    Wout: `blocks.${l}.mlp.W_out`,
    bout: `blocks.${l}.mlp.b_out`,
  }),
} as const;

function normShapes(m: Map<string, number[]>, n: NormSpec | undefined, w: string, b: string, d: number): void {
  if (!n) return;
  m.set(w, [d]);
  if (n.kind === 'layernorm' && n.bias) m.set(b, [d]);
}

/** Every canonical tensor a spec reads, with its shape, in a fixed order (embeddings, blocks, head). */
export function canonicalWeightShapes(spec: ModelSpec): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const d = spec.dModel;
  m.set(W.embed, [spec.vocabSize, d]);
  if (spec.embed.learnedPositions) m.set(W.pos, [spec.embed.learnedPositions.rows, d]);
  if (spec.embed.tokenTypes > 0) m.set(W.tokenType, [spec.embed.tokenTypes, d]);
  normShapes(m, spec.embed.norm, W.embedNormW, W.embedNormB, d);
  spec.blocks.forEach((b, l) => {
    const n = W.block(l);
    const { nHead, nKvHead, headDim } = b.attn;
    const q = nHead * headDim, kv = nKvHead * headDim, f = b.mlp.dFF;
    normShapes(m, b.ln1, n.ln1W, n.ln1B, d);
    m.set(n.Wq, [q, d]);
    if (b.attn.qkvBias) m.set(n.bq, [q]);
    m.set(n.Wk, [kv, d]);
    if (b.attn.qkvBias) m.set(n.bk, [kv]);
    m.set(n.Wv, [kv, d]);
    if (b.attn.qkvBias) m.set(n.bv, [kv]);
    m.set(n.Wo, [d, q]);
    if (b.attn.outBias) m.set(n.bo, [d]);
    normShapes(m, b.ln1Post, n.ln1PostW, '', d);
    normShapes(m, b.ln2, n.ln2W, n.ln2B, d);
    m.set(n.Win, [f, d]);
    if (b.mlp.bias) m.set(n.bin, [f]);
    if (b.mlp.gated) {
      m.set(n.Wgate, [f, d]);
      if (b.mlp.bias) m.set(n.bgate, [f]);
    }
    m.set(n.Wout, [d, f]);
    if (b.mlp.bias) m.set(n.bout, [d]);
    normShapes(m, b.ln2Post, n.ln2PostW, '', d);
  });
  normShapes(m, spec.finalNorm, W.finalNormW, W.finalNormB, d);
  if (spec.unembed) {
    m.set(W.unembed, [spec.vocabSize, d]);
    if (spec.unembed.bias) m.set(W.unembedBias, [spec.vocabSize]);
  }
  return m;
}

// ---------------------------------------------------------------------------------------------------------
// From stored tensors to canonical ones

/**
 * How one canonical tensor is made from ONE stored tensor (name as stored in the checkpoint, prefix and all):
 *   t = stored                       (as is)
 *   t = transpose(t)                 when `transpose` (2-D only; GPT-2's Conv1D [in, out] → [out, in])
 *   t = t[rows]                      when `rows` is given (a row range or an explicit row list: fused qkv
 *                                    splits, GPT-NeoX's per-head interleaved qkv, llama2.c's rotary permutation)
 * The same recipe, read backwards, scatters a canonical gradient into the stored tensor's gradient, so the
 * gradient engine reports per stored tensor without any per-architecture code.
 */
export interface WeightRecipe {
  from: string;
  /** Shape of the stored tensor. */
  storedShape: number[];
  transpose?: boolean;
  rows?: { start: number; count: number } | Int32Array;
}

/** A checkpoint's stored tensors: names and shapes only (data is read later, one tensor at a time). */
export interface StoredTensors {
  names(): string[];
  has(name: string): boolean;
  shape(name: string): number[];
}

/** Hooks whose result is an AtlasError naming the config file and field (shared by architecture files). */
export interface ConfigContext {
  /** The config.json path, for messages. */
  file: string;
}

/**
 * One architecture family: everything specific to it, in one file under src/model/architectures/.
 * Adding an architecture = one such module + its tests (an independent float64 reference in test/).
 */
export interface ArchitectureModule {
  /** Family id (= ModelSpec.family). */
  family: string;
  /** `model_type` values of config.json this module reads. */
  modelTypes: readonly string[];
  /** One line for `latent-atlas info`: what the family covers. */
  description: string;
  /** config.json → ModelSpec, with the family's Hugging Face defaults; AtlasError naming file and field otherwise. */
  parseConfig(raw: Record<string, unknown>, ctx: ConfigContext): ModelSpec;
  /**
   * canonical name → recipe, for every name in canonicalWeightShapes(spec). `stored` tells which prefix the
   * checkpoint uses (`transformer.`, `model.`, `gpt_neox.`, …) and whether an optional tensor is there.
   */
  weightRecipes(spec: ModelSpec, stored: StoredTensors): Map<string, WeightRecipe>;
  /** Stored tensors that are buffers, not parameters (causal-mask buffers, rotary inv_freq, position_ids). */
  isBuffer(storedName: string): boolean;
  /**
   * Stored parameters the family knowingly does not read: heads the runtime does not model (BERT's pooler and
   * masked-LM head, classifier heads) and a tied checkpoint's stored copy of the embedding (`lm_head.weight`).
   * Any other stored tensor that no recipe reads is an error (e.g. a config.json with fewer layers than the
   * checkpoint), so nothing runs silently on half a model.
   */
  isIgnored?(storedName: string, spec: ModelSpec): boolean;
}

// ---------------------------------------------------------------------------------------------------------
// Hook points

/**
 * What a forward pass can return, per block l (TransformerLens hook names in parentheses):
 * - 'resid_pre'     residual stream entering block l            (blocks.l.hook_resid_pre)  = HF hidden_states[l]
 * - 'ln1'           normalised residual entering attention      (blocks.l.ln1.hook_normalized)
 * - 'attn_out'      attention output added to the residual      (blocks.l.hook_attn_out)
 * - 'resid_mid'     residual between attention and MLP          (blocks.l.hook_resid_mid; 'pre' blocks only)
 * - 'mlp_post'      MLP neurons after the nonlinearity (⊙ up)    (blocks.l.mlp.hook_post)
 * - 'mlp_out'       MLP output added to the residual            (blocks.l.hook_mlp_out)
 * - 'resid_post'    residual leaving block l                    (blocks.l.hook_resid_post) = HF hidden_states[l+1] for l < L-1
 * - 'attn_pattern'  attention probabilities [B, nHead, T, T]    (blocks.l.attn.hook_pattern)
 * - 'attn_pattern_last'  each text's last real token's row only, [B, nHead, T]
 * - 'attn_v'        value vectors, heads concatenated [B, T, nKvHead·headDim] (blocks.l.attn.hook_v)
 * and, once per model:
 * - 'final'         final-norm output = HF hidden_states[L]     (ln_final.hook_normalized)
 * - 'logits'        [B, T, V] or the last real token's [B, V]
 */
export type BlockHookKind =
  | 'resid_pre' | 'ln1' | 'attn_out' | 'resid_mid' | 'mlp_post' | 'mlp_out' | 'resid_post'
  | 'attn_pattern' | 'attn_pattern_last' | 'attn_v';

export type HookPoint = { kind: BlockHookKind; layer: number } | { kind: 'final' };

/** Output name of a hook in graphs and caches: `blocks.3.hook_resid_pre`, `ln_final.hook_normalized`. */
export function hookName(h: HookPoint): string {
  if (h.kind === 'final') return 'ln_final.hook_normalized';
  const p = `blocks.${h.layer}`;
  switch (h.kind) {
    case 'resid_pre': return `${p}.hook_resid_pre`;
    case 'ln1': return `${p}.ln1.hook_normalized`;
    case 'attn_out': return `${p}.hook_attn_out`;
    case 'resid_mid': return `${p}.hook_resid_mid`;
    case 'mlp_post': return `${p}.mlp.hook_post`;
    case 'mlp_out': return `${p}.hook_mlp_out`;
    case 'resid_post': return `${p}.hook_resid_post`;
    case 'attn_pattern': return `${p}.attn.hook_pattern`;
    case 'attn_pattern_last': return `${p}.attn.hook_pattern_last`;
    case 'attn_v': return `${p}.attn.hook_v`;
  }
}

/**
 * The hook equal to Hugging Face's `hidden_states[i]` (output_hidden_states=True), i = 0..L:
 * i < L → resid_pre of block i; i = L → the final-norm output (HF appends the normalised state last), or, for
 * models without a final norm (BERT), resid_post of the last block.
 */
export function hfHiddenStateHook(spec: ModelSpec, i: number): HookPoint {
  if (i < spec.nLayer) return { kind: 'resid_pre', layer: i };
  return spec.finalNorm ? { kind: 'final' } : { kind: 'resid_post', layer: spec.nLayer - 1 };
}

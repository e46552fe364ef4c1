/**
 * The Llama family (transformers LlamaModel, MistralModel, Qwen2Model; SmolLM checkpoints are Llama):
 * RMSNorm pre-norm blocks, rotary positions (rotate_half), grouped-query attention, SwiGLU MLP.
 *   a = x + o_proj(attn(rope(q_proj(n1)), rope(k_proj(n1)), v_proj(n1))),  n1 = input_layernorm(x)
 *   x' = a + down_proj(act(gate_proj(n2)) ⊙ up_proj(n2)),                   n2 = post_attention_layernorm(a)
 * Config keys: hidden_size, num_attention_heads, num_key_value_heads (= heads), head_dim (hidden/heads),
 * num_hidden_layers, intermediate_size, rms_norm_eps (1e-6), rope_theta (10000), rope_scaling (null),
 * partial_rotary_factor (1), hidden_act ('silu'), max_position_embeddings (2048), tie_word_embeddings (false),
 * attention_bias (false; q/k/v and o), mlp_bias (false). Qwen2: q/k/v biases always, no o bias, sliding window
 * only with use_sliding_window on layers ≥ max_window_layers. Mistral: sliding_window on every layer.
 */
import { AtlasError } from '../../errors.ts';
import type { ArchitectureModule, BlockSpec, ConfigContext, ModelSpec, StoredTensors, WeightRecipe } from '../spec.ts';
import { W } from '../spec.ts';
import { activation, bool, bufferMatcher, detectPrefix, num, posInt, rmsNorm, ropeScaling, tokenIds, whole, type Raw } from './common.ts';

const DEFAULT_MAX_POSITIONS: Record<string, number> = { llama: 2048, mistral: 4096 * 32, qwen2: 32768, smollm: 2048 };

/** Sliding window of layer l, or undefined (unlimited). */
function windowOf(raw: Raw, ctx: ConfigContext, modelType: string, l: number): number | undefined {
  if (modelType === 'mistral') {
    return raw.sliding_window === undefined || raw.sliding_window === null ? undefined : posInt(raw, ctx, ['sliding_window']);
  }
  if (modelType === 'qwen2' && bool(raw, ctx, 'use_sliding_window', false)) {
    const from = num(raw, ctx, ['max_window_layers'], 28);
    return l >= from ? posInt(raw, ctx, ['sliding_window'], 4096) : undefined;
  }
  return undefined;
}

export const llama: ArchitectureModule = {
  family: 'llama',
  modelTypes: ['llama', 'mistral', 'qwen2', 'smollm'],
  description: 'Llama, Mistral, Qwen2, SmolLM (RMSNorm, rotary, grouped-query attention, SwiGLU)',

  parseConfig(raw: Raw, ctx): ModelSpec {
    const modelType = String(raw.model_type);
    const d = posInt(raw, ctx, ['hidden_size']);
    const nHead = posInt(raw, ctx, ['num_attention_heads']);
    const nKvHead = posInt(raw, ctx, ['num_key_value_heads'], nHead);
    if (nHead % nKvHead !== 0) {
      throw new AtlasError(`num_attention_heads (${nHead}) is not a multiple of num_key_value_heads (${nKvHead})`, { file: ctx.file, field: 'num_key_value_heads' });
    }
    const headDim = posInt(raw, ctx, ['head_dim'], Math.floor(d / nHead));
    const maxPositions = posInt(raw, ctx, ['max_position_embeddings'], DEFAULT_MAX_POSITIONS[modelType] ?? 2048);
    const eps = num(raw, ctx, ['rms_norm_eps'], 1e-6);
    const partial = num(raw, ctx, ['partial_rotary_factor'], 1);
    const dims = Math.floor(headDim * partial);
    if (dims <= 0 || dims % 2 !== 0 || dims > headDim) {
      throw new AtlasError(`gives ${dims} rotary dimensions for head_dim ${headDim}; need an even number in 2..head_dim`, { file: ctx.file, field: 'partial_rotary_factor' });
    }
    const rotary = { dims, base: num(raw, ctx, ['rope_theta'], 10000), style: 'half' as const, scaling: ropeScaling(raw, ctx, maxPositions) };
    const attentionBias = bool(raw, ctx, 'attention_bias', false);
    const qwen2 = modelType === 'qwen2';
    const act = activation(raw, ctx, 'hidden_act', 'silu');
    const dFF = posInt(raw, ctx, ['intermediate_size']);
    const mlpBias = bool(raw, ctx, 'mlp_bias', false);
    const nLayer = posInt(raw, ctx, ['num_hidden_layers']);
    const blocks: BlockSpec[] = Array.from({ length: nLayer }, (_, l) => {
      const window = windowOf(raw, ctx, modelType, l);
      return {
        residual: 'pre',
        ln1: rmsNorm(eps),
        ln2: rmsNorm(eps),
        attn: {
          nHead, nKvHead, headDim, scale: 1 / Math.sqrt(headDim),
          qkvBias: qwen2 || attentionBias, outBias: !qwen2 && attentionBias, rotary, causal: true,
          ...(window !== undefined ? { window } : {}),
        },
        mlp: { gated: true, activation: act, dFF, bias: mlpBias },
      };
    });
    return {
      family: 'llama', modelType, nLayer, dModel: d,
      vocabSize: posInt(raw, ctx, ['vocab_size']),
      maxPositions,
      embed: { scale: 1, tokenTypes: 0 },
      blocks,
      finalNorm: rmsNorm(eps),
      unembed: { tied: bool(raw, ctx, 'tie_word_embeddings', false), bias: false },
      ...tokenIds(raw),
    };
  },

  weightRecipes(spec: ModelSpec, stored: StoredTensors): Map<string, WeightRecipe> {
    const p = detectPrefix(stored, ['model.', ''], ['embed_tokens.weight']);
    return llamaStyleRecipes(spec, p);
  },

  isBuffer: bufferMatcher([/\.rotary_emb\.inv_freq$/]),
  isIgnored: (name, spec) => name === 'lm_head.weight' && !!spec.unembed?.tied,
};

/**
 * Recipes for Llama-style stored names (`<p>embed_tokens`, `<p>layers.l.self_attn.q_proj`, `mlp.gate_proj`,
 * `<p>norm`, `lm_head`), shared with the families that store the same names (Gemma, Gemma-2).
 */
export function llamaStyleRecipes(spec: ModelSpec, p: string, extra?: (l: number, s: string, m: Map<string, WeightRecipe>) => void): Map<string, WeightRecipe> {
  const d = spec.dModel, V = spec.vocabSize;
  const m = new Map<string, WeightRecipe>();
  m.set(W.embed, whole(`${p}embed_tokens.weight`, [V, d]));
  spec.blocks.forEach((b, l) => {
    const n = W.block(l), s = `${p}layers.${l}.`, a = `${s}self_attn.`, f = b.mlp.dFF;
    const q = b.attn.nHead * b.attn.headDim, kv = b.attn.nKvHead * b.attn.headDim;
    m.set(n.ln1W, whole(`${s}input_layernorm.weight`, [d]));
    m.set(n.Wq, whole(`${a}q_proj.weight`, [q, d]));
    m.set(n.Wk, whole(`${a}k_proj.weight`, [kv, d]));
    m.set(n.Wv, whole(`${a}v_proj.weight`, [kv, d]));
    if (b.attn.qkvBias) {
      m.set(n.bq, whole(`${a}q_proj.bias`, [q]));
      m.set(n.bk, whole(`${a}k_proj.bias`, [kv]));
      m.set(n.bv, whole(`${a}v_proj.bias`, [kv]));
    }
    m.set(n.Wo, whole(`${a}o_proj.weight`, [d, q]));
    if (b.attn.outBias) m.set(n.bo, whole(`${a}o_proj.bias`, [d]));
    m.set(n.ln2W, whole(`${s}post_attention_layernorm.weight`, [d]));
    m.set(n.Wgate, whole(`${s}mlp.gate_proj.weight`, [f, d]));
    m.set(n.Win, whole(`${s}mlp.up_proj.weight`, [f, d]));
    m.set(n.Wout, whole(`${s}mlp.down_proj.weight`, [d, f]));
    if (b.mlp.bias) {
      m.set(n.bgate, whole(`${s}mlp.gate_proj.bias`, [f]));
      m.set(n.bin, whole(`${s}mlp.up_proj.bias`, [f]));
      m.set(n.bout, whole(`${s}mlp.down_proj.bias`, [d]));
    }
    extra?.(l, s, m);
  });
  m.set(W.finalNormW, whole(`${p}norm.weight`, [d]));
  m.set(W.unembed, spec.unembed!.tied ? whole(`${p}embed_tokens.weight`, [V, d]) : whole('lm_head.weight', [V, d]));
  return m;
}

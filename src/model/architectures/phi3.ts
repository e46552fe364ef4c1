/**
 * Phi-3 (transformers Phi3Model): Llama's sequential block with fused projections — qkv_proj
 * [(H + 2·KV)·hd, d] (q rows first, then k, then v) and gate_up_proj [2f, d] (gate = first half, up = second);
 * partial rotary (partial_rotary_factor), rope_scaling including 'longrope' (short / long factors), sliding
 * window on every layer when `sliding_window` is set.
 * Config keys (Phi3Config): hidden_size, num_attention_heads, num_key_value_heads, num_hidden_layers,
 * intermediate_size, rms_norm_eps (1e-5), rope_theta (10000), rope_scaling, partial_rotary_factor (1),
 * original_max_position_embeddings, max_position_embeddings (4096), sliding_window, hidden_act ('silu'),
 * tie_word_embeddings (false).
 */
import { AtlasError } from '../../errors.ts';
import type { ArchitectureModule, BlockSpec, ModelSpec, StoredTensors, WeightRecipe } from '../spec.ts';
import { W } from '../spec.ts';
import { activation, bool, bufferMatcher, detectPrefix, divides, num, posInt, rmsNorm, ropeScaling, rowRange, tokenIds, whole, type Raw } from './common.ts';

export const phi3: ArchitectureModule = {
  family: 'phi3',
  modelTypes: ['phi3'],
  description: 'Phi-3 (fused qkv_proj and gate_up_proj, partial rotary, LongRoPE)',

  parseConfig(raw: Raw, ctx): ModelSpec {
    const d = posInt(raw, ctx, ['hidden_size']);
    const nHead = posInt(raw, ctx, ['num_attention_heads']);
    divides(ctx, 'hidden_size', d, 'num_attention_heads', nHead);
    const nKvHead = posInt(raw, ctx, ['num_key_value_heads'], nHead);
    if (nHead % nKvHead !== 0) throw new AtlasError(`num_attention_heads (${nHead}) is not a multiple of num_key_value_heads (${nKvHead})`, { file: ctx.file, field: 'num_key_value_heads' });
    const hd = d / nHead;
    const dims = Math.floor(hd * num(raw, ctx, ['partial_rotary_factor'], 1));
    if (dims < 2 || dims % 2 !== 0) throw new AtlasError(`gives ${dims} rotary dimensions for head size ${hd}; need an even number ≥ 2`, { file: ctx.file, field: 'partial_rotary_factor' });
    const maxPositions = posInt(raw, ctx, ['max_position_embeddings'], 4096);
    const eps = num(raw, ctx, ['rms_norm_eps'], 1e-5);
    const window = raw.sliding_window === undefined || raw.sliding_window === null ? undefined : posInt(raw, ctx, ['sliding_window']);
    const nLayer = posInt(raw, ctx, ['num_hidden_layers']);
    const block: BlockSpec = {
      residual: 'pre',
      ln1: rmsNorm(eps),
      ln2: rmsNorm(eps),
      attn: {
        nHead, nKvHead, headDim: hd, scale: 1 / Math.sqrt(hd), qkvBias: false, outBias: false, causal: true,
        rotary: { dims, base: num(raw, ctx, ['rope_theta'], 10000), style: 'half', scaling: ropeScaling(raw, ctx, maxPositions, { longrope: true }) },
        ...(window !== undefined ? { window } : {}),
      },
      mlp: { gated: true, activation: activation(raw, ctx, 'hidden_act', 'silu'), dFF: posInt(raw, ctx, ['intermediate_size']), bias: false },
    };
    return {
      family: 'phi3', modelType: 'phi3', nLayer, dModel: d,
      vocabSize: posInt(raw, ctx, ['vocab_size']),
      maxPositions,
      embed: { scale: 1, tokenTypes: 0 },
      blocks: Array.from({ length: nLayer }, () => block),
      finalNorm: rmsNorm(eps),
      unembed: { tied: bool(raw, ctx, 'tie_word_embeddings', false), bias: false },
      ...tokenIds(raw),
    };
  },

  weightRecipes(spec: ModelSpec, stored: StoredTensors): Map<string, WeightRecipe> {
    const p = detectPrefix(stored, ['model.', ''], ['embed_tokens.weight']);
    const d = spec.dModel, V = spec.vocabSize;
    const m = new Map<string, WeightRecipe>();
    m.set(W.embed, whole(`${p}embed_tokens.weight`, [V, d]));
    spec.blocks.forEach((b, l) => {
      const n = W.block(l), s = `${p}layers.${l}.`, f = b.mlp.dFF;
      const q = b.attn.nHead * b.attn.headDim, kv = b.attn.nKvHead * b.attn.headDim;
      const qkvShape = [q + 2 * kv, d];
      m.set(n.ln1W, whole(`${s}input_layernorm.weight`, [d]));
      m.set(n.Wq, rowRange(`${s}self_attn.qkv_proj.weight`, qkvShape, 0, q));
      m.set(n.Wk, rowRange(`${s}self_attn.qkv_proj.weight`, qkvShape, q, kv));
      m.set(n.Wv, rowRange(`${s}self_attn.qkv_proj.weight`, qkvShape, q + kv, kv));
      m.set(n.Wo, whole(`${s}self_attn.o_proj.weight`, [d, q]));
      m.set(n.ln2W, whole(`${s}post_attention_layernorm.weight`, [d]));
      m.set(n.Wgate, rowRange(`${s}mlp.gate_up_proj.weight`, [2 * f, d], 0, f));
      m.set(n.Win, rowRange(`${s}mlp.gate_up_proj.weight`, [2 * f, d], f, f));
      m.set(n.Wout, whole(`${s}mlp.down_proj.weight`, [d, f]));
    });
    m.set(W.finalNormW, whole(`${p}norm.weight`, [d]));
    m.set(W.unembed, spec.unembed!.tied ? whole(`${p}embed_tokens.weight`, [V, d]) : whole('lm_head.weight', [V, d]));
    return m;
  },

  isBuffer: bufferMatcher([/\.rotary_emb\.inv_freq$/]),
  isIgnored: (name, spec) => name === 'lm_head.weight' && !!spec.unembed?.tied,
};

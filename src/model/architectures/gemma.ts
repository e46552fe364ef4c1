/**
 * Gemma (transformers GemmaModel): Llama's block with embeddings × √hidden_size (rounded to float32),
 * (1 + w) RMSNorms, GeGLU MLP (gelu_pytorch_tanh), head_dim from the config, tied unembedding.
 * Config keys (GemmaConfig): hidden_size, num_attention_heads, num_key_value_heads, head_dim (256),
 * num_hidden_layers, intermediate_size, rms_norm_eps (1e-6), rope_theta (10000), rope_scaling,
 * hidden_activation (older files: hidden_act; 'gelu_pytorch_tanh'), max_position_embeddings (8192),
 * attention_bias (false), tie_word_embeddings (true).
 */
import { AtlasError } from '../../errors.ts';
import type { ArchitectureModule, AttentionSpec, ConfigContext, ModelSpec, StoredTensors, WeightRecipe } from '../spec.ts';
import { activation, bool, bufferMatcher, detectPrefix, num, posInt, rmsNorm, ropeScaling, tokenIds, type Raw } from './common.ts';
import { llamaStyleRecipes } from './llama.ts';

/** The settings Gemma and Gemma-2 share, read from config.json. */
export function gemmaCommon(raw: Raw, ctx: ConfigContext, defaults: { maxPositions: number }) {
  const d = posInt(raw, ctx, ['hidden_size']);
  const nHead = posInt(raw, ctx, ['num_attention_heads']);
  const nKvHead = posInt(raw, ctx, ['num_key_value_heads'], nHead);
  if (nHead % nKvHead !== 0) throw new AtlasError(`num_attention_heads (${nHead}) is not a multiple of num_key_value_heads (${nKvHead})`, { file: ctx.file, field: 'num_key_value_heads' });
  const headDim = posInt(raw, ctx, ['head_dim'], 256);
  if (headDim % 2 !== 0) throw new AtlasError(`must be even for rotary embeddings, got ${headDim}`, { file: ctx.file, field: 'head_dim' });
  const maxPositions = posInt(raw, ctx, ['max_position_embeddings'], defaults.maxPositions);
  const bias = bool(raw, ctx, 'attention_bias', false);
  const attn: AttentionSpec = {
    nHead, nKvHead, headDim, scale: 1 / Math.sqrt(headDim), qkvBias: bias, outBias: bias, causal: true,
    rotary: { dims: headDim, base: num(raw, ctx, ['rope_theta'], 10000), style: 'half', scaling: ropeScaling(raw, ctx, maxPositions) },
  };
  const actKey = raw.hidden_activation !== undefined && raw.hidden_activation !== null ? 'hidden_activation' : 'hidden_act';
  return {
    d, maxPositions, attn,
    norm: rmsNorm(num(raw, ctx, ['rms_norm_eps'], 1e-6), 1),
    mlp: { gated: true, activation: activation(raw, ctx, actKey, 'gelu_pytorch_tanh'), dFF: posInt(raw, ctx, ['intermediate_size']), bias: false },
    nLayer: posInt(raw, ctx, ['num_hidden_layers']),
    vocabSize: posInt(raw, ctx, ['vocab_size']),
    // HF: hidden_states * torch.tensor(hidden_size ** 0.5, dtype=hidden_states.dtype)
    embedScale: Math.fround(Math.sqrt(d)),
    tied: bool(raw, ctx, 'tie_word_embeddings', true),
  };
}

export const gemma: ArchitectureModule = {
  family: 'gemma',
  modelTypes: ['gemma'],
  description: 'Gemma (√d embedding scale, (1 + w) RMSNorm, GeGLU, head_dim from config)',

  parseConfig(raw: Raw, ctx): ModelSpec {
    const c = gemmaCommon(raw, ctx, { maxPositions: 8192 });
    return {
      family: 'gemma', modelType: 'gemma', nLayer: c.nLayer, dModel: c.d, vocabSize: c.vocabSize, maxPositions: c.maxPositions,
      embed: { scale: c.embedScale, tokenTypes: 0 },
      blocks: Array.from({ length: c.nLayer }, () => ({ residual: 'pre' as const, ln1: c.norm, ln2: c.norm, attn: c.attn, mlp: c.mlp })),
      finalNorm: c.norm,
      unembed: { tied: c.tied, bias: false },
      ...tokenIds(raw),
    };
  },

  weightRecipes(spec: ModelSpec, stored: StoredTensors): Map<string, WeightRecipe> {
    return llamaStyleRecipes(spec, detectPrefix(stored, ['model.', ''], ['embed_tokens.weight']));
  },

  isBuffer: bufferMatcher([/\.rotary_emb\.inv_freq$/]),
  isIgnored: (name, spec) => name === 'lm_head.weight' && !!spec.unembed?.tied,
};

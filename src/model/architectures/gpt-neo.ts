/**
 * GPT-Neo (transformers GPTNeoModel): GPT-2's pre-LN block with nn.Linear layers, q/k/v without bias, NO score
 * scaling, and per-layer global or local (sliding-window) attention.
 * Config keys (GPTNeoConfig): hidden_size, num_heads, num_layers, intermediate_size (null → 4·hidden),
 * attention_types ([[['global', 'local'], n]], expanded to attention_layers), window_size (256),
 * max_position_embeddings (2048), layer_norm_epsilon (1e-5), activation_function ('gelu_new'),
 * tie_word_embeddings (true).
 */
import { AtlasError } from '../../errors.ts';
import type { ArchitectureModule, ModelSpec, StoredTensors, WeightRecipe } from '../spec.ts';
import { W } from '../spec.ts';
import { activation, bool, bufferMatcher, detectPrefix, divides, layerNorm, normRecipes, num, posInt, tokenIds, whole, type Raw } from './common.ts';
import type { ConfigContext } from '../spec.ts';

/** attention_types [[['global', 'local'], 12]] → one entry per layer (HF expand_attention_types_params). */
function attentionLayers(raw: Raw, ctx: ConfigContext, nLayer: number): string[] {
  let layers: unknown = raw.attention_layers;
  if (Array.isArray(raw.attention_types)) {
    layers = (raw.attention_types as unknown[]).flatMap((item) => {
      if (!Array.isArray(item) || !Array.isArray(item[0]) || typeof item[1] !== 'number') {
        throw new AtlasError(`entries must look like [["global", "local"], n], got ${JSON.stringify(item)}`, { file: ctx.file, field: 'attention_types' });
      }
      return Array.from({ length: item[1] }, () => item[0] as unknown[]).flat();
    });
  }
  if (layers === undefined) layers = Array.from({ length: nLayer }, () => 'global');
  if (!Array.isArray(layers) || layers.length !== nLayer || layers.some((t) => t !== 'global' && t !== 'local')) {
    throw new AtlasError(`must give 'global' or 'local' for each of the ${nLayer} layers, got ${JSON.stringify(layers)}`, { file: ctx.file, field: 'attention_types' });
  }
  return layers as string[];
}

export const gptNeo: ArchitectureModule = {
  family: 'gpt_neo',
  modelTypes: ['gpt_neo'],
  description: 'GPT-Neo (learned positions, unscaled attention, alternating global / local windows)',

  parseConfig(raw: Raw, ctx): ModelSpec {
    const d = posInt(raw, ctx, ['hidden_size']);
    const nHead = posInt(raw, ctx, ['num_heads']);
    divides(ctx, 'hidden_size', d, 'num_heads', nHead);
    const nLayer = posInt(raw, ctx, ['num_layers']);
    const maxPositions = posInt(raw, ctx, ['max_position_embeddings'], 2048);
    const eps = num(raw, ctx, ['layer_norm_epsilon'], 1e-5);
    const window = posInt(raw, ctx, ['window_size'], 256);
    const act = activation(raw, ctx, 'activation_function', 'gelu_new');
    const dFF = posInt(raw, ctx, ['intermediate_size'], 4 * d);
    const types = attentionLayers(raw, ctx, nLayer);
    return {
      family: 'gpt_neo', modelType: 'gpt_neo', nLayer, dModel: d,
      vocabSize: posInt(raw, ctx, ['vocab_size']),
      maxPositions,
      embed: { scale: 1, learnedPositions: { rows: maxPositions, offset: 0 }, tokenTypes: 0 },
      blocks: types.map((t) => ({
        residual: 'pre' as const,
        ln1: layerNorm(eps),
        ln2: layerNorm(eps),
        attn: { nHead, nKvHead: nHead, headDim: d / nHead, scale: 1, qkvBias: false, outBias: true, causal: true, ...(t === 'local' ? { window } : {}) },
        mlp: { gated: false, activation: act, dFF, bias: true },
      })),
      finalNorm: layerNorm(eps),
      unembed: { tied: bool(raw, ctx, 'tie_word_embeddings', true), bias: false },
      ...tokenIds(raw),
    };
  },

  weightRecipes(spec: ModelSpec, stored: StoredTensors): Map<string, WeightRecipe> {
    const p = detectPrefix(stored, ['transformer.', ''], ['wte.weight']);
    const d = spec.dModel, V = spec.vocabSize;
    const m = new Map<string, WeightRecipe>();
    m.set(W.embed, whole(`${p}wte.weight`, [V, d]));
    m.set(W.pos, whole(`${p}wpe.weight`, [spec.embed.learnedPositions!.rows, d]));
    spec.blocks.forEach((b, l) => {
      const n = W.block(l), s = `${p}h.${l}.`, a = `${s}attn.attention.`, f = b.mlp.dFF;
      normRecipes(m, b.ln1, n.ln1W, n.ln1B, `${s}ln_1.weight`, `${s}ln_1.bias`, d);
      m.set(n.Wq, whole(`${a}q_proj.weight`, [d, d]));
      m.set(n.Wk, whole(`${a}k_proj.weight`, [d, d]));
      m.set(n.Wv, whole(`${a}v_proj.weight`, [d, d]));
      m.set(n.Wo, whole(`${a}out_proj.weight`, [d, d]));
      m.set(n.bo, whole(`${a}out_proj.bias`, [d]));
      normRecipes(m, b.ln2, n.ln2W, n.ln2B, `${s}ln_2.weight`, `${s}ln_2.bias`, d);
      m.set(n.Win, whole(`${s}mlp.c_fc.weight`, [f, d]));
      m.set(n.bin, whole(`${s}mlp.c_fc.bias`, [f]));
      m.set(n.Wout, whole(`${s}mlp.c_proj.weight`, [d, f]));
      m.set(n.bout, whole(`${s}mlp.c_proj.bias`, [d]));
    });
    normRecipes(m, spec.finalNorm, W.finalNormW, W.finalNormB, `${p}ln_f.weight`, `${p}ln_f.bias`, d);
    m.set(W.unembed, spec.unembed!.tied ? whole(`${p}wte.weight`, [V, d]) : whole('lm_head.weight', [V, d]));
    return m;
  },

  isBuffer: bufferMatcher([/\.attn\.attention\.(bias|masked_bias)$/]),
  isIgnored: (name, spec) => name === 'lm_head.weight' && !!spec.unembed?.tied,
};

/**
 * Gemma-2 (transformers Gemma2Model): Gemma plus sandwich norms (input_layernorm → attn →
 * post_attention_layernorm, pre_feedforward_layernorm → mlp → post_feedforward_layernorm, all (1 + w)),
 * scores scaled by query_pre_attn_scalar^-½ and soft-capped (attn_logit_softcapping) before the mask,
 * sliding-window attention on the layers layer_types marks 'sliding_attention' (default: even layers), and
 * soft-capped logits (final_logit_softcapping).
 * Extra config keys (Gemma2Config): query_pre_attn_scalar (256), attn_logit_softcapping (50; null = none),
 * final_logit_softcapping (30; null = none), sliding_window (4096), layer_types, max_position_embeddings (8192).
 */
import { AtlasError } from '../../errors.ts';
import type { ArchitectureModule, ModelSpec, StoredTensors, WeightRecipe } from '../spec.ts';
import { W } from '../spec.ts';
import { bufferMatcher, detectPrefix, num, posInt, tokenIds, whole, type Raw } from './common.ts';
import { llamaStyleRecipes } from './llama.ts';
import { gemmaCommon } from './gemma.ts';

const optionalCap = (raw: Raw, key: string, dflt: number): number | undefined => (raw[key] === null ? undefined : (raw[key] as number | undefined) ?? dflt);

export const gemma2: ArchitectureModule = {
  family: 'gemma2',
  modelTypes: ['gemma2'],
  description: 'Gemma-2 (Gemma + sandwich norms, attention / logit soft-capping, alternating sliding window)',

  parseConfig(raw: Raw, ctx): ModelSpec {
    const c = gemmaCommon(raw, ctx, { maxPositions: 8192 });
    const scale = 1 / Math.sqrt(num(raw, ctx, ['query_pre_attn_scalar'], 256));
    const softcap = optionalCap(raw, 'attn_logit_softcapping', 50);
    const finalCap = optionalCap(raw, 'final_logit_softcapping', 30);
    for (const [k, v] of [['attn_logit_softcapping', softcap], ['final_logit_softcapping', finalCap]] as const) {
      if (v !== undefined && (typeof v !== 'number' || !(v > 0))) throw new AtlasError(`must be a positive number or null, got ${JSON.stringify(v)}`, { file: ctx.file, field: k });
    }
    const window = posInt(raw, ctx, ['sliding_window'], 4096);
    const types = Array.isArray(raw.layer_types) ? (raw.layer_types as unknown[]) : Array.from({ length: c.nLayer }, (_, i) => (i % 2 === 0 ? 'sliding_attention' : 'full_attention'));
    if (types.length !== c.nLayer || types.some((t) => t !== 'sliding_attention' && t !== 'full_attention')) {
      throw new AtlasError(`must list 'sliding_attention' or 'full_attention' for each of the ${c.nLayer} layers`, { file: ctx.file, field: 'layer_types' });
    }
    return {
      family: 'gemma2', modelType: 'gemma2', nLayer: c.nLayer, dModel: c.d, vocabSize: c.vocabSize, maxPositions: c.maxPositions,
      embed: { scale: c.embedScale, tokenTypes: 0 },
      blocks: types.map((t) => ({
        residual: 'pre' as const, ln1: c.norm, ln1Post: c.norm, ln2: c.norm, ln2Post: c.norm, mlp: c.mlp,
        attn: { ...c.attn, scale, ...(softcap !== undefined ? { softcap } : {}), ...(t === 'sliding_attention' ? { window } : {}) },
      })),
      finalNorm: c.norm,
      unembed: { tied: c.tied, bias: false, ...(finalCap !== undefined ? { softcap: finalCap } : {}) },
      ...tokenIds(raw),
    };
  },

  weightRecipes(spec: ModelSpec, stored: StoredTensors): Map<string, WeightRecipe> {
    const d = spec.dModel;
    return llamaStyleRecipes(spec, detectPrefix(stored, ['model.', ''], ['embed_tokens.weight']), (l, s, m) => {
      const n = W.block(l);
      m.set(n.ln1PostW, whole(`${s}post_attention_layernorm.weight`, [d]));
      m.set(n.ln2W, whole(`${s}pre_feedforward_layernorm.weight`, [d]));
      m.set(n.ln2PostW, whole(`${s}post_feedforward_layernorm.weight`, [d]));
    });
  },

  isBuffer: bufferMatcher([/\.rotary_emb\.inv_freq$/]),
  isIgnored: (name, spec) => name === 'lm_head.weight' && !!spec.unembed?.tied,
};

/**
 * OPT (transformers OPTModel): learned positions read at position + 2, LayerNorm (eps 1e-5) blocks, relu MLP
 * fc1 / fc2. do_layer_norm_before (true for all sizes but opt-350m): pre-LN blocks and a final norm;
 * false: post-LN blocks (norm after each residual add) and no final norm.
 * Config keys (OPTConfig): hidden_size, num_attention_heads, num_hidden_layers, ffn_dim, max_position_embeddings
 * (2048), do_layer_norm_before (true), _remove_final_layer_norm (false), enable_bias (true),
 * layer_norm_elementwise_affine (true), activation_function ('relu'), word_embed_proj_dim (= hidden_size;
 * anything else needs project_in / project_out, not implemented), tie_word_embeddings (true).
 */
import { AtlasError } from '../../errors.ts';
import type { ArchitectureModule, BlockSpec, ModelSpec, StoredTensors, WeightRecipe } from '../spec.ts';
import { W } from '../spec.ts';
import { activation, bool, detectPrefix, divides, layerNorm, normRecipes, num, posInt, tokenIds, whole, type Raw } from './common.ts';

/** OPT's LayerNorm eps is not a config key (nn.LayerNorm default). */
const OPT_EPS = 1e-5;
/** OPTLearnedPositionalEmbedding: rows are read at position + 2. */
const OPT_POSITION_OFFSET = 2;

export const opt: ArchitectureModule = {
  family: 'opt',
  modelTypes: ['opt'],
  description: 'OPT (learned positions offset 2, relu MLP, pre-LN or post-LN)',

  parseConfig(raw: Raw, ctx): ModelSpec {
    const d = posInt(raw, ctx, ['hidden_size']);
    const nHead = posInt(raw, ctx, ['num_attention_heads']);
    divides(ctx, 'hidden_size', d, 'num_attention_heads', nHead);
    if (num(raw, ctx, ['word_embed_proj_dim'], d) !== d) {
      throw new AtlasError(`word_embed_proj_dim (${String(raw.word_embed_proj_dim)}) ≠ hidden_size (${d}) needs OPT's project_in / project_out, which is not supported`, {
        file: ctx.file, field: 'word_embed_proj_dim', hint: 'OPT sizes with word_embed_proj_dim = hidden_size (all but opt-350m) are supported',
      });
    }
    if (!bool(raw, ctx, 'layer_norm_elementwise_affine', true)) {
      throw new AtlasError('LayerNorms without weights are not supported', { file: ctx.file, field: 'layer_norm_elementwise_affine' });
    }
    const pre = bool(raw, ctx, 'do_layer_norm_before', true);
    const bias = bool(raw, ctx, 'enable_bias', true);
    const maxPositions = posInt(raw, ctx, ['max_position_embeddings'], 2048);
    const nLayer = posInt(raw, ctx, ['num_hidden_layers']);
    const block: BlockSpec = {
      residual: pre ? 'pre' : 'post',
      ln1: layerNorm(OPT_EPS),
      ln2: layerNorm(OPT_EPS),
      attn: { nHead, nKvHead: nHead, headDim: d / nHead, scale: 1 / Math.sqrt(d / nHead), qkvBias: bias, outBias: bias, causal: true },
      mlp: { gated: false, activation: activation(raw, ctx, 'activation_function', 'relu'), dFF: posInt(raw, ctx, ['ffn_dim']), bias },
    };
    const finalNorm = pre && !bool(raw, ctx, '_remove_final_layer_norm', false);
    return {
      family: 'opt', modelType: 'opt', nLayer, dModel: d,
      vocabSize: posInt(raw, ctx, ['vocab_size']),
      maxPositions,
      embed: { scale: 1, learnedPositions: { rows: maxPositions + OPT_POSITION_OFFSET, offset: OPT_POSITION_OFFSET }, tokenTypes: 0 },
      blocks: Array.from({ length: nLayer }, () => block),
      ...(finalNorm ? { finalNorm: layerNorm(OPT_EPS) } : {}),
      unembed: { tied: bool(raw, ctx, 'tie_word_embeddings', true), bias: false },
      ...tokenIds(raw),
    };
  },

  weightRecipes(spec: ModelSpec, stored: StoredTensors): Map<string, WeightRecipe> {
    const p = detectPrefix(stored, ['model.decoder.', 'decoder.', ''], ['embed_tokens.weight']);
    const d = spec.dModel, V = spec.vocabSize;
    const m = new Map<string, WeightRecipe>();
    m.set(W.embed, whole(`${p}embed_tokens.weight`, [V, d]));
    m.set(W.pos, whole(`${p}embed_positions.weight`, [spec.embed.learnedPositions!.rows, d]));
    spec.blocks.forEach((b, l) => {
      const n = W.block(l), s = `${p}layers.${l}.`, a = `${s}self_attn.`, f = b.mlp.dFF;
      normRecipes(m, b.ln1, n.ln1W, n.ln1B, `${s}self_attn_layer_norm.weight`, `${s}self_attn_layer_norm.bias`, d);
      for (const [w, bn, part] of [[n.Wq, n.bq, 'q_proj'], [n.Wk, n.bk, 'k_proj'], [n.Wv, n.bv, 'v_proj']] as const) {
        m.set(w, whole(`${a}${part}.weight`, [d, d]));
        if (b.attn.qkvBias) m.set(bn, whole(`${a}${part}.bias`, [d]));
      }
      m.set(n.Wo, whole(`${a}out_proj.weight`, [d, d]));
      if (b.attn.outBias) m.set(n.bo, whole(`${a}out_proj.bias`, [d]));
      normRecipes(m, b.ln2, n.ln2W, n.ln2B, `${s}final_layer_norm.weight`, `${s}final_layer_norm.bias`, d);
      m.set(n.Win, whole(`${s}fc1.weight`, [f, d]));
      m.set(n.Wout, whole(`${s}fc2.weight`, [d, f]));
      if (b.mlp.bias) {
        m.set(n.bin, whole(`${s}fc1.bias`, [f]));
        m.set(n.bout, whole(`${s}fc2.bias`, [d]));
      }
    });
    normRecipes(m, spec.finalNorm, W.finalNormW, W.finalNormB, `${p}final_layer_norm.weight`, `${p}final_layer_norm.bias`, d);
    m.set(W.unembed, spec.unembed!.tied ? whole(`${p}embed_tokens.weight`, [V, d]) : whole('lm_head.weight', [V, d]));
    return m;
  },

  isBuffer: () => false,
  isIgnored: (name, spec) => name === 'lm_head.weight' && !!spec.unembed?.tied,
};

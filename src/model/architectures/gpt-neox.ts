/**
 * GPT-NeoX / Pythia (transformers GPTNeoXModel): LayerNorm blocks, parallel residual with two norms
 * (use_parallel_residual, default true: out = x + attn(ln1(x)) + mlp(ln2(x))) or sequential pre-LN, partial
 * rotary (the first int(head_dim · rotary_pct) dims of each head, rotate_half), fused query_key_value laid out
 * PER HEAD ([q_h; k_h; v_h] for each head h), exact gelu, separate embed_out.
 * Config keys (GPTNeoXConfig): hidden_size, num_attention_heads, num_hidden_layers, intermediate_size,
 * layer_norm_eps (1e-5), rotary_pct (0.25; newer files: partial_rotary_factor), rotary_emb_base (10000; newer:
 * rope_theta), rope_scaling, use_parallel_residual (true), hidden_act ('gelu'), max_position_embeddings (2048),
 * tie_word_embeddings (false), attention_bias (true).
 */
import { AtlasError } from '../../errors.ts';
import type { ArchitectureModule, BlockSpec, ModelSpec, StoredTensors, WeightRecipe } from '../spec.ts';
import { W } from '../spec.ts';
import { activation, bool, bufferMatcher, detectPrefix, divides, layerNorm, normRecipes, num, posInt, ropeScaling, tokenIds, whole, type Raw } from './common.ts';

/** Rows of one of q (part 0), k (1), v (2) in GPT-NeoX's per-head fused layout. */
function perHeadRows(nHead: number, hd: number, part: number): Int32Array {
  const rows = new Int32Array(nHead * hd);
  for (let h = 0; h < nHead; h++) for (let e = 0; e < hd; e++) rows[h * hd + e] = h * 3 * hd + part * hd + e;
  return rows;
}

export const gptNeox: ArchitectureModule = {
  family: 'gpt_neox',
  modelTypes: ['gpt_neox'],
  description: 'GPT-NeoX, Pythia (parallel residual, partial rotary, per-head fused qkv)',

  parseConfig(raw: Raw, ctx): ModelSpec {
    const d = posInt(raw, ctx, ['hidden_size']);
    const nHead = posInt(raw, ctx, ['num_attention_heads']);
    divides(ctx, 'hidden_size', d, 'num_attention_heads', nHead);
    const hd = d / nHead;
    const pct = num(raw, ctx, ['rotary_pct', 'partial_rotary_factor'], 0.25);
    const dims = Math.floor(hd * pct);
    if (dims < 2 || dims % 2 !== 0 || dims > hd) {
      throw new AtlasError(`gives ${dims} rotary dimensions for head size ${hd}; need an even number in 2..${hd}`, { file: ctx.file, field: 'rotary_pct' });
    }
    const maxPositions = posInt(raw, ctx, ['max_position_embeddings'], 2048);
    const eps = num(raw, ctx, ['layer_norm_eps'], 1e-5);
    const bias = bool(raw, ctx, 'attention_bias', true);
    const parallel = bool(raw, ctx, 'use_parallel_residual', true);
    const nLayer = posInt(raw, ctx, ['num_hidden_layers']);
    const block: BlockSpec = {
      residual: parallel ? 'parallel' : 'pre',
      ln1: layerNorm(eps),
      ln2: layerNorm(eps),
      attn: {
        nHead, nKvHead: nHead, headDim: hd, scale: 1 / Math.sqrt(hd), qkvBias: bias, outBias: bias, causal: true,
        rotary: { dims, base: num(raw, ctx, ['rotary_emb_base', 'rope_theta'], 10000), style: 'half', scaling: ropeScaling(raw, ctx, maxPositions) },
      },
      mlp: { gated: false, activation: activation(raw, ctx, 'hidden_act', 'gelu'), dFF: posInt(raw, ctx, ['intermediate_size']), bias: true },
    };
    return {
      family: 'gpt_neox', modelType: 'gpt_neox', nLayer, dModel: d,
      vocabSize: posInt(raw, ctx, ['vocab_size']),
      maxPositions,
      embed: { scale: 1, tokenTypes: 0 },
      blocks: Array.from({ length: nLayer }, () => block),
      finalNorm: layerNorm(eps),
      unembed: { tied: bool(raw, ctx, 'tie_word_embeddings', false), bias: false },
      ...tokenIds(raw),
    };
  },

  weightRecipes(spec: ModelSpec, stored: StoredTensors): Map<string, WeightRecipe> {
    const p = detectPrefix(stored, ['gpt_neox.', ''], ['embed_in.weight']);
    const d = spec.dModel, V = spec.vocabSize;
    const m = new Map<string, WeightRecipe>();
    m.set(W.embed, whole(`${p}embed_in.weight`, [V, d]));
    spec.blocks.forEach((b, l) => {
      const n = W.block(l), s = `${p}layers.${l}.`, f = b.mlp.dFF, { nHead, headDim } = b.attn;
      normRecipes(m, b.ln1, n.ln1W, n.ln1B, `${s}input_layernorm.weight`, `${s}input_layernorm.bias`, d);
      normRecipes(m, b.ln2, n.ln2W, n.ln2B, `${s}post_attention_layernorm.weight`, `${s}post_attention_layernorm.bias`, d);
      const qkv = `${s}attention.query_key_value`;
      [n.Wq, n.Wk, n.Wv].forEach((name, part) => m.set(name, { from: `${qkv}.weight`, storedShape: [3 * d, d], rows: perHeadRows(nHead, headDim, part) }));
      if (b.attn.qkvBias) [n.bq, n.bk, n.bv].forEach((name, part) => m.set(name, { from: `${qkv}.bias`, storedShape: [3 * d], rows: perHeadRows(nHead, headDim, part) }));
      m.set(n.Wo, whole(`${s}attention.dense.weight`, [d, d]));
      if (b.attn.outBias) m.set(n.bo, whole(`${s}attention.dense.bias`, [d]));
      m.set(n.Win, whole(`${s}mlp.dense_h_to_4h.weight`, [f, d]));
      m.set(n.bin, whole(`${s}mlp.dense_h_to_4h.bias`, [f]));
      m.set(n.Wout, whole(`${s}mlp.dense_4h_to_h.weight`, [d, f]));
      m.set(n.bout, whole(`${s}mlp.dense_4h_to_h.bias`, [d]));
    });
    normRecipes(m, spec.finalNorm, W.finalNormW, W.finalNormB, `${p}final_layer_norm.weight`, `${p}final_layer_norm.bias`, d);
    m.set(W.unembed, spec.unembed!.tied ? whole(`${p}embed_in.weight`, [V, d]) : whole('embed_out.weight', [V, d]));
    return m;
  },

  isBuffer: bufferMatcher([/\.attention\.(bias|masked_bias)$/, /\.rotary_emb\.inv_freq$/]),
  isIgnored: (name, spec) => name === 'embed_out.weight' && !!spec.unembed?.tied,
};

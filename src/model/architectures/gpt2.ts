/**
 * GPT-2 (transformers GPT2Model / GPT2LMHeadModel): learned positions, pre-LN LayerNorm blocks, fused c_attn,
 * Conv1D weights stored [in, out], gelu_new, tied head.
 *   a = x + c_proj(attn(ln_1(x))),  x' = a + mlp.c_proj(act(mlp.c_fc(ln_2(a))))
 * Config keys (GPT2Config defaults): n_embd, n_head, n_layer, n_inner (4·n_embd), n_positions (1024),
 * layer_norm_epsilon (1e-5), activation_function ('gelu_new'), tie_word_embeddings (true),
 * scale_attn_weights (true), scale_attn_by_inverse_layer_idx (false).
 */
import type { ArchitectureModule, BlockSpec, ModelSpec, StoredTensors, WeightRecipe } from '../spec.ts';
import { W } from '../spec.ts';
import { activation, bool, bufferMatcher, detectPrefix, divides, layerNorm, normRecipes, num, posInt, rowRange, tokenIds, whole, type Raw } from './common.ts';

export const gpt2: ArchitectureModule = {
  family: 'gpt2',
  modelTypes: ['gpt2'],
  description: 'GPT-2 (learned positions, pre-LN, fused c_attn, Conv1D weights)',

  parseConfig(raw: Raw, ctx): ModelSpec {
    const d = posInt(raw, ctx, ['n_embd', 'hidden_size']);
    const nHead = posInt(raw, ctx, ['n_head', 'num_attention_heads']);
    divides(ctx, 'n_embd', d, 'n_head', nHead);
    const nLayer = posInt(raw, ctx, ['n_layer', 'num_hidden_layers']);
    const maxPositions = posInt(raw, ctx, ['n_positions', 'n_ctx', 'max_position_embeddings'], 1024);
    const eps = num(raw, ctx, ['layer_norm_epsilon'], 1e-5);
    const headDim = d / nHead;
    const scaleWeights = bool(raw, ctx, 'scale_attn_weights', true);
    const byLayer = bool(raw, ctx, 'scale_attn_by_inverse_layer_idx', false);
    const act = activation(raw, ctx, 'activation_function', 'gelu_new');
    const dFF = posInt(raw, ctx, ['n_inner'], 4 * d);
    const blocks: BlockSpec[] = Array.from({ length: nLayer }, (_, l) => ({
      residual: 'pre',
      ln1: layerNorm(eps),
      ln2: layerNorm(eps),
      attn: {
        nHead, nKvHead: nHead, headDim,
        scale: (scaleWeights ? 1 / Math.sqrt(headDim) : 1) / (byLayer ? l + 1 : 1),
        qkvBias: true, outBias: true, causal: true,
      },
      mlp: { gated: false, activation: act, dFF, bias: true },
    }));
    return {
      family: 'gpt2', modelType: 'gpt2', nLayer, dModel: d,
      vocabSize: posInt(raw, ctx, ['vocab_size']),
      maxPositions,
      embed: { scale: 1, learnedPositions: { rows: maxPositions, offset: 0 }, tokenTypes: 0 },
      blocks,
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
      const n = W.block(l), s = `${p}h.${l}.`, f = b.mlp.dFF;
      normRecipes(m, b.ln1, n.ln1W, n.ln1B, `${s}ln_1.weight`, `${s}ln_1.bias`, d);
      const qkvW = [d, 3 * d], qkvB = [3 * d];
      // c_attn is Conv1D [in, 3d]: transposed it is [3d, in] = W_Q; W_K; W_V stacked along out.
      [n.Wq, n.Wk, n.Wv].forEach((name, i) => m.set(name, rowRange(`${s}attn.c_attn.weight`, qkvW, i * d, d, true)));
      [n.bq, n.bk, n.bv].forEach((name, i) => m.set(name, rowRange(`${s}attn.c_attn.bias`, qkvB, i * d, d)));
      m.set(n.Wo, whole(`${s}attn.c_proj.weight`, [d, d], true));
      m.set(n.bo, whole(`${s}attn.c_proj.bias`, [d]));
      normRecipes(m, b.ln2, n.ln2W, n.ln2B, `${s}ln_2.weight`, `${s}ln_2.bias`, d);
      m.set(n.Win, whole(`${s}mlp.c_fc.weight`, [d, f], true));
      m.set(n.bin, whole(`${s}mlp.c_fc.bias`, [f]));
      m.set(n.Wout, whole(`${s}mlp.c_proj.weight`, [f, d], true));
      m.set(n.bout, whole(`${s}mlp.c_proj.bias`, [d]));
    });
    normRecipes(m, spec.finalNorm, W.finalNormW, W.finalNormB, `${p}ln_f.weight`, `${p}ln_f.bias`, d);
    m.set(W.unembed, spec.unembed!.tied ? whole(`${p}wte.weight`, [V, d]) : whole('lm_head.weight', [V, d]));
    return m;
  },

  isBuffer: bufferMatcher([/(^|\.)h\.\d+\.attn\.(bias|masked_bias)$/]),
  isIgnored: (name, spec) => name === 'lm_head.weight' && !!spec.unembed?.tied,
};

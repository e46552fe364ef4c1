/**
 * GPT-J (transformers GPTJModel): ONE LayerNorm per block feeding attention and MLP in parallel
 * (out = x + attn(ln_1(x)) + mlp(ln_1(x))), q/k/v/out without biases, interleaved rotary (rotate_every_two)
 * on the first rotary_dim dims of each head, gelu_new MLP fc_in / fc_out, ln_f, lm_head WITH bias.
 * Config keys (GPTJConfig): n_embd, n_head, n_layer, n_inner (null → 4·n_embd), n_positions (2048),
 * rotary_dim (64; null → the whole head), layer_norm_epsilon (1e-5), activation_function ('gelu_new'),
 * tie_word_embeddings (false).
 */
import { AtlasError } from '../../errors.ts';
import type { ArchitectureModule, BlockSpec, ModelSpec, StoredTensors, WeightRecipe } from '../spec.ts';
import { W } from '../spec.ts';
import { activation, bool, bufferMatcher, detectPrefix, divides, layerNorm, normRecipes, num, posInt, tokenIds, whole, type Raw } from './common.ts';

export const gptj: ArchitectureModule = {
  family: 'gptj',
  modelTypes: ['gptj'],
  description: 'GPT-J (parallel block with one shared norm, interleaved partial rotary, lm_head bias)',

  parseConfig(raw: Raw, ctx): ModelSpec {
    const d = posInt(raw, ctx, ['n_embd']);
    const nHead = posInt(raw, ctx, ['n_head']);
    divides(ctx, 'n_embd', d, 'n_head', nHead);
    const hd = d / nHead;
    const dims = raw.rotary_dim === null ? hd : posInt(raw, ctx, ['rotary_dim'], 64);
    if (dims % 2 !== 0 || dims > hd) throw new AtlasError(`${dims} rotary dimensions do not fit a head of ${hd} (need an even number ≤ head size)`, { file: ctx.file, field: 'rotary_dim' });
    const maxPositions = posInt(raw, ctx, ['n_positions'], 2048);
    const eps = num(raw, ctx, ['layer_norm_epsilon'], 1e-5);
    const nLayer = posInt(raw, ctx, ['n_layer']);
    const block: BlockSpec = {
      residual: 'parallel',
      ln1: layerNorm(eps),
      attn: { nHead, nKvHead: nHead, headDim: hd, scale: 1 / Math.sqrt(hd), qkvBias: false, outBias: false, causal: true, rotary: { dims, base: 10000, style: 'interleaved', scaling: { type: 'none' } } },
      mlp: { gated: false, activation: activation(raw, ctx, 'activation_function', 'gelu_new'), dFF: posInt(raw, ctx, ['n_inner'], 4 * d), bias: true },
    };
    return {
      family: 'gptj', modelType: 'gptj', nLayer, dModel: d,
      vocabSize: posInt(raw, ctx, ['vocab_size']),
      maxPositions,
      embed: { scale: 1, tokenTypes: 0 },
      blocks: Array.from({ length: nLayer }, () => block),
      finalNorm: layerNorm(eps),
      unembed: bool(raw, ctx, 'tie_word_embeddings', false) ? { tied: true, bias: false } : { tied: false, bias: true },
      ...tokenIds(raw),
    };
  },

  weightRecipes(spec: ModelSpec, stored: StoredTensors): Map<string, WeightRecipe> {
    const p = detectPrefix(stored, ['transformer.', ''], ['wte.weight']);
    const d = spec.dModel, V = spec.vocabSize;
    const m = new Map<string, WeightRecipe>();
    m.set(W.embed, whole(`${p}wte.weight`, [V, d]));
    spec.blocks.forEach((b, l) => {
      const n = W.block(l), s = `${p}h.${l}.`, f = b.mlp.dFF;
      normRecipes(m, b.ln1, n.ln1W, n.ln1B, `${s}ln_1.weight`, `${s}ln_1.bias`, d);
      m.set(n.Wq, whole(`${s}attn.q_proj.weight`, [d, d]));
      m.set(n.Wk, whole(`${s}attn.k_proj.weight`, [d, d]));
      m.set(n.Wv, whole(`${s}attn.v_proj.weight`, [d, d]));
      m.set(n.Wo, whole(`${s}attn.out_proj.weight`, [d, d]));
      m.set(n.Win, whole(`${s}mlp.fc_in.weight`, [f, d]));
      m.set(n.bin, whole(`${s}mlp.fc_in.bias`, [f]));
      m.set(n.Wout, whole(`${s}mlp.fc_out.weight`, [d, f]));
      m.set(n.bout, whole(`${s}mlp.fc_out.bias`, [d]));
    });
    normRecipes(m, spec.finalNorm, W.finalNormW, W.finalNormB, `${p}ln_f.weight`, `${p}ln_f.bias`, d);
    m.set(W.unembed, spec.unembed!.tied ? whole(`${p}wte.weight`, [V, d]) : whole('lm_head.weight', [V, d]));
    if (spec.unembed!.bias) m.set(W.unembedBias, whole('lm_head.bias', [V]));
    return m;
  },

  isBuffer: bufferMatcher([/\.attn\.(bias|masked_bias)$/]),
  isIgnored: (name, spec) => name === 'lm_head.weight' && !!spec.unembed?.tied,
};

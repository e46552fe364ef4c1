/**
 * BERT and DistilBERT encoders (transformers BertModel / DistilBertModel): learned positions (+ token type 0),
 * embedding LayerNorm, post-LN blocks, bidirectional attention with padded keys masked, no final norm, no LM
 * head (the masked-LM head, pooler and classifier heads are not read).
 *   e = LayerNorm(word[ids] + position[pos] + token_type[0])
 *   a = LayerNorm(x + attention.output.dense(attn(x))),  x' = LayerNorm(a + output.dense(act(intermediate.dense(a))))
 * BertConfig: hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, hidden_act ('gelu'),
 * max_position_embeddings (512), type_vocab_size (2), layer_norm_eps (1e-12), position_embedding_type
 * ('absolute' only). DistilBertConfig: dim (768), n_layers (6), n_heads (12), hidden_dim (4·dim), activation
 * ('gelu'), max_position_embeddings (512); no token types; LayerNorm eps fixed at 1e-12 in its modelling code.
 */
import { AtlasError } from '../../errors.ts';
import type { ArchitectureModule, BlockSpec, ModelSpec, StoredTensors, WeightRecipe } from '../spec.ts';
import { W } from '../spec.ts';
import { activation, bufferMatcher, detectPrefix, divides, layerNorm, num, pick, posInt, tokenIds, whole, type Raw } from './common.ts';

/** DistilBERT's per-layer names next to the BERT ones (same maths). */
const DISTIL_LAYER: Record<string, string> = {
  'attention.self.query': 'attention.q_lin',
  'attention.self.key': 'attention.k_lin',
  'attention.self.value': 'attention.v_lin',
  'attention.output.dense': 'attention.out_lin',
  'attention.output.LayerNorm': 'sa_layer_norm',
  'intermediate.dense': 'ffn.lin1',
  'output.dense': 'ffn.lin2',
  'output.LayerNorm': 'output_layer_norm',
};

export const bert: ArchitectureModule = {
  family: 'bert',
  modelTypes: ['bert', 'distilbert'],
  description: 'BERT, DistilBERT encoders (learned positions, post-LN, bidirectional; no LM head)',

  parseConfig(raw: Raw, ctx): ModelSpec {
    const distil = raw.model_type === 'distilbert';
    const f = (b: string, dist: string): string => (distil ? dist : b);
    const d = posInt(raw, ctx, [f('hidden_size', 'dim')], distil ? 768 : undefined);
    const nHead = posInt(raw, ctx, [f('num_attention_heads', 'n_heads')], distil ? 12 : undefined);
    divides(ctx, f('hidden_size', 'dim'), d, f('num_attention_heads', 'n_heads'), nHead);
    if (!distil && raw.position_embedding_type !== undefined && raw.position_embedding_type !== 'absolute') {
      throw new AtlasError(`position_embedding_type ${JSON.stringify(raw.position_embedding_type)} is not supported`, {
        file: ctx.file, field: 'position_embedding_type', hint: "only 'absolute' (learned positions, the BERT default) is implemented",
      });
    }
    // DistilBERT's sinusoidal_pos_embds: the table is stored as position_embeddings.weight anyway, so it loads as is.
    const tokenTypes = distil ? 0 : num(raw, ctx, ['type_vocab_size'], 2);
    if (!Number.isInteger(tokenTypes) || tokenTypes < 0) throw new AtlasError(`must be a non-negative integer, got ${tokenTypes}`, { file: ctx.file, field: 'type_vocab_size' });
    const eps = distil ? 1e-12 : num(raw, ctx, ['layer_norm_eps'], 1e-12);
    const nLayer = posInt(raw, ctx, [f('num_hidden_layers', 'n_layers')], distil ? 6 : undefined);
    const maxPositions = posInt(raw, ctx, ['max_position_embeddings'], 512);
    const block: BlockSpec = {
      residual: 'post',
      ln1: layerNorm(eps),
      ln2: layerNorm(eps),
      attn: { nHead, nKvHead: nHead, headDim: d / nHead, scale: 1 / Math.sqrt(d / nHead), qkvBias: true, outBias: true, causal: false },
      mlp: { gated: false, activation: activation(raw, ctx, f('hidden_act', 'activation'), 'gelu'), dFF: posInt(raw, ctx, [f('intermediate_size', 'hidden_dim')], distil ? 4 * d : undefined), bias: true },
    };
    return {
      family: 'bert', modelType: String(raw.model_type), nLayer, dModel: d,
      vocabSize: posInt(raw, ctx, ['vocab_size']),
      maxPositions,
      embed: { scale: 1, learnedPositions: { rows: maxPositions, offset: 0 }, tokenTypes, norm: layerNorm(eps) },
      blocks: Array.from({ length: nLayer }, () => block),
      ...tokenIds(raw),
    };
  },

  weightRecipes(spec: ModelSpec, stored: StoredTensors): Map<string, WeightRecipe> {
    return bertRecipes(spec, stored, spec.modelType === 'distilbert' ? ['distilbert.', '', 'bert.'] : ['bert.', '']);
  },

  isBuffer: bufferMatcher([/(^|\.)position_ids$/]),
  isIgnored: (name) => BERT_HEADS.test(name),
};

/** Heads the bare encoder does not read: pooler, masked-LM heads (BERT `cls.`, RoBERTa `lm_head.`, DistilBERT `vocab_*`), classifiers. */
export const BERT_HEADS = /^((bert|distilbert|roberta)\.)?(pooler\.|cls\.|lm_head\.|vocab_transform\.|vocab_layer_norm\.|vocab_projector\.|pre_classifier\.|classifier\.|qa_outputs\.)/;

/** Recipes for BERT-layout stored names (and DistilBERT's, for model_type distilbert) under the first matching prefix. */
export function bertRecipes(spec: ModelSpec, stored: StoredTensors, prefixes: string[]): Map<string, WeightRecipe> {
    const distil = spec.modelType === 'distilbert';
    const p = detectPrefix(stored, prefixes, ['embeddings.word_embeddings.weight']);
    const d = spec.dModel;
    // Old TF-converted checkpoints store LayerNorm.gamma / beta.
    const ln = (base: string, kind: 'weight' | 'bias'): string => pick(stored, [`${base}.${kind}`, `${base}.${kind === 'weight' ? 'gamma' : 'beta'}`]);
    const m = new Map<string, WeightRecipe>();
    m.set(W.embed, whole(`${p}embeddings.word_embeddings.weight`, [spec.vocabSize, d]));
    m.set(W.pos, whole(`${p}embeddings.position_embeddings.weight`, [spec.embed.learnedPositions!.rows, d]));
    if (spec.embed.tokenTypes > 0) m.set(W.tokenType, whole(`${p}embeddings.token_type_embeddings.weight`, [spec.embed.tokenTypes, d]));
    m.set(W.embedNormW, whole(ln(`${p}embeddings.LayerNorm`, 'weight'), [d]));
    m.set(W.embedNormB, whole(ln(`${p}embeddings.LayerNorm`, 'bias'), [d]));
    spec.blocks.forEach((b, l) => {
      const n = W.block(l), f = b.mlp.dFF;
      // DistilBERT checkpoints may also come under BERT names (a converted or legacy-named source).
      const name = (part: string): string => {
        const bertName = `${p}encoder.layer.${l}.${part}`;
        return distil ? pick(stored, [`${p}transformer.layer.${l}.${DISTIL_LAYER[part]}.weight`, `${bertName}.weight`]).replace(/\.weight$/, '') : bertName;
      };
      const lin = (part: string, wName: string, bName: string, out: number, inp: number): void => {
        m.set(wName, whole(`${name(part)}.weight`, [out, inp]));
        m.set(bName, whole(`${name(part)}.bias`, [out]));
      };
      lin('attention.self.query', n.Wq, n.bq, d, d);
      lin('attention.self.key', n.Wk, n.bk, d, d);
      lin('attention.self.value', n.Wv, n.bv, d, d);
      lin('attention.output.dense', n.Wo, n.bo, d, d);
      m.set(n.ln1W, whole(ln(name('attention.output.LayerNorm'), 'weight'), [d]));
      m.set(n.ln1B, whole(ln(name('attention.output.LayerNorm'), 'bias'), [d]));
      lin('intermediate.dense', n.Win, n.bin, f, d);
      lin('output.dense', n.Wout, n.bout, d, f);
      m.set(n.ln2W, whole(ln(name('output.LayerNorm'), 'weight'), [d]));
      m.set(n.ln2B, whole(ln(name('output.LayerNorm'), 'bias'), [d]));
    });
    return m;
}

/**
 * RoBERTa (transformers RobertaModel): BERT's encoder with position ids padding_idx + 1 + (cumsum(mask) - 1)
 * (create_position_ids_from_input_ids), so learned positions are read at an offset of pad_token_id + 1.
 * Config keys (RobertaConfig): BERT's, with pad_token_id (1), layer_norm_eps (1e-12; released models 1e-5),
 * type_vocab_size (2; released models 1). The masked-LM head (`lm_head.*`) and pooler are not read.
 */
import { AtlasError } from '../../errors.ts';
import type { ArchitectureModule, ModelSpec, StoredTensors, WeightRecipe } from '../spec.ts';
import { BERT_HEADS, bert, bertRecipes } from './bert.ts';
import { bufferMatcher, num, type Raw } from './common.ts';

export const roberta: ArchitectureModule = {
  family: 'roberta',
  modelTypes: ['roberta'],
  description: 'RoBERTa encoders (BERT with positions offset by padding_idx + 1; no LM head)',

  parseConfig(raw: Raw, ctx): ModelSpec {
    const spec = bert.parseConfig(raw, ctx);
    const pad = num(raw, ctx, ['pad_token_id'], 1);
    if (!Number.isInteger(pad) || pad < 0) throw new AtlasError(`must be a non-negative integer, got ${pad}`, { file: ctx.file, field: 'pad_token_id' });
    const rows = spec.embed.learnedPositions!.rows;
    if (rows <= pad + 1) throw new AtlasError(`max_position_embeddings (${rows}) leaves no position after the padding offset ${pad + 1}`, { file: ctx.file, field: 'max_position_embeddings' });
    return { ...spec, family: 'roberta', maxPositions: rows - pad - 1, embed: { ...spec.embed, learnedPositions: { rows, offset: pad + 1 } } };
  },

  weightRecipes(spec: ModelSpec, stored: StoredTensors): Map<string, WeightRecipe> {
    return bertRecipes(spec, stored, ['roberta.', '']);
  },

  isBuffer: bufferMatcher([/(^|\.)position_ids$/, /(^|\.)token_type_ids$/]),
  isIgnored: (name) => BERT_HEADS.test(name),
};

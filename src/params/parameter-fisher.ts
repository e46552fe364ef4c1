/**
 * Diagonal parameter Fisher of a model on a dataset's texts, in the pipelines' call shape
 * (model, dataset, options): tokenises the texts in batches and accumulates exact per-sample gradients.
 */
import { AtlasError } from '../errors.ts';
import type { Checkpoint } from '../model/checkpoint.ts';
import { assertWholeModelFits, resolveMaxMemory } from '../model/memory.ts';
import type { AtlasTokenizer } from '../model/tokenizer.ts';
import type { Dataset } from '../data/dataset.ts';
import { withDefaults, type OptionsOf } from '../util/option-table.ts';
import { ParamStore } from './param-store.ts';
import { diagonalFisher, type FisherResult } from './fisher.ts';
import type { TokenBatch } from './backprop.ts';
import { PARAM_FISHER_OPTIONS } from './defaults.ts';

export type ParameterFisherOptions = OptionsOf<typeof PARAM_FISHER_OPTIONS> & {
  /** Called after each batch with the texts done so far. */
  onProgress?: (done: number, total: number) => void;
};

export interface ParameterFisherResult extends FisherResult {
  params: ParamStore<Float32Array>;
  /** The options used, defaults filled in. */
  options: { maxLength: number; batchSize: number; mode: FisherResult['mode']; seed: number };
}

/** The model as far as parameter Fisher needs it: weights and tokenizer (a LoadedModel has both). */
export interface ModelWeights {
  checkpoint: Checkpoint;
  tokenizer: AtlasTokenizer;
}

export async function parameterFisher(model: ModelWeights, dataset: Dataset, options: ParameterFisherOptions & { maxMemory?: number | string } = {}): Promise<ParameterFisherResult> {
  const o = withDefaults(PARAM_FISHER_OPTIONS, options);
  const maxLength = o.maxLength ?? PARAM_FISHER_OPTIONS.maxLength.default!;
  const texts = dataset.texts.filter((t) => t.trim().length > 0);
  if (texts.length === 0) throw new AtlasError('no non-empty texts', { file: dataset.source });
  // params, gradients and per-sample gradients are all whole-model: they cannot stream blocks
  assertWholeModelFits(model.checkpoint.spec, resolveMaxMemory(options.maxMemory), 'fim (per-sample gradients)', 2);
  const params = ParamStore.fromCheckpoint(model.checkpoint);
  async function* batches(): AsyncGenerator<TokenBatch> {
    for (let i = 0; i < texts.length; i += o.batchSize) {
      const chunk = texts.slice(i, i + o.batchSize);
      const enc = model.tokenizer.encodeBatch(chunk, { maxLength });
      yield { ids: enc.ids, attentionMask: enc.attentionMask, batch: chunk.length, seqLen: enc.seqLen };
      options.onProgress?.(Math.min(i + o.batchSize, texts.length), texts.length);
    }
  }
  const result = await diagonalFisher(params, batches(), { mode: o.mode, normalise: o.normalise, seed: o.seed });
  if (result.samples === 0) throw new AtlasError('no text has two or more tokens: nothing to predict', { file: dataset.source });
  return { ...result, params, options: { maxLength, batchSize: o.batchSize, mode: o.mode, seed: o.seed } };
}

/**
 * Defaults of parameter-space Fisher (parameterFisher, `latent-atlas fim`): written once here. How many texts
 * is the dataset's --num-samples (DATASET_OPTIONS; fim's own default FIM_NUM_SAMPLES).
 */
import { defineOptions, opt } from '../util/option-table.ts';
import { BATCH_SIZE, MAX_LENGTH, SEED } from '../data/defaults.ts';
import type { FisherMode, FisherNormalise } from './fisher.ts';

export const PARAM_FISHER_OPTIONS = defineOptions({
  // Per-sample gradients cost grows with length: a shorter default than the activation commands.
  maxLength: { ...MAX_LENGTH, default: 128, defaultText: undefined, min: 2 } as typeof MAX_LENGTH,
  batchSize: BATCH_SIZE,
  mode: opt<FisherMode>({ kind: 'choice', default: 'empirical', choices: ['empirical', 'true'], help: "empirical: the text's own next tokens; true: targets sampled from the model" }),
  seed: { ...SEED, help: "seed of the --num-samples shuffle and of 'true' mode's sampling" },
  normalise: opt<FisherNormalise>({ kind: 'choice', default: 'mean', choices: ['mean', 'sum'], help: "mean: squared gradient of the mean per-token loss (the Fisher/similarity toolkit's estimator); sum: of the summed log-likelihood" }),
});

/** The Fisher/similarity toolkit's own defaults (`fim --upstream`); explicit flags still win. */
export const FIM_UPSTREAM_DEFAULTS = { numSamples: 20, maxLength: 256, batchSize: 2, normalise: 'mean' as FisherNormalise };

/** fim reads at most this many texts unless --num-samples says otherwise (the gradients are costly). */
export const FIM_NUM_SAMPLES = 100;

/**
 * Defaults of parameter-space Fisher (parameterFisher, `latent-atlas fim`): written once here. How many texts
 * is the dataset's --num-samples (DATASET_OPTIONS; fim's own default FIM_NUM_SAMPLES).
 */
import { defineOptions, opt } from '../util/option-table.ts';
import { AtlasError } from '../errors.ts';
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

/** `[lo, hi]` from 'lo,hi' (two finite numbers, lo < hi); AtlasError naming the flag otherwise. */
export function parseRange(raw: string, flag: string): [number, number] {
  const parts = raw.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
  if (parts.length !== 2 || !parts.every(Number.isFinite) || !(parts[0] < parts[1])) {
    throw new AtlasError(`--${flag} must be two numbers LO,HI with LO < HI (e.g. 0.8,1), got '${raw}'`);
  }
  return [parts[0], parts[1]];
}

/** Options of `latent-atlas similarity` (analyzeSimilarity + its figures). */
export const SIMILARITY_OPTIONS = defineOptions({
  components: opt<string[] | undefined>({
    kind: 'list', default: undefined, metavar: 'q,k,...', defaultText: 'every tensor',
    help: "only these of the Fisher/similarity toolkit's components (their weight matrices): q, k, v, o, gate, up, down",
  }),
  colorRange: opt<[number, number] | undefined>({
    kind: 'string', default: undefined, metavar: 'LO,HI', defaultText: 'min(0, lowest mean) to 1', parse: parseRange,
    help: "fixed colour range of the heatmaps and y range of the per-component line plots (the toolkit's: 0.8,1)",
  }),
});

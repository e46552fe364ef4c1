import { AtlasError } from '../../errors.ts';
import { parseFlagsWithConfig, type Command } from '../command.ts';
import { MODEL_DATA_FLAGS, MODEL_DATA_HELP, datasetFromFlags, extractFromFlags, modelFromFlags } from '../shared-flags.ts';
import { DATASET_OPTIONS, EXTRACT_OPTIONS } from '../../data/defaults.ts';
import { MODEL_OPTIONS } from '../../model/defaults.ts';

const FLAGS = { ...MODEL_DATA_FLAGS, out: { type: 'string' } } as const;

/** Runs a model over a labelled dataset and caches the aggregated activations of the chosen layers. */
export const extractCommand: Command = {
  name: 'extract',
  summary: 'run a model over a dataset and cache per-layer activations (.npy + meta.json)',
  tables: { model: MODEL_OPTIONS, dataset: DATASET_OPTIONS, extract: EXTRACT_OPTIONS },
  help: `Usage: latent-atlas extract [MODEL] --model MODEL --data SOURCE [options]

Writes one .npy per layer (rows = texts in dataset order, float32 unless --dtype float16) and a meta.json
sidecar (labels, class names, texts, token counts, model config, options) to the activation cache, and prints
the folder. An interrupted run resumes from its finished batches; a changed dataset or option is a new entry.
The token ids are cached beside it (tokens.npy + token-offsets.npy, meta.json tokensDir) and reused by reruns.
--lens adds lens-entropy.npy, lens-rank.npy, lens-top-ids.npy, lens-top-probs.npy and lens.json (per text and
layer: hidden state L is the model's own logits; layer 0 the embeddings).
  --out DIR               same as --cache DIR: the folder the cache entry is written under

${MODEL_DATA_HELP}`,
  async run(argv) {
    const { values, positionals } = parseFlagsWithConfig('extract', argv, FLAGS);
    if (values.out !== undefined && values.cache !== undefined && values.out !== values.cache) {
      throw new AtlasError(`--out and --cache name the same folder here: give one ('${String(values.out)}' vs '${String(values.cache)}')`);
    }
    if (values.out !== undefined) values.cache = values.out;
    const dataset = await datasetFromFlags(values);
    const model = await modelFromFlags(values, positionals);
    try {
      const started = performance.now();
      const r = await extractFromFlags(model, dataset, values);
      const secs = (performance.now() - started) / 1000;
      const tokens = r.meta.tokenCounts.reduce((a, b) => a + b, 0);
      console.log(r.cached
        ? `cached: ${r.meta.rows} rows × ${r.meta.cols} for layers ${r.layers.join(',')}`
        : `extracted ${dataset.texts.length} texts (${tokens} tokens) in ${secs.toFixed(1)} s: ${r.meta.rows} rows × ${r.meta.cols} for layers ${r.layers.join(',')}`);
      console.log(r.dir);
    } finally {
      await model.release();
    }
  },
};

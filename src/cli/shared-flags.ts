import type { ParseArgsConfig } from 'node:util';
import { AtlasError } from '../errors.ts';
import { loadDataset, type Dataset } from '../data/dataset.ts';
import { loadModel, type LoadedModel } from '../model/load.ts';
import { extractActivations, parseActivationSource, parseLayers, sourceLayerCount, type Extraction } from '../data/extract.ts';
import { parseAggregation } from '../data/aggregate.ts';
import { intFlag, requireFlag, stringFlag, type FlagValues } from './command.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Flags of every command that runs a model on a dataset: which model, which texts. */
export const MODEL_FLAGS_ONLY = {
  model: { type: 'string' },
  tokenizer: { type: 'string' },
  revision: { type: 'string', default: 'main' },
  data: { type: 'string' },
  'text-column': { type: 'string', default: 'text' },
  'label-column': { type: 'string' },
  'num-samples': { type: 'string' },
  seed: { type: 'string', default: '0' },
  'match-regex': { type: 'string' },
  threads: { type: 'string' },
} satisfies Options;

/** MODEL_FLAGS_ONLY plus the extraction flags (extract, map, profile). */
export const MODEL_DATA_FLAGS = {
  ...MODEL_FLAGS_ONLY,
  layers: { type: 'string', default: 'all' },
  aggregate: { type: 'string', default: 'final' },
  source: { type: 'string', default: 'hidden' },
  l2: { type: 'boolean', default: false },
  'batch-size': { type: 'string', default: '8' },
  'max-length': { type: 'string' },
  dtype: { type: 'string', default: 'float32' },
  cache: { type: 'string' },
  force: { type: 'boolean', default: false },
} satisfies Options;

export const MODEL_DATA_HELP = `Model and data:
  --model MODEL          checkpoint folder, llama2.c .bin, or hub id (gpt2, org/name; via $HF_HOME/hub)
  --tokenizer FILE       tokenizer file to use (tokenizer.json, SentencePiece .model, llama2.c .bin)
                         instead of the one beside the weights
  --revision REV         hub revision (default main)
  --data SOURCE          csv/tsv/jsonl/json/txt file, Hugging Face save_to_disk folder, or builtin:NAME
                         (builtin:topics, builtin:days, builtin:months)
  --text-column NAME     (default text)      --label-column NAME (default label)
  --num-samples N        at most N texts per label (seeded shuffle, --seed, default 0)
  --match-regex RE       regex whose first match in each text is the 'match' token
Extraction:
  --layers SPEC          all | 0,4,8 | 2-6 | -1 (default all; hidden states 0..n_layer, 0 = embeddings)
  --source hidden|mlp|HOOK  HF hidden_states, MLP neurons, or a hook point: resid_pre, ln1, attn_out,
                         resid_mid, mlp_post, mlp_out, resid_post, attn_v, final (docs/hook-points.md)
  --aggregate HOW        final | mean | max | first | match | all (default final)
  --l2                   L2-normalise each vector
  --batch-size N         texts per forward pass (default 8)
  --max-length N         truncate texts to N tokens (default: the model's maximum)
  --dtype float32|float16  stored precision (default float32)
  --cache DIR            cache root (default $LATENT_ATLAS_CACHE or ~/.cache/latent-atlas/activations)
  --force                recompute even when cached
  --threads N            CPU threads (default: all cores)
  --config FILE.yaml     read options from a YAML file whose keys mirror the flags; flags win`;

export async function datasetFromFlags(values: FlagValues): Promise<Dataset> {
  const source = requireFlag(values.data, 'data', 'a dataset file or builtin:topics');
  const dataset = await loadDataset(source, {
    textColumn: stringFlag(values['text-column']),
    labelColumn: stringFlag(values['label-column']),
    numSamples: values['num-samples'] === undefined ? undefined : intFlag(values['num-samples'], 'num-samples', 0, 1),
    seed: intFlag(values.seed, 'seed', 0),
    matchRegex: stringFlag(values['match-regex']),
  });
  for (const w of dataset.warnings) console.error(`warning: ${w}`);
  return dataset;
}

export async function modelFromFlags(values: FlagValues): Promise<LoadedModel> {
  const model = requireFlag(values.model, 'model', 'a checkpoint folder or a hub id such as gpt2');
  return loadModel(model, {
    revision: stringFlag(values.revision),
    tokenizer: stringFlag(values.tokenizer),
    threads: values.threads === undefined ? undefined : intFlag(values.threads, 'threads', 1, 1),
  });
}

export async function extractFromFlags(model: LoadedModel, dataset: Dataset, values: FlagValues): Promise<Extraction> {
  const source = parseActivationSource(stringFlag(values.source) ?? 'hidden');
  const count = sourceLayerCount(source, model.checkpoint.config.spec);
  const dtype = stringFlag(values.dtype) ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float16') throw new AtlasError(`--dtype must be float32 or float16, got '${dtype}'`);
  return extractActivations(model, dataset, {
    source,
    layers: parseLayers(stringFlag(values.layers) ?? 'all', count),
    aggregate: parseAggregation(stringFlag(values.aggregate) ?? 'final'),
    l2Normalize: values.l2 === true,
    batchSize: intFlag(values['batch-size'], 'batch-size', 8, 1),
    maxLength: values['max-length'] === undefined ? undefined : intFlag(values['max-length'], 'max-length', 0, 1),
    dtype,
    cacheRoot: stringFlag(values.cache),
    force: values.force === true,
  });
}

/**
 * The common flow of commands that analyse extracted activations: load the dataset and the model, extract (or
 * read from the cache), run `analyse`, and release the model whatever happens.
 */
export async function withExtraction<T>(values: FlagValues, analyse: (model: LoadedModel, dataset: Dataset, extraction: Extraction) => Promise<T>): Promise<T> {
  const dataset = await datasetFromFlags(values);
  const model = await modelFromFlags(values);
  try {
    return await analyse(model, dataset, await extractFromFlags(model, dataset, values));
  } finally {
    await model.release();
  }
}

import { resolve } from 'node:path';
import { AtlasError } from '../errors.ts';
import { loadDataset, type Dataset } from '../data/dataset.ts';
import { loadModel, type LoadedModel } from '../model/load.ts';
import { MODEL_OPTIONS } from '../model/defaults.ts';
import { DATASET_OPTIONS, EXTRACT_OPTIONS } from '../data/defaults.ts';
import { extractActivations, type Extraction, type ExtractOptions } from '../data/extract.ts';
import { requireFlag, type FlagValues } from './command.ts';
import { fromFlags, tableFlags, tableHelp } from './table-flags.ts';
import type { OptionTable } from '../util/option-table.ts';

/** Flags of every command that runs a model on a dataset: which model, which texts (defaults: the tables). */
export const MODEL_FLAGS_ONLY = {
  model: { type: 'string' },
  data: { type: 'string' },
  ...tableFlags(MODEL_OPTIONS, DATASET_OPTIONS),
} as const;

/** MODEL_FLAGS_ONLY plus the extraction flags (extract, map, profile). */
export const MODEL_DATA_FLAGS = { ...MODEL_FLAGS_ONLY, ...tableFlags(EXTRACT_OPTIONS) } as const;

export const MODEL_HELP = `Model and data:
  --model MODEL           checkpoint folder, llama2.c .bin, or hub id (gpt2, org/name; via $HF_HOME/hub);
                          or give it as the first argument
  --data SOURCE           csv/tsv/jsonl/json/txt/arrow file, Hugging Face save_to_disk folder, or builtin:NAME
                          (builtin:topics, builtin:days, builtin:months, builtin:brown-genres)
${tableHelp(MODEL_OPTIONS)}
${tableHelp(DATASET_OPTIONS)}
  --config FILE.yaml      options from a YAML file whose keys mirror the flags; flags win`;

/** Help of the extraction flags; `table` is EXTRACT_OPTIONS or a command's override of it. */
export function extractHelp(table: OptionTable = EXTRACT_OPTIONS): string {
  return `Extraction:\n${tableHelp(table)}`;
}

export const MODEL_DATA_HELP = `${MODEL_HELP}\n${extractHelp()}`;

export async function datasetFromFlags(values: FlagValues): Promise<Dataset> {
  const source = requireFlag(values.data, 'data', 'a dataset file or builtin:topics');
  const dataset = await loadDataset(source, fromFlags(DATASET_OPTIONS, values));
  for (const w of dataset.warnings) console.error(`warning: ${w}`);
  return dataset;
}

/** The model folder or hub id: --model, or the command's first positional argument. */
export function modelArgument(values: FlagValues, positionals: readonly string[] = []): string {
  if (positionals.length > 1) throw new AtlasError(`give one model, got ${positionals.length} arguments: ${positionals.join(' ')}`);
  const flag = typeof values.model === 'string' ? values.model : undefined;
  const positional = positionals[0];
  if (flag && positional && resolve(flag) !== resolve(positional)) throw new AtlasError(`give the model once: '${positional}' and --model '${flag}' differ`);
  return requireFlag(flag ?? positional, 'model', 'a checkpoint folder or a hub id such as gpt2');
}

export async function modelFromFlags(values: FlagValues, positionals: readonly string[] = []): Promise<LoadedModel> {
  return loadModel(modelArgument(values, positionals), fromFlags(MODEL_OPTIONS, values));
}

/** Extraction options from the flags over `table` (EXTRACT_OPTIONS or a command's override); shared by extract and the shard plan. */
export function extractOptionsFromFlags(values: FlagValues, table: OptionTable = EXTRACT_OPTIONS, fixed: ExtractOptions = {}): ExtractOptions {
  const given = fromFlags(table, values) as ExtractOptions;
  // A command's own table may change a default (map: the last layer); pass it explicitly then.
  const commandDefaults: ExtractOptions = {};
  for (const [k, d] of Object.entries(table)) if (d !== (EXTRACT_OPTIONS as OptionTable)[k]) (commandDefaults as Record<string, unknown>)[k] = d.default;
  return { ...commandDefaults, ...given, ...fixed };
}

/** Extracts with the options the flags ask for. */
export async function extractFromFlags(model: LoadedModel, dataset: Dataset, values: FlagValues, table: OptionTable = EXTRACT_OPTIONS, fixed: ExtractOptions = {}): Promise<Extraction> {
  return extractActivations(model, dataset, extractOptionsFromFlags(values, table, fixed));
}

/**
 * The common flow of commands that analyse extracted activations: load the dataset and the model, extract (or
 * read from the cache), run `analyse`, and release the model whatever happens.
 */
export async function withExtraction<T>(
  values: FlagValues,
  analyse: (model: LoadedModel, dataset: Dataset, extraction: Extraction) => Promise<T>,
  opts: { positionals?: readonly string[]; table?: OptionTable } = {},
): Promise<T> {
  const dataset = await datasetFromFlags(values);
  const model = await modelFromFlags(values, opts.positionals);
  try {
    return await analyse(model, dataset, await extractFromFlags(model, dataset, values, opts.table));
  } finally {
    await model.release();
  }
}

/**
 * Reads the seed-000 pipeline's config.yaml as it is and turns it into `fisher` flags, so its users can run
 * their own file unchanged:
 *
 *   model_name: gpt2-large          → --model (a hub id or a local folder)
 *   max_length: 256                 → --max-length (the original pads to it; padding changes no number here)
 *   num_samples: 100                → total texts; with labels, split evenly: --num-samples = num_samples / num_datasets
 *   num_datasets: 10                → number of labels (sources) the texts are spread over
 *   samples_per_dataset: 10         → --num-samples (texts per label), when given
 *   seed: 42                        → --seed
 *   lambda_reg: 0.0001              → --lambda
 *   knn_k: 15                       → --k
 *   artifacts_dir: artifacts_x      → --out
 *   embeddings_dir / metrics_dir / graphs_dir / geodesic_dir / plots_dir → where the original file names are
 *                                     written under --out (defaults embeddings, metrics, graphs, geodesics, plots)
 *   dataset: {name, config, split}  → --data: a local file or a Hugging Face save_to_disk folder (name = its path;
 *                                     split picks the split of a DatasetDict folder). The original's names
 *                                     (newsgroup, multi_source, minipile, hub ids) download from the Hub, which
 *                                     is not possible here: the error names the local alternative.
 * The point and metric default to the original's definition (--metric attention-covariance) when the file is in
 * this format. Keys with no meaning here are errors that say so.
 */
import { existsSync } from 'node:fs';
import { AtlasError } from '../errors.ts';

/** Keys that identify the original format (any one of them). */
const UPSTREAM_KEYS = ['model_name', 'lambda_reg', 'knn_k', 'artifacts_dir', 'num_datasets', 'samples_per_dataset', 'embeddings_dir', 'metrics_dir'];

export const UPSTREAM_DIR_KEYS = ['embeddings_dir', 'metrics_dir', 'graphs_dir', 'geodesic_dir', 'plots_dir'] as const;
export type UpstreamDirs = Partial<Record<(typeof UPSTREAM_DIR_KEYS)[number], string>>;

export function isUpstreamConfig(doc: unknown): doc is Record<string, unknown> {
  return !!doc && typeof doc === 'object' && !Array.isArray(doc) && UPSTREAM_KEYS.some((k) => k in (doc as Record<string, unknown>));
}

const HUB_DATASETS: Record<string, string> = {
  newsgroup: 'export 20 Newsgroups to CSV (e.g. sklearn.datasets.fetch_20newsgroups → text,label) and set dataset.name to that file',
  multi_source: 'save the sources you want as one CSV/JSONL with a label column (the source name) and set dataset.name to it',
  minipile: "save JeanKaddour/minipile with datasets' save_to_disk and set dataset.name to that folder (label = meta.pile_set_name)",
  'JeanKaddour/minipile': "save it with datasets' save_to_disk and set dataset.name to that folder",
};

export interface TranslatedConfig {
  /** Flag values (names as the fisher command's flags). */
  flags: Record<string, string>;
  /** Total number of texts to keep (num_samples), applied after per-label sampling. */
  totalSamples?: number;
  dirs: UpstreamDirs;
  notes: string[];
}

export function translateUpstreamConfig(doc: Record<string, unknown>, file: string): TranslatedConfig {
  const flags: Record<string, string> = { metric: 'attention-covariance' };
  const notes: string[] = [];
  const dirs: UpstreamDirs = {};
  const num = (k: string): number => {
    const v = doc[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new AtlasError(`must be a number, got ${JSON.stringify(v)}`, { file, field: k });
    return v;
  };
  const str = (k: string): string => {
    const v = doc[k];
    if (typeof v !== 'string' || v === '') throw new AtlasError(`must be a non-empty string, got ${JSON.stringify(v)}`, { file, field: k });
    return v;
  };
  let numSamples: number | undefined;
  let numDatasets: number | undefined;
  for (const key of Object.keys(doc)) {
    switch (key) {
      case 'model_name': flags.model = str(key); break;
      case 'max_length': flags['max-length'] = String(num(key)); break;
      case 'num_samples': numSamples = num(key); break;
      case 'num_datasets': numDatasets = num(key); break;
      case 'samples_per_dataset': flags['num-samples'] = String(num(key)); break;
      case 'seed': flags.seed = String(num(key)); break;
      case 'lambda_reg': flags.lambda = String(num(key)); break;
      case 'knn_k': flags.k = String(num(key)); break;
      case 'artifacts_dir': flags.out = str(key); break;
      case 'embeddings_dir': case 'metrics_dir': case 'graphs_dir': case 'geodesic_dir': case 'plots_dir':
        dirs[key] = str(key);
        break;
      case 'dataset': {
        const d = doc.dataset as Record<string, unknown> | null;
        if (!d || typeof d !== 'object') throw new AtlasError('must be a mapping with name (and optionally config, split)', { file, field: 'dataset' });
        const name = d.name;
        if (typeof name !== 'string' || !name) throw new AtlasError('is required: the dataset to read', { file, field: 'dataset.name' });
        if (!existsSync(name)) {
          const how = HUB_DATASETS[name] ?? "save it with datasets' save_to_disk (or as CSV/JSONL with text and label columns) and set dataset.name to its path";
          throw new AtlasError(`'${name}' would be downloaded from the Hugging Face Hub, which this machine cannot reach`, { file, field: 'dataset.name', hint: how });
        }
        flags.data = name;
        if (typeof d.split === 'string') flags.split = d.split;
        if (d.config !== undefined && d.config !== null && d.config !== 'default') notes.push(`dataset.config '${String(d.config)}' is ignored: a local file or folder has one configuration`);
        for (const k of Object.keys(d)) if (!['name', 'config', 'split'].includes(k)) throw new AtlasError(`unknown key '${k}'`, { file, field: `dataset.${k}`, hint: 'dataset takes name, config and split' });
        break;
      }
      default:
        throw new AtlasError(`key '${key}' has no meaning here`, { file, field: key, hint: `the original pipeline's keys are model_name, max_length, num_samples, num_datasets, samples_per_dataset, seed, lambda_reg, knn_k, artifacts_dir, ${UPSTREAM_DIR_KEYS.join(', ')}, dataset` });
    }
  }
  if (!flags.model) throw new AtlasError('is required', { file, field: 'model_name' });
  if (!flags.data) throw new AtlasError('is required: dataset.name, a local file or save_to_disk folder', { file, field: 'dataset' });
  if (!flags['num-samples'] && numSamples !== undefined && numDatasets !== undefined) flags['num-samples'] = String(Math.max(1, Math.floor(numSamples / numDatasets)));
  return { flags, totalSamples: numSamples, dirs, notes };
}

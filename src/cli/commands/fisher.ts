import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseFlagsWithConfig, requireFlag, stringFlag, type Command } from '../command.ts';
import { MODEL_FLAGS_ONLY, MODEL_HELP, datasetFromFlags, modelFromFlags } from '../shared-flags.ts';
import { fromFlags, tableFlags, tableHelp } from '../table-flags.ts';
import { FISHER_OPTIONS } from '../../fisher/defaults.ts';
import { DATASET_OPTIONS } from '../../data/defaults.ts';
import { MODEL_OPTIONS } from '../../model/defaults.ts';
import { float32WeightBytes, formatBytes } from '../../model/memory.ts';
import { fisherWeightsFor } from '../../fisher/weight-source.ts';
import { ParamStore } from '../../params/param-store.ts';
import { runFisherPipeline } from '../../fisher/pipeline.ts';
import { isUpstreamConfig, translateUpstreamConfig, type TranslatedConfig } from '../../fisher/upstream-config.ts';
import { assembleDataset, loadDataset, type Dataset } from '../../data/dataset.ts';
import { progress } from '../../util/progress.ts';

const FLAGS = {
  ...MODEL_FLAGS_ONLY,
  ...tableFlags(FISHER_OPTIONS),
  split: { type: 'string' },
  out: { type: 'string' },
} as const;

/** The first `n` texts of a dataset (the original's num_samples cap), labels and spans kept. */
function firstTexts(d: Dataset, n: number): Dataset {
  return assembleDataset({
    name: d.name, source: d.source, texts: d.texts.slice(0, n), labelNames: d.labels ? d.labels.slice(0, n).map((k) => d.classNames[k]!) : null,
    matches: d.matches?.slice(0, n), warnings: d.warnings,
  });
}

/** The latent Fisher geometry pipeline in one resumable command. */
export const fisherCommand: Command = {
  name: 'fisher',
  summary: 'Fisher information metric of hidden states: Fisher vs Euclidean graphs, geodesics, MDS, ellipses, report',
  tables: { model: MODEL_OPTIONS, dataset: DATASET_OPTIONS, fisher: FISHER_OPTIONS },
  help: `Usage: latent-atlas fisher [MODEL] --data SOURCE [options]    (or --config run.yaml)

Each text's point is its last real token's hidden state at --layer; its metric is the Fisher information of
the model's next-token distribution, G = Jᵀ(diag p − ppᵀ)J + λI (--metric output-fisher, the default).
A model whose float32 weights do not fit --max-memory runs one block at a time over chunks of texts, with the
same results; a budget below one block's weights is refused.
--metric attention-covariance is the seed-000 pipeline's definition: η = Σ_t w_t v_t and
G = α Σ_t w_t (v_t − η)(v_t − η)ᵀ + λI, α = 1/max(1e-8, 1 − Σ w_t²), with v_t = the last block's value
projection of hidden_states[-2] (no input norm) and w = the head-mean attention row of the last real token.
--config also accepts that pipeline's config.yaml as it is (model_name, lambda_reg, knn_k, artifacts_dir,
dataset, …; see docs/from-latent-graph.md); it then defaults to --metric attention-covariance.
Steps (cached under OUT/cache, so changing --k or --rule reruns only the graph step onward): metrics → graphs →
geodesics → MDS → t-SNE → report. Outputs in OUT/fisher: comparison.json, report.html,
fisher-mds/euclidean-mds/tsne/geodesic-scatter(-normalised)/mds-eigenvalues .svg/.png; and under the original
pipeline's names: OUT/embeddings/eta.npy, OUT/metrics/G_theta.npy (+ G_theta.json, G_theta_diag.csv),
OUT/metrics_2d/{eta_2d,P,G_theta_2d}.npy, OUT/geodesics/{fisher,euclidean}.npy, OUT/graphs/{fisher,euclidean}.graphml.

Fisher options:
${tableHelp(FISHER_OPTIONS, Object.keys(FISHER_OPTIONS).filter((k) => k !== 'seed'))}
  --split S               split of a Hugging Face save_to_disk DatasetDict folder (default train)
  --out DIR               output folder (default fisher-out)

${MODEL_HELP}`,
  async run(argv) {
    // The original pipeline's config.yaml: translated into flags (flags given on the command line win).
    let upstream: TranslatedConfig | undefined;
    const ci = argv.indexOf('--config');
    const configPath = ci >= 0 ? argv[ci + 1] : argv.find((a) => a.startsWith('--config='))?.slice('--config='.length);
    if (configPath && existsSync(configPath)) {
      const doc = parseYaml(readFileSync(configPath, 'utf8')) as unknown;
      if (isUpstreamConfig(doc)) {
        upstream = translateUpstreamConfig(doc, configPath);
        for (const note of upstream.notes) console.error(`latent-atlas fisher: note: ${note}`);
        const rest = argv.filter((a, i) => !(a === '--config' || (ci >= 0 && i === ci + 1) || a.startsWith('--config=')));
        argv = [...Object.entries(upstream.flags).flatMap(([k, v]) => [`--${k}`, v]), ...rest];
      }
    }
    const { values, positionals } = parseFlagsWithConfig('fisher', argv, FLAGS);
    const options = fromFlags(FISHER_OPTIONS, values);
    const split = stringFlag(values.split);
    let dataset = split
      ? await loadDataset(requireFlag(values.data, 'data', 'a dataset'), { ...fromFlags(DATASET_OPTIONS, values), split })
      : await datasetFromFlags(values);
    if (upstream?.totalSamples !== undefined && dataset.texts.length > upstream.totalSamples) dataset = firstTexts(dataset, upstream.totalSamples);
    const model = await modelFromFlags(values, positionals);
    try {
      // too large to hold whole: read block by block (a budget below one block's weights is refused here, in one line)
      const params = fisherWeightsFor(model);
      if (!(params instanceof ParamStore) && values.verbose) {
        console.error(`verbose: the float32 weights (${formatBytes(float32WeightBytes(model.checkpoint.spec))}) cannot be held whole within ${formatBytes(model.maxMemory)}: the Fisher metrics run one block at a time over chunks of texts`);
      }
      const bar = progress({ total: dataset.texts.length, label: 'fisher metrics', unit: 'texts' });
      let last = 0;
      const r = await runFisherPipeline(params, model.tokenizer, model.key, dataset, {
        ...options,
        out: resolve(stringFlag(values.out) ?? 'fisher-out'),
        model,
        upstreamDirs: upstream?.dirs,
        log: (line) => console.error(line),
        onProgress: (done) => {
          bar.tick(done - last);
          last = done;
        },
      });
      bar.done();
      const c = r.comparison;
      console.log(JSON.stringify({ spearman: c.spearman, pearson: c.pearson, embeddings: c.embeddings, latentLabelOverlap: c.latentLabelOverlap }, null, 2));
      for (const f of r.files) console.log(f);
    } finally {
      await model.release();
    }
  },
};

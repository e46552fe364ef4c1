import { resolve } from 'node:path';
import { parseFlagsWithConfig, stringFlag, type Command } from '../command.ts';
import { MODEL_FLAGS_ONLY, MODEL_HELP, datasetFromFlags, modelFromFlags } from '../shared-flags.ts';
import { fromFlags, tableFlags, tableHelp } from '../table-flags.ts';
import { FISHER_OPTIONS } from '../../fisher/defaults.ts';
import { DATASET_OPTIONS } from '../../data/defaults.ts';
import { MODEL_OPTIONS } from '../../model/defaults.ts';
import { ParamStore } from '../../params/param-store.ts';
import { runFisherPipeline } from '../../fisher/pipeline.ts';
import { progress } from '../../util/progress.ts';

const FLAGS = {
  ...MODEL_FLAGS_ONLY,
  ...tableFlags(FISHER_OPTIONS),
  out: { type: 'string' },
} as const;

/** The latent Fisher geometry pipeline in one resumable command. */
export const fisherCommand: Command = {
  name: 'fisher',
  summary: 'Fisher information metric of hidden states: Fisher vs Euclidean graphs, geodesics, MDS, ellipses, report',
  tables: { model: MODEL_OPTIONS, dataset: DATASET_OPTIONS, fisher: FISHER_OPTIONS },
  help: `Usage: latent-atlas fisher [MODEL] --data SOURCE [options]    (or --config run.yaml)

Each text's point is its last real token's hidden state at --layer; its metric is the Fisher information of
the model's next-token distribution, G = Jᵀ(diag p − ppᵀ)J + λI. Steps (cached under OUT/cache, so changing
--k or --rule reruns only the graph step onward): metrics → graphs → geodesics → MDS → t-SNE → report.
Outputs in OUT/fisher: comparison.json, report.html, fisher-mds/euclidean-mds/tsne/geodesic-scatter .svg/.png.

Fisher options:
${tableHelp(FISHER_OPTIONS, Object.keys(FISHER_OPTIONS).filter((k) => k !== 'seed'))}
  --out DIR               output folder (default fisher-out)

${MODEL_HELP}`,
  async run(argv) {
    const { values, positionals } = parseFlagsWithConfig('fisher', argv, FLAGS);
    const options = fromFlags(FISHER_OPTIONS, values);
    const dataset = await datasetFromFlags(values);
    const model = await modelFromFlags(values, positionals);
    try {
      const params = ParamStore.fromCheckpoint(model.checkpoint);
      const bar = progress({ total: dataset.texts.length, label: 'fisher metrics', unit: 'texts' });
      let last = 0;
      const r = await runFisherPipeline(params, model.tokenizer, model.key, dataset, {
        ...options,
        out: resolve(stringFlag(values.out) ?? 'fisher-out'),
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

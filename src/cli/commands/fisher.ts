import { resolve } from 'node:path';
import { AtlasError } from '../../errors.ts';
import { intFlag, numberFlag, parseFlagsWithConfig, stringFlag, type Command } from '../command.ts';
import { MODEL_FLAGS_ONLY, datasetFromFlags, modelFromFlags } from '../shared-flags.ts';
import { ParamStore } from '../../params/param-store.ts';
import { runFisherPipeline } from '../../fisher/pipeline.ts';
import { EDGE_RULES, type EdgeRule } from '../../fisher/graph.ts';
import { progress } from '../../util/progress.ts';

const FLAGS = {
  ...MODEL_FLAGS_ONLY,
  layer: { type: 'string', default: '-1' },
  point: { type: 'string', default: 'pre-norm' },
  lambda: { type: 'string', default: '1e-4' },
  method: { type: 'string', default: 'exact' },
  samples: { type: 'string', default: '64' },
  storage: { type: 'string', default: 'auto' },
  rank: { type: 'string', default: '64' },
  k: { type: 'string', default: '10' },
  'knn-k': { type: 'string' },
  rule: { type: 'string', default: 'mean' },
  candidates: { type: 'string', default: 'euclidean' },
  disconnected: { type: 'string', default: 'error' },
  mds: { type: 'string', default: 'classical' },
  perplexity: { type: 'string' },
  'batch-size': { type: 'string', default: '8' },
  'max-length': { type: 'string' },
  out: { type: 'string', default: 'fisher-out' },
  png: { type: 'boolean', default: true },
  force: { type: 'boolean', default: false },
} as const;

function oneOf<T extends string>(value: unknown, flag: string, allowed: readonly T[]): T {
  const v = String(value);
  if (!allowed.includes(v as T)) throw new AtlasError(`--${flag} must be one of ${allowed.join(', ')}, got '${v}'`);
  return v as T;
}

/** The latent Fisher geometry pipeline in one resumable command. */
export const fisherCommand: Command = {
  name: 'fisher',
  summary: 'Fisher information metric of hidden states: Fisher vs Euclidean graphs, geodesics, MDS, ellipses, report',
  help: `Usage: latent-atlas fisher --model MODEL --data SOURCE [options]    (or --config run.yaml)

Each text's point is its last real token's hidden state at --layer; its metric is the Fisher information of
the model's next-token distribution, G = Jᵀ(diag p − ppᵀ)J + λI. Steps (cached under OUT/cache, so changing
--k or --rule reruns only the graph step onward): metrics → graphs → geodesics → MDS → t-SNE → report.
Outputs in OUT/fisher: comparison.json, report.html, fisher-mds/euclidean-mds/tsne/geodesic-scatter .svg/.png.

  --model MODEL, --data SOURCE, --text-column, --label-column, --num-samples N, --seed S  as in 'extract'
  --layer L            hidden layer 0..n_layer, negative counts from the end (default -1 = last)
  --point P            pre-norm (default: the last block's output, metric through the final norm) | post-norm
                       (HF's last hidden state; last layer only)
  --lambda X           regulariser λ (default 1e-4); 0 is refused when G is singular
  --method M           exact (default) | monte-carlo (--samples draws per point, default 64)
  --storage S          auto (default: dense d×d up to d = 256) | dense | factor (--rank R, default 64)
  --k K                neighbours of the k-NN graphs (default 10; YAML key knn_k also accepted)
  --rule R             Fisher edge length: ${EDGE_RULES.join(' | ')} (default mean = sqrt(Δᵀ(G_i+G_j)/2 Δ))
  --candidates C       euclidean (default) | fisher (re-rank 3k Euclidean candidates by Fisher length)
  --disconnected D     error (default) | connect (join components by their closest pair, as Isomap)
  --mds M              classical (default) | smacof
  --perplexity P       t-SNE perplexity (default min(30, (n−1)/3)); 0 skips t-SNE
  --batch-size N (default 8)   --max-length N   --threads N   --out DIR (default fisher-out)
  --no-png             SVG only      --force   recompute every step`,
  async run(argv) {
    const { values } = parseFlagsWithConfig('fisher', argv, { ...FLAGS, 'no-png': { type: 'boolean', default: false } });
    const dataset = await datasetFromFlags(values);
    const model = await modelFromFlags(values);
    try {
      const cfg = model.checkpoint.config;
      let layer = String(values.layer).trim() === '' ? NaN : Number(values.layer);
      if (!Number.isInteger(layer)) throw new AtlasError(`--layer must be an integer, got '${String(values.layer)}'`);
      if (layer < 0) layer += cfg.nLayer + 1;
      const params = ParamStore.fromCheckpoint(model.checkpoint);
      const bar = progress({ total: dataset.texts.length, label: 'fisher metrics', unit: 'texts' });
      let last = 0;
      const r = await runFisherPipeline(params, model.tokenizer, model.key, dataset, {
        out: resolve(String(values.out)),
        layer,
        point: oneOf(values.point, 'point', ['pre-norm', 'post-norm'] as const),
        lambda: numberFlag(values.lambda, 'lambda', 1e-4),
        method: oneOf(values.method, 'method', ['exact', 'monte-carlo'] as const),
        samples: intFlag(values.samples, 'samples', 64, 1),
        storage: oneOf(values.storage, 'storage', ['auto', 'dense', 'factor'] as const),
        rank: intFlag(values.rank, 'rank', 64, 1),
        k: intFlag(values['knn-k'] ?? values.k, 'k', 10, 1),
        rule: oneOf(values.rule, 'rule', EDGE_RULES) as EdgeRule,
        candidates: oneOf(values.candidates, 'candidates', ['euclidean', 'fisher'] as const),
        disconnected: oneOf(values.disconnected, 'disconnected', ['error', 'connect'] as const),
        mds: oneOf(values.mds, 'mds', ['classical', 'smacof'] as const),
        perplexity: values.perplexity === undefined ? undefined : numberFlag(values.perplexity, 'perplexity', 30),
        seed: intFlag(values.seed, 'seed', 0),
        batchSize: intFlag(values['batch-size'], 'batch-size', 8, 1),
        maxLength: stringFlag(values['max-length']) === undefined ? undefined : intFlag(values['max-length'], 'max-length', 0, 1),
        png: values.png !== false && values['no-png'] !== true,
        force: values.force === true,
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

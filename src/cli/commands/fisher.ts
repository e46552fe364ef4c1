import { resolve } from 'node:path';
import { AtlasError } from '../../errors.ts';
import { intFlag, numberFlag, parseFlagsWithConfig, requireFlag, stringFlag, type Command } from '../command.ts';
import { MODEL_FLAGS_ONLY, datasetFromFlags, modelFromFlags } from '../shared-flags.ts';
import { ParamStore } from '../../params/param-store.ts';
import { runFisherPipeline } from '../../fisher/pipeline.ts';
import { EDGE_RULES, type EdgeRule } from '../../fisher/graph.ts';
import { progress } from '../../util/progress.ts';
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { isUpstreamConfig, translateUpstreamConfig, type TranslatedConfig } from '../../fisher/upstream-config.ts';
import { assembleDataset, loadDataset, type Dataset } from '../../data/dataset.ts';

/** The first `n` texts of a dataset (the original's num_samples cap), labels and spans kept. */
function firstTexts(d: Dataset, n: number): Dataset {
  return assembleDataset({
    name: d.name, source: d.source, texts: d.texts.slice(0, n), labelNames: d.labels ? d.labels.slice(0, n).map((k) => d.classNames[k]!) : null,
    matches: d.matches?.slice(0, n), warnings: d.warnings,
  });
}

const FLAGS = {
  ...MODEL_FLAGS_ONLY,
  metric: { type: 'string', default: 'output-fisher' },
  split: { type: 'string' },
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
  'mds-init': { type: 'string', default: 'classical' },
  'tsne-metric': { type: 'string', default: 'euclidean' },
  'tsne-init': { type: 'string', default: 'pca' },
  ellipses: { type: 'string', default: 'pullback' },
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
the model's next-token distribution, G = Jᵀ(diag p − ppᵀ)J + λI (--metric output-fisher, the default).
--metric attention-covariance is the seed-000 pipeline's definition: η = Σ_t w_t v_t and
G = α Σ_t w_t (v_t − η)(v_t − η)ᵀ + λI, α = 1/max(1e-8, 1 − Σ w_t²), with v_t = the last block's value
projection of hidden_states[-2] (no input norm) and w = the head-mean attention row of the last real token.
--config accepts that pipeline's config.yaml as it is (model_name, lambda_reg, knn_k, artifacts_dir, dataset, …;
see docs/from-latent-graph.md); it then defaults to --metric attention-covariance. Steps (cached under OUT/cache, so changing
--k or --rule reruns only the graph step onward): metrics → graphs → geodesics → MDS → t-SNE → report.
Outputs in OUT/fisher: comparison.json, report.html, fisher-mds/euclidean-mds/tsne/geodesic-scatter(-normalised)/
mds-eigenvalues .svg/.png; and under the original pipeline's names: OUT/embeddings/eta.npy, OUT/metrics/G_theta.npy
(+ G_theta.json, G_theta_diag.csv), OUT/metrics_2d/{eta_2d,P,G_theta_2d}.npy, OUT/geodesics/{fisher,euclidean}.npy,
OUT/graphs/{fisher,euclidean}.graphml (+ CSR arrays); see docs/from-latent-graph.md.

  --model MODEL, --data SOURCE, --text-column, --label-column, --num-samples N, --seed S  as in 'extract'
  --metric M           output-fisher (default) | attention-covariance (the original pipeline's point and metric)
  --split S            split of a Hugging Face save_to_disk DatasetDict folder (default train)
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
                       | fill (the original pipeline: 1.1 × the largest finite distance between components)
  --mds M              classical (default) | smacof
  --mds-init I         smacof start: classical (default: one run from classical MDS) | random (the original:
                       scikit-learn's n_init 4 random starts, max_iter 300, seeded by --seed)
  --tsne-metric M      euclidean (default) | cosine (the original)   --tsne-init pca (default) | random (the original)
  --ellipses E         pullback (default: level set of the pulled-back metric) | covariance (the original: axes ∝
                       √eig(PᵀGP), P = PCA-2D of the points, scaled to 2.5 % of the MDS range)
  --perplexity P       t-SNE perplexity (default min(30, (n−1)/3)); 0 skips t-SNE
  --batch-size N (default 8)   --max-length N   --threads N   --out DIR (default fisher-out)
  --no-png             SVG only      --force   recompute every step`,
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
        const rest = argv.filter((a, i) => !(a === '--config' || i === ci + 1 || a.startsWith('--config=')));
        argv = [...Object.entries(upstream.flags).flatMap(([k, v]) => [`--${k}`, v]), ...rest];
      }
    }
    const { values } = parseFlagsWithConfig('fisher', argv, { ...FLAGS, 'no-png': { type: 'boolean', default: false } });
    let dataset = values.split ? await loadDataset(requireFlag(values.data, 'data', 'a dataset'), {
      split: stringFlag(values.split), textColumn: stringFlag(values['text-column']), labelColumn: stringFlag(values['label-column']),
      numSamples: values['num-samples'] === undefined ? undefined : intFlag(values['num-samples'], 'num-samples', 1, 1), seed: intFlag(values.seed, 'seed', 0),
    }) : await datasetFromFlags(values);
    if (upstream?.totalSamples !== undefined && dataset.texts.length > upstream.totalSamples) dataset = firstTexts(dataset, upstream.totalSamples);
    const model = await modelFromFlags(values);
    try {
      const cfg = model.checkpoint.config;
      let layer = Number(values.layer);
      if (!Number.isInteger(layer)) throw new AtlasError(`--layer must be an integer, got '${String(values.layer)}'`);
      if (layer < 0) layer += cfg.nLayer + 1;
      const params = ParamStore.fromCheckpoint(model.checkpoint);
      const bar = progress({ total: dataset.texts.length, label: 'fisher metrics', unit: 'texts' });
      let last = 0;
      const r = await runFisherPipeline(params, model.tokenizer, model.key, dataset, {
        out: resolve(String(values.out)),
        metric: oneOf(values.metric, 'metric', ['output-fisher', 'attention-covariance'] as const),
        model,
        upstreamDirs: upstream?.dirs,
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
        disconnected: oneOf(values.disconnected, 'disconnected', ['error', 'connect', 'fill'] as const),
        mds: oneOf(values.mds, 'mds', ['classical', 'smacof'] as const),
        mdsInit: oneOf(values['mds-init'], 'mds-init', ['classical', 'random'] as const),
        tsneMetric: oneOf(values['tsne-metric'], 'tsne-metric', ['euclidean', 'cosine'] as const),
        tsneInit: oneOf(values['tsne-init'], 'tsne-init', ['pca', 'random'] as const),
        ellipses: oneOf(values.ellipses, 'ellipses', ['pullback', 'covariance'] as const),
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

/**
 * What a background job of the app runs (src/app/jobs.ts starts it, src/app/jobs-child.ts runs it in its own
 * process), and how a rerun recovers the settings of an existing Fisher run from its step cache.
 *
 * A rerun needs no model: λ is applied when the metrics are read, so a change of k, the edge rule or λ starts
 * at the graph step (src/fisher/pipeline.ts). Every other setting is read back from the cached steps' recorded
 * inputs (metrics → graphs → geodesics → MDS, and t-SNE of the same metrics), so the rerun hits the cache for
 * every step the change does not touch.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { HttpError } from './safe-path.ts';
import { fisherGraphDir } from './scan.ts';
import type { FisherPipelineOptions } from '../fisher/pipeline.ts';
import type { EdgeRule } from '../fisher/graph.ts';

/** The k-NN settings a user may change from the page (FISHER_OPTIONS' k, rule, lambda). */
export interface KnnParams {
  k: number;
  rule: EdgeRule;
  lambda: number;
}

/** The cached metrics step's recorded inputs (the metricInputs object of runFisherPipeline). */
export interface MetricInputs {
  metric: 'output-fisher' | 'attention-covariance';
  model: string;
  dataset: string;
  layer: number;
  point: FisherPipelineOptions['point'];
  method: FisherPipelineOptions['method'];
  samples: number | null;
  storage: FisherPipelineOptions['storage'];
  rank: number;
  maxLength: number | null;
  seed: number;
}

/** Everything the child needs to rerun an existing Fisher run from its cached metrics. */
export interface RerunSpec {
  kind: 'rerun';
  /** Staging folder the child writes into (its `cache` is a link to the run's cache). */
  staging: string;
  metricInputs: MetricInputs;
  /** Hidden layers of the model the metrics came from (for the pipeline's layer check and summary). */
  nLayer: number;
  points: { texts: string[]; labels: number[] | null; classNames: string[] };
  /** Pipeline options other than the metric inputs: the kept settings plus the new k, rule, λ. */
  options: Pick<FisherPipelineOptions, 'k' | 'rule' | 'lambda' | 'candidates' | 'disconnected' | 'mds' | 'mdsInit' | 'perplexity' | 'tsneMetric' | 'tsneInit' | 'ellipses' | 'png'>;
}

/** A new Fisher run: model and dataset sources, texts per label, the k-NN settings. */
export interface NewRunSpec {
  kind: 'new';
  staging: string;
  model: string;
  data: string;
  /** At most this many texts per label (DATASET_OPTIONS.numSamples); undefined = all. */
  numSamples?: number;
  params: KnnParams;
  png: boolean;
}

export type JobSpec = RerunSpec | NewRunSpec;

/** Messages from the child to the server. */
export type ChildMessage =
  | { type: 'log'; line: string }
  | { type: 'progress'; done: number; total: number }
  | { type: 'done'; timings: { step: string; cached: boolean; seconds: number }[] }
  | { type: 'error'; message: string };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The cached steps named `step` (done.json present) whose recorded inputs satisfy `match`, newest first. */
function cachedSteps(cacheAbs: string, step: string, match: (inputs: Record<string, unknown>) => boolean): { key: string; inputs: Record<string, unknown> }[] {
  const out: { key: string; inputs: Record<string, unknown>; at: string }[] = [];
  for (const name of readdirSync(cacheAbs)) {
    if (!name.startsWith(`${step}-`)) continue;
    const done = readJson(join(cacheAbs, name, 'done.json'));
    if (!isRecord(done) || !isRecord(done.inputs) || !match(done.inputs)) continue;
    out.push({ key: name.slice(step.length + 1), inputs: done.inputs, at: String(done.finishedAt ?? '') });
  }
  return out.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
}

/** What a rerun of the Fisher output in `fisherAbs` (a folder inside the served root) keeps, read from its cache. */
export interface RerunPlan {
  /** The run's --out folder (parent of the Fisher folder; holds `cache`). */
  out: string;
  n: number;
  current: KnnParams;
  spec: Omit<RerunSpec, 'staging' | 'options'> & { options: Omit<RerunSpec['options'], 'k' | 'rule' | 'lambda'> };
}

/** Reads the settings of the Fisher run shown from `dir` (relative to rootReal); HttpError 409/422 when they cannot be recovered. */
export function rerunPlan(rootReal: string, dir: string, fisherAbs: string): RerunPlan {
  const cmp = readJson(join(fisherAbs, 'comparison.json'));
  if (!isRecord(cmp) || typeof cmp.n !== 'number') throw new HttpError(422, `'${dir}' has no readable comparison.json`, 'only outputs of `latent-atlas fisher` can be recomputed');
  const graphDir = fisherGraphDir(rootReal, dir);
  if (!graphDir) throw new HttpError(409, `the step cache of '${dir}' is missing`, 'recomputing needs the cache folder the fisher command writes next to the fisher folder (OUT/cache)');
  const cacheAbs = dirname(graphDir);
  const graphs = readJson(join(graphDir, 'done.json')) as { inputs: Record<string, unknown> };
  const graphKey = basename(graphDir).slice('graphs-'.length);
  const metricsKey = String(graphs.inputs.metrics);
  const metrics = readJson(join(cacheAbs, `metrics-${metricsKey}`, 'done.json'));
  if (!isRecord(metrics) || !isRecord(metrics.inputs)) throw new HttpError(409, `the cached metrics of '${dir}' are missing`, 'rerun `latent-atlas fisher` once with the same model and data');
  const mi = metrics.inputs as unknown as MetricInputs;
  const geo = cachedSteps(cacheAbs, 'geodesics', (i) => i.graphs === graphKey)[0];
  const mds = geo ? cachedSteps(cacheAbs, 'mds', (i) => i.geo === geo.key)[0] : undefined;
  const tsne = cachedSteps(cacheAbs, 'tsne', (i) => i.metrics === metricsKey)[0];
  const pts = readJson(join(fisherAbs, 'points.json'));
  if (!isRecord(pts) || !Array.isArray(pts.texts) || pts.texts.length !== cmp.n) throw new HttpError(409, `'${dir}/points.json' is missing or does not hold ${cmp.n} texts`, 'rerun `latent-atlas fisher` once: it writes points.json');
  const mdsInfo = isRecord(cmp.mds) ? cmp.mds : {};
  const options: RerunPlan['spec']['options'] = {
    candidates: (graphs.inputs.candidates as 'euclidean' | 'fisher' | undefined) ?? 'euclidean',
    disconnected: ((geo?.inputs.disconnected ?? cmp.disconnected) as 'error' | 'connect' | 'fill' | undefined) ?? 'error',
    mds: ((mds?.inputs.mdsMethod ?? mdsInfo.method) as 'classical' | 'smacof' | undefined) ?? 'classical',
    mdsInit: ((mds?.inputs.mdsInit ?? mdsInfo.init) as 'classical' | 'random' | null | undefined) ?? undefined,
    perplexity: !existsSync(join(fisherAbs, 'tsne.npy')) ? 0 : tsne ? Number(tsne.inputs.perplexity) : undefined,
    tsneMetric: (tsne?.inputs.tsneMetric as 'euclidean' | 'cosine' | undefined) ?? undefined,
    tsneInit: (tsne?.inputs.tsneInit as 'pca' | 'random' | undefined) ?? undefined,
    ellipses: (cmp.ellipses as 'pullback' | 'covariance' | undefined) ?? undefined,
    png: existsSync(join(fisherAbs, 'fisher-mds.png')),
  };
  // The pipeline checks the layer against the model's depth and reports the last block for attention-covariance.
  const nLayer = mi.metric === 'attention-covariance' ? Number(cmp.layer) + 1 : Math.max(1, Number(mi.layer));
  return {
    out: dirname(fisherAbs), n: cmp.n,
    current: { k: Number(graphs.inputs.k), rule: graphs.inputs.rule as EdgeRule, lambda: Number(graphs.inputs.lambda) },
    spec: {
      kind: 'rerun', metricInputs: mi, nLayer,
      points: { texts: pts.texts.map(String), labels: Array.isArray(pts.labels) ? pts.labels.map(Number) : null, classNames: Array.isArray(pts.classNames) ? pts.classNames.map(String) : [] },
      options,
    },
  };
}

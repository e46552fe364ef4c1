/**
 * The latent Fisher geometry pipeline, one cached step after another (src/fisher/step-cache.ts):
 *   metrics (points + per-point G)  →  graphs (Fisher + Euclidean k-NN)  →  geodesics  →  MDS (classical or
 *   SMACOF)  ·  t-SNE (of the points)  →  ellipses + comparison + report (always redone: cheap).
 * λ is applied when metrics are read, so it keys only the graph step onward; k keys graphs onward.
 */
import { FISHER_OUTPUT } from './output-files.ts';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { AtlasError } from '../errors.ts';
import { readNpy, writeNpy } from '../data/npy.ts';
import { writeJsonAtomic, writeFileAtomic } from '../data/atomic.ts';
import type { Dataset } from '../data/dataset.ts';
import type { AtlasTokenizer } from '../model/tokenizer.ts';
import type { ParamStore } from '../params/param-store.ts';
import type { CsrGraph } from '../geometry/graph.ts';
import { DISTANCE_EPS, type KnnResult } from '../geometry/knn.ts';
import type { Matrix } from '../geometry/matrix.ts';
import { geodesicDistances } from '../geometry/geodesic.ts';
import { classicalMds, smacof } from '../geometry/mds.ts';
import { tsne } from '../geometry/tsne.ts';
import { computeFisherMetrics, type FisherMethod, type FisherPoint } from './compute.ts';
import { assertPositiveDefinite, type MetricStore } from './store.ts';
import { fisherEdgeLength, fisherGraphs, type EdgeRule } from './graph.ts';
import { defaultRadius, metricEllipses, type MetricEllipse } from './ellipses.ts';
import { compareGeometries, type ComparisonReport } from './compare.ts';
import { cachedStep, readJson } from './step-cache.ts';
import { writeFisherReport } from './report.ts';
import { attentionCovarianceMetrics } from './attention-covariance.ts';
import type { UpstreamDirs } from './upstream-config.ts';
import type { FisherWeights } from './weight-source.ts';
import type { LoadedModel } from '../model/load.ts';
import { covarianceEllipses, fillDisconnected, mdsSpectrum, metricsIn2d, writeUpstreamOutputs } from './upstream.ts';
import { FISHER_OPTIONS } from './defaults.ts';
import { withDefaults } from '../util/option-table.ts';
import { ensureWritableDir } from '../data/fs-errors.ts';

/** Defaults and meaning of each option: FISHER_OPTIONS (src/fisher/defaults.ts). */
export interface FisherPipelineOptions {
  /** Where outputs and the step cache go. */
  out: string;
  /**
   * 'output-fisher' (default, ours): the Fisher information of the next-token distribution at the layer's point;
   * 'attention-covariance' (the seed-000 pipeline's definition, attention-covariance.ts): needs `model`.
   */
  metric?: 'output-fisher' | 'attention-covariance';
  /** Folders of the original pipeline's files (its config's *_dir keys), relative to `out`. */
  upstreamDirs?: UpstreamDirs;
  /** The loaded model (runtime + canonical weights), for metric 'attention-covariance'. */
  model?: Pick<LoadedModel, 'runtime' | 'checkpoint' | 'tokenizer'>;
  /** Hidden layer 0..n_layer; negative counts from the end. Default -1 (the last). */
  layer?: number;
  point?: FisherPoint;
  lambda?: number;
  method?: FisherMethod;
  samples?: number;
  storage?: 'auto' | 'dense' | 'factor';
  rank?: number;
  k?: number;
  rule?: EdgeRule;
  candidates?: 'euclidean' | 'fisher';
  /** 'fill' (the original pipeline's): distances between components = 1.1 × the largest finite one. */
  disconnected?: 'error' | 'connect' | 'fill';
  mds?: 'classical' | 'smacof';
  /** SMACOF start: 'classical' (default, ours: one run from classical MDS) | 'random' (the original: n_init 4, max_iter 300, seeded). */
  mdsInit?: 'classical' | 'random';
  /** t-SNE input metric: 'euclidean' (default) | 'cosine' (the original). */
  tsneMetric?: 'euclidean' | 'cosine';
  /** t-SNE initialisation: 'pca' (default, scikit-learn ≥ 1.2) | 'random' (the original). */
  tsneInit?: 'pca' | 'random';
  /** Ellipses drawn on the Fisher MDS: 'pullback' (default, ours) | 'covariance' (the original, see upstream.ts). */
  ellipses?: 'pullback' | 'covariance';
  /** t-SNE perplexity; 0 skips t-SNE. Default min(30, (n − 1)/3). */
  perplexity?: number;
  seed?: number;
  batchSize?: number;
  maxLength?: number;
  /** Also write PNGs (needs the resvg renderer). Default true. */
  png?: boolean;
  force?: boolean;
  log?: (line: string) => void;
  onProgress?: (done: number, total: number) => void;
}

export interface StepTiming {
  step: string;
  seconds: number;
  cached: boolean;
}

export interface FisherPipelineResult {
  points: Matrix<Float32Array>;
  store: MetricStore;
  fisherGeodesic: Matrix;
  euclideanGeodesic: Matrix;
  fisherMds: Matrix<Float64Array>;
  euclideanMds: Matrix<Float64Array>;
  tsne: Matrix<Float64Array> | null;
  ellipses: MetricEllipse[];
  comparison: ComparisonReport;
  timings: StepTiming[];
  files: string[];
}

function saveGraph(dir: string, name: string, g: CsrGraph): void {
  writeNpy(join(dir, `${name}-indptr.npy`), g.indptr, [g.indptr.length]);
  writeNpy(join(dir, `${name}-indices.npy`), g.indices, [g.indices.length]);
  writeNpy(join(dir, `${name}-weights.npy`), g.weights, [g.weights.length]);
}
function loadGraph(dir: string, name: string, n: number): CsrGraph {
  return {
    n,
    indptr: readNpy(join(dir, `${name}-indptr.npy`)).data as Int32Array,
    indices: readNpy(join(dir, `${name}-indices.npy`)).data as Int32Array,
    weights: readNpy(join(dir, `${name}-weights.npy`)).data as Float64Array,
  };
}
function saveKnn(dir: string, name: string, r: KnnResult): void {
  writeNpy(join(dir, `${name}-knn-indices.npy`), r.indices, [r.n, r.k]);
  writeNpy(join(dir, `${name}-knn-distances.npy`), r.distances, [r.n, r.k]);
}
function loadKnn(dir: string, name: string): KnnResult {
  const idx = readNpy(join(dir, `${name}-knn-indices.npy`));
  return { n: idx.shape[0], k: idx.shape[1], metric: 'euclidean', indices: idx.data as Int32Array, distances: readNpy(join(dir, `${name}-knn-distances.npy`)).data as Float64Array, dtypeEps: DISTANCE_EPS };
}
const mat = (path: string): Matrix<Float64Array> => {
  const a = readNpy(path);
  return { rows: a.shape[0], cols: a.shape[1], data: a.data instanceof Float64Array ? a.data : Float64Array.from(a.data) };
};

/** Runs (or resumes) the whole pipeline for a model's parameters (held whole, or layer-streamed: weight-source.ts) and a dataset. */
export async function runFisherPipeline(params: ParamStore | FisherWeights, tokenizer: AtlasTokenizer, modelKey: string, dataset: Dataset, options: FisherPipelineOptions): Promise<FisherPipelineResult> {
  const o = withDefaults(FISHER_OPTIONS, options);
  const nHidden = params.spec.nLayer + 1;
  if (!Number.isInteger(o.layer) || o.layer < -nHidden || o.layer >= nHidden) {
    throw new AtlasError(`layer ${o.layer} does not exist: the model has hidden layers 0..${nHidden - 1} (negative counts from the end: -1..-${nHidden})`, { field: 'layer' });
  }
  const layer = o.layer < 0 ? o.layer + nHidden : o.layer;
  const log = o.log ?? (() => {});
  const cacheRoot = join(o.out, 'cache');
  ensureWritableDir(o.out, 'out'); // before the metrics, not after them
  ensureWritableDir(cacheRoot, 'out');
  const timings: StepTiming[] = [];
  const note = (step: string, r: { seconds: number; cached: boolean }) => {
    timings.push({ step, seconds: r.seconds, cached: r.cached });
    log(`${step}: ${r.cached ? 'cached' : `${r.seconds.toFixed(2)} s`}`);
  };
  const lambda = o.lambda;
  const n = dataset.texts.length;
  const k = o.k;
  if (!Number.isInteger(k) || k < 1 || k >= n) throw new AtlasError(`k must be an integer in [1, ${n - 1}] for ${n} texts, got ${k}`, { field: 'k' });
  const metricKind = o.metric ?? 'output-fisher';
  if (metricKind === 'attention-covariance' && !o.model) throw new AtlasError("metric 'attention-covariance' needs the loaded model (option model)", { field: 'metric' });
  const metricInputs = {
    metric: metricKind,
    model: modelKey, dataset: dataset.hash, layer, point: o.point, method: o.method,
    samples: o.method === 'monte-carlo' ? o.samples : null, storage: o.storage, rank: o.rank, maxLength: o.maxLength ?? null,
    seed: o.seed,
  };
  const metrics = await cachedStep(cacheRoot, 'metrics', metricInputs, async (dir) => {
    const m = metricKind === 'attention-covariance'
      ? await attentionCovarianceMetrics(o.model!, dataset.texts, { lambda, maxLength: o.maxLength, batchSize: o.batchSize, storage: metricInputs.storage, onProgress: (dn) => o.onProgress?.(dn, n) })
      : await computeFisherMetrics(params, tokenizer, dataset.texts, {
      layer: metricInputs.layer, point: metricInputs.point, lambda, method: metricInputs.method, samples: o.samples, storage: metricInputs.storage,
      rank: metricInputs.rank, seed: o.seed, batchSize: o.batchSize, maxLength: o.maxLength, onProgress: (dn) => o.onProgress?.(dn, n),
    });
    writeNpy(join(dir, 'points.npy'), m.points.data, [n, m.points.cols]);
    writeNpy(join(dir, 'metrics.npy'), m.store.data, [n, m.store.d, m.store.rank]);
    writeNpy(join(dir, 'captured.npy'), m.store.captured, [n]);
    writeNpy(join(dir, 'entropy.npy'), m.entropy, [n]);
    writeJsonAtomic(join(dir, 'metrics.json'), { kind: m.store.kind, rank: m.store.rank, d: m.store.d, n, note: 'metrics.npy holds G − λI (dense) or its factor F (G − λI ≈ F Fᵀ); add λ I' });
    return m;
  }, (dir) => {
    const info = readJson<{ kind: 'dense' | 'factor'; rank: number; d: number }>(join(dir, 'metrics.json'));
    const pts = readNpy(join(dir, 'points.npy'));
    return {
      points: { rows: n, cols: info.d, data: pts.data as Float32Array },
      store: { n, d: info.d, lambda, kind: info.kind, rank: info.rank, data: readNpy(join(dir, 'metrics.npy')).data as Float32Array, captured: readNpy(join(dir, 'captured.npy')).data as Float64Array },
      entropy: readNpy(join(dir, 'entropy.npy')).data as Float64Array,
    };
  }, o.force);
  note('metrics', metrics);
  const { points } = metrics.value;
  const store: MetricStore = { ...metrics.value.store, lambda };
  assertPositiveDefinite(store);

  const graphInputs = { metrics: metrics.key, lambda, k, rule: o.rule, candidates: o.candidates };
  const graphs = await cachedStep(cacheRoot, 'graphs', graphInputs, async (dir) => {
    const g = await fisherGraphs(points, store, { k, rule: graphInputs.rule, candidates: graphInputs.candidates });
    saveGraph(dir, 'fisher', g.fisher);
    saveGraph(dir, 'euclidean', g.euclidean);
    saveKnn(dir, 'euclidean', g.euclideanKnn);
    saveKnn(dir, 'fisher', g.fisherKnn);
    return g;
  }, (dir) => ({ fisher: loadGraph(dir, 'fisher', n), euclidean: loadGraph(dir, 'euclidean', n), euclideanKnn: loadKnn(dir, 'euclidean'), fisherKnn: loadKnn(dir, 'fisher') }), o.force);
  note('graphs', graphs);

  const disconnected = o.disconnected;
  const geo = await cachedStep(cacheRoot, 'geodesics', { graphs: graphs.key, disconnected }, async (dir) => {
    const fisherLen = fisherEdgeLength(points, store, graphInputs.rule);
    const mode = disconnected === 'fill' ? 'per-component' : disconnected;
    const f = await geodesicDistances(graphs.value.fisher, { disconnected: mode, points, edgeLength: fisherLen });
    const e = await geodesicDistances(graphs.value.euclidean, { disconnected: mode, points });
    if (disconnected === 'fill') {
      const ff = fillDisconnected(f.distances), fe = fillDisconnected(e.distances);
      if (ff.filled || fe.filled) log(`geodesics: ${ff.filled + fe.filled} disconnected pairs filled with 1.1 × the largest finite distance`);
    }
    writeNpy(join(dir, 'fisher.npy'), f.distances, [n, n]);
    writeNpy(join(dir, 'euclidean.npy'), e.distances, [n, n]);
    writeJsonAtomic(join(dir, 'components.json'), { fisher: f.components.count, euclidean: e.components.count, fisherAdded: f.addedEdges, euclideanAdded: e.addedEdges });
    return { fisher: { rows: n, cols: n, data: f.distances } as Matrix, euclidean: { rows: n, cols: n, data: e.distances } as Matrix };
  }, (dir) => ({ fisher: mat(join(dir, 'fisher.npy')), euclidean: mat(join(dir, 'euclidean.npy')) }), o.force);
  note('geodesics', geo);

  const mdsMethod = o.mds ?? 'classical';
  const mdsInit = o.mdsInit ?? 'classical';
  const mds = await cachedStep(cacheRoot, 'mds', { geo: geo.key, mdsMethod, mdsInit: mdsMethod === 'smacof' ? mdsInit : null, seed: o.seed ?? 0 }, async (dir) => {
    const run = async (dm: Matrix): Promise<Matrix<Float64Array>> => {
      if (mdsMethod !== 'smacof') return (await classicalMds(dm)).embedding;
      // The original: scikit-learn MDS defaults, n_init 4 random starts, max_iter 300, seeded.
      if (mdsInit === 'random') return smacof(dm, { seed: o.seed ?? 0, nInit: 4, maxIter: 300 }).embedding;
      return smacof(dm, { seed: o.seed ?? 0, init: (await classicalMds(dm)).embedding, nInit: 1 }).embedding;
    };
    const f = await run(geo.value.fisher);
    const e = await run(geo.value.euclidean);
    writeNpy(join(dir, 'fisher.npy'), f.data, [n, 2]);
    writeNpy(join(dir, 'euclidean.npy'), e.data, [n, 2]);
    return { fisher: f, euclidean: e };
  }, (dir) => ({ fisher: mat(join(dir, 'fisher.npy')), euclidean: mat(join(dir, 'euclidean.npy')) }), o.force);
  note('mds', mds);

  const perplexity = o.perplexity ?? Math.min(30, Math.max(1, Math.floor((n - 1) / 3)));
  let tsneEmb: Matrix<Float64Array> | null = null;
  if (perplexity > 0) {
    const tsneMetric = o.tsneMetric ?? 'euclidean', tsneInit = o.tsneInit ?? 'pca';
    const ts = await cachedStep(cacheRoot, 'tsne', { metrics: metrics.key, perplexity, seed: o.seed ?? 0, tsneMetric, tsneInit }, async (dir) => {
      const r = await tsne(points, { perplexity, seed: o.seed ?? 0, metric: tsneMetric, init: tsneInit });
      writeNpy(join(dir, 'tsne.npy'), r.embedding.data, [n, 2]);
      return r.embedding;
    }, (dir) => mat(join(dir, 'tsne.npy')), o.force);
    note('tsne', ts);
    tsneEmb = ts.value;
  }

  const t0 = performance.now();
  const radius = defaultRadius(graphs.value.fisher.weights);
  const in2d = await metricsIn2d(points, store);
  const ellipseStyle = o.ellipses ?? 'pullback';
  const ellipses = ellipseStyle === 'covariance'
    ? covarianceEllipses(mds.value.fisher, in2d.G2d)
    : metricEllipses(points, mds.value.fisher, store, { radius, neighbours: graphs.value.euclideanKnn });
  const mdsSpectra = { fisher: await mdsSpectrum(geo.value.fisher), euclidean: await mdsSpectrum(geo.value.euclidean) };
  const euclidDist = geo.value.euclidean;
  const embeddings: [string, Matrix, Matrix][] = [['fisher-mds', mds.value.fisher, geo.value.fisher], ['euclidean-mds', mds.value.euclidean, euclidDist]];
  if (tsneEmb) embeddings.push(['tsne', tsneEmb, euclidDist]);
  const comparison = await compareGeometries({
    points, fisherGeodesic: geo.value.fisher, euclideanGeodesic: euclidDist, embeddings, labels: dataset.labels, classNames: dataset.classNames, k,
  });
  const outputs = join(o.out, 'fisher');
  mkdirSync(outputs, { recursive: true });
  writeJsonAtomic(join(outputs, FISHER_OUTPUT.ellipses), { radius, ellipses });
  // Texts and labels beside the embeddings, so viewers (the app, Python users) need nothing else.
  writeJsonAtomic(join(outputs, FISHER_OUTPUT.points), { texts: dataset.texts, labels: dataset.labels, classNames: dataset.classNames });
  // The predictive entropy the metric step computed, for colouring (the app offers it beside the layer maps).
  if (metricKind === 'output-fisher') writeNpy(join(outputs, FISHER_OUTPUT.entropy), metrics.value.entropy, [n]);
  writeNpy(join(outputs, FISHER_OUTPUT.mds), mds.value.fisher.data, [n, 2]);
  writeNpy(join(outputs, 'euclidean-mds.npy'), mds.value.euclidean.data, [n, 2]);
  if (tsneEmb) writeNpy(join(outputs, 'tsne.npy'), tsneEmb.data, [n, 2]);
  const meanCaptured = store.captured.reduce((a, b) => a + b, 0) / n;
  const summary = {
    n, d: store.d, metric: metricKind, layer: metricKind === 'attention-covariance' ? params.spec.nLayer - 1 : metricInputs.layer, point: metricKind === 'attention-covariance' ? 'attention-weighted values of the last block' : metricInputs.point, method: metricInputs.method, lambda, k, rule: graphInputs.rule,
    candidates: graphInputs.candidates, storage: { kind: store.kind, rank: store.rank, meanCapturedTrace: meanCaptured, minCapturedTrace: Math.min(...store.captured) },
    meanEntropy: metrics.value.entropy.reduce((a, b) => a + b, 0) / n, ellipseRadius: radius, ellipses: ellipseStyle, disconnected,
    mds: { method: mdsMethod, init: mdsMethod === 'smacof' ? mdsInit : null, spectrum: mdsSpectra }, comparison, timings,
  };
  writeJsonAtomic(join(outputs, 'comparison.json'), summary);
  const files = writeFisherReport(outputs, {
    points: dataset.texts, labels: dataset.labels, classNames: dataset.classNames, fisherMds: mds.value.fisher, euclideanMds: mds.value.euclidean, tsne: tsneEmb,
    fisherGraph: graphs.value.fisher, euclideanGraph: graphs.value.euclidean, ellipses, fisherGeodesic: geo.value.fisher, euclideanGeodesic: euclidDist,
    comparison, summary: summary as unknown as Record<string, unknown>, png: o.png ?? true, mdsSpectra,
  });
  // The original pipeline's file layout (upstream.ts), outside the step cache.
  const upstreamFiles = writeUpstreamOutputs(o.out, {
    points, store, labels: dataset.labels, classNames: dataset.classNames, fisherGraph: graphs.value.fisher, euclideanGraph: graphs.value.euclidean,
    fisherGeodesic: geo.value.fisher, euclideanGeodesic: euclidDist, in2d,
  }, o.upstreamDirs);
  files.push(...upstreamFiles);
  writeFileAtomic(join(outputs, 'README.txt'), 'comparison.json: numbers; report.html: interactive report; *.svg/png: figures; ellipses.json: 2-D pulled-back metrics.\n');
  note('report', { seconds: (performance.now() - t0) / 1000, cached: false });
  return {
    points, store, fisherGeodesic: geo.value.fisher, euclideanGeodesic: euclidDist, fisherMds: mds.value.fisher, euclideanMds: mds.value.euclidean, tsne: tsneEmb,
    ellipses, comparison, timings, files: [join(outputs, 'comparison.json'), ...files],
  };
}

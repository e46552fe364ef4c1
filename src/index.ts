/**
 * The public API of latent-atlas (the package's only entry point: `import { … } from 'latent-atlas'`).
 * Everything else under src/ is internal and may change. Pipelines take (model, dataset, options); options
 * objects are typed, and each operation's defaults live in one table (…_OPTIONS, read them with defaultsOf)
 * that the CLI derives its flags from.
 *
 *   const model = await openModel('gpt2');                       // folder or hub id
 *   const data = await loadDataset('builtin:topics');
 *   const layers = await extractLayers(model, data, { layers: [6], aggregate: 'mean' });
 *   const map = await reduce(layers.get(6)!, { method: 'umap' });
 *   const id = await twoNN(layers.get(6)!);
 *   await model.release();
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, type LoadedModel, type LoadModelOptions } from './model/load.ts';
import type { Dataset } from './data/dataset.ts';
import { extractActivations, type Extraction, type ExtractOptions } from './data/extract.ts';
import type { Matrix } from './geometry/matrix.ts';
import { runFisherPipeline, type FisherPipelineOptions, type FisherPipelineResult } from './fisher/pipeline.ts';
import { ActivationAreas, type FromModelOptions } from './mri/activation-areas.ts';

// ── options tables (one per operation) and their helpers ──────────────────────────────────────────────
export { defaultsOf, withDefaults, type OptionDef, type OptionKind, type OptionTable, type OptionsOf, type ResolvedOptions } from './util/option-table.ts';
export { MODEL_OPTIONS } from './model/defaults.ts';
export { DATASET_OPTIONS, EXTRACT_OPTIONS } from './data/defaults.ts';
export { REDUCE_OPTIONS, PROFILE_OPTIONS } from './geometry/defaults.ts';
export { FISHER_OPTIONS } from './fisher/defaults.ts';
export { MRI_OPTIONS } from './mri/defaults.ts';
export { PARAM_FISHER_OPTIONS } from './params/defaults.ts';

// ── errors ────────────────────────────────────────────────────────────────────────────────────────────
export { AtlasError, isAtlasError, type AtlasErrorDetails } from './errors.ts';

// ── models ────────────────────────────────────────────────────────────────────────────────────────────
export { loadModel, type LoadedModel, type LoadModelOptions } from './model/load.ts';
export { resolveModel, type ResolveModelOptions } from './model/hub.ts';
export { defaultModel, type DefaultModel } from './model/default-model.ts';
export type { TransformerRuntime } from './model/runtime.ts';
export type { AtlasTokenizer } from './model/tokenizer.ts';
export type { Checkpoint } from './model/checkpoint.ts';

/** Opens a model: a Hugging Face checkpoint folder or a hub id (resolved through $HF_HOME/hub). Call release() when done. */
export function openModel(model: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  return loadModel(model, options);
}

// ── datasets ──────────────────────────────────────────────────────────────────────────────────────────
export { loadDataset, assembleDataset, type Dataset, type DatasetFormat, type LoadDatasetOptions, type AssembleDatasetInput } from './data/dataset.ts';
export { listBuiltinDatasets, type BuiltinDatasetInfo } from './data/builtin.ts';

// ── activations ───────────────────────────────────────────────────────────────────────────────────────
export { extractActivations, extractionRows, parseLayers, defaultCacheRoot, type Extraction, type ExtractOptions, type ActivationSource } from './data/extract.ts';
export { readLens, type StoredLens } from './data/lens.ts';
export { LENS_FILES, type LensMeta } from './data/lens-files.ts';
export { TOKEN_FILES, readTokenCache, type TokenizedTexts } from './data/token-cache.ts';
export { AGGREGATIONS, type Aggregation } from './data/aggregate.ts';
export type { CacheMeta, CachedLayer, CacheDType } from './data/activation-cache.ts';

/** Extracts activations into the activation cache (resumable; a cached result is read back without running the model). */
export function extract(model: LoadedModel, dataset: Dataset, options: ExtractOptions = {}): Promise<Extraction> {
  return extractActivations(model, dataset, options);
}

/** In-memory extraction: each layer's matrix (rows = texts in dataset order), through a temporary cache that is removed. */
export interface LayerActivations extends Map<number, Matrix<Float32Array>> {}

export async function extractLayers(model: LoadedModel, dataset: Dataset, options: Omit<ExtractOptions, 'cacheRoot' | 'force'> = {}): Promise<LayerActivations> {
  const root = mkdtempSync(join(tmpdir(), 'latent-atlas-'));
  try {
    const e = await extractActivations(model, dataset, { ...options, cacheRoot: root, progress: options.progress ?? false });
    const out: LayerActivations = new Map();
    for (const l of e.layers) {
      const x = e.readLayer(l);
      out.set(l, { rows: x.rows, cols: x.cols, data: Float32Array.from(x.data) });
    }
    return out;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

// ── geometry: reductions, neighbours, intrinsic dimension, overlaps ───────────────────────────────────
export type { Matrix } from './geometry/matrix.ts';
export { reduce, REDUCE_METHODS, type ReduceMethod, type ReduceOptions, type Reduction } from './geometry/reduce.ts';
export { pca, type PcaOptions, type PcaResult } from './geometry/pca.ts';
export { truncatedSvd, type TruncatedSvdOptions, type TruncatedSvdResult } from './geometry/truncated-svd.ts';
export { tsne, type TsneOptions, type TsneResult } from './geometry/tsne.ts';
export { umap, type UmapOptions, type UmapResult } from './geometry/umap.ts';
export { classicalMds, smacof, type ClassicalMdsResult, type SmacofOptions, type SmacofResult } from './geometry/mds.ts';
export { knn, neighboursOf, type KnnOptions, type KnnResult, type Metric } from './geometry/knn.ts';
export { knnGraph, connectedComponents, type CsrGraph } from './geometry/graph.ts';
export { geodesicDistances, type GeodesicOptions, type GeodesicResult } from './geometry/geodesic.ts';
export { twoNN, idScaling2NN, type TwoNNOptions, type TwoNNResult, type IdScaling2NNOptions, type IdScaling2NNResult } from './geometry/twonn.ts';
export { gride, idScalingGride, type GrideOptions, type GrideResult, type IdScalingGrideOptions, type IdScalingGrideResult } from './geometry/gride.ts';
export { labelOverlap, dataOverlap, type LabelOverlapOptions, type DataOverlapOptions, type OverlapResult } from './geometry/overlap.ts';
export { idProfile, profileToCsv, type IdProfileOptions, type IdProfileRow } from './geometry/id-profile.ts';

// ── latent Fisher geometry ────────────────────────────────────────────────────────────────────────────
export { runFisherPipeline, type FisherPipelineOptions, type FisherPipelineResult } from './fisher/pipeline.ts';
export { fisherWeightsFor, streamedFisherWeights, type FisherWeights } from './fisher/weight-source.ts';
import { fisherWeightsFor } from './fisher/weight-source.ts';
export { computeFisherMetrics, type FisherMetricOptions, type FisherMetrics, type FisherPoint, type FisherMethod } from './fisher/compute.ts';

/**
 * The latent Fisher pipeline (metrics → graphs → geodesics → MDS → t-SNE → report) of a model on a dataset,
 * resumable under options.out; layer-streamed when the model cannot be held whole within its maxMemory.
 */
export function fisherGeometry(model: LoadedModel, dataset: Dataset, options: FisherPipelineOptions): Promise<FisherPipelineResult> {
  return runFisherPipeline(fisherWeightsFor(model), model.tokenizer, model.key, dataset, options);
}

// ── LLM-MRI: NRAGs and probing ────────────────────────────────────────────────────────────────────────
export { ActivationAreas, type ActivationAreasOptions, type FromModelOptions, type NodeLayout } from './mri/activation-areas.ts';
export { evaluateProbe, type ProbeOptions, type ProbeResult } from './mri/probe.ts';
export { graphMetrics, type GraphMetrics } from './mri/metrics.ts';
export { nragToGraphml, nragToJson } from './mri/export.ts';
export type { Nrag } from './mri/nrag.ts';

/** Reduced per-layer activation areas of a model on a dataset: .grid(), .graph() (the NRAG), .metrics(), .evaluate() (probing). */
export function activationAreas(model: LoadedModel, dataset: Dataset, options: FromModelOptions = {}): Promise<ActivationAreas> {
  return ActivationAreas.fromModel(model, dataset, options);
}

// ── parameter space: Fisher, similarity, task vectors ─────────────────────────────────────────────────
export { parameterFisher, type ParameterFisherOptions, type ParameterFisherResult, type ModelWeights } from './params/parameter-fisher.ts';
export { diagonalFisher, type FisherMode, type FisherResult } from './params/fisher.ts';
export { ParamStore } from './params/param-store.ts';
export { analyzeSimilarity, type SimilarityOptions, type SimilarityResult } from './params/similarity.ts';
export { taskVector, type TaskVectorOptions, type TaskVectorReport } from './params/task-vector.ts';
export { writeFisherOutputs } from './params/fisher-report.ts';

// ── reading and writing results ───────────────────────────────────────────────────────────────────────
export { readNpy, writeNpy, type NpyArray, type NpyData, type NpyDType } from './data/npy.ts';
export { writeFileAtomic, writeJsonAtomic } from './data/atomic.ts';
export { writeMap, type MapFiles, type MapRows } from './geometry/map-output.ts';
export { writeProfileOutputs, type ProfileFiles } from './geometry/profile-output.ts';

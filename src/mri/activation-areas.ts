/**
 * ActivationAreas: the reference tool's central object. Model + labelled dataset + reduction (method,
 * n_components, gridsize, seed) → per-layer reduced activations (computed once, cached in memory and, when
 * built from a model, on disk next to the activation cache) → heatmap grids, NRAGs, graph metrics and the
 * probing evaluation.
 *
 * Representations (see ../shared/spec/llm-mri.md): one vector per text per hidden-state array. The default
 * pooling depends on the architecture (defaultPooling): the FIRST token ([CLS]) for encoders, the MEAN over
 * the tokens for causal decoders, whose first-token state sees only the first token (60 texts → as many points
 * as distinct first tokens). Layers where many texts coincide are reported in `warnings`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AtlasError } from '../errors.ts';
import type { Matrix } from '../geometry/matrix.ts';
import type { Dataset } from '../data/dataset.ts';
import type { Aggregation } from '../data/aggregate.ts';
import { extractActivations, type ExtractOptions } from '../data/extract.ts';
import type { LoadedModel } from '../model/load.ts';
import { readNpy, writeNpy } from '../data/npy.ts';
import { checkGridsize, gridCounts, gridLayer, type LayerGrid } from './grid.ts';
import { buildGridNrag, buildSpearmanNrag, checkCategories, type Nrag } from './nrag.ts';
import { graphMetrics, type GraphMetrics } from './metrics.ts';
import { evaluateProbe, type ProbeOptions, type ProbeResult } from './probe.ts';
import { checkComponents, reduceLayer, type ReductionMethod } from './reduce.ts';
import type { Architecture } from '../model/config.ts';
import { countDistinctRows } from '../geometry/sample-checks.ts';

/** [CLS]/first token for a bidirectional encoder; the mean for a causal decoder (its first state sees one token). */
export function defaultPooling(architecture: Architecture): Aggregation {
  return architecture === 'bert' ? 'first' : 'mean';
}

/** Warn when fewer than this fraction of the texts give distinct points in a layer. */
const COINCIDE_FRACTION = 0.9;

export interface ActivationAreasOptions {
  /** Default 'pca'. */
  method?: ReductionMethod;
  /** Default 2 (grid mode); > 2 selects the Spearman NRAG. */
  nComponents?: number;
  /** Grid cells per axis. Default 10. */
  gridsize?: number;
  /** Seed of the reductions. Default 0. */
  seed?: number;
  /** UMAP metric. Default 'cosine' (the reference's). */
  metric?: 'euclidean' | 'cosine';
  /** PCA / SVD standardisation (default: on for 2 components, see reduce.ts). */
  standardize?: boolean;
  /** SVD solver (reduce.ts): 'exact' (default) or 'randomized'. */
  svdSolver?: 'exact' | 'randomized';
  threads?: number;
  /** Folder for cached reduced activations (.npy per layer). Default: none (memory only). */
  cacheDir?: string;
}

/** Where the activations come from: one n × d matrix per hidden-state array, plus the texts' labels. */
export interface ActivationInput {
  /** Hidden-state indices available (0 = embeddings), ascending. */
  layers: number[];
  /** Number of hidden-state arrays of the model (nLayer + 1). */
  nLayers: number;
  readLayer(layer: number): Matrix;
  texts: string[];
  labels: number[] | null;
  classNames: string[];
  /** Identifies the activations (for the disk cache key). */
  key?: string;
}

export interface FromModelOptions extends ActivationAreasOptions {
  /** How token states become one vector per text. Default: defaultPooling(architecture). */
  pooling?: Aggregation;
  /** Passed to extractActivations (batch size, max length, cache root, progress…). */
  extract?: Omit<ExtractOptions, 'aggregate' | 'layers' | 'source'>;
}

/** Node positions for drawing: y = nLayers − layer (early layers on top). */
export type NodeLayout = 'fixed' | 'compact';

export class ActivationAreas {
  readonly method: ReductionMethod;
  readonly nComponents: number;
  readonly gridsize: number;
  readonly seed: number;
  private readonly reducedCache = new Map<string, Promise<Matrix<Float64Array>>>();
  private readonly gridCache = new Map<number, Promise<LayerGrid>>();
  /** What the user must know about these activations (layers where many texts coincide). */
  readonly warnings: string[] = [];

  constructor(readonly input: ActivationInput, readonly options: ActivationAreasOptions = {}) {
    this.method = options.method ?? 'pca';
    this.nComponents = options.nComponents ?? 2;
    this.gridsize = options.gridsize ?? 10;
    this.seed = options.seed ?? 0;
    checkGridsize(this.gridsize);
    if (input.layers.length === 0) throw new AtlasError('no layers to analyse', { field: 'layers' });
    if (input.labels && input.labels.length !== input.texts.length) throw new AtlasError(`${input.labels.length} labels for ${input.texts.length} texts`, { field: 'labels' });
    const first = input.readLayer(input.layers[0]!);
    if (first.rows !== input.texts.length) throw new AtlasError(`layer ${input.layers[0]} has ${first.rows} rows for ${input.texts.length} texts`, { field: 'activations' });
    checkComponents(this.method, this.nComponents, first.rows, first.cols);
  }

  /** Extracts the pooled hidden states of every layer (cached by data/extract.ts) and wraps them. */
  static async fromModel(model: LoadedModel, dataset: Dataset, opts: FromModelOptions = {}): Promise<ActivationAreas> {
    const architecture = model.checkpoint.config.architecture;
    const pooling = opts.pooling ?? defaultPooling(architecture);
    if (pooling === 'all' || pooling === 'match') {
      throw new AtlasError(`pooling '${pooling}' does not give one vector per text`, { field: 'pooling', hint: 'use first ([CLS]), mean, final or max' });
    }
    const ex = await extractActivations(model, dataset, { ...opts.extract, aggregate: pooling, source: 'hidden', layers: 'all' });
    const nLayers = model.checkpoint.config.nLayer + 1;
    const warnings: string[] = [];
    for (const l of ex.layers) {
      const x = ex.readLayer(l);
      const distinct = countDistinctRows({ rows: x.rows, cols: x.cols, data: x.data });
      if (distinct < COINCIDE_FRACTION * x.rows) {
        const why = pooling === 'first' && architecture !== 'bert' ? ` (pooling 'first' on a causal decoder sees only the first token: use --pooling mean or final)` : '';
        warnings.push(`layer ${l}: the ${x.rows} texts give only ${distinct} distinct point${distinct === 1 ? '' : 's'} with pooling '${pooling}'${why}`);
      }
    }
    const areas = new ActivationAreas(
      {
        layers: ex.layers,
        nLayers,
        readLayer: (l) => ex.readLayer(l),
        texts: dataset.texts,
        labels: dataset.labels,
        classNames: dataset.classNames,
        key: ex.dir,
      },
      { ...opts, cacheDir: opts.cacheDir ?? join(ex.dir, 'mri') },
    );
    areas.warnings.push(...warnings);
    return areas;
  }

  get layers(): number[] {
    return this.input.layers;
  }

  get classNames(): string[] {
    return this.input.classNames;
  }

  /** A label given as class index or class name → class index (AtlasError for unknown labels). */
  category(label: number | string): number {
    const names = this.input.classNames;
    if (!this.input.labels) throw new AtlasError('the dataset has no labels, so no category can be selected', { field: 'labels' });
    const k = typeof label === 'number' ? label : names.indexOf(label);
    if (!Number.isInteger(k) || k < 0 || k >= names.length) {
      throw new AtlasError(`unknown category ${JSON.stringify(label)}`, { field: 'labels', hint: `categories: ${names.join(', ')}` });
    }
    return k;
  }

  private cachePath(layer: number, category: number | null): string | undefined {
    const dir = this.options.cacheDir;
    if (!dir) return undefined;
    const spec = JSON.stringify({
      v: 1, key: this.input.key ?? '', method: this.method, k: this.nComponents, seed: this.seed,
      metric: this.options.metric ?? 'cosine', standardize: this.options.standardize ?? null, category, n: this.input.texts.length,
      svd: this.method === 'svd' ? (this.options.svdSolver ?? 'exact') : undefined,
    });
    const h = createHash('sha256').update(spec).digest('hex').slice(0, 16);
    return join(dir, `${this.method}-${this.nComponents}-${h}`, `layer_${layer}.npy`);
  }

  /**
   * Reduced activations of one layer: all texts (category null, the grid path) or one category's texts reduced
   * on their own (the Spearman path). Computed once; cached on disk when a cache folder is set.
   */
  reduced(layer: number, category: number | null = null): Promise<Matrix<Float64Array>> {
    if (!this.input.layers.includes(layer)) throw new AtlasError(`layer ${layer} is not available (layers ${this.input.layers.join(', ')})`, { field: 'layer' });
    const key = `${layer}|${category}`;
    let p = this.reducedCache.get(key);
    if (!p) {
      p = this.computeReduced(layer, category);
      this.reducedCache.set(key, p);
      p.catch(() => this.reducedCache.delete(key));
    }
    return p;
  }

  private async computeReduced(layer: number, category: number | null): Promise<Matrix<Float64Array>> {
    const path = this.cachePath(layer, category);
    if (path && existsSync(path)) {
      const a = readNpy(path);
      if (a.data instanceof Float64Array && a.shape.length === 2) return { rows: a.shape[0]!, cols: a.shape[1]!, data: a.data };
    }
    let x = this.input.readLayer(layer);
    if (category !== null) {
      const rows = this.input.labels!.flatMap((l, i) => (l === category ? [i] : []));
      const data = new Float32Array(rows.length * x.cols);
      rows.forEach((r, i) => data.set(x.data.subarray(r * x.cols, (r + 1) * x.cols), i * x.cols));
      x = { rows: rows.length, cols: x.cols, data };
    }
    const out = await reduceLayer(x, {
      method: this.method, nComponents: this.nComponents, seed: this.seed, metric: this.options.metric,
      standardize: this.options.standardize, threads: this.options.threads, svdSolver: this.options.svdSolver,
    });
    if (path) {
      mkdirSync(join(path, '..'), { recursive: true });
      writeNpy(path, out.data, [out.rows, out.cols]);
    }
    return out;
  }

  private layerGrid(layer: number): Promise<LayerGrid> {
    let p = this.gridCache.get(layer);
    if (!p) {
      p = this.reduced(layer).then((r) => gridLayer(r, this.gridsize));
      this.gridCache.set(layer, p);
    }
    return p;
  }

  private requireGrid(): void {
    if (this.nComponents !== 2) throw new AtlasError(`heatmaps and the grid NRAG need 2 components, this reduction has ${this.nComponents}`, { field: 'components', hint: 'use --components 2' });
  }

  /** Heatmap counts of a layer (rows: y bins descending; columns: x bins), for all texts or one label. */
  async grid(layer: number, label?: number | string): Promise<number[][]> {
    this.requireGrid();
    const g = await this.layerGrid(layer);
    const k = label === undefined ? undefined : this.category(label);
    return gridCounts(g, this.gridsize, k === undefined ? undefined : (i) => this.input.labels![i] === k);
  }

  /** Texts per heatmap cell (same layout as `grid`), for hover text: at most `max` per cell. */
  async cellTexts(layer: number, label?: number | string, max = 3): Promise<string[][][]> {
    this.requireGrid();
    const g = await this.layerGrid(layer);
    const k = label === undefined ? undefined : this.category(label);
    const out = Array.from({ length: this.gridsize }, () => Array.from({ length: this.gridsize }, () => [] as string[]));
    for (let i = 0; i < g.x.length; i++) {
      if (k !== undefined && this.input.labels![i] !== k) continue;
      const cell = out[this.gridsize - 1 - g.y[i]!]![g.x[i]!]!;
      if (cell.length < max) cell.push(this.input.texts[i]!);
    }
    return out;
  }

  /**
   * The NRAG for all texts (no labels), one category or two (composed). 2 components: grid NRAG; more:
   * Spearman NRAG (then at least one category is needed unless the data are unlabelled).
   */
  async graph(opts: { labels?: (number | string)[]; threshold?: number; thresholdMode?: 'signed' | 'absolute'; orientation?: 'ours' | 'upstream' } = {}): Promise<Nrag> {
    const categories = (opts.labels ?? []).map((l) => this.category(l));
    checkCategories(categories, this.input.classNames, this.input.labels !== null);
    const layers = this.input.layers;
    if (this.nComponents === 2) {
      const grids = await Promise.all(layers.map((l) => this.layerGrid(l)));
      return buildGridNrag({ grids, layers, nLayers: this.input.nLayers, gridsize: this.gridsize, labels: this.input.labels, classNames: this.input.classNames, categories });
    }
    if (categories.length === 0 && this.input.labels) {
      throw new AtlasError('the Spearman NRAG (more than 2 components) is built per category', { field: 'labels', hint: `choose one or two of: ${this.input.classNames.join(', ')}` });
    }
    const cats: (number | null)[] = categories.length ? categories : [null];
    const reduced = await Promise.all(cats.map(async (c) => ({ category: c, layers: await Promise.all(layers.map((l) => this.reduced(l, c))) })));
    return buildSpearmanNrag({ reduced, layers, nLayers: this.input.nLayers, classNames: this.input.classNames, threshold: opts.threshold, thresholdMode: opts.thresholdMode, orientation: opts.orientation });
  }

  /** Graph metrics (metrics.ts) of a graph. */
  metrics(g: Nrag): GraphMetrics {
    return graphMetrics({ directed: true, nodes: g.nodes, edges: g.edges, nLayers: g.nLayers });
  }

  /**
   * Drawing positions: y = nLayers − layer (early layers on top). x: 'fixed' = the node's cell index
   * (x_bin·gridsize + y_bin) or component, identical across categories so two graphs can be compared;
   * 'compact' = the layer's nodes spaced evenly in cell order, centred.
   */
  positions(g: Nrag, layout: NodeLayout = 'fixed'): Map<string, { x: number; y: number }> {
    const out = new Map<string, { x: number; y: number }>();
    const slot = (v: Nrag['nodes'][number]): number => (v.component !== undefined ? v.component : v.x! * (g.gridsize ?? this.gridsize) + v.y!);
    if (layout === 'fixed') {
      for (const v of g.nodes) out.set(v.id, { x: slot(v), y: g.nLayers - v.layer });
      return out;
    }
    const byLayer = new Map<number, Nrag['nodes']>();
    for (const v of g.nodes) {
      let list = byLayer.get(v.layer);
      if (!list) byLayer.set(v.layer, (list = []));
      list.push(v);
    }
    const widest = Math.max(...[...byLayer.values()].map((l) => l.length));
    for (const list of byLayer.values()) {
      list.sort((a, b) => slot(a) - slot(b));
      const off = (widest - list.length) / 2;
      list.forEach((v, i) => out.set(v.id, { x: off + i, y: g.nLayers - v.layer }));
    }
    return out;
  }

  /**
   * Probing (probe.ts): "full" = the last hidden-state array's vectors, "reduced" = every layer's reduced
   * components side by side (columns "{layer+1}_{k}" in the reference).
   */
  async evaluate(opts: ProbeOptions & { probeComponents?: number } = {}): Promise<ProbeResult> {
    if (!this.input.labels) throw new AtlasError('the dataset has no labels to probe', { field: 'labels' });
    const layers = this.input.layers;
    const reduced = await Promise.all(layers.map((l) => this.reduced(l)));
    const n = this.input.texts.length;
    const width = reduced.reduce((a, r) => a + r.cols, 0);
    const data = new Float64Array(n * width);
    let off = 0;
    for (const r of reduced) {
      for (let i = 0; i < n; i++) for (let j = 0; j < r.cols; j++) data[i * width + off + j] = r.data[i * r.cols + j]!;
      off += r.cols;
    }
    const full = this.input.readLayer(layers[layers.length - 1]!);
    const { probeComponents, ...probe } = opts;
    let fullX: Matrix = full;
    let reducedX: Matrix = { rows: n, cols: width, data };
    if (probeComponents !== undefined) {
      // The reference's n_components: both feature sets reduced again to the same width, with the same method.
      const again = (x: Matrix): Promise<Matrix<Float64Array>> => reduceLayer(x, {
        method: this.method, nComponents: probeComponents, seed: this.seed, metric: this.options.metric,
        standardize: this.options.standardize, threads: this.options.threads, svdSolver: this.options.svdSolver,
      });
      [fullX, reducedX] = [await again(fullX), await again(reducedX)];
    }
    return evaluateProbe(fullX, reducedX, this.input.labels, { classNames: this.input.classNames, ...probe });
  }
}

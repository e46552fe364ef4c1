/**
 * Maps of every layer of a run in one shared frame (a "layers bundle"), for the explorer's layer slider.
 *
 * Alignment: PCA (and SVD, MDS) per layer, each aligned to the previous layer's aligned map by orthogonal
 * Procrustes (rotation/reflection, plus the translation and scale Procrustes removes), so a point only moves
 * when its neighbourhood changes; UMAP and t-SNE start from the previous layer's aligned embedding (their
 * `init`), which keeps the frame without forcing it. Beside the coordinates the bundle stores each point's k
 * nearest neighbours IN THE ORIGINAL SPACE of each layer (exact Euclidean k-NN), so the app lists true
 * neighbours, not neighbours in the picture.
 *
 * Files (names shared by the writer and the app: LAYER_BUNDLE):
 *   <dir>/layers.json  manifest {kind: 'latent-atlas-layers', version, method, layers, n, dim, k, texts, labels,
 *                      classNames, columns, title, ...}
 *   <dir>/coords.npy   float32, shape (L, n, dim): layer ℓ's aligned map
 *   <dir>/knn.npy      int32, shape (L, n, k): layer ℓ's neighbours of point i, nearest first, self excluded
 *   <dir>/columns.json optional {name: per-point numbers or strings} merged into the manifest's `columns` by the
 *                      app (a later tool can drop a per-text column here)
 *   <dir>/layer-columns.json optional {name: L arrays of n values}, merged into the manifest's `layerColumns`
 *
 * Per-layer columns (`layerColumns`, manifest and layer-columns.json): {name: values} with values[ℓ][i] the value
 * of point i at the ℓ-th entry of `layers` — all numbers (null = missing; coloured on one scale over every layer)
 * or all strings (null = missing; one palette over every layer). The explorer's colour follows its layer slider.
 * When the activations come from a cache entry that holds a logit lens (src/data/lens-files.ts, `extract --lens`),
 * `writeSetBundle` stores it as the per-layer columns named in LENS_COLUMNS. Bundles written before per-layer
 * columns existed simply have none (the field is optional; version stays 1).
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AtlasError } from '../errors.ts';
import { readNpy, writeNpy } from '../data/npy.ts';
import { LENS_FILES, type LensMeta } from '../data/lens-files.ts';
import type { ActivationSet } from '../data/activation-set.ts';
import { writeJsonAtomic } from '../data/atomic.ts';
import type { Matrix } from './matrix.ts';
import { procrustes } from './procrustes.ts';
import { reduce, type ReduceMethod } from './reduce.ts';
import { umap } from './umap.ts';
import { tsne } from './tsne.ts';
import { knn } from './knn.ts';

export const LAYER_BUNDLE = {
  manifest: 'layers.json',
  coords: 'coords.npy',
  knn: 'knn.npy',
  columns: 'columns.json',
  layerColumns: 'layer-columns.json',
  kind: 'latent-atlas-layers',
  version: 1,
} as const;

/** Neighbours stored per point and layer (default). */
export const LAYER_BUNDLE_K = 10;

export type PointColumn = number[] | string[];
/** values[ℓ][i]: point i at the ℓ-th layer of the bundle (null = missing). */
export type LayerColumn = (number | null)[][] | (string | null)[][];

/** Names of the per-layer columns made from a logit lens (src/data/lens-files.ts). */
export const LENS_COLUMNS = {
  entropy: 'lens entropy',
  topToken: 'lens top token',
  topProb: 'lens top-1 probability',
  rank: 'lens rank of final token',
} as const;

export interface LayerBundleManifest {
  kind: typeof LAYER_BUNDLE.kind;
  version: number;
  title: string;
  method: ReduceMethod;
  layers: number[];
  n: number;
  dim: number;
  k: number;
  texts: string[];
  labels: number[];
  classNames: string[];
  /** Per-point metadata columns (numbers → colormap, strings → palette in the app). */
  columns: Record<string, PointColumn>;
  /** Per-layer per-point columns (optional; see the file header). */
  layerColumns?: Record<string, LayerColumn>;
  /** Procrustes disparity of each layer's map to the previous aligned one (0 for the first), PCA-like methods. */
  disparity: (number | null)[];
  [extra: string]: unknown;
}

export interface AlignedLayers {
  /** One n × dim aligned map per layer. */
  maps: Matrix<Float64Array>[];
  disparity: (number | null)[];
}

/** Aligned maps of `xs` (one n × d matrix per layer, same rows) in a shared frame. */
export async function alignedLayerMaps(xs: Matrix[], opts: { method: ReduceMethod; dim?: number; seed?: number; threads?: number }): Promise<AlignedLayers> {
  const dim = opts.dim ?? 2;
  const seed = opts.seed ?? 0;
  const maps: Matrix<Float64Array>[] = [];
  const disparity: (number | null)[] = [];
  for (let l = 0; l < xs.length; l++) {
    const x = xs[l];
    const prev = maps[l - 1];
    if (prev && x.rows !== prev.rows) throw new AtlasError(`layer ${l} has ${x.rows} rows, layer ${l - 1} has ${prev.rows}`, { field: 'layers' });
    if ((opts.method === 'umap' || opts.method === 'tsne') && prev) {
      const n = x.rows;
      const r = opts.method === 'umap'
        ? await umap(x, { nComponents: dim, seed, nNeighbors: Math.min(15, n - 1), init: prev, threads: opts.threads })
        : await tsne(x, { nComponents: dim, seed, perplexity: Math.min(30, Math.max(1, Math.floor((n - 1) / 3))), init: scaledInit(prev), method: dim === 2 ? 'barnes_hut' : 'exact', threads: opts.threads });
      maps.push(r.embedding);
      disparity.push(null);
      continue;
    }
    const r = await reduce(x, { method: opts.method, nComponents: dim, seed, threads: opts.threads });
    if (!prev) { maps.push(r.embedding); disparity.push(opts.method === 'umap' || opts.method === 'tsne' ? null : 0); continue; }
    const p = procrustes(prev, r.embedding);
    maps.push(rotateInto(prev, r.embedding, p.rotation));
    disparity.push(p.disparity);
  }
  return { maps, disparity };
}

/**
 * B centred, scaled to A's Frobenius norm, rotated by R and moved to A's mean. Procrustes' own `aligned` also
 * multiplies by its optimal scale trace(S) ≤ 1, which would shrink every layer a little more than the last;
 * the slider wants each layer at the same spread, only turned into the shared frame.
 */
function rotateInto(a: Matrix<Float64Array>, b: Matrix<Float64Array>, r: Matrix<Float64Array>): Matrix<Float64Array> {
  const n = a.rows, k = r.rows;
  const centred = (m: Matrix<Float64Array>) => {
    const mean = new Float64Array(k);
    for (let i = 0; i < n; i++) for (let j = 0; j < m.cols; j++) mean[j] += m.data[i * m.cols + j] / n;
    let norm = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < m.cols; j++) norm += (m.data[i * m.cols + j] - mean[j]) ** 2;
    return { mean, norm: Math.sqrt(norm) };
  };
  const A = centred(a), B = centred(b);
  const out = new Float64Array(n * a.cols);
  for (let i = 0; i < n; i++) for (let q = 0; q < a.cols; q++) {
    let v = 0;
    for (let p = 0; p < b.cols; p++) v += (b.data[i * b.cols + p] - B.mean[p]) * r.data[p * k + q];
    out[i * a.cols + q] = (v / B.norm) * A.norm + A.mean[q];
  }
  return { rows: n, cols: a.cols, data: out };
}

/** t-SNE expects a small initial spread (std 1e-4 of the first axis, as scikit-learn's pca init). */
function scaledInit(m: Matrix<Float64Array>): Matrix<Float64Array> {
  const n = m.rows, k = m.cols;
  let mean = 0, sq = 0;
  for (let i = 0; i < n; i++) mean += m.data[i * k] / n;
  for (let i = 0; i < n; i++) sq += (m.data[i * k] - mean) ** 2 / n;
  const s = sq > 0 ? 1e-4 / Math.sqrt(sq) : 1;
  return { rows: n, cols: k, data: m.data.map((v) => v * s) };
}

export interface LayerBundleInput {
  title: string;
  method: ReduceMethod;
  layers: number[];
  /** The original representations, one n × d matrix per entry of `layers`. */
  xs: Matrix[];
  texts: string[];
  labels: ArrayLike<number>;
  classNames: string[];
  columns?: Record<string, PointColumn>;
  layerColumns?: Record<string, LayerColumn>;
  dim?: number;
  k?: number;
  seed?: number;
  threads?: number;
  info?: Record<string, unknown>;
  /** Progress lines (one per step; none by default). */
  log?: (line: string) => void;
}

/** Computes and writes a layers bundle into `dir`; returns its manifest. */
export async function writeLayerBundle(dir: string, inp: LayerBundleInput): Promise<LayerBundleManifest> {
  if (inp.xs.length !== inp.layers.length || !inp.xs.length) throw new AtlasError(`${inp.xs.length} matrices for ${inp.layers.length} layers`, { field: 'layers' });
  const n = inp.xs[0].rows;
  const dim = inp.dim ?? 2;
  const k = Math.min(inp.k ?? LAYER_BUNDLE_K, n - 1);
  for (const [name, col] of Object.entries(inp.columns ?? {})) if (col.length !== n) throw new AtlasError(`column '${name}' has ${col.length} values for ${n} points`, { field: 'columns' });
  for (const [name, col] of Object.entries(inp.layerColumns ?? {})) {
    if (col.length !== inp.layers.length || col.some((c) => c.length !== n)) throw new AtlasError(`per-layer column '${name}' must hold ${inp.layers.length} arrays of ${n} values`, { field: 'layerColumns' });
  }
  inp.log?.(`aligning ${inp.layers.length} ${inp.method.toUpperCase()} maps of ${n} points (layers ${inp.layers.join(', ')})`);
  const { maps, disparity } = await alignedLayerMaps(inp.xs, { method: inp.method, dim, seed: inp.seed, threads: inp.threads });
  const coords = new Float32Array(inp.layers.length * n * dim);
  const nn = new Int32Array(inp.layers.length * n * k);
  for (let l = 0; l < inp.layers.length; l++) {
    inp.log?.(`layer ${inp.layers[l]} (${l + 1}/${inp.layers.length}): ${k} nearest neighbours in the original space`);
    const m = maps[l];
    for (let i = 0; i < n; i++) for (let a = 0; a < dim; a++) coords[(l * n + i) * dim + a] = m.data[i * m.cols + a];
    const t = await knn(inp.xs[l], { k, threads: inp.threads });
    nn.set(t.indices, l * n * k);
  }
  mkdirSync(dir, { recursive: true });
  writeNpy(join(dir, LAYER_BUNDLE.coords), coords, [inp.layers.length, n, dim]);
  writeNpy(join(dir, LAYER_BUNDLE.knn), nn, [inp.layers.length, n, k]);
  const manifest: LayerBundleManifest = {
    ...inp.info, kind: LAYER_BUNDLE.kind, version: LAYER_BUNDLE.version, title: inp.title, method: inp.method, layers: [...inp.layers], n, dim, k,
    texts: inp.texts, labels: Array.from(inp.labels), classNames: inp.classNames, columns: inp.columns ?? {},
    ...(inp.layerColumns && Object.keys(inp.layerColumns).length ? { layerColumns: inp.layerColumns } : {}), disparity,
  };
  writeJsonAtomic(join(dir, LAYER_BUNDLE.manifest), manifest);
  return manifest;
}

/**
 * The logit lens of the cache entry folder `dir` (src/data/lens-files.ts) as per-layer columns for the bundle
 * layers `layers` (the cache's layer numbering); a bundle layer the lens does not cover gets nulls. Null when
 * the folder holds no lens; a lens whose arrays disagree with lens.json or with the `rows` texts is left out
 * with a warning naming the file (the map itself does not need it).
 */
export function lensLayerColumns(dir: string, layers: number[], rows: number): Record<string, LayerColumn> | null {
  const metaPath = join(dir, LENS_FILES.meta);
  if (!existsSync(metaPath)) return null;
  try {
    let meta: LensMeta;
    try {
      meta = JSON.parse(readFileSync(metaPath, 'utf8')) as LensMeta;
    } catch {
      throw new AtlasError('is not valid JSON', { file: metaPath });
    }
    if (!Array.isArray(meta.layers) || !Number.isInteger(meta.k) || meta.k < 1) throw new AtlasError('needs `layers` (array) and `k` (integer ≥ 1)', { file: metaPath });
    const tokens = meta.tokens && typeof meta.tokens === 'object' ? meta.tokens : {};
    const L = meta.layers.length, K = meta.k;
    const read = (name: string, shape: number[], dtype: string) => {
      const f = join(dir, name);
      const a = readNpy(f);
      if (a.dtype !== dtype || a.shape.join() !== shape.join()) throw new AtlasError(`must be ${dtype === '<i4' ? 'int32' : 'float32'} of shape (${shape.join(', ')}) by lens.json and the ${rows} rows, got ${a.dtype} (${a.shape.join(', ')})`, { file: f });
      return a.data;
    };
    const entropy = read(LENS_FILES.entropy, [rows, L], '<f4');
    const rank = existsSync(join(dir, LENS_FILES.rank)) ? read(LENS_FILES.rank, [rows, L], '<i4') : null;
    const topIds = existsSync(join(dir, LENS_FILES.topIds)) ? read(LENS_FILES.topIds, [rows, L, K], '<i4') : null;
    const topProbs = existsSync(join(dir, LENS_FILES.topProbs)) ? read(LENS_FILES.topProbs, [rows, L, K], '<f4') : null;
    const at = layers.map((l) => meta.layers.indexOf(l));
    const num = (a: ArrayLike<number>, stride: number, off: number): (number | null)[][] => at.map((j) => Array.from({ length: rows }, (_, i) => {
      const v = j < 0 ? NaN : a[(i * L + j) * stride + off];
      return Number.isFinite(v) ? v : null;
    }));
    const out: Record<string, LayerColumn> = { [LENS_COLUMNS.entropy]: num(entropy, 1, 0) };
    if (topIds) out[LENS_COLUMNS.topToken] = at.map((j) => Array.from({ length: rows }, (_, i) => (j < 0 ? null : tokens[String(topIds[(i * L + j) * K])] ?? `#${topIds[(i * L + j) * K]}`)));
    if (topProbs) out[LENS_COLUMNS.topProb] = num(topProbs, K, 0);
    if (rank) out[LENS_COLUMNS.rank] = num(rank, 1, 0);
    return out;
  } catch (e) {
    if (!(e instanceof AtlasError)) throw e;
    console.error(`warning: logit lens left out of the layers bundle: ${e.message}`);
    return null;
  }
}

export interface SetBundleOptions {
  method: ReduceMethod;
  dim?: number;
  seed?: number;
  threads?: number;
  title?: string;
  info?: Record<string, unknown>;
  log?: (line: string) => void;
}

/**
 * The bundle of `layers` of an activation set (an extraction of ours or activations computed elsewhere),
 * with the logit lens as per-layer columns when the set's folder holds one. Used by `map --align` and by
 * `serve --activations`.
 */
export async function writeSetBundle(dir: string, set: ActivationSet, layers: number[], o: SetBundleOptions): Promise<LayerBundleManifest> {
  let isDir = false;
  try { isDir = statSync(set.source).isDirectory(); } catch { /* a source that is not a path: no lens */ }
  const lens = isDir ? lensLayerColumns(set.source, layers, set.rows) : null;
  return writeLayerBundle(dir, {
    title: o.title ?? `${set.name} · ${o.method.toUpperCase()} aligned across layers`, method: o.method, layers, dim: o.dim, seed: o.seed, threads: o.threads,
    xs: layers.map((l) => { const x = set.readLayer(l); return { rows: x.rows, cols: x.cols, data: x.data }; }),
    texts: set.texts, labels: set.labels, classNames: set.classNames, layerColumns: lens ?? undefined, info: { activations: set.source, ...o.info }, log: o.log,
  });
}

/**
 * Layers bundles (src/geometry/layer-bundle.ts) for the explorer: discovery (`scanLayerBundles`, called by
 * scan.ts) and the JSON the client draws from (`layersPayload`, /api/layers?dir=). The manifest is checked
 * against the arrays before anything is sent: a bundle whose coords/knn shapes or columns disagree with the
 * manifest is refused with a 422 naming the file, never drawn wrong.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy } from '../data/npy.ts';
import { LAYER_BUNDLE, type LayerBundleManifest, type LayerColumn, type PointColumn } from '../geometry/layer-bundle.ts';
import { HttpError, resolveInside } from './safe-path.ts';
import { FISHER_OUTPUT } from '../fisher/output-files.ts';

export interface LayerBundleEntry {
  dir: string;
  title: string;
  method: string;
  layers: number[];
  n: number;
}

export interface LayersPayload {
  dir: string;
  title: string;
  method: string;
  layers: number[];
  n: number;
  dim: number;
  k: number;
  texts: string[];
  labels: number[];
  classNames: string[];
  columns: Record<string, PointColumn>;
  /** Per-layer columns: values[ℓ][i] (numbers, NaN → null in JSON, or strings with null = missing). */
  layerColumns: Record<string, LayerColumn>;
  /** Row-major (L, n, dim), rounded to float32 precision. */
  coords: number[];
  /** Row-major (L, n, k) neighbour indices in each layer's original space. */
  knn: number[];
  notes: string[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const round7 = (v: number): number => (Number.isFinite(v) ? Number(v.toPrecision(7)) : NaN);

function readJsonOr(abs: string): unknown {
  try {
    return JSON.parse(readFileSync(abs, 'utf8'));
  } catch {
    return undefined;
  }
}

const isManifest = (m: unknown): m is LayerBundleManifest => isRecord(m) && m.kind === LAYER_BUNDLE.kind && Array.isArray(m.layers) && typeof m.n === 'number';

/** A bundle entry for the manifest at `abs` (folder `dir` relative to the root), or null when it is not one. */
export function layerBundleEntry(abs: string, dir: string): LayerBundleEntry | null {
  const m = readJsonOr(abs);
  if (!isManifest(m)) return null;
  return { dir, title: typeof m.title === 'string' ? m.title : dir, method: String(m.method), layers: m.layers.map(Number), n: m.n };
}

/**
 * Per-point columns from Fisher runs over the same texts: each run's predictive entropy (the entropy of the
 * next-token distribution whose Fisher information is its metric), named after the run's folder. Runs over
 * other texts, or without the entropy file, are skipped silently (they belong to another dataset).
 */
function fisherColumns(rootReal: string, fisherDirs: readonly string[], texts: readonly string[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const fd of fisherDirs) {
    const at = (f: string) => (fd === '.' ? f : `${fd}/${f}`);
    try {
      const entAbs = resolveInside(rootReal, at(FISHER_OUTPUT.entropy));
      if (!existsSync(entAbs)) continue;
      const pts = readJsonOr(resolveInside(rootReal, at(FISHER_OUTPUT.points)));
      if (!isRecord(pts) || !Array.isArray(pts.texts) || pts.texts.length !== texts.length || !pts.texts.every((t, i) => String(t) === texts[i])) continue;
      const ent = readNpy(entAbs);
      if (ent.shape.length !== 1 || ent.shape[0] !== texts.length) continue;
      out[fisherDirs.length === 1 ? 'fisher predictive entropy' : `fisher predictive entropy (${fd})`] = Array.from(ent.data, round7);
    } catch { /* unreadable run: not offered */ }
  }
  return out;
}

/**
 * The bundle in folder `dir` (relative; '.' for the root). `fisherDirs`: Fisher run folders of the same root
 * (scan.ts finds them); those over the bundle's texts add their predictive entropy as a colour column.
 */
export function layersPayload(rootReal: string, dir: string, fisherDirs: readonly string[] = []): LayersPayload {
  const at = (f: string) => (dir === '.' ? f : `${dir}/${f}`);
  const dirAbs = dir === '.' ? rootReal : resolveInside(rootReal, dir, { what: 'dir', directory: true });
  const manRel = at(LAYER_BUNDLE.manifest);
  const m = readJsonOr(resolveInside(rootReal, manRel, { what: 'layers manifest' }));
  if (!isManifest(m)) throw new HttpError(422, `'${manRel}' is not a layers manifest (kind '${LAYER_BUNDLE.kind}')`);
  const L = m.layers.length, n = m.n, dim = Number(m.dim), k = Number(m.k);
  const coords = readNpy(resolveInside(rootReal, at(LAYER_BUNDLE.coords)));
  if (coords.shape.join() !== [L, n, dim].join()) throw new HttpError(422, `'${at(LAYER_BUNDLE.coords)}' has shape (${coords.shape.join(', ')}); the manifest says (${L}, ${n}, ${dim})`);
  const nn = readNpy(resolveInside(rootReal, at(LAYER_BUNDLE.knn)));
  if (nn.dtype !== '<i4' || nn.shape.join() !== [L, n, k].join()) throw new HttpError(422, `'${at(LAYER_BUNDLE.knn)}' must be int32 of shape (${L}, ${n}, ${k}), got ${nn.dtype} (${nn.shape.join(', ')})`);
  for (const v of nn.data) if (!(v >= 0 && v < n)) throw new HttpError(422, `'${at(LAYER_BUNDLE.knn)}' holds index ${v}, outside 0..${n - 1}`);
  const notes: string[] = [];
  const columns: Record<string, PointColumn> = {};
  const addColumns = (src: unknown, file: string) => {
    if (!isRecord(src)) return;
    for (const [name, col] of Object.entries(src)) {
      if (!Array.isArray(col) || col.length !== n) { notes.push(`${file}: column '${name}' ignored (needs ${n} values)`); continue; }
      columns[name] = col.every((v) => typeof v === 'number' || v === null) ? col.map((v) => (v === null ? NaN : Number(v))) : col.map(String);
    }
  };
  addColumns(m.columns, manRel);
  const colRel = at(LAYER_BUNDLE.columns);
  if (existsSync(join(dirAbs, LAYER_BUNDLE.columns))) {
    const c = readJsonOr(resolveInside(rootReal, colRel, { what: 'columns' }));
    if (!isRecord(c)) throw new HttpError(422, `'${colRel}' is not a JSON object of columns`);
    addColumns(c, colRel);
  }
  const layerColumns: Record<string, LayerColumn> = {};
  const addLayerColumns = (src: unknown, file: string) => {
    if (!isRecord(src)) return;
    for (const [name, col] of Object.entries(src)) {
      if (!Array.isArray(col) || col.length !== L || !col.every((c) => Array.isArray(c) && c.length === n)) { notes.push(`${file}: per-layer column '${name}' ignored (needs ${L} arrays of ${n} values)`); continue; }
      const flat = (col as unknown[][]).flat();
      if (flat.every((v) => typeof v === 'number' || v === null)) layerColumns[name] = (col as (number | null)[][]).map((c) => c.map((v) => (v === null || !Number.isFinite(v) ? null : v)));
      else if (flat.every((v) => typeof v === 'string' || v === null)) layerColumns[name] = col as (string | null)[][];
      else notes.push(`${file}: per-layer column '${name}' ignored (mixes numbers and strings)`);
    }
  };
  addLayerColumns(m.layerColumns, manRel);
  const lcRel = at(LAYER_BUNDLE.layerColumns);
  if (existsSync(join(dirAbs, LAYER_BUNDLE.layerColumns))) {
    const c = readJsonOr(resolveInside(rootReal, lcRel, { what: 'layer columns' }));
    if (!isRecord(c)) throw new HttpError(422, `'${lcRel}' is not a JSON object of per-layer columns`);
    addLayerColumns(c, lcRel);
  }
  const labels = Array.isArray(m.labels) && m.labels.length === n ? m.labels.map((v) => (Number.isInteger(v) ? Number(v) : -1)) : new Array(n).fill(-1);
  const texts = Array.isArray(m.texts) && m.texts.length === n ? m.texts.map(String) : Array.from({ length: n }, (_, i) => `point ${i}`);
  if (Array.isArray(m.texts) && m.texts.length === n) Object.assign(columns, fisherColumns(rootReal, fisherDirs, texts));
  return {
    dir, title: String(m.title ?? dir), method: String(m.method), layers: m.layers.map(Number), n, dim, k, texts, labels,
    classNames: Array.isArray(m.classNames) ? m.classNames.map(String) : [], columns, layerColumns,
    coords: Array.from(coords.data, round7), knn: Array.from(nn.data), notes,
  };
}

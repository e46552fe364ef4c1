/**
 * A set of per-layer representations of the same N inputs, wherever they came from: an extraction of ours
 * (the activation cache) or activations computed elsewhere (PyTorch hooks, TransformerLens, nnsight — often of a
 * model far too large for this machine). Every analysis (map, profile, compare, mri) reads this one interface,
 * so "bring your own activations" is not a second code path.
 *
 * Accepted external layouts (`openActivationSet`):
 * - a folder of `.npy` files, one per layer: `layer-<L>.npy` / `layer_<L>.npy` / `<anything><L>.npy` (the layer is
 *   the last integer in the name; files without one are ordered by name), each N×d;
 * - one `.npy` holding N×L×d (layer l = [:, l, :]) or N×d (a single layer 0);
 * - one `.safetensors` file with one N×d tensor per layer (names ordered by their last integer, e.g.
 *   `layers.0`, `hidden_states.12`), or a folder of `.safetensors` files with one tensor each;
 * - a folder that is a Latent Atlas cache entry (meta.json + layer-*.npy).
 * Labels / texts: a CSV, TSV or JSONL file with one row per input (`--labels FILE`, columns `label` and
 * `text`, both optional), or none (unlabelled).
 */
import { existsSync, readdirSync, readFileSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { AtlasError } from '../errors.ts';
import { readNpy } from './npy.ts';
import { SafetensorsFile } from '../model/safetensors.ts';
import { extractionRows, type Extraction } from './extract.ts';
import { loadDataset } from './dataset.ts';
import { f16ToF32 } from '../model/float16.ts';

export interface LayerMatrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

export interface ActivationSet {
  /** Where it came from (a path or the cache entry), for provenance. */
  source: string;
  /** A short name for titles and axis labels (the model of a cache entry, else the file or folder name). */
  name: string;
  /** Layer indices present, ascending. */
  layers: number[];
  /** Number of rows (inputs) in every layer. */
  rows: number;
  /** Reads one layer (N×d float32); one layer at a time is held by callers that stream. */
  readLayer(layer: number): LayerMatrix;
  /** Per-row label index into classNames, -1 when unlabelled. */
  labels: Int32Array;
  classNames: string[];
  /** Hover text per row ('' when unknown). */
  texts: string[];
}

/** An extraction of ours, as an ActivationSet. */
export function activationSetFromExtraction(e: Extraction): ActivationSet {
  const r = extractionRows(e);
  const model = typeof e.meta.model === 'string' ? basename(e.meta.model) : basename(e.dir);
  return { source: e.dir, name: model, layers: [...e.layers], rows: e.meta.rows, readLayer: (l) => e.readLayer(l), ...r };
}

/** The last integer in a name ("layer-12.npy" → 12), or undefined. */
function layerNumberOf(name: string): number | undefined {
  const all = basename(name, extname(name)).match(/\d+/g);
  return all ? Number(all[all.length - 1]) : undefined;
}

/** Orders names by their layer number (names without one keep name order, numbered after the others). */
function numberNames(names: string[], file: string): { layer: number; name: string }[] {
  const withNums = names.map((name) => ({ name, n: layerNumberOf(name) }));
  if (withNums.every((x) => x.n !== undefined)) {
    const seen = new Map<number, string>();
    for (const x of withNums) {
      const prev = seen.get(x.n!);
      if (prev !== undefined) throw new AtlasError(`'${prev}' and '${x.name}' both name layer ${x.n}`, { file, hint: 'one array per layer; put each layer number once in the names' });
      seen.set(x.n!, x.name);
    }
    return withNums.map((x) => ({ layer: x.n!, name: x.name })).sort((a, b) => a.layer - b.layer);
  }
  return [...names].sort().map((name, layer) => ({ layer, name }));
}

function toF32(data: Float32Array | Float64Array | Int32Array | Uint16Array, dtype: string, file: string): Float32Array {
  if (dtype === '<i4') throw new AtlasError('expected a float array, found int32', { file, field: 'descr', hint: 'save activations as float32, float16 or float64' });
  return data instanceof Float32Array ? data : data instanceof Uint16Array ? f16ToF32(data) : Float32Array.from(data);
}

function checkMatrix(m: LayerMatrix, file: string, what: string): LayerMatrix {
  for (let i = 0; i < m.data.length; i++) {
    const v = m.data[i]!;
    if (!Number.isFinite(v)) {
      throw new AtlasError(`${what} holds a non-finite value (${v}) at row ${Math.floor(i / m.cols)}, column ${i % m.cols}`, { file, hint: 'remove or fix the non-finite rows before the analysis' });
    }
  }
  return m;
}

function npy2d(path: string): LayerMatrix {
  const a = readNpy(path);
  if (a.shape.length !== 2) throw new AtlasError(`expected an N×d array per layer, found shape [${a.shape.join(', ')}]`, { file: path, field: 'shape', hint: 'one 2-D array per layer, or a single N×L×d array' });
  return checkMatrix({ rows: a.shape[0]!, cols: a.shape[1]!, data: toF32(a.data, a.dtype, path) }, path, 'the array');
}

/** Reads the header shape of a .npy without its data (to validate a folder cheaply). */
function npyShape(path: string): number[] {
  const fd = openSync(path, 'r');
  try {
    const pre = new Uint8Array(4096);
    const n = readSync(fd, pre, 0, pre.length, 0);
    const text = new TextDecoder('latin1').decode(pre.subarray(0, n));
    const m = /'shape':\s*\(([^)]*)\)/.exec(text);
    if (!text.startsWith('\x93NUMPY') || !m) throw new AtlasError('not a .npy file', { file: path });
    return m[1]!.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  } finally {
    closeSync(fd);
  }
}

function fromNpyFolder(dir: string, files: string[]): Omit<ActivationSet, 'labels' | 'classNames' | 'texts' | 'name'> {
  const numbered = numberNames(files, dir);
  const shapes = numbered.map((x) => npyShape(join(dir, x.name)));
  shapes.forEach((s, i) => {
    if (s.length !== 2) throw new AtlasError(`expected an N×d array, found shape [${s.join(', ')}]`, { file: join(dir, numbered[i]!.name), field: 'shape' });
    if (s[0] !== shapes[0]![0]) throw new AtlasError(`has ${s[0]} rows but ${numbered[0]!.name} has ${shapes[0]![0]}: every layer must hold the same inputs`, { file: join(dir, numbered[i]!.name) });
  });
  const byLayer = new Map(numbered.map((x) => [x.layer, join(dir, x.name)]));
  return { source: dir, layers: numbered.map((x) => x.layer), rows: shapes[0]![0]!, readLayer: (l) => npy2d(byLayerFile(byLayer, l, dir)) };
}

function byLayerFile(m: Map<number, string>, l: number, where: string): string {
  const f = m.get(l);
  if (f === undefined) throw new AtlasError(`layer ${l} is not in the activations (layers: ${[...m.keys()].join(', ')})`, { file: where, field: 'layers' });
  return f;
}

function fromNpyFile(path: string): Omit<ActivationSet, 'labels' | 'classNames' | 'texts' | 'name'> {
  const shape = npyShape(path);
  if (shape.length === 2) return { source: path, layers: [0], rows: shape[0]!, readLayer: (l) => { if (l !== 0) byLayerFile(new Map([[0, path]]), l, path); return npy2d(path); } };
  if (shape.length !== 3) throw new AtlasError(`expected N×d (one layer) or N×L×d (all layers), found shape [${shape.join(', ')}]`, { file: path, field: 'shape' });
  const [N, L, d] = shape as [number, number, number];
  let all: Float32Array | undefined;
  return {
    source: path,
    layers: Array.from({ length: L }, (_, i) => i),
    rows: N,
    readLayer(l) {
      if (!Number.isInteger(l) || l < 0 || l >= L) throw new AtlasError(`layer ${l} is not in the activations (layers 0..${L - 1})`, { file: path, field: 'layers' });
      if (!all) {
        const a = readNpy(path);
        all = toF32(a.data, a.dtype, path);
      }
      const out = new Float32Array(N * d);
      for (let i = 0; i < N; i++) out.set(all.subarray((i * L + l) * d, (i * L + l + 1) * d), i * d);
      return checkMatrix({ rows: N, cols: d, data: out }, path, `layer ${l}`);
    },
  };
}

function fromSafetensors(files: string[], where: string): Omit<ActivationSet, 'labels' | 'classNames' | 'texts' | 'name'> {
  const entries: { key: string; file: string; tensor: string }[] = [];
  for (const f of files) {
    const st = SafetensorsFile.open(f);
    try {
      const names = st.names();
      if (files.length > 1 && names.length !== 1) throw new AtlasError(`holds ${names.length} tensors; in a folder of .safetensors files each must hold one layer`, { file: f });
      for (const n of names) entries.push({ key: files.length > 1 ? basename(f) : n, file: f, tensor: n });
    } finally {
      st.close();
    }
  }
  if (entries.length === 0) throw new AtlasError('holds no tensors', { file: where });
  const numbered = numberNames(entries.map((e) => e.key), where);
  const byKey = new Map(entries.map((e) => [e.key, e]));
  const loc = new Map(numbered.map((x) => [x.layer, byKey.get(x.name)!]));
  const read = (l: number): LayerMatrix => {
    const e = loc.get(l);
    if (!e) throw new AtlasError(`layer ${l} is not in the activations (layers: ${[...loc.keys()].join(', ')})`, { file: where, field: 'layers' });
    const st = SafetensorsFile.open(e.file);
    try {
      const t = st.read(e.tensor);
      if (t.shape.length !== 2) throw new AtlasError(`tensor '${e.tensor}' has shape [${t.shape.join(', ')}]; expected N×d`, { file: e.file, field: e.tensor });
      return checkMatrix({ rows: t.shape[0]!, cols: t.shape[1]!, data: t.data }, e.file, `tensor '${e.tensor}'`);
    } finally {
      st.close();
    }
  };
  const rowsOf = (l: number): number => {
    const e = loc.get(l)!;
    const st = SafetensorsFile.open(e.file);
    try {
      const s = st.entry(e.tensor).shape;
      if (s.length !== 2) throw new AtlasError(`tensor '${e.tensor}' has shape [${s.join(', ')}]; expected N×d`, { file: e.file, field: e.tensor });
      return s[0]!;
    } finally {
      st.close();
    }
  };
  const layers = numbered.map((x) => x.layer);
  const rows = rowsOf(layers[0]!);
  for (const l of layers) {
    if (rowsOf(l) !== rows) throw new AtlasError(`layer ${l} has ${rowsOf(l)} rows but layer ${layers[0]} has ${rows}: every layer must hold the same inputs`, { file: loc.get(l)!.file });
  }
  return { source: where, layers, rows, readLayer: read };
}

export interface OpenActivationsOptions {
  /** CSV / TSV / JSONL with one row per input (label and/or text columns). */
  labels?: string;
  /** Default 'label'. */
  labelColumn?: string;
  /** Default 'text'. */
  textColumn?: string;
}

/** Opens activations computed elsewhere (see the file header for the layouts). */
export async function openActivationSet(path: string, opts: OpenActivationsOptions = {}): Promise<ActivationSet> {
  if (!existsSync(path)) throw new AtlasError('not found', { file: path, field: 'activations', hint: 'pass a .npy / .safetensors file or a folder of them' });
  let base: Omit<ActivationSet, 'labels' | 'classNames' | 'texts' | 'name'>;
  let cacheMeta: { texts?: string[]; labels?: number[] | null; classNames?: string[]; model?: string } | undefined;
  if (statSync(path).isDirectory()) {
    const files = readdirSync(path).filter((f) => !f.startsWith('.'));
    const npys = files.filter((f) => f.endsWith('.npy') && !/^(row-|distances|indices)/.test(f));
    const sts = files.filter((f) => f.endsWith('.safetensors'));
    if (files.includes('meta.json') && npys.some((f) => f.startsWith('layer-'))) {
      cacheMeta = JSON.parse(readFileSync(join(path, 'meta.json'), 'utf8'));
      base = fromNpyFolder(path, npys.filter((f) => f.startsWith('layer-')));
    } else if (npys.length && sts.length) {
      throw new AtlasError('holds both .npy and .safetensors files', { file: path, hint: 'keep one format per folder' });
    } else if (npys.length) base = fromNpyFolder(path, npys);
    else if (sts.length) base = fromSafetensors(sts.sort().map((f) => join(path, f)), path);
    else throw new AtlasError('holds no .npy or .safetensors files', { file: path, field: 'activations' });
  } else if (path.endsWith('.npy')) base = fromNpyFile(path);
  else if (path.endsWith('.safetensors')) base = fromSafetensors([path], path);
  else throw new AtlasError('is neither .npy nor .safetensors', { file: path, field: 'activations', hint: 'save with numpy.save or safetensors.torch.save_file' });

  let labels = new Int32Array(base.rows).fill(-1);
  let classNames: string[] = [];
  let texts: string[] = Array.from({ length: base.rows }, () => '');
  if (cacheMeta && !opts.labels) {
    // A cache entry carries its own labels and texts (one row per text for pooled aggregations).
    if (cacheMeta.texts?.length === base.rows) texts = cacheMeta.texts;
    if (cacheMeta.labels && cacheMeta.labels.length === base.rows) labels = Int32Array.from(cacheMeta.labels);
    classNames = cacheMeta.classNames ?? [];
  }
  if (opts.labels) {
    const ds = await loadDataset(opts.labels, { labelColumn: opts.labelColumn, textColumn: opts.textColumn, textOptional: true });
    if (ds.texts.length !== base.rows) {
      throw new AtlasError(`has ${ds.texts.length} rows but the activations have ${base.rows}`, { file: opts.labels, hint: 'one row per input, in the order of the activation rows' });
    }
    texts = ds.texts;
    if (ds.labels) {
      labels = Int32Array.from(ds.labels);
      classNames = ds.classNames;
    }
  }
  const name = typeof cacheMeta?.model === 'string' ? basename(cacheMeta.model) : basename(path.replace(/[/\\]+$/, ''));
  return { ...base, name, labels, classNames, texts };
}

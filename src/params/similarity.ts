/**
 * Column-wise cosine similarity between checkpoints of one architecture. For every tensor and every pair of
 * models, column j of the stored matrix (HF layout: nn.Linear [out, in] → one column per input feature;
 * GPT-2 Conv1D [in, out] → one column per output unit; 1-D tensors are one column) gives
 * cos_j = <A_:j, B_:j> / (|A_:j| |B_:j|) (1 when both columns are zero, 0 when one is).
 *
 * Components come from the model core's weight recipes (spec.ts canonical names): a stored tensor that packs
 * several canonical weights (GPT-2's c_attn = q|k|v along its columns; GPT-NeoX / Phi-3 fused qkv and
 * gate|up along their rows) is split, one record per component, each with the columns (or, for a row split,
 * the rows) that component owns. `components` (the toolkit's q, k, v, o, gate, up, down) keeps only those
 * canonical weights.
 *
 * Streaming: tensors are visited one at a time and read in row blocks into reused buffers
 * (./tensor-stream.ts RowReader), all models in lockstep, so memory holds one block per model plus per-column
 * accumulators, never a whole model. One fused pass per block (./similarity-simd.ts, WebAssembly SIMD, read
 * straight into its memory; ./similarity-kernel.ts, the JS loop, where that does not fit) accumulates every
 * norm and pair dot product in float64. Missing tensors and shape mismatches are reported in `problems` and
 * skipped, never fatal.
 */
import { basename } from 'node:path';
import { openCheckpoint, type Checkpoint } from '../model/checkpoint.ts';
import { AtlasError } from '../errors.ts';
import { legacyName } from '../model/legacy-names.ts';
import { canonicalComponent, classifyParam, groupOrder, selectComponents, type Component, type ToolkitComponent } from './param-names.ts';
import { RowReader } from './tensor-stream.ts';
import { pairCosines, slotsPerColumn } from './similarity-kernel.ts';
import { SimilarityPool, accumulateChunk, chunked, partViews } from './similarity-pool.ts';
import type { RowSource } from './tensor-stream.ts';
import { defaultThreads } from '../util/workers.ts';
import { quantiles } from './stats.ts';

export interface CosineStats {
  columns: number;
  mean: number;
  min: number;
  q05: number;
  q25: number;
  median: number;
  q75: number;
  q95: number;
  max: number;
}

export interface TensorSimilarity {
  name: string;
  layer: number | null;
  group: string;
  component: Component;
  shape: number[];
  /** The canonical weights (spec.ts names) this record covers; a part of `shape` when the stored tensor is split. */
  canonical: string[];
    /** One entry per compared pair, keyed 'A|B' with model labels. */
  pairs: Record<string, CosineStats>;
}

export interface SimilarityProblem {
  tensor: string;
  problem: string;
}

export interface SimilarityResult {
  models: { label: string; dir: string }[];
  pairs: string[];
  tensors: TensorSimilarity[];
  /** Per pair, group (layer) and component ('all' = every tensor of the group): statistics of the pooled column cosines. */
  aggregates: { pair: string; group: string; component: string; stats: CosineStats }[];
  problems: SimilarityProblem[];
  /** Bytes of weights read (stored dtype). */
  bytesRead: number;
  /** The toolkit components compared (`components` option); absent = every tensor. */
  components?: ToolkitComponent[];
}

export interface SimilarityOptions {
  /** Display names; default the folder names (made unique). */
  labels?: string[];
  /** Row-block size per model in bytes (float32). Default 512 KiB. */
  blockBytes?: number;
  /** Only these toolkit components (q, k, v, o, gate, up, down: their canonical weight matrices); default every tensor. */
  components?: readonly string[];
  /** Threads (the main thread and threads − 1 workers, each reading its own share of a tensor's rows). Default: all cores (LATENT_ATLAS_THREADS). */
  threads?: number;
  /** Tensors smaller than this (bytes of float32, all models together) run on the main thread alone. Default 4 MiB. */
  minParallelBytes?: number;
  /** Called after each tensor with the bytes read so far. */
  onTensor?: (name: string, bytesRead: number) => void;
}

export function cosineStats(values: Float64Array): CosineStats {
  let sum = 0;
  for (const v of values) sum += v;
  const [min, q05, q25, median, q75, q95, max] = quantiles(values, [0, 0.05, 0.25, 0.5, 0.75, 0.95, 1]);
  return { columns: values.length, mean: values.length ? sum / values.length : NaN, min, q05, q25, median, q75, q95, max };
}

/**
 * One ascending array of several ascending arrays (NaN last, as TypedArray sort puts it), merged pairwise:
 * the pooled aggregates are built from per-tensor cosines that are already sorted, so they need no sort of
 * their own (sorting in V8 costs ~80-150 ns a value; the statistics were ~10 % of a similarity run).
 */
function mergeSorted(arrays: Float64Array[]): Float64Array {
  let level = arrays;
  while (level.length > 1) {
    const next: Float64Array[] = [];
    for (let k = 0; k + 1 < level.length; k += 2) {
      const a = level[k], b = level[k + 1];
      const out = new Float64Array(a.length + b.length);
      let i = 0, j = 0, o = 0;
      while (i < a.length && j < b.length) out[o++] = a[i] <= b[j] || b[j] !== b[j] ? a[i++] : b[j++];
      while (i < a.length) out[o++] = a[i++];
      while (j < b.length) out[o++] = b[j++];
      next.push(out);
    }
    if (level.length % 2) next.push(level[level.length - 1]);
    level = next;
  }
  return level[0] ?? new Float64Array(0);
}

/** Names made unique: a name given more than once gets `#position` (1-based). */
export function uniqueLabels(names: string[]): string[] {
  return names.map((n, i) => (names.indexOf(n) === i && names.lastIndexOf(n) === i ? n : `${n}#${i + 1}`));
}

function labelsFor(dirs: string[], given?: string[]): string[] {
  if (given) return given;
  return uniqueLabels(dirs.map((d) => basename(d.replace(/\/+$/, '')) || d));
}

interface Part {
  component: Component;
  layer: number | null;
  group: string;
  canonical: string[];
  /** Stored rows this part owns (a row split), or stored columns (a column split); null = the whole tensor. */
  rows: Int32Array | null;
  cols: Int32Array | null;
}

/**
 * How a stored tensor (legacy name) divides into components, from the checkpoint's weight recipes: one part
 * unless it packs canonical weights of different components in disjoint rows of the canonical view.
 */
function partsOf(ckpt: Checkpoint, storedName: string | undefined, legacy: string, shape: number[]): Part[] {
  const list: string[] = [];
  if (storedName !== undefined) for (const [canon, r] of ckpt.weights.recipes) if (r.from === storedName) list.push(canon);
  if (list.length === 0) {
    const info = classifyParam(legacy);
    return [{ ...info, canonical: [], rows: null, cols: null }];
  }
  const info = list.map(canonicalComponent);
  const comps = [...new Set(info.map((p) => p.component))];
  const recipes = list.map((c) => ckpt.weights.recipes.get(c)!);
  if (comps.length < 2 || recipes.some((r) => !r.rows)) {
    return [{ layer: info[0].layer, group: info[0].group, component: info[0].component, canonical: list, rows: null, cols: null }];
  }
  // canonical row i of the (transposed) stored view = stored column i (transposed) or stored row i
  const transposed = recipes[0].transpose === true && shape.length === 2;
  const viewRows = shape.length === 1 ? shape[0] : transposed ? shape[1] : shape[0];
  const owner = new Int32Array(viewRows).fill(-1);
  recipes.forEach((r, k) => {
    const rows = r.rows!;
    const c = comps.indexOf(info[k].component);
    if (rows instanceof Int32Array) { for (const i of rows) if (owner[i] < 0) owner[i] = c; }
    else for (let i = rows.start; i < rows.start + rows.count; i++) if (owner[i] < 0) owner[i] = c;
  });
  return comps.map((component, c) => {
    const idx: number[] = [];
    for (let i = 0; i < viewRows; i++) if (owner[i] === c) idx.push(i);
    const first = info[info.findIndex((p) => p.component === component)];
    return {
      layer: first.layer, group: first.group, component, canonical: list.filter((_, k) => info[k].component === component),
      rows: transposed ? null : Int32Array.from(idx), cols: transposed ? Int32Array.from(idx) : null,
    };
  });
}

/** Legacy name → stored name of a checkpoint's tensors (tied `lm_head.weight` is not stored). */
function storedNames(ckpt: Checkpoint): Map<string, string> {
  const m = new Map<string, string>();
  for (const n of ckpt.stored.names()) {
    const l = legacyName(ckpt.spec, n);
    if (!m.has(l)) m.set(l, n);
  }
  return m;
}

/** Compares every pair of the checkpoints in `dirs` (two or more). */
export async function analyzeSimilarity(dirs: string[], opts: SimilarityOptions = {}): Promise<SimilarityResult> {
  if (dirs.length < 2) throw new AtlasError('similarity needs at least two models', { field: '--models' });
  const labels = labelsFor(dirs, opts.labels);
  const blockBytes = opts.blockBytes ?? 512 << 10;
  const threads = Math.max(1, opts.threads ?? defaultThreads());
  const minParallelBytes = Math.max(1, opts.minParallelBytes ?? 4 << 20);
  const ckpts: Checkpoint[] = [];
  const readers: RowReader[] = [];
  try {
    for (const d of dirs) ckpts.push(openCheckpoint(d));
    const arch = ckpts[0].config.architecture;
    for (let m = 1; m < ckpts.length; m++) {
      if (ckpts[m].config.architecture !== arch) {
        throw new AtlasError(`architecture ${ckpts[m].config.architecture} differs from ${labels[0]}'s ${arch}`, { file: dirs[m], field: 'model_type', hint: 'compare checkpoints of one architecture' });
      }
    }
    const selection = opts.components ? selectComponents(opts.components, ckpts[0].spec) : null;
    const storedOf = ckpts.map(storedNames);
    const problems: SimilarityProblem[] = [];
    const names: string[] = [];
    for (const c of ckpts) for (const n of c.names()) if (!names.includes(n)) names.push(n);
    const pairKeys: [number, number][] = [];
    for (let i = 0; i < ckpts.length; i++) for (let j = i + 1; j < ckpts.length; j++) pairKeys.push([i, j]);
    const pairName = ([i, j]: [number, number]): string => `${labels[i]}|${labels[j]}`;
    const pooled = new Map<string, Float64Array[]>();
    const pool = (key: string, vals: Float64Array): void => {
      let a = pooled.get(key);
      if (!a) pooled.set(key, (a = []));
      a.push(vals);
    };
    const tensors: TensorSimilarity[] = [];
    let bytesRead = 0;
    // A tensor's statistics (sorting its cosines) run while the workers start on the next tensor's chunks
    // (SimilarityPool.run calls `flush` once they are posted), so the workers do not idle meanwhile.
    let pending: (() => void) | null = null;
    const flush = (): void => {
      const p = pending;
      pending = null;
      p?.();
    };
    for (const name of names) {
      const holders = ckpts.map((c, m) => (c.has(name) ? m : -1)).filter((m) => m >= 0);
      const shape = ckpts[holders[0]].shape(name);
      const parts = partsOf(ckpts[holders[0]], storedOf[holders[0]].get(name), name, shape)
        .filter((p) => !selection || p.canonical.some((c) => selection.canonical.has(c)));
      if (parts.length === 0) continue;
      const missing = ckpts.map((_, m) => m).filter((m) => !holders.includes(m));
      if (missing.length) problems.push({ tensor: name, problem: `missing in ${missing.map((m) => labels[m]).join(', ')}` });
      if (holders.length < 2) continue;
      const same = holders.filter((m) => {
        const s = ckpts[m].shape(name);
        const ok = s.length === shape.length && s.every((x, i) => x === shape[i]);
        if (!ok) problems.push({ tensor: name, problem: `shape [${s.join(', ')}] in ${labels[m]} differs from [${shape.join(', ')}] in ${labels[holders[0]]}` });
        return ok;
      });
      if (same.length < 2) continue;
      const m = same.length;
      while (readers.length < m) readers.push(new RowReader());
      same.forEach((k, t) => readers[t].open(ckpts[k], name));
      const { rows, cols } = readers[0];
      // Row segments (start, end, part): the whole tensor, or for a row split each run of rows one part owns
      // (rows of unselected parts are not read). A column split accumulates every column once, shared by its parts.
      const rowSplit = parts[0].rows !== null;
      const seg: number[] = [];
      if (!rowSplit) seg.push(0, rows, 0);
      else {
        const owner = new Int32Array(rows).fill(-1);
        parts.forEach((p, k) => { for (const r of p.rows!) owner[r] = k; });
        for (let r = 0; r < rows;) {
          let e = r + 1;
          while (e < rows && owner[e] === owner[r]) e++;
          if (owner[r] >= 0) seg.push(r, e, owner[r]);
          r = e;
        }
      }
      const nAcc = rowSplit ? parts.length : 1;
      const acc0 = partViews(new ArrayBuffer(8 * slotsPerColumn(m) * cols * nAcc), nAcc, m, cols);
      const blockRows = Math.max(1, Math.floor(blockBytes / (4 * Math.max(cols, 1))));
      const chunks = chunked(seg, blockRows);
      const sources = readers.slice(0, m).map((r) => r.source());
      if (threads > 1 && rows * cols * 4 * m >= minParallelBytes && chunks.length > 1 && sources.every((x) => x !== null)) {
        bytesRead += SimilarityPool.get(threads - 1).run(readers.slice(0, m), sources as RowSource[], rows, cols, chunks, acc0, flush);
      } else {
        flush();
        const xs: Float32Array[] = [];
        for (let c = 0; c < chunks.length / 3; c++) bytesRead += accumulateChunk(readers.slice(0, m), chunks, c, cols, acc0, xs);
      }
      const acc = parts.map((_, k) => acc0[rowSplit ? k : 0]);
      const pairs = pairKeys.filter(([i, j]) => same.includes(i) && same.includes(j));
      pending = () => parts.forEach((part, k) => {
        const record: TensorSimilarity = { name, layer: part.layer, group: part.group, component: part.component, shape, canonical: part.canonical, pairs: {} };
        for (const [i, j] of pairs) {
          const cos = pairCosines(acc[k], m, same.indexOf(i), same.indexOf(j), cols, part.cols).sort();
          const key = pairName([i, j]);
          record.pairs[key] = cosineStats(cos);
          pool(`${key}\u0000${part.group}\u0000${part.component}`, cos);
          pool(`${key}\u0000${part.group}\u0000all`, cos);
        }
        tensors.push(record);
      });
      opts.onTensor?.(name, bytesRead);
    }
    flush();
    const aggregates = [...pooled].map(([k, v]) => {
      const [pair, group, component] = k.split('\u0000');
      return { pair, group, component, stats: cosineStats(mergeSorted(v)) };
    }).sort((a, b) => a.pair.localeCompare(b.pair) || groupOrder(a.group, b.group) || a.component.localeCompare(b.component));
    return {
      models: dirs.map((dir, i) => ({ label: labels[i], dir })), pairs: pairKeys.map(pairName), tensors, aggregates, problems, bytesRead,
      ...(selection ? { components: selection.names } : {}),
    };
  } finally {
    for (const r of readers) r.close();
    for (const c of ckpts) c.close();
  }
}

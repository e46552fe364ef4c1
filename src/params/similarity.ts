/**
 * Column-wise cosine similarity between checkpoints of one architecture. For every tensor and every pair of
 * models, column j of the stored matrix (HF layout: nn.Linear [out, in] → one column per input feature;
 * GPT-2 Conv1D [in, out] → one column per output unit; 1-D tensors are one column) gives
 * cos_j = <A_:j, B_:j> / (|A_:j| |B_:j|) (1 when both columns are zero, 0 when one is).
 *
 * Streaming: tensors are visited one at a time and read in row blocks (./tensor-stream.ts), all models in
 * lockstep, so memory holds one block per model plus per-column accumulators, never a whole model.
 * Missing tensors and shape mismatches are reported in `problems` and skipped, never fatal.
 */
import { basename } from 'node:path';
import { openCheckpoint, type Checkpoint } from '../model/checkpoint.ts';
import { AtlasError } from '../errors.ts';
import { classifyParam, groupOrder, type Component } from './param-names.ts';
import { matrixShape, rowBlocks, type RowBlock } from './tensor-stream.ts';
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
}

export interface SimilarityOptions {
  /** Display names; default the folder names (made unique). */
  labels?: string[];
  /** Row-block size per model in bytes. Default 256 KiB. */
  blockBytes?: number;
  /** Called after each tensor with the bytes read so far. */
  onTensor?: (name: string, bytesRead: number) => void;
}

export function cosineStats(values: Float64Array): CosineStats {
  let sum = 0;
  for (const v of values) sum += v;
  const [min, q05, q25, median, q75, q95, max] = quantiles(values, [0, 0.05, 0.25, 0.5, 0.75, 0.95, 1]);
  return { columns: values.length, mean: values.length ? sum / values.length : NaN, min, q05, q25, median, q75, q95, max };
}

function labelsFor(dirs: string[], given?: string[]): string[] {
  if (given) return given;
  const names = dirs.map((d) => basename(d.replace(/\/+$/, '')) || d);
  return names.map((n, i) => (names.indexOf(n) === i && names.lastIndexOf(n) === i ? n : `${n}#${i + 1}`));
}

/** Compares every pair of the checkpoints in `dirs` (two or more). */
export function analyzeSimilarity(dirs: string[], opts: SimilarityOptions = {}): SimilarityResult {
  if (dirs.length < 2) throw new AtlasError('similarity needs at least two models', { field: '--models' });
  const labels = labelsFor(dirs, opts.labels);
  const ckpts: Checkpoint[] = [];
  try {
    for (const d of dirs) ckpts.push(openCheckpoint(d));
    const arch = ckpts[0].config.architecture;
    for (let m = 1; m < ckpts.length; m++) {
      if (ckpts[m].config.architecture !== arch) {
        throw new AtlasError(`architecture ${ckpts[m].config.architecture} differs from ${labels[0]}'s ${arch}`, { file: dirs[m], field: 'model_type', hint: 'compare checkpoints of one architecture' });
      }
    }
    const problems: SimilarityProblem[] = [];
    const names: string[] = [];
    for (const c of ckpts) for (const n of c.names()) if (!names.includes(n)) names.push(n);
    const pairKeys: [number, number][] = [];
    for (let i = 0; i < ckpts.length; i++) for (let j = i + 1; j < ckpts.length; j++) pairKeys.push([i, j]);
    const pairName = ([i, j]: [number, number]): string => `${labels[i]}|${labels[j]}`;
    const pooled = new Map<string, number[]>();
    const pool = (key: string, vals: Float64Array): void => {
      let a = pooled.get(key);
      if (!a) pooled.set(key, (a = []));
      for (const v of vals) a.push(v);
    };
    const tensors: TensorSimilarity[] = [];
    let bytesRead = 0;
    for (const name of names) {
      const holders = ckpts.map((c, m) => (c.has(name) ? m : -1)).filter((m) => m >= 0);
      const missing = ckpts.map((_, m) => m).filter((m) => !holders.includes(m));
      if (missing.length) problems.push({ tensor: name, problem: `missing in ${missing.map((m) => labels[m]).join(', ')}` });
      if (holders.length < 2) continue;
      const shape = ckpts[holders[0]].shape(name);
      const same = holders.filter((m) => {
        const s = ckpts[m].shape(name);
        const ok = s.length === shape.length && s.every((x, i) => x === shape[i]);
        if (!ok) problems.push({ tensor: name, problem: `shape [${s.join(', ')}] in ${labels[m]} differs from [${shape.join(', ')}] in ${labels[holders[0]]}` });
        return ok;
      });
      if (same.length < 2) continue;
      const [, cols] = matrixShape(shape);
      const norms = same.map(() => new Float64Array(cols));
      const pairs = pairKeys.filter(([i, j]) => same.includes(i) && same.includes(j));
      const dots = pairs.map(() => new Float64Array(cols));
      const streams = same.map((m) => rowBlocks(ckpts[m], name, opts.blockBytes));
      for (;;) {
        const blocks = streams.map((s) => s.next());
        if (blocks[0].done) break;
        const vals = blocks.map((b) => b.value as RowBlock);
        const data = vals.map((b) => b.data);
        const rows = vals[0].rows;
        for (let k = 0; k < same.length; k++) {
          const x = data[k];
          const nr = norms[k];
          bytesRead += vals[k].storedBytes;
          for (let r = 0; r < rows; r++) for (let c = 0, o = r * cols; c < cols; c++) nr[c] += x[o + c] * x[o + c];
        }
        pairs.forEach(([i, j], p) => {
          const a = data[same.indexOf(i)];
          const b = data[same.indexOf(j)];
          const dt = dots[p];
          for (let r = 0; r < rows; r++) for (let c = 0, o = r * cols; c < cols; c++) dt[c] += a[o + c] * b[o + c];
        });
      }
      const info = classifyParam(name);
      const record: TensorSimilarity = { name, layer: info.layer, group: info.group, component: info.component, shape, pairs: {} };
      pairs.forEach(([i, j], p) => {
        const na = norms[same.indexOf(i)];
        const nb = norms[same.indexOf(j)];
        const cos = new Float64Array(cols);
        for (let c = 0; c < cols; c++) {
          const den = Math.sqrt(na[c] * nb[c]);
          cos[c] = den > 0 ? Math.max(-1, Math.min(1, dots[p][c] / den)) : na[c] === 0 && nb[c] === 0 ? 1 : 0;
        }
        const key = pairName([i, j]);
        record.pairs[key] = cosineStats(cos);
        pool(`${key}\u0000${info.group}\u0000${info.component}`, cos);
        pool(`${key}\u0000${info.group}\u0000all`, cos);
      });
      tensors.push(record);
      opts.onTensor?.(name, bytesRead);
    }
    const aggregates = [...pooled].map(([k, v]) => {
      const [pair, group, component] = k.split('\u0000');
      return { pair, group, component, stats: cosineStats(Float64Array.from(v)) };
    }).sort((a, b) => a.pair.localeCompare(b.pair) || groupOrder(a.group, b.group) || a.component.localeCompare(b.component));
    return { models: dirs.map((dir, i) => ({ label: labels[i], dir })), pairs: pairKeys.map(pairName), tensors, aggregates, problems, bytesRead };
  } finally {
    for (const c of ckpts) c.close();
  }
}

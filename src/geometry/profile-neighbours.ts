/**
 * DADApy-style precomputed neighbour tables, one folder per layer:
 *
 *   DIR/layer-<L>/distances.npy   N×(k+1) float64, row i ascending, column 0 = 0 (the point itself)
 *   DIR/layer-<L>/indices.npy     N×(k+1) int64,   column 0 = i
 *
 * This is the layout DADApy keeps in `Data.distances` / `Data.dist_indices` (the point itself at rank 0) and
 * that `Data(distances=(distances, indices))` takes back; the seed-004 pipeline stores k = 50 per layer.
 * Indices are written as int64 because that is what numpy/sklearn/DADApy produce (argsort, kneighbors), so a
 * table written here loads in Python with the dtype DADApy's own tables have; int32 tables (e.g. from faiss or a
 * cast to save space) are read as well. Distances float32 are accepted (widened); anything else is refused
 * with the file named.
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { AtlasError } from '../errors.ts';
import { writeFileAtomic } from '../data/atomic.ts';
import { npyHeader, readNpy, type NpyDType } from '../data/npy.ts';
import { DISTANCE_EPS, type KnnResult, type Metric } from './knn.ts';

export const NEIGHBOUR_FILES = {
  /** Sub-folder of a profile output holding the tables (`--save-neighbours`). */
  dir: 'neighbours',
  layerDir: (layer: number) => `layer-${layer}`,
  distances: 'distances.npy',
  indices: 'indices.npy',
} as const;

/** Writes one layer's table (k neighbours per point, self excluded in `r`) with the self column prepended. */
export function writeNeighbourTable(dir: string, r: KnnResult, k = r.k): { distances: string; indices: string } {
  if (k > r.k) throw new AtlasError(`cannot save ${k} neighbours from a table of ${r.k}`, { field: 'k' });
  mkdirSync(dir, { recursive: true });
  const cols = k + 1;
  const dist = new Float64Array(r.n * cols);
  const idx = new BigInt64Array(r.n * cols);
  for (let i = 0; i < r.n; i++) {
    idx[i * cols] = BigInt(i);
    for (let t = 0; t < k; t++) {
      dist[i * cols + 1 + t] = r.distances[i * r.k + t]!;
      idx[i * cols + 1 + t] = BigInt(r.indices[i * r.k + t]!);
    }
  }
  const files = { distances: join(dir, NEIGHBOUR_FILES.distances), indices: join(dir, NEIGHBOUR_FILES.indices) };
  writeFileAtomic(files.distances, [npyHeader('<f8', [r.n, cols]), new Uint8Array(dist.buffer)]);
  // npy.ts's dtype union has no int64; the header text is the same code path with '<i8'.
  writeFileAtomic(files.indices, [npyHeader('<i8' as NpyDType, [r.n, cols]), new Uint8Array(idx.buffer)]);
  return files;
}

/** Reads an int64 .npy (`<i8`) — the one dtype of tables npy.ts does not read. */
function readInt64Npy(path: string): { shape: number[]; data: BigInt64Array } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const pre = new Uint8Array(12);
    readSync(fd, pre, 0, 12, 0);
    const major = pre[6]!;
    const view = new DataView(pre.buffer);
    const lenBytes = major === 1 ? 2 : 4;
    const hlen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
    const head = new Uint8Array(hlen);
    readSync(fd, head, 0, hlen, 8 + lenBytes);
    const text = new TextDecoder().decode(head);
    if (/'fortran_order'\s*:\s*True/.test(text)) throw new AtlasError('Fortran-order arrays are not supported', { file: path, field: 'fortran_order', hint: 'save with np.ascontiguousarray(x)' });
    const shape = (/'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
    const count = shape.reduce((a, b) => a * b, 1);
    const start = 8 + lenBytes + hlen;
    if (size - start < count * 8) throw new AtlasError(`file is truncated: ${size - start} data bytes for ${count * 8} expected`, { file: path });
    const data = new BigInt64Array(count);
    const bytes = new Uint8Array(data.buffer);
    let off = 0;
    while (off < bytes.length) {
      const n = readSync(fd, bytes, off, bytes.length - off, start + off);
      if (n === 0) throw new AtlasError('unexpected end of file', { file: path });
      off += n;
    }
    return { shape, data };
  } finally {
    closeSync(fd);
  }
}

function descrOf(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(256);
    const got = readSync(fd, buf, 0, 256, 0);
    return /'descr'\s*:\s*'([^']*)'/.exec(new TextDecoder().decode(buf.subarray(0, got)))?.[1] ?? '';
  } finally {
    closeSync(fd);
  }
}

/** Reads one layer's table from `dir` (distances.npy + indices.npy) as a KnnResult without the self column. */
export function readNeighbourTable(dir: string, metric: Metric = 'euclidean'): KnnResult {
  const dPath = join(dir, NEIGHBOUR_FILES.distances);
  const iPath = join(dir, NEIGHBOUR_FILES.indices);
  for (const p of [dPath, iPath]) if (!existsSync(p)) throw new AtlasError(`missing ${basename(p)}`, { file: p, hint: `each layer folder needs ${NEIGHBOUR_FILES.distances} and ${NEIGHBOUR_FILES.indices} (DADApy's distances and dist_indices)` });
  const d = readNpy(dPath);
  if (d.dtype !== '<f8' && d.dtype !== '<f4') throw new AtlasError(`distances must be float64 (or float32), found ${d.dtype}`, { file: dPath, field: 'descr', hint: 'save with np.save(path, distances.astype(np.float64))' });
  if (d.shape.length !== 2 || d.shape[1]! < 3) throw new AtlasError(`distances must be N×(k+1) with k ≥ 2, found shape (${d.shape.join(', ')})`, { file: dPath, field: 'shape', hint: 'column 0 is the point itself, as DADApy stores them' });
  const [n, cols] = d.shape as [number, number];
  const iDescr = descrOf(iPath);
  let idx: ArrayLike<number | bigint>;
  let iShape: number[];
  if (iDescr === '<i8') ({ shape: iShape, data: idx } = readInt64Npy(iPath));
  else if (iDescr === '<i4') ({ shape: iShape, data: idx } = readNpy(iPath) as { shape: number[]; data: Int32Array });
  else throw new AtlasError(`indices must be int64 or int32, found ${iDescr || 'an unknown dtype'}`, { file: iPath, field: 'descr', hint: 'save with np.save(path, indices.astype(np.int64))' });
  if (iShape.length !== 2 || iShape[0] !== n || iShape[1] !== cols) throw new AtlasError(`indices have shape (${iShape.join(', ')}) but distances (${n}, ${cols})`, { file: iPath, field: 'shape', hint: 'the two tables must match row for row' });
  const k = cols - 1;
  const indices = new Int32Array(n * k);
  const distances = new Float64Array(n * k);
  const dd = d.data as Float32Array | Float64Array;
  for (let i = 0; i < n; i++) {
    if (dd[i * cols] !== 0) throw new AtlasError(`row ${i}: column 0 has distance ${dd[i * cols]}, expected 0 (the point itself)`, { file: dPath, field: 'distances[:, 0]', hint: 'store tables as DADApy does, self at rank 0' });
    let prev = 0;
    for (let t = 0; t < k; t++) {
      const v = dd[i * cols + 1 + t]!;
      const j = Number(idx[i * cols + 1 + t]!);
      if (!(v >= prev)) throw new AtlasError(`row ${i}: distances not ascending (or not finite) at column ${t + 1}`, { file: dPath, field: 'distances', hint: 'sort each row by distance' });
      if (!Number.isInteger(j) || j < 0 || j >= n || j === i) throw new AtlasError(`row ${i}, column ${t + 1}: index ${j} is not another point of 0..${n - 1}`, { file: iPath, field: 'indices' });
      prev = v;
      distances[i * k + t] = v;
      indices[i * k + t] = j;
    }
  }
  return { n, k, metric, indices, distances, dtypeEps: DISTANCE_EPS };
}

/** The layer folders of DIR (the last integer of each folder name is its layer), or DIR itself as layer 0. */
export function neighbourTableLayers(dir: string): { layer: number; dir: string }[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new AtlasError('is not a folder of neighbour tables', { file: dir, hint: `one sub-folder per layer holding ${NEIGHBOUR_FILES.distances} and ${NEIGHBOUR_FILES.indices}` });
  if (existsSync(join(dir, NEIGHBOUR_FILES.distances))) return [{ layer: 0, dir }];
  const subs = readdirSync(dir).filter((name) => existsSync(join(dir, name, NEIGHBOUR_FILES.distances)));
  if (subs.length === 0) throw new AtlasError(`holds no layer folder with ${NEIGHBOUR_FILES.distances}`, { file: dir, hint: `expected ${NEIGHBOUR_FILES.layerDir(0)}/${NEIGHBOUR_FILES.distances}, ${NEIGHBOUR_FILES.layerDir(1)}/…` });
  const out = subs.map((name) => {
    const m = name.match(/\d+/g);
    if (!m) throw new AtlasError(`layer folder '${name}' has no layer number in its name`, { file: join(dir, name), hint: `name it ${NEIGHBOUR_FILES.layerDir(0)}, ${NEIGHBOUR_FILES.layerDir(1)}, …` });
    return { layer: Number(m[m.length - 1]), dir: join(dir, name) };
  }).sort((a, b) => a.layer - b.layer);
  for (let i = 1; i < out.length; i++) if (out[i]!.layer === out[i - 1]!.layer) throw new AtlasError(`two folders name layer ${out[i]!.layer}`, { file: dir });
  return out;
}

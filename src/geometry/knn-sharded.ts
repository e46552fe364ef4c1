/**
 * Exact k-NN split into query blocks, so each block can run in its own process or on its own machine: block
 * [start, end) gets the k nearest neighbours of its rows among ALL points; concatenating the blocks' tables
 * gives exactly `knn(X)` (same indices, same float64 distances, same tie order).
 *
 * A block is computed with knn.ts's public `knn` only: for every point block P the search runs on the rows
 * Q ∪ P (kept in ascending global order, so knn's "lower index first" tie rule means the same thing there as
 * globally) and the per-set top-k lists of Q's rows are merged, deduplicated by index. Every true neighbour of
 * a query lies in some P and is within that set's top k, so the merge is exact. knn's distances are computed in
 * float64 from the coordinates of the two points alone, so a pair has the same distance in every set.
 * (Each set also searches P's own rows, about twice the minimum work; a query-against-points entry point
 * in knn.ts would remove that.)
 */
import { AtlasError } from '../errors.ts';
import { knn, type KnnResult, type Metric } from './knn.ts';
import type { Matrix } from './matrix.ts';

export interface KnnBlockOptions {
  k: number;
  metric?: Metric;
  threads?: number;
  /** Points per point block (default: max(|Q|, 4k, 1024)); each set is a k-NN search over |Q| + pointBlock rows. */
  pointBlock?: number;
}

export interface KnnBlock {
  start: number;
  end: number;
  k: number;
  /** (end − start)·k global neighbour indices, nearest first. */
  indices: Int32Array;
  distances: Float64Array;
}

/** Rows [lo, hi) of X, or the rows of several ranges concatenated, as a new matrix. */
function rowsOf(X: Matrix, ranges: [number, number][]): Matrix {
  const d = X.cols;
  const n = ranges.reduce((a, [lo, hi]) => a + hi - lo, 0);
  const data = new (X.data.constructor as { new (n: number): Float32Array | Float64Array })(n * d);
  let at = 0;
  for (const [lo, hi] of ranges) {
    data.set(X.data.subarray(lo * d, hi * d), at);
    at += (hi - lo) * d;
  }
  return { rows: n, cols: d, data };
}

/** Merges a sorted candidate list into a sorted top-k list (by distance, then index), skipping indices already in it. */
function mergeInto(bestI: Int32Array, bestD: Float64Array, have: number, k: number, ci: ArrayLike<number>, cd: ArrayLike<number>, m: number, outI: Int32Array, outD: Float64Array): number {
  let a = 0;
  let b = 0;
  let n = 0;
  const seen = new Set<number>();
  while (n < k && (a < have || b < m)) {
    const takeA = b >= m || (a < have && (bestD[a] < cd[b] || (bestD[a] === cd[b] && bestI[a] <= ci[b])));
    const idx = takeA ? bestI[a] : ci[b];
    const dist = takeA ? bestD[a] : cd[b];
    if (takeA) a++;
    else b++;
    if (seen.has(idx)) continue;
    seen.add(idx);
    outI[n] = idx;
    outD[n] = dist;
    n++;
  }
  return n;
}

/** Exact k nearest neighbours (self excluded) of rows [start, end) among all rows of X. */
export async function knnBlock(X: Matrix, start: number, end: number, o: KnnBlockOptions): Promise<KnnBlock> {
  const n = X.rows;
  const k = o.k;
  if (!Number.isInteger(k) || k < 1 || k + 1 > n) throw new AtlasError(`k must be an integer in 1..${n - 1} for ${n} points, got ${k}`, { field: 'k' });
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > n || start >= end) throw new AtlasError(`query block [${start}, ${end}) is not inside 0..${n}`, { field: 'block' });
  const q = end - start;
  const pb = Math.max(1, o.pointBlock ?? Math.max(q, 4 * k, 1024));
  const bestI = new Int32Array(q * k);
  const bestD = new Float64Array(q * k).fill(Infinity);
  const have = new Int32Array(q);
  const tmpI = new Int32Array(k);
  const tmpD = new Float64Array(k);
  for (let p0 = 0; p0 < n; p0 += pb) {
    const p1 = Math.min(n, p0 + pb);
    // Q ∪ P as sorted, disjoint global ranges; local row r ↔ global row globalOf[r].
    const ranges: [number, number][] = [];
    for (const [lo, hi] of [[start, end], [p0, p1]].sort((x, y) => x[0] - y[0]) as [number, number][]) {
      const last = ranges[ranges.length - 1];
      if (last && lo <= last[1]) last[1] = Math.max(last[1], hi);
      else ranges.push([lo, hi]);
    }
    const sub = rowsOf(X, ranges);
    if (sub.rows < 2) continue;
    const globalOf = new Int32Array(sub.rows);
    let at = 0;
    for (const [lo, hi] of ranges) for (let g = lo; g < hi; g++) globalOf[at++] = g;
    const kk = Math.min(k, sub.rows - 1);
    const r: KnnResult = await knn(sub, { k: kk, metric: o.metric, threads: o.threads });
    const candI = new Int32Array(kk);
    let local = 0; // local index of the first query row
    for (const [lo, hi] of ranges) {
      if (start >= lo && start < hi) { local += start - lo; break; }
      local += hi - lo;
    }
    for (let i = 0; i < q; i++) {
      const row = local + i;
      for (let j = 0; j < kk; j++) candI[j] = globalOf[r.indices[row * kk + j]];
      const m = mergeInto(bestI.subarray(i * k, (i + 1) * k), bestD.subarray(i * k, (i + 1) * k), have[i], k, candI, r.distances.subarray(row * kk, (row + 1) * kk), kk, tmpI, tmpD);
      bestI.set(tmpI.subarray(0, m), i * k);
      bestD.set(tmpD.subarray(0, m), i * k);
      have[i] = m;
    }
  }
  return { start, end, k, indices: bestI, distances: bestD };
}

/** Splits n rows into `shards` contiguous query blocks. */
export function queryBlocks(n: number, shards: number): [number, number][] {
  if (!Number.isInteger(shards) || shards < 1 || shards > n) throw new AtlasError(`shards must be an integer in 1..${n}, got ${shards}`, { field: 'shards' });
  return Array.from({ length: shards }, (_, i) => [Math.floor((i * n) / shards), Math.floor(((i + 1) * n) / shards)]);
}

/** Concatenates the blocks of a complete split into one table (the blocks must tile 0..n in order). */
export function mergeKnnBlocks(blocks: KnnBlock[], n: number, metric: Metric, dtypeEps: number): KnnResult {
  const sorted = [...blocks].sort((a, b) => a.start - b.start);
  const k = sorted[0]?.k ?? 0;
  let at = 0;
  for (const b of sorted) {
    if (b.start !== at || b.k !== k) throw new AtlasError(`neighbour blocks do not tile 0..${n}: expected a block starting at ${at} with k ${k}, got [${b.start}, ${b.end}) with k ${b.k}`, { field: 'blocks' });
    at = b.end;
  }
  if (at !== n) throw new AtlasError(`neighbour blocks cover 0..${at}, not 0..${n}`, { field: 'blocks' });
  const indices = new Int32Array(n * k);
  const distances = new Float64Array(n * k);
  for (const b of sorted) {
    indices.set(b.indices, b.start * k);
    distances.set(b.distances, b.start * k);
  }
  return { n, k, metric, indices, distances, dtypeEps };
}

/** Exact k-NN computed block by block in this process (what `shards` workers would each do one block of). */
export async function knnSharded(X: Matrix, o: KnnBlockOptions & { shards: number }): Promise<KnnResult> {
  const blocks: KnnBlock[] = [];
  for (const [lo, hi] of queryBlocks(X.rows, o.shards)) blocks.push(await knnBlock(X, lo, hi, o));
  return mergeKnnBlocks(blocks, X.rows, o.metric ?? 'euclidean', X.data instanceof Float32Array ? 2 ** -23 : 2 ** -52);
}

import { AtlasError } from '../errors.ts';
import { gemm } from './gemm.ts';
import type { Matrix } from './matrix.ts';
import { toFloat64, rowSquaredNorms } from './matrix.ts';
import { connectedComponents, withEdges, type Components, type CsrGraph, type EdgeLength } from './graph.ts';
import { dijkstra, dijkstraScratch } from './dijkstra.ts';
import { runWorkers, defaultThreads } from '../util/workers.ts';
import type { GeodesicTask } from './geodesic-worker.ts';

/**
 * All-pairs geodesic (shortest-path) distances on a weighted neighbour graph — Isomap's distance matrix.
 *
 * Disconnected graphs (`disconnected`):
 *  - 'error' (default): AtlasError naming the component count and sizes.
 *  - 'per-component': distances between nodes of different components are Infinity. Analyse each component
 *    on its own (`components.labels`); MDS and most statistics refuse Infinity, so slice first.
 *  - 'connect': scikit-learn's Isomap fix (sklearn.utils.graph._fix_connected_components, ≥ 1.2): for EVERY
 *    pair of components, the closest pair of points between them (Euclidean distance in `points`) is joined by
 *    an edge, so the graph becomes connected. The new edge's length is `edgeLength(i, j)` when given (so a
 *    Riemannian graph stays consistent), else the Euclidean distance. The added edges are reported.
 */
export interface GeodesicOptions {
  disconnected?: 'error' | 'per-component' | 'connect';
  /** The points the graph was built on: required for 'connect'. */
  points?: Matrix;
  /** Length of joining edges in 'connect' mode. Default: Euclidean distance between the two points. */
  edgeLength?: EdgeLength;
  /** Output element type. Default 'float64' (N² × 8 bytes; 'float32' halves it). */
  dtype?: 'float64' | 'float32';
  /** Worker threads. Default: all cores. Graphs under 1,000 nodes run on the calling thread. */
  threads?: number;
}

export interface GeodesicResult {
  n: number;
  /** n×n row-major; row i holds the distances from node i. Symmetric for undirected graphs. */
  distances: Float64Array | Float32Array;
  /** Components of the INPUT graph (before any joining). */
  components: Components;
  /** Edges added by 'connect' as [i, j, length]. */
  addedEdges: [number, number, number][];
}

export async function geodesicDistances(graph: CsrGraph, opts: GeodesicOptions = {}): Promise<GeodesicResult> {
  const n = graph.n;
  if (n < 1) throw new AtlasError('the graph has no nodes', { field: 'graph' });
  for (let o = 0; o < graph.weights.length; o++) {
    const w = graph.weights[o];
    if (!Number.isFinite(w) || w < 0) throw new AtlasError(`edge ${o} has length ${w}; Dijkstra needs finite lengths ≥ 0`, { field: 'graph.weights' });
  }
  const components = connectedComponents(graph);
  const mode = opts.disconnected ?? 'error';
  let g = graph;
  const addedEdges: [number, number, number][] = [];
  if (components.count > 1) {
    if (mode === 'error') {
      const sizes = Array.from(components.sizes).slice(0, 10).join(', ');
      throw new AtlasError(`the neighbour graph has ${components.count} connected components (sizes ${sizes}${components.count > 10 ? ', …' : ''}); geodesic distances between them are undefined`, {
        field: 'disconnected', hint: "increase --k, or pass --disconnected connect (join components by their closest points, as Isomap; disconnected: 'connect' or 'per-component' in the API)",
      });
    }
    if (mode === 'connect') {
      if (!opts.points || opts.points.rows !== n) throw new AtlasError(`disconnected: 'connect' needs the ${n} points the graph was built on`, { field: 'points' });
      addedEdges.push(...(await closestPairsBetweenComponents(opts.points, components, opts.edgeLength)));
      g = withEdges(graph, addedEdges);
    } else if (mode !== 'per-component') {
      throw new AtlasError(`unknown disconnected mode '${String(mode)}'`, { field: 'disconnected', hint: "use 'error', 'per-component' or 'connect'" });
    }
  }
  const f32 = opts.dtype === 'float32';
  const threads = Math.max(1, Math.min(opts.threads ?? defaultThreads(), n));
  const bytes = n * n * (f32 ? 4 : 8);
  if (threads === 1 || n < 1000) {
    const out = f32 ? new Float32Array(n * n) : new Float64Array(n * n);
    const scratch = dijkstraScratch(n);
    for (let s = 0; s < n; s++) out.set(dijkstra(n, g.indptr, g.indices, g.weights, s, scratch), s * n);
    return { n, distances: out, components, addedEdges };
  }
  // Parallel: the CSR arrays and the output live in SharedArrayBuffers; each worker owns a contiguous block
  // of source rows, so no two workers write the same memory.
  const share = <T extends Int32Array | Float64Array>(a: T): T => {
    const c = new (a.constructor as { new (b: SharedArrayBuffer): T })(new SharedArrayBuffer(a.byteLength));
    c.set(a as never);
    return c;
  };
  const outBuf = new SharedArrayBuffer(bytes);
  const out = f32 ? new Float32Array(outBuf) : new Float64Array(outBuf);
  const indptr = share(g.indptr);
  const indices = share(g.indices);
  const weights = share(g.weights);
  const tasks: GeodesicTask[] = [];
  for (let t = 0; t < threads; t++) {
    const start = Math.floor((t * n) / threads);
    const end = Math.floor(((t + 1) * n) / threads);
    if (end > start) tasks.push({ n, indptr, indices, weights, out, start, end });
  }
  await runWorkers<GeodesicTask, number>(new URL('./geodesic-worker.ts', import.meta.url), tasks, { threads });
  return { n, distances: out, components, addedEdges };
}

/**
 * For every pair of components (a, b), the closest pair of points (Euclidean) with one point in each —
 * scikit-learn's _fix_connected_components. Distances come from float64 gemm blocks: ‖x‖² + ‖y‖² − 2x·y,
 * then the winner's distance is recomputed exactly.
 */
async function closestPairsBetweenComponents(points: Matrix, comp: Components, edgeLength?: EdgeLength): Promise<[number, number, number][]> {
  const x = toFloat64(points);
  const n = x.rows;
  const d = x.cols;
  const c = comp.count;
  const norms = rowSquaredNorms(x);
  const bestD = new Float64Array(c * c).fill(Infinity);
  const bestI = new Int32Array(c * c).fill(-1);
  const bestJ = new Int32Array(c * c).fill(-1);
  const block = Math.max(1, Math.floor((8 * 2 ** 20) / Math.max(n, 1)));
  for (let start = 0; start < n; start += block) {
    const end = Math.min(n, start + block);
    const q: Matrix<Float64Array> = { rows: end - start, cols: d, data: x.data.subarray(start * d, end * d) };
    const prod = await gemm(q, x, { transposeB: true });
    for (let r = 0; r < end - start; r++) {
      const i = start + r;
      const ci = comp.labels[i];
      for (let j = i + 1; j < n; j++) {
        const cj = comp.labels[j];
        if (cj === ci) continue;
        const d2 = norms[i] + norms[j] - 2 * prod.data[r * n + j];
        const key = Math.min(ci, cj) * c + Math.max(ci, cj);
        if (d2 < bestD[key]) {
          bestD[key] = d2;
          bestI[key] = i;
          bestJ[key] = j;
        }
      }
    }
  }
  const euclid = (i: number, j: number) => {
    let s = 0;
    for (let t = 0; t < d; t++) s += (x.data[i * d + t] - x.data[j * d + t]) ** 2;
    return Math.sqrt(s);
  };
  const edges: [number, number, number][] = [];
  for (let a = 0; a < c; a++) for (let b = a + 1; b < c; b++) {
    const key = a * c + b;
    const i = Math.min(bestI[key], bestJ[key]);
    const j = Math.max(bestI[key], bestJ[key]);
    const len = edgeLength ? edgeLength(i, j) : euclid(i, j);
    if (!Number.isFinite(len) || len < 0) throw new AtlasError(`joining edge (${i}, ${j}) has length ${len}`, { field: 'edgeLength' });
    edges.push([i, j, len]);
  }
  return edges;
}

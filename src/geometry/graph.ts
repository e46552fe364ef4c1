import { AtlasError } from '../errors.ts';
import type { Matrix } from './matrix.ts';
import type { KnnResult } from './knn.ts';

/**
 * Weighted neighbour graphs in compressed sparse row form. Rows are nodes; `indices[indptr[i]..indptr[i+1])`
 * are i's neighbours in increasing order and `weights` the matching edge lengths. Graphs built here are
 * undirected (stored in both directions with the same length) unless symmetrize is 'none'.
 */
export interface CsrGraph {
  n: number;
  indptr: Int32Array;
  indices: Int32Array;
  weights: Float64Array;
}

/** Length of the edge between nodes i and j. Called once per undirected edge with i < j. */
export type EdgeLength = (i: number, j: number) => number;

export interface KnnGraphOptions {
  /**
   * 'union' (default; scikit-learn's Isomap / kneighbors_graph + symmetrisation): edge when either point is
   * among the other's k nearest. 'mutual': only when each is among the other's. 'none': directed i → its k.
   */
  symmetrize?: 'union' | 'mutual' | 'none';
  /**
   * Edge length. Default: the k-NN distance itself (Euclidean, or cosine for a cosine table). The Fisher
   * feature passes a Riemannian length here; it is evaluated once per undirected edge as (min, max) so the
   * graph stays symmetric even when the length is not.
   */
  edgeLength?: EdgeLength;
}

export function knnGraph(knn: KnnResult, opts: KnnGraphOptions = {}): CsrGraph {
  const { n, k, indices, distances } = knn;
  const mode = opts.symmetrize ?? 'union';
  if (mode !== 'union' && mode !== 'mutual' && mode !== 'none') throw new AtlasError(`unknown symmetrize '${String(mode)}'`, { field: 'symmetrize', hint: "use 'union', 'mutual' or 'none'" });
  // Directed edge list from the table, then dedupe per (row, col).
  const edges: Map<number, number>[] = Array.from({ length: n }, () => new Map());
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      const j = indices[i * k + t];
      if (j < 0 || j >= n || j === i) throw new AtlasError(`k-NN table row ${i} has an invalid neighbour index ${j}`, { field: 'knn.indices' });
      edges[i].set(j, distances[i * k + t]);
    }
  }
  const keep = (i: number, j: number): boolean => mode === 'none' || mode === 'union' || edges[j].has(i);
  const rows: Map<number, number>[] = Array.from({ length: n }, () => new Map());
  for (let i = 0; i < n; i++) {
    for (const [j, dist] of edges[i]) {
      if (!keep(i, j)) continue;
      let len = dist;
      if (opts.edgeLength) len = i < j ? opts.edgeLength(i, j) : opts.edgeLength(j, i);
      if (!Number.isFinite(len) || len < 0) throw new AtlasError(`edge length between ${Math.min(i, j)} and ${Math.max(i, j)} is ${len}; lengths must be finite and ≥ 0`, { field: 'edgeLength' });
      rows[i].set(j, len);
      if (mode !== 'none') rows[j].set(i, len);
    }
  }
  return fromRowMaps(n, rows);
}

function fromRowMaps(n: number, rows: Map<number, number>[]): CsrGraph {
  const indptr = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) indptr[i + 1] = indptr[i] + rows[i].size;
  const indices = new Int32Array(indptr[n]);
  const weights = new Float64Array(indptr[n]);
  for (let i = 0; i < n; i++) {
    const sorted = [...rows[i].entries()].sort((a, b) => a[0] - b[0]);
    let o = indptr[i];
    for (const [j, w] of sorted) {
      indices[o] = j;
      weights[o++] = w;
    }
  }
  return { n, indptr, indices, weights };
}

/** Builds a CSR graph from an edge list (undirected: each edge stored both ways; a repeated pair keeps the shorter length). */
export function graphFromEdges(n: number, edges: ReadonlyArray<readonly [number, number, number]>, directed = false): CsrGraph {
  const rows: Map<number, number>[] = Array.from({ length: n }, () => new Map());
  const put = (i: number, j: number, w: number) => {
    const old = rows[i].get(j);
    if (old === undefined || w < old) rows[i].set(j, w);
  };
  for (const [i, j, w] of edges) {
    if (!(i >= 0 && i < n && j >= 0 && j < n)) throw new AtlasError(`edge (${i}, ${j}) is outside 0..${n - 1}`, { field: 'edges' });
    if (!Number.isFinite(w) || w < 0) throw new AtlasError(`edge (${i}, ${j}) has length ${w}; lengths must be finite and ≥ 0`, { field: 'edges' });
    put(i, j, w);
    if (!directed) put(j, i, w);
  }
  return fromRowMaps(n, rows);
}

/** Adds undirected edges to a graph (returns a new graph). */
export function withEdges(g: CsrGraph, extra: ReadonlyArray<readonly [number, number, number]>): CsrGraph {
  const all: [number, number, number][] = [];
  for (let i = 0; i < g.n; i++) for (let o = g.indptr[i]; o < g.indptr[i + 1]; o++) all.push([i, g.indices[o], g.weights[o]]);
  for (const e of extra) all.push([e[0], e[1], e[2]], [e[1], e[0], e[2]]);
  return graphFromEdges(g.n, all, true);
}

/** Default edge length for points in a matrix: Euclidean distance in float64. */
export function euclideanEdgeLength(x: Matrix): EdgeLength {
  const d = x.cols;
  const data = x.data;
  return (i, j) => {
    let s = 0;
    for (let t = 0; t < d; t++) {
      const v = data[i * d + t] - data[j * d + t];
      s += v * v;
    }
    return Math.sqrt(s);
  };
}

export interface Components {
  count: number;
  /** Component id per node, numbered by first appearance (node 0 is in component 0). */
  labels: Int32Array;
  /** Node count per component. */
  sizes: Int32Array;
}

/** Connected components of the undirected view of the graph (an edge in either direction connects). */
export function connectedComponents(g: CsrGraph): Components {
  const parent = new Int32Array(g.n);
  for (let i = 0; i < g.n; i++) parent[i] = i;
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  for (let i = 0; i < g.n; i++) for (let o = g.indptr[i]; o < g.indptr[i + 1]; o++) {
    const a = find(i);
    const b = find(g.indices[o]);
    if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
  }
  const labels = new Int32Array(g.n).fill(-1);
  const rootLabel = new Map<number, number>();
  const sizes: number[] = [];
  for (let i = 0; i < g.n; i++) {
    const r = find(i);
    let l = rootLabel.get(r);
    if (l === undefined) {
      l = sizes.length;
      rootLabel.set(r, l);
      sizes.push(0);
    }
    labels[i] = l;
    sizes[l]++;
  }
  return { count: sizes.length, labels, sizes: Int32Array.from(sizes) };
}

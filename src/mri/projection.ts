/**
 * The reference tool's layer-wise graph statistics beyond `get_basic_metrics` (LLM-MRI's `Metrics` class):
 *
 * - degreeByLayer (`get_degree_by_layer`): per layer, the mean and the sample variance (ddof 1, pandas) of the
 *   unweighted degree (in + out) of that layer's nodes; layers without nodes give null (pandas: NaN).
 * - projections (`get_projection_metrics_even/odd`): networkx's `bipartite.collaboration_weighted_projected_graph`
 *   of the NRAG onto its even-layer and its odd-layer nodes. On a directed graph it links u → v when some k has
 *   u → k → v, with weight Σ_k 1/(outdeg(k) − 1) over those k with outdeg(k) > 1 (Newman's collaboration weight;
 *   outdeg is k's number of successors in the NRAG). Then: mean / variance of degree and of strength, average
 *   clustering (networkx's weighted directed clustering, Fagiolo 2007, weights divided by the largest weight,
 *   geometric mean of the triangle's three weights), degree assortativity (as graphMetrics), density and the
 *   average shortest path length.
 *   Average shortest path: the reference calls `nx.is_connected`, which networkx does not implement for directed
 *   graphs, so upstream's call raises on an NRAG. Here it is computed on the undirected view of the projection,
 *   with the edge weights as lengths (networkx's `average_shortest_path_length(weight='weight')`), and is NaN when
 *   that view is disconnected — what upstream intends.
 *   On a layered NRAG a projection only links layer l to l + 2, so it has no triangles: its clustering is 0.
 */
import { describe, graphMetrics, type MetricsGraph } from './metrics.ts';

/** An NRAG as the metrics read it: nodes carry their layer. */
export interface LayeredGraph {
  nodes: readonly { id: string; layer: number }[];
  edges: readonly { source: string; target: string; weight: number }[];
}

export interface LayerDegree {
  layer: number;
  mean: number | null;
  variance: number | null;
}

export function degreeByLayer(g: LayeredGraph, layers: number[]): LayerDegree[] {
  const deg = new Map<string, number>(g.nodes.map((v) => [v.id, 0]));
  for (const e of g.edges) {
    deg.set(e.source, (deg.get(e.source) ?? 0) + 1);
    deg.set(e.target, (deg.get(e.target) ?? 0) + 1);
  }
  return layers.map((layer) => {
    const d = describe(g.nodes.filter((v) => v.layer === layer).map((v) => deg.get(v.id)!));
    return { layer, mean: d.mean, variance: d.variance };
  });
}

interface WeightedDigraph {
  nodes: string[];
  succ: Map<string, Map<string, number>>;
  pred: Map<string, Map<string, number>>;
}

function digraph(nodes: readonly string[], edges: readonly { source: string; target: string; weight: number }[]): WeightedDigraph {
  const succ = new Map<string, Map<string, number>>(nodes.map((n) => [n, new Map()]));
  const pred = new Map<string, Map<string, number>>(nodes.map((n) => [n, new Map()]));
  for (const e of edges) {
    succ.get(e.source)!.set(e.target, e.weight);
    pred.get(e.target)!.set(e.source, e.weight);
  }
  return { nodes: [...nodes], succ, pred };
}

/** networkx bipartite.collaboration_weighted_projected_graph on a directed graph, onto `keep`. */
export function collaborationProjection(g: LayeredGraph | MetricsGraph, keep: readonly string[]): { nodes: string[]; edges: { source: string; target: string; weight: number }[] } {
  const G = digraph(g.nodes.map((v) => v.id), g.edges);
  const edges: { source: string; target: string; weight: number }[] = [];
  for (const u of keep) {
    const unbrs = G.succ.get(u)!;
    const targets = new Set<string>();
    for (const k of unbrs.keys()) for (const v of G.succ.get(k)!.keys()) if (v !== u) targets.add(v);
    for (const v of targets) {
      let w = 0;
      for (const k of G.pred.get(v)!.keys()) {
        if (!unbrs.has(k)) continue;
        const deg = G.succ.get(k)!.size;
        if (deg > 1) w += 1 / (deg - 1);
      }
      edges.push({ source: u, target: v, weight: w });
    }
  }
  return { nodes: [...keep], edges };
}

/** networkx average_clustering(G, weight='weight') for a directed graph. */
export function averageClusteringDirected(nodes: readonly string[], edges: readonly { source: string; target: string; weight: number }[]): number {
  if (nodes.length === 0) return Number.NaN;
  const G = digraph(nodes, edges);
  const maxW = edges.length ? Math.max(...edges.map((e) => e.weight)) : 1;
  const wt = (a: string, b: string): number => G.succ.get(a)!.get(b)! / maxW;
  const without = (m: Map<string, number>, x: string): Set<string> => { const s = new Set(m.keys()); s.delete(x); return s; };
  let total = 0;
  for (const i of nodes) {
    const ip = without(G.pred.get(i)!, i), is = without(G.succ.get(i)!, i);
    let t = 0;
    const both = (a: Set<string>, b: Set<string>): string[] => [...a].filter((x) => b.has(x));
    for (const j of ip) {
      const jp = without(G.pred.get(j)!, j), js = without(G.succ.get(j)!, j);
      for (const k of both(ip, jp)) t += Math.cbrt(wt(j, i) * wt(k, i) * wt(k, j));
      for (const k of both(ip, js)) t += Math.cbrt(wt(j, i) * wt(k, i) * wt(j, k));
      for (const k of both(is, jp)) t += Math.cbrt(wt(j, i) * wt(i, k) * wt(k, j));
      for (const k of both(is, js)) t += Math.cbrt(wt(j, i) * wt(i, k) * wt(j, k));
    }
    for (const j of is) {
      const jp = without(G.pred.get(j)!, j), js = without(G.succ.get(j)!, j);
      for (const k of both(ip, jp)) t += Math.cbrt(wt(i, j) * wt(k, i) * wt(k, j));
      for (const k of both(ip, js)) t += Math.cbrt(wt(i, j) * wt(k, i) * wt(j, k));
      for (const k of both(is, jp)) t += Math.cbrt(wt(i, j) * wt(i, k) * wt(k, j));
      for (const k of both(is, js)) t += Math.cbrt(wt(i, j) * wt(i, k) * wt(j, k));
    }
    const dt = ip.size + is.size;
    const db = both(ip, is).length;
    total += t === 0 ? 0 : t / ((dt * (dt - 1) - 2 * db) * 2);
  }
  return total / nodes.length;
}

/** Mean weighted shortest-path length over ordered pairs of the undirected view; NaN when disconnected. */
export function averageShortestPathUndirected(nodes: readonly string[], edges: readonly { source: string; target: string; weight: number }[]): number {
  const n = nodes.length;
  if (n < 2) return n === 1 ? 0 : Number.NaN;
  const index = new Map(nodes.map((v, i) => [v, i]));
  const adj: [number, number][][] = nodes.map(() => []);
  for (const e of edges) {
    const a = index.get(e.source)!, b = index.get(e.target)!;
    adj[a]!.push([b, e.weight]);
    adj[b]!.push([a, e.weight]);
  }
  let sum = 0;
  for (let s = 0; s < n; s++) {
    const dist = new Float64Array(n).fill(Infinity);
    const done = new Uint8Array(n);
    dist[s] = 0;
    for (let it = 0; it < n; it++) {
      let u = -1;
      for (let v = 0; v < n; v++) if (!done[v] && (u < 0 || dist[v]! < dist[u]!)) u = v;
      if (dist[u]! === Infinity) return Number.NaN;
      done[u] = 1;
      for (const [v, w] of adj[u]!) if (dist[u]! + w < dist[v]!) dist[v] = dist[u]! + w;
    }
    for (let v = 0; v < n; v++) sum += dist[v]!;
  }
  return sum / (n * (n - 1));
}

export interface ProjectionMetrics {
  side: 'even' | 'odd';
  nodes: number;
  edges: number;
  meanDegree: number | null;
  varDegree: number | null;
  meanStrength: number | null;
  varStrength: number | null;
  averageClustering: number;
  assortativity: number | null;
  density: number;
  averageShortestPath: number;
}

export function projectionMetrics(g: LayeredGraph): ProjectionMetrics[] {
  return (['even', 'odd'] as const).map((side) => {
    const keep = g.nodes.filter((v) => v.layer % 2 === (side === 'even' ? 0 : 1)).map((v) => v.id);
    const p = collaborationProjection(g, keep);
    const m = graphMetrics({ directed: true, nodes: p.nodes.map((id) => ({ id })), edges: p.edges });
    return {
      side, nodes: m.nodes, edges: m.edges,
      meanDegree: m.meanDegree, varDegree: m.varDegree, meanStrength: m.meanStrength, varStrength: m.varStrength,
      averageClustering: averageClusteringDirected(p.nodes, p.edges),
      assortativity: m.assortativity, density: m.density,
      averageShortestPath: averageShortestPathUndirected(p.nodes, p.edges),
    };
  });
}

/**
 * Graph metrics of an NRAG (the reference tool's `get_basic_metrics`), defined on a simple weighted graph:
 *
 * - degree(v) = in-degree + out-degree, unweighted (undirected: number of incident edges);
 *   strength(v) = the same with edge weights summed (networkx `G.degree(weight='weight')`).
 * - mean, variance (sample, ddof 1), skewness and excess kurtosis of degree and of strength, with pandas'
 *   bias-corrected estimators (Series.skew / Series.kurt):
 *     skew = n·√(n−1)/(n−2) · S3 / S2^1.5,
 *     kurt = n(n+1)(n−1)·S4 / ((n−2)(n−3)·S2²) − 3(n−1)²/((n−2)(n−3)),   S_k = Σ (x − mean)^k;
 *   0 when S2 = 0; null (pandas: NaN) when n < 3 (skew) or n < 4 (kurtosis).
 * - assortativity: networkx `degree_assortativity_coefficient(G, weight='weight')`: over the edges u → v, the
 *   Pearson correlation of (weighted out-degree of u, weighted in-degree of v) for a directed graph; for an
 *   undirected graph every edge counts in both directions with the weighted degree on both sides. null when
 *   either side is constant (networkx: NaN).
 * - density: m / (n(n−1)) directed, 2m / (n(n−1)) undirected (0 when n < 2).
 * - centerOfMass (reference): Σ_layers count(nodes in layer)·(layer − L/2) / total nodes = the mean over
 *   nodes of (layer − L/2), L = number of hidden-state arrays: negative when the graph's regions sit in the
 *   early half of the network, positive in the late half.
 * - centerOfStrength (reference, sic: not normalised): Σ_layers std(strengths of the layer's nodes, ddof 1)·
 *   (layer − L/2); layers with fewer than 2 nodes contribute 0 (pandas' NaN std is skipped by its sum).
 * - strengthDepth (ours, a normalised alternative): Σ_v strength(v)·layer(v) / Σ_v strength(v) / (L − 1), the
 *   strength-weighted mean depth in [0, 1] (0 = embeddings, 1 = last layer).
 */
import { AtlasError } from '../errors.ts';

export interface MetricsGraph {
  directed: boolean;
  nodes: readonly { id: string; layer?: number }[];
  edges: readonly { source: string; target: string; weight: number }[];
  /** Number of hidden-state arrays (needed for the centre-of-mass metrics). */
  nLayers?: number;
}

export interface GraphMetrics {
  nodes: number;
  edges: number;
  meanDegree: number | null;
  varDegree: number | null;
  skewDegree: number | null;
  kurtosisDegree: number | null;
  meanStrength: number | null;
  varStrength: number | null;
  skewStrength: number | null;
  kurtosisStrength: number | null;
  assortativity: number | null;
  density: number;
  centerOfMass: number | null;
  centerOfStrength: number | null;
  strengthDepth: number | null;
}

/** Sample statistics with pandas' conventions (null where pandas gives NaN). */
export function describe(values: ArrayLike<number>): { mean: number | null; variance: number | null; skew: number | null; kurtosis: number | null } {
  const n = values.length;
  if (n === 0) return { mean: null, variance: null, skew: null, kurtosis: null };
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i]!;
  mean /= n;
  let s2 = 0, s3 = 0, s4 = 0;
  for (let i = 0; i < n; i++) {
    const d = values[i]! - mean;
    s2 += d * d;
    s3 += d * d * d;
    s4 += d * d * d * d;
  }
  const variance = n >= 2 ? s2 / (n - 1) : null;
  // pandas' skew/kurt zero sums that are float noise (|S| < 1e-14) before dividing (its var does not).
  if (Math.abs(s2) < 1e-14) s2 = 0;
  if (Math.abs(s3) < 1e-14) s3 = 0;
  if (Math.abs(s4) < 1e-14) s4 = 0;
  const skew = n < 3 ? null : s2 === 0 ? 0 : ((n * Math.sqrt(n - 1)) / (n - 2)) * (s3 / Math.pow(s2, 1.5));
  const kurtosis = n < 4 ? null : s2 === 0 ? 0 : (n * (n + 1) * (n - 1) * s4) / ((n - 2) * (n - 3) * s2 * s2) - (3 * (n - 1) ** 2) / ((n - 2) * (n - 3));
  return { mean, variance, skew, kurtosis };
}

function pearsonOrNull(a: number[], b: number[]): number | null {
  const n = a.length;
  if (n === 0) return null;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i]! - ma, y = b[i]! - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  if (saa === 0 || sbb === 0) return null;
  return Math.max(-1, Math.min(1, sab / Math.sqrt(saa * sbb)));
}

export function graphMetrics(g: MetricsGraph): GraphMetrics {
  const index = new Map<string, number>();
  g.nodes.forEach((v, i) => {
    if (index.has(v.id)) throw new AtlasError(`node '${v.id}' appears twice`, { field: 'nodes' });
    index.set(v.id, i);
  });
  const n = g.nodes.length;
  const outDeg = new Float64Array(n), inDeg = new Float64Array(n), outW = new Float64Array(n), inW = new Float64Array(n);
  const at = (id: string, i: number): number => {
    const k = index.get(id);
    if (k === undefined) throw new AtlasError(`edge ${i} uses node '${id}', which is not in the graph`, { field: 'edges' });
    return k;
  };
  g.edges.forEach((e, i) => {
    if (!Number.isFinite(e.weight)) throw new AtlasError(`edge ${i} has weight ${e.weight}`, { field: 'edges' });
    const s = at(e.source, i), t = at(e.target, i);
    outDeg[s]!++;
    inDeg[t]!++;
    outW[s]! += e.weight;
    inW[t]! += e.weight;
  });
  const degree = Array.from({ length: n }, (_, i) => outDeg[i]! + inDeg[i]!);
  const strength = Array.from({ length: n }, (_, i) => outW[i]! + inW[i]!);
  const dd = describe(degree);
  const ss = describe(strength);

  // Degree assortativity over edge end pairs (networkx's mixing matrix reduces to this Pearson correlation).
  const xs: number[] = [];
  const ys: number[] = [];
  for (const e of g.edges) {
    const s = index.get(e.source)!, t = index.get(e.target)!;
    if (g.directed) {
      xs.push(outW[s]!);
      ys.push(inW[t]!);
    } else {
      xs.push(strength[s]!, strength[t]!);
      ys.push(strength[t]!, strength[s]!);
    }
  }
  const m = g.edges.length;
  const density = n < 2 ? 0 : ((g.directed ? 1 : 2) * m) / (n * (n - 1));

  let centerOfMass: number | null = null;
  let centerOfStrength: number | null = null;
  let strengthDepth: number | null = null;
  const L = g.nLayers;
  if (L !== undefined && n > 0 && g.nodes.every((v) => v.layer !== undefined)) {
    let sum = 0;
    const byLayer = new Map<number, number[]>();
    g.nodes.forEach((v, i) => {
      sum += v.layer! - L / 2;
      let list = byLayer.get(v.layer!);
      if (!list) byLayer.set(v.layer!, (list = []));
      list.push(strength[i]!);
    });
    centerOfMass = sum / n;
    centerOfStrength = 0;
    for (const [layer, st] of byLayer) {
      const v = describe(st).variance;
      if (v !== null) centerOfStrength += Math.sqrt(v) * (layer - L / 2);
    }
    const total = strength.reduce((a, b) => a + b, 0);
    if (total > 0 && L > 1) strengthDepth = g.nodes.reduce((a, v, i) => a + strength[i]! * v.layer!, 0) / total / (L - 1);
  }
  return {
    nodes: n,
    edges: m,
    meanDegree: dd.mean,
    varDegree: dd.variance,
    skewDegree: dd.skew,
    kurtosisDegree: dd.kurtosis,
    meanStrength: ss.mean,
    varStrength: ss.variance,
    skewStrength: ss.skew,
    kurtosisStrength: ss.kurtosis,
    assortativity: pearsonOrNull(xs, ys),
    density,
    centerOfMass,
    centerOfStrength,
    strengthDepth,
  };
}

/** Metrics as a tab-separated table: one row per graph, one column per metric (null → empty cell). */
export function metricsTable(rows: { name: string; metrics: GraphMetrics }[]): string {
  if (rows.length === 0) return '';
  const keys = Object.keys(rows[0]!.metrics) as (keyof GraphMetrics)[];
  const fmt = (v: number | null): string => (v === null ? '' : Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(8))));
  return [['graph', ...keys].join('\t'), ...rows.map((r) => [r.name, ...keys.map((k) => fmt(r.metrics[k]))].join('\t'))].join('\n') + '\n';
}

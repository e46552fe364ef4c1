/**
 * The seed-000 latent-graph pipeline's own outputs and figure conventions, beside ours (so a user of the
 * original finds its files and can reproduce its plots):
 *
 * Files (paths relative to the run's output folder; UPSTREAM_FILES, shared by the writer, the tests and the docs):
 *   embeddings/eta.npy            N × d points η
 *   metrics/G_theta.npy           N × d × d metrics G (λI included), float32, when it fits in MAX_FULL_METRIC_BYTES;
 *                                 otherwise metrics/G_theta_factor.npy (N × d × r, G = F Fᵀ + λI) and a note
 *   metrics/G_theta.json          how G is stored (full | factor), λ, shapes
 *   metrics/G_theta_diag.csv      per text: index, label, mean and std of diag(G)
 *   metrics_2d/eta_2d.npy         PCA-2D of η (N × 2)
 *   metrics_2d/P.npy              the PCA projection, d × 2 (orthonormal columns)
 *   metrics_2d/G_theta_2d.npy     PᵀGP per point, N × 2 × 2
 *   geodesics/{fisher,euclidean}.npy   N × N geodesic distance matrices
 *   graphs/{fisher,euclidean}.graphml  the k-NN graphs (undirected, edge attribute weight = length), and the CSR
 *                                 arrays graphs/<name>-{indptr,indices,weights}.npy
 *
 * Conventions (options of the pipeline):
 *   - disconnected 'fill': geodesic distances between components = 1.1 × the largest finite distance;
 *   - ellipses 'covariance': centred on the Fisher MDS points, semi-axes ∝ √eig(PᵀGP) along its eigenvectors,
 *     one global scale so the largest semi-axis is 2.5 % of the MDS range (the larger of the two coordinate
 *     ranges). (Ours, 'pullback', draws the level set of the pulled-back metric: large G → small ellipse.)
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../data/atomic.ts';
import { writeNpy } from '../data/npy.ts';
import type { CsrGraph } from '../geometry/graph.ts';
import type { Matrix } from '../geometry/matrix.ts';
import { pca } from '../geometry/pca.ts';
import { classicalMds } from '../geometry/mds.ts';
import { denseMetric, metric2, type MetricStore } from './store.ts';
import type { MetricEllipse } from './ellipses.ts';
import type { UpstreamDirs } from './upstream-config.ts';

/**
 * The file names, under folders that the original config's *_dir keys may rename (embeddings_dir, metrics_dir,
 * geodesic_dir, graphs_dir; metrics_2d sits beside metrics_dir).
 */
export function upstreamFiles(dirs: UpstreamDirs = {}) {
  const emb = dirs.embeddings_dir ?? 'embeddings', met = dirs.metrics_dir ?? 'metrics';
  const geo = dirs.geodesic_dir ?? 'geodesics', gr = dirs.graphs_dir ?? 'graphs';
  const m2 = join(met, '..', 'metrics_2d');
  return {
    eta: join(emb, 'eta.npy'),
    metric: join(met, 'G_theta.npy'),
    metricFactor: join(met, 'G_theta_factor.npy'),
    metricInfo: join(met, 'G_theta.json'),
    metricDiag: join(met, 'G_theta_diag.csv'),
    eta2d: join(m2, 'eta_2d.npy'),
    projection: join(m2, 'P.npy'),
    metric2d: join(m2, 'G_theta_2d.npy'),
    geodesic: (g: 'fisher' | 'euclidean') => join(geo, `${g}.npy`),
    graphml: (g: 'fisher' | 'euclidean') => join(gr, `${g}.graphml`),
    csr: (g: 'fisher' | 'euclidean', part: 'indptr' | 'indices' | 'weights') => join(gr, `${g}-${part}.npy`),
  };
}

/** The default layout (no *_dir overrides). */
export const UPSTREAM_FILES = upstreamFiles();

/** Full N × d × d metrics are written when they take at most this many bytes (float32). */
export const MAX_FULL_METRIC_BYTES = 2 ** 31;

/** Replaces Infinity (pairs in different components) by 1.1 × the largest finite distance, in place. */
export function fillDisconnected(d: Float64Array | Float32Array): { filled: number; value: number } {
  let max = 0;
  for (const v of d) if (Number.isFinite(v) && v > max) max = v;
  const value = 1.1 * max;
  let filled = 0;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) { d[i] = value; filled++; }
  return { filled, value };
}

/** GraphML of an undirected CSR graph (each edge once, i < j), nodes with their label and text. */
export function csrToGraphml(g: CsrGraph, nodeInfo: { labels: number[] | null; classNames: string[] }): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">',
    '  <key id="label" for="node" attr.name="label" attr.type="string"/>',
    '  <key id="weight" for="edge" attr.name="weight" attr.type="double"/>',
    '  <graph id="G" edgedefault="undirected">',
  ];
  for (let i = 0; i < g.n; i++) {
    const label = nodeInfo.labels ? nodeInfo.classNames[nodeInfo.labels[i]!] ?? '' : '';
    lines.push(`    <node id="${i}"><data key="label">${esc(label)}</data></node>`);
  }
  for (let i = 0; i < g.n; i++) {
    for (let o = g.indptr[i]!; o < g.indptr[i + 1]!; o++) {
      const j = g.indices[o]!;
      if (j > i) lines.push(`    <edge source="${i}" target="${j}"><data key="weight">${g.weights[o]}</data></edge>`);
    }
  }
  lines.push('  </graph>', '</graphml>');
  return lines.join('\n') + '\n';
}

/** PCA-2D of the points and PᵀG_iP per point (λ included). */
export async function metricsIn2d(points: Matrix, store: MetricStore): Promise<{ eta2d: Matrix<Float64Array>; P: Float64Array; G2d: Float64Array }> {
  const r = await pca(points, { nComponents: 2, svdSolver: 'full' });
  const d = points.cols;
  const comp = r.model.components.data; // 2 × d, orthonormal rows
  const p1 = comp.subarray(0, d), p2 = comp.subarray(d, 2 * d);
  const P = new Float64Array(d * 2);
  for (let a = 0; a < d; a++) { P[a * 2] = p1[a]!; P[a * 2 + 1] = p2[a]!; }
  const G2d = new Float64Array(points.rows * 4);
  for (let i = 0; i < points.rows; i++) {
    const [a, b, c] = metric2(store, i, p1, p2);
    G2d.set([a, b, b, c], i * 4);
  }
  return { eta2d: r.embedding, P, G2d };
}

/**
 * Ellipses as the original draws them: centre = embedding point, semi-axes ∝ √eig(G2d_i) along the
 * eigenvectors, scaled globally so the largest semi-axis is `fraction` (2.5 %) of the embedding's range.
 */
export function covarianceEllipses(embedding: Matrix, G2d: Float64Array, fraction = 0.025): MetricEllipse[] {
  const n = embedding.rows;
  const raw = Array.from({ length: n }, (_, i) => {
    const a = G2d[i * 4]!, b = G2d[i * 4 + 1]!, c = G2d[i * 4 + 3]!;
    const tr = (a + c) / 2, disc = Math.sqrt(((a - c) / 2) ** 2 + b * b);
    const l1 = tr + disc, l2 = tr - disc; // l1 ≥ l2
    const angle = Math.abs(b) > 1e-300 ? Math.atan2(l1 - a, b) : a >= c ? 0 : Math.PI / 2;
    return { s1: Math.sqrt(Math.max(0, l1)), s2: Math.sqrt(Math.max(0, l2)), angle, metric: [a, b, c] as [number, number, number] };
  });
  let range = 0;
  for (const col of [0, 1]) {
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) { const v = embedding.data[i * embedding.cols + col]!; lo = Math.min(lo, v); hi = Math.max(hi, v); }
    range = Math.max(range, hi - lo);
  }
  const largest = Math.max(...raw.map((e) => e.s1));
  const scale = largest > 0 ? (fraction * range) / largest : 0;
  return raw.map((e, i) => ({ cx: embedding.data[i * embedding.cols]!, cy: embedding.data[i * embedding.cols + 1]!, rx: e.s1 * scale, ry: e.s2 * scale, angle: e.angle, metric: e.metric }));
}

export interface MdsSpectrum {
  /** The 5 largest eigenvalues of the double-centred squared distances. */
  eigenvalues: number[];
  /** Each divided by the trace (the sum of all eigenvalues). */
  explainedRatio: number[];
}

/** Top-5 classical-MDS eigenvalues of a distance matrix and their share of the trace. */
export async function mdsSpectrum(dm: Matrix, top = 5): Promise<MdsSpectrum> {
  const n = dm.rows;
  const k = Math.min(top, n);
  const r = await classicalMds(dm, { nComponents: k });
  // trace(−½ J D² J) = Σ_i (mean_j D²_ij) − (n/2)·mean_ij D²_ij
  let trace = 0, total = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += dm.data[i * n + j]! ** 2;
    trace += s / n;
    total += s / (n * n);
  }
  trace -= (n / 2) * total;
  const eigenvalues = Array.from(r.eigenvalues);
  return { eigenvalues, explainedRatio: eigenvalues.map((v) => (trace > 0 ? v / trace : Number.NaN)) };
}

export interface UpstreamOutputInput {
  points: Matrix;
  store: MetricStore;
  labels: number[] | null;
  classNames: string[];
  fisherGraph: CsrGraph;
  euclideanGraph: CsrGraph;
  fisherGeodesic: Matrix;
  euclideanGeodesic: Matrix;
  /** From metricsIn2d. */
  in2d: { eta2d: Matrix<Float64Array>; P: Float64Array; G2d: Float64Array };
}

/** Writes the original pipeline's files (UPSTREAM_FILES) under `out`; returns the paths written. */
export function writeUpstreamOutputs(out: string, u: UpstreamOutputInput, dirs: UpstreamDirs = {}): string[] {
  const UPSTREAM_FILES = upstreamFiles(dirs);
  const { store, points } = u;
  const n = points.rows, d = points.cols;
  const written: string[] = [];
  const path = (rel: string): string => {
    const p = join(out, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    written.push(p);
    return p;
  };
  writeNpy(path(UPSTREAM_FILES.eta), points.data instanceof Float32Array ? points.data : Float32Array.from(points.data), [n, d]);
  const full = n * d * d * 4 <= MAX_FULL_METRIC_BYTES;
  if (full) {
    const G = new Float32Array(n * d * d);
    for (let i = 0; i < n; i++) {
      const g = denseMetric(store, i);
      for (let a = 0; a < d; a++) g[a * d + a]! += store.lambda;
      G.set(g, i * d * d);
    }
    writeNpy(path(UPSTREAM_FILES.metric), G, [n, d, d]);
  } else {
    writeNpy(path(UPSTREAM_FILES.metricFactor), store.data, [n, d, store.rank]);
  }
  writeJsonAtomic(path(UPSTREAM_FILES.metricInfo), {
    storage: full ? 'full' : 'factor', lambda: store.lambda, n, d, rank: store.rank,
    note: full ? 'G_theta.npy holds G (λI included), N × d × d float32' : `G_theta_factor.npy holds F (N × d × r): G = F Fᵀ + λI; the full array would take ${((n * d * d * 4) / 2 ** 30).toFixed(1)} GiB`,
  });
  const rows = ['index,label,diag_mean,diag_std'];
  for (let i = 0; i < n; i++) {
    const g = denseMetric(store, i);
    let m = 0;
    for (let a = 0; a < d; a++) m += g[a * d + a]! + store.lambda;
    m /= d;
    let v = 0;
    for (let a = 0; a < d; a++) v += (g[a * d + a]! + store.lambda - m) ** 2;
    const label = u.labels ? u.classNames[u.labels[i]!] ?? '' : '';
    rows.push(`${i},${/[",\n]/.test(label) ? `"${label.replace(/"/g, '""')}"` : label},${m},${Math.sqrt(v / d)}`);
  }
  writeFileAtomic(path(UPSTREAM_FILES.metricDiag), rows.join('\n') + '\n');
  writeNpy(path(UPSTREAM_FILES.eta2d), u.in2d.eta2d.data, [n, 2]);
  writeNpy(path(UPSTREAM_FILES.projection), u.in2d.P, [d, 2]);
  writeNpy(path(UPSTREAM_FILES.metric2d), u.in2d.G2d, [n, 2, 2]);
  for (const [name, geo, graph] of [['fisher', u.fisherGeodesic, u.fisherGraph], ['euclidean', u.euclideanGeodesic, u.euclideanGraph]] as const) {
    writeNpy(path(UPSTREAM_FILES.geodesic(name)), geo.data, [n, n]);
    writeFileAtomic(path(UPSTREAM_FILES.graphml(name)), csrToGraphml(graph, u));
    writeNpy(path(UPSTREAM_FILES.csr(name, 'indptr')), graph.indptr, [graph.indptr.length]);
    writeNpy(path(UPSTREAM_FILES.csr(name, 'indices')), graph.indices, [graph.indices.length]);
    writeNpy(path(UPSTREAM_FILES.csr(name, 'weights')), graph.weights, [graph.weights.length]);
  }
  return written;
}

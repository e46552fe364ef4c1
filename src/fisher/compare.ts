/**
 * Fisher vs Euclidean geometry of the same points: agreement of the geodesic distances, and quality of each
 * 2-D embedding (trustworthiness against the distances it embeds, label overlap of its neighbourhoods),
 * plus mean geodesic distances within and between labels.
 */
import { labelOverlap } from '../geometry/overlap.ts';
import { condensed, pearson, spearman, trustworthiness } from '../geometry/quality.ts';
import type { Matrix } from '../geometry/matrix.ts';

export interface EmbeddingQuality {
  name: string;
  /** Trustworthiness w.r.t. the distance matrix it was computed from (k = nNeighbors). */
  trustworthiness: number;
  /** Label overlap of the 2-D neighbourhoods (null without labels). */
  labelOverlap: number | null;
}

export interface ComparisonReport {
  n: number;
  /** Over all pairs i < j of the two geodesic matrices. */
  spearman: number;
  pearson: number;
  /** Label overlap of the k-NN in the latent space itself (Euclidean), for reference. */
  latentLabelOverlap: number | null;
  embeddings: EmbeddingQuality[];
  /** Mean geodesic distance between (row, column) labels, divided by the mean over all pairs. */
  perLabel: { classNames: string[]; fisher: number[][]; euclidean: number[][] } | null;
}

export interface ComparisonInput {
  points: Matrix;
  fisherGeodesic: Matrix;
  euclideanGeodesic: Matrix;
  /** name → [embedding, the n × n distance matrix it should be trustworthy to]. */
  embeddings: [string, Matrix, Matrix][];
  labels: number[] | null;
  classNames: string[];
  /** Neighbours for trustworthiness and label overlap. Default 10. */
  k?: number;
}

function perLabelMeans(dist: Matrix, labels: number[], C: number): number[][] {
  const n = dist.rows;
  const sum = Array.from({ length: C }, () => new Float64Array(C));
  const cnt = Array.from({ length: C }, () => new Float64Array(C));
  let total = 0;
  let pairs = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
    const v = dist.data[i * n + j];
    const a = labels[i], b = labels[j];
    sum[a][b] += v; cnt[a][b]++;
    if (a !== b) { sum[b][a] += v; cnt[b][a]++; }
    total += v;
    pairs++;
  }
  const mean = total / Math.max(1, pairs);
  return sum.map((row, a) => Array.from(row, (s, b) => (cnt[a][b] > 0 ? s / cnt[a][b] / mean : NaN)));
}

export async function compareGeometries(o: ComparisonInput): Promise<ComparisonReport> {
  const k = o.k ?? 10;
  const n = o.points.rows;
  const cf = condensed(o.fisherGeodesic);
  const ce = condensed(o.euclideanGeodesic);
  const kk = Math.min(k, Math.max(1, Math.floor((n - 1) / 2) - 1));
  const labelled = o.labels !== null && new Set(o.labels).size > 1;
  const embeddings: EmbeddingQuality[] = [];
  for (const [name, emb, dist] of o.embeddings) {
    embeddings.push({
      name,
      trustworthiness: await trustworthiness(dist, emb, { nNeighbors: kk, metric: 'precomputed' }),
      labelOverlap: labelled ? (await labelOverlap(emb, o.labels!, { k: Math.min(k, n - 1) })).overlap : null,
    });
  }
  return {
    n,
    spearman: spearman(cf, ce),
    pearson: pearson(cf, ce),
    latentLabelOverlap: labelled ? (await labelOverlap(o.points, o.labels!, { k: Math.min(k, n - 1) })).overlap : null,
    embeddings,
    perLabel: labelled
      ? { classNames: o.classNames, fisher: perLabelMeans(o.fisherGeodesic, o.labels!, o.classNames.length), euclidean: perLabelMeans(o.euclideanGeodesic, o.labels!, o.classNames.length) }
      : null,
  };
}

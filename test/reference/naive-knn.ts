/** Naive O(N²) float64 k-NN reference for the tests: every distance, sorted by (distance, index). */
import type { Metric } from '../../src/geometry/knn.ts';
import type { Matrix } from '../../src/geometry/matrix.ts';

/** Naive float64 reference for the listed rows: every distance, sorted by (distance, index). */
export function naiveRows(X: Matrix, k: number, rows: number[], metric: Metric): { indices: number[]; distances: number[] }[] {
  const { rows: n, cols: d, data } = X;
  const norm = (i: number) => { let s = 0; for (let t = 0; t < d; t++) s += data[i * d + t] * data[i * d + t]; return Math.sqrt(s); };
  return rows.map((i) => {
    const all: [number, number][] = [];
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      let v: number;
      if (metric === 'euclidean') {
        let s = 0;
        for (let t = 0; t < d; t++) { const e = data[i * d + t] - data[j * d + t]; s += e * e; }
        v = Math.sqrt(s);
      } else {
        let s = 0;
        for (let t = 0; t < d; t++) s += data[i * d + t] * data[j * d + t];
        v = Math.min(2, Math.max(0, 1 - s / (norm(i) * norm(j))));
      }
      all.push([v, j]);
    }
    all.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return { indices: all.slice(0, k).map((e) => e[1]), distances: all.slice(0, k).map((e) => e[0]) };
  });
}

/** The reference for every row, as index and distance tables. */
export function naiveKnn(X: Matrix, k: number, metric: Metric): { indices: number[][]; distances: number[][] } {
  const rows = naiveRows(X, k, Array.from({ length: X.rows }, (_, i) => i), metric);
  return { indices: rows.map((r) => r.indices), distances: rows.map((r) => r.distances) };
}

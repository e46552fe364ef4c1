// Independent float64 references and synthetic data for the geometry tests (not a test file itself).
import type { Matrix } from '../src/geometry/matrix.ts';

/** Cyclic Jacobi eigen-decomposition of a symmetric matrix: slow, simple, independent of linalg.ts. */
export function jacobiEigenReference(a: Float64Array, n: number): { values: number[]; vectors: number[][] } {
  const A = Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * n, i * n + n)));
  const V: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p][q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) {
      if (Math.abs(A[p][q]) < 1e-300) continue;
      const theta = (A[q][q] - A[p][p]) / (2 * A[p][q]);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const s = t * c;
      for (let k = 0; k < n; k++) {
        const akp = A[k][p], akq = A[k][q];
        A[k][p] = c * akp - s * akq;
        A[k][q] = s * akp + c * akq;
      }
      for (let k = 0; k < n; k++) {
        const apk = A[p][k], aqk = A[q][k];
        A[p][k] = c * apk - s * aqk;
        A[q][k] = s * apk + c * aqk;
      }
      for (let k = 0; k < n; k++) {
        const vkp = V[k][p], vkq = V[k][q];
        V[k][p] = c * vkp - s * vkq;
        V[k][q] = s * vkp + c * vkq;
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => A[y][y] - A[x][x]);
  return { values: order.map((i) => A[i][i]), vectors: order.map((i) => V.map((row) => row[i])) };
}

/** Deterministic LCG-based normal generator (independent of src/geometry/rng.ts). */
export function testNormals(seed: number): () => number {
  let s = seed >>> 0 || 1;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

export function randomMatrix(rows: number, cols: number, seed: number, scale: (j: number) => number = () => 1): Matrix<Float64Array> {
  const g = testNormals(seed);
  const data = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) data[i * cols + j] = g() * scale(j);
  return { rows, cols, data };
}

/** `clusters` Gaussian blobs (std withinStd(j) along axis j) with centres spread·e_c in `dim` dimensions. */
export function gaussianClusters(perCluster: number, clusters: number, dim: number, seed: number, spread = 10, withinStd: (j: number) => number = () => 1): { x: Matrix<Float64Array>; labels: Int32Array } {
  const g = testNormals(seed);
  const n = perCluster * clusters;
  const data = new Float64Array(n * dim);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % clusters;
    labels[i] = c;
    for (let j = 0; j < dim; j++) data[i * dim + j] = g() * withinStd(j) + (j === c % dim ? spread : 0) + (j === (c + 1) % dim && c >= dim ? spread : 0);
  }
  return { x: { rows: n, cols: dim, data }, labels };
}

export function pairwiseEuclidean(x: Matrix): Float64Array {
  const n = x.rows, d = x.cols;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += (x.data[i * d + t] - x.data[j * d + t]) ** 2;
    out[i * n + j] = out[j * n + i] = Math.sqrt(s);
  }
  return out;
}

/** Brute-force k-NN (self excluded), ties by index: the shape of knn.ts's KnnResult. */
export function naiveKnn(x: Matrix, k: number): { n: number; k: number; indices: Int32Array; distances: Float64Array } {
  const n = x.rows;
  const D = pairwiseEuclidean(x);
  const indices = new Int32Array(n * k);
  const distances = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    const order = Array.from({ length: n }, (_, j) => j).filter((j) => j !== i).sort((a, b) => D[i * n + a] - D[i * n + b] || a - b);
    for (let t = 0; t < k; t++) {
      indices[i * k + t] = order[t];
      distances[i * k + t] = D[i * n + order[t]];
    }
  }
  return { n, k, indices, distances };
}

/** Mean silhouette coefficient (Euclidean), straight from the definition. */
export function silhouetteReference(x: Matrix, labels: Int32Array): number {
  const n = x.rows;
  const D = pairwiseEuclidean(x);
  const nl = Math.max(...labels) + 1;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const sum = new Float64Array(nl), cnt = new Float64Array(nl);
    for (let j = 0; j < n; j++) if (j !== i) { sum[labels[j]] += D[i * n + j]; cnt[labels[j]]++; }
    const a = sum[labels[i]] / Math.max(1, cnt[labels[i]]);
    let b = Infinity;
    for (let c = 0; c < nl; c++) if (c !== labels[i] && cnt[c] > 0) b = Math.min(b, sum[c] / cnt[c]);
    total += cnt[labels[i]] === 0 ? 0 : (b - a) / Math.max(a, b);
  }
  return total / n;
}

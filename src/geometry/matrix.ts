/**
 * A dense row-major matrix: `data[i * cols + j]` is row i, column j. Rows are samples and columns features
 * everywhere in the geometry code (the scikit-learn convention). float32 is the storage type of activations;
 * float64 is used where accumulated error matters (covariances, eigen-solvers, references in tests).
 */
export interface Matrix<T extends Float32Array | Float64Array = Float32Array | Float64Array> {
  rows: number;
  cols: number;
  data: T;
}

export function matrix<T extends Float32Array | Float64Array>(rows: number, cols: number, data: T): Matrix<T> {
  if (data.length !== rows * cols) throw new Error(`matrix: data has ${data.length} values, expected ${rows}×${cols}`);
  return { rows, cols, data };
}

export function zeros64(rows: number, cols: number): Matrix<Float64Array> {
  return { rows, cols, data: new Float64Array(rows * cols) };
}

export function row<T extends Float32Array | Float64Array>(m: Matrix<T>, i: number): T {
  return m.data.subarray(i * m.cols, (i + 1) * m.cols) as T;
}

export function toFloat64(m: Matrix): Matrix<Float64Array> {
  return m.data instanceof Float64Array ? (m as Matrix<Float64Array>) : { rows: m.rows, cols: m.cols, data: Float64Array.from(m.data) };
}

export function toFloat32(m: Matrix): Matrix<Float32Array> {
  return m.data instanceof Float32Array ? (m as Matrix<Float32Array>) : { rows: m.rows, cols: m.cols, data: Float32Array.from(m.data) };
}

/** Squared Euclidean norm of every row, accumulated in float64. */
export function rowSquaredNorms(m: Matrix): Float64Array {
  const out = new Float64Array(m.rows);
  const { cols, data } = m;
  for (let i = 0; i < m.rows; i++) {
    let s = 0;
    const o = i * cols;
    for (let j = 0; j < cols; j++) s += data[o + j] * data[o + j];
    out[i] = s;
  }
  return out;
}

export function transpose<T extends Float32Array | Float64Array>(m: Matrix<T>): Matrix<T> {
  const out = new (m.data.constructor as { new (n: number): T })(m.rows * m.cols);
  transposeInto(m.data, m.rows, m.cols, out);
  return { rows: m.cols, cols: m.rows, data: out };
}

/** aT [cols, rows] = transpose of a [rows, cols], four source rows at a time (four contiguous read streams). */
export function transposeInto(a: Float32Array | Float64Array, rows: number, cols: number, aT: Float32Array | Float64Array): void {
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const o0 = r * cols, o1 = o0 + cols, o2 = o1 + cols, o3 = o2 + cols;
    for (let j = 0, w = r; j < cols; j++, w += rows) {
      aT[w] = a[o0 + j]!;
      aT[w + 1] = a[o1 + j]!;
      aT[w + 2] = a[o2 + j]!;
      aT[w + 3] = a[o3 + j]!;
    }
  }
  for (; r < rows; r++) for (let j = 0, o = r * cols; j < cols; j++) aT[j * rows + r] = a[o + j]!;
}

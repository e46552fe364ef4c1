/**
 * The inner loop of the column-wise cosine similarity (similarity.ts): one pass over a block of rows of m
 * models accumulates, per column j, the m squared norms and the m(m−1)/2 pair dot products into float64
 * slots, interleaved per column (acc[S·j + k], S = m + m(m−1)/2; k < m: ‖x_k‖², then pairs (i < j) in order).
 * Every value is read once (the earlier code made m + m(m−1)/2 passes) and the accumulators of one column sit
 * in one cache line; float64 accumulation keeps the result independent of the block size up to float64
 * rounding. Specialised for 2 and 3 models (the toolkit compares a base and two fine-tunes).
 */

/** Slots per column for m models. */
export const slotsPerColumn = (m: number): number => m + (m * (m - 1)) / 2;

/** Adds rows [r0, r1) of the row-major blocks `xs` (each rows × cols) into `acc` (slotsPerColumn(m) · cols). */
export function accumulateColumns(xs: Float32Array[], r0: number, r1: number, cols: number, acc: Float64Array): void {
  if (xs.length === 3) return acc3(xs[0], xs[1], xs[2], r0, r1, cols, acc);
  if (xs.length === 2) return acc2(xs[0], xs[1], r0, r1, cols, acc);
  accN(xs, r0, r1, cols, acc);
}

// Four rows per pass: each column's slots are loaded and stored once per four rows (not once per row) and the
// four products per slot are summed in registers first, in float64 (a JS number; float32 sums would need
// Math.fround per step, slower and less exact). Measured ~2-3× the one-row loop on this machine
// (the slot loads/stores, not the data, bounded it). Rows left over (< 4) take the one-row loop.
function acc3(a: Float32Array, b: Float32Array, c: Float32Array, r0: number, r1: number, cols: number, acc: Float64Array): void {
  let r = r0;
  for (; r + 4 <= r1; r += 4) {
    const o0 = r * cols, o1 = o0 + cols, o2 = o1 + cols, o3 = o2 + cols;
    for (let j = 0, q = 0; j < cols; j++, q += 6) {
      const x0 = a[o0 + j], y0 = b[o0 + j], z0 = c[o0 + j];
      const x1 = a[o1 + j], y1 = b[o1 + j], z1 = c[o1 + j];
      const x2 = a[o2 + j], y2 = b[o2 + j], z2 = c[o2 + j];
      const x3 = a[o3 + j], y3 = b[o3 + j], z3 = c[o3 + j];
      acc[q] += x0 * x0 + x1 * x1 + x2 * x2 + x3 * x3;
      acc[q + 1] += y0 * y0 + y1 * y1 + y2 * y2 + y3 * y3;
      acc[q + 2] += z0 * z0 + z1 * z1 + z2 * z2 + z3 * z3;
      acc[q + 3] += x0 * y0 + x1 * y1 + x2 * y2 + x3 * y3;
      acc[q + 4] += x0 * z0 + x1 * z1 + x2 * z2 + x3 * z3;
      acc[q + 5] += y0 * z0 + y1 * z1 + y2 * z2 + y3 * z3;
    }
  }
  for (; r < r1; r++) {
    const o = r * cols;
    for (let j = 0, q = 0; j < cols; j++, q += 6) {
      const x = a[o + j], y = b[o + j], z = c[o + j];
      acc[q] += x * x;
      acc[q + 1] += y * y;
      acc[q + 2] += z * z;
      acc[q + 3] += x * y;
      acc[q + 4] += x * z;
      acc[q + 5] += y * z;
    }
  }
}

function acc2(a: Float32Array, b: Float32Array, r0: number, r1: number, cols: number, acc: Float64Array): void {
  let r = r0;
  for (; r + 4 <= r1; r += 4) {
    const o0 = r * cols, o1 = o0 + cols, o2 = o1 + cols, o3 = o2 + cols;
    for (let j = 0, q = 0; j < cols; j++, q += 3) {
      const x0 = a[o0 + j], y0 = b[o0 + j];
      const x1 = a[o1 + j], y1 = b[o1 + j];
      const x2 = a[o2 + j], y2 = b[o2 + j];
      const x3 = a[o3 + j], y3 = b[o3 + j];
      acc[q] += x0 * x0 + x1 * x1 + x2 * x2 + x3 * x3;
      acc[q + 1] += y0 * y0 + y1 * y1 + y2 * y2 + y3 * y3;
      acc[q + 2] += x0 * y0 + x1 * y1 + x2 * y2 + x3 * y3;
    }
  }
  for (; r < r1; r++) {
    const o = r * cols;
    for (let j = 0, q = 0; j < cols; j++, q += 3) {
      const x = a[o + j], y = b[o + j];
      acc[q] += x * x;
      acc[q + 1] += y * y;
      acc[q + 2] += x * y;
    }
  }
}

function accN(xs: Float32Array[], r0: number, r1: number, cols: number, acc: Float64Array): void {
  const m = xs.length;
  const S = slotsPerColumn(m);
  const v = new Float64Array(m);
  for (let r = r0; r < r1; r++) {
    const o = r * cols;
    for (let j = 0, q = 0; j < cols; j++, q += S) {
      for (let k = 0; k < m; k++) {
        v[k] = xs[k][o + j];
        acc[q + k] += v[k] * v[k];
      }
      let p = q + m;
      for (let i = 0; i < m; i++) for (let k = i + 1; k < m; k++) acc[p++] += v[i] * v[k];
    }
  }
}

/**
 * Column cosines of pair p (0-based, pairs in order i < j) from accumulated slots, for the columns `cols`
 * (all when null): <a, b> / (|a| |b|), clamped to [−1, 1]; 1 when both columns are zero, 0 when one is.
 */
export function pairCosines(acc: Float64Array, m: number, i: number, j: number, nCols: number, cols: Int32Array | null): Float64Array {
  const S = slotsPerColumn(m);
  // slot of pair (i, j): pairs before i's row, then the offset within it
  let p = m;
  for (let a = 0; a < i; a++) p += m - 1 - a;
  p += j - i - 1;
  const n = cols ? cols.length : nCols;
  const out = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    const q = S * (cols ? cols[t] : t);
    const na = acc[q + i], nb = acc[q + j];
    const den = Math.sqrt(na * nb);
    out[t] = den > 0 ? Math.max(-1, Math.min(1, acc[q + p] / den)) : na === 0 && nb === 0 ? 1 : 0;
  }
  return out;
}

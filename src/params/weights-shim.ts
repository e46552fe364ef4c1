/**
 * TEMPORARY: WeightRecipe application and its adjoint, until src/model/weights.ts (helper "core") lands;
 * then this file goes and its callers import from there.
 */
import type { WeightRecipe } from '../model/spec.ts';
import type { Arr } from './ops.ts';

/** Row map of a recipe over the (possibly transposed) stored tensor: canonical row r ← stored row rowOf(r). */
function rowOf(r: WeightRecipe): (row: number) => number {
  const rows = r.rows;
  if (!rows) return (i) => i;
  if (rows instanceof Int32Array) return (i) => rows[i];
  return (i) => rows.start + i;
}

/** Shape [rows, cols] of the stored tensor after the recipe's transpose (1-D: [n, 1]). */
function viewShape(r: WeightRecipe): [number, number] {
  const s = r.storedShape;
  if (s.length === 1) return [s[0], 1];
  return r.transpose ? [s[1], s[0]] : [s[0], s[1]];
}

/** The canonical tensor of `recipe` from the stored data: a view when no copy is needed. */
export function applyRecipe(r: WeightRecipe, stored: Arr, canonicalShape: number[]): Arr {
  const n = canonicalShape.reduce((a, b) => a * b, 1);
  const [, cols] = viewShape(r);
  if (!r.transpose && !(r.rows instanceof Int32Array)) {
    const start = r.rows ? (r.rows as { start: number }).start * cols : 0;
    return stored.subarray(start, start + n) as Arr;
  }
  const out = stored instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
  const rowsOut = n / cols;
  const src = rowOf(r);
  const sCols = r.storedShape[1];
  for (let i = 0; i < rowsOut; i++) {
    const R = src(i);
    if (r.transpose) for (let j = 0; j < cols; j++) out[i * cols + j] = stored[j * sCols + R];
    else out.set(stored.subarray(R * cols, R * cols + cols), i * cols);
  }
  return out;
}

/** stored += the adjoint of the recipe applied to a canonical gradient. */
export function scatterToStored(r: WeightRecipe, grad: Arr, stored: Arr): void {
  const [, cols] = viewShape(r);
  const rowsIn = grad.length / cols;
  const dst = rowOf(r);
  const sCols = r.storedShape[1];
  for (let i = 0; i < rowsIn; i++) {
    const R = dst(i);
    if (r.transpose) for (let j = 0; j < cols; j++) stored[j * sCols + R] += grad[i * cols + j];
    else for (let j = 0, o = R * cols; j < cols; j++) stored[o + j] += grad[i * cols + j];
  }
}

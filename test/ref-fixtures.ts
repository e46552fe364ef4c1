/**
 * Helpers for the reference-fixture tests (test/ref-*.test.ts): paths, .npy loading, tolerant comparisons.
 * The fixtures were produced by the real reference tools (scripts/reference/generate-fixtures.ts); the tests
 * only read them, so they run without Python.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpy } from '../src/data/npy.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'reference');

export function npy(...parts: string[]): { shape: number[]; data: Float64Array | Int32Array } {
  const a = readNpy(join(FIXTURES, ...parts));
  if (a.data instanceof Float64Array || a.data instanceof Int32Array) return { shape: a.shape, data: a.data };
  return { shape: a.shape, data: Float64Array.from(a.data) };
}

export function npyF64(...parts: string[]): Float64Array {
  const a = npy(...parts);
  return a.data instanceof Float64Array ? a.data : Float64Array.from(a.data);
}

export function npyMatrix(...parts: string[]): Matrix<Float64Array> {
  const a = npy(...parts);
  assert.equal(a.shape.length, 2, `${parts.join('/')} is not 2-D`);
  return { rows: a.shape[0]!, cols: a.shape[1]!, data: a.data instanceof Float64Array ? a.data : Float64Array.from(a.data) };
}

export function jsonFixture<T>(...parts: string[]): T {
  return JSON.parse(readFileSync(join(FIXTURES, ...parts), 'utf8')) as T;
}

/** max|a − b| / max|b| (the scale of the reference): returns it after asserting it is ≤ rtol. */
export function assertRelClose(a: ArrayLike<number>, b: ArrayLike<number>, rtol: number, what: string): number {
  assert.equal(a.length, b.length, `${what}: length ${a.length} vs ${b.length}`);
  let maxRef = 0;
  let maxDiff = 0;
  let worst = -1;
  for (let i = 0; i < b.length; i++) {
    assert.ok(Number.isFinite(a[i]!), `${what}[${i}] = ${a[i]} is not finite`);
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
    const d = Math.abs(a[i]! - b[i]!);
    if (d > maxDiff) {
      maxDiff = d;
      worst = i;
    }
  }
  assert.ok(maxRef > 0, `${what}: reference is all zero (the comparison would be vacuous)`);
  const rel = maxDiff / maxRef;
  if (process.env.REF_VERBOSE) console.log(`# ${what}: max rel error ${rel.toExponential(2)} (tolerance ${rtol})`);
  assert.ok(rel <= rtol, `${what}: max rel error ${rel.toExponential(3)} > ${rtol} (worst at ${worst}: ${a[worst]} vs ${b[worst]})`);
  return rel;
}

/** Scalar agreement: |a − b| ≤ rtol·|b| + atol. */
export function assertScalarClose(a: number, b: number, rtol: number, what: string, atol = 0): void {
  assert.ok(Number.isFinite(a), `${what}: ${a} is not finite`);
  if (process.env.REF_VERBOSE) console.log(`# ${what}: ${a} vs ${b} (rel ${(Math.abs(a - b) / Math.abs(b)).toExponential(2)}, tolerance ${rtol})`);
  assert.ok(Math.abs(a - b) <= rtol * Math.abs(b) + atol, `${what}: ${a} vs reference ${b} (diff ${Math.abs(a - b).toExponential(3)})`);
}

/**
 * Rows of `a` (k × d) equal rows of `b` up to a sign per row (principal axes / singular vectors are defined up
 * to sign): each row is flipped to match b's sign before comparing.
 */
export function assertRowsCloseUpToSign(a: Matrix, b: Matrix, rtol: number, what: string): void {
  assert.equal(a.rows, b.rows, `${what}: rows`);
  assert.equal(a.cols, b.cols, `${what}: cols`);
  const flipped = new Float64Array(a.data.length);
  for (let r = 0; r < a.rows; r++) {
    let dot = 0;
    for (let c = 0; c < a.cols; c++) dot += a.data[r * a.cols + c]! * b.data[r * b.cols + c]!;
    const s = dot < 0 ? -1 : 1;
    for (let c = 0; c < a.cols; c++) flipped[r * a.cols + c] = s * a.data[r * a.cols + c]!;
  }
  assertRelClose(flipped, b.data, rtol, what);
}

/** Column version (embeddings: one sign per component). */
export function assertColumnsCloseUpToSign(a: Matrix, b: Matrix, rtol: number, what: string): void {
  const t = (m: Matrix): Matrix<Float64Array> => {
    const out = new Float64Array(m.data.length);
    for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) out[c * m.rows + r] = m.data[r * m.cols + c]!;
    return { rows: m.cols, cols: m.rows, data: out };
  };
  assertRowsCloseUpToSign(t(a), t(b), rtol, what);
}

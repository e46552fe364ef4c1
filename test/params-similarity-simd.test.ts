/**
 * The similarity kernels (similarity-kernel.ts in JS, similarity-simd.ts in WebAssembly SIMD) against a plain
 * float64 loop written here: per column the m squared norms, then the pair dot products (i < j) in order.
 * Shapes grow and shrink between calls, so the SIMD kernel's reused memory and views are exercised too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accumulateColumns, slotsPerColumn } from '../src/params/similarity-kernel.ts';
import { SimdKernel } from '../src/params/similarity-simd.ts';

function reference(xs: Float32Array[], n: number, cols: number): Float64Array {
  const m = xs.length, S = m + (m * (m - 1)) / 2;
  const out = new Float64Array(S * cols);
  for (let j = 0; j < cols; j++) {
    let s = 0;
    for (let k = 0; k < m; k++, s++) for (let r = 0; r < n; r++) out[S * j + s] += xs[k]![r * cols + j]! * xs[k]![r * cols + j]!;
    for (let a = 0; a < m; a++) for (let b = a + 1; b < m; b++, s++) for (let r = 0; r < n; r++) out[S * j + s] += xs[a]![r * cols + j]! * xs[b]![r * cols + j]!;
  }
  return out;
}

function close(got: Float64Array, want: Float64Array, what: string): void {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-12 * (Math.abs(want[i]!) + 1e-30), `${what}: slot ${i}: ${got[i]} vs ${want[i]}`);
}

let seed = 7;
const rand = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;

test('SIMD and JS similarity kernels equal a float64 loop for 2-4 models, odd and even rows, shapes changing between calls', () => {
  assert.equal(SimdKernel.fits(3), false);
  assert.equal(SimdKernel.fits(8), true);
  assert.equal(SimdKernel.create(5), null);
  for (const m of [2, 3, 4]) {
    const simd = SimdKernel.create(m);
    assert.ok(simd, `a SIMD kernel for ${m} models`);
    for (const [n, cols] of [[1, 2], [5, 6], [17, 64], [3, 64], [40, 258], [2, 4], [9, 130]] as const) {
      const xs = Array.from({ length: m }, () => Float32Array.from({ length: n * cols }, rand));
      const want = reference(xs, n, cols);
      const js = new Float64Array(slotsPerColumn(m) * cols);
      accumulateColumns(xs, 0, n, cols, js);
      close(js, want, `JS m=${m} n=${n} cols=${cols}`);
      const ins = simd.inputs(n, cols);
      for (let k = 0; k < m; k++) ins[k]!.set(xs[k]!);
      const out = new Float64Array(slotsPerColumn(m) * cols);
      simd.addInto(n, cols, out);
      close(out, want, `SIMD m=${m} n=${n} cols=${cols}`);
      simd.addInto(n, cols, out); // it adds: twice the sums
      close(out, want.map((v) => 2 * v), `SIMD twice m=${m} n=${n} cols=${cols}`);
    }
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gemm } from '../src/geometry/gemm.ts';

test('gemm into a preallocated output: same values as a fresh product, written in place, reused across shapes', async () => {
  const a = { rows: 3, cols: 4, data: Float32Array.from({ length: 12 }, (_, i) => (i % 5) - 2) };
  const b = { rows: 5, cols: 4, data: Float32Array.from({ length: 20 }, (_, i) => ((i * 7) % 11) - 5) };
  const fresh = await gemm(a, b, { transposeB: true, threads: 1 });
  // Naive reference (small integers: exact in float32).
  for (let i = 0; i < 3; i++) for (let j = 0; j < 5; j++) {
    let s = 0;
    for (let t = 0; t < 4; t++) s += a.data[i * 4 + t] * b.data[j * 4 + t];
    assert.equal(fresh.data[i * 5 + j], s);
  }
  const out = new Float32Array(40).fill(NaN);
  const r = await gemm(a, b, { transposeB: true, threads: 1, out });
  assert.equal(r.data.buffer, out.buffer, 'the result is a view of the buffer');
  assert.deepEqual(Array.from(r.data), Array.from(fresh.data));
  assert.deepEqual(Array.from(out.subarray(0, 15)), Array.from(fresh.data));
  // A smaller product into the same buffer.
  const r2 = await gemm({ rows: 1, cols: 4, data: a.data.subarray(0, 4) }, b, { transposeB: true, threads: 1, out });
  assert.deepEqual(Array.from(r2.data), Array.from(fresh.data.subarray(0, 5)));
  await assert.rejects(gemm(a, b, { transposeB: true, out: new Float32Array(14) }), /output buffer/);
});

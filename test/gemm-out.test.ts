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

test('gemm with a bias: every row of the product plus the bias (Gemm C input), into a reused output buffer, both precisions', async () => {
  for (const F of [Float32Array, Float64Array]) {
    const a = { rows: 3, cols: 4, data: new F(Array.from({ length: 12 }, (_, i) => (i % 5) - 2)) };
    const b = { rows: 5, cols: 4, data: new F(Array.from({ length: 20 }, (_, i) => ((i * 7) % 11) - 5)) };
    const bias = new F([0.5, -1, 2, 0, 3.25]);
    const out = new F(15).fill(NaN);
    const r = await gemm(a, b, { transposeB: true, threads: 1, bias, out });
    assert.equal(r.data.buffer, out.buffer);
    // Naive reference (small integers and quarters: exact in float32).
    for (let i = 0; i < 3; i++) for (let j = 0; j < 5; j++) {
      let s = bias[j]!;
      for (let t = 0; t < 4; t++) s += a.data[i * 4 + t]! * b.data[j * 4 + t]!;
      assert.equal(r.data[i * 5 + j], s, `${F.name} [${i}, ${j}]`);
    }
    // the session without a bias is a different one: a plain product right after is unchanged
    const plain = await gemm(a, b, { transposeB: true, threads: 1 });
    assert.equal(plain.data[0], r.data[0]! - bias[0]!);
    // K = 0: the bias rows alone
    const empty = await gemm({ rows: 2, cols: 0, data: new F(0) }, { rows: 5, cols: 0, data: new F(0) }, { transposeB: true, bias });
    assert.deepEqual(Array.from(empty.data), [...bias, ...bias]);
    await assert.rejects(gemm(a, b, { transposeB: true, bias: new F(4) }), /bias/);
  }
});

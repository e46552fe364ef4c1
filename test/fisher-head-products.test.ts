import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../src/model/tiny-checkpoint.ts';
import { centredGram, headLogits } from '../src/fisher/head-products.ts';
import type { LmHead } from '../src/fisher/metric.ts';

/** A float32 head of V tokens, d = 520 (three Gram panels), with a logit bias. */
function head32(V: number, d: number, seed: number): LmHead {
  const r = mulberry32(seed);
  return { W: Float32Array.from({ length: V * d }, () => r() - 0.5), V, d, b: Float32Array.from({ length: V }, () => r()) };
}

test('headLogits: W h + b of a float32 head within float32 rounding of the float64 sum', async () => {
  const head = head32(70, 520, 3);
  const r = mulberry32(4);
  const h = Float64Array.from({ length: head.d }, () => r() - 0.5);
  const z = await headLogits(head, h);
  for (let v = 0; v < head.V; v++) {
    let s = head.b![v]!;
    for (let j = 0; j < head.d; j++) s += head.W[v * head.d + j]! * Math.fround(h[j]!);
    assert.ok(Math.abs(z[v]! - s) < 1e-4, `token ${v}: ${z[v]} vs ${s}`);
  }
});

test('centredGram (float32, several panels) equals Wᵀ(diag p − ppᵀ)W for successive points', async () => {
  const head = head32(60, 520, 5);
  const { W, V, d } = head;
  for (const seed of [6, 7]) {
    const r = mulberry32(seed);
    const e = Float64Array.from({ length: V }, () => Math.exp(4 * r()));
    const sum = e.reduce((a, b) => a + b, 0);
    const p = e.map((x) => x / sum);
    const got = await centredGram(head, p);
    const wbar = new Float64Array(d);
    for (let v = 0; v < V; v++) for (let j = 0; j < d; j++) wbar[j] += p[v]! * W[v * d + j]!;
    let num = 0, den = 0;
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
      let c = 0;
      for (let v = 0; v < V; v++) c += p[v]! * (W[v * d + i]! - wbar[i]!) * (W[v * d + j]! - wbar[j]!);
      num += (got[i * d + j]! - c) ** 2;
      den += c * c;
      assert.equal(got[i * d + j], got[j * d + i]);
    }
    assert.ok(Math.sqrt(num / den) < 1e-5, `seed ${seed}: rel ${Math.sqrt(num / den)}`);
  }
});

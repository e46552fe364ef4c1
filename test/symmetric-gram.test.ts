import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../src/model/tiny-checkpoint.ts';
import { gramPanels, symmetricGram } from '../src/geometry/symmetric-gram.ts';
import { headCovariance, type LmHead } from '../src/fisher/metric.ts';

/** X·Xᵀ in float64 by the definition. */
function naiveGram(x: ArrayLike<number>, n: number, k: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += x[i * k + t] * x[j * k + t];
    out[i * n + j] = s;
  }
  return out;
}

function relFrob(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num / den);
}

test('gramPanels: increasing edges from 0 to n, one panel for small n', () => {
  assert.deepEqual(gramPanels(100), [0, 100]);
  assert.deepEqual(gramPanels(768), [0, 256, 512, 768]);
  assert.deepEqual(gramPanels(50, 16), [0, 16, 32, 50]);
  assert.deepEqual(gramPanels(20, 8), [0, 16, 20]);
});

test('symmetricGram: X·Xᵀ for one and several panels (float32 and float64), exactly symmetric', async () => {
  const r = mulberry32(7);
  const n = 50, k = 37;
  const x64 = Float64Array.from({ length: n * k }, () => r() - 0.5);
  const want = naiveGram(x64, n, k);
  for (const elem of ['float32', 'float64'] as const) for (const panelRows of [64, 16, 8]) {
    const edges = gramPanels(n, panelRows);
    const x = elem === 'float32' ? Float32Array.from(x64) : x64;
    const got = await symmetricGram(x, n, k, edges, 1);
    assert.ok(relFrob(got, want) < (elem === 'float32' ? 1e-6 : 1e-14), `${elem} ${edges}`);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assert.equal(got[i * n + j], got[j * n + i]);
  }
});

test('symmetricGram reads only the first n·k values (panels and suffixes are views of the array)', async () => {
  const r = mulberry32(9);
  const n = 40, k = 23;
  const x = Float64Array.from({ length: n * k + 5 }, () => r() - 0.5);
  x.fill(1e6, n * k);
  const got = await symmetricGram(x, n, k, gramPanels(n, 16), 1);
  assert.ok(relFrob(got, naiveGram(x, n, k)) < 1e-14);
  await assert.rejects(() => symmetricGram(x, n, k, [0, 16, 30]), /do not span/);
});

test('headCovariance with several panels (d = 520) equals Wᵀ(diag p − ppᵀ)W', async () => {
  const r = mulberry32(11);
  const V = 40, d = 520;
  const W = Float64Array.from({ length: V * d }, () => r() - 0.5);
  const z = Float64Array.from({ length: V }, () => 3 * r());
  const e = z.map(Math.exp);
  const sum = e.reduce((a, b) => a + b, 0);
  const p = e.map((v) => v / sum);
  const head: LmHead = { W, V, d };
  const got = await headCovariance(head, p);
  const want = new Float64Array(d * d);
  const wbar = new Float64Array(d);
  for (let v = 0; v < V; v++) for (let j = 0; j < d; j++) wbar[j] += p[v] * W[v * d + j];
  for (let v = 0; v < V; v++) for (let i = 0; i < d; i++) {
    const a = p[v] * (W[v * d + i] - wbar[i]);
    for (let j = 0; j < d; j++) want[i * d + j] += a * (W[v * d + j] - wbar[j]);
  }
  assert.ok(relFrob(got, want) < 1e-13, String(relFrob(got, want)));
});

import test from 'node:test';
import assert from 'node:assert/strict';
import { layerDiagnostics } from '../src/geometry/layer-diagnostics.ts';
import { mulberry32 } from '../src/util/random.ts';

test('diagnostics: closed forms on constructed representations', async () => {
  // Rows e_0, e_1, e_2, e_3 scaled by 1..4: norms 1..4, pairwise cosines 0, centred spectrum known.
  const d = 4;
  const x = new Float32Array(16);
  for (let i = 0; i < 4; i++) x[i * d + i] = i + 1;
  const r = await layerDiagnostics({ rows: 4, cols: d, data: x });
  assert.ok(Math.abs(r.meanNorm - 2.5) < 1e-12);
  assert.ok(Math.abs(r.medianNorm - 2.5) < 1e-12);
  assert.ok(Math.abs(r.anisotropy) < 1e-12, 'orthogonal rows: mean cosine 0');
  // Every row u: values (i+1) at one place, 0 elsewhere: kurtosis over d = 4 values = (1 + 3^4/... ) computed below.
  const kurt = (v: number[]): number => { const m = v.reduce((a, b) => a + b, 0) / v.length; const m2 = v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length; const m4 = v.reduce((a, b) => a + (b - m) ** 4, 0) / v.length; return m4 / (m2 * m2); };
  assert.ok(Math.abs(r.meanKurtosis - kurt([1, 0, 0, 0])) < 1e-12, 'kurtosis is scale-invariant: every row has the same');
  // Identical direction for all rows: anisotropy 1, effective rank of the centred matrix 1.
  const same = new Float32Array(5 * 3);
  for (let i = 0; i < 5; i++) { same[i * 3] = i + 1; same[i * 3 + 1] = 2 * (i + 1); }
  const s = await layerDiagnostics({ rows: 5, cols: 3, data: same });
  assert.ok(Math.abs(s.anisotropy - 1) < 1e-7);
  assert.ok(Math.abs(s.effectiveRank - 1) < 1e-6, `rank-1 data: ${s.effectiveRank}`);
});

test('diagnostics: isotropic Gaussian has effective rank near d and no outlier dimension; a planted one is found', async () => {
  const rand = mulberry32(3);
  const n = 2000, d = 16;
  const x = new Float32Array(n * d);
  for (let i = 0; i < x.length; i++) x[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const r = await layerDiagnostics({ rows: n, cols: d, data: x });
  assert.ok(r.effectiveRank > 15.5 && r.effectiveRank <= 16, `erank ${r.effectiveRank}`);
  assert.deepEqual(r.outlierDims, []);
  assert.ok(Math.abs(r.anisotropy) < 0.01);
  for (let i = 0; i < n; i++) x[i * d + 5] = x[i * d + 5]! * 30 + 50;
  const o = await layerDiagnostics({ rows: n, cols: d, data: x });
  assert.deepEqual(o.outlierDims, [5]);
  assert.ok(o.meanKurtosis > 10, `a dominating dimension makes rows heavy-tailed: ${o.meanKurtosis}`);
  // Anisotropy by its definition, every distinct pair.
  let sum = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
    let dot = 0, a = 0, b = 0;
    for (let t = 0; t < d; t++) { dot += x[i * d + t]! * x[j * d + t]!; a += x[i * d + t]! ** 2; b += x[j * d + t]! ** 2; }
    sum += dot / Math.sqrt(a * b);
  }
  const want = sum / ((n * (n - 1)) / 2);
  assert.ok(Math.abs(o.anisotropy - want) < 1e-9, `${o.anisotropy} vs ${want}`);
  assert.ok(o.anisotropy > 0.5, 'a large shared offset makes pairs nearly parallel');
});

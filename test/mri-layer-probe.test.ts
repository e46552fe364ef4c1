import test from 'node:test';
import assert from 'node:assert/strict';
import { layerProbe, meanCI } from '../src/mri/layer-probe.ts';
import { mulberry32 } from '../src/util/random.ts';

test('meanCI: Student-t interval written out', () => {
  const v = [0.8, 0.9, 0.85, 0.95, 0.7];
  const m = v.reduce((a, b) => a + b, 0) / 5;
  const s = Math.sqrt(v.reduce((a, x) => a + (x - m) ** 2, 0) / 4);
  const { mean, ci } = meanCI(v);
  assert.ok(Math.abs(mean - m) < 1e-15);
  assert.ok(Math.abs(ci[1] - (m + (2.776 * s) / Math.sqrt(5))) < 1e-12);
});

test('layer probe: separable classes reach accuracy 1 while the shuffled-label control stays near chance', () => {
  const rand = mulberry32(5);
  const n = 120, d = 6;
  const labels = Array.from({ length: n }, (_, i) => i % 3);
  const x = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = (rand() - 0.5) * 0.5 + (j === labels[i] ? 3 : 0);
  const r = layerProbe({ rows: n, cols: d, data: x }, labels);
  assert.equal(r.accuracy, 1);
  assert.equal(r.splits.length, 5);
  assert.ok(r.control!.accuracy < 0.6, `control ${r.control!.accuracy}`);
  assert.ok(r.selectivity! > 0.4);
  assert.ok(r.ci[0] <= r.accuracy && r.accuracy <= r.ci[1]);
  assert.throws(() => layerProbe({ rows: n, cols: d, data: x }, labels.map(() => 0)), /at least 2 distinct labels/);
});

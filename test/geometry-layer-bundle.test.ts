/**
 * Maps aligned across layers (src/geometry/layer-bundle.ts): a layer that is an orthogonal transform of the
 * previous one lands exactly on it; every aligned PCA map keeps the shape of that layer's own PCA map (pairwise
 * distances equal up to one scale factor) and the first layer's spread.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignedLayerMaps } from '../src/geometry/layer-bundle.ts';
import { reduce } from '../src/geometry/reduce.ts';
import { Rng } from '../src/geometry/rng.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

const N = 40, D = 6;
const rng = new Rng(3);
const rand = () => { const x = new Float64Array(N * D); for (let i = 0; i < x.length; i++) x[i] = rng.normal() * (1 + (i % D)); return { rows: N, cols: D, data: x }; };
/** x · Q for a Givens rotation Q in the plane of axes 0 and 1 followed by a flip of axis 2. */
const turned = (x: Matrix<Float64Array>): Matrix<Float64Array> => {
  const y = Float64Array.from(x.data), c = Math.cos(0.7), s = Math.sin(0.7);
  for (let i = 0; i < N; i++) {
    const a = x.data[i * D], b = x.data[i * D + 1];
    y[i * D] = c * a - s * b; y[i * D + 1] = s * a + c * b; y[i * D + 2] = -x.data[i * D + 2];
  }
  return { rows: N, cols: D, data: y };
};
const dists = (m: Matrix) => { const d: number[] = []; for (let i = 0; i < N; i++) for (let j = i + 1; j < N; j++) d.push(Math.hypot(m.data[i * m.cols] - m.data[j * m.cols], m.data[i * m.cols + 1] - m.data[j * m.cols + 1])); return d; };
const spread = (m: Matrix) => { let mx = 0, my = 0, s = 0; for (let i = 0; i < N; i++) { mx += m.data[2 * i] / N; my += m.data[2 * i + 1] / N; } for (let i = 0; i < N; i++) s += (m.data[2 * i] - mx) ** 2 + (m.data[2 * i + 1] - my) ** 2; return Math.sqrt(s); };

test('a rotated copy of a layer lands on it; other layers keep their own shape and the first spread', async () => {
  const x0 = rand(), x2 = rand();
  const { maps, disparity } = await alignedLayerMaps([x0, turned(x0), x2], { method: 'pca' });
  for (let i = 0; i < N * 2; i++) assert.ok(Math.abs(maps[1].data[i] - maps[0].data[i]) < 1e-8, `coordinate ${i}`);
  assert.ok(disparity[1]! < 1e-12);
  assert.ok(disparity[2]! > 0.01, 'an unrelated layer has a visible disparity');
  const own = (await reduce(x2, { method: 'pca' })).embedding;
  const a = dists(maps[2]), b = dists(own);
  const ratio = a[0] / b[0];
  for (let p = 0; p < a.length; p++) assert.ok(Math.abs(a[p] - ratio * b[p]) < 1e-8 * (1 + a[p]), `pair ${p}`);
  assert.ok(Math.abs(spread(maps[2]) - spread(maps[0])) < 1e-8 * spread(maps[0]));
});

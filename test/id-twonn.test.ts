import { test } from 'node:test';
import assert from 'node:assert/strict';
import { knn } from '../src/geometry/knn.ts';
import { twoNN, twoNNFromKnn, twoNNFromMus, idScaling2NN, roundHalfEven, sortFloat64 } from '../src/geometry/twonn.ts';
import { AtlasError } from '../src/errors.ts';
import type { Matrix } from '../src/geometry/matrix.ts';
import { rng, uniformCube, uniformSphere } from './id-synthetic.ts';

const near = (a: number, b: number, rel: number, what: string) => assert.ok(Math.abs(a - b) <= rel * Math.abs(b), `${what}: ${a} vs ${b} (±${rel * 100}%)`);

test('TwoNN base fit equals a hand-computed least-squares slope through the origin; ml is (N−1)/Σlog μ', () => {
  const mus = Float64Array.from([1.9, 1.1, 1.35, 3.2, 1.05, 1.6, 2.4, 1.22, 1.48, 7.5]);
  // Hand computation: sorted log μ, keep ⌊10·0.9⌋ = 9, y_j = −log(1 − j/10).
  const x = [...mus].map(Math.log).sort((a, b) => a - b).slice(0, 9);
  let sxy = 0, sxx = 0;
  x.forEach((xi, j) => { const y = -Math.log(1 - (j + 1) / 10); sxy += xi * y; sxx += xi * xi; });
  assert.ok(Math.abs(twoNNFromMus(mus) - sxy / sxx) < 1e-12);
  // A different fraction keeps a different number of points: ⌊10·0.5⌋ = 5.
  let a = 0, b = 0;
  x.slice(0, 5).forEach((xi, j) => { const y = -Math.log(1 - (j + 1) / 10); a += xi * y; b += xi * xi; });
  assert.ok(Math.abs(twoNNFromMus(mus, 0.5) - a / b) < 1e-12);
  const ml = 9 / [...mus].reduce((s, m) => s + Math.log(m), 0);
  assert.ok(Math.abs(twoNNFromMus(mus, 0.9, 'ml') - ml) < 1e-12);
});

test('TwoNN recovers d from exact Pareto ratios (P(μ > x) = x^−d), d = 2, 5, 10', () => {
  for (const d of [2, 5, 10]) {
    const u = rng(10 + d);
    const mus = Float64Array.from({ length: 20000 }, () => (1 - u()) ** (-1 / d));
    near(twoNNFromMus(mus), d, 0.03, `base d=${d}`);
    near(twoNNFromMus(mus, 0.9, 'ml'), d, 0.03, `ml d=${d}`);
  }
});

test('TwoNN on uniform manifolds: sphere d = 2, 5 and cube d = 2 within a few percent; cube d = 5 on interior points', async () => {
  for (const d of [2, 5]) {
    const r = await twoNN(uniformSphere(4000, d, d + 6, 20 + d));
    near(r.id, d, 0.05, `sphere d=${d}`);
    assert.equal(r.error, 0);
  }
  near((await twoNN(uniformCube(4000, 2, 8, 31))).id, 2, 0.05, 'cube d=2');
  // The cube's boundary biases TwoNN low (neighbourhoods are cut off); points whose second-neighbour ball lies
  // inside the cube see a homogeneous process, and their μ follow the Pareto law exactly.
  const n = 6000, d = 5;
  const X = uniformCube(n, d, 11, 41);
  const raw = Float64Array.from({ length: n * d }, rng(41));
  const nn = await knn(X, { k: 2 });
  const all = twoNNFromKnn(nn);
  const inner: number[] = [];
  for (let i = 0; i < n; i++) {
    let wall = Infinity;
    for (let c = 0; c < d; c++) wall = Math.min(wall, raw[i * d + c], 1 - raw[i * d + c]);
    if (nn.distances[i * 2 + 1] < wall) inner.push(all.mus[i]);
  }
  assert.ok(inner.length > 1000, `${inner.length} interior points`);
  near(twoNNFromMus(Float64Array.from(inner), 0.9, 'ml'), d, 0.06, 'cube d=5 interior');
  assert.ok(all.id < d, 'boundary bias is downwards');
});

test('TwoNN scale is the mean of r1 and r2; muFraction = 1 switches to ml', async () => {
  const X = uniformSphere(300, 2, 5, 3);
  const nn = await knn(X, { k: 2 });
  const r = twoNNFromKnn(nn);
  let s = 0;
  for (let i = 0; i < 300; i++) s += (nn.distances[2 * i] + nn.distances[2 * i + 1]) / 2;
  assert.ok(Math.abs(r.scale - s / 300) < 1e-12);
  assert.equal(twoNNFromKnn(nn, { muFraction: 1 }).id, twoNNFromKnn(nn, { algorithm: 'ml' }).id);
});

test('TwoNN refuses identical points by name; duplicates: remove drops them', async () => {
  const X = uniformSphere(200, 2, 4, 5);
  const data = Float64Array.from(X.data);
  data.set(data.subarray(4 * 7, 4 * 8), 4 * 150); // row 150 := row 7
  const Y: Matrix = { rows: 200, cols: 4, data };
  await assert.rejects(twoNN(Y), (e: unknown) => e instanceof AtlasError && /point 7/.test(e.message) && /identical/.test(e.message));
  const r = await twoNN(Y, { duplicates: 'remove' });
  assert.equal(r.n, 199);
  assert.ok(Number.isFinite(r.id));
  await assert.rejects(twoNN(X, { muFraction: 0 }), AtlasError);
});

test('roundHalfEven matches numpy rint', () => {
  assert.deepEqual([0.5, 1.5, 2.5, 312.5, 62.5, 2.4, 2.6, 7].map(roundHalfEven), [0, 2, 2, 312, 62, 2, 3, 7]);
});

test('idScaling2NN: DADApy decimation sizes and repeats, sensible IDs, errors and growing scales', async () => {
  const X = uniformSphere(1000, 2, 5, 7);
  const s = await idScaling2NN(X);
  assert.deepEqual(Array.from(s.sizes), [1000, 500, 250, 125, 62, 31, 16]);
  assert.deepEqual(Array.from(s.repeats), [1, 2, 4, 8, 16, 32, 62]);
  assert.equal(s.errors[0], 0);
  for (let i = 1; i < s.ids.length; i++) assert.ok(s.errors[i] > 0 && s.errors[i] < 0.5, `error ${i}: ${s.errors[i]}`);
  for (let i = 0; i < 5; i++) near(s.ids[i], 2, 0.12, `level ${i}`);
  for (let i = 1; i < s.scales.length; i++) assert.ok(s.scales[i] > s.scales[i - 1], 'scales grow as the data is decimated');
  // Deterministic for a seed.
  const again = await idScaling2NN(X);
  assert.deepEqual(again.ids, s.ids);
  const nMin = await idScaling2NN(X, { nMin: 100 });
  assert.deepEqual(Array.from(nMin.sizes), [1000, 500, 250, 125]);
});

test('sortFloat64 (radix) orders exactly as Float64Array.prototype.sort: signs, ±0, ties, subnormals, huge', () => {
  let seed = 7;
  const u = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const kinds: ((i: number) => number)[] = [
    () => Math.log(1 + 3 * u()),
    () => (u() - 0.5) * 1e10,
    () => Math.round(u() * 5) - 2,
    (i) => (i % 2 ? -0 : 0),
    () => (u() - 0.5) * 1e-310,
    () => (u() < 0.1 ? Infinity : u() < 0.1 ? -Infinity : u() - 0.5),
  ];
  for (const n of [5, 700, 5000]) for (const kind of kinds) {
    const a = Float64Array.from({ length: n }, (_, i) => kind(i));
    const want = Float64Array.from(a).sort();
    const got = sortFloat64(a);
    assert.equal(got, a, 'in place');
    for (let i = 0; i < n; i++) assert.ok(Object.is(got[i], want[i]), `n=${n} at ${i}: ${got[i]} vs ${want[i]}`);
  }
});

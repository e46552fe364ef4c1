import { test } from 'node:test';
import assert from 'node:assert/strict';
import { knn } from '../src/geometry/knn.ts';
import { gride, grideFromKnn, grideFromMus, idScalingGride, grideRanks, filterMus, percentileSorted, percentileSelect } from '../src/geometry/gride.ts';
import { AtlasError } from '../src/errors.ts';
import type { Matrix } from '../src/geometry/matrix.ts';
import { rng, uniformCube, uniformSphere } from './id-synthetic.ts';

const near = (a: number, b: number, rel: number, what: string) => assert.ok(Math.abs(a - b) <= rel * Math.abs(b), `${what}: ${a} vs ${b} (±${rel * 100}%)`);
const EPS64 = 2 ** -52;

/**
 * Exact Gride ratios: for a homogeneous d-dimensional Poisson process, (r_n1/r_n2)^d ~ Beta(n1, n2 − n1),
 * i.e. G_a/(G_a + G_b) with Gamma(n1) and Gamma(n2 − n1) variables (sums of exponentials).
 */
function grideSamples(n: number, d: number, n1: number, n2: number, seed: number): Float64Array {
  const u = rng(seed);
  const gamma = (a: number) => { let s = 0; for (let i = 0; i < a; i++) s -= Math.log(1 - u()); return s; };
  return Float64Array.from({ length: n }, () => { const a = gamma(n1); const b = gamma(n2 - n1); return (a / (a + b)) ** (-1 / d); });
}

/** DADApy's objective: (N−1) log d + (n2−n1−1) Σ log(μ^d − 1) − (n2−1) d Σ log μ. */
function objective(d: number, mus: Float64Array, n1: number, n2: number, weightLogD: number): number {
  let s = weightLogD * Math.log(d);
  for (const m of mus) s += (n2 - n1 - 1) * Math.log(m ** d - 1) - (n2 - 1) * d * Math.log(m);
  return s;
}

/** Golden-section maximisation on [a, b] (unimodal objective). */
function golden(f: (x: number) => number, a: number, b: number): number {
  const r = (Math.sqrt(5) - 1) / 2;
  let c = b - r * (b - a), d = a + r * (b - a);
  let fc = f(c), fd = f(d);
  while (b - a > 1e-10) {
    if (fc > fd) { b = d; d = c; fd = fc; c = b - r * (b - a); fc = f(c); }
    else { a = c; c = d; fc = fd; d = a + r * (b - a); fd = f(d); }
  }
  return (a + b) / 2;
}

test('Gride recovers d from exact ratio distributions (d = 2, 5, 10; n1/n2 = 1/2, 4/8)', () => {
  for (const d of [2, 5, 10]) for (const [n1, n2] of [[1, 2], [4, 8]]) {
    const mus = grideSamples(6000, d, n1, n2, 100 * d + n1);
    near(grideFromMus(mus, n1, n2, EPS64).id, d, 0.03, `d=${d} n1=${n1}`);
  }
});

test('Gride estimate is the maximum of its likelihood (golden-section search on the same objective)', () => {
  for (const [d, n1, n2] of [[3, 1, 2], [7, 2, 4], [4, 8, 16], [5, 1, 3]]) {
    const mus = grideSamples(2000, d, n1, n2, 7 + d);
    const kept = filterMus(Float64Array.from(mus), EPS64);
    const best = golden((x) => objective(x, kept, n1, n2, kept.length - 1), 0.01, 100);
    const est = grideFromMus(Float64Array.from(mus), n1, n2, EPS64).id;
    assert.ok(Math.abs(est - best) < 2e-6, `n1=${n1} n2=${n2}: ${est} vs ${best}`);
  }
});

test('Gride error is 1/√(observed Fisher information): finite-difference curvature of the log-likelihood', () => {
  for (const [d, n1] of [[2, 1], [6, 4]]) {
    const n2 = 2 * n1;
    const mus = grideSamples(3000, d, n1, n2, 50 + d);
    const { id, error } = grideFromMus(Float64Array.from(mus), n1, n2, EPS64);
    // Full log-likelihood with N log d (the constant log B does not affect the curvature).
    const ll = (x: number) => objective(x, mus, n1, n2, mus.length);
    const h = 1e-3 * id;
    const curvature = -(ll(id + h) - 2 * ll(id) + ll(id - h)) / (h * h);
    near(error, 1 / Math.sqrt(curvature), 1e-5, `error d=${d}`);
    // And it is the right size: ~ d/√N for n1 = 1.
    if (n1 === 1) near(error, d / Math.sqrt(mus.length), 0.1, 'error magnitude');
  }
});

test('filterMus nudges μ = 1 and drops μ ≥ q50 + 20(q95 − q50) (numpy linear percentiles)', () => {
  const sorted = Float64Array.from([1, 2, 3, 4, 10]);
  assert.equal(percentileSorted(sorted, 50), 3);
  assert.ok(Math.abs(percentileSorted(sorted, 95) - 8.8) < 1e-12); // h = 3.8: 4 + 0.8·6
  assert.equal(percentileSorted(sorted, 25), 2);
  const mus = Float64Array.from([...Array.from({ length: 40 }, (_, i) => 1 + i / 40), 1, 100]);
  const kept = filterMus(mus, EPS64);
  assert.equal(mus[40], 1 + 10 * EPS64);
  assert.equal(kept.length, 41); // 100 dropped
  assert.ok(!kept.includes(100));
});

test('Gride on uniform manifolds: sphere d = 2, 5 and cube d = 2 within a few percent at the smallest scale', async () => {
  for (const d of [2, 5]) near((await gride(uniformSphere(4000, d, d + 6, 60 + d))).id, d, 0.05, `sphere d=${d}`);
  near((await gride(uniformCube(4000, 2, 8, 71))).id, 2, 0.05, 'cube d=2');
});

test('idScalingGride: DADApy ranks (n2 = 2 … 64), scales = mean (r_n1 + r_n2)/2, consistent with single-scale gride', async () => {
  assert.deepEqual(Array.from(grideRanks(10000)), [2, 4, 8, 16, 32, 64]);
  assert.deepEqual(Array.from(grideRanks(40)), [2, 4, 8, 16, 32]);
  assert.deepEqual(Array.from(grideRanks(1000, 100)), [2, 4, 8, 16, 32, 64]);
  const X = uniformSphere(1500, 2, 5, 9);
  const nn = await knn(X, { k: 64 });
  const s = await idScalingGride(nn);
  assert.equal(s.ids.length, 6);
  for (let i = 0; i < 6; i++) {
    const n1 = 2 ** i;
    const single = grideFromKnn(nn, { n1, n2: 2 * n1 });
    assert.equal(s.ids[i], single.id);
    assert.equal(s.errors[i], single.error);
    let m = 0;
    for (let p = 0; p < 1500; p++) m += (nn.distances[p * 64 + n1 - 1] + nn.distances[p * 64 + 2 * n1 - 1]) / 2;
    assert.ok(Math.abs(s.scales[i] - m / 1500) < 1e-12);
    near(s.ids[i], 2, 0.08, `scale ${i}`);
  }
  // From coordinates it computes the same table itself.
  assert.deepEqual((await idScalingGride(X)).ids, s.ids);
  // A table with fewer neighbours caps the ranks, as DADApy does.
  assert.deepEqual(Array.from((await idScalingGride(await knn(X, { k: 20 }))).ranks), [2, 4, 8, 16]);
});

test('Gride refuses zero neighbour distances; duplicates: remove works', async () => {
  const X = uniformSphere(300, 2, 4, 5);
  const data = Float64Array.from(X.data);
  data.set(data.subarray(0, 4), 4 * 299);
  const Y: Matrix = { rows: 300, cols: 4, data };
  await assert.rejects(gride(Y), (e: unknown) => e instanceof AtlasError && /distance 0/.test(e.message));
  const r = await gride(Y, { duplicates: 'remove' });
  assert.ok(Number.isFinite(r.id) && Number.isFinite(r.error));
  assert.throws(() => grideFromMus(Float64Array.from([1.5, 2]), 1, 2, EPS64, { d0: 5, d1: 1 }), AtlasError);
});

test('Gride root: the replayed bisection equals DADApy\'s plain bisection bit for bit', () => {
  // DADApy _argmax_loglik, written out: g(d1) once, then halve [d0, d1] until it is ≤ eps.
  const plain = (mus: Float64Array, n1: number, n2: number, eps: number) => {
    const n = mus.length;
    const g = (d: number) => {
      let s = 0;
      for (const m of mus) s += ((1 - n2 + n1) / Math.max(1 - m ** -d, 2 * eps) + n2 - 1) * Math.log(m);
      return s - (n - 1) / d;
    };
    let d0 = 0.001, d1 = 1000;
    const l1 = g(d1);
    while (Math.abs(d0 - d1) > eps) {
      const d2 = (d0 + d1) / 2;
      if (g(d2) * l1 > 0) d1 = d2;
      else d0 = d2;
    }
    return (d0 + d1) / 2;
  };
  let cases = 0;
  for (const d of [0.5, 1, 3, 12, 60]) for (const [n1, n2] of [[1, 2], [2, 4], [16, 32], [1, 5]]) for (const n of [5, 300, 4000]) {
    const mus = grideSamples(n, d, n1, n2, 17 * d + n1 + n);
    const kept = filterMus(Float64Array.from(mus), EPS64);
    const ours = grideFromMus(Float64Array.from(mus), n1, n2, EPS64).id;
    assert.equal(ours, plain(kept, n1, n2, 1e-7), `d=${d} n1=${n1} n2=${n2} N=${n}`);
    cases++;
  }
  // Root outside [d0, d1] on either side, and many μ = 1 (the 2·eps floor).
  const huge = Float64Array.from({ length: 200 }, (_, i) => 1 + 1e-9 * (i + 1));
  assert.equal(grideFromMus(Float64Array.from(huge), 1, 2, EPS64).id, plain(filterMus(Float64Array.from(huge), EPS64), 1, 2, 1e-7));
  const tiny = Float64Array.from({ length: 200 }, (_, i) => 1e6 + i);
  assert.equal(grideFromMus(Float64Array.from(tiny), 1, 2, EPS64).id, plain(filterMus(Float64Array.from(tiny), EPS64), 1, 2, 1e-7));
  const ties = Float64Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? 1 : 1 + (i % 17) / 10));
  assert.equal(grideFromMus(Float64Array.from(ties), 2, 4, EPS64).id, plain(filterMus(Float64Array.from(ties), EPS64), 2, 4, 1e-7));
  assert.equal(cases, 60);
});

/**
 * Issue 15 item 10b. DADApy casts the coordinates to float64 (so its distances are float64 and np.finfo gives
 * 2⁻⁵²): μ = 1 from tied neighbour distances is nudged by 10·2⁻⁵², not by float32's 10·2⁻²³. Here the whole
 * DADApy computation is written out independently on a jittered float32 lattice, whose rounding leaves many
 * exact ties.
 */
test('Gride on float32 input with tied distances follows DADApy (float64 cast, float64 epsilon)', async () => {
  const side = 40;
  const u = rng(2024);
  const x32 = new Float32Array(side * side * 2);
  for (let i = 0; i < side; i++) for (let j = 0; j < side; j++) {
    // Jitter of about one float32 ulp at 16–40: about half the coordinates stay exactly on the lattice.
    x32[(i * side + j) * 2] = i + (u() < 0.5 ? 0 : (u() - 0.5) * 8e-6);
    x32[(i * side + j) * 2 + 1] = j + (u() < 0.5 ? 0 : (u() - 0.5) * 8e-6);
  }
  const n = side * side;
  const X: Matrix<Float32Array> = { rows: n, cols: 2, data: x32 };
  // DADApy: X.astype(float64), sorted float64 distances (ties in index order, which does not change the values).
  const x = Float64Array.from(x32);
  const sorted: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    const dist: number[] = [];
    for (let j = 0; j < n; j++) if (j !== i) dist.push(Math.sqrt((x[2 * i] - x[2 * j]) ** 2 + (x[2 * i + 1] - x[2 * j + 1]) ** 2));
    sorted.push(Float64Array.from(dist).sort());
  }
  const eps64 = 2 ** -52, bisectEps = 1e-7;
  const percentile = (s: Float64Array, q: number) => {
    const h = ((s.length - 1) * q) / 100, lo = Math.floor(h), t = h - lo;
    const a = s[lo], b = s[Math.min(lo + 1, s.length - 1)];
    return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
  };
  const ours = await idScalingGride(X);
  let tiedTotal = 0;
  ours.ranks.forEach((n2, s) => {
    const n1 = n2 / 2;
    const mus = Float64Array.from(sorted, (r) => r[n2 - 1] / Math.max(r[n1 - 1], eps64));
    let tied = 0;
    for (let i = 0; i < n; i++) if (mus[i] === 1) { mus[i] += 10 * eps64; tied++; }
    tiedTotal += tied;
    const srt = Float64Array.from(mus).sort();
    const muMax = 20 * (percentile(srt, 95) - percentile(srt, 50)) + percentile(srt, 50);
    const kept = mus.filter((m) => m < muMax);
    const N = kept.length;
    const g = (d: number) => {
      let acc = 0;
      for (const m of kept) acc += ((1 - n2 + n1) / Math.max(1 - m ** -d, 2 * bisectEps) + n2 - 1) * Math.log(m);
      return acc - (N - 1) / d;
    };
    let d0 = 0.001, d1 = 1000;
    const l1 = g(d1);
    while (Math.abs(d0 - d1) > bisectEps) {
      const d2 = (d0 + d1) / 2;
      if (g(d2) * l1 > 0) d1 = d2;
      else d0 = d2;
    }
    const id = (d0 + d1) / 2;
    // DADApy _fisher_info_scaling on all (nudged, unfiltered) μ.
    let j = mus.length / (id * id);
    for (const m of mus) {
      const p = m ** -id;
      const f = Math.log(m) / Math.max(1 - p, 5 * eps64);
      j += (2 * n1 - n1 - 1) * f * f * p;
    }
    assert.equal(ours.ids[s], id, `n2 = ${n2}: ID ${ours.ids[s]} vs DADApy ${id}`);
    assert.ok(Math.abs(ours.errors[s] - 1 / Math.sqrt(j)) <= 1e-12 * (1 / Math.sqrt(j)), `n2 = ${n2}: error`);
  });
  assert.ok(tiedTotal > 100, `the lattice must produce tied distances (μ = 1): ${tiedTotal}`);
});

test('percentileSelect (quickselect) equals percentileSorted on random data with ties', () => {
  const u = rng(99);
  for (const n of [1, 2, 3, 10, 101, 1000, 4097]) for (const q of [0, 5, 50, 95, 100]) {
    const a = Float64Array.from({ length: n }, () => (u() < 0.3 ? 1 : Math.floor(u() * 50) / 7));
    assert.equal(percentileSelect(Float64Array.from(a), q), percentileSorted(Float64Array.from(a).sort(), q), `n=${n} q=${q}`);
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitLogistic, logisticObjective, predict, predictProba } from '../src/mri/logistic.ts';
import { lbfgs } from '../src/mri/lbfgs.ts';
import { approximateMode, applyScaler, fitStandardScaler, stratifiedShuffleSplit } from '../src/mri/split.ts';
import { classificationScores } from '../src/mri/classification-metrics.ts';
import { evaluateProbe } from '../src/mri/probe.ts';
import { Rng } from '../src/geometry/rng.ts';
import { isAtlasError } from '../src/errors.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

const atlasError = (re: RegExp) => (e: unknown) => isAtlasError(e) && re.test((e as Error).message);

/** Gaussian blobs: class k centred at `sep`·e_k (+ noise). */
function blobs(perClass: number, K: number, d: number, sep: number, seed: number): { x: Matrix<Float64Array>; y: number[] } {
  const rng = new Rng(seed);
  const n = perClass * K;
  const data = new Float64Array(n * d);
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % K;
    y.push(k);
    for (let j = 0; j < d; j++) data[i * d + j] = rng.normal() + (j === k ? sep : 0);
  }
  return { x: { rows: n, cols: d, data }, y };
}

test('L-BFGS minimises a badly scaled quadratic and the Rosenbrock function', () => {
  const scales = [1, 10, 100, 1000];
  const quad = lbfgs((x, g) => {
    let f = 0;
    x.forEach((v, i) => {
      f += 0.5 * scales[i]! * (v - i) ** 2;
      g[i] = scales[i]! * (v - i);
    });
    return f;
  }, new Float64Array(4), { gtol: 1e-10, maxIter: 200 });
  assert.ok(quad.converged);
  quad.x.forEach((v, i) => assert.ok(Math.abs(v - i) < 1e-9, `x[${i}] = ${v}`));
  const rosen = lbfgs((x, g) => {
    const [a, b] = [x[0]!, x[1]!];
    g[0] = -2 * (1 - a) - 400 * a * (b - a * a);
    g[1] = 200 * (b - a * a);
    return (1 - a) ** 2 + 100 * (b - a * a) ** 2;
  }, Float64Array.of(-1.2, 1), { gtol: 1e-9, maxIter: 500, ftol: 0 });
  assert.ok(Math.abs(rosen.x[0]! - 1) < 1e-6 && Math.abs(rosen.x[1]! - 1) < 1e-6, `${rosen.x}`);
});

test('logistic objective: analytic gradient equals central finite differences (binary and multinomial)', () => {
  for (const K of [2, 3]) {
    const { x, y } = blobs(6, K, 4, 1, 11 + K);
    const f = logisticObjective(x, Int32Array.from(y), K, 0.7);
    const R = K === 2 ? 1 : K;
    const rng = new Rng(1);
    const theta = Float64Array.from({ length: R * 4 + R }, () => rng.normal() * 0.5);
    const g = new Float64Array(theta.length);
    f(theta, g);
    const h = 1e-6;
    const tmp = new Float64Array(theta.length);
    for (let i = 0; i < theta.length; i++) {
      const p = Float64Array.from(theta); p[i]! += h;
      const m = Float64Array.from(theta); m[i]! -= h;
      const fd = (f(p, tmp) - f(m, tmp)) / (2 * h);
      assert.ok(Math.abs(fd - g[i]!) < 1e-7, `K=${K} grad[${i}]: ${g[i]} vs ${fd}`);
    }
  }
});

/** Solves A x = b (dense, partial pivoting). */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((r, i) => [...r, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    [M[c], M[p]] = [M[p]!, M[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = M[r]![c]! / M[c]![c]!;
      for (let k = c; k <= n; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  const out = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= M[r]![k]! * out[k]!;
    out[r] = s / M[r]![r]!;
  }
  return out;
}

/**
 * Independent float64 reference: Newton's method with the exact Hessian of
 *   (1/n) Σ CE_i + 1/(2Cn) ‖W‖²
 * in the parametrisation θ_k = [w_k, b_k] per class (multinomial) or one [w, b] (binary). The intercepts'
 * shift invariance (multinomial) is removed by adding 𝟙𝟙ᵀ on the intercept block, which keeps Σ b_k = 0 — the
 * subspace L-BFGS started at zero never leaves.
 */
function newtonReference(x: Matrix<Float64Array>, y: number[], K: number, C: number): { W: number[][]; b: number[] } {
  const n = x.rows, d = x.cols;
  const R = K === 2 ? 1 : K;
  const P = R * (d + 1);
  const theta = new Array<number>(P).fill(0);
  const feat = (i: number) => [...Array.from(x.data.subarray(i * d, (i + 1) * d)), 1];
  for (let it = 0; it < 50; it++) {
    const g = new Array<number>(P).fill(0);
    const H = Array.from({ length: P }, () => new Array<number>(P).fill(0));
    for (let i = 0; i < n; i++) {
      const xi = feat(i);
      const z = Array.from({ length: R }, (_, k) => xi.reduce((s, v, j) => s + v * theta[k * (d + 1) + j]!, 0));
      let p: number[];
      if (K === 2) p = [1 / (1 + Math.exp(-z[0]!))];
      else {
        const mx = Math.max(...z);
        const e = z.map((v) => Math.exp(v - mx));
        const s = e.reduce((a, b) => a + b, 0);
        p = e.map((v) => v / s);
      }
      for (let k = 0; k < R; k++) {
        const target = K === 2 ? (y[i] === 1 ? 1 : 0) : y[i] === k ? 1 : 0;
        for (let j = 0; j <= d; j++) g[k * (d + 1) + j]! += ((p[k]! - target) * xi[j]!) / n;
        for (let l = 0; l < R; l++) {
          const w = K === 2 ? p[0]! * (1 - p[0]!) : (k === l ? p[k]! : 0) - p[k]! * p[l]!;
          for (let a = 0; a <= d; a++) for (let c = 0; c <= d; c++) H[k * (d + 1) + a]![l * (d + 1) + c]! += (w * xi[a]! * xi[c]!) / n;
        }
      }
    }
    for (let k = 0; k < R; k++)
      for (let j = 0; j < d; j++) {
        const q = k * (d + 1) + j;
        g[q]! += theta[q]! / (C * n);
        H[q]![q]! += 1 / (C * n);
      }
    if (K > 2) for (let k = 0; k < R; k++) for (let l = 0; l < R; l++) H[k * (d + 1) + d]![l * (d + 1) + d]! += 1;
    const step = solve(H, g);
    for (let q = 0; q < P; q++) theta[q]! -= step[q]!;
    if (Math.max(...step.map(Math.abs)) < 1e-14) break;
  }
  return {
    W: Array.from({ length: R }, (_, k) => theta.slice(k * (d + 1), k * (d + 1) + d)),
    b: Array.from({ length: R }, (_, k) => theta[k * (d + 1) + d]!),
  };
}

test('logistic regression matches a float64 Newton reference fit (multinomial and binary)', () => {
  for (const [K, C] of [[3, 1.0], [2, 1.0], [4, 0.3]] as const) {
    const { x, y } = blobs(7, K, 3, 1.2, 40 + K);
    const model = fitLogistic(x, y, { C, tol: 1e-10, maxIter: 1000 });
    assert.ok(model.converged);
    const ref = newtonReference(x, y, K, C);
    assert.equal(model.coefRows, K === 2 ? 1 : K);
    for (let k = 0; k < model.coefRows; k++) {
      for (let j = 0; j < 3; j++) assert.ok(Math.abs(model.coef[k * 3 + j]! - ref.W[k]![j]!) < 1e-6, `K=${K} coef[${k}][${j}] ${model.coef[k * 3 + j]} vs ${ref.W[k]![j]}`);
      assert.ok(Math.abs(model.intercept[k]! - ref.b[k]!) < 1e-6, `K=${K} intercept[${k}]`);
    }
    // probabilities are a distribution
    const p = predictProba(model, x);
    for (let i = 0; i < x.rows; i++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += p[i * K + k]!;
      assert.ok(Math.abs(s - 1) < 1e-12);
    }
  }
});

test('logistic regression reaches ≥ 0.95 accuracy on separable data with the default settings', () => {
  const train = blobs(60, 3, 10, 6, 1);
  const test = blobs(40, 3, 10, 6, 2);
  const model = fitLogistic(train.x, train.y); // C = 1, max_iter = 100, tol = 1e-4 (scikit-learn defaults)
  const acc = classificationScores(test.y, predict(model, test.x), ['accuracy']).accuracy!;
  assert.ok(acc >= 0.95, `accuracy ${acc}`);
  // labels need not be 0..K-1: arbitrary class values come back as given
  const shifted = fitLogistic(train.x, train.y.map((v) => v * 10 + 5));
  assert.deepEqual(shifted.classes, [5, 15, 25]);
  assert.deepEqual(predict(shifted, test.x).slice(0, 6), predict(model, test.x).slice(0, 6).map((v) => v * 10 + 5));
  assert.throws(() => fitLogistic(train.x, train.y.map(() => 1)), atlasError(/single class/));
  assert.throws(() => fitLogistic(train.x, train.y.slice(1)), atlasError(/rows but y has/));
});

test('classification scores equal hand-computed values (scikit-learn definitions, zero_division 0)', () => {
  const yTrue = [0, 0, 0, 1, 1, 2];
  const yPred = [0, 0, 1, 1, 0, 0];
  const s = classificationScores(yTrue, yPred);
  // per class: precision [2/4, 1/2, 0], recall [2/3, 1/2, 0], f1 [4/7, 1/2, 0]; supports [3, 2, 1]
  assert.ok(Math.abs(s.accuracy! - 3 / 6) < 1e-15);
  assert.ok(Math.abs(s.precision_macro! - (0.5 + 0.5 + 0) / 3) < 1e-15);
  assert.ok(Math.abs(s.recall_macro! - (2 / 3 + 0.5) / 3) < 1e-15);
  assert.ok(Math.abs(s.f1_macro! - (4 / 7 + 0.5) / 3) < 1e-15);
  assert.ok(Math.abs(s.f1_weighted! - (3 * (4 / 7) + 2 * 0.5) / 6) < 1e-15);
  assert.ok(Math.abs(s.recall_weighted! - 0.5) < 1e-15, 'weighted recall = accuracy');
  assert.ok(Math.abs(s.balanced_accuracy! - (2 / 3 + 0.5 + 0) / 3) < 1e-15);
  // a predicted class absent from y_true counts in macro averages but not in balanced accuracy
  const t = classificationScores([0, 0, 1, 1], [0, 2, 1, 1]);
  assert.ok(Math.abs(t.recall_macro! - (0.5 + 1 + 0) / 3) < 1e-15);
  assert.ok(Math.abs(t.balanced_accuracy! - 0.75) < 1e-15);
});

test('stratified shuffle split: scikit-learn sizes, disjoint sets, determinism, errors', () => {
  const labels = [...new Array(10).fill(0), ...new Array(7).fill(1), ...new Array(3).fill(2)];
  const splits = stratifiedShuffleSplit(labels, { nSplits: 5, testSize: 0.3, seed: 42 });
  assert.equal(splits.length, 5);
  for (const { train, test } of splits) {
    assert.equal(test.length, 6); // ceil(0.3 · 20)
    assert.equal(train.length, 14);
    assert.equal(new Set([...train, ...test]).size, 20);
    // per-class train counts from _approximate_mode([10,7,3], 14): floors [7,4,2], remainders .0 .9 .1 → [7,5,2]
    const count = (set: number[], c: number) => set.filter((i) => labels[i] === c).length;
    assert.deepEqual([0, 1, 2].map((c) => count(train, c)), [7, 5, 2]);
    assert.deepEqual([0, 1, 2].map((c) => count(test, c)), [3, 2, 1]);
  }
  assert.deepEqual(stratifiedShuffleSplit(labels, { seed: 42 }), splits, 'same seed, same splits');
  assert.notDeepEqual(stratifiedShuffleSplit(labels, { seed: 7 }), splits);
  assert.deepEqual(approximateMode([3, 3], 3, new Rng(0)).reduce((a, b) => a + b, 0), 3, 'tied remainders are broken at random');
  assert.throws(() => stratifiedShuffleSplit([0, 0, 0, 0, 1, 2, 2, 2], { nSplits: 5, classNames: ['a', 'b', 'c'] }), atlasError(/label 'b' has 1 sample/));
  assert.throws(() => stratifiedShuffleSplit([0, 0, 1, 1, 2, 2, 3, 3], { testSize: 0.2 }), atlasError(/test set \(2 samples\)/));
  assert.throws(() => stratifiedShuffleSplit(labels, { testSize: 1.5 }), atlasError(/test_size/));
  assert.throws(() => stratifiedShuffleSplit(labels, { nSplits: 0 }), atlasError(/n_splits/));
});

test('standard scaler: zero mean, unit population variance, constant features left at scale 1', () => {
  const x: Matrix = { rows: 4, cols: 2, data: Float64Array.from([1, 5, 2, 5, 3, 5, 6, 5]) };
  const s = fitStandardScaler(x);
  assert.deepEqual(Array.from(s.mean), [3, 5]);
  assert.ok(Math.abs(s.scale[0]! - Math.sqrt(3.5)) < 1e-15);
  assert.equal(s.scale[1], 1);
  const z = applyScaler(x, s);
  assert.deepEqual(Array.from({ length: 4 }, (_, i) => z.data[i * 2 + 1]), [0, 0, 0, 0]);
});

test('probing: informative full features beat noise "reduced" features; differences and spread add up', () => {
  const { x, y } = blobs(20, 3, 6, 5, 8);
  const rng = new Rng(3);
  const noise: Matrix = { rows: x.rows, cols: 2, data: Float64Array.from({ length: x.rows * 2 }, () => rng.normal()) };
  const r = evaluateProbe(x, noise, y, { nSplits: 4, testSize: 0.3, seed: 42 });
  assert.deepEqual(r.metrics, ['f1_macro', 'f1_weighted', 'recall_macro', 'recall_weighted', 'accuracy', 'balanced_accuracy']);
  assert.equal(r.splits.length, 4);
  const acc = r.summary.accuracy!;
  assert.ok(acc.full >= 0.95, `full accuracy ${acc.full}`);
  assert.ok(acc.difference > 0.3, `difference ${acc.difference}`);
  const diffs = r.splits.map((s) => s.full.accuracy! - s.reduced.accuracy!);
  assert.ok(Math.abs(acc.difference - diffs.reduce((a, b) => a + b, 0) / 4) < 1e-15);
  const sd = Math.sqrt(diffs.reduce((a, v) => a + (v - acc.difference) ** 2, 0) / 3);
  assert.ok(Math.abs(acc.differenceStd - sd) < 1e-15);
  // identical feature sets: every difference is exactly 0
  const same = evaluateProbe(x, x, y, { nSplits: 2 });
  for (const m of same.metrics) assert.equal(same.summary[m]!.difference, 0);
  assert.throws(() => evaluateProbe(x, noise, y.slice(1)), atlasError(/same texts/));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classicalMds, smacof } from '../src/geometry/mds.ts';
import { procrustes } from '../src/geometry/procrustes.ts';
import { isAtlasError } from '../src/errors.ts';
import { pairwiseEuclidean, randomMatrix } from './reduce-reference.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

const sq = (n: number, data: Float64Array): Matrix<Float64Array> => ({ rows: n, cols: n, data });

test('procrustes: rotation + scale + shift of the same points has disparity 0; unrelated points do not', () => {
  const a = randomMatrix(30, 3, 1);
  const c = Math.cos(0.7), s = Math.sin(0.7);
  const b: Matrix<Float64Array> = { rows: 30, cols: 3, data: new Float64Array(90) };
  for (let i = 0; i < 30; i++) {
    const [x, y, z] = [a.data[i * 3], a.data[i * 3 + 1], a.data[i * 3 + 2]];
    b.data[i * 3] = 2.5 * (c * x - s * y) + 4;
    b.data[i * 3 + 1] = 2.5 * (s * x + c * y) - 1;
    b.data[i * 3 + 2] = -2.5 * z; // reflection
  }
  const r = procrustes(a, b);
  assert.ok(r.disparity < 1e-20, `${r.disparity}`);
  for (let i = 0; i < 90; i++) assert.ok(Math.abs(r.aligned.data[i] - a.data[i]) < 1e-10);
  assert.ok(procrustes(a, randomMatrix(30, 3, 2)).disparity > 0.3);
});

test('classical MDS of a Euclidean distance matrix reproduces the points up to rotation', async () => {
  const x = randomMatrix(40, 3, 11, (j) => 3 - j);
  const r = await classicalMds(sq(40, pairwiseEuclidean(x)), { nComponents: 3, negativeMass: true });
  assert.ok(procrustes(x, r.embedding).disparity < 1e-20);
  assert.ok(r.negativeMass! < 1e-12);
  // Distances are preserved exactly, not only up to scale.
  const d2 = pairwiseEuclidean(r.embedding), d1 = pairwiseEuclidean(x);
  for (let i = 0; i < d1.length; i++) assert.ok(Math.abs(d1[i] - d2[i]) < 1e-9);
  // Embedded column variance order follows the eigenvalues.
  assert.ok(r.eigenvalues[0] >= r.eigenvalues[1] && r.eigenvalues[1] >= r.eigenvalues[2]);
});

test('SMACOF stress decreases monotonically and matches classical MDS on exactly Euclidean input', async () => {
  const x = randomMatrix(50, 2, 12, (j) => 2 - 0.5 * j);
  const d = sq(50, pairwiseEuclidean(x));
  const r = smacof(d, { nComponents: 2, seed: 1, maxIter: 3000, eps: 1e-12 });
  for (let i = 1; i < r.stressHistory.length; i++) assert.ok(r.stressHistory[i] <= r.stressHistory[i - 1] * (1 + 1e-12), `iter ${i}`);
  assert.equal(r.runs.length, 4);
  assert.ok(r.runs.every((run) => run.stress >= r.stress));
  assert.ok(r.normalizedStress < 1e-3, `stress-1 ${r.normalizedStress}`);
  const cm = await classicalMds(d, { nComponents: 2 });
  assert.ok(procrustes(cm.embedding, r.embedding).disparity < 1e-6);
  assert.ok(procrustes(x, r.embedding).disparity < 1e-6);
  // Defaults (eps 1e-3, 300 iterations) stop early, still reaching a good fit; fixed seed → identical.
  const a = smacof(d, { seed: 5 }), b = smacof(d, { seed: 5 });
  assert.deepEqual(a.embedding.data, b.embedding.data);
  assert.ok(a.nIter < 300);
  // init given: one run starting from it; starting at the truth, the stress is ~0 from the first iteration.
  const fromTruth = smacof(d, { init: x });
  assert.equal(fromTruth.runs.length, 1);
  assert.ok(fromTruth.stressHistory[0] < 1e-20);
});

test('MDS bad input: Infinity, asymmetry, non-zero diagonal, non-square', async () => {
  const d = pairwiseEuclidean(randomMatrix(5, 2, 1));
  const inf = Float64Array.from(d); inf[1] = inf[5] = Infinity;
  await assert.rejects(() => classicalMds(sq(5, inf)), (e) => isAtlasError(e) && /connect/.test((e as Error).message));
  const asym = Float64Array.from(d); asym[2] += 1;
  assert.throws(() => smacof(sq(5, asym)), isAtlasError);
  const diag = Float64Array.from(d); diag[0] = 1;
  await assert.rejects(() => classicalMds(sq(5, diag)), isAtlasError);
  await assert.rejects(() => classicalMds({ rows: 2, cols: 3, data: new Float64Array(6) }), isAtlasError);
  // A non-Euclidean (but valid) matrix: negative eigenvalues are reported, not hidden.
  const tri = new Float64Array([0, 1, 5, 1, 0, 1, 5, 1, 0]);
  assert.ok((await classicalMds(sq(3, tri), { negativeMass: true })).negativeMass! > 0);
  assert.equal((await classicalMds(sq(3, tri))).negativeMass, undefined, 'only on request');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { knn } from '../src/geometry/knn.ts';
import { labelOverlap, labelOverlapFromKnn, dataOverlap, dataOverlapFromKnn } from '../src/geometry/overlap.ts';
import { AtlasError } from '../src/errors.ts';
import type { Matrix } from '../src/geometry/matrix.ts';
import { gaussian, gaussianClusters } from './id-synthetic.ts';

/** Points on a line: neighbours are obvious by hand. */
const line = (xs: number[]): Matrix => ({ rows: xs.length, cols: 1, data: Float64Array.from(xs) });

test('label overlap by hand: per-point fractions, class-weighted (DADApy default) and plain means', async () => {
  // Points 0,1,2 (label a) at 0, 1, 2; points 3,4 (label b) at 2.6, 10; k = 2.
  const X = line([0, 1, 2, 2.6, 10]);
  const labels = ['a', 'a', 'a', 'b', 'b'];
  const r = await labelOverlap(X, labels, { k: 2 });
  // Neighbours: 0→{1,2}, 1→{0,2}, 2→{3,1}, 3→{2,1}, 4→{3,2}.
  assert.deepEqual(Array.from(r.perPoint), [1, 1, 0.5, 0, 0.5]);
  assert.ok(Math.abs(r.overlap - ((1 + 1 + 0.5) / 3 + (0 + 0.5) / 2) / 2) < 1e-15);
  const plain = await labelOverlap(X, labels, { k: 2, weighted: false });
  assert.ok(Math.abs(plain.overlap - 3 / 5) < 1e-15);
  // classFraction: k_a = ⌊3·0.5⌋ = 1, k_b = max(1, ⌊2·0.5⌋) = 1 → nearest neighbour only (4's is 3).
  const cf = await labelOverlap(X, labels, { classFraction: 0.5 });
  assert.deepEqual(Array.from(cf.perPoint), [1, 1, 0, 0, 1]);
});

test('label overlap of Gaussian clusters → 1 as separation grows, → 1/n_classes when mixed', async () => {
  const values: number[] = [];
  for (const sep of [0, 4, 12, 60]) {
    const { X, labels } = gaussianClusters(200, 3, 10, sep, 3);
    values.push((await labelOverlap(X, labels)).overlap);
  }
  assert.ok(Math.abs(values[0] - 1 / 3) < 0.05, `mixed: ${values[0]}`);
  assert.ok(values[3] > 0.999, `separated: ${values[3]}`);
  for (let i = 1; i < values.length; i++) assert.ok(values[i] >= values[i - 1], `monotone: ${values}`);
});

test('data overlap: identical neighbourhoods → 1, independent data → ≈ k/(N − 1), hand example', async () => {
  const g = gaussian(5);
  const n = 400, d = 8;
  const A: Matrix = { rows: n, cols: d, data: Float64Array.from({ length: n * d }, g) };
  // A rotation-free isometry plus scaling keeps every neighbourhood.
  const B: Matrix = { rows: n, cols: d, data: A.data.map((v, i) => 3 * v + (i % d)) };
  assert.equal((await dataOverlap(A, B)).overlap, 1);
  const C: Matrix = { rows: n, cols: d, data: Float64Array.from({ length: n * d }, g) };
  const o = (await dataOverlap(A, C, { k: 30 })).overlap;
  assert.ok(Math.abs(o - 30 / 399) < 0.02, `independent: ${o}`);
  // By hand, k = 2: line [0, 1, 3, 7] vs line [0, 5, 6, 1].
  const r = dataOverlapFromKnn(await knn(line([0, 1, 3, 7]), { k: 2 }), await knn(line([0, 5, 6, 1]), { k: 2 }), 2);
  // Neighbours A: 0→{1,2} 1→{0,2} 2→{1,0} 3→{2,1}; B: 0→{3,1} 1→{2,3} 2→{1,3} 3→{0,1}.
  assert.deepEqual(Array.from(r.perPoint), [0.5, 0.5, 0.5, 0.5]);
  assert.equal(r.overlap, 0.5);
});

test('overlap errors: label count, too few neighbours in a table, mismatched point counts', async () => {
  const X = line([0, 1, 2, 3, 4, 5]);
  await assert.rejects(labelOverlap(X, [1, 2, 3], { k: 2 }), (e: unknown) => e instanceof AtlasError && /3 labels for 6 points/.test(e.message));
  const t = await knn(X, { k: 2 });
  assert.throws(() => labelOverlapFromKnn(t, [0, 0, 0, 1, 1, 1], { k: 3 }), AtlasError);
  await assert.rejects(dataOverlap(X, line([0, 1, 2, 3, 4]), { k: 2 }), AtlasError);
});

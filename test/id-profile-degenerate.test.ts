import { test } from 'node:test';
import assert from 'node:assert/strict';
import { idProfile, profileToCsv } from '../src/geometry/id-profile.ts';
import { reduce } from '../src/geometry/reduce.ts';
import { neighbourCount, countDistinctRows } from '../src/geometry/sample-checks.ts';
import { Rng } from '../src/geometry/rng.ts';
import { isAtlasError } from '../src/errors.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

/** n points of a seeded Gaussian cloud in d dimensions. */
function cloud(n: number, d: number, seed: number): Matrix<Float32Array> {
  const r = new Rng(seed);
  return { rows: n, cols: d, data: Float32Array.from({ length: n * d }, () => r.normal()) };
}

/** n copies of one row. */
function identical(n: number, d: number): Matrix<Float32Array> {
  return { rows: n, cols: d, data: Float32Array.from({ length: n * d }, (_, i) => (i % d) * 0.25 + 1) };
}

test('issue 15.2: k above n − 1 is clamped with a warning and the k used is recorded, not the k asked for', async () => {
  const labels = Array.from({ length: 60 }, (_, i) => i % 3);
  const rows = await idProfile([cloud(60, 8, 1), cloud(60, 8, 2)], labels, { k: 100, rangeMax: 8 });
  for (const r of rows) {
    assert.equal(r.kUsed, 59);
    assert.ok(r.warnings.some((w) => /--k 100 is more than the 59 other points.*using --k 59/.test(w)), r.warnings.join('\n'));
  }
  // With every other point a neighbour the consecutive-layer overlap is trivially 1: that is what the warning says.
  assert.equal(rows[0].overlapNext, 1);
  const csv = profileToCsv(rows).trim().split('\n');
  assert.ok(csv[0].endsWith(',distinct,k_used'));
  assert.ok(csv[1].endsWith(',60,59'));
  assert.deepEqual(neighbourCount(10, 60), { used: 10, requested: 10 });
  assert.throws(() => neighbourCount(0, 60), (e) => isAtlasError(e) && /--k must be a positive integer/.test(e.message));
});

test('issue 15.3: a layer of identical points is not estimable (NaN with a reason) and the run goes on', async () => {
  // Before: "k must be a positive integer, got 0" killed the whole profile.
  const labels = Array.from({ length: 60 }, (_, i) => i % 2);
  const rows = await idProfile([identical(60, 8), cloud(60, 8, 3)], labels, { k: 10, rangeMax: 8 });
  assert.equal(rows.length, 2);
  assert.equal(rows[0].distinct, 1);
  assert.ok(Number.isNaN(rows[0].twoNN));
  assert.deepEqual(rows[0].gride, []);
  assert.match(rows[0].notEstimable ?? '', /only 1 distinct point/);
  assert.ok(rows[0].warnings.some((w) => /layer 0: intrinsic dimension not estimable/.test(w)));
  assert.ok(Number.isFinite(rows[1].twoNN) && rows[1].twoNN > 3, 'the good layer is still estimated');
  assert.equal(rows[1].notEstimable, undefined);
  // The CSV takes its Gride columns from a layer that has them.
  assert.match(profileToCsv(rows).split('\n')[0], /gride_n2_2/);
});

test('issue 15.3: duplicates dropped by TwoNN are reported per layer with the number of distinct points', async () => {
  const x = cloud(40, 6, 4);
  const withDup: Matrix<Float32Array> = { rows: 60, cols: 6, data: new Float32Array(60 * 6) };
  withDup.data.set(x.data);
  withDup.data.set(x.data.subarray(0, 20 * 6), 40 * 6); // rows 40..59 repeat rows 0..19
  const [row] = await idProfile([withDup], undefined, { k: 10, rangeMax: 8 });
  assert.equal(row.distinct, 40);
  assert.equal(row.duplicatesRemoved, 20);
  assert.ok(row.warnings.some((w) => /layer 0: only 40 distinct points among 60 \(20 duplicates\)/.test(w)), row.warnings.join('\n'));
});

test('issue 15.3: a map of identical texts is refused instead of drawing rounding noise; duplicates are counted', async () => {
  await assert.rejects(reduce(identical(60, 8), { method: 'pca' }), (e) => isAtlasError(e) && /at least 3 distinct points, got 1 among 60 rows/.test(e.message));
  const x = cloud(30, 5, 5);
  const dup: Matrix<Float32Array> = { rows: 40, cols: 5, data: new Float32Array(40 * 5) };
  dup.data.set(x.data);
  dup.data.set(x.data.subarray(0, 50), 150);
  assert.equal(countDistinctRows(dup), 30);
  const r = await reduce(dup, { method: 'pca' });
  assert.equal(r.diagnostics.distinctPoints, 30);
  assert.match((r.diagnostics.warnings as string[])[0], /only 30 distinct points among 40/);
  const g = await reduce(cloud(10, 4, 6), { method: 'mds', geodesic: true, k: 50 });
  assert.equal(g.diagnostics.k, 9, 'the geodesic graph records the k it used');
  assert.match((g.diagnostics.warnings as string[])[0], /--k 50 is more than the 9 other points/);
});

test('issue 15.4: a single label gives no label overlap (not a silent 1.0) and a warning', async () => {
  const rows = await idProfile([cloud(30, 5, 7)], new Array(30).fill(0), { k: 5, rangeMax: 4 });
  assert.equal(rows[0].labelOverlap, undefined);
  assert.ok(rows[0].warnings.some((w) => /same label: label overlap is 1 by construction/.test(w)));
  const two = await idProfile([cloud(30, 5, 7)], Array.from({ length: 30 }, (_, i) => i % 2), { k: 5, rangeMax: 4 });
  assert.ok(two[0].labelOverlap !== undefined && two[0].labelOverlap < 1);
});

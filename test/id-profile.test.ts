import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { idProfile, profileToCsv, writeProfile } from '../src/geometry/id-profile.ts';
import { knn } from '../src/geometry/knn.ts';
import { twoNNFromKnn } from '../src/geometry/twonn.ts';
import { labelOverlap } from '../src/geometry/overlap.ts';
import { AtlasError } from '../src/errors.ts';
import type { Matrix } from '../src/geometry/matrix.ts';
import { gaussian, uniformSphere } from './id-synthetic.ts';

test('idProfile: per-layer TwoNN/Gride/label overlap and consecutive-layer overlap, CSV and JSON', async () => {
  const n = 600;
  const A = uniformSphere(n, 2, 6, 1);
  // A has an identical pair: rows 0 and 1.
  A.data.set(A.data.subarray(0, 6), 6);
  const B: Matrix = { rows: n, cols: 6, data: A.data.map((v) => 2 * v) }; // same neighbourhoods as A
  const g = gaussian(2);
  const C: Matrix = { rows: n, cols: 6, data: Float64Array.from({ length: n * 6 }, g) };
  const labels = Int32Array.from({ length: n }, (_, i) => (A.data[i * 6] > 0 ? 1 : 0));
  const seen: number[] = [];
  const rows = await idProfile([A, B, C], labels, { onLayer: (r) => seen.push(r.layer) });
  assert.deepEqual(seen, [0, 1, 2]);
  assert.equal(rows[0].duplicatesRemoved, 1);
  assert.equal(rows[1].duplicatesRemoved, 1);
  assert.equal(rows[0].overlapNext, 1);
  assert.ok(rows[1].overlapNext! < 0.2);
  assert.equal(rows[2].overlapNext, undefined);
  // Layer 2 equals a direct TwoNN and label overlap.
  assert.equal(rows[2].twoNN, twoNNFromKnn(await knn(C, { k: 2 })).id);
  assert.equal(rows[2].labelOverlap, (await labelOverlap(C, labels)).overlap);
  assert.deepEqual(rows[0].gride.map((x) => x.n2), [2, 4, 8, 16, 32, 64]);
  assert.ok(Math.abs(rows[1].gride[0].id - 2) < 0.3);
  const csv = profileToCsv(rows).trim().split('\n');
  assert.equal(csv.length, 4);
  assert.ok(csv[0].startsWith('layer,n,duplicates_removed,twonn_id,twonn_scale,gride_n2_2,gride_err_n2_2'));
  assert.equal(csv[3].split(',').length, csv[0].split(',').length);
  const dir = await mkdtemp(join(tmpdir(), 'id-profile-'));
  try {
    await writeProfile(rows, join(dir, 'p.json'));
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'p.json'), 'utf8')).layers, JSON.parse(JSON.stringify(rows)));
    await writeProfile(rows, join(dir, 'p.csv'));
    assert.equal(await readFile(join(dir, 'p.csv'), 'utf8'), profileToCsv(rows));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await assert.rejects(idProfile([A, { rows: 10, cols: 6, data: new Float64Array(60) }]), AtlasError);
});

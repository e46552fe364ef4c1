/**
 * `profile`'s seed-004 additions against references written here in float64, separately from the library:
 * DADApy-style neighbour tables (bytes as numpy reads them, round trip, same profile as the points), the TwoNN
 * decimation scaling (brute-force distances of every subset), the plateau rule (all runs enumerated), and the
 * layer × layer / cross-run overlaps (brute-force k-NN sets) through the CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gaussian } from './id-synthetic.ts';
import { runCli, isCleanInputError } from './cli-inprocess.ts';
import { knn } from '../src/geometry/knn.ts';
import type { Matrix } from '../src/geometry/matrix.ts';
import { writeNpy, readNpy } from '../src/data/npy.ts';
import { idProfile } from '../src/geometry/id-profile.ts';
import { idScaling2NN, seededRandom, sampleWithoutReplacement, roundHalfEven } from '../src/geometry/twonn.ts';
import { idScaling2NNFromTable, plateauLevel } from '../src/geometry/profile-scale.ts';
import { NEIGHBOUR_FILES, readNeighbourTable, writeNeighbourTable } from '../src/geometry/profile-neighbours.ts';
import { PROFILE_FILES } from '../src/geometry/profile-output.ts';
import { COMPARE_FILES } from '../src/geometry/compare-output.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'atlas-prof-'));

/** Points on a curved d-dimensional sheet in D dimensions, plus a little noise (distinct, no ties). */
function sheet(n: number, d: number, D: number, seed: number, warp = 1): Matrix<Float64Array> {
  const g = gaussian(seed);
  const W = Array.from({ length: d * D }, () => g());
  const data = new Float64Array(n * D);
  for (let i = 0; i < n; i++) {
    const z = Array.from({ length: d }, () => g());
    for (let j = 0; j < D; j++) {
      let s = 0;
      for (let a = 0; a < d; a++) s += z[a]! * W[a * D + j]!;
      data[i * D + j] = Math.tanh(warp * s) + 1e-3 * g();
    }
  }
  return { rows: n, cols: D, data };
}

function f64dist(X: Matrix, i: number, j: number): number {
  let s = 0;
  for (let c = 0; c < X.cols; c++) { const t = X.data[i * X.cols + c]! - X.data[j * X.cols + c]!; s += t * t; }
  return Math.sqrt(s);
}

/** Brute-force sorted neighbours (self excluded) of point i among `members`. */
function bruteNeighbours(X: Matrix, i: number, members: ArrayLike<number>, k: number): { j: number; d: number }[] {
  const all: { j: number; d: number }[] = [];
  for (let t = 0; t < members.length; t++) if (members[t] !== i) all.push({ j: members[t]!, d: f64dist(X, i, members[t]!) });
  all.sort((a, b) => a.d - b.d || a.j - b.j);
  return all.slice(0, k);
}

/** TwoNN 'base' written from the spec: sort log μ, keep ⌊N·f⌋, slope through the origin of −log(1 − j/N). */
function refTwoNN(mus: number[], f: number): number {
  const n = mus.length;
  const x = mus.map(Math.log).sort((a, b) => a - b);
  let sxy = 0, sxx = 0;
  for (let j = 1; j <= Math.floor(n * f); j++) { const y = -Math.log(1 - j / n); sxy += x[j - 1]! * y; sxx += x[j - 1]! ** 2; }
  return sxy / sxx;
}

/** Parses a .npy header the way numpy does (descr, shape), independently of src/data/npy.ts. */
function npyHead(path: string): { descr: string; shape: number[]; dataStart: number } {
  const b = readFileSync(path);
  assert.deepEqual([...b.subarray(0, 6)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);
  const hlen = b.readUInt16LE(8);
  const h = b.subarray(10, 10 + hlen).toString('latin1');
  assert.equal((10 + hlen) % 64, 0, 'data aligned to 64 bytes as numpy writes it');
  return { descr: /'descr': '([^']+)'/.exec(h)![1]!, shape: /'shape': \(([^)]*)\)/.exec(h)![1]!.split(',').map((s) => s.trim()).filter(Boolean).map(Number), dataStart: 10 + hlen };
}

test('neighbour tables: DADApy layout on disk (float64 / int64, self in column 0) and a lossless round trip', async () => {
  const X = sheet(120, 3, 8, 1);
  const r = await knn(X, { k: 20 });
  const dir = tmp();
  const files = writeNeighbourTable(dir, r, 12);
  const d = npyHead(files.distances);
  const ix = npyHead(files.indices);
  assert.equal(d.descr, '<f8');
  assert.equal(ix.descr, '<i8');
  assert.deepEqual(d.shape, [120, 13]);
  assert.deepEqual(ix.shape, [120, 13]);
  const db = readFileSync(files.distances);
  const ib = readFileSync(files.indices);
  for (let i = 0; i < 120; i++) {
    assert.equal(db.readDoubleLE(d.dataStart + i * 13 * 8), 0);
    assert.equal(Number(ib.readBigInt64LE(ix.dataStart + i * 13 * 8)), i);
    const ref = bruteNeighbours(X, i, Array.from({ length: 120 }, (_, t) => t), 12);
    for (let t = 0; t < 12; t++) {
      assert.equal(Number(ib.readBigInt64LE(ix.dataStart + (i * 13 + t + 1) * 8)), ref[t]!.j);
      assert.ok(Math.abs(db.readDoubleLE(d.dataStart + (i * 13 + t + 1) * 8) - ref[t]!.d) < 1e-9 * (1 + ref[t]!.d));
    }
  }
  const back = readNeighbourTable(dir);
  assert.equal(back.k, 12);
  for (let i = 0; i < 120; i++) {
    for (let t = 0; t < 12; t++) {
      assert.equal(back.indices[i * 12 + t], r.indices[i * 20 + t]);
      assert.equal(back.distances[i * 12 + t], r.distances[i * 20 + t]);
    }
  }
  // int32 indices and float32 distances (faiss-style) are read too.
  const d32 = tmp();
  const n = 120, cols = 13;
  const di = readNpy(files.distances).data as Float64Array;
  writeNpy(join(d32, NEIGHBOUR_FILES.distances), Float32Array.from(di), [n, cols]);
  const ii = new Int32Array(n * cols);
  for (let t = 0; t < n * cols; t++) ii[t] = Number(ib.readBigInt64LE(ix.dataStart + t * 8));
  writeNpy(join(d32, NEIGHBOUR_FILES.indices), ii, [n, cols]);
  const b32 = readNeighbourTable(d32);
  assert.deepEqual(Array.from(b32.indices), Array.from(back.indices));
});

test('neighbour tables: shape, dtype and self-column mismatches are refused naming the file', () => {
  const dir = tmp();
  writeNpy(join(dir, NEIGHBOUR_FILES.distances), new Float64Array(10 * 4), [10, 4]);
  writeNpy(join(dir, NEIGHBOUR_FILES.indices), new Float64Array(10 * 4), [10, 4]);
  assert.throws(() => readNeighbourTable(dir), (e: Error & { file?: string }) => /indices must be int64 or int32/.test(e.message) && e.file === join(dir, NEIGHBOUR_FILES.indices));
  writeNpy(join(dir, NEIGHBOUR_FILES.indices), new Int32Array(10 * 3), [10, 3]);
  assert.throws(() => readNeighbourTable(dir), (e: Error & { file?: string }) => /indices have shape \(10, 3\) but distances \(10, 4\)/.test(e.message) && e.file === join(dir, NEIGHBOUR_FILES.indices));
  writeNpy(join(dir, NEIGHBOUR_FILES.distances), new Int32Array(10 * 4), [10, 4]);
  assert.throws(() => readNeighbourTable(dir), (e: Error & { file?: string }) => /distances must be float64/.test(e.message) && e.file === join(dir, NEIGHBOUR_FILES.distances));
  const dist = new Float64Array(10 * 4).fill(1);
  writeNpy(join(dir, NEIGHBOUR_FILES.distances), dist, [10, 4]);
  writeNpy(join(dir, NEIGHBOUR_FILES.indices), new Int32Array(10 * 4), [10, 4]);
  assert.throws(() => readNeighbourTable(dir), /column 0 has distance 1, expected 0/);
});

test('TwoNN decimation scaling equals a brute-force float64 reference on the same subsets, from points and from a table', async () => {
  const X = sheet(256, 4, 10, 2);
  const n = X.rows;
  const res = await idScaling2NN(X);
  const table = await knn(X, { k: 50 });
  const fromTable = idScaling2NNFromTable(table);
  // Reference: the same subset draws (the sampler is shared, not under test), everything else from scratch.
  const rand = seededRandom(42);
  const perm = new Int32Array(n);
  const sizes: number[] = [];
  for (let i = 0; i < Math.floor(Math.log2(n)) - 1; i++) { const s = roundHalfEven(n / 2 ** i); if (s > 10) sizes.push(s); }
  assert.deepEqual(Array.from(res.sizes), sizes);
  assert.deepEqual(sizes, [256, 128, 64, 32, 16]);
  for (const [level, size] of sizes.entries()) {
    const reps = size === n ? 1 : roundHalfEven(n / size);
    const ids: number[] = [];
    for (let it = 0; it < reps; it++) {
      const members = size === n ? Int32Array.from({ length: n }, (_, i) => i) : sampleWithoutReplacement(n, size, rand, perm);
      const mus = Array.from(members, (i) => { const nb = bruteNeighbours(X, i, members, 2); return nb[1]!.d / nb[0]!.d; });
      ids.push(refTwoNN(mus, 0.9));
    }
    const mean = ids.reduce((a, b) => a + b, 0) / reps;
    const err = reps === 1 ? 0 : Math.sqrt(ids.reduce((a, b) => a + (b - mean) ** 2, 0) / reps) / Math.sqrt(reps);
    assert.ok(Math.abs(res.ids[level]! - mean) < 1e-9 * mean, `level ${level}: ${res.ids[level]} vs ${mean}`);
    assert.ok(Math.abs(res.errors[level]! - err) < 1e-9 * (1 + err));
    if (fromTable.computable[level]) assert.equal(fromTable.ids[level], res.ids[level]);
    else assert.ok(Number.isNaN(fromTable.ids[level]));
  }
  assert.ok(fromTable.computable[0] && fromTable.computable[1], 'a k = 50 table reaches N and N/2');
});

/** Plateau rule, the obvious way: every run [s, e] of stable consecutive pairs, longest first, then most points. */
function refPlateau(ids: number[], tol: number): number | undefined {
  const stable = (a: number, b: number) => Number.isFinite(a) && Number.isFinite(b) && Math.abs(a - b) <= (tol * (a + b)) / 2;
  let best: [number, number] | undefined;
  for (let s = 0; s < ids.length; s++) {
    for (let e = s + 1; e < ids.length; e++) {
      let ok = true;
      for (let t = s; t < e; t++) ok &&= stable(ids[t]!, ids[t + 1]!);
      if (ok && (!best || e - s > best[1] - best[0])) best = [s, e];
    }
  }
  return best?.[0];
}

test('plateau rule: hand-made curves and random curves against the enumeration of all runs', () => {
  assert.equal(plateauLevel([{ id: 20 }, { id: 14 }, { id: 10 }, { id: 10.3 }, { id: 9.9 }, { id: 6 }])?.index, 2);
  assert.deepEqual(plateauLevel([{ id: 20 }, { id: 14 }, { id: 10 }, { id: 10.3 }, { id: 9.9 }, { id: 6 }]), { index: 2, start: 2, end: 4 });
  assert.equal(plateauLevel([{ id: 10 }, { id: 20 }, { id: 40 }]), undefined);
  assert.equal(plateauLevel([{ id: 5 }, { id: 5.1 }, { id: 9 }, { id: 9.2 }])?.index, 0, 'ties: the plateau with more points');
  assert.equal(plateauLevel([{ id: 5 }, { id: NaN }, { id: 9 }, { id: 9.2 }])?.index, 2, 'NaN levels break a plateau');
  const g = gaussian(7);
  for (let trial = 0; trial < 300; trial++) {
    const ids = Array.from({ length: 2 + (trial % 6) }, () => 10 + 2 * g());
    const tol = 0.05 + 0.1 * (trial % 3);
    assert.equal(plateauLevel(ids.map((id) => ({ id })), tol)?.index, refPlateau(ids, tol), JSON.stringify({ ids, tol }));
  }
});

test('idProfile from saved tables equals idProfile from the points (TwoNN, Gride, scaling, overlaps, plateau)', async () => {
  const layers = [sheet(200, 3, 12, 3), sheet(200, 5, 12, 4, 0.5)];
  const labels = Int32Array.from({ length: 200 }, (_, i) => i % 3);
  const dir = tmp();
  const raw = await idProfile(layers, labels, { idScale: 'plateau', tableK: 50, onTable: (i, t) => { writeNeighbourTable(join(dir, `layer-${i}`), t, 50); } });
  const tables = [readNeighbourTable(join(dir, 'layer-0')), readNeighbourTable(join(dir, 'layer-1'))];
  const fromTables = await idProfile(tables, labels, { idScale: 'plateau' });
  for (let l = 0; l < 2; l++) {
    const a = raw[l]!, b = fromTables[l]!;
    assert.equal(b.twoNN, a.twoNN);
    assert.equal(b.labelOverlap, a.labelOverlap);
    assert.deepEqual(b.gride.map((g) => g.id), a.gride.slice(0, b.gride.length).map((g) => g.id));
    assert.equal(b.gride.length, 5, 'a k = 50 table: Gride up to n2 = 32');
    b.twoNNScaling!.forEach((lv, i) => { if (!Number.isNaN(lv.id)) assert.equal(lv.id, a.twoNNScaling![i]!.id); });
    assert.ok(a.twoNNScaling!.length >= 4 && a.twoNNScaling!.every((lv) => Number.isFinite(lv.id)));
  }
  assert.equal(fromTables[0]!.overlapNext, raw[0]!.overlapNext);
});

test('profile CLI: --save-neighbours → --neighbours gives the same results; layer × layer and --compare overlaps match brute force; --runs', async () => {
  const root = tmp();
  const acts = join(root, 'acts');
  mkdirSync(acts);
  const N = 160, k = 10;
  const layers = [sheet(N, 3, 9, 5), sheet(N, 3, 9, 6), sheet(N, 4, 9, 7)];
  layers.forEach((X, l) => writeNpy(join(acts, `layer-${l}.npy`), Float32Array.from(X.data), [N, X.cols]));
  const texts = Array.from({ length: N }, (_, i) => `text ${i}`);
  writeFileSync(join(root, 'labels.csv'), 'label,text\n' + texts.map((t, i) => `${'abc'[i % 3]},${t}`).join('\n') + '\n');
  const outA = join(root, 'A');
  const common = ['--labels', join(root, 'labels.csv'), '--k', String(k), '--no-probe', '--no-diagnostics'];
  const a = await runCli(['profile', '--activations', acts, ...common, '--out', outA, '--save-neighbours', '--compare', acts]);
  assert.equal(a.code, 0, a.stderr);
  for (const l of [0, 1, 2]) assert.ok(existsSync(join(outA, NEIGHBOUR_FILES.dir, NEIGHBOUR_FILES.layerDir(l), NEIGHBOUR_FILES.indices)));
  const outT = join(root, 'T');
  const t = await runCli(['profile', '--neighbours', join(outA, NEIGHBOUR_FILES.dir), ...common, '--out', outT]);
  assert.equal(t.code, 0, t.stderr);
  const pa = JSON.parse(readFileSync(join(outA, PROFILE_FILES.json), 'utf8')).layers;
  const pt = JSON.parse(readFileSync(join(outT, PROFILE_FILES.json), 'utf8')).layers;
  for (let l = 0; l < 3; l++) {
    for (const f of ['twoNN', 'labelOverlap', 'overlapNext', 'overlapLast']) assert.equal(pt[l][f], pa[l][f], `layer ${l} ${f}`);
    assert.equal(pt[l].gride[0].id, pa[l].gride[0].id);
    assert.equal(pa[l].overlapOther, 1, 'a run compared with itself overlaps fully');
  }
  // Layer × layer overlap against brute-force float64 neighbour sets of the stored (float32) points.
  const f32 = layers.map((X) => ({ rows: N, cols: X.cols, data: Float64Array.from(Float32Array.from(X.data)) }));
  const all = Array.from({ length: N }, (_, i) => i);
  const sets = f32.map((X) => Array.from({ length: N }, (_, i) => new Set(bruteNeighbours(X, i, all, k).map((x) => x.j))));
  const m = readNpy(join(outA, PROFILE_FILES.overlapLayersDir, COMPARE_FILES.matrix('overlap')));
  assert.deepEqual(m.shape, [3, 3]);
  for (let p = 0; p < 3; p++) {
    for (let q = 0; q < 3; q++) {
      let s = 0;
      for (let i = 0; i < N; i++) { let c = 0; for (const j of sets[p]![i]!) if (sets[q]![i]!.has(j)) c++; s += c / k; }
      assert.ok(Math.abs((m.data as Float64Array)[p * 3 + q]! - s / N) < 1e-12, `overlap ${p}×${q}`);
    }
    assert.equal(pa[p].overlapLast, (m.data as Float64Array)[p * 3 + 2]);
  }
  assert.ok(existsSync(join(outA, PROFILE_FILES.overlapCompareDir, COMPARE_FILES.matrix('overlap'))));
  assert.ok(existsSync(join(outA, `${PROFILE_FILES.scalingPlot}.png`)));
  // Different texts: refused in one line.
  const other = join(root, 'other');
  mkdirSync(other);
  layers.forEach((X, l) => writeNpy(join(other, `layer-${l}.npy`), Float32Array.from(X.data), [N, X.cols]));
  const cache = join(root, 'B');
  const b = await runCli(['profile', '--activations', acts, ...common, '--out', cache, '--compare', join(outA, NEIGHBOUR_FILES.dir, NEIGHBOUR_FILES.layerDir(0))]);
  assert.equal(b.code, 0, b.stderr); // a tables folder of one layer is a valid OTHER
  writeFileSync(join(root, 'labels2.csv'), 'label,text\n' + texts.map((x, i) => `a,${i === 5 ? 'changed' : x}`).join('\n') + '\n');
  // the other run's texts come from a cache-like meta.json
  writeFileSync(join(other, 'meta.json'), JSON.stringify({ model: 'm', texts: texts.map((x, i) => (i === 5 ? 'changed' : x)), rows: N }));
  layers.forEach((X, l) => writeNpy(join(other, `layer-${l}.npy`), Float32Array.from(X.data), [N, X.cols]));
  const bad = await runCli(['profile', '--activations', acts, ...common, '--out', join(root, 'C'), '--compare', other]);
  assert.ok(isCleanInputError(bad), bad.stderr);
  assert.match(bad.stderr, /row 5 holds a different text/);
  // --runs: relative depth and both panels.
  const runs = await runCli(['profile', '--runs', outA, outT, '--out', join(root, 'R')]);
  assert.equal(runs.code, 0, runs.stderr);
  const rj = JSON.parse(readFileSync(join(root, 'R', `${PROFILE_FILES.runsPlot}.json`), 'utf8'));
  assert.deepEqual(rj.runs[0].depth, [0, 0.5, 1]);
  assert.deepEqual(rj.runs[1].id, pt.map((r: { twoNN: number }) => r.twoNN));
  assert.ok(existsSync(join(root, 'R', `${PROFILE_FILES.runsPlot}.png`)));
  const notProfile = await runCli(['profile', '--runs', acts, '--out', join(root, 'R2')]);
  assert.ok(isCleanInputError(notProfile), notProfile.stderr);
});

test('a layer too small for a decimation curve has none; plateau falls back to the full TwoNN with a warning', async () => {
  const rows = await idProfile([sheet(9, 2, 5, 8)], undefined, { idScale: 'plateau', rangeMax: 4 });
  assert.equal(rows[0]!.twoNNScaling, undefined);
  assert.equal(rows[0]!.idReported!.id, rows[0]!.twoNN);
  assert.ok(rows[0]!.warnings.some((w) => /no TwoNN decimation curve/.test(w)));
  await assert.rejects(idProfile([sheet(60, 2, 5, 9)], undefined, { idScale: 'paper' }), /--id-scale paper needs subsets of ≥ 4 points/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { loadModel } from '../src/model/load.ts';
import { loadDataset } from '../src/data/dataset.ts';
import { ParamStore } from '../src/params/param-store.ts';
import { runFisherPipeline } from '../src/fisher/pipeline.ts';
import { UPSTREAM_FILES, covarianceEllipses, fillDisconnected, mdsSpectrum } from '../src/fisher/upstream.ts';
import { denseMetric } from '../src/fisher/store.ts';
import { readNpy } from '../src/data/npy.ts';
import { symmetricEigen } from '../src/geometry/linalg.ts';

const TEXTS = { a: ['the cat sat', 'a dog ran', 'my bird sang', 'the fish swam', 'a cow ate', 'the fox hid', 'our pig slept', 'a hen laid'], b: ['one two three', 'four five six', 'seven eight', 'nine ten', 'eleven twelve', 'two four six', 'three five', 'eight nine ten'] };

test('the original pipeline\'s files: shapes and meanings, read back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fisher-up-'));
  try {
    writeTinyCheckpoint(join(dir, 'model'), { architecture: 'gpt2', nLayer: 2, dModel: 16, nHead: 2, seed: 7, std: 0.2 });
    writeFileSync(join(dir, 'data.csv'), ['text,label', ...Object.entries(TEXTS).flatMap(([l, ts]) => ts.map((t) => `${t},${l}`))].join('\n') + '\n');
    const model = await loadModel(join(dir, 'model'), { threads: 1 });
    const dataset = await loadDataset(join(dir, 'data.csv'));
    const out = join(dir, 'out');
    const r = await runFisherPipeline(ParamStore.fromCheckpoint(model.checkpoint), model.tokenizer, model.key, dataset, {
      out, k: 4, png: false, perplexity: 4, lambda: 1e-3, mds: 'smacof', mdsInit: 'random', tsneMetric: 'cosine', tsneInit: 'random', ellipses: 'covariance', disconnected: 'fill',
    });
    await model.release();
    const n = 16, d = 16;
    const eta = readNpy(join(out, UPSTREAM_FILES.eta));
    assert.deepEqual(eta.shape, [n, d]);
    assert.deepEqual(Array.from(eta.data), Array.from(r.points.data));
    const G = readNpy(join(out, UPSTREAM_FILES.metric));
    assert.deepEqual(G.shape, [n, d, d]);
    for (const i of [0, 9]) {
      const want = denseMetric(r.store, i);
      for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) {
        const w = want[a * d + b]! + (a === b ? 1e-3 : 0);
        assert.ok(Math.abs((G.data[i * d * d + a * d + b] as number) - w) <= 1e-6 * Math.max(1, Math.abs(w)), 'G_theta = G − λI + λI');
      }
    }
    const info = JSON.parse(readFileSync(join(out, UPSTREAM_FILES.metricInfo), 'utf8'));
    assert.equal(info.storage, 'full');
    assert.equal(info.lambda, 1e-3);
    const diag = readFileSync(join(out, UPSTREAM_FILES.metricDiag), 'utf8').trim().split('\n');
    assert.equal(diag[0], 'index,label,diag_mean,diag_std');
    assert.equal(diag.length, n + 1);
    const [, label, mean] = diag[1]!.split(',');
    assert.equal(label, 'a');
    let m = 0;
    for (let a = 0; a < d; a++) m += (G.data[a * d + a] as number) / d;
    assert.ok(Math.abs(Number(mean) - m) < 1e-6 * Math.max(1, m));
    const P = readNpy(join(out, UPSTREAM_FILES.projection));
    assert.deepEqual(P.shape, [d, 2]);
    let dot = 0, n1 = 0;
    for (let a = 0; a < d; a++) { dot += (P.data[a * 2] as number) * (P.data[a * 2 + 1] as number); n1 += (P.data[a * 2] as number) ** 2; }
    assert.ok(Math.abs(dot) < 1e-10 && Math.abs(n1 - 1) < 1e-10, 'P has orthonormal columns');
    const G2 = readNpy(join(out, UPSTREAM_FILES.metric2d));
    assert.deepEqual(G2.shape, [n, 2, 2]);
    // PᵀGP written out for point 3
    let pgp00 = 0;
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) pgp00 += (P.data[a * 2] as number) * (G.data[3 * d * d + a * d + b] as number) * (P.data[b * 2] as number);
    assert.ok(Math.abs((G2.data[12] as number) - pgp00) < 1e-5 * Math.max(1, Math.abs(pgp00)));
    assert.deepEqual(readNpy(join(out, UPSTREAM_FILES.eta2d)).shape, [n, 2]);
    const geo = readNpy(join(out, UPSTREAM_FILES.geodesic('fisher')));
    assert.deepEqual(Array.from(geo.data), Array.from(r.fisherGeodesic.data));
    const graphml = readFileSync(join(out, UPSTREAM_FILES.graphml('fisher')), 'utf8');
    const nnz = readNpy(join(out, UPSTREAM_FILES.csr('fisher', 'indices'))).data.length;
    assert.equal((graphml.match(/<edge /g) ?? []).length, nnz / 2, 'each undirected edge once');
    assert.equal((graphml.match(/<node /g) ?? []).length, n);
    const summary = JSON.parse(readFileSync(join(out, 'fisher', 'comparison.json'), 'utf8'));
    assert.equal(summary.ellipses, 'covariance');
    assert.equal(summary.mds.init, 'random');
    assert.equal(summary.mds.spectrum.fisher.eigenvalues.length, 5);
    // covariance ellipses: the largest semi-axis is 2.5 % of the MDS range
    const xs = Array.from({ length: n }, (_, i) => r.fisherMds.data[i * 2]!), ys = Array.from({ length: n }, (_, i) => r.fisherMds.data[i * 2 + 1]!);
    const range = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
    assert.ok(Math.abs(Math.max(...r.ellipses.map((e) => e.rx)) - 0.025 * range) < 1e-9 * range);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('covariance ellipses follow √eig of the 2×2 metric; fill uses 1.1 × the largest finite distance', () => {
  const emb = { rows: 2, cols: 2, data: Float64Array.from([0, 0, 10, 0]) };
  // point 0: diag(4, 1) → axes 2 : 1 along x; point 1: diag(1, 16) → axes 1 : 4 along y
  const e = covarianceEllipses(emb, Float64Array.from([4, 0, 0, 1, 1, 0, 0, 16]));
  const scale = (0.025 * 10) / 4;
  assert.ok(Math.abs(e[0]!.rx - 2 * scale) < 1e-12 && Math.abs(e[0]!.ry - scale) < 1e-12 && Math.abs(e[0]!.angle) < 1e-12);
  assert.ok(Math.abs(e[1]!.rx - 4 * scale) < 1e-12 && Math.abs(Math.abs(e[1]!.angle) - Math.PI / 2) < 1e-12);
  const dist = Float64Array.from([0, 3, Infinity, 3, 0, Infinity, Infinity, Infinity, 0]);
  const f = fillDisconnected(dist);
  assert.equal(f.filled, 4);
  assert.ok(Math.abs(dist[2]! - 3.3) < 1e-12);
});

test('MDS spectrum: top eigenvalues and trace shares equal a full decomposition of −½ J D² J', async () => {
  const n = 12;
  const pts = Array.from({ length: n }, (_, i) => [Math.cos(i), Math.sin(2 * i), i / 5]);
  const D = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) D[i * n + j] = Math.hypot(...pts[i]!.map((v, c) => v - pts[j]![c]!));
  const s = await mdsSpectrum({ rows: n, cols: n, data: D });
  const B = new Float64Array(n * n);
  const J = (i: number, j: number) => (i === j ? 1 : 0) - 1 / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let v = 0;
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) v += J(i, a) * D[a * n + b]! ** 2 * J(b, j);
    B[i * n + j] = -0.5 * v;
  }
  const eig = symmetricEigen({ rows: n, cols: n, data: B });
  const trace = Array.from(eig.values).reduce((a, b) => a + b, 0);
  for (let c = 0; c < 5; c++) {
    assert.ok(Math.abs(s.eigenvalues[c]! - eig.values[c]!) < 1e-9 * Math.abs(eig.values[0]!));
    assert.ok(Math.abs(s.explainedRatio[c]! - eig.values[c]! / trace) < 1e-9);
  }
});

import test from 'node:test';
import assert from 'node:assert/strict';
import { ActivationAreas, type ActivationInput } from '../src/mri/activation-areas.ts';
import { labelColor, secondLabelShare, nragSvg } from '../src/mri/draw.ts';
import { reduceLayer } from '../src/mri/reduce.ts';
import { colormapHex, parseDivergingColormap, COLORMAP_NAMES } from '../src/plot/colormap.ts';
import { averageRanks, pearson } from '../src/geometry/quality.ts';
import { Rng } from '../src/geometry/rng.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

function synthetic(n = 40, d = 8, layers = 3): ActivationInput {
  const rng = new Rng(7);
  const labels = Array.from({ length: n }, (_, i) => i % 2);
  const mats = Array.from({ length: layers }, (_, l) => {
    const data = new Float32Array(n * d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) data[i * d + j] = rng.normal() + (j === l && labels[i] ? 3 : 0);
    return { rows: n, cols: d, data } as Matrix;
  });
  return { layers: mats.map((_, l) => l), nLayers: layers, readLayer: (l) => mats[l]!, texts: labels.map((c, i) => `t${i}`), labels, classNames: ['a', 'b'], key: 'opts' };
}

test('colormaps: matplotlib coolwarm control points, reversal, unknown names rejected', () => {
  assert.equal(colormapHex('coolwarm', 0), '#3b4cc0'); // (0.2298057, 0.298717966, 0.753683153) · 255
  assert.equal(colormapHex('coolwarm', 1), '#b40426');
  assert.equal(colormapHex('coolwarm_r', 0), colormapHex('coolwarm', 1));
  assert.equal(colormapHex('bwr', 0.5), '#ffffff');
  assert.equal(colormapHex('PiYG', 0), '#8e0152');
  assert.ok(COLORMAP_NAMES.includes('Spectral_r'));
  assert.throws(() => parseDivergingColormap('jet'), /unknown diverging colormap 'jet'/);
});

test('two selected labels always get distinct edge colours (the map\'s two ends), even when their indices are adjacent', () => {
  assert.equal(labelColor(7, 15, 'coolwarm', [7, 8]), colormapHex('coolwarm', 0));
  assert.equal(labelColor(8, 15, 'coolwarm', [7, 8]), colormapHex('coolwarm', 1));
  assert.notEqual(labelColor(7, 15, 'coolwarm', [7, 8]), labelColor(8, 15, 'coolwarm', [7, 8]));
});

test('Spearman orientation: upstream edges carry the transposed correlation', async () => {
  const input = synthetic();
  const areas = new ActivationAreas(input, { method: 'pca', nComponents: 3, seed: 0 });
  const ours = await areas.graph({ labels: ['a'], threshold: -2 });
  const up = await areas.graph({ labels: ['a'], threshold: -2, orientation: 'upstream' });
  assert.equal(up.orientation, 'upstream');
  // Independent: ρ between component i of layer 0 and component j of layer 1 over class a's texts.
  const r0 = await areas.reduced(0, 0), r1 = await areas.reduced(1, 0);
  const col = (m: Matrix, c: number) => averageRanks(Float64Array.from({ length: m.rows }, (_, i) => m.data[i * m.cols + c]!));
  const rho = (i: number, j: number) => pearson(col(r0, i), col(r1, j));
  const edge = (g: typeof ours, s: string, t: string) => g.edges.find((e) => e.source === s && e.target === t)!;
  assert.ok(Math.abs(edge(ours, '0_0', '1_2').rho! - rho(0, 2)) < 1e-12);
  assert.ok(Math.abs(edge(up, '0_0', '1_2').rho! - rho(2, 0)) < 1e-12);
  assert.notEqual(rho(0, 2), rho(2, 0));
});

test('node share of the second label and node size by degree in the drawing', async () => {
  const input = synthetic(40, 8, 3);
  const areas = new ActivationAreas(input, { method: 'pca', nComponents: 2, gridsize: 3 });
  const g = await areas.graph({ labels: ['a', 'b'] });
  const share = secondLabelShare(g)!;
  for (const v of g.nodes.filter((x) => x.layer === 0)) {
    // Texts of b through the node / all texts through it, from the per-class counts of its outgoing edges.
    const out = g.edges.filter((e) => e.source === v.id);
    const a = out.reduce((s, e) => s + e.counts![0]!, 0), b = out.reduce((s, e) => s + e.counts![1]!, 0);
    assert.ok(Math.abs(share.get(v.id)! - b / (a + b)) < 1e-12);
  }
  const svg = nragSvg(g, areas.positions(g));
  assert.match(svg, /% b/, 'the hover text names the share');
});

test('SVD is exact by default (and standardised on the grid path); probe components reduce both feature sets', async () => {
  const input = synthetic(30, 6, 2);
  const x = input.readLayer(1);
  const a = await reduceLayer(x, { method: 'svd', nComponents: 3, seed: 0 });
  const b = await reduceLayer(x, { method: 'svd', nComponents: 3, seed: 99 });
  assert.deepEqual(Array.from(a.data), Array.from(b.data), 'the exact solver does not depend on the seed');
  const areas = new ActivationAreas(input, { method: 'pca', nComponents: 2 });
  const r = await areas.evaluate({ nSplits: 2, probeComponents: 2 });
  assert.equal(r.splits.length, 2);
  await assert.rejects(areas.evaluate({ nSplits: 2, probeComponents: 50 }), /n_components \(50\) exceeds/);
});

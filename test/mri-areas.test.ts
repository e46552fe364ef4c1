import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ActivationAreas, type ActivationInput } from '../src/mri/activation-areas.ts';
import { gridLayer, gridCounts } from '../src/mri/grid.ts';
import { reduceLayer } from '../src/mri/reduce.ts';
import { nragSvg, gridHeatmapHtml, probeBarSvg } from '../src/mri/draw.ts';
import { mriCommand } from '../src/cli/commands/mri.ts';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { Rng } from '../src/geometry/rng.ts';
import { isAtlasError } from '../src/errors.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

process.env.LATENT_ATLAS_QUIET = '1';
const atlasError = (re: RegExp) => (e: unknown) => isAtlasError(e) && re.test((e as Error).message);

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'atlas-mri-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

/**
 * Synthetic activations: 4 layers × 12 features, 3 classes × 15 texts. Layers 0, 1 and 3 are pure noise;
 * at layer 2 the three class means sit far apart (a rank-2 signal that PCA's first two components capture).
 */
function synthetic(seed = 1): ActivationInput {
  const rng = new Rng(seed);
  const n = 45, d = 12;
  const labels = Array.from({ length: n }, (_, i) => i % 3);
  const mats = [0, 1, 2, 3].map((l) => {
    const data = new Float32Array(n * d);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < d; j++) {
        let v = rng.normal();
        if (l === 2 && j < 9 && j % 3 === labels[i]) v += 12; // a strong rank-2 class signal on 9 features
        data[i * d + j] = v;
      }
    return { rows: n, cols: d, data } as Matrix;
  });
  return {
    layers: [0, 1, 2, 3], nLayers: 4, readLayer: (l) => mats[l]!,
    texts: labels.map((c, i) => `text ${i} of class ${c}`), labels, classNames: ['red', 'green', 'blue'], key: `synthetic-${seed}`,
  };
}

test('ActivationAreas: grids, NRAG, positions and metrics agree with their definitions', async () => {
  const input = synthetic();
  const areas = new ActivationAreas(input, { method: 'pca', nComponents: 2, gridsize: 5, seed: 0 });
  // grid(layer) = gridCounts of the binned standardised-PCA coordinates
  for (const layer of input.layers) {
    const red = await reduceLayer(input.readLayer(layer), { method: 'pca', nComponents: 2 });
    assert.deepEqual(await areas.grid(layer), gridCounts(gridLayer(red, 5), 5));
    const all = (await areas.grid(layer)).flat().reduce((a, b) => a + b, 0);
    assert.equal(all, 45);
    assert.equal((await areas.grid(layer, 'green')).flat().reduce((a, b) => a + b, 0), 15);
    assert.deepEqual(await areas.grid(layer, 1), await areas.grid(layer, 'green'));
  }
  const ex = await areas.cellTexts(2, undefined, 2);
  const counts = await areas.grid(2);
  ex.forEach((row, r) => row.forEach((cell, c) => assert.equal(cell.length, Math.min(2, counts[r]![c]!))));

  const g = await areas.graph();
  for (let l = 0; l < 3; l++) assert.equal(g.edges.filter((e) => e.level === l).reduce((s, e) => s + e.weight, 0), 45);
  // the classes separate at layer 2: per-label graphs share no region there
  const per = await Promise.all(['red', 'green', 'blue'].map((c) => areas.graph({ labels: [c] })));
  const at2 = per.map((p) => new Set(p.nodes.filter((v) => v.layer === 2).map((v) => v.id)));
  for (let a = 0; a < 3; a++) for (let b = a + 1; b < 3; b++) assert.equal([...at2[a]!].filter((x) => at2[b]!.has(x)).length, 0, `classes ${a}, ${b} at layer 2`);
  const pair = await areas.graph({ labels: ['red', 'blue'] });
  assert.ok(pair.edges.filter((e) => e.level === 1 || e.level === 2).every((e) => !e.overlap));

  // positions: early layers on top (y = nLayers − layer); 'fixed' is the cell index, the same in every graph
  const fixed = areas.positions(per[0]!, 'fixed');
  for (const v of per[0]!.nodes) assert.deepEqual(fixed.get(v.id), { x: v.x! * 5 + v.y!, y: 4 - v.layer });
  const fixedB = areas.positions(per[2]!, 'fixed');
  for (const v of per[2]!.nodes) if (fixed.has(v.id)) assert.deepEqual(fixedB.get(v.id), fixed.get(v.id));
  const compact = areas.positions(g, 'compact');
  for (const l of input.layers) {
    const xs = g.nodes.filter((v) => v.layer === l).map((v) => compact.get(v.id)!.x).sort((a, b) => a - b);
    xs.forEach((x, i) => i && assert.equal(x - xs[i - 1]!, 1));
  }
  const m = areas.metrics(g);
  assert.equal(m.nodes, g.nodes.length);
  assert.ok(Math.abs(m.meanStrength! - (2 * g.edges.reduce((s, e) => s + e.weight, 0)) / g.nodes.length) < 1e-12, 'mean strength = 2·total weight / nodes');
  // drawings: SVG with one path per edge and one circle per node; HTML hover texts
  const svg = nragSvg(g, fixed.size ? areas.positions(g) : fixed, { title: 'test' });
  const group = (cls: string) => (svg.split(`<g class="${cls}"`)[1] ?? '').split('</g>')[0];
  assert.equal((group('edges').match(/<path /g) ?? []).length, g.edges.length);
  assert.equal((group('nodes').match(/<circle /g) ?? []).length, g.nodes.length);
  const html = gridHeatmapHtml({ counts, examples: ex, title: 'layer 2' });
  assert.ok(html.includes('text 0 of class 0') || html.includes('of class'), 'examples in hover text');
  assert.ok(html.startsWith('<!DOCTYPE html>'));
});

test('ActivationAreas: Spearman mode per category; bad input gives clear errors', async () => {
  const input = synthetic(2);
  const areas = new ActivationAreas(input, { method: 'pca', nComponents: 3, seed: 0 });
  await assert.rejects(areas.graph(), atlasError(/built per category/));
  const g = await areas.graph({ labels: ['red'], threshold: -1 });
  assert.equal(g.mode, 'spearman');
  assert.equal(g.nodes.length, 12);
  assert.equal(g.edges.length, 27, 'threshold −1 keeps all 3 × 3 pairs of 3 layer transitions');
  const both = await areas.graph({ labels: ['red', 'blue'], threshold: 0.3 });
  assert.ok(both.edges.every((e) => e.rho! > 0.3));
  await assert.rejects(areas.grid(0), atlasError(/need 2 components/));
  // identical vectors for every text (BERT [CLS] at the embedding layer): one point, not an error
  const same = await reduceLayer({ rows: 5, cols: 4, data: new Float32Array(20).fill(0.5) }, { method: 'umap', nComponents: 2 });
  assert.deepEqual(Array.from(same.data), new Array(10).fill(0));
  await assert.rejects(areas.graph({ labels: ['purple'] }), atlasError(/unknown category "purple"/));
  await assert.rejects(areas.graph({ labels: ['red', 'green', 'blue'] }), atlasError(/at most two/));
  assert.throws(() => new ActivationAreas(input, { nComponents: 2, gridsize: 0 }), atlasError(/gridsize must be a positive integer/));
  assert.throws(() => new ActivationAreas(input, { nComponents: 13 }), atlasError(/n_components \(13\) exceeds/));
  assert.throws(() => new ActivationAreas(input, { method: 'svd', nComponents: 12 }), atlasError(/n_components < n_features/));
});

test('ActivationAreas: reduced activations are cached on disk and reused; probing runs on them', async () => {
  const input = synthetic(3);
  const cacheDir = join(root, 'reduced-cache');
  let reads = 0;
  const counting: ActivationInput = { ...input, readLayer: (l) => { reads++; return input.readLayer(l); } };
  const a = new ActivationAreas(counting, { method: 'svd', nComponents: 2, cacheDir, seed: 4 });
  const first = await a.reduced(2);
  const readsAfterFirst = reads;
  const b = new ActivationAreas(counting, { method: 'svd', nComponents: 2, cacheDir, seed: 4 });
  const second = await b.reduced(2);
  assert.equal(reads, readsAfterFirst + 1, 'only the constructor\'s shape check reads activations');
  assert.deepEqual(Array.from(second.data), Array.from(first.data));
  assert.ok(readdirSync(cacheDir).length === 1);
  const c = new ActivationAreas(counting, { method: 'svd', nComponents: 2, cacheDir, seed: 5 });
  await c.reduced(2);
  assert.equal(readdirSync(cacheDir).length, 2, 'another seed is another cache entry');

  const r = await a.evaluate({ nSplits: 3 });
  assert.equal(r.splits.length, 3);
  // full = last layer (noise) vs reduced (layer 2 separates the classes): reduced wins, difference < 0
  assert.ok(r.summary.accuracy!.difference < 0, `difference ${r.summary.accuracy!.difference}`);
  assert.ok(probeBarSvg(r).includes('<rect x='));
  const unlabelled = new ActivationAreas({ ...input, labels: null, classNames: [] }, { nComponents: 2 });
  await assert.rejects(unlabelled.evaluate(), atlasError(/no labels/));
  const few = new ActivationAreas({ ...input, labels: input.labels!.map((l, i) => (i === 0 ? 3 : l)), classNames: [...input.classNames, 'lonely'] }, { nComponents: 2 });
  await assert.rejects(few.evaluate(), atlasError(/label 'lonely' has 1 sample/));
});

test('CLI: latent-atlas mri on a tiny BERT with UMAP writes heatmaps, graph, GraphML/JSON, metrics and evaluation', async () => {
  const model = join(root, 'bert');
  writeTinyCheckpoint(model, { architecture: 'bert', seed: 1, nLayer: 2, dModel: 16, nHead: 2 });
  const words = { pos: ['good', 'great', 'happy', 'love'], neg: ['bad', 'sad', 'hate', 'not good'] };
  const rows: string[] = [];
  for (let i = 0; i < 16; i++) for (const [label, ws] of Object.entries(words)) rows.push(JSON.stringify({ text: `the ${ws[i % 4]} movie ${'a '.repeat(i % 3)}story`, label }));
  const data = join(root, 'data.jsonl');
  writeFileSync(data, rows.join('\n') + '\n');
  const out = join(root, 'out');
  const log = console.log;
  const lines: string[] = [];
  console.log = (...a: unknown[]) => lines.push(a.join(' '));
  try {
    await mriCommand.run(['--model', model, '--data', data, '--reduce', 'umap', '--components', '2', '--gridsize', '10', '--out', out,
      '--evaluate', '--splits', '3', '--cache', join(root, 'cache'), '--threads', '1']);
  } finally {
    console.log = log;
  }
  for (const f of ['graph.svg', 'graph.png', 'graph.html', 'graph.graphml', 'graph.json', 'metrics.json', 'metrics.tsv', 'evaluation.json', 'evaluation.png']) {
    assert.ok(existsSync(join(out, f)), f);
  }
  assert.deepEqual([...readFileSync(join(out, 'graph.png')).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  const heat = readdirSync(join(out, 'heatmaps'));
  assert.equal(heat.filter((f) => f.endsWith('.png')).length, 3 * 3, '3 hidden states × (all, pos, neg)');
  const graph = JSON.parse(readFileSync(join(out, 'graph.json'), 'utf8')) as { links: { level: number; weight: number }[] };
  for (const level of [0, 1]) assert.equal(graph.links.filter((e) => e.level === level).reduce((s, e) => s + e.weight, 0), 32);
  const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as Record<string, { density: number }>;
  assert.deepEqual(Object.keys(metrics), ['all', 'pos', 'neg']);
  const evaluation = JSON.parse(readFileSync(join(out, 'evaluation.json'), 'utf8')) as { splits: unknown[] };
  assert.equal(evaluation.splits.length, 3);
  assert.ok(lines.some((l) => l.startsWith('accuracy')));

  // bad input: clear errors before any heavy work
  await assert.rejects(mriCommand.run(['--model', model, '--data', data, '--gridsize', '0', '--out', out]), atlasError(/--gridsize must be an integer ≥ 1, got '0'/));
  await assert.rejects(mriCommand.run(['--model', model, '--data', data, '--components', '17', '--out', out, '--cache', join(root, 'cache')]), atlasError(/n_components \(17\) exceeds what 16 features allow/));
  await assert.rejects(mriCommand.run(['--model', model, '--data', data, '--labels', 'meh', '--out', out, '--cache', join(root, 'cache')]), atlasError(/unknown category "meh"/));
  await assert.rejects(mriCommand.run(['--model', model, '--data', data, '--reduce', 'tsne', '--out', out]), atlasError(/--reduce must be one of pca, svd, umap, got 'tsne'/));
});

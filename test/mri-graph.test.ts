import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import { cut, cutEdges, gridCounts, gridLayer, checkGridsize } from '../src/mri/grid.ts';
import { buildGridNrag, buildSpearmanNrag } from '../src/mri/nrag.ts';
import { describe as stats, graphMetrics } from '../src/mri/metrics.ts';
import { nragToGraphml, nragToJson } from '../src/mri/export.ts';
import { averageRanks, pearson } from '../src/geometry/quality.ts';
import { isAtlasError } from '../src/errors.ts';
import { Rng } from '../src/geometry/rng.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

const atlasError = (re: RegExp) => (e: unknown) => isAtlasError(e) && re.test((e as Error).message);

test('cut: pandas.cut(bins=n, labels=False) edges and right-closed bins', () => {
  // pd.cut(range(11), 5, labels=False) -> [0,0,0,1,1,2,2,3,3,4,4]; edges [-0.01, 2, 4, 6, 8, 10]
  const { bins, edges } = cut(Array.from({ length: 11 }, (_, i) => i), 5);
  assert.deepEqual(Array.from(bins), [0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
  assert.deepEqual(Array.from(edges), [-0.01, 2, 4, 6, 8, 10]);
  // minimum goes to bin 0, maximum to the last bin, negative ranges too
  const b2 = cut([-3, -1, -2.5, 5], 4).bins;
  assert.deepEqual(Array.from(b2), [0, 0, 0, 3]);
  // constant input: edges widened by 0.1 % of |value| around it, everything in one bin
  const e = cutEdges([2, 2, 2], 4);
  assert.ok(Math.abs(e[0]! - 1.998) < 1e-12 && Math.abs(e[4]! - 2.002) < 1e-12);
  const c = cut([2, 2, 2], 4).bins;
  assert.ok(c.every((x) => x === c[0]));
  assert.throws(() => cut([0, Number.NaN], 3), atlasError(/finite/));
  assert.throws(() => checkGridsize(0), atlasError(/gridsize must be a positive integer/));
  assert.throws(() => checkGridsize(2.5), atlasError(/gridsize/));
});

test('gridCounts: row 0 holds the highest y bin; counts add up', () => {
  const coords: Matrix = { rows: 4, cols: 2, data: Float64Array.from([0, 0, 1, 1, 1, 0, 0.2, 0.9]) };
  const g = gridLayer(coords, 2);
  assert.deepEqual(Array.from(g.x), [0, 1, 1, 0]);
  assert.deepEqual(Array.from(g.y), [0, 1, 0, 1]);
  assert.deepEqual(gridCounts(g, 2), [[1, 1], [1, 1]]);
  assert.deepEqual(gridCounts(g, 2, (i) => i !== 3), [[0, 1], [1, 1]]);
  assert.throws(() => gridLayer({ rows: 2, cols: 3, data: new Float64Array(6) }, 2), atlasError(/2 reduced components/));
});

function randomGrids(n: number, layers: number, gridsize: number, seed: number) {
  const rng = new Rng(seed);
  return Array.from({ length: layers }, () => gridLayer({ rows: n, cols: 2, data: Float64Array.from({ length: 2 * n }, () => rng.normal()) }, gridsize));
}

test('grid NRAG: weights sum to the number of counted texts between every pair of consecutive layers', () => {
  const n = 57, L = 5, gridsize = 4;
  const grids = randomGrids(n, L, gridsize, 3);
  const labels = Array.from({ length: n }, (_, i) => i % 3);
  const layers = [0, 1, 2, 3, 4];
  const all = buildGridNrag({ grids, layers, nLayers: L, gridsize, labels, classNames: ['a', 'b', 'c'] });
  for (let l = 0; l + 1 < L; l++) {
    const level = all.edges.filter((e) => e.level === l);
    assert.equal(level.reduce((s, e) => s + e.weight, 0), n, `level ${l}`);
    // per-class counts add up to the weight, the edge label is the majority class
    for (const e of level) {
      assert.equal(e.counts!.reduce((a, b) => a + b, 0), e.weight);
      assert.equal(e.counts![e.label!], Math.max(...e.counts!));
    }
  }
  // node counts: texts per cell per layer
  for (const l of layers) assert.equal(all.nodes.filter((v) => v.layer === l).reduce((s, v) => s + v.count!, 0), n);
  // one category: only that class's texts count
  const only1 = buildGridNrag({ grids, layers, nLayers: L, gridsize, labels, classNames: ['a', 'b', 'c'], categories: [1] });
  const count1 = labels.filter((x) => x === 1).length;
  for (let l = 0; l + 1 < L; l++) assert.equal(only1.edges.filter((e) => e.level === l).reduce((s, e) => s + e.weight, 0), count1);
  assert.ok(only1.edges.every((e) => e.label === 1));
  // two categories composed: union of edges; overlap = in both; b's attributes win
  const g0 = buildGridNrag({ grids, layers, nLayers: L, gridsize, labels, classNames: ['a', 'b', 'c'], categories: [0] });
  const both = buildGridNrag({ grids, layers, nLayers: L, gridsize, labels, classNames: ['a', 'b', 'c'], categories: [0, 1] });
  const key = (e: { source: string; target: string }) => `${e.source}>${e.target}`;
  const k0 = new Set(g0.edges.map(key)), k1 = new Set(only1.edges.map(key));
  assert.equal(both.edges.length, new Set([...k0, ...k1]).size);
  for (const e of both.edges) {
    assert.equal(e.overlap, k0.has(key(e)) && k1.has(key(e)));
    assert.equal(e.label, k1.has(key(e)) ? 1 : 0);
  }
  // unlabelled data: no label attribute, and categories are refused
  const plain = buildGridNrag({ grids, layers, nLayers: L, gridsize, labels: null, classNames: [] });
  assert.ok(plain.edges.every((e) => e.label === undefined));
  assert.throws(() => buildGridNrag({ grids, layers, nLayers: L, gridsize, labels: null, classNames: [], categories: [0] }), atlasError(/no labels/));
  assert.throws(() => buildGridNrag({ grids, layers, nLayers: L, gridsize, labels, classNames: ['a', 'b', 'c'], categories: [0, 1, 2] }), atlasError(/at most two/));
  assert.throws(() => buildGridNrag({ grids, layers, nLayers: L, gridsize, labels, classNames: ['a', 'b', 'c'], categories: [5] }), atlasError(/unknown category/));
});

test('grid NRAG: labels that separate perfectly at a layer give disjoint per-label subgraphs there', () => {
  const n = 40, gridsize = 6;
  const rng = new Rng(5);
  const labels = Array.from({ length: n }, (_, i) => (i < 20 ? 0 : 1));
  const mixed = () => gridLayer({ rows: n, cols: 2, data: Float64Array.from({ length: 2 * n }, () => rng.normal()) }, gridsize);
  // layer 2: class 0 around (-5, 0), class 1 around (+5, 0): x bins of the two classes cannot meet
  const sep = gridLayer({ rows: n, cols: 2, data: Float64Array.from({ length: 2 * n }, (_, k) => (k % 2 === 0 ? (labels[k >> 1] ? 5 : -5) + 0.5 * rng.normal() : rng.normal())) }, gridsize);
  const grids = [mixed(), mixed(), sep, mixed()];
  const g0 = buildGridNrag({ grids, layers: [0, 1, 2, 3], nLayers: 4, gridsize, labels, classNames: ['a', 'b'], categories: [0] });
  const g1 = buildGridNrag({ grids, layers: [0, 1, 2, 3], nLayers: 4, gridsize, labels, classNames: ['a', 'b'], categories: [1] });
  const at = (g: typeof g0, layer: number) => new Set(g.nodes.filter((v) => v.layer === layer).map((v) => v.id));
  const a2 = at(g0, 2), b2 = at(g1, 2);
  assert.ok(a2.size > 0 && b2.size > 0);
  assert.equal([...a2].filter((x) => b2.has(x)).length, 0, 'no shared region at the separating layer');
  // edges into and out of layer 2 are disjoint too
  const touching = (g: typeof g0) => new Set(g.edges.filter((e) => e.level === 1 || e.level === 2).map((e) => `${e.source}>${e.target}`));
  const t0 = touching(g0), t1 = touching(g1);
  assert.equal([...t0].filter((x) => t1.has(x)).length, 0);
  // the composed graph has no overlapping edge at those levels
  const both = buildGridNrag({ grids, layers: [0, 1, 2, 3], nLayers: 4, gridsize, labels, classNames: ['a', 'b'], categories: [0, 1] });
  assert.ok(both.edges.filter((e) => e.level === 1 || e.level === 2).every((e) => e.overlap === false));
});

test('Spearman: ties get average ranks and ρ equals the Pearson correlation of the ranks', () => {
  assert.deepEqual(Array.from(averageRanks([10, 20, 20, 5, 20])), [2, 4, 4, 1, 4]);
  const a = [1, 2, 2, 3, 7, 7, 7, 9];
  const b = [4, 1, 1, 8, 9, 9, 3, 2];
  // scipy.stats.spearmanr(a, b) via the definition: Pearson of average ranks, computed by hand here
  const ra = [1, 2.5, 2.5, 4, 6, 6, 6, 8], rb = [5, 1.5, 1.5, 6, 7.5, 7.5, 4, 3];
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const ma = mean(ra), mb = mean(rb);
  let sab = 0, saa = 0, sbb = 0;
  ra.forEach((x, i) => { sab += (x - ma) * (rb[i]! - mb); saa += (x - ma) ** 2; sbb += (rb[i]! - mb) ** 2; });
  const want = sab / Math.sqrt(saa * sbb);
  assert.ok(Math.abs(pearson(averageRanks(a), averageRanks(b)) - want) < 1e-12);
});

test('Spearman NRAG: monotone links pass, threshold sign rule, constant components make no edge', () => {
  const n = 30;
  const rng = new Rng(2);
  const base = Array.from({ length: n }, () => rng.normal());
  const noise = () => Array.from({ length: n }, () => rng.normal());
  const mat = (cols: number[][]): Matrix => ({ rows: n, cols: cols.length, data: Float64Array.from({ length: n * cols.length }, (_, k) => cols[k % cols.length]![Math.floor(k / cols.length)]!) });
  // layer 0: [base, noise, noise]; layer 1: [exp(base) (ρ = 1), -base^3 (ρ = -1), constant]
  const l0 = mat([base, noise(), noise()]);
  const l1 = mat([base.map(Math.exp), base.map((x) => -(x ** 3)), base.map(() => 4)]);
  const signed = buildSpearmanNrag({ reduced: [{ category: 0, layers: [l0, l1] }], layers: [0, 1], nLayers: 2, classNames: ['a'], threshold: 0.9 });
  assert.equal(signed.nodes.length, 6);
  assert.deepEqual(signed.edges.map((e) => [e.source, e.target, Number(e.weight.toFixed(12)), e.rho, e.label]), [['0_0', '1_0', 1, 1, 0]]);
  const abs = buildSpearmanNrag({ reduced: [{ category: 0, layers: [l0, l1] }], layers: [0, 1], nLayers: 2, classNames: ['a'], threshold: 0.9, thresholdMode: 'absolute' });
  const e01 = abs.edges.find((e) => e.target === '1_1')!;
  assert.ok(Math.abs(e01.rho! + 1) < 1e-12 && Math.abs(e01.weight - 1) < 1e-12, 'weight |ρ|, sign kept in rho');
  assert.ok(!abs.edges.some((e) => e.target === '1_2'), 'constant component: no edge');
  // weights equal hand-computed Spearman of each pair for a low threshold
  const low = buildSpearmanNrag({ reduced: [{ category: 0, layers: [l0, l1] }], layers: [0, 1], nLayers: 2, classNames: ['a'], threshold: -2 });
  for (const e of low.edges) {
    const i = Number(e.source.split('_')[1]), j = Number(e.target.split('_')[1]);
    const col = (m: Matrix, c: number) => Array.from({ length: n }, (_, r) => m.data[r * m.cols + c]!);
    assert.ok(Math.abs(e.rho! - pearson(averageRanks(col(l0, i)), averageRanks(col(l1, j)))) < 1e-12);
  }
  assert.equal(low.edges.length, 6, '3 × 3 pairs minus the 3 with the constant component');
  assert.throws(() => buildSpearmanNrag({ reduced: [], layers: [0, 1], nLayers: 2, classNames: ['a'] }), atlasError(/one or two categories/));
});

test('graph metrics equal hand-computed values on a small directed graph', () => {
  // a→b (1), a→c (2), b→c (3), c→d (4); layers a0 b1 c1 d2; L = 3
  const g = {
    directed: true,
    nLayers: 3,
    nodes: [{ id: 'a', layer: 0 }, { id: 'b', layer: 1 }, { id: 'c', layer: 1 }, { id: 'd', layer: 2 }],
    edges: [{ source: 'a', target: 'b', weight: 1 }, { source: 'a', target: 'c', weight: 2 }, { source: 'b', target: 'c', weight: 3 }, { source: 'c', target: 'd', weight: 4 }],
  };
  const m = graphMetrics(g);
  // degrees [2, 2, 3, 1]: mean 2, var 2/3, skew 0, kurtosis 1.5 (pandas: bias-corrected excess)
  assert.equal(m.meanDegree, 2);
  assert.ok(Math.abs(m.varDegree! - 2 / 3) < 1e-12);
  assert.equal(m.skewDegree, 0);
  assert.ok(Math.abs(m.kurtosisDegree! - 1.5) < 1e-12);
  // strengths [3, 4, 9, 4]: textbook G1 = g1·√(n(n−1))/(n−2), G2 = ((n+1)g2 + 6)(n−1)/((n−2)(n−3))
  const s = [3, 4, 9, 4], n = 4, mu = 5;
  const m2 = s.reduce((a, x) => a + (x - mu) ** 2, 0) / n, m3 = s.reduce((a, x) => a + (x - mu) ** 3, 0) / n, m4 = s.reduce((a, x) => a + (x - mu) ** 4, 0) / n;
  const G1 = (m3 / m2 ** 1.5) * Math.sqrt(n * (n - 1)) / (n - 2);
  const G2 = (((n + 1) * (m4 / m2 ** 2 - 3) + 6) * (n - 1)) / ((n - 2) * (n - 3));
  assert.equal(m.meanStrength, 5);
  assert.ok(Math.abs(m.varStrength! - 22 / 3) < 1e-12);
  assert.ok(Math.abs(m.skewStrength! - G1) < 1e-12);
  assert.ok(Math.abs(m.kurtosisStrength! - G2) < 1e-12);
  // assortativity: (out-strength of source, in-strength of target) per edge: x = [3,3,3,4], y = [1,5,5,4]
  assert.ok(Math.abs(m.assortativity! - 0.25 / Math.sqrt(0.75 * 10.75)) < 1e-12);
  assert.ok(Math.abs(m.density - 4 / 12) < 1e-15);
  // centre of mass: mean(layer − L/2) = ((0 + 1 + 1 + 2) / 4) − 1.5 = −0.5
  assert.ok(Math.abs(m.centerOfMass! + 0.5) < 1e-15);
  // centre of strength: layer 1 has strengths [4, 9]: std 3.5355…·(1 − 1.5); single-node layers contribute 0
  assert.ok(Math.abs(m.centerOfStrength! - Math.sqrt(12.5) * -0.5) < 1e-12);
  // strength-weighted depth: (3·0 + 4·1 + 9·1 + 4·2) / 20 / 2
  assert.ok(Math.abs(m.strengthDepth! - 21 / 40) < 1e-15);
});

test('graph metrics: star assortativity −1, complete graph density 1, undefined statistics are null', () => {
  const leaves = ['b', 'c', 'd', 'e', 'f'];
  const nodes = [{ id: 'a' }, ...leaves.map((id) => ({ id }))];
  const star = graphMetrics({ directed: false, nodes, edges: leaves.map((l) => ({ source: 'a', target: l, weight: 1 })) });
  assert.ok(Math.abs(star.assortativity! + 1) < 1e-12);
  // directed star with edges both ways: same answer
  const star2 = graphMetrics({ directed: true, nodes, edges: leaves.flatMap((l) => [{ source: 'a', target: l, weight: 1 }, { source: l, target: 'a', weight: 1 }]) });
  assert.ok(Math.abs(star2.assortativity! + 1) < 1e-12);
  // weighted star (weights differ): still −1, the hub's strength is the sum
  const star3 = graphMetrics({ directed: false, nodes, edges: leaves.map((l, i) => ({ source: 'a', target: l, weight: i + 1 })) });
  assert.ok(star3.assortativity! < 0);
  const ids = ['p', 'q', 'r', 's'];
  const completeD = graphMetrics({ directed: true, nodes: ids.map((id) => ({ id })), edges: ids.flatMap((a) => ids.filter((b) => b !== a).map((b) => ({ source: a, target: b, weight: 1 }))) });
  assert.equal(completeD.density, 1);
  const completeU = graphMetrics({ directed: false, nodes: ids.map((id) => ({ id })), edges: ids.flatMap((a, i) => ids.slice(i + 1).map((b) => ({ source: a, target: b, weight: 2 }))) });
  assert.equal(completeU.density, 1);
  assert.equal(completeU.assortativity, null, 'regular graph: constant degrees, correlation undefined');
  assert.equal(completeU.skewDegree, 0);
  const tiny = graphMetrics({ directed: true, nodes: [{ id: 'x' }, { id: 'y' }], edges: [{ source: 'x', target: 'y', weight: 1 }] });
  assert.equal(tiny.skewDegree, null);
  assert.equal(tiny.kurtosisDegree, null);
  assert.equal(tiny.centerOfMass, null, 'no layer information');
  assert.deepEqual(stats([]), { mean: null, variance: null, skew: null, kurtosis: null });
  assert.throws(() => graphMetrics({ directed: true, nodes: [{ id: 'x' }], edges: [{ source: 'x', target: 'zz', weight: 1 }] }), atlasError(/not in the graph/));
});

test('GraphML and node-link JSON export round-trip the graph', () => {
  const grids = randomGrids(20, 3, 3, 9);
  const labels = Array.from({ length: 20 }, (_, i) => i % 2);
  const g = buildGridNrag({ grids, layers: [0, 1, 2], nLayers: 3, gridsize: 3, labels, classNames: ['neg & "x"', 'pos'], categories: [0, 1] });
  const xml = nragToGraphml(g);
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml);
  const keys = new Map<string, { name: string; type: string; for: string }>((doc.graphml.key as { id: string; 'attr.name': string; 'attr.type': string; for: string }[]).map((k) => [k.id, { name: k['attr.name'], type: k['attr.type'], for: k.for }]));
  assert.equal(doc.graphml.graph.edgedefault, 'directed');
  const asList = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);
  const nodes = asList(doc.graphml.graph.node);
  const edges = asList(doc.graphml.graph.edge) as { source: string; target: string; data: { key: string; '#text': string | number | boolean }[] }[];
  assert.equal(nodes.length, g.nodes.length);
  assert.equal(edges.length, g.edges.length);
  const weightKey = [...keys].find(([, k]) => k.for === 'edge' && k.name === 'weight')!;
  assert.equal(weightKey[1].type, 'double');
  edges.forEach((e, i) => {
    assert.equal(e.source, g.edges[i]!.source);
    const w = asList(e.data).find((d) => d.key === weightKey[0])!;
    assert.equal(Number(w['#text']), g.edges[i]!.weight);
    const overlapKey = [...keys].find(([, k]) => k.for === 'edge' && k.name === 'overlap')![0];
    assert.equal(String(asList(e.data).find((d) => d.key === overlapKey)!['#text']), String(g.edges[i]!.overlap));
  });
  assert.ok(xml.includes('neg &amp; ') && !xml.includes('neg & '), 'class names are escaped');
  const classKey = [...keys].find(([, k]) => k.for === 'graph' && k.name === 'class_names')![0];
  const gdata = asList(doc.graphml.graph.data) as { key: string; '#text': string }[];
  assert.deepEqual(JSON.parse(new XMLParser({ processEntities: true }).parse(`<a>${xml.split(`<data key="${classKey}">`)[1]!.split('</data>')[0]}</a>`).a), g.classNames);
  assert.ok(gdata.length > 0);
  const json = JSON.parse(JSON.stringify(nragToJson(g))) as { directed: boolean; nodes: { id: string }[]; links: { source: string; target: string; weight: number }[]; graph: { layers: number } };
  assert.equal(json.directed, true);
  assert.equal(json.graph.layers, 3);
  assert.deepEqual(json.links.map((e) => [e.source, e.target, e.weight]), g.edges.map((e) => [e.source, e.target, e.weight]));
  assert.deepEqual(json.nodes.map((v) => v.id), g.nodes.map((v) => v.id));
});

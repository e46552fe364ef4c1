import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { AtlasError } from '../src/errors.ts';
import { ellipsePoints, facetSvg, graphSvg, heatmapSvg, lineSvg, scatterSvg } from '../src/plot/index.ts';
import { svgSize } from '../src/plot/svg.ts';

const HOSTILE = `</svg><script>alert(1)</script><img src=x onerror="alert('x')"> & "quotes" 'single'`;

function assertWellFormed(svg: string): void {
  const r = XMLValidator.validate(svg);
  assert.equal(r, true, `not well-formed XML: ${JSON.stringify(r)}`);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  // Walk the parsed tree: hostile text must stay text, never become an element or an attribute.
  const walk = (node: unknown, name: string): void => {
    if (Array.isArray(node)) return node.forEach((c) => walk(c, name));
    if (node === null || typeof node !== 'object') return;
    assert.notEqual(name.toLowerCase(), 'script', 'no script element');
    assert.notEqual(name.toLowerCase(), 'img', 'no img element');
    for (const [k, v] of Object.entries(node)) {
      if (k.startsWith('@_')) assert.ok(!/^@_on/i.test(k), `no event-handler attribute ${k}`);
      else walk(v, k);
    }
  };
  walk(new XMLParser({ ignoreAttributes: false }).parse(svg), '');
  assert.ok(!/NaN|Infinity|undefined/.test(svg), 'no NaN/Infinity/undefined in output');
}

function count(svg: string, re: RegExp): number {
  return (svg.match(re) ?? []).length;
}

test('scatterSvg: well-formed, one circle per point, hostile names escaped, ellipses and edges drawn', () => {
  const n = 500;
  const x = Array.from({ length: n }, (_, i) => Math.cos(i) * i);
  const y = Array.from({ length: n }, (_, i) => Math.sin(i) * i);
  const labels = Array.from({ length: n }, (_, i) => i % 3);
  const svg = scatterSvg({
    x, y, labels, classNames: ['a', HOSTILE, 'c'], title: HOSTILE, xLabel: 'x <1>', yLabel: 'y & z',
    ellipses: [{ cx: 0, cy: 0, rx: 100, ry: 30, angle: 0.3, classIndex: 1 }], edges: [[0, 1], [2, 3]],
  });
  assertWellFormed(svg);
  assert.equal(count(svg, /<circle /g), n + 3, 'n points + 3 legend dots');
  assert.ok(svg.includes('&lt;/svg&gt;&lt;script&gt;'), 'hostile text is present, escaped');
  const parsed = new XMLParser({ ignoreAttributes: false }).parse(svg);
  assert.ok(parsed.svg, 'parses to an svg root');
});

test('scatterSvg: equal aspect gives the same px per data unit on both axes', () => {
  const svg = scatterSvg({ x: [0, 10, 0], y: [0, 0, 2], equalAspect: true, width: 600, height: 400, pointRadius: 2 });
  const c = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)" r="2"/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.equal(c.length, 3);
  const pxPerX = (c[1]![0]! - c[0]![0]!) / 10;
  const pxPerY = (c[0]![1]! - c[2]![1]!) / 2;
  assert.ok(Math.abs(pxPerX - pxPerY) < 0.02, `${pxPerX} vs ${pxPerY}`);
});

test('ellipsePoints lie on the rotated ellipse (closed form check)', () => {
  const e = { cx: 1, cy: -2, rx: 3, ry: 0.5, angle: 0.7 };
  for (const [px, py] of ellipsePoints(e, 40)) {
    const dx = px - e.cx;
    const dy = py - e.cy;
    const u = dx * Math.cos(e.angle) + dy * Math.sin(e.angle);
    const v = -dx * Math.sin(e.angle) + dy * Math.cos(e.angle);
    assert.ok(Math.abs((u / e.rx) ** 2 + (v / e.ry) ** 2 - 1) < 1e-12);
  }
});

test('scatterSvg rejects bad input with AtlasError naming the field', () => {
  assert.throws(() => scatterSvg({ x: [0, 1], y: [0] }), (e: unknown) => e instanceof AtlasError && e.field === 'y');
  assert.throws(() => scatterSvg({ x: [0, NaN], y: [0, 1] }), (e: unknown) => e instanceof AtlasError && e.field === 'x');
  assert.throws(() => scatterSvg({ x: [0, 1], y: [0, 1], labels: [0, 2], classNames: ['a', 'b'] }), /labels/);
  assert.throws(() => scatterSvg({ x: [0, 1], y: [0, 1], edges: [[0, 5]] }), /edges/);
});

test('lineSvg: error bars, gaps at NaN, tooltips escaped', () => {
  const svg = lineSvg({
    title: 'ID', xLabel: 'layer', yLabel: 'ID', tooltips: true,
    series: [
      { name: HOSTILE, x: [0, 1, 2, 3], y: [1, 2, NaN, 4], yErr: [0.1, 0.2, 0.3, 0.4] },
      { name: 'b', x: [0, 1, 2, 3], y: [2, 2, 2, 2] },
    ],
  });
  assertWellFormed(svg);
  assert.equal(count(svg, /<title>/g), 3 + 4, 'one tooltip per finite point');
  // Series 0: the NaN at x=2 splits the line into two sub-paths.
  const paths = [...svg.matchAll(/<path d="(M[^"]*)" stroke="#0072B2" stroke-width="2"/g)].filter((m) => m[1]!.includes('L'));
  assert.equal(paths.length, 1, 'one data line (the other path of that colour is the legend stroke)');
  assert.equal(count(paths[0]![1]!, /M/g), 2);
  assert.throws(() => lineSvg({ series: [{ name: 'a', x: [0, 1], y: [1] }] }), AtlasError);
});

test('heatmapSvg: one cell per value, NaN cells grey, tooltips, colour bar, label checks', () => {
  const values = [[0, 1, 2], [3, NaN, 5]];
  const svg = heatmapSvg({
    values, rowLabels: ['r0', HOSTILE], colLabels: ['a', 'b', 'c'], title: 'H', colormap: 'viridis',
    cellTooltips: [['t0', 't1', 't2'], ['t3', HOSTILE, 't5']],
  });
  assertWellFormed(svg);
  assert.equal(count(svg, /<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[\d.]+" fill="#[0-9a-f]{6}"><title>/g), 6);
  assert.ok(svg.includes('fill="#d9d9d9"'), 'NaN cell drawn grey');
  assert.ok(svg.includes('fill="#440154"') && svg.includes('fill="#fde725"'), 'min and max cells take the colormap ends');
  assert.ok(svg.includes('linearGradient'), 'colour bar');
  assert.throws(() => heatmapSvg({ values: [[1, 2], [3]] }), AtlasError);
  assert.throws(() => heatmapSvg({ values: [[1, 2]], colLabels: ['a'] }), /colLabels/);
  const div = heatmapSvg({ values: [[-1, 0.5]], colormap: 'RdBu_r', colorbar: false });
  assert.ok(div.includes('fill="#053061"'), 'diverging range is symmetric: -1 maps to the blue end');
  assert.ok(!div.includes('linearGradient'));
});

test('graphSvg: edges by weight, unknown nodes rejected', () => {
  const nodes = [{ id: 'a', x: 0, y: 0, label: HOSTILE }, { id: 'b', x: 1, y: 1 }, { id: 'c', x: 1, y: -1 }];
  const svg = graphSvg({ nodes, edges: [{ source: 'a', target: 'b', weight: 2 }, { source: 'a', target: 'c', weight: 1 }], title: 'G', xLabel: 'layer' });
  assertWellFormed(svg);
  assert.equal(count(svg, /<circle /g), 3);
  const widths = [...svg.matchAll(/stroke-width="([\d.]+)" stroke-opacity/g)].map((m) => Number(m[1]));
  assert.deepEqual(widths, [3.2, 6], 'lighter edge first, heaviest = maxEdgeWidth, width ∝ weight');
  assert.throws(() => graphSvg({ nodes, edges: [{ source: 'a', target: 'zz', weight: 1 }] }), /zz/);
  assert.throws(() => graphSvg({ nodes, edges: [{ source: 'a', target: 'b', weight: -1 }] }), /weight/);
});

test('facetSvg: nested plots keep their size, grid size adds up', () => {
  const a = scatterSvg({ x: [0, 1], y: [0, 1], width: 300, height: 200 });
  const b = lineSvg({ series: [{ name: 's', x: [0, 1], y: [0, 1] }], width: 400, height: 250 });
  const svg = facetSvg({ plots: [a, b, a], columns: 2, title: 'F', gap: 10 });
  assertWellFormed(svg);
  const { width, height } = svgSize(svg);
  assert.equal(width, 300 + 400 + 3 * 10);
  assert.equal(height, 40 + 250 + 200 + 3 * 10);
  assert.equal(count(svg, /<svg /g), 4);
});

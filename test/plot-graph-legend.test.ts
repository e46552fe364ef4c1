import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labelColor } from '../src/mri/draw.ts';
import { graphSvg } from '../src/plot/graph.ts';

/** Relative luminance of #rrggbb (WCAG). */
function luminance(hex: string): number {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}

test('issue 15.23: every NRAG label colour is visible on white (the middle label was #f7f7f7)', () => {
  for (const K of [1, 2, 3, 5, 7, 10]) {
    for (let k = 0; k < K; k++) {
      const c = labelColor(k, K);
      assert.ok(luminance(c) < 0.7, `label ${k} of ${K}: ${c} is too pale on white`);
    }
  }
  assert.notEqual(labelColor(0, 3), labelColor(1, 3));
});

test('issue 15.23: the graph drawing carries a legend and row (layer) labels', () => {
  const svg = graphSvg({
    nodes: [{ id: 'a', x: 0, y: 2 }, { id: 'b', x: 1, y: 1 }],
    edges: [{ source: 'a', target: 'b', weight: 1, color: '#0072B2' }],
    legend: [{ name: 'cooking', color: '#0072B2', kind: 'line' }],
    rowLabels: [{ y: 2, label: 'embeddings' }, { y: 1, label: 'layer 1' }],
  });
  assert.match(svg, />cooking</);
  assert.match(svg, />embeddings</);
  assert.match(svg, />layer 1</);
});

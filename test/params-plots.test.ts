import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fisherPlot } from '../src/params/plots.ts';
import type { FisherReport } from '../src/params/fisher-report.ts';

test('issue 15.23: fisher_layers has ticks on layers only, the embedding and head groups, and a y axis from 0', () => {
  const g = (group: string, sum: number) => ({ group, total: { sum }, components: { mlp_up: { sum: sum / 2 } } });
  const report = { layers: [g('head', 0.5), g('1', 40), g('embed', 100), g('0', 60)] } as unknown as FisherReport;
  const [svgPath] = fisherPlot(report, join(mkdtempSync(join(tmpdir(), 'atlas-fplot-')), 'fisher_layers'));
  const svg = readFileSync(svgPath, 'utf8');
  const ticks = [...svg.matchAll(/<text[^>]*text-anchor="middle"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
  for (const name of ['embed', '0', '1', 'head']) assert.ok(ticks.includes(name), `tick ${name} in ${ticks.join(',')}`);
  assert.ok(!ticks.some((t) => /^-?\d+\.5$/.test(t)), `no half-layer ticks: ${ticks.join(',')}`);
  const yTicks = [...svg.matchAll(/<text[^>]*text-anchor="end"[^>]*>([^<]*)<\/text>/g)].map((m) => Number(m[1].replace('−', '-')));
  assert.ok(yTicks.length > 0 && Math.min(...yTicks) >= 0, `y ticks ${yTicks.join(',')}`);
});

/** Figures of the parameter-space reports (SVG + PNG through src/plot). */
import { facetSvg, heatmapSvg, lineSvg, savePlot, type LineSeries } from '../plot/index.ts';
import type { SimilarityResult } from './similarity.ts';
import type { FisherReport } from './fisher-report.ts';
import { groupOrder } from './param-names.ts';
import type { TaskVectorReport } from './task-vector.ts';

const layerGroups = (groups: string[]): string[] => groups.filter((g) => /^\d+$/.test(g)).sort((a, b) => Number(a) - Number(b));

/** Heatmap grid (one panel per model pair: layers × components, mean column cosine) and faceted lines per component. */
export function similarityPlots(res: SimilarityResult, base: string): string[] {
  const groups = layerGroups([...new Set(res.aggregates.map((a) => a.group))]);
  const comps = [...new Set(res.aggregates.filter((a) => a.component !== 'all' && groups.includes(a.group)).map((a) => a.component))].sort();
  const find = (pair: string, group: string, comp: string): number => res.aggregates.find((a) => a.pair === pair && a.group === group && a.component === comp)?.stats.mean ?? NaN;
  const heat = res.pairs.map((pair) => heatmapSvg({
    values: groups.map((g) => comps.map((c) => find(pair, g, c))),
    rowLabels: groups.map((g) => `layer ${g}`), colLabels: comps, title: pair.replace('|', ' vs '),
    colormap: 'viridis', vmin: Math.min(0, ...res.aggregates.map((a) => a.stats.mean)), vmax: 1, colorbarLabel: 'mean column cosine',
  }));
  const lines = ['all', ...comps].map((c) => lineSvg({
    title: c, xLabel: 'layer', yLabel: 'mean column cosine',
    series: res.pairs.map((pair): LineSeries => ({ name: pair.replace('|', ' vs '), x: groups.map(Number), y: groups.map((g) => find(pair, g, c)) })),
  }));
  const a = savePlot(facetSvg({ plots: heat, title: 'Column-wise cosine similarity by layer and component' }), `${base}_heatmap`);
  const b = savePlot(facetSvg({ plots: lines, title: 'Column-wise cosine similarity across layers' }), `${base}_layers`);
  return [a.svgPath, a.pngPath, b.svgPath, b.pngPath];
}

/** Fisher total per layer, one line per component. */
export function fisherPlot(report: FisherReport, base: string): string[] {
  // Every group (embed, 0..L-1, head) at integer positions named by the group: ticks fall on layers only, and
  // the embedding and head are not dropped. Sums of squares are ≥ 0, so the y axis starts at 0.
  const groups = report.layers.filter((l) => l.group !== 'other').sort((a, b) => groupOrder(a.group, b.group));
  const comps = [...new Set(groups.flatMap((l) => Object.keys(l.components)))].sort();
  const x = groups.map((_, i) => i);
  const all = groups.map((l) => l.total.sum);
  const top = Math.max(0, ...all.filter(Number.isFinite));
  const svg = lineSvg({
    title: 'Diagonal Fisher per layer', xLabel: 'layer', yLabel: 'sum of F_i',
    xTickNames: groups.map((l) => (l.group === 'embed' ? 'embed' : l.group === 'head' ? 'head' : l.group)),
    yDomain: [0, top > 0 ? top * 1.08 : 1],
    series: [{ name: 'all', x, y: all },
      ...comps.map((c): LineSeries => ({ name: c, x, y: groups.map((l) => l.components[c]?.sum ?? NaN) }))],
  });
  const s = savePlot(svg, base);
  return [s.svgPath, s.pngPath];
}

/** Relative change ‖τ‖/‖θ_base‖ per layer. */
export function taskVectorPlot(report: TaskVectorReport, base: string): string[] {
  const layers = report.layers.filter((l) => /^\d+$/.test(l.group));
  const comps = [...new Set(layers.flatMap((l) => Object.keys(l.components)))].sort();
  const svg = lineSvg({
    title: 'Task vector: relative change per layer', xLabel: 'layer', yLabel: '‖τ‖ / ‖θ_base‖',
    series: [{ name: 'all', x: layers.map((l) => Number(l.group)), y: layers.map((l) => l.relative) },
      ...comps.map((c): LineSeries => ({ name: c, x: layers.map((l) => Number(l.group)), y: layers.map((l) => l.components[c]?.relative ?? NaN) }))],
  });
  const s = savePlot(svg, base);
  return [s.svgPath, s.pngPath];
}

/** Runs a plotting step; a figure that cannot be drawn is a warning, never a lost report. */
export function tryPlot(what: string, fn: () => string[]): string[] {
  try {
    return fn();
  } catch (e) {
    process.stderr.write(`warning: could not draw the ${what} plot: ${(e as Error).message}\n`);
    return [];
  }
}

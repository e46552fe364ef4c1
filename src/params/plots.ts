/** Figures of the parameter-space reports (SVG + PNG through src/plot). */
import { facetSvg, heatmapSvg, lineSvg, savePlot, type LineSeries } from '../plot/index.ts';
import type { SimilarityResult } from './similarity.ts';
import type { FisherReport } from './fisher-report.ts';
import { groupOrder } from './param-names.ts';
import type { TaskVectorReport } from './task-vector.ts';

const layerGroups = (groups: string[]): string[] => groups.filter((g) => /^\d+$/.test(g)).sort((a, b) => Number(a) - Number(b));

export interface SimilarityPlotOptions {
  /** Fixed colour range of the heatmaps and y range of the line panels (the toolkit's: [0.8, 1]); default [min(0, lowest mean), 1]. */
  colorRange?: [number, number];
}

/** File stems (under the output prefix) of the similarity figures; `.svg` and `.png` each. */
export const SIMILARITY_FIGURES = { heatmap: '_heatmap', layers: '_layers' } as const;

/**
 * Heatmap grid (one panel per model pair: layers × components, mean column cosine) and the faceted line plot
 * (one small panel per component, mean column cosine per layer, one line per model pair; every panel on the
 * same y range so they compare at a glance).
 */
export function similarityPlots(res: SimilarityResult, base: string, opts: SimilarityPlotOptions = {}): string[] {
  const groups = layerGroups([...new Set(res.aggregates.map((a) => a.group))]);
  const comps = [...new Set(res.aggregates.filter((a) => a.component !== 'all' && groups.includes(a.group)).map((a) => a.component))].sort();
  const means = new Map(res.aggregates.map((a) => [`${a.pair}\u0000${a.group}\u0000${a.component}`, a.stats.mean] as const));
  const find = (pair: string, group: string, comp: string): number => means.get(`${pair}\u0000${group}\u0000${comp}`) ?? NaN;
  const shownMeans = res.aggregates.filter((a) => groups.includes(a.group)).map((a) => a.stats.mean).filter(Number.isFinite);
  const [vmin, vmax] = opts.colorRange ?? [Math.min(0, ...shownMeans), 1];
  const fixed = opts.colorRange !== undefined;
  const heat = res.pairs.map((pair) => heatmapSvg({
    values: groups.map((g) => comps.map((c) => find(pair, g, c))),
    rowLabels: groups.map((g) => `layer ${g}`), colLabels: comps, title: pair.replace('|', ' vs '),
    colormap: fixed ? 'RdYlGn' : 'viridis', vmin, vmax, center: (vmin + vmax) / 2,
    colorbarLabel: fixed ? `mean column cosine (fixed ${vmin}–${vmax})` : 'mean column cosine',
  }));
  // one panel per component (and 'all' first when there are several), 3 per row as the toolkit's relplot
  const panels = comps.length > 1 ? ['all', ...comps] : comps;
  // the panels share one y range: the fixed range, else the lowest shown mean to 1
  const lo = Math.min(1, ...shownMeans);
  const pad = 0.04 * Math.max(1e-3, 1 - lo);
  const yDomain: [number, number] = fixed ? [vmin, vmax] : [lo - pad, 1 + pad];
  const lines = panels.map((c) => lineSvg({
    title: c, xLabel: 'layer', yLabel: 'mean column cosine', width: 460, height: 260, yDomain,
    series: res.pairs.map((pair): LineSeries => ({ name: pair.replace('|', ' vs '), x: groups.map(Number), y: groups.map((g) => find(pair, g, c)) })),
  }));
  const a = savePlot(facetSvg({ plots: heat, title: 'Column-wise cosine similarity by layer and component' }), `${base}${SIMILARITY_FIGURES.heatmap}`);
  const b = savePlot(facetSvg({ plots: lines, columns: Math.min(3, lines.length), title: 'Column-wise cosine similarity per layer, by component' }), `${base}${SIMILARITY_FIGURES.layers}`);
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

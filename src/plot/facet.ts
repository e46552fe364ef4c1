/**
 * Lays several finished plots out in a grid inside one SVG (small multiples: one map per layer, ID per model).
 * Each plot keeps its own size; columns take the widest plot in them, rows the tallest.
 */
import { AtlasError } from '../errors.ts';
import { titleText } from './frame.ts';
import { px, svgDocument, svgSize } from './svg.ts';

export interface FacetOptions {
  /** SVG documents made by this module's plot functions. */
  plots: readonly string[];
  /** Plots per row (default: ceil(sqrt(n)), at most 4). */
  columns?: number;
  title?: string;
  /** Space between plots in px (default 8). */
  gap?: number;
}

export function facetSvg(o: FacetOptions): string {
  if (o.plots.length === 0) throw new AtlasError('is empty: nothing to lay out', { field: 'plots' });
  const n = o.plots.length;
  const columns = Math.max(1, Math.min(n, o.columns ?? Math.min(4, Math.ceil(Math.sqrt(n)))));
  const rows = Math.ceil(n / columns);
  const gap = o.gap ?? 8;
  const sizes = o.plots.map(svgSize);
  const colW = Array.from({ length: columns }, (_, c) => Math.max(...sizes.filter((_, i) => i % columns === c).map((s) => s.width)));
  const rowH = Array.from({ length: rows }, (_, r) => Math.max(...sizes.filter((_, i) => Math.floor(i / columns) === r).map((s) => s.height)));
  const top = o.title ? 40 : 0;
  const width = colW.reduce((a, b) => a + b, 0) + gap * (columns + 1);
  const height = top + rowH.reduce((a, b) => a + b, 0) + gap * (rows + 1);
  const parts: string[] = [];
  o.plots.forEach((svg, i) => {
    const c = i % columns;
    const r = Math.floor(i / columns);
    const x = gap + colW.slice(0, c).reduce((a, b) => a + b, 0) + c * gap;
    const y = top + gap + rowH.slice(0, r).reduce((a, b) => a + b, 0) + r * gap;
    // A nested <svg> with x/y is a new viewport: the plot's own coordinates, ids and clip paths stay valid.
    parts.push(svg.replace(/^<svg /, `<svg x="${px(x)}" y="${px(y)}" `));
  });
  if (o.title) parts.push(titleText(o.title, width));
  return svgDocument(width, height, parts);
}

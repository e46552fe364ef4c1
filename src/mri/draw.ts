/**
 * Figures of the MRI analysis, on top of src/plot: heatmaps of a layer's grid (SVG/PNG + HTML whose cells show
 * the count and example texts on hover), the NRAG drawing (layers stacked, early layers on top, named at the
 * left; edge colour by label — the two ends of RdBu_r (blue, red, as the reference's matplotlib 'coolwarm') for
 * two labels, the categorical palette for more, since a diverging map's middle is near-white and vanishes on a
 * white page; a legend of the labels; width by weight; nodes show id, count and degree on hover) and the
 * probing bar chart.
 */
import { AtlasError } from '../errors.ts';
import { colormapHex, type ColormapName } from '../plot/colormap.ts';
import { categoricalColors } from '../plot/palette.ts';
import { graphSvg, type GraphEdge, type GraphNode } from '../plot/graph.ts';
import { heatmapSvg } from '../plot/heatmap.ts';
import { htmlPage } from '../plot/html.ts';
import { el, escapeXml, px, svgDocument, text } from '../plot/svg.ts';
import type { Nrag } from './nrag.ts';
import type { ProbeResult } from './probe.ts';

export interface HeatmapFigureInput {
  counts: number[][];
  /** Example texts per cell (same layout as counts), for hover. */
  examples?: string[][][];
  title: string;
}

/** The heatmap SVG (hover: cell, count and up to three example texts). Rows: y bins descending. */
export function gridHeatmapSvg(h: HeatmapFigureInput): string {
  const g = h.counts.length;
  const tips = h.counts.map((row, r) =>
    row.map((c, col) => {
      const ex = h.examples?.[r]?.[col] ?? [];
      return `x bin ${col}, y bin ${g - 1 - r}: ${c} text${c === 1 ? '' : 's'}` + (ex.length ? '\n' + ex.map((t) => `• ${t.length > 120 ? t.slice(0, 117) + '…' : t}`).join('\n') : '');
    }),
  );
  return heatmapSvg({
    values: h.counts,
    rowLabels: h.counts.map((_, r) => String(g - 1 - r)),
    colLabels: h.counts[0]!.map((_, c) => String(c)),
    title: h.title,
    xLabel: 'x bin (component 1)',
    yLabel: 'y bin (component 2)',
    colorbarLabel: 'texts',
    cellTooltips: tips,
  });
}

export function gridHeatmapHtml(h: HeatmapFigureInput): string {
  return htmlPage({ title: h.title, subtitle: 'Hover a cell for its count and example texts.', sections: [gridHeatmapSvg({ ...h, title: '' })] });
}

/** The reference's default edge colormap (matplotlib 'coolwarm'). */
export const DEFAULT_NRAG_COLORMAP: ColormapName = 'coolwarm';

/**
 * Edge colour of a class. Two selected categories take the diverging map's two ends, so their colours always
 * differ (the reference spreads all K classes over the map, which gives adjacent classes nearly the same colour
 * and the middle class a near-white one); a two-class dataset does the same; with more classes the categorical
 * palette (pale entries darkened for thin lines on white).
 */
export function labelColor(label: number | undefined, classes: number, colormap: ColormapName = DEFAULT_NRAG_COLORMAP, categories: readonly number[] = []): string {
  if (label === undefined) return '#4a6fa5';
  if (categories.length === 2 && categories.includes(label)) return colormapHex(colormap, categories.indexOf(label));
  if (classes <= 2) return colormapHex(colormap, classes === 2 ? label : 0);
  return darkenPale(categoricalColors(classes)[label % classes]!);
}

/** A palette colour too pale for a thin line on white (e.g. Okabe–Ito yellow) is mixed with 35 % black. */
function darkenPale(hex: string): string {
  const rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const lum = (0.2126 * rgb[0]! + 0.7152 * rgb[1]! + 0.0722 * rgb[2]!) / 255;
  if (lum < 0.6) return hex;
  return `#${rgb.map((v) => Math.round(v * 0.65).toString(16).padStart(2, '0')).join('')}`;
}

/**
 * Share of the second selected category among the texts through each node (grid NRAGs: from the per-class
 * edge counts, outgoing edges or, on the last layer, incoming ones), or among its incident edges (Spearman
 * NRAGs). Undefined unless exactly two categories are selected.
 */
export function secondLabelShare(g: Nrag): Map<string, number> | undefined {
  if (g.categories.length !== 2) return undefined;
  const [a, b] = g.categories as [number, number];
  const last = Math.max(...g.layers);
  const tally = new Map<string, [number, number]>();
  const add = (id: string, x: number, y: number): void => { const t = tally.get(id) ?? [0, 0]; t[0] += x; t[1] += y; tally.set(id, t); };
  for (const e of g.edges) {
    const na = e.counts ? (e.counts[a] ?? 0) : e.label === a ? 1 : 0;
    const nb = e.counts ? (e.counts[b] ?? 0) : e.label === b ? 1 : 0;
    add(e.source, na, nb);
    const target = g.nodes.find((v) => v.id === e.target);
    if (!e.counts || target?.layer === last) add(e.target, na, nb);
  }
  return new Map([...tally].map(([id, [x, y]]) => [id, x + y > 0 ? y / (x + y) : 0.5]));
}

export interface NragDrawOptions {
  title?: string;
  width?: number;
  height?: number;
  /** Diverging colormap of edges (and of nodes' label share); default coolwarm, as the reference. */
  colormap?: ColormapName;
}

export function nragSvg(g: Nrag, positions: Map<string, { x: number; y: number }>, opts: NragDrawOptions = {}): string {
  if (g.nodes.length === 0) throw new AtlasError('the graph has no nodes to draw', { field: 'graph' });
  if (g.edges.length === 0) throw new AtlasError('the graph has no edges to draw', { field: 'graph', hint: 'lower the Spearman threshold, or check the selected categories have texts' });
  const degree = new Map<string, number>();
  for (const e of g.edges) {
    degree.set(e.source, (degree.get(e.source) ?? 0) + 1);
    degree.set(e.target, (degree.get(e.target) ?? 0) + 1);
  }
  const K = g.classNames.length;
  const cmap = opts.colormap ?? DEFAULT_NRAG_COLORMAP;
  // As the reference draws: node size grows with degree; with two categories, node colour = share of the second.
  const maxDegree = Math.max(1, ...degree.values());
  const share = secondLabelShare(g);
  const nodes: GraphNode[] = g.nodes.map((v) => {
    const p = positions.get(v.id)!;
    const d = degree.get(v.id) ?? 0;
    const s = share?.get(v.id);
    const info = [v.id, `layer ${v.layer}`, v.count !== undefined ? `${v.count} texts` : undefined, `degree ${d}`,
      s !== undefined ? `${(100 * s).toFixed(0)}% ${g.classNames[g.categories[1]!]}` : undefined].filter(Boolean).join(' · ');
    return { id: v.id, x: p.x, y: p.y, size: 2.5 + 4.5 * Math.sqrt(d / maxDegree), color: s !== undefined ? colormapHex(cmap, s) : '#333333', label: info };
  });
  const edges: GraphEdge[] = g.edges.map((e) => ({ source: e.source, target: e.target, weight: e.weight, color: labelColor(e.label, K, cmap, g.categories) }));
  const layers = Math.max(...g.nodes.map((v) => v.layer));
  return graphSvg({
    nodes,
    edges,
    title: opts.title,
    width: opts.width ?? 900,
    height: opts.height ?? Math.max(360, 60 * (layers + 1)),
    nodeLabels: false,
    rowLabels: [...new Set(g.nodes.map((v) => v.layer))].sort((a, b) => a - b).map((l) => ({ y: positions.get(g.nodes.find((v) => v.layer === l)!.id)!.y, label: l === 0 ? 'embeddings' : `layer ${l}` })),
    legend: K > 0 && g.edges.some((e) => e.label !== undefined) ? g.classNames.map((name, k) => ({ name, color: labelColor(k, K), kind: 'line' as const })) : undefined,
  });
}

/** The NRAG page: the drawing (hover nodes for id, count, degree) and a colour legend of the labels. */
export function nragHtml(g: Nrag, positions: Map<string, { x: number; y: number }>, title: string, caption?: string, opts: Pick<NragDrawOptions, 'colormap'> = {}): string {
  const K = g.classNames.length;
  const cmap = opts.colormap ?? DEFAULT_NRAG_COLORMAP;
  const shown = g.categories.length ? g.categories : g.classNames.map((_, k) => k);
  const legend = g.classNames.length
    ? '<p>' + shown.map((k) => `<span style="display:inline-block;width:14px;height:4px;background:${labelColor(k, K, cmap, g.categories)};margin:0 4px 3px 10px"></span>${escapeXml(g.classNames[k]!)}`).join('') + '</p>'
    : '';
  const nodeNote = g.categories.length === 2 ? `; node size = degree, node colour = share of ${g.classNames[g.categories[1]!]}` : '; node size = degree';
  return htmlPage({ title, subtitle: `Layers from top (embeddings) to bottom; edge width = weight, colour = label using the edge most${nodeNote}.`, sections: [{ content: nragSvg(g, positions, opts) + legend, caption }] });
}

/** Bar chart of mean (full − reduced) per metric with ± one standard deviation whiskers. */
export function probeBarSvg(r: ProbeResult, title = 'Probing: full − reduced'): string {
  const ms = r.metrics;
  const vals = ms.map((m) => r.summary[m]!);
  const hiV = Math.max(0, ...vals.map((v) => v.difference + v.differenceStd));
  const loV = Math.min(0, ...vals.map((v) => v.difference - v.differenceStd));
  const span = hiV - loV || 1;
  const W = 120 + 90 * ms.length, H = 360, top = 46, bottom = 90, left = 60;
  const plotH = H - top - bottom;
  const y = (v: number): number => top + ((hiV - v) / span) * plotH;
  const parts: string[] = [];
  parts.push(el('line', { x1: left, x2: W - 20, y1: y(0), y2: y(0), stroke: '#333333', 'stroke-width': 1 }));
  for (const t of [loV, 0, hiV]) parts.push(text(t.toFixed(3), { x: left - 6, y: y(t) + 4, 'text-anchor': 'end', 'font-size': 10, fill: '#555555' }));
  ms.forEach((m, i) => {
    const v = vals[i]!;
    const cx = left + 30 + i * 90;
    const y0 = y(Math.max(0, v.difference)), y1 = y(Math.min(0, v.difference));
    parts.push(`<rect x="${px(cx)}" y="${px(y0)}" width="50" height="${px(Math.max(0.5, y1 - y0))}" fill="#4a6fa5"><title>${escapeXml(`${m}: ${v.difference.toFixed(4)} ± ${v.differenceStd.toFixed(4)} (full ${v.full.toFixed(4)}, reduced ${v.reduced.toFixed(4)})`)}</title></rect>`);
    parts.push(el('line', { x1: cx + 25, x2: cx + 25, y1: y(v.difference + v.differenceStd), y2: y(v.difference - v.differenceStd), stroke: '#111111', 'stroke-width': 1.2 }));
    parts.push(text(m, { x: cx + 25, y: H - bottom + 16, 'text-anchor': 'end', 'font-size': 11, fill: '#333333', transform: `rotate(-35 ${px(cx + 25)} ${px(H - bottom + 16)})` }));
  });
  parts.push(text(title, { x: W / 2, y: 24, 'text-anchor': 'middle', 'font-size': 15, fill: '#111111' }));
  return svgDocument(W, H, parts);
}

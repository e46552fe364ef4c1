/**
 * Node-link drawing with given positions, e.g. a layered NRAG graph (x = layer, y = position in the layer).
 * Edge width and opacity grow with weight; heavier edges are drawn on top.
 */
import { AtlasError } from '../errors.ts';
import { makeFrame, titleText } from './frame.ts';
import { extent, padExtent } from './scale.ts';
import { el, escapeXml, px, svgDocument, text } from './svg.ts';
import { legendLayout, legendSvg, type LegendItem } from './legend.ts';

export interface GraphNode {
  id: string | number;
  x: number;
  y: number;
  /** Radius in px (default 5). */
  size?: number;
  color?: string;
  /** Drawn next to the node, and shown on hover. */
  label?: string;
}

export interface GraphEdge {
  source: string | number;
  target: string | number;
  /** Non-negative; width ∝ weight / max weight. */
  weight: number;
  color?: string;
}

export interface GraphOptions {
  nodes: readonly GraphNode[];
  edges: readonly GraphEdge[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Show axes and grid (default: when xLabel or yLabel is given). */
  axes?: boolean;
  /** Width of the heaviest edge in px (default 6). */
  maxEdgeWidth?: number;
  /** Names for integer x positions (layer names). */
  xTickNames?: readonly string[];
  /** Draw node labels next to nodes (default: when there are at most 60 nodes). */
  nodeLabels?: boolean;
  /** A legend to the right of the drawing (e.g. the edge colour of each label). */
  legend?: readonly LegendItem[];
  /** Names of rows drawn at the left edge, at data y (e.g. 'layer 3' for a layered graph). */
  rowLabels?: readonly { y: number; label: string }[];
}

export function graphSvg(o: GraphOptions): string {
  const index = new Map<string | number, number>();
  o.nodes.forEach((n, i) => {
    if (!Number.isFinite(n.x) || !Number.isFinite(n.y)) throw new AtlasError(`node ${String(n.id)} has position (${n.x}, ${n.y})`, { field: `nodes[${i}]` });
    if (index.has(n.id)) throw new AtlasError(`node id ${String(n.id)} appears twice`, { field: `nodes[${i}].id` });
    index.set(n.id, i);
  });
  let maxW = 0;
  o.edges.forEach((e, i) => {
    if (!index.has(e.source) || !index.has(e.target)) {
      throw new AtlasError(`edge ${i} joins ${String(e.source)} → ${String(e.target)}, which is not a listed node`, { field: `edges[${i}]` });
    }
    if (!(Number.isFinite(e.weight) && e.weight >= 0)) throw new AtlasError(`edge ${i} has weight ${e.weight}; weights must be finite and ≥ 0`, { field: `edges[${i}].weight` });
    maxW = Math.max(maxW, e.weight);
  });
  const legendItems = o.legend ?? [];
  const legendBox = legendItems.length ? legendLayout(legendItems, (o.height ?? 480) - 60) : undefined;
  const rowLabelWidth = o.rowLabels?.length ? 64 : 0;
  const width = (o.width ?? 720) + (legendBox ? legendBox.width + 12 : 0) + rowLabelWidth;
  const height = o.height ?? 480;
  const axes = o.axes ?? (o.xLabel !== undefined || o.yLabel !== undefined);
  const frame = makeFrame({
    width, height, title: o.title, xLabel: axes ? o.xLabel : undefined, yLabel: axes ? o.yLabel : undefined,
    xDomain: padExtent(extent(o.nodes.map((n) => n.x)) ?? [0, 1], 0.05),
    yDomain: padExtent(extent(o.nodes.map((n) => n.y)) ?? [0, 1], 0.06),
    nice: axes, grid: axes, xTickNames: o.xTickNames, rightExtra: 40 + (legendBox ? legendBox.width + 12 : 0),
  });
  const { y: sy } = frame;
  // Row labels take a strip on the left: the drawing is shifted right by its width.
  const sx = (v: number) => frame.plot.left + rowLabelWidth + ((frame.x(v) - frame.plot.left) * (frame.plot.width - rowLabelWidth)) / frame.plot.width;
  const maxEdge = o.maxEdgeWidth ?? 6;
  const sorted = o.edges.slice().sort((a, b) => a.weight - b.weight);
  const edges = sorted.map((e) => {
    const a = o.nodes[index.get(e.source)!]!;
    const b = o.nodes[index.get(e.target)!]!;
    const w = maxW > 0 ? e.weight / maxW : 1;
    return el('path', {
      d: `M${px(sx(a.x))} ${px(sy(a.y))}L${px(sx(b.x))} ${px(sy(b.y))}`,
      stroke: e.color ?? '#4a6fa5', 'stroke-width': 0.4 + (maxEdge - 0.4) * w, 'stroke-opacity': 0.2 + 0.6 * w, 'stroke-linecap': 'round',
    });
  });
  const showLabels = o.nodeLabels ?? o.nodes.length <= 60;
  const nodes = o.nodes.map((n) => {
    const tip = n.label ?? String(n.id);
    return `<circle cx="${px(sx(n.x))}" cy="${px(sy(n.y))}" r="${px(n.size ?? 5)}" fill="${escapeXml(n.color ?? '#0072B2')}" stroke="#ffffff" stroke-width="1"><title>${escapeXml(tip)}</title></circle>`;
  });
  const labels = showLabels
    ? o.nodes.filter((n) => n.label).map((n) => text(n.label!, { x: sx(n.x) + (n.size ?? 5) + 3, y: sy(n.y) + 4, 'font-size': 10, fill: '#333333' }))
    : [];
  const rows = (o.rowLabels ?? []).map((r) => text(r.label, { x: 8, y: sy(r.y) + 4, 'font-size': 11, fill: '#333333' }));
  return svgDocument(width, height, [
    axes ? frame.under : '',
    el('g', { class: 'edges', fill: 'none' }, edges),
    el('g', { class: 'nodes' }, nodes),
    labels.join(''),
    rows.join(''),
    legendBox ? legendSvg(legendItems, frame.plot.left + frame.plot.width + 12 + 40, frame.plot.top, height - 60) : '',
    axes ? frame.over : o.title ? titleText(o.title, width) : '',
  ]);
}

/**
 * Static scatter plot: points coloured by class, optional graph edges between points (kNN graphs) and
 * optional ellipses (Fisher / covariance ellipses) drawn in data coordinates.
 */
import { AtlasError } from '../errors.ts';
import { makeFrame } from './frame.ts';
import { legendLayout, legendSvg, type LegendItem } from './legend.ts';
import { categoricalColors } from './palette.ts';
import { extent, padExtent } from './scale.ts';
import { el, px, svgDocument } from './svg.ts';
import { checkFinite, checkLabels, classCount, type LabelArray, type Numbers } from './validate.ts';

/** An ellipse in data coordinates: semi-axes rx, ry, rotated by `angle` radians counter-clockwise from +x. */
export interface Ellipse {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
  angle: number;
  /** Stroke colour; default: the colour of `classIndex` when given, else dark grey. */
  color?: string;
  classIndex?: number;
}

export interface ScatterOptions {
  x: Numbers;
  y: Numbers;
  /** Class index per point (indexes classNames). Without labels all points share one colour. */
  labels?: LabelArray;
  /** Names shown in the legend; default 'class 0', 'class 1', … */
  classNames?: readonly string[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  ellipses?: readonly Ellipse[];
  /** Pairs of point indices joined by thin grey lines, drawn under the points. */
  edges?: readonly (readonly [number, number])[];
  /** Figure size in px (default 640 × 480). */
  width?: number;
  height?: number;
  /** Point radius in px (default: 3.5 up to 1,000 points, 2.5 up to 5,000, 1.6 beyond). */
  pointRadius?: number;
  /** Point opacity (default: 0.85 up to 1,000 points, lower beyond so density stays readable). */
  opacity?: number;
  /** One data unit is the same length on both axes (default false; use it for embeddings/maps). */
  equalAspect?: boolean;
  /** Colours per class (default: categoricalColors). */
  colors?: readonly string[];
  /** Draw the line y = x across the plot (distance-vs-distance scatters), dashed, under the points. */
  identityLine?: boolean;
}

const ELLIPSE_SEGMENTS = 72;

/** Points of the ellipse outline in data coordinates (closed by the caller). */
export function ellipsePoints(e: Ellipse, segments = ELLIPSE_SEGMENTS): [number, number][] {
  const ca = Math.cos(e.angle);
  const sa = Math.sin(e.angle);
  const out: [number, number][] = [];
  for (let k = 0; k < segments; k++) {
    const t = (2 * Math.PI * k) / segments;
    const u = e.rx * Math.cos(t);
    const v = e.ry * Math.sin(t);
    out.push([e.cx + u * ca - v * sa, e.cy + u * sa + v * ca]);
  }
  return out;
}

export function scatterSvg(o: ScatterOptions): string {
  const n = o.x.length;
  checkFinite('x', o.x);
  checkFinite('y', o.y, n);
  const k = classCount(o.labels, o.classNames);
  if (o.labels) checkLabels('labels', o.labels, n, k);
  const colors = o.colors ? [...o.colors] : categoricalColors(Math.max(1, k));
  if (colors.length < Math.max(1, k)) throw new AtlasError(`has ${colors.length} colours for ${k} classes`, { field: 'colors' });
  for (const [i, e] of (o.ellipses ?? []).entries()) {
    for (const f of ['cx', 'cy', 'rx', 'ry', 'angle'] as const) {
      if (!Number.isFinite(e[f])) throw new AtlasError(`ellipse ${i} has ${f} = ${e[f]}`, { field: `ellipses[${i}].${f}` });
    }
  }
  for (const [i, [a, b]] of (o.edges ?? []).entries()) {
    if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 0 && b >= 0 && a < n && b < n)) {
      throw new AtlasError(`edge ${i} = [${a}, ${b}] is not a pair of point indices in [0, ${n})`, { field: 'edges' });
    }
  }

  const width = o.width ?? 640;
  const height = o.height ?? 480;
  const radius = o.pointRadius ?? (n <= 1000 ? 3.5 : n <= 5000 ? 2.5 : 1.6);
  const opacity = o.opacity ?? (n <= 1000 ? 0.85 : n <= 5000 ? 0.7 : 0.55);

  // The domain covers the points and the full ellipses, so no outline is cut by the frame.
  const ellipseOutlines = (o.ellipses ?? []).map((e) => ellipsePoints(e));
  const xs = [...(extent(o.x) ?? [0, 1]), ...ellipseOutlines.flat().map((p) => p[0])];
  const ys = [...(extent(o.y) ?? [0, 1]), ...ellipseOutlines.flat().map((p) => p[1])];
  // 4 % padding keeps points on the extremes from being cut in half by the frame.
  let xDomain = padExtent(extent(xs)!, 0.04);
  let yDomain = padExtent(extent(ys)!, 0.04);

  const showLegend = k > 0 && (o.classNames !== undefined || k > 1);
  const items: LegendItem[] = showLegend
    ? Array.from({ length: k }, (_, c) => ({ name: o.classNames?.[c] ?? `class ${c}`, color: colors[c]! }))
    : [];
  const legend = items.length ? legendLayout(items, height - 60) : undefined;
  const frameBase = { width, height, title: o.title, xLabel: o.xLabel, yLabel: o.yLabel, rightExtra: legend ? legend.width + 6 : 0 };
  let frame = makeFrame({ ...frameBase, xDomain, yDomain });
  if (o.equalAspect) {
    // Widen the axis with fewer px per unit so both axes share one unit length, then keep the domains exact.
    // The y tick labels, hence the left margin and plot width, depend on the domain: repeat until the plot size
    // is stable (two or three rounds).
    // Start from the padded data extents, not the niced ones: rounding out both axes first wastes space.
    for (let round = 0; round < 4; round++) {
      const u = Math.max((xDomain[1] - xDomain[0]) / frame.plot.width, (yDomain[1] - yDomain[0]) / frame.plot.height);
      const grow = (d: [number, number], len: number): [number, number] => {
        const mid = (d[0] + d[1]) / 2;
        return [mid - (u * len) / 2, mid + (u * len) / 2];
      };
      const prev = frame.plot;
      frame = makeFrame({ ...frameBase, xDomain: grow(xDomain, prev.width), yDomain: grow(yDomain, prev.height), nice: false });
      if (frame.plot.width === prev.width && frame.plot.height === prev.height) break;
    }
  }
  const { x: sx, y: sy } = frame;

  const layers: string[] = [];
  if (o.identityLine) {
    const lo = Math.max(frame.x.domain[0], frame.y.domain[0]), hi = Math.min(frame.x.domain[1], frame.y.domain[1]);
    if (hi > lo) layers.push(el('line', { x1: px(sx(lo)), y1: px(sy(lo)), x2: px(sx(hi)), y2: px(sy(hi)), stroke: '#555555', 'stroke-width': 1, 'stroke-dasharray': '5 4' }));
  }
  if (o.edges && o.edges.length) {
    const d = o.edges.map(([a, b]) => `M${px(sx(o.x[a]!))} ${px(sy(o.y[a]!))}L${px(sx(o.x[b]!))} ${px(sy(o.y[b]!))}`).join('');
    layers.push(el('path', { d, stroke: '#9a9a9a', 'stroke-width': 0.6, 'stroke-opacity': 0.6, fill: 'none' }));
  }
  const byClass: string[][] = Array.from({ length: Math.max(1, k) }, () => []);
  for (let i = 0; i < n; i++) {
    const c = o.labels ? o.labels[i]! : 0;
    byClass[c]!.push(`<circle cx="${px(sx(o.x[i]!))}" cy="${px(sy(o.y[i]!))}" r="${px(radius)}"/>`);
  }
  byClass.forEach((circles, c) => {
    if (circles.length) layers.push(el('g', { class: `points class-${c}`, fill: colors[c]!, 'fill-opacity': opacity }, circles));
  });
  ellipseOutlines.forEach((pts, i) => {
    const e = o.ellipses![i]!;
    const color = e.color ?? (e.classIndex !== undefined ? colors[e.classIndex] : undefined) ?? '#333333';
    const d = pts.map(([a, b], j) => `${j ? 'L' : 'M'}${px(sx(a))} ${px(sy(b))}`).join('') + 'Z';
    layers.push(el('path', { d, stroke: color, 'stroke-width': 1.8, fill: color, 'fill-opacity': 0.08 }));
  });

  const body = [
    el('defs', {}, frame.defs),
    frame.under,
    el('g', { 'clip-path': frame.clip }, layers),
    frame.over,
    legend ? legendSvg(items, frame.plot.left + frame.plot.width + 12, frame.plot.top, height - 60) : '',
  ];
  return svgDocument(width, height, body);
}

/**
 * The Cartesian frame every x/y plot shares: margins, scales, grid, axes with nice ticks, axis labels, title and
 * a clip path for the data layer. Plots draw their marks between `under` (grid) and `over` (axes, text).
 */
import { el, text, uniqueId } from './svg.ts';
import { formatTicks, linearScale, niceDomain, type LinearScale } from './scale.ts';
import { textWidth } from './text-metrics.ts';

export interface FrameOptions {
  width: number;
  height: number;
  title?: string;
  xLabel?: string;
  yLabel?: string;
  xDomain: [number, number];
  yDomain: [number, number];
  /** Round the domains out to tick multiples (default true; false keeps the data extent, e.g. for images). */
  nice?: boolean;
  /** Extra space on the right for a legend or colour bar, in px. */
  rightExtra?: number;
  /** Light grid lines at the ticks (default true). */
  grid?: boolean;
  /** Target number of ticks per axis (default 6 on x, 5 on y). */
  xTickCount?: number;
  yTickCount?: number;
  /** Replace numeric x tick labels by names at integer positions (line plots over named layers). */
  xTickNames?: readonly string[];
}

export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface Frame {
  x: LinearScale;
  y: LinearScale;
  plot: Rect;
  /** Defines the clip path; put it once in the document. */
  defs: string;
  /** Attribute value for clip-path on the data layer. */
  clip: string;
  /** Background and grid (draw first). */
  under: string;
  /** Axes, ticks, labels and title (draw last). */
  over: string;
}

const TICK_FONT = 11;
const LABEL_FONT = 13;
const TITLE_FONT = 15;

export function makeFrame(o: FrameOptions): Frame {
  const nice = o.nice ?? true;
  const xCount = o.xTickCount ?? 6;
  const yCount = o.yTickCount ?? 5;
  const xDom = nice ? niceDomain(o.xDomain[0], o.xDomain[1], xCount) : o.xDomain;
  const yDom = nice ? niceDomain(o.yDomain[0], o.yDomain[1], yCount) : o.yDomain;
  const yTicksProbe = linearScale(yDom, [0, 1]).ticks(yCount);
  const yTickLabels = formatTicks(yTicksProbe);
  const yLabelWidth = Math.max(0, ...yTickLabels.map((s) => textWidth(s, TICK_FONT)));

  const top = o.title ? 40 : 16;
  const left = 12 + (o.yLabel ? LABEL_FONT + 8 : 0) + yLabelWidth + 8;
  const bottom = 28 + (o.xLabel ? LABEL_FONT + 10 : 0);
  const right = 18 + (o.rightExtra ?? 0);
  const plot: Rect = {
    left,
    top,
    width: Math.max(20, o.width - left - right),
    height: Math.max(20, o.height - top - bottom),
  };
  const x = linearScale(xDom, [plot.left, plot.left + plot.width]);
  const y = linearScale(yDom, [plot.top + plot.height, plot.top]);
  const clipId = uniqueId('clip');
  const defs = el('clipPath', { id: clipId }, el('rect', { x: plot.left, y: plot.top, width: plot.width, height: plot.height }));

  const xTicks = o.xTickNames ? namedTicks(o.xTickNames, x.domain, plot.width) : x.ticks(xCount);
  const xLabels = o.xTickNames ? xTicks.map((i) => o.xTickNames![i]!) : formatTicks(xTicks);
  const yTicks = y.ticks(yCount);
  const yLabels = formatTicks(yTicks);

  const under: string[] = [el('rect', { x: plot.left, y: plot.top, width: plot.width, height: plot.height, fill: '#ffffff' })];
  if (o.grid ?? true) {
    const lines: string[] = [];
    for (const t of xTicks) lines.push(`M${round(x(t))} ${round(plot.top)}V${round(plot.top + plot.height)}`);
    for (const t of yTicks) lines.push(`M${round(plot.left)} ${round(y(t))}H${round(plot.left + plot.width)}`);
    under.push(el('path', { d: lines.join(''), stroke: '#e6e6e6', 'stroke-width': 1, fill: 'none' }));
  }

  const over: string[] = [];
  const axisY = plot.top + plot.height;
  over.push(el('rect', { x: plot.left, y: plot.top, width: plot.width, height: plot.height, fill: 'none', stroke: '#333333', 'stroke-width': 1 }));
  const tickPath: string[] = [];
  xTicks.forEach((t, i) => {
    tickPath.push(`M${round(x(t))} ${round(axisY)}v5`);
    over.push(text(xLabels[i]!, { x: x(t), y: axisY + 18, 'text-anchor': 'middle', 'font-size': TICK_FONT, fill: '#333333' }));
  });
  yTicks.forEach((t, i) => {
    tickPath.push(`M${round(plot.left)} ${round(y(t))}h-5`);
    over.push(text(yLabels[i]!, { x: plot.left - 8, y: y(t) + 4, 'text-anchor': 'end', 'font-size': TICK_FONT, fill: '#333333' }));
  });
  over.push(el('path', { d: tickPath.join(''), stroke: '#333333', 'stroke-width': 1, fill: 'none' }));
  if (o.xLabel) {
    over.push(text(o.xLabel, { x: plot.left + plot.width / 2, y: axisY + 40, 'text-anchor': 'middle', 'font-size': LABEL_FONT, fill: '#111111' }));
  }
  if (o.yLabel) {
    const cx = 12 + LABEL_FONT / 2 + 2;
    const cy = plot.top + plot.height / 2;
    over.push(text(o.yLabel, { x: cx, y: cy, 'text-anchor': 'middle', 'dominant-baseline': 'middle', 'font-size': LABEL_FONT, fill: '#111111', transform: `rotate(-90 ${round(cx)} ${round(cy)})` }));
  }
  if (o.title) over.push(titleText(o.title, o.width));
  return { x, y, plot, defs, clip: `url(#${clipId})`, under: under.join(''), over: over.join('') };
}

/** A centred bold title at the top of a figure of the given width. */
export function titleText(title: string, width: number): string {
  return text(title, { x: width / 2, y: 24, 'text-anchor': 'middle', 'font-size': TITLE_FONT, 'font-weight': 'bold', fill: '#111111' });
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

/** Integer positions that get a name, thinned to every k-th so neighbouring names do not overlap. */
function namedTicks(names: readonly string[], domain: [number, number], plotWidth: number): number[] {
  const inside = names.map((_, i) => i).filter((i) => i >= domain[0] && i <= domain[1]);
  const widest = Math.max(0, ...names.map((s) => textWidth(s, TICK_FONT))) + 8;
  const span = Math.max(1, domain[1] - domain[0]);
  const k = Math.max(1, Math.ceil(widest / (plotWidth / span)));
  return inside.filter((i) => i % k === 0);
}

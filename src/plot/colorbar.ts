/**
 * A vertical colour bar: the colormap as a linear gradient (32 stops are visually exact for these smooth maps)
 * with nice ticks on the value axis.
 */
import { colormapHex, type ColormapName } from './colormap.ts';
import { formatTicks, linearScale } from './scale.ts';
import { el, text, uniqueId } from './svg.ts';
import { textWidth } from './text-metrics.ts';

export interface ColorbarOptions {
  colormap: ColormapName;
  vmin: number;
  vmax: number;
  /** Top-left corner and bar height, px. */
  x: number;
  y: number;
  height: number;
  width?: number;
  label?: string;
}

const STOPS = 32;
const FONT = 11;

/** Horizontal space a colour bar with this value range and label needs. */
export function colorbarWidth(vmin: number, vmax: number, label?: string): number {
  const labels = formatTicks(linearScale([vmin, vmax], [0, 1]).ticks(5));
  return 14 + 8 + Math.max(0, ...labels.map((s) => textWidth(s, FONT))) + (label ? 22 : 0) + 10;
}

export function colorbarSvg(o: ColorbarOptions): string {
  const w = o.width ?? 14;
  const id = uniqueId('cbar');
  const stops: string[] = [];
  for (let i = 0; i <= STOPS; i++) {
    const t = i / STOPS;
    // Offsets run top to bottom while values run bottom to top.
    stops.push(el('stop', { offset: `${((1 - t) * 100).toFixed(2)}%`, 'stop-color': colormapHex(o.colormap, t) }));
  }
  stops.reverse();
  const grad = el('linearGradient', { id, x1: '0', y1: '0', x2: '0', y2: '1' }, stops);
  const scale = linearScale([o.vmin, o.vmax], [o.y + o.height, o.y]);
  const ticks = scale.ticks(5);
  const labels = formatTicks(ticks);
  const parts = [
    el('defs', {}, grad),
    el('rect', { x: o.x, y: o.y, width: w, height: o.height, fill: `url(#${id})`, stroke: '#333333', 'stroke-width': 0.8 }),
  ];
  let maxW = 0;
  ticks.forEach((t, i) => {
    const py = scale(t);
    parts.push(el('path', { d: `M${o.x + w} ${Math.round(py * 100) / 100}h4`, stroke: '#333333' }));
    parts.push(text(labels[i]!, { x: o.x + w + 7, y: py + 4, 'font-size': FONT, fill: '#333333' }));
    maxW = Math.max(maxW, textWidth(labels[i]!, FONT));
  });
  if (o.label) {
    const cx = o.x + w + 7 + maxW + 14;
    const cy = o.y + o.height / 2;
    parts.push(text(o.label, { x: cx, y: cy, 'text-anchor': 'middle', 'font-size': 12, fill: '#111111', transform: `rotate(-90 ${cx} ${cy})` }));
  }
  return el('g', { class: 'colorbar' }, parts);
}

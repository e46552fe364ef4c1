/**
 * Grouped bar chart: one group per category (e.g. a layer), one bar per series (e.g. a model) inside it.
 * Bars start at zero; a non-finite value draws no bar (a missing category), never a fake one.
 */
import { AtlasError } from '../errors.ts';
import { makeFrame } from './frame.ts';
import { legendLayout, legendSvg } from './legend.ts';
import { categoricalColors } from './palette.ts';
import { extent } from './scale.ts';
import { el, px, svgDocument } from './svg.ts';

export interface BarSeries {
  name: string;
  /** One value per category. */
  values: readonly number[];
  color?: string;
}

export interface BarOptions {
  categories: readonly string[];
  series: readonly BarSeries[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
}

export function barSvg(o: BarOptions): string {
  if (o.series.length === 0 || o.categories.length === 0) throw new AtlasError('is empty: nothing to plot', { field: 'series' });
  o.series.forEach((s, i) => {
    if (s.values.length !== o.categories.length) throw new AtlasError(`has ${s.values.length} values for ${o.categories.length} categories`, { field: `series[${i}].values` });
  });
  const width = o.width ?? Math.max(640, 60 + o.categories.length * (12 * o.series.length + 14));
  const height = o.height ?? 420;
  const palette = categoricalColors(o.series.length);
  const colors = o.series.map((s, i) => s.color ?? palette[i]!);
  const ys = [0, ...o.series.flatMap((s) => s.values.filter(Number.isFinite))];
  const [min, max] = extent(ys) ?? [0, 1];
  // bars start at zero: pad only away from it
  const span = max - min || 1;
  const lo = min < 0 ? min - 0.04 * span : 0;
  const hi = max > 0 ? max + 0.04 * span : 0;
  const items = o.series.map((s, i) => ({ name: s.name, color: colors[i]!, kind: 'swatch' as const }));
  const legend = legendLayout(items, height - 60);
  const frame = makeFrame({
    width, height, title: o.title, xLabel: o.xLabel, yLabel: o.yLabel,
    xDomain: [-0.5, o.categories.length - 0.5], yDomain: [Math.min(0, lo), hi], rightExtra: legend.width + 6,
    xTickNames: o.categories, xTickCount: o.categories.length,
  });
  const { x: sx, y: sy } = frame;
  const slot = (sx(1) - sx(0)) * 0.8;
  const bw = slot / o.series.length;
  const y0 = sy(0);
  const bars = o.series.map((s, si) => el('g', { fill: colors[si]! }, s.values.map((v, ci) => {
    if (!Number.isFinite(v)) return '';
    const left = sx(ci) - slot / 2 + si * bw;
    const top = Math.min(sy(v), y0);
    return `<rect x="${px(left)}" y="${px(top)}" width="${px(Math.max(0.5, bw - 1))}" height="${px(Math.abs(sy(v) - y0))}"/>`;
  })));
  return svgDocument(width, height, [
    el('defs', {}, frame.defs),
    frame.under,
    el('g', { 'clip-path': frame.clip }, bars),
    frame.over,
    legendSvg(items, frame.plot.left + frame.plot.width + 12, frame.plot.top, height - 60),
  ]);
}

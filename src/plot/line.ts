/**
 * Line plot with optional symmetric error bars: intrinsic dimension (or any statistic) against layer, one line
 * per model or dataset. A non-finite y leaves a visible gap in its line (a layer with no estimate), never a
 * fake value.
 */
import { AtlasError } from '../errors.ts';
import { makeFrame } from './frame.ts';
import { legendLayout, legendSvg } from './legend.ts';
import { categoricalColors } from './palette.ts';
import { extent, formatValue, padExtent } from './scale.ts';
import { el, escapeXml, px, svgDocument } from './svg.ts';
import { checkFinite, type Numbers } from './validate.ts';

export interface LineSeries {
  name: string;
  x: Numbers;
  /** NaN marks a missing value: the line breaks there. */
  y: Numbers;
  /** Half-width of the error bar at each point (e.g. one standard deviation); NaN = no bar. */
  yErr?: Numbers;
  color?: string;
  dashed?: boolean;
}

export interface LineOptions {
  series: readonly LineSeries[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Draw a dot at every point (default true). */
  markers?: boolean;
  /** Names for integer x positions (e.g. layer names), replacing numeric x tick labels. */
  xTickNames?: readonly string[];
  /** Fixed y range (default: the data and error bars, padded). */
  yDomain?: [number, number];
  /** Add a hover tooltip (<title>) to each marker with series, x, y and error (default false; used by lineHtml). */
  tooltips?: boolean;
}

export function lineSvg(o: LineOptions): string {
  if (o.series.length === 0) throw new AtlasError('is empty: nothing to plot', { field: 'series' });
  o.series.forEach((s, i) => {
    checkFinite(`series[${i}].x`, s.x);
    if (s.y.length !== s.x.length) throw new AtlasError(`has ${s.y.length} y values for ${s.x.length} x values`, { field: `series[${i}].y` });
    if (s.yErr && s.yErr.length !== s.x.length) throw new AtlasError(`has ${s.yErr.length} values for ${s.x.length} points`, { field: `series[${i}].yErr` });
  });
  const width = o.width ?? 640;
  const height = o.height ?? 420;
  const palette = categoricalColors(o.series.length);
  const colors = o.series.map((s, i) => s.color ?? palette[i]!);

  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of o.series) {
    for (let i = 0; i < s.x.length; i++) {
      xs.push(s.x[i]!);
      const y = s.y[i]!;
      const e = s.yErr?.[i];
      ys.push(y);
      if (e !== undefined && Number.isFinite(e)) ys.push(y - Math.abs(e), y + Math.abs(e));
    }
  }
  const xDomain = padExtent(extent(xs) ?? [0, 1], 0.02);
  const yDomain = o.yDomain ?? padExtent(extent(ys) ?? [0, 1], 0.04);

  const items = o.series.map((s, i) => ({ name: s.name, color: colors[i]!, kind: 'line' as const }));
  const showLegend = o.series.length > 1 || o.series[0]!.name !== '';
  const legend = showLegend ? legendLayout(items, height - 60) : undefined;
  const frame = makeFrame({
    width, height, title: o.title, xLabel: o.xLabel, yLabel: o.yLabel, xDomain, yDomain,
    nice: o.yDomain === undefined, rightExtra: legend ? legend.width + 6 : 0, xTickNames: o.xTickNames,
  });
  const { x: sx, y: sy } = frame;
  const layers: string[] = [];
  o.series.forEach((s, si) => {
    const color = colors[si]!;
    let d = '';
    let penDown = false;
    const bars: string[] = [];
    for (let i = 0; i < s.x.length; i++) {
      const y = s.y[i]!;
      if (!Number.isFinite(y)) {
        penDown = false;
        continue;
      }
      const X = px(sx(s.x[i]!));
      d += `${penDown ? 'L' : 'M'}${X} ${px(sy(y))}`;
      penDown = true;
      const e = s.yErr?.[i];
      if (e !== undefined && Number.isFinite(e) && e !== 0) {
        const lo = px(sy(y - Math.abs(e)));
        const hi = px(sy(y + Math.abs(e)));
        bars.push(`M${X} ${lo}V${hi}M${px(sx(s.x[i]!) - 4)} ${lo}h8M${px(sx(s.x[i]!) - 4)} ${hi}h8`);
      }
    }
    if (bars.length) layers.push(el('path', { d: bars.join(''), stroke: color, 'stroke-width': 1.2, fill: 'none', 'stroke-opacity': 0.8 }));
    if (d) layers.push(el('path', { d, stroke: color, 'stroke-width': 2, fill: 'none', 'stroke-dasharray': s.dashed ? '6 4' : undefined, 'stroke-linejoin': 'round' }));
    if (o.markers ?? true) {
      const dots: string[] = [];
      for (let i = 0; i < s.x.length; i++) {
        const y = s.y[i]!;
        if (!Number.isFinite(y)) continue;
        const dot = `<circle cx="${px(sx(s.x[i]!))}" cy="${px(sy(y))}" r="3.2"`;
        if (o.tooltips) {
          const e = s.yErr?.[i];
          const xName = o.xTickNames?.[s.x[i]!] ?? formatValue(s.x[i]!);
          const tip = `${s.name}\n${o.xLabel ?? 'x'} = ${xName}\n${o.yLabel ?? 'y'} = ${formatValue(y)}${e !== undefined && Number.isFinite(e) ? ` ± ${formatValue(Math.abs(e))}` : ''}`;
          dots.push(`${dot}><title>${escapeXml(tip)}</title></circle>`);
        } else dots.push(`${dot}/>`);
      }
      layers.push(el('g', { fill: color }, dots));
    }
  });
  return svgDocument(width, height, [
    el('defs', {}, frame.defs),
    frame.under,
    el('g', { 'clip-path': frame.clip }, layers),
    frame.over,
    legend ? legendSvg(items, frame.plot.left + frame.plot.width + 12, frame.plot.top, height - 60) : '',
  ]);
}

/**
 * Interactive scatter as one self-contained HTML file: canvas 2D scatter with pan (drag), zoom (wheel), reset
 * (double-click), hover tooltips and legend toggles; with z given, a 3D view (drag rotates, wheel zooms,
 * perspective projection, depth-sorted points).
 */
import { AtlasError } from '../errors.ts';
import { htmlPage, jsonScriptTag } from './html.ts';
import { categoricalColors } from './palette.ts';
import { escapeXml, uniqueId } from './svg.ts';
import { SCATTER_CORE_JS, SCATTER_CSS, SCATTER_UI_JS } from './scatter-client.ts';

export interface ScatterPoint {
  x: number;
  y: number;
  z?: number;
  /** Class: an index into classNames, or a class name (new names are appended to classNames). */
  label: number | string;
  /** Hover text (e.g. the sentence or token the point stands for). */
  text: string;
}

export interface ScatterHtmlOptions {
  points: readonly ScatterPoint[];
  classNames?: readonly string[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  zLabel?: string;
  /** Canvas height in px (default 560); the width follows the page. */
  height?: number;
  /** Default: 4 px up to 2,000 points, 2.5 up to 10,000, 1.8 beyond. */
  pointRadius?: number;
  opacity?: number;
  colors?: readonly string[];
}

/** What gets embedded as JSON: column arrays (smaller than one object per point). */
export interface ScatterPayload {
  x: number[];
  y: number[];
  z?: number[];
  label: number[];
  text: string[];
  classNames: string[];
  colors: string[];
  xLabel: string;
  yLabel: string;
  zLabel: string;
  height: number;
  pointRadius: number;
  opacity: number;
}

/** 7 significant digits: float32 precision, the precision the coordinates had; shortens the JSON a lot. */
function compact(v: number): number {
  return Number(v.toPrecision(7));
}

export function scatterPayload(o: ScatterHtmlOptions): ScatterPayload {
  const n = o.points.length;
  const is3d = n > 0 && o.points.some((p) => p.z !== undefined);
  const classNames = [...(o.classNames ?? [])];
  const byName = new Map(classNames.map((c, i) => [c, i]));
  const x: number[] = new Array(n);
  const y: number[] = new Array(n);
  const z: number[] | undefined = is3d ? new Array(n) : undefined;
  const label: number[] = new Array(n);
  const text: string[] = new Array(n);
  o.points.forEach((p, i) => {
    for (const f of is3d ? (['x', 'y', 'z'] as const) : (['x', 'y'] as const)) {
      if (!Number.isFinite(p[f])) throw new AtlasError(`point ${i} has ${f} = ${p[f]}`, { field: `points[${i}].${f}`, hint: is3d ? 'in 3D every point needs finite x, y and z' : undefined });
    }
    let l: number;
    if (typeof p.label === 'string') {
      l = byName.get(p.label) ?? -1;
      if (l < 0) {
        l = classNames.length;
        classNames.push(p.label);
        byName.set(p.label, l);
      }
    } else {
      l = p.label;
      if (!Number.isInteger(l) || l < 0 || (o.classNames && l >= o.classNames.length)) {
        throw new AtlasError(`point ${i} has label ${l}, not an index into classNames`, { field: `points[${i}].label` });
      }
      while (classNames.length <= l) classNames.push(`class ${classNames.length}`);
    }
    x[i] = compact(p.x);
    y[i] = compact(p.y);
    if (z) z[i] = compact(p.z!);
    label[i] = l;
    text[i] = String(p.text);
  });
  if (classNames.length === 0) classNames.push('points');
  const colors = o.colors ? [...o.colors] : categoricalColors(classNames.length);
  if (colors.length < classNames.length) throw new AtlasError(`has ${colors.length} colours for ${classNames.length} classes`, { field: 'colors' });
  return {
    x, y, ...(z ? { z } : {}), label, text, classNames, colors,
    xLabel: o.xLabel ?? '', yLabel: o.yLabel ?? '', zLabel: o.zLabel ?? '',
    height: o.height ?? 560,
    pointRadius: o.pointRadius ?? (n <= 2000 ? 4 : n <= 10000 ? 2.5 : 1.8),
    opacity: o.opacity ?? (n <= 2000 ? 0.85 : 0.65),
  };
}

/** The scatter as an HTML fragment (for htmlPage sections); scripts and styles are inline. */
export function scatterHtmlFragment(o: ScatterHtmlOptions): string {
  const payload = scatterPayload(o);
  const id = uniqueId('la-scatter');
  const help = payload.z ? 'drag: rotate · wheel: zoom · double-click: reset · legend: show/hide a class' : 'drag: pan · wheel: zoom · double-click: reset · legend: show/hide a class';
  return (
    `<style>${SCATTER_CSS}</style>` +
    `<div class="la-scatter" id="${id}">` +
    `<div class="la-plot"><canvas></canvas><div class="la-tip"></div></div>` +
    `<div class="la-legend"></div><p class="la-help">${escapeXml(help)}</p></div>` +
    jsonScriptTag(`${id}-data`, payload) +
    `<script>${SCATTER_CORE_JS}${SCATTER_UI_JS}\n` +
    `LatentAtlasScatter(document.getElementById(${JSON.stringify(`${id}`)}), ` +
    `JSON.parse(document.getElementById(${JSON.stringify(`${id}-data`)}).textContent));</script>`
  );
}

/** A standalone page with one interactive scatter. */
export function scatterHtml(o: ScatterHtmlOptions): string {
  return htmlPage({ title: o.title ?? 'Scatter', sections: [scatterHtmlFragment(o)] });
}

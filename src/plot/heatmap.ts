/**
 * Heatmap of a rows × cols matrix (NRAG grids, similarity and overlap matrices) with row/column labels, an
 * optional colour bar, optional value annotations and per-cell hover tooltips (<title>).
 */
import { AtlasError } from '../errors.ts';
import { colorbarSvg, colorbarWidth } from './colorbar.ts';
import { colormapHex, colormapRgb, isDiverging, type ColormapName } from './colormap.ts';
import { titleText } from './frame.ts';
import { extent } from './scale.ts';
import { el, escapeXml, px, svgDocument, text } from './svg.ts';
import { textWidth, truncateLabel } from './text-metrics.ts';
import type { Numbers } from './validate.ts';

export interface HeatmapOptions {
  /** values[r][c]; NaN cells are drawn grey ("no value"). */
  values: readonly Numbers[];
  rowLabels?: readonly string[];
  colLabels?: readonly string[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Default 'viridis'; the diverging maps default to a range symmetric around `center`. */
  colormap?: ColormapName;
  vmin?: number;
  vmax?: number;
  /** Value at the middle of a diverging map (default 0). */
  center?: number;
  /** Draw a colour bar (default true). */
  colorbar?: boolean;
  colorbarLabel?: string;
  /** Write each value in its cell (default: when there are at most 150 cells and cells are large enough). */
  annotate?: boolean;
  /** Hover text per cell (same shape as values): shown by browsers via <title>. */
  cellTooltips?: readonly (readonly string[])[];
  /** Cell size in px (default: fits about 560 px, between 4 and 44). */
  cellSize?: number;
}

const LABEL_FONT = 11;
const MAX_LABELS = 60;

export function heatmapSvg(o: HeatmapOptions): string {
  const rows = o.values.length;
  if (rows === 0) throw new AtlasError('has no rows', { field: 'values' });
  const cols = o.values[0]!.length;
  if (cols === 0) throw new AtlasError('has no columns', { field: 'values' });
  o.values.forEach((r, i) => {
    if (r.length !== cols) throw new AtlasError(`row ${i} has ${r.length} values, row 0 has ${cols}`, { field: 'values' });
  });
  if (o.rowLabels && o.rowLabels.length !== rows) throw new AtlasError(`has ${o.rowLabels.length} labels for ${rows} rows`, { field: 'rowLabels' });
  if (o.colLabels && o.colLabels.length !== cols) throw new AtlasError(`has ${o.colLabels.length} labels for ${cols} columns`, { field: 'colLabels' });
  if (o.cellTooltips && (o.cellTooltips.length !== rows || o.cellTooltips.some((r) => r.length !== cols))) {
    throw new AtlasError(`must have the shape of values (${rows} × ${cols})`, { field: 'cellTooltips' });
  }
  const cmap = o.colormap ?? 'viridis';
  const [vmin, vmax] = valueRange(o, cmap);

  const cell = o.cellSize ?? Math.max(4, Math.min(44, Math.floor(560 / Math.max(rows, cols))));
  const rowNames = (o.rowLabels ?? []).map((s) => truncateLabel(s, 24));
  const colNames = (o.colLabels ?? []).map((s) => truncateLabel(s, 24));
  const rowStep = Math.max(1, Math.ceil(rows / MAX_LABELS), Math.ceil(13 / cell));
  const colStep = Math.max(1, Math.ceil(cols / MAX_LABELS), Math.ceil(13 / cell));
  const rowLabelW = Math.max(0, ...rowNames.map((s) => textWidth(s, LABEL_FONT)));
  const colLabelW = Math.max(0, ...colNames.map((s) => textWidth(s, LABEL_FONT)));
  // Column labels are rotated 45° when they would not fit side by side under their cells.
  const rotate = colNames.some((s) => textWidth(s, LABEL_FONT) > cell * colStep - 4);
  const top = o.title ? 40 : 14;
  const left = 12 + (o.yLabel ? 22 : 0) + (rowLabelW ? rowLabelW + 8 : 0);
  const bottomLabels = colNames.length ? (rotate ? colLabelW * 0.72 + 16 : 22) : 6;
  const bottom = bottomLabels + (o.xLabel ? 24 : 0) + 8;
  const showBar = o.colorbar ?? true;
  const barSpace = showBar ? 16 + colorbarWidth(vmin, vmax, o.colorbarLabel) : 0;
  const plotW = cols * cell;
  const plotH = rows * cell;
  const width = Math.max(left + plotW + barSpace + 16, o.title ? textWidth(o.title, 15) + 40 : 0);
  const height = top + plotH + bottom;

  const annotate = o.annotate ?? (rows * cols <= 150 && cell >= 28);
  const fmt = annotationFormat(o.values, vmax - vmin);
  const cells: string[] = [];
  const notes: string[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = o.values[r]![c]!;
      const finite = Number.isFinite(v);
      const t = (v - vmin) / (vmax - vmin || 1);
      const fill = finite ? colormapHex(cmap, t) : '#d9d9d9';
      const x = left + c * cell;
      const y = top + r * cell;
      // A hair of overlap (0.5 px) hides anti-aliasing seams between cells in rasterised output.
      const rect = `<rect x="${px(x)}" y="${px(y)}" width="${px(cell + 0.5)}" height="${px(cell + 0.5)}" fill="${fill}"`;
      const tip = o.cellTooltips?.[r]?.[c];
      cells.push(tip !== undefined ? `${rect}><title>${escapeXml(tip)}</title></rect>` : `${rect}/>`);
      if (annotate && finite) {
        const [R, G, B] = colormapRgb(cmap, t);
        const dark = 0.299 * R + 0.587 * G + 0.114 * B < 140;
        notes.push(text(fmt(v), { x: x + cell / 2, y: y + cell / 2 + 4, 'text-anchor': 'middle', 'font-size': Math.min(11, cell / 3), fill: dark ? '#ffffff' : '#111111' }));
      }
    }
  }
  const labels: string[] = [];
  rowNames.forEach((s, r) => {
    if (r % rowStep) return;
    labels.push(text(s, { x: left - 6, y: top + r * cell + cell / 2 + 4, 'text-anchor': 'end', 'font-size': LABEL_FONT, fill: '#333333' }));
  });
  colNames.forEach((s, c) => {
    if (c % colStep) return;
    const x = left + c * cell + cell / 2;
    const y = top + plotH + 14;
    labels.push(
      rotate
        ? text(s, { x, y: y - 4, 'text-anchor': 'end', 'font-size': LABEL_FONT, fill: '#333333', transform: `rotate(-45 ${px(x)} ${px(y - 4)})` })
        : text(s, { x, y, 'text-anchor': 'middle', 'font-size': LABEL_FONT, fill: '#333333' }),
    );
  });
  if (o.xLabel) labels.push(text(o.xLabel, { x: left + plotW / 2, y: top + plotH + bottomLabels + 18, 'text-anchor': 'middle', 'font-size': 13, fill: '#111111' }));
  if (o.yLabel) {
    const cx = 20;
    const cy = top + plotH / 2;
    labels.push(text(o.yLabel, { x: cx, y: cy, 'text-anchor': 'middle', 'font-size': 13, fill: '#111111', transform: `rotate(-90 ${cx} ${px(cy)})` }));
  }
  return svgDocument(width, height, [
    el('g', { class: 'cells', 'shape-rendering': 'crispEdges' }, cells),
    el('rect', { x: left, y: top, width: plotW, height: plotH, fill: 'none', stroke: '#333333', 'stroke-width': 0.8 }),
    notes.join(''),
    labels.join(''),
    showBar ? colorbarSvg({ colormap: cmap, vmin, vmax, x: left + plotW + 16, y: top, height: Math.max(80, Math.min(plotH, 360)), label: o.colorbarLabel }) : '',
    o.title ? titleText(o.title, width) : '',
  ]);
}

/** vmin/vmax: explicit, else the data range; diverging maps get a range symmetric around the centre. */
function valueRange(o: HeatmapOptions, cmap: ColormapName): [number, number] {
  const all: number[] = [];
  for (const r of o.values) for (let i = 0; i < r.length; i++) all.push(r[i]!);
  const [lo, hi] = extent(all) ?? [0, 1];
  let vmin = o.vmin ?? lo;
  let vmax = o.vmax ?? hi;
  if (isDiverging(cmap) && o.vmin === undefined && o.vmax === undefined) {
    const c = o.center ?? 0;
    const m = Math.max(Math.abs(lo - c), Math.abs(hi - c)) || 1;
    vmin = c - m;
    vmax = c + m;
  }
  if (!(Number.isFinite(vmin) && Number.isFinite(vmax)) || vmin > vmax) {
    throw new AtlasError(`colour range [${vmin}, ${vmax}] is not a finite increasing interval`, { field: 'vmin/vmax' });
  }
  if (vmin === vmax) return [vmin - 0.5, vmax + 0.5];
  return [vmin, vmax];
}

/**
 * Cell annotations share one number of decimals, enough to resolve about 1 % of the colour range (integers stay
 * integers), so labels fit their cells and line up.
 */
function annotationFormat(values: readonly Numbers[], range: number): (v: number) => string {
  const allInt = values.every((r) => Array.prototype.every.call(r, (v: number) => !Number.isFinite(v) || Number.isInteger(v)));
  if (allInt) return (v) => String(v);
  const decimals = Math.max(0, Math.min(6, 2 - Math.floor(Math.log10(range || 1))));
  return (v) => {
    const s = v.toFixed(decimals);
    return /^-0\.?0*$/.test(s) ? s.slice(1) : s;
  };
}

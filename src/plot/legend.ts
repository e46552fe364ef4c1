/**
 * A legend box placed to the right of the plot area: one row per entry, wrapping into more columns when the
 * entries do not fit the available height.
 */
import { el, text } from './svg.ts';
import { textWidth, truncateLabel } from './text-metrics.ts';

export interface LegendItem {
  name: string;
  color: string;
  /** 'point' draws a dot, 'line' a short stroke with a dot (line plots), 'swatch' a square. */
  kind?: 'point' | 'line' | 'swatch';
}

const FONT = 11;
const ROW = 17;
const MAX_CHARS = 28;

function columnWidth(items: readonly LegendItem[]): number {
  const w = Math.max(0, ...items.map((it) => textWidth(truncateLabel(it.name, MAX_CHARS), FONT)));
  return 30 + w + 10;
}

/** Layout of `items` in a box of at most `maxHeight` px. */
export function legendLayout(items: readonly LegendItem[], maxHeight: number): { rows: number; columns: number; width: number; height: number } {
  const rows = Math.max(1, Math.min(items.length, Math.floor((maxHeight - 8) / ROW)));
  const columns = Math.max(1, Math.ceil(items.length / rows));
  return { rows, columns, width: columns * columnWidth(items) + 8, height: Math.min(items.length, rows) * ROW + 8 };
}

/** The legend with its top-left corner at (x, y). */
export function legendSvg(items: readonly LegendItem[], x: number, y: number, maxHeight: number): string {
  if (items.length === 0) return '';
  const { rows } = legendLayout(items, maxHeight);
  const cw = columnWidth(items);
  const parts: string[] = [];
  items.forEach((it, i) => {
    const cx = x + 6 + Math.floor(i / rows) * cw;
    const cy = y + 4 + (i % rows) * ROW + ROW / 2;
    const kind = it.kind ?? 'point';
    if (kind === 'line') {
      parts.push(el('path', { d: `M${cx} ${cy}h20`, stroke: it.color, 'stroke-width': 2 }));
      parts.push(el('circle', { cx: cx + 10, cy, r: 3, fill: it.color }));
    } else if (kind === 'swatch') {
      parts.push(el('rect', { x: cx + 4, y: cy - 6, width: 12, height: 12, fill: it.color }));
    } else {
      parts.push(el('circle', { cx: cx + 10, cy, r: 4.5, fill: it.color }));
    }
    parts.push(text(truncateLabel(it.name, MAX_CHARS), { x: cx + 26, y: cy + 4, 'font-size': FONT, fill: '#222222' }));
  });
  return el('g', { class: 'legend' }, parts);
}

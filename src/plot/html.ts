/**
 * Self-contained HTML: every byte of CSS, JS and data is inline, so a report opens from disk with no network and
 * can be mailed as one file. Data goes into <script type="application/json"> with every '<', '>' and '&'
 * escaped as \u003c etc., so no text (a corpus sentence containing '</script>') can end the tag early.
 */
import { escapeXml } from './svg.ts';
import { heatmapSvg, type HeatmapOptions } from './heatmap.ts';
import { lineSvg, type LineOptions } from './line.ts';

/** HTML text escaping (same rules as XML). */
export const escapeHtml = escapeXml;

/**
 * JSON safe to place inside a <script> element: '<', '>' and '&' become \u escapes (JSON.parse restores them)
 * and U+2028/U+2029 are escaped for old JS parsers that treat them as line ends.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A <script type="application/json"> tag holding `value`; read back with JSON.parse(el.textContent). */
export function jsonScriptTag(id: string, value: unknown): string {
  return `<script type="application/json" id="${escapeXml(id)}">${jsonForScript(value)}</script>`;
}

/** A report section: raw markup (an SVG from this module, or an HTML fragment) with an optional heading and note. */
export interface HtmlSection {
  heading?: string;
  /** Trusted markup made by this module (SVG or fragment); it is inserted as is. */
  content: string;
  /** Plain text shown under the content (escaped). */
  caption?: string;
}

export interface HtmlPageOptions {
  title: string;
  /** Plain text under the title (escaped). */
  subtitle?: string;
  /** A string is inserted as is (an SVG or HTML fragment from this module). */
  sections: readonly (string | HtmlSection)[];
}

const PAGE_CSS = `
body{font-family:"DejaVu Sans",Verdana,Arial,Helvetica,sans-serif;margin:0;padding:24px 32px;color:#111;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}
.subtitle{color:#555;margin:0 0 20px}
section.la-section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:16px;margin:0 0 20px;overflow-x:auto}
section.la-section h2{font-size:17px;margin:0 0 10px}
section.la-section svg{max-width:100%;height:auto}
.caption{color:#444;font-size:13px;margin:8px 0 0;white-space:pre-wrap}
`;

/** Assembles one standalone HTML report page. */
export function htmlPage(o: HtmlPageOptions): string {
  const sections = o.sections.map((s) => {
    const sec = typeof s === 'string' ? { content: s } : s;
    return (
      '<section class="la-section">' +
      (sec.heading ? `<h2>${escapeXml(sec.heading)}</h2>` : '') +
      sec.content +
      (sec.caption ? `<p class="caption">${escapeXml(sec.caption)}</p>` : '') +
      '</section>'
    );
  });
  return (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${escapeXml(o.title)}</title><style>${PAGE_CSS}</style></head><body>` +
    `<h1>${escapeXml(o.title)}</h1>` +
    (o.subtitle ? `<p class="subtitle">${escapeXml(o.subtitle)}</p>` : '') +
    sections.join('\n') +
    '</body></html>\n'
  );
}

/** A line plot page whose markers show series, x, y and error on hover (SVG <title>: no script needed). */
export function lineHtml(o: LineOptions): string {
  return htmlPage({ title: o.title ?? 'Line plot', sections: [lineSvg({ ...o, title: undefined, tooltips: true })] });
}

/**
 * A heatmap page with hover text per cell: `cellTooltips` when given (e.g. count and example texts of a grid
 * cell), else the row, column and value.
 */
export function heatmapHtml(o: HeatmapOptions): string {
  const tips =
    o.cellTooltips ??
    o.values.map((row, r) =>
      Array.from(row, (v, c) => `${o.rowLabels?.[r] ?? `row ${r}`} × ${o.colLabels?.[c] ?? `col ${c}`}\n${Number.isFinite(v) ? String(Number(v.toPrecision(6))) : 'no value'}`),
    );
  return htmlPage({ title: o.title ?? 'Heatmap', sections: [heatmapSvg({ ...o, title: undefined, cellTooltips: tips })] });
}

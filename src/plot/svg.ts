/**
 * Minimal SVG string building. Plots are plain strings so they can be written to disk, embedded in HTML and
 * rasterised by resvg without a DOM. Every text that comes from data passes through escapeXml.
 */

/** Escapes the five XML special characters so data text can never open a tag or end an attribute. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;',
  );
}

/**
 * Formats a pixel coordinate with at most 2 decimals: sub-pixel precision beyond 1/100 is invisible and only
 * bloats files with 20,000 points.
 */
export function px(v: number): string {
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
}

export type AttrValue = string | number | undefined | null | false;

/** Renders attributes; undefined/null/false are skipped, numbers are rounded via px(). */
export function attrs(a: Record<string, AttrValue>): string {
  let out = '';
  for (const [k, v] of Object.entries(a)) {
    if (v === undefined || v === null || v === false) continue;
    out += ` ${k}="${typeof v === 'number' ? px(v) : escapeXml(v)}"`;
  }
  return out;
}

/** One element: self-closing when it has no children. Children are already-rendered SVG strings. */
export function el(tag: string, a: Record<string, AttrValue> = {}, children?: string | readonly string[]): string {
  const body = children === undefined ? undefined : typeof children === 'string' ? children : children.join('');
  return body === undefined || body === '' ? `<${tag}${attrs(a)}/>` : `<${tag}${attrs(a)}>${body}</${tag}>`;
}

/** A text element; `content` is data text and is escaped here. */
export function text(content: string, a: Record<string, AttrValue>): string {
  return `<text${attrs(a)}>${escapeXml(content)}</text>`;
}

/** Font stack: resvg picks the first family it has loaded (DejaVu Sans on Debian), browsers fall back freely. */
export const FONT_FAMILY = 'DejaVu Sans, Verdana, Arial, Helvetica, sans-serif';

/** Wraps content in a standalone <svg> root with a white background (PNG and dark-mode viewers agree). */
export function svgDocument(width: number, height: number, content: string | readonly string[]): string {
  const body = typeof content === 'string' ? content : content.join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${px(width)}" height="${px(height)}" ` +
    `viewBox="0 0 ${px(width)} ${px(height)}" font-family="${escapeXml(FONT_FAMILY)}" font-size="12">` +
    `<rect width="100%" height="100%" fill="#ffffff"/>${body}</svg>`
  );
}

/** Reads width/height of an SVG produced by svgDocument (used to lay plots out in a grid). */
export function svgSize(svg: string): { width: number; height: number } {
  const m = /^<svg[^>]*?\swidth="([\d.]+)"[^>]*?\sheight="([\d.]+)"/.exec(svg);
  if (!m) throw new Error('svgSize: not an SVG document with numeric width and height');
  return { width: Number(m[1]), height: Number(m[2]) };
}

let idCounter = 0;
/**
 * Ids for gradients and clip paths. A process-wide counter keeps ids unique when several plots share one HTML
 * page or facet grid, and deterministic for a given sequence of calls.
 */
export function uniqueId(prefix: string): string {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/**
 * SVG → PNG with resvg (a Rust renderer shipped as a prebuilt npm binary: no browser, no system libraries).
 * resvg draws text only with fonts it has loaded. We load DejaVu Sans explicitly (Debian: fonts-dejavu-core) rather
 * than scanning system fonts: faster, and the same glyphs on every machine. With no font found the PNG is still
 * written, just without text, and fontStatus() says so.
 */
import { existsSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';
import { writeFileAtomic } from '../data/atomic.ts';

/** Where DejaVu Sans lives on Debian/Ubuntu, Fedora, Arch and macOS (Homebrew); LATENT_ATLAS_FONT overrides. */
const FONT_CANDIDATES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/TTF/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf',
  '/opt/homebrew/share/fonts/DejaVuSans.ttf',
];
const BOLD_SUFFIX = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'] as const;

export interface FontStatus {
  /** Font files handed to resvg (regular and, when present, bold). */
  files: string[];
  /** False when no font was found: PNGs then have no text. */
  found: boolean;
}

let cachedFonts: FontStatus | undefined;

/** The fonts PNG rendering will use (looked up once per process). */
export function fontStatus(): FontStatus {
  if (cachedFonts) return cachedFonts;
  const override = process.env.LATENT_ATLAS_FONT;
  const files: string[] = [];
  if (override && existsSync(override)) files.push(override);
  for (const regular of FONT_CANDIDATES) {
    if (!existsSync(regular)) continue;
    files.push(regular);
    const bold = regular.replace(BOLD_SUFFIX[0], BOLD_SUFFIX[1]);
    if (existsSync(bold)) files.push(bold);
    break;
  }
  cachedFonts = { files, found: files.length > 0 };
  return cachedFonts;
}

export interface PngOptions {
  /** Pixel density: 2 gives crisp figures on slides and high-DPI screens (default 2). */
  scale?: number;
  /** Font files to use instead of the DejaVu lookup ([] renders without text). */
  fontFiles?: readonly string[];
}

let warnedNoFont = false;

/** Rasterises an SVG string; the PNG is `scale` × the SVG's width and height. */
export function svgToPng(svg: string, options: PngOptions = {}): Uint8Array {
  const scale = options.scale ?? 2;
  const fonts = options.fontFiles ? { files: [...options.fontFiles], found: options.fontFiles.length > 0 } : fontStatus();
  if (!fonts.found && !options.fontFiles && !warnedNoFont) {
    warnedNoFont = true;
    process.emitWarning('no DejaVu Sans font found: PNG plots will have no text (install fonts-dejavu-core or set LATENT_ATLAS_FONT)');
  }
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: '#ffffff',
    font: {
      loadSystemFonts: false,
      fontFiles: fonts.files,
      defaultFontFamily: 'DejaVu Sans',
      sansSerifFamily: 'DejaVu Sans',
    },
  });
  return new Uint8Array(resvg.render().asPng());
}

export interface SavedPlot {
  svgPath: string;
  pngPath: string;
}

/** Writes `<basePath>.svg` and `<basePath>.png`, each atomically (temp file + rename). */
export function savePlot(svg: string, basePath: string, options: PngOptions = {}): SavedPlot {
  const base = basePath.replace(/\.(svg|png)$/i, '');
  const png = svgToPng(svg, options);
  const svgPath = `${base}.svg`;
  const pngPath = `${base}.png`;
  writeFileAtomic(svgPath, svg);
  writeFileAtomic(pngPath, png);
  return { svgPath, pngPath };
}

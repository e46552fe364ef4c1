import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Matrix } from './matrix.ts';
import type { Reduction } from './reduce.ts';
import { writeNpy } from '../data/npy.ts';
import { writeFileAtomic, writeJsonAtomic } from '../data/atomic.ts';
import { scatterSvg, savePlot, scatterHtml } from '../plot/index.ts';

export interface MapRows {
  /** Class index per row, -1 when unlabelled. */
  labels: Int32Array;
  classNames: string[];
  texts: string[];
}

export interface MapFiles {
  npy: string;
  json: string;
  html: string;
  svg: string;
  png: string;
}

/**
 * Writes one map: the embedding as `<base>.npy` (float32, n × k) with a JSON sidecar (method, options,
 * diagnostics, labels, class names, texts), a self-contained interactive HTML scatter (2D, or 3D with
 * drag-to-rotate when k = 3) and a static SVG + PNG of the first two components.
 */
export function writeMap(outDir: string, base: string, reduction: Reduction, rows: MapRows, info: Record<string, unknown>): MapFiles {
  mkdirSync(outDir, { recursive: true });
  const e: Matrix<Float64Array> = reduction.embedding;
  const k = e.cols;
  const files: MapFiles = {
    npy: join(outDir, `${base}.npy`), json: join(outDir, `${base}.json`), html: join(outDir, `${base}.html`),
    svg: join(outDir, `${base}.svg`), png: join(outDir, `${base}.png`),
  };
  writeNpy(files.npy, Float32Array.from(e.data), [e.rows, k]);
  writeJsonAtomic(files.json, {
    ...info, method: reduction.method, nComponents: k, rows: e.rows, diagnostics: reduction.diagnostics,
    classNames: rows.classNames, labels: [...rows.labels], texts: rows.texts,
  });
  const col = (j: number) => Array.from({ length: e.rows }, (_, i) => e.data[i * k + j]);
  const distinct = reduction.diagnostics.distinctPoints as number | undefined;
  const title = String(info.title ?? `${reduction.method.toUpperCase()} map`) + (distinct !== undefined && distinct < e.rows ? ` · ${distinct} distinct of ${e.rows} points` : '');
  const axis = (j: number) => `${reduction.method.toUpperCase()} ${j + 1}`;
  const classNames = rows.classNames.length ? rows.classNames : ['all'];
  const labelOf = (i: number) => (rows.labels[i] >= 0 ? rows.labels[i] : 0);
  writeFileAtomic(files.html, scatterHtml({
    title,
    classNames,
    xLabel: axis(0), yLabel: axis(1), zLabel: k >= 3 ? axis(2) : undefined,
    points: Array.from({ length: e.rows }, (_, i) => ({
      x: e.data[i * k], y: e.data[i * k + 1], z: k >= 3 ? e.data[i * k + 2] : undefined, label: labelOf(i), text: rows.texts[i],
    })),
  }));
  const svg = scatterSvg({
    x: col(0), y: col(1), labels: Array.from({ length: e.rows }, (_, i) => labelOf(i)), classNames, title, xLabel: axis(0), yLabel: axis(1),
  });
  savePlot(svg, join(outDir, base));
  return files;
}

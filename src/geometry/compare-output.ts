/**
 * Files written by `latent-atlas compare`: per measure a `.npy` matrix (float64, |layers A| × |layers B|), a
 * heatmap (SVG + PNG), plus `compare.json` (layers, measures, rows used, provenance) and one self-contained
 * `compare.html` with every heatmap. File names are constants here, shared by the writer, the app and the tests.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../data/atomic.ts';
import { writeNpy } from '../data/npy.ts';
import { heatmapSvg, htmlPage, savePlot } from '../plot/index.ts';
import type { LayerSimilarityResult, SimilarityMeasure } from './layer-similarity.ts';

export const COMPARE_FILES = {
  json: 'compare.json',
  html: 'compare.html',
  matrix: (m: SimilarityMeasure) => `compare-${m}.npy`,
  heatmap: (m: SimilarityMeasure) => `compare-${m}`,
} as const;

const TITLES: Record<SimilarityMeasure, string> = {
  cka: 'Linear CKA',
  cka_debiased: 'Debiased linear CKA',
  overlap: 'Neighbourhood overlap',
  rsa: 'RSA (Spearman ρ of pairwise distances)',
};

export function writeCompareOutputs(outDir: string, r: LayerSimilarityResult, info: { nameA: string; nameB?: string } & Record<string, unknown>): { json: string; html: string; files: string[] } {
  mkdirSync(outDir, { recursive: true });
  const files: string[] = [];
  const sections: { heading: string; content: string }[] = [];
  const nB = r.layersB.length;
  for (const [m, mat] of Object.entries(r.matrices) as [SimilarityMeasure, Float64Array][]) {
    const npyPath = join(outDir, COMPARE_FILES.matrix(m));
    writeNpy(npyPath, mat, [r.layersA.length, nB]);
    files.push(npyPath);
    const values = r.layersA.map((_, i) => Array.from(mat.subarray(i * nB, (i + 1) * nB)));
    const opts = {
      values,
      rowLabels: r.layersA.map(String),
      colLabels: r.layersB.map(String),
      yLabel: `layer · ${info.nameA}`,
      xLabel: `layer · ${info.nameB ?? info.nameA}`,
      vmin: m === 'rsa' ? Math.min(0, ...values.flat().filter(Number.isFinite)) : 0,
      vmax: 1,
      colorbarLabel: m,
      cellTooltips: values.map((row, i) => row.map((v, j) => `${m} layer ${r.layersA[i]} × layer ${r.layersB[j]}: ${Number.isFinite(v) ? v.toFixed(3) : 'undefined'}`)),
    };
    const saved = savePlot(heatmapSvg({ ...opts, title: TITLES[m] }), join(outDir, COMPARE_FILES.heatmap(m)));
    files.push(saved.svgPath, saved.pngPath);
    sections.push({ heading: TITLES[m], content: heatmapSvg(opts) });
  }
  const json = join(outDir, COMPARE_FILES.json);
  writeJsonAtomic(json, {
    ...info,
    layersA: r.layersA,
    layersB: r.layersB,
    measures: Object.keys(r.matrices),
    k: r.k,
    metric: r.metric,
    rowsUsed: r.rowsUsed,
    matrices: Object.fromEntries(Object.entries(r.matrices).map(([m, mat]) => [m, r.layersA.map((_, i) => Array.from(mat!.subarray(i * nB, (i + 1) * nB)))])),
  });
  const html = join(outDir, COMPARE_FILES.html);
  const sub = info.nameB ? `${info.nameA} vs ${info.nameB}` : `${info.nameA}, layer × layer`;
  writeFileAtomic(html, htmlPage({ title: 'Representational similarity', subtitle: `${sub} · ${r.rowsUsed.gram} inputs (CKA/RSA), k = ${r.k} (overlap)`, sections }));
  files.push(json, html);
  return { json, html, files };
}

/**
 * Figures and the HTML report of the Fisher pipeline: MDS of the Fisher and Euclidean geodesics (edges and
 * metric ellipses switchable with checkboxes), t-SNE, the Fisher-vs-Euclidean geodesic distance scatter, and
 * an interactive (hover text, label toggles) scatter of each embedding from src/plot.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../data/atomic.ts';
import type { CsrGraph } from '../geometry/graph.ts';
import type { Matrix } from '../geometry/matrix.ts';
import { escapeHtml, htmlPage, lineSvg, savePlot, scatterHtmlFragment, scatterSvg, type Ellipse, type ScatterPoint } from '../plot/index.ts';
import { shepardData } from '../geometry/quality.ts';
import type { MdsSpectrum } from './upstream.ts';
import type { MetricEllipse } from './ellipses.ts';
import type { ComparisonReport } from './compare.ts';

export interface ReportInput {
  points: string[];
  labels: number[] | null;
  classNames: string[];
  fisherMds: Matrix;
  euclideanMds: Matrix;
  tsne: Matrix | null;
  fisherGraph: CsrGraph;
  euclideanGraph: CsrGraph;
  ellipses: MetricEllipse[];
  fisherGeodesic: Matrix;
  euclideanGeodesic: Matrix;
  comparison: ComparisonReport;
  summary: Record<string, unknown>;
  png: boolean;
  /** Top classical-MDS eigenvalues of both geodesic matrices (upstream.ts mdsSpectrum), for the scree chart. */
  mdsSpectra?: Record<'fisher' | 'euclidean', MdsSpectrum>;
}

function edgesOf(g: CsrGraph): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < g.n; i++) for (let o = g.indptr[i]; o < g.indptr[i + 1]; o++) if (g.indices[o] > i) out.push([i, g.indices[o]]);
  return out;
}

const col = (m: Matrix, c: number): number[] => Array.from({ length: m.rows }, (_, i) => m.data[i * m.cols + c]);

/** Ellipses whose axes are not finite (degenerate pull-back) are left out of the drawing. */
/** At most this many ellipses are drawn; more overplot into a blot. */
export const MAX_DRAWN_ELLIPSES = 80;

/**
 * The ellipses as drawn: every k-th point's (at most MAX_DRAWN_ELLIPSES), all scaled by one factor so the
 * median long axis is 4 % of the plot's extent when they would be larger. One factor for all keeps them
 * comparable: it is a level set of Fisher radius ρ·scale, and the caption says so.
 */
export function drawableEllipses(e: MetricEllipse[], labels: number[] | null, extent: number): { ellipses: Ellipse[]; scale: number; drawn: number } {
  const finite = e.flatMap((x, i) => (Number.isFinite(x.rx) && Number.isFinite(x.ry) ? [{ x, i }] : []));
  const step = Math.max(1, Math.ceil(finite.length / MAX_DRAWN_ELLIPSES));
  const kept = finite.filter((_, j) => j % step === 0);
  const axes = kept.map(({ x }) => Math.max(x.rx, x.ry)).sort((a, b) => a - b);
  const median = axes[axes.length >> 1] ?? 0;
  const scale = median > 0 && extent > 0 ? Math.min(1, (0.04 * extent) / median) : 1;
  return {
    ellipses: kept.map(({ x, i }) => ({ cx: x.cx, cy: x.cy, rx: x.rx * scale, ry: x.ry * scale, angle: x.angle, classIndex: labels ? labels[i] : undefined })),
    scale, drawn: kept.length,
  };
}

function extentOf(m: Matrix<Float64Array> | { rows: number; cols: number; data: ArrayLike<number> }): number {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < m.rows * m.cols; i++) if (i % m.cols < 2 && Number.isFinite(m.data[i])) { lo = Math.min(lo, m.data[i]); hi = Math.max(hi, m.data[i]); }
  return hi > lo ? hi - lo : 0;
}

/** Writes SVG (+ PNG) figures and report.html into `dir`; returns the written paths. */
export function writeFisherReport(dir: string, r: ReportInput): string[] {
  const files: string[] = [];
  const labels = r.labels ?? undefined;
  const classNames = r.labels ? r.classNames : undefined;
  const save = (name: string, svg: string): string => {
    if (r.png) {
      const s = savePlot(svg, join(dir, name));
      files.push(s.svgPath, s.pngPath);
    } else {
      writeFileAtomic(join(dir, `${name}.svg`), svg);
      files.push(join(dir, `${name}.svg`));
    }
    return svg;
  };
  const shown = drawableEllipses(r.ellipses, r.labels, extentOf(r.fisherMds));
  const fisherSvg = save('fisher-mds', scatterSvg({
    x: col(r.fisherMds, 0), y: col(r.fisherMds, 1), labels, classNames, title: 'MDS of Fisher geodesic distances', xLabel: 'MDS 1', yLabel: 'MDS 2',
    edges: edgesOf(r.fisherGraph), ellipses: shown.ellipses, equalAspect: true,
  }));
  const euclidSvg = save('euclidean-mds', scatterSvg({
    x: col(r.euclideanMds, 0), y: col(r.euclideanMds, 1), labels, classNames, title: 'MDS of Euclidean geodesic distances', xLabel: 'MDS 1', yLabel: 'MDS 2',
    edges: edgesOf(r.euclideanGraph), equalAspect: true,
  }));
  const tsneSvg = r.tsne ? save('tsne', scatterSvg({ x: col(r.tsne, 0), y: col(r.tsne, 1), labels, classNames, title: 't-SNE of the points', equalAspect: true })) : '';
  // Geodesic distance scatter: every pair i < j when there are at most 4,000, else 4,000 distinct pairs drawn
  // uniformly (seeded); the correlations use all pairs.
  const sh = shepardData(r.euclideanGeodesic, r.fisherGeodesic, { maxPairs: 4000, seed: 0 });
  const gx = Array.from(sh.original), gy = Array.from(sh.embedded);
  const scatter = save('geodesic-scatter', scatterSvg({
    x: gx, y: gy, title: `Geodesic distances (Spearman ${r.comparison.spearman.toFixed(3)}, Pearson ${r.comparison.pearson.toFixed(3)})`,
    xLabel: 'Euclidean graph geodesic', yLabel: 'Fisher graph geodesic', pointRadius: 1.6,
  }));
  // The original's version: each axis divided by its mean, with the line y = x (equal relative distances).
  const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
  const mx = mean(gx), my = mean(gy);
  const scatterNorm = save('geodesic-scatter-normalised', scatterSvg({
    x: gx.map((v) => v / mx), y: gy.map((v) => v / my), title: 'Geodesic distances / their mean', identityLine: true,
    xLabel: 'Euclidean geodesic / mean', yLabel: 'Fisher geodesic / mean', pointRadius: 1.6, equalAspect: true,
  }));
  const spectra = r.mdsSpectra;
  const scree = spectra ? save('mds-eigenvalues', lineSvg({
    title: 'Classical MDS eigenvalues of the geodesic distances', xLabel: 'component', yLabel: 'eigenvalue / trace',
    xTickNames: spectra.fisher.eigenvalues.map((_, i) => String(i + 1)),
    series: (['fisher', 'euclidean'] as const).map((w) => ({ name: w === 'fisher' ? 'Fisher' : 'Euclidean', x: spectra[w].explainedRatio.map((_, i) => i), y: spectra[w].explainedRatio })),
  })) : '';

  const toggles = '<p><label><input type="checkbox" checked onchange="document.getElementById(\'fisher-fig\').classList.toggle(\'hide-edges\',!this.checked)"> edges</label> ' +
    '<label><input type="checkbox" checked onchange="document.getElementById(\'fisher-fig\').classList.toggle(\'hide-ellipses\',!this.checked)"> metric ellipses</label></p>' +
    // scatterSvg draws edges as one grey path and ellipses as paths with stroke-width 1.8
    '<style>#fisher-fig.hide-edges path[stroke="#9a9a9a"]{display:none}#fisher-fig.hide-ellipses path[stroke-width="1.8"]{display:none}</style>';
  const pointsOf = (m: Matrix): ScatterPoint[] => Array.from({ length: m.rows }, (_, i) => ({ x: m.data[i * 2], y: m.data[i * 2 + 1], label: r.labels ? r.labels[i] : 0, text: r.points[i] }));
  const cls = r.labels ? r.classNames : ['all'];
  const c = r.comparison;
  const rows = c.embeddings.map((e) => `<tr><td>${escapeHtml(e.name)}</td><td>${e.trustworthiness.toFixed(4)}</td><td>${e.labelOverlap === null ? '–' : e.labelOverlap.toFixed(4)}</td></tr>`).join('');
  const table = `<table><tr><th>embedding</th><th>trustworthiness</th><th>label overlap</th></tr>${rows}</table>` +
    `<p>Fisher vs Euclidean geodesics: Spearman ${c.spearman.toFixed(4)}, Pearson ${c.pearson.toFixed(4)}; latent label overlap ${c.latentLabelOverlap === null ? '–' : c.latentLabelOverlap.toFixed(4)}</p>`;
  const perLabel = c.perLabel
    ? ['fisher', 'euclidean'].map((w) => {
      const m = c.perLabel![w as 'fisher' | 'euclidean'];
      return `<h3>${w} (mean geodesic distance / overall mean)</h3><table><tr><th></th>${c.perLabel!.classNames.map((x) => `<th>${escapeHtml(x)}</th>`).join('')}</tr>` +
        m.map((row, a) => `<tr><th>${escapeHtml(c.perLabel!.classNames[a])}</th>${row.map((v) => `<td>${Number.isFinite(v) ? v.toFixed(3) : '–'}</td>`).join('')}</tr>`).join('') + '</table>';
    }).join('')
    : '<p>unlabelled data</p>';
  const html = htmlPage({
    title: 'Latent Fisher geometry',
    // Read by people: words and rounded numbers, not a JSON dump.
    subtitle: `${r.summary.n} texts · d = ${r.summary.d} · layer ${r.summary.layer} (${r.summary.point}) · ${r.summary.method} metric, λ = ${r.summary.lambda} · k = ${r.summary.k} · edge rule ${r.summary.rule}`,
    sections: [
      { heading: 'Fisher MDS with k-NN edges and metric ellipses', content: toggles + `<div id="fisher-fig">${fisherSvg}</div>`, caption: `Ellipses: 2-D pull-back of each point's Fisher metric (local least-squares map of its neighbours), level set of Fisher radius ${(Number(r.summary.ellipseRadius) * shown.scale).toPrecision(3)}${shown.scale < 1 ? ` (${Number(r.summary.ellipseRadius).toPrecision(3)} scaled by ${shown.scale.toPrecision(2)} to fit the plot)` : ''}; ${shown.drawn} of ${r.ellipses.length} points' ellipses drawn.` },
      { heading: 'Comparison', content: table },
      { heading: 'Per-label geodesic distances', content: perLabel },
      { heading: 'Euclidean MDS', content: euclidSvg },
      ...(tsneSvg ? [{ heading: 't-SNE', content: tsneSvg }] : []),
      { heading: 'Geodesic distances', content: scatter + scatterNorm },
      ...(scree ? [{ heading: 'MDS eigenvalues', content: scree, caption: 'Top eigenvalues of −½ J D² J for each geodesic matrix, as a share of its trace (the original pipeline\'s chart).' }] : []),
      { heading: 'Interactive: Fisher MDS (hover for the text)', content: scatterHtmlFragment({ points: pointsOf(r.fisherMds), classNames: cls }) },
      { heading: 'Interactive: Euclidean MDS', content: scatterHtmlFragment({ points: pointsOf(r.euclideanMds), classNames: cls }) },
      ...(r.tsne ? [{ heading: 'Interactive: t-SNE', content: scatterHtmlFragment({ points: pointsOf(r.tsne), classNames: cls }) }] : []),
    ],
  });
  writeFileAtomic(join(dir, 'report.html'), html);
  files.push(join(dir, 'report.html'));
  return files;
}

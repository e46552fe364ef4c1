import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { IdProfileRow } from './id-profile.ts';
import { profileToCsv } from './id-profile.ts';
import { writeFileAtomic, writeJsonAtomic } from '../data/atomic.ts';
import { lineSvg, savePlot, htmlPage, facetSvg } from '../plot/index.ts';

/** Output names of `profile` (writers and readers share them). The overlap folders hold `compare`'s files. */
export const PROFILE_FILES = {
  json: 'profile.json',
  csv: 'profile.csv',
  html: 'profile.html',
  idPlot: 'profile-id',
  overlapPlot: 'profile-overlap',
  /** TwoNN decimation and Gride scaling curves, one line per layer. */
  scalingPlot: 'profile-scaling',
  /** Layer × layer data overlap of this run (compare-overlap.npy, heatmap, compare.json). */
  overlapLayersDir: 'overlap-layers',
  /** Layer × layer data overlap against the run given to --compare. */
  overlapCompareDir: 'overlap-compare',
  /** `profile --runs`: several profiles against relative depth. */
  runsPlot: 'profile-runs',
} as const;

export interface ProfileFiles {
  json: string;
  csv: string;
  idPlot: string;
  overlapPlot: string;
  scalingPlot?: string;
  html: string;
}

/** Up to `max` layers spread evenly over the profile (first and last always in). */
function spread<T>(items: T[], max: number): T[] {
  if (items.length <= max) return items;
  return Array.from({ length: max }, (_, i) => items[Math.round((i * (items.length - 1)) / (max - 1))]!);
}

/** ID against decimation (TwoNN, subset size N/2^i) and against rank (Gride n2), one line per layer. */
function scalingSvg(rows: IdProfileRow[]): string | undefined {
  const withScaling = rows.filter((r) => r.twoNNScaling?.length);
  if (withScaling.length === 0) return undefined;
  const shown = spread(withScaling, 8);
  const levels = Math.max(...shown.map((r) => r.twoNNScaling!.length));
  const two = lineSvg({
    title: 'TwoNN by decimation', xLabel: 'points per subset (N/2^i)', yLabel: 'intrinsic dimension', width: 520, height: 380,
    xTickNames: Array.from({ length: levels }, (_, i) => (i === 0 ? 'N' : `N/${2 ** i}`)),
    series: shown.map((r) => ({ name: `layer ${r.layer}`, x: r.twoNNScaling!.map((_, i) => i), y: r.twoNNScaling!.map((l) => l.id), yErr: r.twoNNScaling!.map((l) => l.error) })),
  });
  const grRows = shown.filter((r) => r.gride.length);
  if (grRows.length === 0) return two;
  const ranks = grRows.reduce((b, r) => (r.gride.length > b.length ? r.gride : b), [] as IdProfileRow['gride']).map((g) => g.n2);
  const gr = lineSvg({
    title: 'Gride by neighbour rank', xLabel: 'n2 (n1 = n2/2)', yLabel: 'intrinsic dimension', width: 520, height: 380, xTickNames: ranks.map(String),
    series: grRows.map((r) => ({ name: `layer ${r.layer}`, x: r.gride.map((_, i) => i), y: r.gride.map((g) => g.id), yErr: r.gride.map((g) => g.error) })),
  });
  return facetSvg({ plots: [two, gr], columns: 2, title: 'Intrinsic dimension across scales' });
}

/**
 * Writes a per-layer profile: profile.json / profile.csv (one row per layer, Gride at every scale), a line plot
 * of intrinsic dimension vs layer (TwoNN, and Gride at the smallest scale and at `grideScale` with error bars),
 * a line plot of label overlap and consecutive-layer overlap vs layer, and an HTML page with both.
 */
export function writeProfileOutputs(outDir: string, rows: IdProfileRow[], info: Record<string, unknown>, opts: { grideN2?: number } = {}): ProfileFiles {
  mkdirSync(outDir, { recursive: true });
  const files: ProfileFiles = {
    json: join(outDir, PROFILE_FILES.json), csv: join(outDir, PROFILE_FILES.csv),
    idPlot: join(outDir, PROFILE_FILES.idPlot), overlapPlot: join(outDir, PROFILE_FILES.overlapPlot), html: join(outDir, PROFILE_FILES.html),
  };
  writeJsonAtomic(files.json, { ...info, layers: rows });
  writeFileAtomic(files.csv, profileToCsv(rows));
  // Series use positions 0..n-1 with the layer numbers as tick names, so ticks fall on layers only.
  const x = rows.map((_, i) => i);
  const xTickNames = rows.map((r) => String(r.layer));
  const ranks = rows.reduce((best, r) => (r.gride.length > best.length ? r.gride : best), [] as IdProfileRow['gride']).map((g) => g.n2);
  const wanted = [ranks[0], opts.grideN2 ?? ranks[Math.min(ranks.length - 1, 3)]].filter((v, i, a) => v !== undefined && a.indexOf(v) === i) as number[];
  const gride = wanted.map((n2) => ({
    name: `Gride n2=${n2}`,
    x,
    y: rows.map((r) => r.gride.find((g) => g.n2 === n2)?.id ?? NaN),
    yErr: rows.map((r) => r.gride.find((g) => g.n2 === n2)?.error ?? NaN),
  }));
  const title = String(info.title ?? 'Intrinsic dimension by layer');
  const idMax = Math.max(1, ...rows.flatMap((r) => [r.twoNN, ...r.gride.filter((g) => wanted.includes(g.n2)).map((g) => g.id + g.error)]).filter(Number.isFinite));
  const yDomain: [number, number] = [0, idMax * 1.1];
  const rule = rows.find((r) => r.idReported)?.idReported?.rule;
  const reported = rule && rule !== 'full'
    ? [{ name: `TwoNN, --id-scale ${rule}`, x, y: rows.map((r) => r.idReported?.id ?? NaN), yErr: rows.map((r) => r.idReported?.error ?? NaN) }]
    : [];
  const idSeries = [{ name: 'TwoNN', x, y: rows.map((r) => r.twoNN) }, ...reported, ...gride];
  const idSvg = lineSvg({ title, xLabel: 'layer', yLabel: 'intrinsic dimension', xTickNames, yDomain: [0, Math.max(yDomain[1], 1.1 * Math.max(0, ...reported.flatMap((s) => s.y.map((v, i) => v + (s.yErr[i] || 0))).filter(Number.isFinite)))], series: idSeries });
  const overlapSeries = [];
  if (rows.some((r) => r.labelOverlap !== undefined)) overlapSeries.push({ name: 'label overlap', x, y: rows.map((r) => r.labelOverlap ?? NaN) });
  overlapSeries.push({ name: 'overlap with next layer', x, y: rows.map((r) => r.overlapNext ?? NaN), dashed: true });
  if (rows.some((r) => r.overlapLast !== undefined)) overlapSeries.push({ name: 'overlap with last layer', x, y: rows.map((r) => r.overlapLast ?? NaN) });
  if (rows.some((r) => r.overlapOther !== undefined)) overlapSeries.push({ name: `overlap with ${String(info.compareName ?? 'the other run')}`, x, y: rows.map((r) => r.overlapOther ?? NaN) });
  if (rows.some((r) => r.probe)) {
    overlapSeries.push({ name: 'probe accuracy (95% CI)', x, y: rows.map((r) => r.probe?.accuracy ?? NaN), yErr: rows.map((r) => (r.probe ? (r.probe.ci[1] - r.probe.ci[0]) / 2 : NaN)) });
    if (rows.some((r) => r.probe?.control)) overlapSeries.push({ name: 'probe, shuffled labels', x, y: rows.map((r) => r.probe?.control?.accuracy ?? NaN), dashed: true });
  }
  const overlapTitle = rows.some((r) => r.probe) ? 'Neighbourhood overlap and linear probe by layer' : 'Neighbourhood overlap by layer';
  const overlapSvg = lineSvg({ title: overlapTitle, xLabel: 'layer', xTickNames, yLabel: 'overlap', yDomain: [0, 1], series: overlapSeries });
  savePlot(idSvg, files.idPlot);
  savePlot(overlapSvg, files.overlapPlot);
  const sc = scalingSvg(rows);
  if (sc) {
    files.scalingPlot = join(outDir, PROFILE_FILES.scalingPlot);
    savePlot(sc, files.scalingPlot);
  }
  writeFileAtomic(files.html, htmlPage({
    title,
    subtitle: `${info.model ?? ''} · ${info.dataset ?? ''}`,
    sections: [{ heading: 'Intrinsic dimension', content: lineSvg({ title: '', xLabel: 'layer', yLabel: 'intrinsic dimension', tooltips: true, xTickNames, yDomain, series: idSeries }) },
      { heading: 'Neighbourhood overlap', content: lineSvg({ title: '', xLabel: 'layer', yLabel: 'overlap', yDomain: [0, 1], xTickNames, tooltips: true, series: overlapSeries }) },
      ...(sc ? [{ heading: 'Across scales', content: sc }] : [])],
  }));
  return files;
}

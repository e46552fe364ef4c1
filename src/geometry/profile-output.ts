import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { IdProfileRow } from './id-profile.ts';
import { profileToCsv } from './id-profile.ts';
import { writeFileAtomic, writeJsonAtomic } from '../data/atomic.ts';
import { lineSvg, savePlot, htmlPage } from '../plot/index.ts';

export interface ProfileFiles {
  json: string;
  csv: string;
  idPlot: string;
  overlapPlot: string;
  html: string;
}

/**
 * Writes a per-layer profile: profile.json / profile.csv (one row per layer, Gride at every scale), a line plot
 * of intrinsic dimension vs layer (TwoNN, and Gride at the smallest scale and at `grideScale` with error bars),
 * a line plot of label overlap and consecutive-layer overlap vs layer, and an HTML page with both.
 */
export function writeProfileOutputs(outDir: string, rows: IdProfileRow[], info: Record<string, unknown>, opts: { grideN2?: number } = {}): ProfileFiles {
  mkdirSync(outDir, { recursive: true });
  const files: ProfileFiles = {
    json: join(outDir, 'profile.json'), csv: join(outDir, 'profile.csv'),
    idPlot: join(outDir, 'profile-id'), overlapPlot: join(outDir, 'profile-overlap'), html: join(outDir, 'profile.html'),
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
  const idSvg = lineSvg({
    title, xLabel: 'layer', yLabel: 'intrinsic dimension', xTickNames, yDomain,
    series: [{ name: 'TwoNN', x, y: rows.map((r) => r.twoNN) }, ...gride],
  });
  const overlapSeries = [];
  if (rows.some((r) => r.labelOverlap !== undefined)) overlapSeries.push({ name: 'label overlap', x, y: rows.map((r) => r.labelOverlap ?? NaN) });
  overlapSeries.push({ name: 'overlap with next layer', x, y: rows.map((r) => r.overlapNext ?? NaN), dashed: true });
  if (rows.some((r) => r.probe)) {
    overlapSeries.push({ name: 'probe accuracy (95% CI)', x, y: rows.map((r) => r.probe?.accuracy ?? NaN), yErr: rows.map((r) => (r.probe ? (r.probe.ci[1] - r.probe.ci[0]) / 2 : NaN)) });
    if (rows.some((r) => r.probe?.control)) overlapSeries.push({ name: 'probe, shuffled labels', x, y: rows.map((r) => r.probe?.control?.accuracy ?? NaN), dashed: true });
  }
  const overlapTitle = rows.some((r) => r.probe) ? 'Neighbourhood overlap and linear probe by layer' : 'Neighbourhood overlap by layer';
  const overlapSvg = lineSvg({ title: overlapTitle, xLabel: 'layer', xTickNames, yLabel: 'overlap', yDomain: [0, 1], series: overlapSeries });
  savePlot(idSvg, files.idPlot);
  savePlot(overlapSvg, files.overlapPlot);
  writeFileAtomic(files.html, htmlPage({
    title,
    subtitle: `${info.model ?? ''} · ${info.dataset ?? ''}`,
    sections: [{ heading: 'Intrinsic dimension', content: lineSvg({ title: '', xLabel: 'layer', yLabel: 'intrinsic dimension', tooltips: true, xTickNames, yDomain, series: [{ name: 'TwoNN', x, y: rows.map((r) => r.twoNN) }, ...gride] }) },
      { heading: 'Neighbourhood overlap', content: lineSvg({ title: '', xLabel: 'layer', yLabel: 'overlap', yDomain: [0, 1], xTickNames, tooltips: true, series: overlapSeries }) }],
  }));
  return files;
}

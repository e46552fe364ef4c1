/**
 * `profile --runs a/ b/ …`: several profiles (output folders of `profile`, e.g. different models or checkpoints)
 * drawn against relative depth l / L (L = the run's last layer index), as the hidden-representations paper
 * draws them: intrinsic dimension on top (the `--id-scale` estimate each run reported, else the full TwoNN) and
 * the label overlap below, one colour per run in both panels.
 */
import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { AtlasError } from '../errors.ts';
import { writeJsonAtomic } from '../data/atomic.ts';
import { categoricalColors, facetSvg, lineSvg, savePlot } from '../plot/index.ts';
import { PROFILE_FILES } from './profile-output.ts';
import type { IdProfileRow } from './id-profile.ts';

export interface RunCurve {
  name: string;
  dir: string;
  /** Which TwoNN estimate the ID curve shows: the run's --id-scale rule ('full' = all points). */
  idKind: string;
  depth: number[];
  id: number[];
  labelOverlap: number[];
}

export function readRunCurve(dir: string): RunCurve {
  const path = join(dir, PROFILE_FILES.json);
  if (!existsSync(path)) throw new AtlasError(`is not a profile output (no ${PROFILE_FILES.json})`, { file: dir, field: 'runs', hint: "give the --out folders of earlier 'latent-atlas profile' runs" });
  let json: { model?: unknown; layers?: IdProfileRow[] };
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new AtlasError('is not valid JSON', { file: path, hint: (e as Error).message, cause: e });
  }
  const rows = json.layers;
  if (!Array.isArray(rows) || rows.length === 0 || rows.some((r) => typeof r?.layer !== 'number')) throw new AtlasError('has no per-layer rows (layers[].layer)', { file: path, field: 'layers' });
  const last = Math.max(...rows.map((r) => r.layer));
  const reported = rows.every((r) => r.idReported && r.idReported.rule !== 'full');
  return {
    name: typeof json.model === 'string' && json.model ? json.model : basename(resolve(dir)),
    dir: resolve(dir),
    idKind: reported ? rows[0]!.idReported!.rule : 'full',
    depth: rows.map((r) => (last > 0 ? r.layer / last : 0)),
    id: rows.map((r) => (reported ? r.idReported!.id : r.twoNN) ?? NaN),
    labelOverlap: rows.map((r) => r.labelOverlap ?? NaN),
  };
}

/** Writes OUT/profile-runs.{svg,png,json}. Runs with the same name get their folder names to tell them apart. */
export function writeRunsPlot(dirs: string[], outDir: string): { svg: string; png: string; json: string; curves: RunCurve[] } {
  if (dirs.length === 0) throw new AtlasError('--runs needs at least one profile folder', { field: 'runs' });
  const curves = dirs.map(readRunCurve);
  const names = curves.map((c) => c.name);
  curves.forEach((c) => { if (names.filter((n) => n === c.name).length > 1) c.name = `${c.name} (${basename(c.dir)})`; });
  const colors = categoricalColors(curves.length);
  const kinds = [...new Set(curves.map((c) => c.idKind))];
  const idMax = Math.max(1, ...curves.flatMap((c) => c.id).filter(Number.isFinite));
  const top = lineSvg({
    title: kinds.length === 1 ? `Intrinsic dimension (TwoNN, --id-scale ${kinds[0]})` : 'Intrinsic dimension (TwoNN, --id-scale in brackets)', xLabel: 'relative depth (layer / last layer)', yLabel: 'intrinsic dimension', width: 680, height: 340,
    yDomain: [0, idMax * 1.1],
    series: curves.map((c, i) => ({ name: kinds.length === 1 ? c.name : `${c.name} (${c.idKind})`, x: c.depth, y: c.id, color: colors[i] })),
  });
  const plots = [top];
  const labelled = curves.filter((c) => c.labelOverlap.some(Number.isFinite));
  if (labelled.length) {
    plots.push(lineSvg({
      title: 'Label overlap', xLabel: 'relative depth (layer / last layer)', yLabel: 'label overlap', width: 680, height: 300, yDomain: [0, 1],
      // Every run, also those without labels (no line), so both panels share the legend and the plot width.
      series: curves.map((c, i) => ({ name: kinds.length === 1 ? c.name : `${c.name} (${c.idKind})`, x: c.depth, y: c.labelOverlap, color: colors[i] })),
    }));
  }
  mkdirSync(outDir, { recursive: true });
  const saved = savePlot(facetSvg({ plots, columns: 1, title: 'Profiles against relative depth' }), join(outDir, PROFILE_FILES.runsPlot));
  const json = join(outDir, `${PROFILE_FILES.runsPlot}.json`);
  writeJsonAtomic(json, { runs: curves });
  return { svg: saved.svgPath, png: saved.pngPath, json, curves };
}

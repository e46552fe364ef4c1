/**
 * `fim --compare`: earlier fim output folders side by side.
 * - Every run: upstream's layer fractions (layer_importance.json) as grouped bars, one bar per model
 *   (fim_compare_layers.svg/png + layer_importance_comparison.csv).
 * - Exactly two runs A, B (as the toolkit's analyze_models.py): per layer group and per tensor, the Fisher
 *   sums of both, ratio B/A and difference B − A, from the full diagonals (fisher_comparison.json,
 *   fisher_comparison_layers.csv, fisher_comparison_tensors.csv, fisher_comparison.svg/png).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { AtlasError } from '../errors.ts';
import { SafetensorsFile } from '../model/safetensors.ts';
import { barSvg, facetSvg, lineSvg, savePlot } from '../plot/index.ts';
import { FIM_FILES } from './fisher-report.ts';
import { UPSTREAM_FILES, upstreamGroup } from './fisher-upstream.ts';
import { toCsv } from './stats.ts';
import { tryPlot } from './plots.ts';

/** Upstream group order: embeddings, layer_0 … layer_N, final_norm, lm_head, other. */
export function upstreamGroupOrder(a: string, b: string): number {
  const rank = (g: string): number => (g === 'embeddings' ? -1 : g.startsWith('layer_') ? Number(g.slice(6)) : g === 'final_norm' ? 1e6 : g === 'lm_head' ? 1e6 + 1 : 1e6 + 2);
  return rank(a) - rank(b);
}

function readJson(file: string): Record<string, number> {
  if (!existsSync(file)) throw new AtlasError('not found', { file, hint: 'pass folders written by `latent-atlas fim`' });
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>;
}

function tensorSums(file: string): Map<string, number> {
  if (!existsSync(file)) throw new AtlasError('not found', { file, hint: 'pass folders written by `latent-atlas fim`' });
  const st = SafetensorsFile.open(file);
  try {
    const out = new Map<string, number>();
    for (const n of st.names()) {
      let s = 0;
      for (const v of st.read(n).data) s += v;
      out.set(n, s);
    }
    return out;
  } finally {
    st.close();
  }
}

export interface FisherPairRow { name: string; fisher_a: number; fisher_b: number; ratio: number; difference: number }

export interface FisherComparison {
  models: { label: string; dir: string }[];
  layers: FisherPairRow[];
  tensors: FisherPairRow[];
  /** Tensors only one of the runs has. */
  unmatched: string[];
}

const row = (name: string, a: number, b: number): FisherPairRow => ({ name, fisher_a: a, fisher_b: b, ratio: a !== 0 ? b / a : NaN, difference: b - a });

/** Ratio and difference of two runs' Fisher sums per layer group and per tensor. */
export function compareTwo(dirA: string, dirB: string, labels: [string, string]): FisherComparison {
  const a = tensorSums(join(dirA, FIM_FILES.diagonal));
  const b = tensorSums(join(dirB, FIM_FILES.diagonal));
  const names = [...a.keys()].filter((n) => b.has(n));
  const unmatched = [...a.keys(), ...b.keys()].filter((n) => !(a.has(n) && b.has(n)));
  const ga = new Map<string, number>();
  const gb = new Map<string, number>();
  for (const n of names) {
    const g = upstreamGroup(n);
    ga.set(g, (ga.get(g) ?? 0) + a.get(n)!);
    gb.set(g, (gb.get(g) ?? 0) + b.get(n)!);
  }
  return {
    models: [{ label: labels[0], dir: dirA }, { label: labels[1], dir: dirB }],
    layers: [...ga.keys()].sort(upstreamGroupOrder).map((g) => row(g, ga.get(g)!, gb.get(g)!)),
    tensors: names.map((n) => row(n, a.get(n)!, b.get(n)!)),
    unmatched,
  };
}

export function compareFimRuns(dirs: string[], out: string, labels?: string[]): void {
  if (dirs.length < 2) throw new AtlasError('--compare needs at least two fim output folders');
  if (labels && labels.length !== dirs.length) throw new AtlasError(`--labels has ${labels.length} names for ${dirs.length} folders`);
  const names = labels ?? dirs.map((d) => basename(d));
  mkdirSync(out, { recursive: true });
  const runs = dirs.map((d) => readJson(join(d, UPSTREAM_FILES.layers)));
  const groups = [...new Set(runs.flatMap((r) => Object.keys(r)))].sort(upstreamGroupOrder);
  writeFileSync(join(out, 'layer_importance_comparison.csv'), toCsv(groups.map((g) => ({ layer: g, ...Object.fromEntries(names.map((n, i) => [n, runs[i][g] ?? NaN])) }))));
  tryPlot('layer importance comparison', () => {
    const s = savePlot(barSvg({
      title: 'Layer importance (fraction of total Fisher)', xLabel: 'layer group', yLabel: 'fraction of total',
      categories: groups.map((g) => g.replace('layer_', '')), series: names.map((n, i) => ({ name: n, values: groups.map((g) => runs[i][g] ?? NaN) })),
    }), join(out, 'fim_compare_layers'));
    return [s.svgPath, s.pngPath];
  });
  if (dirs.length !== 2) return;
  const cmp = compareTwo(dirs[0], dirs[1], [names[0], names[1]]);
  writeFileSync(join(out, 'fisher_comparison.json'), JSON.stringify({ ratio: 'fisher_b / fisher_a', difference: 'fisher_b - fisher_a', ...cmp }, null, 2) + '\n');
  writeFileSync(join(out, 'fisher_comparison_layers.csv'), toCsv(cmp.layers.map((r) => ({ ...r }))));
  writeFileSync(join(out, 'fisher_comparison_tensors.csv'), toCsv(cmp.tensors.map((r) => ({ ...r }))));
  tryPlot('Fisher comparison', () => {
    const x = cmp.layers.map((_, i) => i);
    const ticks = cmp.layers.map((r) => r.name.replace('layer_', ''));
    const vs = `${names[1]} / ${names[0]}`;
    const s = savePlot(facetSvg({
      title: `Fisher of ${names[1]} vs ${names[0]} per layer group`,
      plots: [
        lineSvg({ title: 'ratio', xLabel: 'layer group', yLabel: vs, xTickNames: ticks, series: [{ name: vs, x, y: cmp.layers.map((r) => r.ratio) }, { name: 'equal', x, y: x.map(() => 1), dashed: true }] }),
        lineSvg({ title: 'difference', xLabel: 'layer group', yLabel: `${names[1]} − ${names[0]}`, xTickNames: ticks, series: [{ name: `${names[1]} − ${names[0]}`, x, y: cmp.layers.map((r) => r.difference) }] }),
      ],
    }), join(out, 'fisher_comparison'));
    return [s.svgPath, s.pngPath];
  });
}

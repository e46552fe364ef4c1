/**
 * Aggregates a diagonal Fisher into the reports the `fim` command writes: per tensor, per component and per
 * layer (sum, mean, max, count), the layer ranking by total Fisher, and the top-k individual parameters.
 * Stored tensors that pack several canonical ones (GPT-2's c_attn, GPT-NeoX's query_key_value) are split into
 * attn_q / attn_k / attn_v for the component tables (from the model's recipes, src/params/param-names.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors } from '../model/safetensors.ts';
import { NAME_CLASSIFIER, groupOrder, unravel, type Component, type ParamClassifier } from './param-names.ts';
import { RunningStat, TopK } from './stats.ts';
import { FISHER_FORMULAS, type FisherResult } from './fisher.ts';
import { UPSTREAM_FILES, upstreamReports } from './fisher-upstream.ts';

export interface TopParameter {
  name: string;
  /** Flat row-major index and the same as a multi-dimensional index. */
  flatIndex: number;
  index: number[];
  value: number;
  layer: number | null;
  component: Component;
}

export interface FisherReport {
  perTensor: ({ name: string; shape: number[]; layer: number | null; component: Component } & ReturnType<RunningStat['toJSON']>)[];
  /** group ('embed', '0', …, 'head') → totals and per-component totals. */
  layers: { group: string; rank: number; total: ReturnType<RunningStat['toJSON']>; components: Record<string, ReturnType<RunningStat['toJSON']>> }[];
  components: Record<string, ReturnType<RunningStat['toJSON']>>;
  total: ReturnType<RunningStat['toJSON']>;
  top: TopParameter[];
}

/** `classify`: the model's own (ParamStore recipes → paramClassifier); default: checkpoint name patterns. */
export function fisherReport(fisher: Map<string, Float32Array>, shapes: Map<string, number[]>, topK = 10, classify: ParamClassifier = NAME_CLASSIFIER): FisherReport {
  const top = new TopK<{ name: string; flat: number }>(topK);
  const total = new RunningStat();
  const perGroup = new Map<string, { total: RunningStat; comps: Map<string, RunningStat> }>();
  const perComp = new Map<string, RunningStat>();
  const perTensor: FisherReport['perTensor'] = [];
  for (const [name, f] of fisher) {
    const info = classify.info(name);
    const shape = shapes.get(name) ?? [f.length];
    const split = classify.elements(name, shape);
    const tensorStat = new RunningStat();
    const compStats = new Map<Component, RunningStat>();
    for (let i = 0; i < f.length; i++) {
      const v = f[i];
      tensorStat.add(v);
      if (v > top.threshold) top.push(v, { name, flat: i });
      if (split) {
        const c = split(i);
        let s = compStats.get(c);
        if (!s) compStats.set(c, (s = new RunningStat()));
        s.add(v);
      }
    }
    if (!split) compStats.set(info.component, tensorStat);
    perTensor.push({ name, shape, layer: info.layer, component: info.component, ...tensorStat.toJSON() });
    total.merge(tensorStat);
    let g = perGroup.get(info.group);
    if (!g) perGroup.set(info.group, (g = { total: new RunningStat(), comps: new Map() }));
    g.total.merge(tensorStat);
    for (const [c, s] of compStats) {
      let gc = g.comps.get(c);
      if (!gc) g.comps.set(c, (gc = new RunningStat()));
      gc.merge(s);
      let pc = perComp.get(c);
      if (!pc) perComp.set(c, (pc = new RunningStat()));
      pc.merge(s);
    }
  }
  const groups = [...perGroup.keys()].sort(groupOrder);
  const bySum = [...groups].sort((a, b) => perGroup.get(b)!.total.sum - perGroup.get(a)!.total.sum);
  const layers = groups.map((group) => ({
    group,
    rank: bySum.indexOf(group) + 1,
    total: perGroup.get(group)!.total.toJSON(),
    components: Object.fromEntries([...perGroup.get(group)!.comps].map(([c, s]) => [c, s.toJSON()])),
  }));
  return {
    perTensor,
    layers,
    components: Object.fromEntries([...perComp].map(([c, s]) => [c, s.toJSON()])),
    total: total.toJSON(),
    top: top.sorted().map(({ v, p }) => {
      const info = classify.info(p.name);
      const shape = shapes.get(p.name) ?? [fisher.get(p.name)!.length];
      return { name: p.name, flatIndex: p.flat, index: unravel(p.flat, shape), value: v, layer: info.layer, component: classify.elements(p.name, shape)?.(p.flat) ?? info.component };
    }),
  };
}

/** File names of the `fim` output folder (ours; upstream's names are in ./fisher-upstream.ts). */
export const FIM_FILES = {
  diagonal: 'fisher_diagonal.safetensors',
  layers: 'fisher_layers.json',
  summary: 'summary.json',
} as const;

export interface FisherOutputOptions {
  /** Split every component into this many chunks along its flattened index (granular_importance.json). 0 = off. */
  granularity?: number;
  /** How stored tensors split into components (the architecture's recipes, param-names.ts paramClassifier). */
  classify?: ParamClassifier;
}

const json = (path: string, v: unknown): void => writeFileSync(path, JSON.stringify(v, null, 2) + '\n');

/**
 * Writes fisher_diagonal.safetensors, fisher_layers.json (ours), summary.json (ours + upstream's fields) and
 * upstream's layer_importance.json, component_importance.json (+ granular_importance.json) into `outDir`.
 */
export function writeFisherOutputs(outDir: string, result: FisherResult, shapes: Map<string, number[]>, meta: Record<string, unknown>, opts: FisherOutputOptions = {}): FisherReport {
  mkdirSync(outDir, { recursive: true });
  const report = fisherReport(result.fisher, shapes, 10, opts.classify);
  const up = upstreamReports(result.fisher, shapes, opts.granularity ?? 0);
  const formula = FISHER_FORMULAS[result.normalise];
  writeSafetensors(
    join(outDir, FIM_FILES.diagonal),
    [...result.fisher].map(([n, f]) => [n, { shape: shapes.get(n) ?? [f.length], data: f }] as const),
    { metadata: { format: 'pt', kind: 'diagonal_fisher', mode: result.mode, normalise: result.normalise, samples: String(result.samples), formula } },
  );
  const common = { ...meta, mode: result.mode, normalise: result.normalise, formula, samples: result.samples, tokens: result.tokens, meanTokensPerSample: result.samples ? result.tokens / result.samples : 0 };
  json(join(outDir, FIM_FILES.layers), {
    ...common,
    ranking: [...report.layers].sort((a, b) => a.rank - b.rank).map((l) => l.group),
    layers: report.layers,
    components: report.components,
  });
  json(join(outDir, UPSTREAM_FILES.layers), up.layerImportance);
  json(join(outDir, UPSTREAM_FILES.components), up.componentImportance);
  if (up.granular) json(join(outDir, UPSTREAM_FILES.granular), { granularity: opts.granularity, components: up.granular });
  json(join(outDir, FIM_FILES.summary), {
    ...common,
    // upstream's fields: top_10_parameters are TENSORS ranked by their Fisher sum
    ...up.summary,
    top_layers: Object.entries(up.layerImportance).slice(0, 10).map(([layer, fraction]) => ({ layer, fraction })),
    meanLoss: result.meanLoss,
    meanLossUnit: result.normalise === 'mean' ? 'nats per token, averaged over samples' : 'nats per sample (summed over its tokens)',
    parameters: report.total.count,
    total: report.total,
    // ours: the individual parameters with the largest F_i
    topParameters: report.top,
    tensors: report.perTensor,
  });
  return report;
}

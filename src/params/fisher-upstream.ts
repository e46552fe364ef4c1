/**
 * The Fisher/similarity toolkit's output files, computed from a diagonal Fisher beside our own reports:
 * - layer_importance.json: { layer_N | embeddings | lm_head | final_norm | other → fraction of the total },
 *   sorted descending (the tied LM head is folded into the embedding, so it counts as `embeddings`);
 * - component_importance.json: { component → { fisher_sum, percentage } }, sorted descending;
 * - summary.json's upstream fields: top-10 TENSORS by Fisher sum and the top components;
 * - granular_importance.json (--granularity N): every component of every tensor (GPT-2 c_attn split into
 *   q/k/v) cut into N chunks along its flattened index, chunk sums (they add up to the component's sum).
 */
import { classifyParam, elementComponent, type Component } from './param-names.ts';

export const UPSTREAM_FILES = {
  layers: 'layer_importance.json',
  components: 'component_importance.json',
  granular: 'granular_importance.json',
} as const;

/** Upstream's group of a parameter name. */
export function upstreamGroup(name: string): string {
  const info = classifyParam(name);
  if (info.layer !== null) return `layer_${info.layer}`;
  if (info.component === 'embedding' || info.component === 'position') return 'embeddings';
  if (info.component === 'lm_head') return 'lm_head';
  if (info.component === 'final_norm') return 'final_norm';
  return 'other';
}

function sortedRecord<T>(entries: [string, T][], key: (t: T) => number): Record<string, T> {
  return Object.fromEntries([...entries].sort((a, b) => key(b[1]) - key(a[1])));
}

/** Per tensor, per component sums (a packed c_attn gives one entry per part). Float64 accumulation. */
function componentSums(name: string, f: Float32Array, shape: number[]): Map<Component, { sum: number; idx: number[] | null }> {
  const split = elementComponent(name, shape);
  const out = new Map<Component, { sum: number; idx: number[] | null }>();
  if (!split) {
    let s = 0;
    for (let i = 0; i < f.length; i++) s += f[i];
    out.set(classifyParam(name).component, { sum: s, idx: null });
    return out;
  }
  for (let i = 0; i < f.length; i++) {
    const c = split(i);
    let e = out.get(c);
    if (!e) out.set(c, (e = { sum: 0, idx: [] }));
    e.sum += f[i];
    e.idx!.push(i);
  }
  return out;
}

export interface UpstreamReports {
  layerImportance: Record<string, number>;
  componentImportance: Record<string, { fisher_sum: number; percentage: number }>;
  /** Top-10 tensors by Fisher sum, and the components sorted by Fisher sum (summary.json fields). */
  summary: { total_fisher: number; num_parameters: number; top_10_parameters: { name: string; fisher_sum: number }[]; top_components: { component: string; fisher_sum: number; percentage: number }[] };
  granular?: Record<string, { tensor: string; component: string; fisher_sum: number; chunks: number[] }>;
}

export function upstreamReports(fisher: Map<string, Float32Array>, shapes: Map<string, number[]>, granularity = 0): UpstreamReports {
  const groups = new Map<string, number>();
  const comps = new Map<string, number>();
  const tensors: { name: string; fisher_sum: number }[] = [];
  const granular: NonNullable<UpstreamReports['granular']> = {};
  let total = 0;
  let count = 0;
  for (const [name, f] of fisher) {
    const shape = shapes.get(name) ?? [f.length];
    let tsum = 0;
    for (const [c, { sum, idx }] of componentSums(name, f, shape)) {
      tsum += sum;
      comps.set(c, (comps.get(c) ?? 0) + sum);
      if (granularity > 0) {
        const n = idx ? idx.length : f.length;
        const at = (k: number): number => f[idx ? idx[k] : k];
        const chunks = new Array<number>(granularity).fill(0);
        // chunk k holds flattened positions [floor(k n / N), floor((k+1) n / N))
        for (let k = 0; k < n; k++) chunks[Math.min(granularity - 1, Math.floor((k * granularity) / n))] += at(k);
        granular[idx ? `${name}:${c}` : name] = { tensor: name, component: c, fisher_sum: sum, chunks };
      }
    }
    tensors.push({ name, fisher_sum: tsum });
    const g = upstreamGroup(name);
    groups.set(g, (groups.get(g) ?? 0) + tsum);
    total += tsum;
    count += f.length;
  }
  const frac = (x: number): number => (total > 0 ? x / total : 0);
  const componentImportance = sortedRecord([...comps].map(([c, s]) => [c, { fisher_sum: s, percentage: 100 * frac(s) }] as [string, { fisher_sum: number; percentage: number }]), (e) => e.fisher_sum);
  return {
    layerImportance: sortedRecord([...groups].map(([g, s]) => [g, frac(s)] as [string, number]), (x) => x),
    componentImportance,
    summary: {
      total_fisher: total,
      num_parameters: count,
      top_10_parameters: [...tensors].sort((a, b) => b.fisher_sum - a.fisher_sum).slice(0, 10),
      top_components: Object.entries(componentImportance).map(([component, e]) => ({ component, ...e })),
    },
    ...(granularity > 0 ? { granular } : {}),
  };
}

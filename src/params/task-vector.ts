/**
 * Task vectors τ = θ_finetuned − θ_base, tensor by tensor: norms ‖τ‖, ‖θ_base‖ and the relative change
 * ‖τ‖/‖θ_base‖ per tensor, per component and per layer (layer norms are the root of summed squares), and τ
 * itself as a safetensors checkpoint (canonical names). With a diagonal Fisher of the base model, each tensor
 * also gets Σ_i F_i τ_i² — the second-order estimate of how much the change costs the base model (×½) — and
 * the per-layer Fisher total next to the per-layer relative change.
 *
 * Memory: tensors are streamed in row blocks (./tensor-stream.ts); writing τ holds one tensor at a time.
 */
import { openCheckpoint, type Checkpoint } from '../model/checkpoint.ts';
import { SafetensorsFile, writeSafetensors } from '../model/safetensors.ts';
import { AtlasError } from '../errors.ts';
import { classifyParam, groupOrder, type Component } from './param-names.ts';
import { rowBlocks } from './tensor-stream.ts';

export interface TensorChange {
  name: string;
  layer: number | null;
  group: string;
  component: Component;
  shape: number[];
  /** ‖τ‖₂, ‖θ_base‖₂, ‖θ_finetuned‖₂, ‖τ‖/‖θ_base‖. */
  norm: number;
  baseNorm: number;
  finetunedNorm: number;
  relative: number;
  /** Σ F_i τ_i² (only with a Fisher). */
  fisherWeighted?: number;
  /** Σ F_i (only with a Fisher). */
  fisherSum?: number;
}

export interface GroupChange {
  group: string;
  norm: number;
  baseNorm: number;
  relative: number;
  fisherWeighted?: number;
  fisherSum?: number;
  components: Record<string, { norm: number; baseNorm: number; relative: number }>;
}

export interface TaskVectorReport {
  base: string;
  finetuned: string;
  tensors: TensorChange[];
  layers: GroupChange[];
  total: { norm: number; baseNorm: number; relative: number };
  problems: { tensor: string; problem: string }[];
  /** Spearman rank correlation across layers of Fisher total vs relative change (with a Fisher, ≥ 3 layers). */
  fisherChangeSpearman?: number;
}

export interface TaskVectorOptions {
  /** Write τ here as safetensors. Default: no file. */
  out?: string;
  /** Storage dtype of the written τ. Default 'F32'. */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** A fisher_diagonal.safetensors of the base model (from `latent-atlas fim`). */
  fisher?: string;
  onTensor?: (name: string) => void;
}

function ranks(v: number[]): number[] {
  const idx = v.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(v.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1][0] === idx[i][0]) j++;
    for (let k = i; k <= j; k++) r[idx[k][1]] = (i + j) / 2;
    i = j + 1;
  }
  return r;
}

export function spearman(a: number[], b: number[]): number {
  const ra = ranks(a);
  const rb = ranks(b);
  const n = a.length;
  const ma = ra.reduce((s, x) => s + x, 0) / n;
  const mb = rb.reduce((s, x) => s + x, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) ** 2;
    sbb += (rb[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** Computes τ = finetuned − base for every tensor both hold with equal shapes. */
export function taskVector(baseDir: string, finetunedDir: string, opts: TaskVectorOptions = {}): TaskVectorReport {
  let base: Checkpoint | null = null;
  let ft: Checkpoint | null = null;
  let fisher: SafetensorsFile | null = null;
  try {
    base = openCheckpoint(baseDir);
    ft = openCheckpoint(finetunedDir);
    const b = base;
    const f = ft;
    if (b.config.architecture !== f.config.architecture) {
      throw new AtlasError(`architecture ${f.config.architecture} differs from the base's ${b.config.architecture}`, { file: finetunedDir, field: 'model_type' });
    }
    fisher = opts.fisher ? SafetensorsFile.open(opts.fisher) : null;
    const problems: TaskVectorReport['problems'] = [];
    const names: string[] = [];
    for (const n of b.names()) {
      if (!f.has(n)) { problems.push({ tensor: n, problem: 'missing in the finetuned model' }); continue; }
      const sb = b.shape(n);
      const sf = f.shape(n);
      if (sb.length !== sf.length || sb.some((x, i) => x !== sf[i])) { problems.push({ tensor: n, problem: `shape [${sf.join(', ')}] in the finetuned model differs from the base's [${sb.join(', ')}]` }); continue; }
      names.push(n);
    }
    for (const n of f.names()) if (!b.has(n)) problems.push({ tensor: n, problem: 'missing in the base model' });

    const changes = new Map<string, TensorChange>();
    /** Streams both tensors block by block; `emit` receives τ blocks. */
    const measure = (name: string, emit?: (tau: Float32Array, offset: number) => void): void => {
      const info = classifyParam(name);
      let fw: Float32Array | null = null;
      if (fisher) {
        if (fisher.entries.has(name)) {
          const e = fisher.entry(name);
          if (e.shape.join() === b.shape(name).join()) fw = fisher.read(name).data;
          else problems.push({ tensor: name, problem: `Fisher shape [${e.shape.join(', ')}] differs from the model's` });
        } else problems.push({ tensor: name, problem: 'missing in the Fisher file' });
      }
      let nt = 0, nb = 0, nf = 0, fwSum = 0, fSum = 0;
      const sb = rowBlocks(b, name);
      const sf = rowBlocks(f, name);
      let offset = 0;
      for (;;) {
        const x = sb.next();
        const y = sf.next();
        if (x.done || y.done) break;
        const xb = x.value.data;
        const yb = y.value.data;
        const tau = new Float32Array(xb.length);
        for (let i = 0; i < xb.length; i++) {
          const t = yb[i] - xb[i];
          tau[i] = t;
          nt += t * t;
          nb += xb[i] * xb[i];
          nf += yb[i] * yb[i];
          if (fw) { fwSum += fw[offset + i] * t * t; fSum += fw[offset + i]; }
        }
        emit?.(tau, offset);
        offset += xb.length;
      }
      changes.set(name, {
        name, layer: info.layer, group: info.group, component: info.component, shape: b.shape(name),
        norm: Math.sqrt(nt), baseNorm: Math.sqrt(nb), finetunedNorm: Math.sqrt(nf), relative: nb > 0 ? Math.sqrt(nt / nb) : nt > 0 ? Infinity : 0,
        ...(fw ? { fisherWeighted: fwSum, fisherSum: fSum } : {}),
      });
      opts.onTensor?.(name);
    };
    if (opts.out) {
      writeSafetensors(opts.out, names.map((n) => [n, {
        shape: b.shape(n),
        produce: () => {
          const out = new Float32Array(b.shape(n).reduce((a, c) => a * c, 1));
          measure(n, (tau, off) => out.set(tau, off));
          return out;
        },
      }] as const), { dtype: opts.dtype, metadata: { format: 'pt', kind: 'task_vector', base: baseDir, finetuned: finetunedDir } });
    } else {
      for (const n of names) measure(n);
    }
    const tensors = names.map((n) => changes.get(n)!);
    const groups = new Map<string, { t: number; b: number; fw: number; fs: number; comps: Map<string, { t: number; b: number }> }>();
    for (const c of tensors) {
      let g = groups.get(c.group);
      if (!g) groups.set(c.group, (g = { t: 0, b: 0, fw: 0, fs: 0, comps: new Map() }));
      g.t += c.norm ** 2; g.b += c.baseNorm ** 2; g.fw += c.fisherWeighted ?? 0; g.fs += c.fisherSum ?? 0;
      const k = g.comps.get(c.component) ?? { t: 0, b: 0 };
      k.t += c.norm ** 2; k.b += c.baseNorm ** 2;
      g.comps.set(c.component, k);
    }
    const rel = (t: number, bb: number): number => (bb > 0 ? Math.sqrt(t / bb) : t > 0 ? Infinity : 0);
    const layers: GroupChange[] = [...groups].sort((x, y) => groupOrder(x[0], y[0])).map(([group, g]) => ({
      group, norm: Math.sqrt(g.t), baseNorm: Math.sqrt(g.b), relative: rel(g.t, g.b),
      ...(fisher ? { fisherWeighted: g.fw, fisherSum: g.fs } : {}),
      components: Object.fromEntries([...g.comps].map(([c, k]) => [c, { norm: Math.sqrt(k.t), baseNorm: Math.sqrt(k.b), relative: rel(k.t, k.b) }])),
    }));
    const tt = tensors.reduce((s, c) => s + c.norm ** 2, 0);
    const tb = tensors.reduce((s, c) => s + c.baseNorm ** 2, 0);
    const numbered = layers.filter((l) => /^\d+$/.test(l.group));
    const report: TaskVectorReport = { base: baseDir, finetuned: finetunedDir, tensors, layers, total: { norm: Math.sqrt(tt), baseNorm: Math.sqrt(tb), relative: rel(tt, tb) }, problems };
    if (fisher && numbered.length >= 3) report.fisherChangeSpearman = spearman(numbered.map((l) => l.fisherSum!), numbered.map((l) => l.relative));
    return report;
  } finally {
    base?.close();
    ft?.close();
    fisher?.close();
  }
}

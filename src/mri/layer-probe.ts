/**
 * Linear probe accuracy of one layer's representation, with a confidence interval and a control task:
 * StandardScaler + L2 logistic regression (C = 1, lbfgs; ./logistic.ts) on stratified shuffle splits, accuracy on
 * each test split; the interval is mean ± t·s/√splits (Student t, 95 %). The control task (Hewitt & Liang 2019's
 * idea, with shuffled labels) trains the same probe on a seeded permutation of the labels: what a probe of this
 * capacity reaches without the label information. Selectivity = accuracy − control accuracy.
 */
import { AtlasError } from '../errors.ts';
import type { Matrix } from '../geometry/matrix.ts';
import { scorePipeline } from './probe.ts';
import { stratifiedShuffleSplit } from './split.ts';
import { Rng } from '../geometry/rng.ts';

/** Defaults of `layerProbe` (one table, read by the profile flags). */
export const LAYER_PROBE_DEFAULTS = { nSplits: 5, testSize: 0.3, seed: 42, C: 1, maxIter: 1000, control: true };

export type LayerProbeOptions = Partial<typeof LAYER_PROBE_DEFAULTS>;

export interface LayerProbeResult {
  accuracy: number;
  /** 95 % confidence interval of the mean accuracy over splits. */
  ci: [number, number];
  /** Per-split test accuracies. */
  splits: number[];
  control?: { accuracy: number; ci: [number, number] };
  selectivity?: number;
  notConverged: number;
}

/** Two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom (then the normal 1.96). */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

export function meanCI(v: number[]): { mean: number; ci: [number, number] } {
  const n = v.length;
  const mean = v.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, ci: [mean, mean] };
  const s = Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const t = n - 1 <= 30 ? T975[n - 2]! : 1.96;
  const h = (t * s) / Math.sqrt(n);
  return { mean, ci: [mean - h, mean + h] };
}

function accuracies(x: Matrix, labels: readonly number[], o: typeof LAYER_PROBE_DEFAULTS): { acc: number[]; notConverged: number } {
  const splits = stratifiedShuffleSplit(labels, { nSplits: o.nSplits, testSize: o.testSize, seed: o.seed });
  let notConverged = 0;
  const acc = splits.map(({ train, test }) => {
    const r = scorePipeline(x, labels, train, test, ['accuracy'], { C: o.C, maxIter: o.maxIter });
    if (!r.converged) notConverged++;
    return r.scores.accuracy!;
  });
  return { acc, notConverged };
}

export function layerProbe(x: Matrix, labels: readonly number[], opts: LayerProbeOptions = {}): LayerProbeResult {
  const o = { ...LAYER_PROBE_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as typeof LAYER_PROBE_DEFAULTS;
  if (x.rows !== labels.length) throw new AtlasError(`${x.rows} rows but ${labels.length} labels`, { field: 'labels' });
  if (new Set(labels).size < 2) throw new AtlasError('a probe needs at least 2 distinct labels', { field: 'labels', hint: 'pass a labelled dataset (--label-column)' });
  const main = accuracies(x, labels, o);
  const m = meanCI(main.acc);
  const out: LayerProbeResult = { accuracy: m.mean, ci: m.ci, splits: main.acc, notConverged: main.notConverged };
  if (o.control) {
    const perm = [...labels];
    const rng = new Rng(o.seed + 1);
    for (let i = perm.length - 1; i > 0; i--) { const j = rng.int(i + 1); [perm[i], perm[j]] = [perm[j]!, perm[i]!]; }
    const c = accuracies(x, perm, o);
    const cm = meanCI(c.acc);
    out.control = { accuracy: cm.mean, ci: cm.ci };
    out.selectivity = m.mean - cm.mean;
    out.notConverged += c.notConverged;
  }
  return out;
}

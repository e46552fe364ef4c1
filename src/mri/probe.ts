/**
 * Probing evaluation of the reference tool: how much label information the reduced activations lose.
 * Two feature sets of the same texts — "full" (by default the last hidden state's pooled vectors) and "reduced"
 * (every layer's reduced components side by side) — each go through the same pipeline, StandardScaler +
 * logistic regression (L2, C = 1, lbfgs, max_iter = 1000), on the same StratifiedShuffleSplit(n_splits = 5,
 * test_size = 0.3, seed 42) splits. Result per metric: the per-split difference full − reduced, its mean and its
 * standard deviation (ddof 1 over the splits; 0 for a single split) as the spread.
 */
import { AtlasError } from '../errors.ts';
import type { Matrix } from '../geometry/matrix.ts';
import { classificationScores, DEFAULT_PROBE_METRICS, type ClassificationMetric } from './classification-metrics.ts';
import { fitLogistic, predict } from './logistic.ts';
import { applyScaler, fitStandardScaler, stratifiedShuffleSplit, takeRows, type StratifiedShuffleSplitOptions } from './split.ts';

export interface ProbeOptions extends StratifiedShuffleSplitOptions {
  /** Default: the reference's six (f1/recall macro and weighted, accuracy, balanced accuracy). */
  metrics?: ClassificationMetric[];
  /** Default 1.0. */
  C?: number;
  /** Default 1000 (the reference's pipeline). */
  maxIter?: number;
}

export interface ProbeSummary {
  full: number;
  reduced: number;
  /** Mean over splits of full − reduced. */
  difference: number;
  /** Standard deviation over splits of full − reduced (ddof 1; 0 for one split). */
  differenceStd: number;
}

export interface ProbeResult {
  metrics: ClassificationMetric[];
  splits: { full: Record<string, number>; reduced: Record<string, number>; difference: Record<string, number> }[];
  summary: Record<string, ProbeSummary>;
  /** Splits whose classifier stopped at max_iter (scikit-learn would warn ConvergenceWarning). */
  notConverged: number;
}

/** Standardise on the train rows, fit, score the test rows. */
export function scorePipeline(x: Matrix, labels: readonly number[], train: number[], test: number[], metrics: ClassificationMetric[], opts: ProbeOptions): { scores: Record<string, number>; converged: boolean } {
  const xTrain = takeRows(x, train);
  const scaler = fitStandardScaler(xTrain);
  const model = fitLogistic(applyScaler(xTrain, scaler), train.map((i) => labels[i]!), { C: opts.C, maxIter: opts.maxIter ?? 1000 });
  const pred = predict(model, applyScaler(takeRows(x, test), scaler));
  return { scores: classificationScores(test.map((i) => labels[i]!), pred, metrics), converged: model.converged };
}

export function evaluateProbe(full: Matrix, reduced: Matrix, labels: readonly number[], opts: ProbeOptions = {}): ProbeResult {
  if (full.rows !== labels.length || reduced.rows !== labels.length) {
    throw new AtlasError(`full (${full.rows} rows), reduced (${reduced.rows} rows) and labels (${labels.length}) must describe the same texts`, { field: 'labels' });
  }
  const metrics = opts.metrics ?? DEFAULT_PROBE_METRICS;
  const splits = stratifiedShuffleSplit(labels, opts);
  let notConverged = 0;
  const perSplit = splits.map(({ train, test }) => {
    const f = scorePipeline(full, labels, train, test, metrics, opts);
    const r = scorePipeline(reduced, labels, train, test, metrics, opts);
    notConverged += (f.converged ? 0 : 1) + (r.converged ? 0 : 1);
    const difference: Record<string, number> = {};
    for (const m of metrics) difference[m] = f.scores[m]! - r.scores[m]!;
    return { full: f.scores, reduced: r.scores, difference };
  });
  const summary: Record<string, ProbeSummary> = {};
  const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  for (const m of metrics) {
    const diffs = perSplit.map((s) => s.difference[m]!);
    const md = mean(diffs);
    const std = diffs.length > 1 ? Math.sqrt(diffs.reduce((a, v) => a + (v - md) ** 2, 0) / (diffs.length - 1)) : 0;
    summary[m] = { full: mean(perSplit.map((s) => s.full[m]!)), reduced: mean(perSplit.map((s) => s.reduced[m]!)), difference: md, differenceStd: std };
  }
  return { metrics, splits: perSplit, summary, notConverged };
}

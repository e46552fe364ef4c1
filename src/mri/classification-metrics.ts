/**
 * Classification scores with scikit-learn's definitions and its zero_division behaviour (0, with no warning):
 * labels = union of true and predicted classes (sorted); per class precision = tp / predicted, recall = tp /
 * true, f1 = 2·p·r / (p + r); 'macro' = plain mean over labels, 'weighted' = mean weighted by true support;
 * balanced accuracy = mean recall over the classes present in y_true.
 */
import { AtlasError } from '../errors.ts';

export const CLASSIFICATION_METRICS = [
  'accuracy', 'balanced_accuracy', 'f1_macro', 'f1_weighted', 'precision_macro', 'precision_weighted', 'recall_macro', 'recall_weighted',
] as const;
export type ClassificationMetric = (typeof CLASSIFICATION_METRICS)[number];

/** The reference's default scoring list. */
export const DEFAULT_PROBE_METRICS: ClassificationMetric[] = ['f1_macro', 'f1_weighted', 'recall_macro', 'recall_weighted', 'accuracy', 'balanced_accuracy'];

export function parseMetric(name: string): ClassificationMetric {
  if ((CLASSIFICATION_METRICS as readonly string[]).includes(name)) return name as ClassificationMetric;
  throw new AtlasError(`unknown metric '${name}'`, { field: 'metrics', hint: `use: ${CLASSIFICATION_METRICS.join(', ')}` });
}

export function classificationScores(yTrue: readonly number[], yPred: readonly number[], metrics: readonly ClassificationMetric[] = CLASSIFICATION_METRICS): Record<string, number> {
  if (yTrue.length !== yPred.length) throw new AtlasError(`${yTrue.length} true labels but ${yPred.length} predictions`, { field: 'yPred' });
  if (yTrue.length === 0) throw new AtlasError('no samples to score', { field: 'yTrue' });
  const labels = [...new Set([...yTrue, ...yPred])].sort((a, b) => a - b);
  const idx = new Map(labels.map((l, i) => [l, i]));
  const K = labels.length;
  const tp = new Float64Array(K), pred = new Float64Array(K), support = new Float64Array(K);
  let correct = 0;
  yTrue.forEach((t, i) => {
    const a = idx.get(t)!, b = idx.get(yPred[i]!)!;
    support[a]!++;
    pred[b]!++;
    if (a === b) {
      tp[a]!++;
      correct++;
    }
  });
  const div = (a: number, b: number): number => (b === 0 ? 0 : a / b);
  const precision = Array.from(tp, (v, k) => div(v, pred[k]!));
  const recall = Array.from(tp, (v, k) => div(v, support[k]!));
  const f1 = precision.map((p, k) => div(2 * p * recall[k]!, p + recall[k]!));
  const total = yTrue.length;
  const macro = (v: number[]): number => v.reduce((a, b) => a + b, 0) / K;
  const weighted = (v: number[]): number => div(v.reduce((a, b, k) => a + b * support[k]!, 0), total);
  const present = recall.filter((_, k) => support[k]! > 0);
  const all: Record<ClassificationMetric, number> = {
    accuracy: correct / total,
    balanced_accuracy: present.reduce((a, b) => a + b, 0) / present.length,
    f1_macro: macro(f1),
    f1_weighted: weighted(f1),
    precision_macro: macro(precision),
    precision_weighted: weighted(precision),
    recall_macro: macro(recall),
    recall_weighted: weighted(recall),
  };
  const out: Record<string, number> = {};
  for (const m of metrics) out[m] = all[m];
  return out;
}

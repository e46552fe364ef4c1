/**
 * Learning-rate schedule: linear warm-up then cosine decay, as nanoGPT / HF `get_cosine_schedule_with_warmup`
 * with a floor. Step s (0-based) gets
 *   s < warmup:  peak·(s+1)/warmup
 *   otherwise:   min + ½(peak−min)(1 + cos(π·p)),  p = (s − warmup)/(total − warmup) clamped to [0, 1].
 */
export interface CosineScheduleOptions {
  /** Peak learning rate. */
  peak: number;
  /** Number of warm-up steps (≥ 0). */
  warmup: number;
  /** Total number of steps of the run. */
  total: number;
  /** Final learning rate. Default peak/10. */
  min?: number;
}

export function cosineWithWarmup(step: number, o: CosineScheduleOptions): number {
  const min = o.min ?? o.peak / 10;
  if (step < o.warmup) return (o.peak * (step + 1)) / o.warmup;
  const span = Math.max(1, o.total - o.warmup);
  const p = Math.min(1, Math.max(0, (step - o.warmup) / span));
  return min + 0.5 * (o.peak - min) * (1 + Math.cos(Math.PI * p));
}

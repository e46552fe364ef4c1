/**
 * Diagonal Fisher information from per-sample gradients. Two normalisations of the per-sample loss:
 *
 *   'mean' (default, the Fisher/similarity toolkit's estimator):
 *     F_i = (1/N) Σ_n (∂ L̄_n / ∂θ_i)²,   L̄_n = (1/T_n) Σ_t −log p(y_{n,t} | x_{n,≤t})   (padding ignored)
 *   'sum' (document log-likelihood):
 *     F_i = (1/N) Σ_n (∂ log p(x_n) / ∂θ_i)²,   log p(x_n) = Σ_t log p(y_{n,t} | x_{n,≤t})
 *
 * Since ∂L̄_n = −(1/T_n) ∂ log p(x_n), 'mean' is 'sum' with each sample's squared gradient scaled by 1/T_n²;
 * the engine always returns the gradient of the summed loss and the scale is applied here. Squares are taken
 * per sample, never of a batch-mean gradient.
 * - 'empirical': y = the text's own next tokens.
 * - 'true': y_{n,t} sampled from the model's own next-token distribution p(· | x_{n,≤t}) (contexts from the
 *   data), one draw per position, seeded. Its expectation is Σ_t Σ_v p(v|·) (∂ log p(v|·)/∂θ_i)².
 */
import { mulberry32 } from '../model/tiny-checkpoint.ts';
import { backward, crossEntropy, forward, nextTokenTargets, softmaxRow, type TokenBatch } from './backprop.ts';
import type { ParamStore } from './param-store.ts';

export type FisherMode = 'empirical' | 'true';
export type FisherNormalise = 'mean' | 'sum';

/** The estimator of each normalisation, as stated in --help and the output files. */
export const FISHER_FORMULAS: Record<FisherNormalise, string> = {
  mean: 'F_i = (1/N) * sum_n (d Lbar_n/d theta_i)^2, Lbar_n = (1/T_n) * sum_t -log p(y_t | x_<=t) (mean per-token cross-entropy of sample n, padding ignored) [upstream fisher toolkit]',
  sum: 'F_i = (1/N) * sum_n (d log p(x_n)/d theta_i)^2, log p(x_n) = sum_t log p(y_t | x_<=t) (summed log-likelihood of sample n) = mean-normalised Fisher with each sample weighted by T_n^2',
};

export interface FisherOptions {
  /** Default 'empirical'. */
  mode?: FisherMode;
  /** Per-sample loss normalisation (see the file comment). Default 'mean'. */
  normalise?: FisherNormalise;
  /** Seed of the target sampling in 'true' mode. Default 0. */
  seed?: number;
  /** Called after each batch with the number of samples done so far. */
  onBatch?: (samplesDone: number) => void;
}

export interface FisherResult {
  /** F_i per parameter tensor (float32, canonical names; tied LM head folded into the embedding). */
  fisher: Map<string, Float32Array>;
  mode: FisherMode;
  normalise: FisherNormalise;
  /** Texts that entered the mean (texts with fewer than 2 tokens predict nothing and are skipped). */
  samples: number;
  /** Predicted tokens over all samples. */
  tokens: number;
  /** Mean over texts of the per-sample loss: per-token mean NLL ('mean') or summed NLL ('sum'), nats. */
  meanLoss: number;
}

/** Targets drawn from the model at every position where the text has a next token. */
export function sampleTargets(logits: Float32Array | Float64Array, batch: TokenBatch, vocab: number, rand: () => number): Int32Array {
  const tg = nextTokenTargets(batch);
  for (let n = 0; n < tg.length; n++) {
    if (tg[n] < 0) continue;
    const p = softmaxRow(logits, n, vocab);
    let u = rand();
    let v = 0;
    while (v < vocab - 1 && u >= p[v]) u -= p[v++];
    tg[n] = v;
  }
  return tg;
}

/** Accumulates the diagonal Fisher over batches (each batch one forward + per-sample backward). */
export async function diagonalFisher(params: ParamStore, batches: Iterable<TokenBatch> | AsyncIterable<TokenBatch>, opts: FisherOptions = {}): Promise<FisherResult> {
  const mode = opts.mode ?? 'empirical';
  const normalise = opts.normalise ?? 'mean';
  if (normalise !== 'mean' && normalise !== 'sum') throw new Error(`unknown Fisher normalisation '${String(normalise)}'`);
  const rand = mulberry32(opts.seed ?? 0);
  const sums = new Map<string, Float32Array>();
  for (const [n, t] of params.tensors) sums.set(n, new Float32Array(t.data.length));
  let samples = 0;
  let tokens = 0;
  let lossSum = 0;
  for await (const batch of batches) {
    const tape = await forward(params, batch);
    const targets = mode === 'true' ? sampleTargets(tape.logits, batch, params.spec.vocabSize, rand) : nextTokenTargets(batch);
    const ce = crossEntropy(tape, targets);
    await backward(tape, ce.dLogits, (name, sample, g) => {
      const t = ce.tokens[sample];
      if (t === 0) return;
      const acc = sums.get(name)!;
      if (normalise === 'sum') for (let i = 0; i < g.length; i++) acc[i] += g[i] * g[i];
      else {
        const w = 1 / (t * t);
        for (let i = 0; i < g.length; i++) acc[i] += w * g[i] * g[i];
      }
    }, { perSample: true, reuse: true, release: true });
    for (let b = 0; b < batch.batch; b++) {
      if (ce.tokens[b] === 0) continue;
      samples++;
      tokens += ce.tokens[b];
      lossSum += normalise === 'mean' ? ce.perSampleLoss[b] / ce.tokens[b] : ce.perSampleLoss[b];
    }
    opts.onBatch?.(samples);
  }
  if (samples > 0) for (const acc of sums.values()) for (let i = 0; i < acc.length; i++) acc[i] /= samples;
  return { fisher: sums, mode, normalise, samples, tokens, meanLoss: samples ? lossSum / samples : NaN };
}

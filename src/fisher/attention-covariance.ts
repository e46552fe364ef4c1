/**
 * The seed-000 pipeline's point and metric (`fisher --metric attention-covariance`), as its extract.py computes
 * them for GPT-2:
 *   h_t   = the residual stream entering the last block (HF hidden_states[-2]) at real token t;
 *   v_t   = W_V h_t + b_V — the last block's value projection applied to h_t WITHOUT the block's input norm
 *           (the original feeds hidden_states[-2] straight to c_attn), heads concatenated;
 *   w     = the head-mean of the last block's real attention probabilities in the row of the last real token,
 *           restricted to real tokens and renormalised (w / (Σw + 1e-12));
 *   η     = Σ_t w_t v_t                                           (the point)
 *   G     = α Σ_t w_t (v_t − η)(v_t − η)ᵀ + λI,  α = 1 / max(1e-8, 1 − Σ_t w_t²)   (the metric)
 * The attention row and h come from the model core's hook points (blocks.L-1.attn.hook_pattern_last and
 * blocks.L-1.hook_resid_pre); W_V, b_V are the canonical weights. Other causal families get the same
 * definition (values of the key/value heads, so η has nKvHead·headDim dimensions under grouped-query attention;
 * rotary never touches values); encoders are refused (no last-token row of a causal model). Computed in float64.
 *
 * The entropy stored per point is the entropy (nats) of w, the attention distribution that weights the values.
 */
import { AtlasError } from '../errors.ts';
import type { LoadedModel } from '../model/load.ts';
import type { ForwardInput } from '../model/runtime.ts';
import type { AtlasTokenizer } from '../model/tokenizer.ts';
import { W, hookName, type HookPoint } from '../model/spec.ts';
import type { Matrix } from '../geometry/matrix.ts';
import type { MetricStore } from './store.ts';

export interface AttentionCovarianceOptions {
  lambda?: number;
  /** Truncate to this many tokens (the original: max_length with padding to it; padding changes nothing). */
  maxLength?: number;
  batchSize?: number;
  /**
   * 'auto' (default): dense d × d up to d = 256, else the exact factor. G − λI = α Σ w_t (v_t − η)(v_t − η)ᵀ has
   * rank ≤ the number of tokens, so the factor F (columns √(α w_t)(v_t − η), zero-padded to the longest text) is exact.
   */
  storage?: 'auto' | 'dense' | 'factor';
  onProgress?: (done: number) => void;
}

export interface AttentionCovarianceMetrics {
  points: Matrix<Float32Array>;
  store: MetricStore;
  entropy: Float64Array;
}

/**
 * Each batch's hook outputs in order. A layer-streamed runtime gets consecutive batches as one chunk of at least
 * its chunkTokens tokens, so each block's weights are read once per chunk, not once per batch.
 */
async function* hookBatches(model: Pick<LoadedModel, 'runtime' | 'tokenizer'>, texts: string[], batchSize: number, maxLength: number, hooks: HookPoint[]) {
  const rt = model.runtime;
  let chunk: { start: number; enc: ReturnType<AtlasTokenizer['encodeBatch']>; input: ForwardInput }[] = [];
  let tokens = 0;
  for (let start = 0; start < texts.length; start += batchSize) {
    const idx = texts.slice(start, start + batchSize);
    const enc = model.tokenizer.encodeBatch(idx, { maxLength });
    const input: ForwardInput = { ids: enc.ids, attentionMask: enc.attentionMask, batch: idx.length, seqLen: enc.seqLen };
    if (!rt.streamed) {
      yield { start, enc, out: await rt.forwardHooks(input, hooks) };
      continue;
    }
    chunk.push({ start, enc, input });
    tokens += idx.length * enc.seqLen;
    if (tokens < rt.chunkTokens && start + batchSize < texts.length) continue;
    const outs = await rt.forwardChunk(chunk.map((c) => c.input), hooks);
    for (const [k, c] of chunk.entries()) yield { start: c.start, enc: c.enc, out: outs[k]! };
    chunk = [];
    tokens = 0;
  }
}

export async function attentionCovarianceMetrics(model: Pick<LoadedModel, 'runtime' | 'checkpoint' | 'tokenizer'>, texts: string[], o: AttentionCovarianceOptions = {}): Promise<AttentionCovarianceMetrics> {
  const spec = model.checkpoint.spec;
  const L = spec.nLayer;
  const block = spec.blocks[L - 1]!;
  if (!block.attn.causal) {
    throw new AtlasError(`the attention-covariance metric needs a causal decoder; ${spec.modelType} is an encoder`, { field: 'metric', hint: "use --metric output-fisher with a decoder, or a causal model" });
  }
  const lambda = o.lambda ?? 1e-4;
  const dIn = spec.dModel;
  const dv = block.attn.nKvHead * block.attn.headDim;
  const Wv = model.checkpoint.weights.get(W.block(L - 1).Wv); // [dv, dIn]
  const bv = block.attn.qkvBias ? model.checkpoint.weights.get(W.block(L - 1).bv).data : undefined;
  const hooks: HookPoint[] = [{ kind: 'resid_pre', layer: L - 1 }, { kind: 'attn_pattern_last', layer: L - 1 }];
  const maxLength = Math.min(o.maxLength ?? spec.maxPositions, spec.maxPositions);
  const batchSize = o.batchSize ?? 8;
  const n = texts.length;
  const storage = o.storage ?? 'auto';
  const dense = storage === 'dense' || (storage === 'auto' && dv <= 256);
  const rank = dense ? dv : Math.max(1, ...texts.map((t) => Math.min(model.tokenizer.encode(t).length, maxLength)));
  const points = new Float32Array(n * dv);
  const metrics = new Float32Array(n * dv * rank);
  const entropy = new Float64Array(n);
  const H = block.attn.nHead;
  for await (const { start, enc, out } of hookBatches(model, texts, batchSize, maxLength, hooks)) {
    const B = Math.min(batchSize, n - start), T = enc.seqLen;
    const h = out.get(hookName(hooks[0]!))!.data; // [B, T, dIn]
    const p = out.get(hookName(hooks[1]!))!.data; // [B, H, T]
    for (let b = 0; b < B; b++) {
      const real: number[] = [];
      for (let t = 0; t < T; t++) if (enc.attentionMask[b * T + t] === 1) real.push(t);
      // w: head-mean of the last real token's attention row, on real tokens, renormalised.
      const w = new Float64Array(real.length);
      real.forEach((t, r) => {
        let s = 0;
        for (let head = 0; head < H; head++) s += p[(b * H + head) * T + t]!;
        w[r] = s / H;
      });
      const sw = w.reduce((a, x) => a + x, 0);
      for (let r = 0; r < w.length; r++) w[r]! /= sw + 1e-12;
      // v_t = W_V h_t + b_V on the raw (un-normalised) residual stream.
      const v = real.map((t) => {
        const row = new Float64Array(dv);
        const ho = (b * T + t) * dIn;
        for (let j = 0; j < dv; j++) {
          let s = bv ? bv[j]! : 0;
          const wo = j * dIn;
          for (let a = 0; a < dIn; a++) s += Wv.data[wo + a]! * h[ho + a]!;
          row[j] = s;
        }
        return row;
      });
      const eta = new Float64Array(dv);
      v.forEach((row, r) => { for (let j = 0; j < dv; j++) eta[j]! += w[r]! * row[j]!; });
      let sw2 = 0;
      for (const x of w) sw2 += x * x;
      const alpha = 1 / Math.max(1e-8, 1 - sw2);
      const i = start + b;
      const base = i * dv * rank;
      if (dense) {
        const G = new Float64Array(dv * dv);
        v.forEach((row, r) => {
          const wr = w[r]!;
          for (let a = 0; a < dv; a++) {
            const da = row[a]! - eta[a]!;
            if (da === 0) continue;
            const o2 = a * dv;
            for (let c = 0; c < dv; c++) G[o2 + c]! += wr * da * (row[c]! - eta[c]!);
          }
        });
        for (let k = 0; k < dv * dv; k++) metrics[base + k] = alpha * G[k]!;
      } else {
        v.forEach((row, r) => {
          const s = Math.sqrt(alpha * w[r]!);
          for (let a = 0; a < dv; a++) metrics[base + a * rank + r] = s * (row[a]! - eta[a]!);
        });
      }
      points.set(eta, i * dv);
      let ent = 0;
      for (const x of w) if (x > 0) ent -= x * Math.log(x);
      entropy[i] = ent;
    }
    o.onProgress?.(Math.min(n, start + B));
  }
  return {
    points: { rows: n, cols: dv, data: points },
    store: { n, d: dv, lambda, kind: dense ? 'dense' : 'factor', rank, data: metrics, captured: new Float64Array(n).fill(1) },
    entropy,
  };
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../src/model/config.ts';
import type { F32Tensor } from '../src/model/tensor.ts';
import { ParamStore } from '../src/params/param-store.ts';
import type { TokenBatch } from '../src/params/backprop.ts';
import { diagonalFisher } from '../src/params/fisher.ts';
import { referenceForward } from './reference/forward64.ts';

// Upstream's estimator, checked against an independent computation: the per-sample gradient of the MEAN
// per-token cross-entropy by central finite differences of a float64 reference forward pass (no engine code),
// squared and averaged over samples. Texts have different lengths and are right-padded, so a wrong 1/T_n or
// a padded position entering the loss both show.
const V = 5;
const config = parseConfig({ model_type: 'gpt2', n_layer: 1, n_embd: 4, n_head: 2, vocab_size: V, n_positions: 8, tie_word_embeddings: false });
const store = ParamStore.random(config, { seed: 4, std: 0.7 });
const texts = [[0, 3, 1, 4, 2, 2], [1, 2], [4, 0, 0, 3]];
const S = 6;

/** Mean over the predicted tokens of −log p(next token), float64, one unpadded sequence. */
function meanTokenLoss(weights: Map<string, Float64Array>, ids: number[]): number {
  const out = referenceForward({ config, tensor: (n) => ({ shape: [], data: weights.get(n)! }) as unknown as F32Tensor }, ids);
  let loss = 0;
  for (let t = 0; t + 1 < ids.length; t++) {
    const row = out.logits.subarray(t * V, (t + 1) * V);
    const max = Math.max(...row);
    let z = 0;
    for (const x of row) z += Math.exp(x - max);
    loss += Math.log(z) + max - row[ids[t + 1]];
  }
  return loss / (ids.length - 1);
}

test('default (mean) Fisher = mean over samples of the squared finite-difference gradient of the mean token loss', async () => {
  const weights = new Map([...store.tensors].map(([n, t]) => [n, Float64Array.from(t.data)]));
  const expected = new Map<string, Float64Array>();
  // the summed log-likelihood of sample n is T_n × its mean loss (T_n predicted tokens)
  const expectedSum = new Map<string, Float64Array>();
  const h = 1e-5;
  for (const [name, w] of weights) {
    const f = new Float64Array(w.length);
    const fs = new Float64Array(w.length);
    for (let i = 0; i < w.length; i++) {
      const w0 = w[i];
      for (const ids of texts) {
        w[i] = w0 + h;
        const up = meanTokenLoss(weights, ids);
        w[i] = w0 - h;
        const down = meanTokenLoss(weights, ids);
        w[i] = w0;
        const g = (up - down) / (2 * h);
        f[i] += g ** 2 / texts.length;
        fs[i] += ((ids.length - 1) * g) ** 2 / texts.length;
      }
    }
    expected.set(name, f);
    expectedSum.set(name, fs);
  }
  const ids = new Int32Array(texts.length * S);
  const mask = new Uint8Array(texts.length * S);
  texts.forEach((t, b) => t.forEach((id, j) => { ids[b * S + j] = id; mask[b * S + j] = 1; }));
  const batch: TokenBatch = { ids, attentionMask: mask, batch: texts.length, seqLen: S };
  async function* one(): AsyncGenerator<TokenBatch> { yield batch; }
  const mean = await diagonalFisher(store, one());
  assert.equal(mean.normalise, 'mean');
  assert.equal(mean.samples, 3);
  assert.equal(mean.tokens, 5 + 1 + 3);
  const check = (got: Map<string, Float32Array>, ref: Map<string, Float64Array>, what: string): void => {
    let num = 0;
    let den = 0;
    let worst = 0;
    let max = 0;
    for (const f of ref.values()) for (const x of f) max = Math.max(max, x);
    for (const [name, f] of ref) {
      const g = got.get(name)!;
      for (let i = 0; i < f.length; i++) {
        num += (g[i] - f[i]) ** 2;
        den += f[i] ** 2;
        worst = Math.max(worst, Math.abs(g[i] - f[i]) / (Math.abs(f[i]) + 1e-3 * max));
      }
    }
    const rel = Math.sqrt(num / den);
    assert.ok(rel <= 1e-4, `${what}: relative error ${rel}`);
    assert.ok(worst <= 1e-3, `${what}: worst element error ${worst}`);
  };
  check(mean.fisher, expected, 'mean');
  // --normalise sum: per-sample weights T_n² (25, 1, 9), a different number
  async function* again(): AsyncGenerator<TokenBatch> { yield batch; }
  const sum = await diagonalFisher(store, again(), { normalise: 'sum' });
  check(sum.fisher, expectedSum, 'sum');
  assert.throws(() => check(sum.fisher, expected, 'sum vs mean'));
});

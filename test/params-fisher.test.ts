import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../src/model/config.ts';
import { mulberry32 } from '../src/model/tiny-checkpoint.ts';
import { ParamStore } from '../src/params/param-store.ts';
import { lossAndGradients, type TokenBatch } from '../src/params/backprop.ts';
import { diagonalFisher } from '../src/params/fisher.ts';

// A model small enough to enumerate its whole distribution: vocab 3, texts of 4 tokens starting with token 0,
// so log p(x) covers the 3 predicted tokens and there are 3³ = 27 possible texts.
const V = 3;
const T = 4;
const config = parseConfig({ model_type: 'gpt2', n_layer: 1, n_embd: 4, n_head: 2, vocab_size: V, n_positions: 8, tie_word_embeddings: false });
const store = ParamStore.random(config, { seed: 2, std: 0.8 });

function batchOf(texts: number[][]): TokenBatch {
  return { ids: Int32Array.from(texts.flat()), attentionMask: new Uint8Array(texts.length * T).fill(1), batch: texts.length, seqLen: T };
}

function allTexts(): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < V ** (T - 1); i++) out.push([0, i % V, Math.floor(i / V) % V, Math.floor(i / V / V)]);
  return out;
}

function relError(a: Map<string, ArrayLike<number>>, b: Map<string, ArrayLike<number>>): number {
  let num = 0;
  let den = 0;
  for (const [n, x] of b) {
    const y = a.get(n)!;
    for (let i = 0; i < x.length; i++) {
      num += (y[i] - x[i]) ** 2;
      den += x[i] ** 2;
    }
  }
  return Math.sqrt(num / den);
}

async function* batchesOf(texts: number[][], size: number): AsyncGenerator<TokenBatch> {
  for (let i = 0; i < texts.length; i += size) yield batchOf(texts.slice(i, i + size));
}

test('empirical Fisher on the model\'s own samples converges to the exactly enumerated true Fisher', async () => {
  const texts = allTexts();
  const exact = await lossAndGradients(store.toFloat64(), batchOf(texts), { perSample: true });
  const p = Array.from(exact.perSampleLoss, (l) => Math.exp(-l));
  const total = p.reduce((s, x) => s + x, 0);
  assert.ok(Math.abs(total - 1) < 1e-12, `the model's text probabilities sum to ${total}`);
  // F_i = Σ_x p(x) (∂ log p(x)/∂θ_i)²
  const trueFisher = new Map<string, Float64Array>();
  for (const [name, list] of exact.perSampleGrads!) {
    const f = new Float64Array(list[0].length);
    list.forEach((g, x) => { for (let i = 0; i < f.length; i++) f[i] += p[x] * g[i] * g[i]; });
    trueFisher.set(name, f);
  }
  // draw texts from the model's distribution
  const rand = mulberry32(7);
  const draw = (): number[] => {
    let u = rand();
    let x = 0;
    while (x < texts.length - 1 && u >= p[x]) u -= p[x++];
    return texts[x];
  };
  const samples = Array.from({ length: 3000 }, draw);
  const small = await diagonalFisher(store, batchesOf(samples.slice(0, 30), 30), { normalise: 'sum' });
  const large = await diagonalFisher(store, batchesOf(samples, 500), { normalise: 'sum' });
  assert.equal(large.samples, 3000);
  assert.equal(large.tokens, 3000 * (T - 1));
  const eSmall = relError(small.fisher, trueFisher);
  const eLarge = relError(large.fisher, trueFisher);
  assert.ok(eLarge < 0.1, `relative error with 3000 samples: ${eLarge}`);
  assert.ok(eLarge < eSmall / 3, `error shrinks with samples: ${eSmall} (30) → ${eLarge} (3000)`);
  // and the empirical Fisher on data that are NOT model samples (all texts equally often) differs from it
  const uniform = await diagonalFisher(store, batchesOf(texts, 27), { normalise: 'sum' });
  assert.ok(relError(uniform.fisher, trueFisher) > 2 * eLarge);
});

test('true-Fisher mode (targets sampled from the model) converges to its exact expectation', async () => {
  const context = [0, 2, 1, 1];
  // E = Σ_t Σ_v p(v | x≤t) (∂ log p(v | x≤t)/∂θ)²: one backward per (position, token) with a single target
  const s64 = store.toFloat64();
  const expected = new Map<string, Float64Array>();
  for (const [n, t] of s64.tensors) expected.set(n, new Float64Array(t.data.length));
  for (let t = 0; t < T - 1; t++) for (let v = 0; v < V; v++) {
    const targets = new Int32Array(T).fill(-1);
    targets[t] = v;
    const r = await lossAndGradients(s64, batchOf([context]), { targets, perSample: true });
    const pv = Math.exp(-r.loss);
    for (const [n, list] of r.perSampleGrads!) {
      const e = expected.get(n)!;
      for (let i = 0; i < e.length; i++) e[i] += pv * list[0][i] ** 2;
    }
  }
  const repeated = Array.from({ length: 4000 }, () => context);
  const est = await diagonalFisher(store, batchesOf(repeated, 500), { mode: 'true', seed: 3, normalise: 'sum' });
  const err = relError(est.fisher, expected);
  assert.ok(err < 0.1, `relative error ${err}`);
  const emp = await diagonalFisher(store, batchesOf([context], 1), { normalise: 'sum' });
  assert.ok(relError(emp.fisher, expected) > 2 * err, 'the empirical Fisher of one text is not the true Fisher');
});

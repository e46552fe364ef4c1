import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32, type TinyCheckpointOptions } from '../src/model/tiny-checkpoint.ts';
import { ParamStore } from '../src/params/param-store.ts';
import { crossEntropy, forward, lossAndGradients, nextTokenTargets, type TokenBatch } from '../src/params/backprop.ts';
import { tinyStore } from './reference/tiny-store.ts';

/** Two texts of different lengths: right padding on the first, left padding on the third. */
function batchOf(V: number, seed: number): TokenBatch {
  const r = mulberry32(seed);
  const T = 7;
  const masks = [[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 1]];
  const ids = new Int32Array(3 * T).map(() => Math.floor(r() * V));
  return { ids, attentionMask: Uint8Array.from(masks.flat()), batch: 3, seqLen: T };
}

async function perSampleLoss(store: ParamStore, batch: TokenBatch): Promise<Float64Array> {
  const tape = await forward(store, batch);
  return crossEntropy(tape, nextTokenTargets(batch)).perSampleLoss;
}

/** Central finite differences in float64 at 2 random entries of every parameter tensor vs the engine's per-sample gradients. */
async function checkFiniteDifferences(opts: TinyCheckpointOptions, expectNames: string[]): Promise<void> {
  const store = tinyStore(opts).toFloat64();
  const batch = batchOf(store.spec.vocabSize, 3);
  const res = await lossAndGradients(store, batch, { perSample: true });
  const per = res.perSampleGrads!;
  assert.deepEqual([...per.keys()].sort(), store.names().sort(), 'a gradient for every parameter');
  for (const n of expectNames) assert.ok(per.has(n), `covers ${n}`);
  const r = mulberry32(11);
  const eps = 1e-5;
  let checked = 0;
  for (const name of store.names()) {
    const data = store.get(name).data;
    for (let rep = 0; rep < 2; rep++) {
      let i = Math.floor(r() * data.length);
      // embeddings/positions: pick a row that the batch actually uses half the time, so the check is not just 0 = 0
      if (rep === 0 && /wte|embed_tokens|wpe|lm_head/.test(name)) {
        const d = store.spec.dModel;
        const row = /wpe/.test(name) ? 2 : batch.ids[8];
        i = row * d + Math.floor(r() * d);
      }
      const old = data[i];
      data[i] = old + eps;
      const up = await perSampleLoss(store, batch);
      data[i] = old - eps;
      const down = await perSampleLoss(store, batch);
      data[i] = old;
      for (let b = 0; b < batch.batch; b++) {
        const fd = (up[b] - down[b]) / (2 * eps);
        const an = per.get(name)![b][i];
        const tol = 1e-3 * Math.max(Math.abs(fd), 1e-4);
        assert.ok(Math.abs(fd - an) <= tol, `${name}[${i}] sample ${b}: analytic ${an} vs finite difference ${fd}`);
      }
      checked++;
    }
  }
  assert.ok(checked >= 2 * expectNames.length);
}

test('gpt2 (tied embeddings) per-sample gradients equal central finite differences in float64', async () => {
  await checkFiniteDifferences({ architecture: 'gpt2', nLayer: 2, dModel: 16, nHead: 2, std: 0.3, maxPositions: 16 }, [
    'wte.weight', 'wpe.weight', 'h.0.ln_1.weight', 'h.0.ln_1.bias', 'h.0.attn.c_attn.weight', 'h.0.attn.c_attn.bias',
    'h.1.attn.c_proj.weight', 'h.1.attn.c_proj.bias', 'h.1.ln_2.weight', 'h.1.mlp.c_fc.weight', 'h.1.mlp.c_fc.bias',
    'h.1.mlp.c_proj.weight', 'h.1.mlp.c_proj.bias', 'ln_f.weight', 'ln_f.bias',
  ]);
});

test('gpt2 with an untied lm_head: finite differences', async () => {
  await checkFiniteDifferences({ architecture: 'gpt2', nLayer: 1, dModel: 8, nHead: 2, std: 0.3, tied: false, maxPositions: 16 }, ['lm_head.weight', 'wte.weight']);
});

test('llama (GQA, rotary, SwiGLU, untied head, q/k/v/o biases) per-sample gradients equal finite differences', async () => {
  await checkFiniteDifferences({ architecture: 'llama', nLayer: 2, dModel: 16, nHead: 4, nKvHead: 2, std: 0.3, qkvBias: true, maxPositions: 16 }, [
    'embed_tokens.weight', 'layers.0.input_layernorm.weight', 'layers.0.self_attn.q_proj.weight', 'layers.0.self_attn.q_proj.bias',
    'layers.0.self_attn.k_proj.weight', 'layers.0.self_attn.v_proj.weight', 'layers.0.self_attn.o_proj.weight', 'layers.0.self_attn.o_proj.bias',
    'layers.1.post_attention_layernorm.weight', 'layers.1.mlp.gate_proj.weight', 'layers.1.mlp.up_proj.weight', 'layers.1.mlp.down_proj.weight',
    'norm.weight', 'lm_head.weight',
  ]);
});

test('float32: per-sample gradients sum to the batch gradient and do not depend on batch companions or padding side', async () => {
  for (const arch of ['gpt2', 'llama'] as const) {
    const store = tinyStore({ architecture: arch, nLayer: 2, dModel: 16, nHead: 4, std: 0.2, seed: 5 });
    const batch = batchOf(store.spec.vocabSize, 9);
    const per = await lossAndGradients(store, batch, { perSample: true });
    const whole = await lossAndGradients(store, batch);
    assert.ok(Math.abs(per.loss - whole.loss) < 1e-4 * Math.abs(whole.loss));
    for (const [name, g] of whole.grads!) {
      const list = per.perSampleGrads!.get(name)!;
      let maxAbs = 0;
      for (const x of g) maxAbs = Math.max(maxAbs, Math.abs(x));
      for (let i = 0; i < g.length; i++) {
        const s = list[0][i] + list[1][i] + list[2][i];
        assert.ok(Math.abs(s - g[i]) <= 1e-4 * maxAbs + 1e-7, `${arch} ${name}[${i}]: Σ per-sample ${s} vs batch ${g[i]}`);
      }
    }
    // the left-padded third text alone, unpadded, has the same loss and gradient
    const T = batch.seqLen;
    const alone: TokenBatch = { ids: batch.ids.slice(2 * T + 2, 3 * T), attentionMask: new Uint8Array(T - 2).fill(1), batch: 1, seqLen: T - 2 };
    const single = await lossAndGradients(store, alone);
    assert.ok(Math.abs(single.loss - per.perSampleLoss[2]) < 1e-4 * single.loss, `${arch}: padding changes the loss`);
    for (const [name, g] of single.grads!) {
      const other = per.perSampleGrads!.get(name)![2];
      let maxAbs = 0;
      for (const x of g) maxAbs = Math.max(maxAbs, Math.abs(x));
      for (let i = 0; i < g.length; i++) assert.ok(Math.abs(other[i] - g[i]) <= 1e-4 * maxAbs + 1e-7, `${arch} ${name}[${i}] depends on padding`);
    }
    assert.equal(per.tokens[0], 4);
    assert.equal(per.tokens[2], 4);
  }
});

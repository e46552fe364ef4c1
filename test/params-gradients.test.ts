import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '../src/model/tiny-checkpoint.ts';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { supportedModelTypes } from '../src/model/architectures/index.ts';
import { AtlasError } from '../src/errors.ts';
import { ParamStore } from '../src/params/param-store.ts';
import { backward, crossEntropy, forward, lossAndGradients, nextTokenTargets, type TokenBatch } from '../src/params/backprop.ts';
import type { Arr } from '../src/params/ops.ts';
import { tokenTail } from '../src/fisher/tail.ts';
import { tinyStore } from './reference/tiny-store.ts';
import { tinyHfCheckpoint, writeHfCheckpoint, type HfFamily, type TinyOpts } from './reference/hf/checkpoints.ts';
import { batchOf, checkGradients, checkTail } from './reference/grad-check.ts';

/** A tiny Hugging Face checkpoint of `family` (real config keys and stored names), loaded through the real reader. */
function familyStore(family: HfFamily, opts: TinyOpts = {}): ParamStore<Float64Array> {
  const dir = mkdtempSync(join(tmpdir(), 'atlas-grad-family-'));
  try {
    writeHfCheckpoint(dir, tinyHfCheckpoint(family, opts));
    const ckpt = openCheckpoint(dir);
    try {
      return ParamStore.fromCheckpoint(ckpt).toFloat64();
    } finally {
      ckpt.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every causal family with the variants that switch on its other code paths. */
const CASES: { name: string; family: HfFamily; opts?: TinyOpts }[] = [
  { name: 'gpt2', family: 'gpt2' },
  { name: 'gpt2 (untied head)', family: 'gpt2', opts: { config: { tie_word_embeddings: false } } },
  { name: 'llama', family: 'llama' },
  { name: 'llama (attention_bias, llama3 rope_scaling)', family: 'llama', opts: { config: { attention_bias: true, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8 } } } },
  { name: 'llama (linear rope_scaling, MQA)', family: 'llama', opts: { config: { rope_scaling: { type: 'linear', factor: 2 }, num_key_value_heads: 1 } } },
  { name: 'mistral (sliding window)', family: 'mistral' },
  { name: 'qwen2 (q/k/v biases, tied)', family: 'qwen2' },
  { name: 'gpt_neox (parallel residual, partial rotary)', family: 'gpt_neox' },
  { name: 'gpt_neox (sequential residual)', family: 'gpt_neox', opts: { config: { use_parallel_residual: false } } },
  { name: 'gpt_neo (local/global attention)', family: 'gpt_neo' },
  { name: 'gptj (interleaved partial rotary, shared norm)', family: 'gptj' },
  { name: 'opt', family: 'opt' },
  { name: 'gemma ((1 + w) norms, √d embedding scale)', family: 'gemma' },
  { name: 'gemma2 (sandwich norms, soft-caps, window)', family: 'gemma2' },
  { name: 'phi3 (fused qkv and gate_up)', family: 'phi3' },
];

const supported = new Set(supportedModelTypes());
for (const c of CASES) {
  const skip = supported.has(c.family) ? false : `no architecture module for '${c.family}' yet`;
  test(`${c.name}: per-sample gradients of every stored tensor = float64 finite differences; Σ per-sample = batch`, { skip }, async () => {
    await checkGradients(familyStore(c.family, c.opts), c.name);
  });
  test(`${c.name}: Fisher tail Jacobian and metric = finite differences at every layer`, { skip }, async () => {
    await checkTail(familyStore(c.family, { ...c.opts, seed: 2 }), c.name);
  });
}

for (const family of ['bert', 'distilbert', 'roberta'] as const) {
  test(`${family} (an encoder): gradients and the Fisher tail refuse with one clear error`, { skip: supported.has(family) ? false : `no module for '${family}' yet` }, async () => {
    const store = familyStore(family).toFloat32();
    const batch = batchOf(store.spec.vocabSize, 1);
    const isLmHeadError = (e: Error): boolean => e instanceof AtlasError && /causal language-model head/.test(e.message);
    await assert.rejects(forward(store, batch), isLmHeadError);
    await assert.rejects(tokenTail(store, { batch, positions: new Int32Array(batch.ids.length), ropeSeqLen: 1, layers: [] } as never, 0, { layer: 0 }), isLmHeadError);
  });
}

/** Two texts of different lengths: right padding on the first, left padding on the third. */
function paddedBatch(V: number, seed: number): TokenBatch {
  const r = mulberry32(seed);
  const T = 7;
  const masks = [[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 1]];
  const ids = new Int32Array(3 * T).map(() => Math.floor(r() * V));
  return { ids, attentionMask: Uint8Array.from(masks.flat()), batch: 3, seqLen: T };
}

test('float32: per-sample gradients sum to the batch gradient and do not depend on batch companions or padding side', async () => {
  for (const arch of ['gpt2', 'llama'] as const) {
    const store = tinyStore({ architecture: arch, nLayer: 2, dModel: 16, nHead: 4, std: 0.2, seed: 5 });
    const batch = paddedBatch(store.spec.vocabSize, 9);
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

test('backward reuse: the sink sees the same per-sample gradients as with fresh arrays, in reused buffers', async () => {
  for (const arch of ['gpt2', 'llama'] as const) {
    const store = tinyStore({ architecture: arch, nLayer: 2, dModel: 16, nHead: 4, std: 0.2, seed: 5 });
    const batch = paddedBatch(store.spec.vocabSize, 9);
    const tape = await forward(store, batch);
    const dl = crossEntropy(tape, nextTokenTargets(batch)).dLogits;
    const fresh = new Map<string, Arr>();
    await backward(tape, dl, (name, s, g) => fresh.set(`${s} ${name}`, g), { perSample: true });
    const reused = new Map<string, Arr>();
    const buffers = new Set<ArrayBufferLike>();
    let calls = 0;
    await backward(tape, dl, (name, s, g) => {
      reused.set(`${s} ${name}`, g.slice());
      buffers.add(g.buffer);
      calls++;
    }, { perSample: true, reuse: true });
    assert.deepEqual([...reused.keys()].sort(), [...fresh.keys()].sort());
    for (const [k, g] of fresh) assert.deepEqual(reused.get(k), g, `${arch} ${k}`);
    assert.ok(buffers.size < calls / 2, `${arch}: ${buffers.size} distinct buffers for ${calls} gradients`);
  }
});

test('released tapes: batches whose logits are pooled (≥ 32 MiB) give the same per-sample gradients as fresh arrays, batch after batch', async () => {
  // 21 tokens × 409,600 ids × 4 bytes > 32 MiB: the logits, their softmax and dlogits go through the workspace
  const store = tinyStore({ architecture: 'gpt2', nLayer: 1, dModel: 8, nHead: 2, std: 0.2, seed: 7, vocabSize: 409_600 });
  const batches = [paddedBatch(store.spec.vocabSize, 11), paddedBatch(store.spec.vocabSize, 12)];
  const expected: Map<string, Arr>[] = [];
  for (const batch of batches) {
    const tape = await forward(store, batch);
    const got = new Map<string, Arr>();
    await backward(tape, crossEntropy(tape, nextTokenTargets(batch)).dLogits, (name, s, g) => got.set(`${s} ${name}`, g), { perSample: true });
    expected.push(got);
  }
  for (const k of [0, 1, 0, 1]) {
    const batch = batches[k]!;
    const tape = await forward(store, batch);
    const ce = crossEntropy(tape, nextTokenTargets(batch));
    const got = new Map<string, Arr>();
    await backward(tape, ce.dLogits, (name, s, g) => got.set(`${s} ${name}`, g.slice()), { perSample: true, reuse: true, release: true });
    assert.deepEqual([...got.keys()].sort(), [...expected[k]!.keys()].sort());
    for (const [name, g] of expected[k]!) assert.deepEqual(got.get(name), g, `batch ${k}: ${name}`);
  }
});

test('vocabulary-wide LM head: per-sample weight gradients (row-block products) = dlogits_bᵀ·h_b, with and without reuse', async () => {
  // V = 2600 > 2 × the row block, not a multiple of it: the head's gradient takes the blocked path, last block short
  const store = tinyStore({ architecture: 'gpt2', nLayer: 1, dModel: 16, nHead: 4, std: 0.2, seed: 3, vocabSize: 2600, tied: false });
  const V = store.spec.vocabSize;
  const d = store.spec.dModel;
  const batch = paddedBatch(V, 4);
  const T = batch.seqLen;
  const tape = await forward(store, batch);
  const dl = crossEntropy(tape, nextTokenTargets(batch)).dLogits;
  for (const reuse of [false, true]) {
    const head: Arr[] = [];
    await backward(tape, dl, (name, s, g) => {
      if (name === 'lm_head.weight') head[s] = g.slice();
    }, { perSample: true, reuse });
    assert.equal(head.length, batch.batch);
    for (let b = 0; b < batch.batch; b++) {
      let worst = 0;
      let scale = 0;
      for (let v = 0; v < V; v++) for (let j = 0; j < d; j++) {
        let e = 0;
        for (let t = 0; t < T; t++) e += dl[(b * T + t) * V + v] * tape.hFinal[(b * T + t) * d + j];
        worst = Math.max(worst, Math.abs(head[b]![v * d + j] - e));
        scale = Math.max(scale, Math.abs(e));
      }
      assert.ok(scale > 0 && worst <= 1e-5 * scale, `sample ${b} (reuse ${reuse}): max deviation ${worst} of ${scale}`);
    }
  }
});

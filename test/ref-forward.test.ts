/**
 * Our onnxruntime forward vs a float64 PyTorch re-implementation of transformers' GPT2Model / LlamaModel /
 * Qwen2Model (scripts/reference/hf_forward.py), on tiny checkpoints committed with the fixtures: all hidden
 * states (embeddings … final norm), unpadded, right-padded and left-padded texts, real tokens only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { TransformerRuntime } from '../src/model/runtime.ts';
import { FIXTURES, assertRelClose, npy } from './ref-fixtures.ts';

const RTOL = 1e-4;

const CASES: [model: string, fusedAttention: boolean][] = [
  ['gpt2', true],
  ['gpt2', false],
  ['llama-gqa', true],
  ['qwen2', true],
];

for (const [model, fusedAttention] of CASES) {
  test(`hidden states match the PyTorch reference: ${model}${fusedAttention ? '' : ' (plain ONNX attention)'}`, async () => {
    const ckpt = openCheckpoint(join(FIXTURES, 'models', model));
    const rt = await TransformerRuntime.create(ckpt, { threads: 1, fusedAttention });
    try {
      const ids = npy('forward', model, 'ids.npy');
      const mask = npy('forward', model, 'mask.npy');
      const ref = npy('forward', model, 'hidden.npy');
      const [B, T] = ids.shape as [number, number];
      const [L1, , , d] = ref.shape as [number, number, number, number];
      assert.equal(L1, ckpt.config.nLayer + 1);
      const out = await rt.forward({ ids: Int32Array.from(ids.data), attentionMask: Uint8Array.from(mask.data), batch: B, seqLen: T });
      assert.equal(out.hiddenStates.length, L1);
      for (let l = 0; l < L1; l++) {
        const got: number[] = [];
        const want: number[] = [];
        for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
          if (mask.data[b * T + t] !== 1) continue;
          for (let c = 0; c < d; c++) {
            const i = (b * T + t) * d + c;
            got.push(out.hiddenStates[l]!.data[i]!);
            want.push(ref.data[l * B * T * d + i]!);
          }
        }
        assertRelClose(got, want, RTOL, `${model} hidden_states[${l}]`);
      }
      // The reference is not degenerate: the last layer differs from the embeddings.
      const first = ref.data.subarray(0, B * T * d);
      const last = ref.data.subarray((L1 - 1) * B * T * d, L1 * B * T * d);
      let diff = 0;
      for (let i = 0; i < first.length; i++) diff = Math.max(diff, Math.abs(first[i]! - last[i]!));
      assert.ok(diff > 0.1, 'reference hidden states barely change through the model');
    } finally {
      await rt.release();
      ckpt.close();
    }
  });
}

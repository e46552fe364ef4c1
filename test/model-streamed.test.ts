/**
 * Layer-streamed execution (streamed-runtime.ts) equals whole-model execution (runtime.ts) for every hook
 * point, logits and HF hidden states, on tiny checkpoints of every family, with one block per segment and
 * with several blocks per segment, over a chunk of batches with mixed padding. Also: segment planning by
 * bytes, --max-memory sizes, and the param-space "too large" message.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyModelTypes, writeTinyFamilyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { TransformerRuntime, type ForwardInput } from '../src/model/runtime.ts';
import { StreamedRuntime, planSegments } from '../src/model/streamed-runtime.ts';
import { assertWholeModelFits, blockWeightBytes, float32WeightBytes, needsStreaming, parseSize } from '../src/model/memory.ts';
import { type HookPoint, type ModelSpec, hookName } from '../src/model/spec.ts';
import { isAtlasError } from '../src/errors.ts';

let root: string;
before(() => { root = mkdtempSync(join(tmpdir(), 'atlas-streamed-')); });
after(() => rmSync(root, { recursive: true, force: true }));

/** Every hook point a spec has (resid_mid only where the residual is not parallel; final where a final norm exists). */
function allHooks(spec: ModelSpec): HookPoint[] {
  const kinds = ['resid_pre', 'ln1', 'attn_v', 'attn_pattern', 'attn_pattern_last', 'attn_out', 'resid_mid', 'mlp_post', 'mlp_out', 'resid_post'] as const;
  const out: HookPoint[] = [];
  for (let l = 0; l < spec.nLayer; l++) {
    for (const kind of kinds) {
      if (kind === 'resid_mid' && spec.blocks[l]!.residual === 'parallel') continue;
      out.push({ kind, layer: l });
    }
  }
  if (spec.finalNorm) out.push({ kind: 'final' });
  return out;
}

/** Two batches: one right-padded, one left-padded, different lengths. */
function chunk(vocab: number): ForwardInput[] {
  const mk = (B: number, T: number, pad: 'left' | 'right', seed: number): ForwardInput => {
    const ids = new Int32Array(B * T);
    const mask = new Uint8Array(B * T);
    for (let b = 0; b < B; b++) {
      const len = T - b; // text b has b padded positions
      for (let t = 0; t < len; t++) {
        const pos = pad === 'right' ? t : T - len + t;
        ids[b * T + pos] = (seed * 31 + b * 7 + t * 13) % vocab;
        mask[b * T + pos] = 1;
      }
    }
    return { ids, attentionMask: mask, batch: B, seqLen: T };
  };
  return [mk(3, 7, 'right', 1), mk(2, 5, 'left', 2)];
}

/** max |a - b| ≤ tol · max |b| over the real positions' values (padded ones are meaningless by contract). */
function assertClose(a: Float32Array, b: Float32Array, what: string, tol = 1e-5): void {
  assert.equal(a.length, b.length, `${what}: length`);
  let ref = 0, diff = 0;
  for (let i = 0; i < a.length; i++) { ref = Math.max(ref, Math.abs(b[i]!)); diff = Math.max(diff, Math.abs(a[i]! - b[i]!)); }
  assert.ok(Number.isFinite(diff) && diff <= tol * Math.max(ref, 1e-30), `${what}: max diff ${diff} vs scale ${ref}`);
}

/** Zeroes padded rows of a [B, T, ...] tensor so that only real positions are compared. */
function realOnly(data: Float32Array, input: ForwardInput, shape: number[]): Float32Array {
  if (shape.length !== 3 || shape[0] !== input.batch || shape[1] !== input.seqLen) return data;
  const out = Float32Array.from(data);
  const w = shape[2]!;
  for (let i = 0; i < input.batch * input.seqLen; i++) if (!input.attentionMask[i]) out.fill(0, i * w, (i + 1) * w);
  return out;
}

for (const modelType of tinyModelTypes()) {
  test(`streamed = whole-model for every hook, ${modelType}`, async () => {
    const { dir } = writeTinyFamilyCheckpoint(join(root, modelType), { modelType, seed: 3, layers: 3 });
    const ckpt = openCheckpoint(dir);
    const whole = await TransformerRuntime.create(ckpt, { threads: 1 });
    const spec = whole.spec;
    const hooks = allHooks(spec);
    const logits = spec.unembed ? 'all' as const : 'none' as const;
    const inputs = chunk(spec.vocabSize);
    try {
      const ref = [];
      for (const x of inputs) ref.push(await whole.forwardHooks(x, hooks, logits));
      const perBlock = await StreamedRuntime.create(ckpt, { threads: 1 });
      const twoBlocks = await StreamedRuntime.create(ckpt, { threads: 1, segmentBytes: 2 * blockWeightBytes(spec, 0) });
      assert.equal(perBlock.segments.length, 3);
      assert.deepEqual(twoBlocks.segments, [{ first: 0, last: 1 }, { first: 2, last: 2 }]);
      for (const rt of [perBlock, twoBlocks]) {
        const got = await rt.forwardChunk(inputs, hooks, logits);
        for (let i = 0; i < inputs.length; i++) {
          const names = [...hooks.map(hookName), ...(logits === 'all' ? ['logits'] : [])];
          assert.deepEqual([...got[i]!.keys()].sort(), names.sort());
          for (const name of names) {
            const r: { shape: number[]; data: Float32Array } = ref[i]!.get(name)!;
            const g: { shape: number[]; data: Float32Array } = got[i]!.get(name)!;
            assert.deepEqual(g.shape, r.shape, `${name} shape`);
            assertClose(realOnly(g.data, inputs[i]!, g.shape), realOnly(r.data, inputs[i]!, r.shape), `${modelType} batch ${i} ${name} (${rt.segments.length} segments)`);
          }
        }
      }
      // HF hidden states and an early-stopping request (only block 0's hooks: later segments never run).
      const hs = await perBlock.forward(inputs[0]!);
      const hsRef = await whole.forward(inputs[0]!);
      hs.hiddenStates.forEach((t, l) => assertClose(realOnly(t.data, inputs[0]!, t.shape), realOnly(hsRef.hiddenStates[l]!.data, inputs[0]!, t.shape), `hidden_states[${l}]`));
      const early = await perBlock.forwardHooks(inputs[1]!, [{ kind: 'attn_out', layer: 0 }]);
      const e0 = early.get('blocks.0.hook_attn_out')!;
      assertClose(realOnly(e0.data, inputs[1]!, e0.shape), realOnly(ref[1]!.get('blocks.0.hook_attn_out')!.data, inputs[1]!, e0.shape), 'early stop');
    } finally {
      await whole.release();
      ckpt.close();
    }
  });
}

test('segments group blocks by float32 bytes; whole = sum of parts', () => {
  const { config } = writeTinyFamilyCheckpoint(join(root, 'seg'), { modelType: 'llama', layers: 5 });
  const spec = config.spec;
  const per = blockWeightBytes(spec, 0);
  let sum = blockWeightBytes(spec, -1);
  for (let l = 0; l < spec.nLayer; l++) sum += blockWeightBytes(spec, l);
  assert.equal(sum, float32WeightBytes(spec));
  assert.deepEqual(planSegments(spec, 0).map((s) => s.last - s.first + 1), [1, 1, 1, 1, 1]);
  assert.deepEqual(planSegments(spec, 2 * per).map((s) => s.last - s.first + 1), [2, 2, 1]);
  assert.deepEqual(planSegments(spec, 100 * per), [{ first: 0, last: 4 }]);
  assert.equal(needsStreaming(spec, 1e12), false);
  assert.equal(needsStreaming(spec, 1000), true);
});

test('--max-memory sizes; param-space commands say when a model is too large', () => {
  assert.equal(parseSize('8G'), 8 * 2 ** 30);
  assert.equal(parseSize('512mb'), 512 * 2 ** 20);
  assert.equal(parseSize('1.5GiB'), 1.5 * 2 ** 30);
  assert.equal(parseSize('4096'), 4096);
  for (const bad of ['', 'lots', '8X', '-1G', '0']) assert.throws(() => parseSize(bad), (e: unknown) => isAtlasError(e) && /memory size/.test((e as Error).message), bad);
  const { config } = writeTinyFamilyCheckpoint(join(root, 'fit'), { modelType: 'gpt2' });
  assert.doesNotThrow(() => assertWholeModelFits(config.spec, 1e12, 'fim'));
  assert.throws(() => assertWholeModelFits(config.spec, 1000, 'fim'), (e: unknown) => isAtlasError(e) && /fim holds all parameters/.test((e as Error).message));
});

/**
 * The architecture registry and its bad input: every supported model_type gets a tiny checkpoint written from
 * its module's recipes (writeTinyFamilyCheckpoint) that opens, validates and runs; config.json fields that
 * contradict the tensors, unknown model types and rope_scaling types, and checkpoints with more layers than
 * config.json are AtlasErrors naming the file and the field; the recipe adjoint (scatterToStored) is the
 * transpose of applyRecipe.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AtlasError } from '../src/errors.ts';
import { parseConfig } from '../src/model/config.ts';
import { openCheckpoint, validateCheckpoint } from '../src/model/checkpoint.ts';
import { TransformerRuntime } from '../src/model/runtime.ts';
import { supportedModelTypes } from '../src/model/architectures/index.ts';
import { tinyModelTypes, writeTinyFamilyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { applyRecipe, scatterToStored } from '../src/model/weights.ts';
import type { WeightRecipe } from '../src/model/spec.ts';
import { mulberry32 } from '../src/util/random.ts';

const root = mkdtempSync(join(tmpdir(), 'atlas-families-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = (): string => join(root, `m${counter++}`);

function assertAtlasError(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AtlasError, `expected AtlasError, got ${String(e)}`);
    for (const p of parts) assert.ok(e.message.includes(p), `message "${e.message}" lacks "${p}"`);
    return true;
  });
}

test('every supported model_type has a tiny checkpoint that opens, validates and runs (3 layers)', async () => {
  assert.deepEqual([...tinyModelTypes()].sort(), [...supportedModelTypes()].sort());
  for (const modelType of tinyModelTypes()) {
    const { dir } = writeTinyFamilyCheckpoint(fresh(), { modelType, seed: 2, layers: 3 });
    const ckpt = openCheckpoint(dir);
    try {
      validateCheckpoint(ckpt);
      assert.equal(ckpt.spec.nLayer, 3, modelType);
      assert.equal(ckpt.config.modelType, modelType);
      const rt = await TransformerRuntime.create(ckpt, { threads: 1 });
      try {
        const ids = Int32Array.from([3, 9, 14, 2, 7]);
        const out = await rt.forward({ ids, attentionMask: new Uint8Array(5).fill(1), batch: 1, seqLen: 5 }, { logits: ckpt.spec.unembed ? 'last' : 'none' });
        assert.equal(out.hiddenStates.length, 4, modelType);
        for (const h of out.hiddenStates) assert.ok(h.data.every(Number.isFinite), `${modelType}: finite states`);
        if (ckpt.spec.unembed) assert.ok(out.logits!.data.every(Number.isFinite), `${modelType}: finite logits`);
      } finally {
        await rt.release();
      }
    } finally {
      ckpt.close();
    }
  }
});

test('unknown model_type and rope_scaling types, and unsupported options name config.json and the field', () => {
  assertAtlasError(() => parseConfig({ model_type: 't5' }, 'm/config.json'), 'm/config.json', "field 'model_type'", "unsupported architecture 't5'", ...supportedModelTypes());
  const llama = { model_type: 'llama', hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 64, vocab_size: 50 };
  assertAtlasError(() => parseConfig({ ...llama, rope_scaling: { rope_type: 'yarn', factor: 4 } }, 'c.json'), 'c.json', 'rope_scaling', 'yarn', 'llama3');
  assertAtlasError(() => parseConfig({ ...llama, rope_scaling: { rope_type: 'longrope', short_factor: [1], long_factor: [1] } }), 'rope_scaling', 'longrope');
  assertAtlasError(() => parseConfig({ ...llama, rope_scaling: { rope_type: 'linear' } }), 'rope_scaling.factor');
  assertAtlasError(() => parseConfig({ ...llama, partial_rotary_factor: 0.01 }), 'partial_rotary_factor');
  assertAtlasError(() => parseConfig({ model_type: 'gpt_neox', hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 1, intermediate_size: 64, vocab_size: 50, rotary_pct: 0.1 }), 'rotary_pct');
  assertAtlasError(() => parseConfig({ model_type: 'gptj', n_embd: 32, n_head: 4, n_layer: 1, vocab_size: 50, rotary_dim: 12 }), 'rotary_dim');
  assertAtlasError(() => parseConfig({ model_type: 'opt', hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 1, ffn_dim: 64, vocab_size: 50, word_embed_proj_dim: 16 }), 'word_embed_proj_dim', 'not supported');
  assertAtlasError(() => parseConfig({ model_type: 'gpt_neo', hidden_size: 32, num_heads: 4, num_layers: 3, vocab_size: 50, attention_types: [[['global', 'local'], 1]] }), 'attention_types', '3 layers');
  assertAtlasError(() => parseConfig({ model_type: 'gemma2', hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 64, vocab_size: 50, layer_types: ['full_attention'] }), 'layer_types');
  assertAtlasError(() => parseConfig({ model_type: 'bert', hidden_size: 32, num_attention_heads: 5, num_hidden_layers: 1, intermediate_size: 64, vocab_size: 50 }), 'num_attention_heads', 'divisible');
});

function rewriteConfig(dir: string, patch: Record<string, unknown>): void {
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), ...patch }));
}

test('config.json contradicting the tensors: fewer layers, wrong head counts, wrong rotary / fused sizes', async () => {
  // More layers stored than config.json says: the unread tensors are named (issue 15 item 7).
  const fewer = writeTinyFamilyCheckpoint(fresh(), { modelType: 'gpt_neox', layers: 3 }).dir;
  rewriteConfig(fewer, { num_hidden_layers: 2 });
  assertAtlasError(() => openCheckpoint(fewer), 'config.json', 'not read', 'gpt_neox.layers.2.');

  // Wrong kv head count: k_proj's stored shape contradicts it; the error names the tensor, both shapes and config.json.
  const kv = writeTinyFamilyCheckpoint(fresh(), { modelType: 'llama' }).dir;
  rewriteConfig(kv, { num_key_value_heads: 4 });
  const c = openCheckpoint(kv);
  try {
    assertAtlasError(() => validateCheckpoint(c), 'model.safetensors', 'model.layers.0.self_attn.k_proj.weight', '[16, 32]', '[32, 32]', 'config.json');
    await assert.rejects(TransformerRuntime.create(c, { threads: 1 }), (e: unknown) => e instanceof AtlasError && /k_proj\.weight' has shape \[16, 32\], expected \[32, 32\]/.test(e.message));
  } finally {
    c.close();
  }
  // Phi-3's fused qkv_proj with a head count that does not fit it.
  const phi = writeTinyFamilyCheckpoint(fresh(), { modelType: 'phi3' }).dir;
  rewriteConfig(phi, { num_key_value_heads: 1 });
  const pc = openCheckpoint(phi);
  try {
    assertAtlasError(() => validateCheckpoint(pc), 'qkv_proj.weight', '[64, 32]', '[48, 32]');
  } finally {
    pc.close();
  }
  // LongRoPE factors that do not match the rotary dims.
  const lr = writeTinyFamilyCheckpoint(fresh(), { modelType: 'phi3', config: { rope_scaling: { type: 'longrope', short_factor: [1, 1], long_factor: [2, 2] } } }).dir;
  const lc = openCheckpoint(lr);
  try {
    await assert.rejects(TransformerRuntime.create(lc, { threads: 1 }), (e: unknown) => e instanceof AtlasError && /rope_scaling factors have 2 entries, need rotary dims \/ 2 = 4/.test(e.message));
  } finally {
    lc.close();
  }
});

test('scatterToStored is the adjoint of applyRecipe: <recipe(S), G> = <S, scatter(G)>', () => {
  const r = mulberry32(4);
  const cases: WeightRecipe[] = [
    { from: 'a', storedShape: [6, 4] },
    { from: 'a', storedShape: [6, 4], transpose: true },
    { from: 'a', storedShape: [6, 9], transpose: true, rows: { start: 3, count: 3 } },
    { from: 'a', storedShape: [12, 5], rows: { start: 4, count: 4 } },
    { from: 'a', storedShape: [12, 5], rows: Int32Array.from([7, 0, 11, 3]) },
    { from: 'a', storedShape: [6, 5], transpose: true, rows: Int32Array.from([4, 1]) },
    { from: 'a', storedShape: [12], rows: Int32Array.from([2, 9, 5]) },
  ];
  for (const rc of cases) {
    const S = Float64Array.from({ length: rc.storedShape.reduce((a, b) => a * b, 1) }, () => r() - 0.5);
    const out = applyRecipe(rc, Float32Array.from(S));
    const G = Float64Array.from({ length: out.data.length }, () => r() - 0.5);
    const back = new Float64Array(S.length);
    scatterToStored(rc, G, back);
    let lhs = 0, rhs = 0;
    for (let i = 0; i < G.length; i++) lhs += out.data[i]! * G[i]!;
    for (let i = 0; i < S.length; i++) rhs += Math.fround(S[i]!) * back[i]!;
    assert.ok(Math.abs(lhs - rhs) < 1e-9, `${JSON.stringify({ ...rc, rows: rc.rows instanceof Int32Array ? [...rc.rows] : rc.rows })}: ${lhs} vs ${rhs}`);
  }
  // Explicit values: GPT-2's c_attn split (Conv1D [in, 3d] → W_K = rows d..2d of the transpose).
  const k = applyRecipe({ from: 'c', storedShape: [2, 6], transpose: true, rows: { start: 2, count: 2 } }, Float32Array.from([0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15]));
  assert.deepEqual([k.shape, Array.from(k.data)], [[2, 2], [2, 12, 3, 13]]);
});

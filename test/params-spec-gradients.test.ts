import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forward } from '../src/params/backprop.ts';
import { lmHead } from '../src/fisher/metric.ts';
import { batchOf, checkGradients, checkTail } from './reference/grad-check.ts';
import { HAND_SPECS, fusedStore, handStore } from './reference/hand-specs.ts';
import { paramClassifier } from '../src/params/param-names.ts';
import { AtlasError } from '../src/errors.ts';

for (const [name, spec] of Object.entries(HAND_SPECS)) {
  test(`hand-written spec '${name}': per-sample gradients = float64 finite differences, Σ per-sample = batch`, async () => {
    await checkGradients(handStore(spec), name);
  });
  test(`hand-written spec '${name}': Fisher tail Jacobian and metric = finite differences at every layer`, async () => {
    await checkTail(handStore(spec, 2), name);
  });
}

test('fused, transposed and gathered stored tensors (tied head): gradients per stored tensor = finite differences; tail unchanged', async () => {
  const spec = { ...HAND_SPECS['mqa-swiglu'], unembed: { tied: true, bias: false } };
  const store = fusedStore(spec);
  assert.ok(store.has('h.0.qkv.weight') && store.has('h.1.gate_up.weight') && store.has('h.0.down.weight') && !store.has('unembed.W_U'));
  await checkGradients(store, 'fused');
  await checkTail(fusedStore(spec, 2), 'fused');
});

test('stored tensors are classified from the recipes: fused q|k|v splits per element, gathers and tied embeddings', () => {
  const spec = { ...HAND_SPECS['mqa-swiglu'], unembed: { tied: true, bias: false } };
  const store = fusedStore(spec);
  const cl = paramClassifier(store.layout.recipes);
  assert.deepEqual(cl.info('h.1.qkv.weight'), { layer: 1, component: 'attn_qkv', group: '1' });
  assert.deepEqual(cl.info('embed.W_E'), { layer: null, component: 'embedding', group: 'embed' });
  assert.equal(cl.info('h.0.down.weight').component, 'mlp_down');
  assert.equal(cl.info('ln_final.w').component, 'final_norm');
  // qkv stored [d, q + 2kv] transposed: column c < q is W_Q, then W_K, then W_V
  const d = spec.dModel, q = 16, kv = 4;
  const split = cl.elements('h.0.qkv.weight', [d, q + 2 * kv])!;
  const counts: Record<string, number> = {};
  for (let i = 0; i < d * (q + 2 * kv); i++) counts[split(i)] = (counts[split(i)] ?? 0) + 1;
  assert.deepEqual(counts, { attn_q: d * q, attn_k: d * kv, attn_v: d * kv });
  assert.equal(split(q), 'attn_k');
  assert.equal(cl.elements('h.0.qkv.bias', [q + 2 * kv])!(q + kv), 'attn_v');
  // gate/up interleaved by rows: even rows W_in (mlp_up), odd rows W_gate
  const gu = cl.elements('h.0.gate_up.weight', [48, d])!;
  assert.equal(gu(0), 'mlp_up');
  assert.equal(gu(d), 'mlp_gate');
  assert.equal(cl.elements('embed.W_E', [spec.vocabSize, d]), null, 'a tied embedding is one component');
});

test('encoders (no LM head): the gradient engine and the Fisher tail refuse with one clear error', async () => {
  const spec = { ...HAND_SPECS['post-ln-learned-positions'], unembed: undefined, modelType: 'bert' };
  const store = handStore(spec);
  const batch = batchOf(spec.vocabSize, 1);
  await assert.rejects(forward(store, batch), (e: Error) => e instanceof AtlasError && /causal language-model head.*bert.*encoder/.test(e.message));
  assert.throws(() => lmHead(store), AtlasError);
});

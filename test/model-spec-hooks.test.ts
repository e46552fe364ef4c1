/**
 * Hook points end to end: `extract --source <hook>` returns the runtime's hook values (aggregated), the HF
 * hidden_states ↔ hook identities hold (hidden_states[l] = resid_pre of block l, hidden_states[L] = the final
 * norm; resid_post of block l = resid_pre of block l + 1; the 'mlp' alias = mlp_post), unknown sources and
 * hooks a spec does not have are AtlasErrors. Hook VALUES against an independent reference: model-zoo.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { loadModel, type LoadedModel } from '../src/model/load.ts';
import { assembleDataset } from '../src/data/dataset.ts';
import { extractActivations, parseActivationSource } from '../src/data/extract.ts';
import { hfHiddenStateHook, hookName, type HookPoint } from '../src/model/spec.ts';
import { isAtlasError } from '../src/errors.ts';

process.env.LATENT_ATLAS_QUIET = '1';
let root: string;
let model: LoadedModel;
const texts = ['the cat sat on the mat', 'a longer sentence about the weather and the rain', 'short'];
const dataset = assembleDataset({ name: 'hooks-test', source: 'memory', texts, labelNames: ['a', 'b', 'a'], warnings: [] });

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'atlas-hooks-'));
  writeTinyCheckpoint(join(root, 'model'), { architecture: 'llama', seed: 5, nLayer: 3 });
  model = await loadModel(join(root, 'model'), { threads: 1 });
});
after(async () => { await model.release(); rmSync(root, { recursive: true, force: true }); });

const closeTo = (a: ArrayLike<number>, b: ArrayLike<number>, what: string, tol = 1e-5): void => {
  assert.equal(a.length, b.length, what);
  let ref = 0, diff = 0;
  for (let i = 0; i < a.length; i++) { ref = Math.max(ref, Math.abs(b[i]!)); diff = Math.max(diff, Math.abs(a[i]! - b[i]!)); }
  assert.ok(ref > 0 && diff <= tol * ref, `${what}: ${diff} vs scale ${ref}`);
};

test('HF hidden_states ↔ hook identities; only requested hooks come back', async () => {
  const spec = model.runtime.spec;
  const ids = model.tokenizer.encode(texts[1]!);
  const input = { ids: Int32Array.from(ids), attentionMask: new Uint8Array(ids.length).fill(1), batch: 1, seqLen: ids.length };
  const fwd = await model.runtime.forward(input, { mlp: true });
  const hooks: HookPoint[] = [];
  for (let l = 0; l < spec.nLayer; l++) hooks.push({ kind: 'resid_pre', layer: l }, { kind: 'resid_post', layer: l }, { kind: 'mlp_post', layer: l }, { kind: 'resid_mid', layer: l });
  hooks.push({ kind: 'final' });
  const out = await model.runtime.forwardHooks(input, hooks);
  assert.deepEqual([...out.keys()].sort(), hooks.map(hookName).sort());
  for (let i = 0; i <= spec.nLayer; i++) closeTo(out.get(hookName(hfHiddenStateHook(spec, i)))!.data, fwd.hiddenStates[i]!.data, `hidden_states[${i}]`);
  for (let l = 0; l + 1 < spec.nLayer; l++) closeTo(out.get(`blocks.${l}.hook_resid_post`)!.data, out.get(`blocks.${l + 1}.hook_resid_pre`)!.data, `resid_post ${l}`, 1e-6);
  for (let l = 0; l < spec.nLayer; l++) closeTo(out.get(`blocks.${l}.mlp.hook_post`)!.data, fwd.mlp![l]!.data, `mlp ${l}`, 1e-6);
  // Early hooks only: a graph that stops after block 0 gives the same block-0 values.
  const early = await model.runtime.forwardHooks(input, [{ kind: 'ln1', layer: 0 }, { kind: 'attn_pattern_last', layer: 0 }]);
  assert.deepEqual(early.get('blocks.0.attn.hook_pattern_last')!.shape, [1, spec.blocks[0]!.attn.nHead, ids.length]);
  for (let h = 0; h < spec.blocks[0]!.attn.nHead; h++) {
    const row = early.get('blocks.0.attn.hook_pattern_last')!.data.subarray(h * ids.length, (h + 1) * ids.length);
    assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'attention row sums to 1');
  }
});

test('extract --source HOOK: resid_pre = hidden (layers 0..L-1), mlp = mlp_post, final = hidden[L]; layer counts per source', async () => {
  const cacheRoot = join(root, 'cache');
  const L = model.runtime.spec.nLayer;
  const hidden = await extractActivations(model, dataset, { cacheRoot, aggregate: 'mean', progress: false });
  const pre = await extractActivations(model, dataset, { cacheRoot, source: 'resid_pre', aggregate: 'mean', progress: false });
  const fin = await extractActivations(model, dataset, { cacheRoot, source: 'final', aggregate: 'mean', progress: false });
  const mlp = await extractActivations(model, dataset, { cacheRoot, source: 'mlp', aggregate: 'mean', progress: false, layers: [1] });
  const post = await extractActivations(model, dataset, { cacheRoot, source: 'mlp_post', aggregate: 'mean', progress: false, layers: [1] });
  const ln1 = await extractActivations(model, dataset, { cacheRoot, source: 'ln1', aggregate: 'final', progress: false, layers: [0, 2] });
  assert.deepEqual(pre.layers, [0, 1, 2]);
  assert.deepEqual(fin.layers, [0]);
  for (let l = 0; l < L; l++) closeTo(pre.readLayer(l).data, hidden.readLayer(l).data, `resid_pre ${l}`);
  closeTo(fin.readLayer(0).data, hidden.readLayer(L).data, 'final');
  closeTo(mlp.readLayer(1).data, post.readLayer(1).data, 'mlp alias');
  assert.notEqual(pre.dir, mlp.dir, 'sources are cached apart');
  assert.equal(ln1.readLayer(2).data.length, texts.length * model.runtime.spec.dModel);
  await assert.rejects(extractActivations(model, dataset, { cacheRoot, source: 'resid_pre', layers: [L], progress: false }), (e: unknown) => isAtlasError(e) && /layer 3 does not exist/.test((e as Error).message));
  assert.throws(() => parseActivationSource('attn_pattern'), (e: unknown) => isAtlasError(e) && /--source must be hidden, mlp or a hook point/.test((e as Error).message));
});

test('hooks a spec does not have are AtlasErrors', async () => {
  const input = { ids: Int32Array.from([1, 2]), attentionMask: Uint8Array.from([1, 1]), batch: 1, seqLen: 2 };
  await assert.rejects(model.runtime.forwardHooks(input, [{ kind: 'resid_pre', layer: 9 }]), (e: unknown) => isAtlasError(e) && /layer 9 does not exist/.test((e as Error).message));
  const bertDir = join(root, 'bert');
  writeTinyCheckpoint(bertDir, { architecture: 'bert', nLayer: 1, dModel: 16, nHead: 2 });
  const bert = await loadModel(bertDir, { threads: 1 });
  try {
    await assert.rejects(bert.runtime.forwardHooks(input, [{ kind: 'final' }]), (e: unknown) => isAtlasError(e) && /no final norm/.test((e as Error).message));
    await assert.rejects(bert.runtime.forwardHooks(input, [], 'last'), (e: unknown) => isAtlasError(e) && /logits are not available/.test((e as Error).message));
  } finally {
    await bert.release();
  }
});

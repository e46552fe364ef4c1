import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { loadModel } from '../src/model/load.ts';
import { attentionCovarianceMetrics } from '../src/fisher/attention-covariance.ts';
import { denseMetric } from '../src/fisher/store.ts';
import { readHfCheckpoint } from './reference/hf/checkpoints.ts';
import { hfReferenceForward } from './reference/hf/forward.ts';
import { main } from '../src/cli/main.ts';

process.env.LATENT_ATLAS_QUIET = '1';
const TEXTS = ['the cat sat on the mat', 'a dog ran far away from home', 'birds sing', 'one two three four five six seven'];

/**
 * The original extract.py written out in float64 from the independent HF reference's hooks: h = hidden_states[-2],
 * v = value projection of h (no norm), w = head-mean attention row of the last real token, renormalised.
 */
function upstreamReference(family: 'gpt2' | 'llama', dir: string, ids: number[], lambda: number): { eta: Float64Array; G: Float64Array } {
  const ck = readHfCheckpoint(dir, family);
  const ref = hfReferenceForward(family, ck.config, ck.tensors, [ids], [ids.map(() => 1)]);
  const L = Number(ck.config.n_layer ?? ck.config.num_hidden_layers);
  const T = ids.length;
  const h = ref.hooks.get(`blocks.${L - 1}.hook_resid_pre`)!;
  const pat = ref.hooks.get(`blocks.${L - 1}.attn.hook_pattern`)!;
  const d = h.length / T;
  const H = pat.length / (T * T);
  let v: number[][];
  if (family === 'gpt2') {
    const w = ck.tensors.get(`transformer.h.${L - 1}.attn.c_attn.weight`)!; // Conv1D [d, 3d]
    const b = ck.tensors.get(`transformer.h.${L - 1}.attn.c_attn.bias`)!;
    v = Array.from({ length: T }, (_, t) => Array.from({ length: d }, (_, j) => {
      let s = b.data[2 * d + j]!;
      for (let a = 0; a < d; a++) s += h[t * d + a]! * w.data[a * 3 * d + 2 * d + j]!;
      return s;
    }));
  } else {
    const w = ck.tensors.get(`model.layers.${L - 1}.self_attn.v_proj.weight`)!; // [kv, d]
    const kv = w.shape[0]!;
    v = Array.from({ length: T }, (_, t) => Array.from({ length: kv }, (_, j) => {
      let s = 0;
      for (let a = 0; a < d; a++) s += w.data[j * d + a]! * h[t * d + a]!;
      return s;
    }));
  }
  const wts = Array.from({ length: T }, (_, t) => { let s = 0; for (let k = 0; k < H; k++) s += pat[(k * T + (T - 1)) * T + t]!; return s / H; });
  const sw = wts.reduce((a, b) => a + b, 0);
  const w = wts.map((x) => x / (sw + 1e-12));
  const dv = v[0]!.length;
  const eta = new Float64Array(dv);
  for (let t = 0; t < T; t++) for (let j = 0; j < dv; j++) eta[j]! += w[t]! * v[t]![j]!;
  const alpha = 1 / Math.max(1e-8, 1 - w.reduce((a, x) => a + x * x, 0));
  const G = new Float64Array(dv * dv);
  for (let t = 0; t < T; t++) for (let a = 0; a < dv; a++) for (let c = 0; c < dv; c++) G[a * dv + c]! += alpha * w[t]! * (v[t]![a]! - eta[a]!) * (v[t]![c]! - eta[c]!);
  for (let a = 0; a < dv; a++) G[a * dv + a]! += lambda;
  return { eta, G };
}

for (const family of ['gpt2', 'llama'] as const) {
  test(`attention-covariance point and metric equal the original formula on the independent HF reference (${family})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), `attcov-${family}-`));
    try {
      writeTinyCheckpoint(dir, { architecture: family, nLayer: 2, dModel: 16, nHead: 4, nKvHead: family === 'llama' ? 2 : undefined, seed: 5, std: 0.3, prefix: true });
      const model = await loadModel(dir, { threads: 1 });
      for (const storage of ['dense', 'factor'] as const) {
        const m = await attentionCovarianceMetrics(model, TEXTS, { lambda: 1e-3, batchSize: 3, storage });
        TEXTS.forEach((text, i) => {
          const ref = upstreamReference(family, dir, model.tokenizer.encode(text), 1e-3);
          const dv = ref.eta.length;
          assert.equal(m.points.cols, dv);
          const scale = Math.max(...ref.eta.map(Math.abs));
          for (let j = 0; j < dv; j++) assert.ok(Math.abs(m.points.data[i * dv + j]! - ref.eta[j]!) <= 1e-4 * scale, `${family} η[${j}] of text ${i}`);
          const G = denseMetric(m.store, i);
          const gs = Math.max(...ref.G.map(Math.abs));
          for (let k = 0; k < dv * dv; k++) {
            const got = G[k]! + (k % (dv + 1) === 0 ? m.store.lambda : 0);
            assert.ok(Math.abs(got - ref.G[k]!) <= 1e-4 * gs, `${family} ${storage} G[${k}] of text ${i}: ${got} vs ${ref.G[k]}`);
          }
        });
      }
      await model.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the original config.yaml runs unchanged (local dataset); hub dataset names and unknown keys are clear errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'attcov-cfg-'));
  const cwd = process.cwd();
  try {
    process.chdir(dir);
    writeTinyCheckpoint(join(dir, 'gpt2-tiny'), { architecture: 'gpt2', nLayer: 2, dModel: 16, nHead: 2, seed: 7, std: 0.2 });
    const rows = ['text,label', ...['the cat sat', 'a dog ran', 'my bird sang', 'the fish swam', 'a cow ate', 'the fox hid'].map((t) => `${t},animals`), ...['one two three', 'four five six', 'seven eight', 'nine ten', 'two four six', 'three five'].map((t) => `${t},numbers`)];
    writeFileSync(join(dir, 'texts.csv'), rows.join('\n') + '\n');
    const config = `model_name: gpt2-tiny
max_length: 64
num_samples: 10
num_datasets: 2
seed: 42
lambda_reg: 0.0001
knn_k: 3
artifacts_dir: artifacts_tiny
embeddings_dir: embeddings/tiny
metrics_dir: metrics/tiny
graphs_dir: graphs
geodesic_dir: geodesic
plots_dir: plots
dataset:
  name: texts.csv
  config: default
  split: train
`;
    writeFileSync(join(dir, 'config.yaml'), config);
    process.exitCode = 0;
    await main(['fisher', '--config', 'config.yaml', '--no-png', '--perplexity', '0', '--disconnected', 'fill']);
    assert.equal(process.exitCode, 0);
    const out = join(dir, 'artifacts_tiny');
    assert.ok(existsSync(join(out, 'embeddings', 'tiny', 'eta.npy')));
    assert.ok(existsSync(join(out, 'metrics', 'tiny', 'G_theta.npy')));
    assert.ok(existsSync(join(out, 'metrics', 'tiny', 'G_theta_diag.csv')));
    assert.ok(existsSync(join(out, 'geodesic', 'fisher.npy')));
    assert.ok(existsSync(join(out, 'graphs', 'fisher.graphml')));
    const summary = JSON.parse(readFileSync(join(out, 'fisher', 'comparison.json'), 'utf8'));
    assert.equal(summary.metric, 'attention-covariance');
    assert.equal(summary.n, 10, 'num_samples caps the texts; num_datasets splits them per label');
    assert.equal(summary.k, 3);
    assert.equal(summary.lambda, 1e-4);
    writeFileSync(join(dir, 'hub.yaml'), config.replace('name: texts.csv', 'name: newsgroup'));
    await main(['fisher', '--config', 'hub.yaml']);
    assert.equal(process.exitCode, 2);
    writeFileSync(join(dir, 'bad.yaml'), config + 'use_gpu: true\n');
    process.exitCode = 0;
    await main(['fisher', '--config', 'bad.yaml']);
    assert.equal(process.exitCode, 2);
    process.exitCode = 0;
  } finally {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
});

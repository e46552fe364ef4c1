/**
 * Layer-streamed extraction (loadModel with a maxMemory the float32 weights do not fit): the runtime is a
 * StreamedRuntime, texts go through it in chunks of batches, and the cached activations equal whole-model
 * extraction (≤ 1e-5 relative) for hidden states, hook points and MLP neurons under every aggregation; chunks
 * skip finished batches (resume); the param-space commands refuse a model too large for them in one line.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyFamilyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { loadModel, type LoadedModel } from '../src/model/load.ts';
import { assembleDataset } from '../src/data/dataset.ts';
import { extractActivations, planExtraction, streamChunks } from '../src/data/extract.ts';
import { cgroupAvailable, float32WeightBytes, planStreaming, resolveMaxMemory } from '../src/model/memory.ts';
import { checkDevice } from '../src/model/device.ts';
import { TransformerRuntime } from '../src/model/runtime.ts';
import { StreamedRuntime } from '../src/model/streamed-runtime.ts';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { parameterFisher } from '../src/params/parameter-fisher.ts';
import { isCleanInputError, runCli } from './cli-inprocess.ts';

process.env.LATENT_ATLAS_QUIET = '1';
let root: string;
before(() => { root = mkdtempSync(join(tmpdir(), 'atlas-stream-extract-')); });
after(() => rmSync(root, { recursive: true, force: true }));

const texts = [
  'the cat sat on the mat', 'on Monday we went to the market', 'a longer sentence about the weather on Wednesday and the rain',
  'short', 'Thursday', 'they met on Saturday evening after the concert ended', 'we rest on Sunday', 'one more text here',
];
const dataset = assembleDataset({ name: 'stream', source: 'memory', texts, labelNames: texts.map((_, i) => String(i % 2)), warnings: [] });

function assertClose(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  let ref = 0, diff = 0;
  for (let i = 0; i < a.length; i++) { ref = Math.max(ref, Math.abs(b[i]!)); diff = Math.max(diff, Math.abs(a[i]! - b[i]!)); }
  assert.ok(ref > 0, `${what}: reference is all zero`);
  assert.ok(diff <= 1e-5 * ref, `${what}: max diff ${diff} vs max |ref| ${ref}`);
}

const cases = [
  { source: 'hidden', aggregate: 'final' },
  { source: 'hidden', aggregate: 'mean' },
  { source: 'mlp', aggregate: 'all' },
  { source: 'resid_mid', aggregate: 'mean' },
  { source: 'attn_out', aggregate: 'final' },
  { source: 'final', aggregate: 'mean' },
] as const;

for (const modelType of ['gpt2', 'llama', 'bert']) {
  test(`${modelType}: streamed extraction (forced tiny maxMemory) equals whole-model extraction`, async () => {
    const dir = join(root, modelType);
    const { config } = writeTinyFamilyCheckpoint(dir, { modelType, seed: 5, layers: 3 });
    const whole = await loadModel(dir, { threads: 1 });
    // 1.2 × the float32 weights: below the leanest whole-model estimate (1.5 ×), so it streams.
    const budgets = [1.2 * float32WeightBytes(config.spec), '1K'];
    const streamed: LoadedModel[] = [];
    try {
      assert.equal(whole.runtime.streamed, false);
      for (const maxMemory of budgets) {
        const m = await loadModel(dir, { threads: 1, maxMemory });
        streamed.push(m);
        assert.equal(m.runtime.streamed, true, `maxMemory ${maxMemory} streams`);
      }
      for (const c of cases) {
        if (c.source === 'resid_mid' && config.spec.blocks[0]!.residual === 'parallel') continue;
        if (c.source === 'final' && !config.spec.finalNorm) continue;
        const opts = { ...c, batchSize: 3, progress: false } as const;
        const ref = await extractActivations(whole, dataset, { ...opts, cacheRoot: join(root, `${modelType}-whole`) });
        for (const [k, m] of streamed.entries()) {
          const got = await extractActivations(m, dataset, { ...opts, cacheRoot: join(root, `${modelType}-s${k}`) });
          assert.equal(got.cached, false);
          assert.deepEqual(got.layers, ref.layers);
          assert.equal(got.meta.rows, ref.meta.rows);
          for (const l of ref.layers) assertClose(got.readLayer(l).data, ref.readLayer(l).data, `${modelType} ${c.source}/${c.aggregate} layer ${l} budget ${budgets[k]}`);
        }
      }
    } finally {
      await whole.release();
      for (const m of streamed) await m.release();
    }
  });
}

test('chunks group consecutive unfinished batches to at least the token target, skipping finished ones', async () => {
  const dir = join(root, 'chunks');
  writeTinyFamilyCheckpoint(dir, { modelType: 'gpt2', seed: 1 });
  const m = await loadModel(dir, { threads: 1, maxMemory: '1K' });
  try {
    const plan = planExtraction(m, dataset, { batchSize: 2 });
    const padded = (bi: number) => plan.batches[bi]!.length * Math.max(...plan.batches[bi]!.map((i) => plan.lengths[i]!));
    const chunks = streamChunks(plan, new Set([1]), 20);
    assert.deepEqual(chunks.flat(), [0, 2, 3], 'batch 1 is finished and skipped, the others in order');
    for (const c of chunks.slice(0, -1)) assert.ok(c.reduce((a, bi) => a + padded(bi), 0) >= 20);
    assert.deepEqual(streamChunks(plan, new Set(), 1), [[0], [1], [2], [3]]);
    assert.deepEqual(streamChunks(plan, new Set(), 1e9), [[0, 1, 2, 3]]);
    // the default chunk of a big budget is 16k tokens; a small budget gets fewer
    assert.equal(planStreaming(m.checkpoint.spec, 2 ** 34).chunkTokens, 16384);
    assert.ok(planStreaming(m.checkpoint.spec, 2 ** 16).chunkTokens < 16384);
  } finally {
    await m.release();
  }
});

test('CLI: extract streams under --max-memory and prints timings with --verbose; fisher below one block, fim and --device cuda refuse in one line', async () => {
  const dir = join(root, 'cli');
  writeTinyFamilyCheckpoint(dir, { modelType: 'llama', seed: 2 });
  const data = join(root, 'cli.txt');
  writeFileSync(data, texts.join('\n') + '\n');
  const cache = join(root, 'cli-cache');
  const ok = await runCli(['extract', dir, '--data', data, '--cache', cache, '--max-memory', '1K', '--verbose', '--threads', '1']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /do not fit the memory budget 1\.00 KiB: running 2 segments/);
  assert.match(ok.stderr, /first forward batch started [\d.]+ s and done [\d.]+ s after start; reading\+converting weights took/);
  const bad = await runCli(['extract', dir, '--data', data, '--cache', cache, '--max-memory', 'lots']);
  assert.ok(isCleanInputError(bad), bad.stderr);
  assert.match(bad.stderr, /'lots' is not a memory size/);
  // fisher streams too (test/fisher-streamed.test.ts); 1K is below one block's weights
  const fisher = await runCli(['fisher', dir, '--data', data, '--max-memory', '1K', '--out', join(root, 'fisher-out')]);
  assert.ok(isCleanInputError(fisher), fisher.stderr);
  assert.match(fisher.stderr, /fisher streams the llama model one piece at a time, but its largest piece/);
  await assert.rejects(parameterFisher({ checkpoint: openCheckpoint(dir), tokenizer: (await loadModel(dir, { threads: 1 })).tokenizer }, dataset, { maxMemory: '1K' }), /fim \(per-sample gradients\) holds all parameters/);
  // No GPU and no CUDA provider library on this machine (nor on CI): asking for cuda names how to install it.
  const cuda = await runCli(['extract', dir, '--data', data, '--cache', cache, '--device', 'cuda', '--force']);
  assert.ok(isCleanInputError(cuda), cuda.stderr);
  assert.match(cuda.stderr, /cuda execution provider is not installed/);
  assert.match(cuda.stderr, /ONNXRUNTIME_NODE_INSTALL=cuda12/);
  assert.throws(() => checkDevice('tpu'), /--device must be one of cpu, cuda, webgpu/);
  assert.equal(checkDevice('cpu'), 'cpu');
});

// The file path reads each tensor into one reused scratch buffer and widens F16/BF16 in place (scratch.ts),
// writes stacked q/k/v and gate/up part by part, and permutes interleaved rotary rows (gptj) from the scratch
// view: every case against the in-memory path, which reads each tensor into fresh arrays.
const FILE_PATH_CASES = [
  { modelType: 'llama', dtype: 'BF16' },
  { modelType: 'gptj', dtype: 'F16' },
  { modelType: 'gpt2', dtype: 'F32' },
  { modelType: 'gemma', dtype: 'BF16' },
] as const;

for (const c of FILE_PATH_CASES) test(`sessions built through a file, weights read tensor by tensor (the big-model path), equal the in-memory ones: ${c.modelType} ${c.dtype}`, async () => {
  const dir = join(root, `file-path-${c.modelType}`);
  const { config } = writeTinyFamilyCheckpoint(dir, { modelType: c.modelType, seed: 9, layers: 3, dtype: c.dtype });
  const ckpt = openCheckpoint(dir);
  const rts = [
    await TransformerRuntime.create(ckpt, { threads: 1 }),
    await TransformerRuntime.create(ckpt, { threads: 1, sessionFile: true, prepack: false }),
    await StreamedRuntime.create(ckpt, { threads: 1, sessionFile: true }),
  ];
  try {
    const T = 6;
    const input = { ids: Int32Array.from({ length: 2 * T }, (_, i) => (i * 5) % config.vocabSize), attentionMask: new Uint8Array(2 * T).fill(1), batch: 2, seqLen: T };
    const [ref, ...others] = await Promise.all(rts.map((r) => r.forward(input, { logits: 'all' })));
    for (const [k, o] of others.entries()) {
      for (let l = 0; l < ref!.hiddenStates.length; l++) assertClose(o.hiddenStates[l]!.data, ref!.hiddenStates[l]!.data, `runtime ${k + 1} hidden ${l}`);
      assertClose(o.logits!.data, ref!.logits!.data, `runtime ${k + 1} logits`);
    }
  } finally {
    for (const r of rts) await r.release();
    ckpt.close();
  }
});

test('the default budget reads cgroup v2 and v1 limits (limit − usage; "max" = none)', () => {
  const v2 = join(root, 'cg2');
  mkdirSync(v2);
  writeFileSync(join(v2, 'memory.max'), '1073741824\n');
  writeFileSync(join(v2, 'memory.current'), '73741824\n');
  assert.equal(cgroupAvailable(v2), 1e9);
  writeFileSync(join(v2, 'memory.max'), 'max\n');
  assert.equal(cgroupAvailable(v2), undefined);
  const v1 = join(root, 'cg1');
  mkdirSync(join(v1, 'memory'), { recursive: true });
  writeFileSync(join(v1, 'memory', 'memory.limit_in_bytes'), '2000\n');
  writeFileSync(join(v1, 'memory', 'memory.usage_in_bytes'), '500\n');
  assert.equal(cgroupAvailable(v1), 1500);
  assert.equal(cgroupAvailable(join(root, 'none')), undefined);
  assert.equal(resolveMaxMemory('1.5K'), 1536);
  assert.ok(resolveMaxMemory(undefined) > 0);
});

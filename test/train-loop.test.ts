import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCompactVocab, compactIds } from '../src/params/compact-vocab.ts';
import {
  evalWindows, evaluateLoss, exportGpt2Checkpoint, initGpt2Params, loadTrainingState, newTrainingState, roundToF16, runTraining,
  sampleBatch, saveTrainingState, shapeConfig, type ModelShape, type TrainHyperParams,
} from '../src/params/train.ts';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { TransformerRuntime } from '../src/model/runtime.ts';
import { mulberry32 } from '../src/model/tiny-checkpoint.ts';

// A tiny "language": a 60-token full vocabulary, of which the text uses 0..29 with a learnable structure
// (token t is mostly followed by (3t+1) mod 30); tokens 26..29 are rare and share a row in the compact vocabulary.
const FULL = 60;
function makeStream(n: number, seed: number): Int32Array {
  const r = mulberry32(seed);
  const s = new Int32Array(n);
  for (let i = 1; i < n; i++) s[i] = r() < 0.8 ? (3 * s[i - 1] + 1) % 26 : Math.floor(r() * 30);
  return s;
}
const full = makeStream(4000, 7);
const counts = new Int32Array(FULL);
for (const id of full) counts[id]++;
const vocab = buildCompactVocab(counts, 26);
const stream = compactIds(vocab, full);
const shape: ModelShape = { nLayer: 2, dModel: 16, nHead: 2, seqLen: 12, vocabSize: vocab.size };
const hp: TrainHyperParams = { batchSize: 4, peakLr: 1e-2, warmupSteps: 2, totalSteps: 12, seed: 5, weightDecay: 0.1, beta2: 0.95, clip: 1 };

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
function snapshot(st: { params: { tensors: Map<string, { data: ArrayLike<number> }> } }): string {
  return [...st.params.tensors].map(([n, t]) => `${n}:${bits(t.data as Float32Array)}`).join('|');
}

test('GPT-2 initialisation: LayerNorm ones, zero biases, N(0, 0.02²) matrices, scaled residual projections', () => {
  const p = initGpt2Params(shapeConfig({ ...shape, nLayer: 4, dModel: 64, vocabSize: 500 }), 3);
  assert.ok(p.get('h.0.ln_1.weight').data.every((x) => x === 1));
  assert.ok(p.get('h.0.attn.c_attn.bias').data.every((x) => x === 0));
  const std = (a: ArrayLike<number>) => { let s = 0, q = 0; for (let i = 0; i < a.length; i++) { s += a[i]; q += a[i] * a[i]; } const m = s / a.length; return Math.sqrt(q / a.length - m * m); };
  const wte = std(p.get('wte.weight').data);
  assert.ok(Math.abs(wte - 0.02) < 0.001, `wte std ${wte}`);
  const proj = std(p.get('h.1.mlp.c_proj.weight').data);
  assert.ok(Math.abs(proj - 0.02 / Math.sqrt(8)) < 0.0005, `c_proj std ${proj}`);
  assert.equal(bits(initGpt2Params(shapeConfig(shape), 3).get('wte.weight').data as Float32Array), bits(initGpt2Params(shapeConfig(shape), 3).get('wte.weight').data as Float32Array));
});

test('batches are windows of the stream chosen by (seed, step) only', () => {
  const a = sampleBatch(stream, 3, 5, 4, 12);
  const b = sampleBatch(stream, 3, 5, 4, 12);
  assert.deepEqual(a, b);
  for (let r = 0; r < 4; r++) for (let t = 0; t + 1 < 12; t++) assert.equal(a.targets[r * 12 + t], a.batch.ids[r * 12 + t + 1]);
  assert.notDeepEqual(sampleBatch(stream, 4, 5, 4, 12).batch.ids, a.batch.ids);
});

test('a few training steps lower the loss; runs are bit-for-bit reproducible', async () => {
  const val = evalWindows(compactIds(vocab, makeStream(400, 99)), shape.seqLen);
  const st1 = newTrainingState(shape, hp);
  const before = (await evaluateLoss(st1.params, vocab, val)).loss;
  await runTraining(st1, stream, vocab);
  const after = (await evaluateLoss(st1.params, vocab, val)).loss;
  assert.equal(st1.opt.step, 12);
  assert.ok(after < before - 0.3, `validation loss ${before} → ${after}`);
  assert.ok(st1.history[11].trainLoss < st1.history[0].trainLoss, 'training loss went down');
  const st2 = await runTraining(newTrainingState(shape, hp), stream, vocab);
  assert.equal(snapshot(st2), snapshot(st1), 'same seed, same bits');
  const st3 = await runTraining(newTrainingState(shape, { ...hp, seed: 6 }), stream, vocab, { untilStep: 2 });
  assert.notEqual(snapshot(st3), snapshot(st2));
});

test('resuming from a checkpoint gives exactly the uninterrupted run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'train-resume-'));
  try {
    const whole = await runTraining(newTrainingState(shape, hp), stream, vocab);
    const first = await runTraining(newTrainingState(shape, hp), stream, vocab, { dir, untilStep: 5 });
    assert.equal(first.opt.step, 5);
    assert.ok(existsSync(join(dir, 'latest.json')));
    const resumed = loadTrainingState(dir)!;
    assert.equal(resumed.opt.step, 5);
    assert.equal(resumed.history.length, 5);
    await runTraining(resumed, stream, vocab, { dir });
    assert.equal(resumed.opt.step, 12);
    assert.equal(snapshot(resumed), snapshot(whole));
    assert.deepEqual(resumed.history.map((h) => h.trainLoss), whole.history.map((h) => h.trainLoss));
    // older states are pruned, latest.json names the newest
    saveTrainingState(dir, resumed);
    assert.equal(JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')).step, 12);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the exported full-vocabulary HF checkpoint reproduces the compact model’s loss through the runtime', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'train-export-'));
  try {
    const st = await runTraining(newTrainingState(shape, hp), stream, vocab, { untilStep: 6 });
    exportGpt2Checkpoint(st, vocab, dir, { dtype: 'F16' });
    const fullVal = makeStream(200, 42);
    fullVal[5] = 55; // a token the training data never used (→ the shared rare row)
    const windows = evalWindows(fullVal, shape.seqLen, 6);
    const compact = await evaluateLoss(roundToF16(st.params), vocab, windows.map((w) => ({ ids: compactIds(vocab, w.ids), targets: compactIds(vocab, w.targets) })));
    const ckpt = openCheckpoint(dir);
    const rt = await TransformerRuntime.create(ckpt);
    try {
      assert.equal(rt.config.vocabSize, FULL);
      let sum = 0;
      let n = 0;
      for (const w of windows) {
        const T = w.ids.length;
        const out = await rt.forward({ ids: w.ids, attentionMask: new Uint8Array(T).fill(1), batch: 1, seqLen: T }, { logits: 'all' });
        const L = out.logits!.data;
        for (let t = 0; t < T; t++) {
          let mx = -Infinity;
          for (let j = 0; j < FULL; j++) mx = Math.max(mx, L[t * FULL + j]);
          let s = 0;
          for (let j = 0; j < FULL; j++) s += Math.exp(L[t * FULL + j] - mx);
          sum += mx + Math.log(s) - L[t * FULL + w.targets[t]];
          n++;
        }
      }
      assert.equal(n, compact.tokens);
      assert.ok(Math.abs(sum / n - compact.loss) < 1e-4, `runtime ${sum / n} vs compact ${compact.loss}`);
    } finally {
      await rt.release();
      ckpt.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

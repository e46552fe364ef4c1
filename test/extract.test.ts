import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { loadModel, type LoadedModel } from '../src/model/load.ts';
import { assembleDataset } from '../src/data/dataset.ts';
import { extractActivations, parseLayers, tokenAtChar } from '../src/data/extract.ts';
import { AtlasError } from '../src/errors.ts';

process.env.LATENT_ATLAS_QUIET = '1';
let root: string;
let model: LoadedModel;
const texts = [
  'the cat sat on the mat',
  'on Monday we went to the market',
  'a longer sentence about the weather on Wednesday and the rain',
  'short',
  'Thursday',
  'they met on Saturday evening after the concert ended',
  'we rest on Sunday',
];
const dataset = assembleDataset({
  name: 'days-test', source: 'memory', texts,
  labelNames: ['x', 'mon', 'wed', 'x', 'thu', 'sat', 'sun'],
  matches: texts.map((t) => { const m = /(Mon|Wednes|Thurs|Satur|Sun)day|mat|short/.exec(t)!; return { start: m.index, end: m.index + m[0].length }; }),
  warnings: [],
});

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'atlas-extract-'));
  writeTinyCheckpoint(join(root, 'model'), { architecture: 'gpt2', seed: 3, nLayer: 2 });
  model = await loadModel(join(root, 'model'), { threads: 1 });
});
after(async () => { await model.release(); rmSync(root, { recursive: true, force: true }); });

/** Per-token states of one text run alone (batch of one, no padding). */
async function alone(text: string) {
  const ids = model.tokenizer.encode(text);
  const out = await model.runtime.forward({ ids: Int32Array.from(ids), attentionMask: new Uint8Array(ids.length).fill(1), batch: 1, seqLen: ids.length });
  return { ids, states: out.hiddenStates };
}

test('final and mean equal the runtime states picked / averaged by hand, for every layer', async () => {
  const cacheRoot = join(root, 'cache-a');
  const fin = await extractActivations(model, dataset, { cacheRoot, batchSize: 3, aggregate: 'final', progress: false });
  const mean = await extractActivations(model, dataset, { cacheRoot, batchSize: 2, aggregate: 'mean', progress: false });
  assert.deepEqual(fin.layers, [0, 1, 2]);
  for (let i = 0; i < texts.length; i++) {
    const { ids, states } = await alone(texts[i]);
    for (const l of fin.layers) {
      const d = states[l].shape[2];
      const got = fin.readLayer(l).data.subarray(i * d, (i + 1) * d);
      const gotMean = mean.readLayer(l).data.subarray(i * d, (i + 1) * d);
      for (let j = 0; j < d; j++) {
        const want = states[l].data[(ids.length - 1) * d + j];
        assert.ok(Math.abs(got[j] - want) <= 1e-5 * (1 + Math.abs(want)), `final text ${i} layer ${l} dim ${j}`);
        let s = 0;
        for (let t = 0; t < ids.length; t++) s += states[l].data[t * d + j];
        assert.ok(Math.abs(gotMean[j] - s / ids.length) <= 1e-5 * (1 + Math.abs(s)), `mean text ${i} layer ${l} dim ${j}`);
      }
    }
  }
  assert.equal((fin.meta.labels as number[]).length, texts.length);
});

test('match reads the token where the regex matched, also for words split into several tokens', async () => {
  const r = await extractActivations(model, dataset, { cacheRoot: join(root, 'cache-m'), aggregate: 'match', layers: [1], progress: false });
  for (let i = 0; i < texts.length; i++) {
    const { ids, states } = await alone(texts[i]);
    const m = dataset.matches![i];
    // Independent rule: the first token whose decoded prefix reaches past the match start.
    let pos = 0;
    let chars = 0;
    while (pos < ids.length) { chars = model.tokenizer.decode(ids.slice(0, pos + 1)).length; if (chars > m.start) break; pos++; }
    assert.equal(tokenAtChar(model.tokenizer, ids, m.start), pos);
    const d = states[1].shape[2];
    const got = r.readLayer(1).data.subarray(i * d, (i + 1) * d);
    for (let j = 0; j < d; j++) assert.ok(Math.abs(got[j] - states[1].data[pos * d + j]) < 1e-5);
  }
  // 'Wednesday' is several tokens with the tiny vocabulary: the match must still start at its first token.
  const ids = model.tokenizer.encode(texts[2]);
  const p = tokenAtChar(model.tokenizer, ids, texts[2].indexOf('Wednesday'));
  assert.ok(model.tokenizer.decode(ids.slice(p, p + 1)).includes('W'));
});

test('an interrupted extraction resumes and ends byte-identical to a clean run', async () => {
  const clean = await extractActivations(model, dataset, { cacheRoot: join(root, 'clean'), batchSize: 2, progress: false });
  const ctrl = new AbortController();
  let calls = 0;
  const forward = model.runtime.forward.bind(model.runtime);
  model.runtime.forward = async (...args) => { if (++calls === 2) ctrl.abort(); return forward(...args); };
  await assert.rejects(extractActivations(model, dataset, { cacheRoot: join(root, 'resume'), batchSize: 2, progress: false, signal: ctrl.signal }), AtlasError);
  calls = 0;
  const resumed = await extractActivations(model, dataset, { cacheRoot: join(root, 'resume'), batchSize: 2, progress: false });
  assert.equal(calls, 2, 'two of four batches were cached by the interrupted run');
  model.runtime.forward = forward;
  assert.equal(resumed.cached, false);
  for (const l of clean.layers) {
    assert.deepEqual(readFileSync(join(resumed.dir, `layer-${l}.npy`)), readFileSync(join(clean.dir, `layer-${l}.npy`)));
  }
  const again = await extractActivations(model, dataset, { cacheRoot: join(root, 'resume'), batchSize: 2, progress: false });
  assert.equal(again.cached, true);
});

test('layer specs parse lists, ranges and negative indices and reject bad ones', () => {
  assert.deepEqual(parseLayers('all', 4), [0, 1, 2, 3]);
  assert.deepEqual(parseLayers('0,2-3,-1', 5), [0, 2, 3, 4]);
  assert.throws(() => parseLayers('7', 5), /layers 0..4/);
  assert.throws(() => parseLayers('x', 5), AtlasError);
});

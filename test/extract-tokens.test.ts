/**
 * extract --prepend-bos, --truncate left|right and the token cache: the ids the model reads are checked against
 * the tokenizer's own encode() cut by hand, the activations against the runtime run on those ids alone, and a
 * rerun reads the cached tokens without tokenizing.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { loadModel, type LoadedModel } from '../src/model/load.ts';
import { assembleDataset } from '../src/data/dataset.ts';
import { extractActivations, planExtraction } from '../src/data/extract.ts';
import { readNpy } from '../src/data/npy.ts';
import { TOKEN_FILES } from '../src/data/token-cache.ts';
import type { AtlasTokenizer } from '../src/model/tokenizer.ts';

process.env.LATENT_ATLAS_QUIET = '1';
let root: string;
let model: LoadedModel;
const texts = [
  'the cat sat on the mat and then it slept on Monday',
  'we went to the market on Monday',
  'short',
  'after the concert ended they met on Saturday',
];
const dataset = assembleDataset({
  name: 'tok-test', source: 'memory', texts, labelNames: ['a', 'b', 'a', 'b'],
  matches: texts.map((t) => { const m = /(Mon|Satur)day|short/.exec(t)!; return { start: m.index, end: m.index + m[0].length }; }),
  warnings: [],
});

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'atlas-extract-tokens-'));
  writeTinyCheckpoint(join(root, 'model'), { architecture: 'gpt2', seed: 5, nLayer: 2 });
  model = await loadModel(join(root, 'model'), { threads: 1 });
});
after(async () => { await model.release(); rmSync(root, { recursive: true, force: true }); });

/** Hidden states of one id sequence run alone (no padding). */
async function alone(ids: number[]) {
  return (await model.runtime.forward({ ids: Int32Array.from(ids), attentionMask: new Uint8Array(ids.length).fill(1), batch: 1, seqLen: ids.length })).hiddenStates;
}

/** The cached token ids of every text of an extraction (through meta.json's tokensDir). */
function cachedIds(dir: string, meta: Record<string, unknown>): number[][] {
  const tdir = join(dir, String(meta.tokensDir));
  const ids = readNpy(join(tdir, TOKEN_FILES.ids)).data;
  const off = readNpy(join(tdir, TOKEN_FILES.offsets)).data;
  assert.ok(ids instanceof Int32Array && off instanceof Int32Array, 'int32 files');
  return Array.from({ length: off.length - 1 }, (_, i) => Array.from(ids.subarray(off[i], off[i + 1])));
}

function assertRowEquals(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length);
  for (let j = 0; j < got.length; j++) assert.ok(Math.abs(got[j] - want[j]) <= 1e-5 * (1 + Math.abs(want[j])), `${what} dim ${j}: ${got[j]} vs ${want[j]}`);
}

test('--prepend-bos puts GPT-2\'s <|endoftext|> first: cached ids, first/final rows = the runtime on [BOS, ...ids]', async () => {
  const cacheRoot = join(root, 'cache-bos');
  const bos = model.tokenizer.bosTokenId!;
  assert.equal(model.tokenizer.decode([bos]), '<|endoftext|>');
  assert.equal(model.tokenizer.addBos, false);
  const first = await extractActivations(model, dataset, { cacheRoot, aggregate: 'first', prependBos: true, batchSize: 3, progress: false });
  const fin = await extractActivations(model, dataset, { cacheRoot, aggregate: 'final', prependBos: true, batchSize: 2, progress: false });
  const plain = await extractActivations(model, dataset, { cacheRoot, aggregate: 'final', batchSize: 2, progress: false });
  assert.notEqual(fin.dir, plain.dir, 'prepend-bos is part of the cache key');
  const ids = cachedIds(fin.dir, fin.meta);
  assert.deepEqual(ids, texts.map((t) => [bos, ...model.tokenizer.encode(t)]));
  assert.deepEqual(cachedIds(plain.dir, plain.meta), texts.map((t) => model.tokenizer.encode(t)));
  assert.deepEqual(fin.meta.tokenCounts, ids.map((r) => r.length));
  let differs = false;
  for (let i = 0; i < texts.length; i++) {
    const states = await alone(ids[i]);
    for (const l of fin.layers) {
      const d = states[l].shape[2];
      const last = ids[i].length - 1;
      assertRowEquals(fin.readLayer(l).data.subarray(i * d, (i + 1) * d), states[l].data.subarray(last * d, (last + 1) * d), `final text ${i} layer ${l}`);
      assertRowEquals(first.readLayer(l).data.subarray(i * d, (i + 1) * d), states[l].data.subarray(0, d), `first text ${i} layer ${l}`);
      const p = plain.readLayer(l).data.subarray(i * d, (i + 1) * d);
      const f = fin.readLayer(l).data.subarray(i * d, (i + 1) * d);
      if (l > 0 && p.some((v, j) => Math.abs(v - f[j]) > 1e-4)) differs = true;
    }
  }
  assert.ok(differs, 'the BOS changes the final states (the check can fail)');
});

test('--truncate left keeps the last N tokens, right the first N; match positions follow the cut', async () => {
  const cacheRoot = join(root, 'cache-trunc');
  const N = 12;
  const left = await extractActivations(model, dataset, { cacheRoot, maxLength: N, truncate: 'left', aggregate: 'final', progress: false, onWarning: () => {} });
  const right = await extractActivations(model, dataset, { cacheRoot, maxLength: N, truncate: 'right', aggregate: 'final', progress: false, onWarning: () => {} });
  const bosLeft = await extractActivations(model, dataset, { cacheRoot, maxLength: N, truncate: 'left', prependBos: true, aggregate: 'match', progress: false, onWarning: () => {} });
  assert.notEqual(left.dir, right.dir);
  const full = texts.map((t) => model.tokenizer.encode(t));
  assert.ok(full.some((r) => r.length > N), 'some text is cut');
  assert.deepEqual(cachedIds(left.dir, left.meta), full.map((r) => r.slice(Math.max(0, r.length - N))));
  assert.deepEqual(cachedIds(right.dir, right.meta), full.map((r) => r.slice(0, N)));
  const bosIds = cachedIds(bosLeft.dir, bosLeft.meta);
  const bos = model.tokenizer.bosTokenId!;
  assert.deepEqual(bosIds, full.map((r) => [bos, ...r.slice(Math.max(0, r.length - (N - 1)))]));
  const keptLeft = cachedIds(left.dir, left.meta);
  for (let i = 0; i < texts.length; i++) {
    const states = await alone(keptLeft[i]);
    const d = states[0].shape[2];
    const last = keptLeft[i].length - 1;
    for (const l of left.layers) assertRowEquals(left.readLayer(l).data.subarray(i * d, (i + 1) * d), states[l].data.subarray(last * d, (last + 1) * d), `left text ${i} layer ${l}`);
    // The matched word ('Monday' / 'Saturday' / 'short') is inside the kept tail: its first token is read.
    const m = dataset.matches![i];
    const word = texts[i].slice(m.start, m.end);
    const rowTok = readNpy(join(bosLeft.dir, String(bosLeft.meta.rowTokenFile))).data[i];
    assert.ok(model.tokenizer.decode(bosIds[i].slice(rowTok)).trimStart().startsWith(word), `text ${i}: token ${rowTok} starts '${word}'`);
    const bs = await alone(bosIds[i]);
    for (const l of bosLeft.layers) assertRowEquals(bosLeft.readLayer(l).data.subarray(i * d, (i + 1) * d), bs[l].data.subarray(rowTok * d, (rowTok + 1) * d), `match text ${i} layer ${l}`);
  }
  // A match cut away by left truncation is a clear error.
  const cut = assembleDataset({ name: 'cut', source: 'memory', texts: ['Monday was the first of many long and tiring days of rain'], labelNames: ['a'], matches: [{ start: 0, end: 6 }], warnings: [] });
  await assert.rejects(extractActivations(model, cut, { cacheRoot, maxLength: 4, truncate: 'left', aggregate: 'match', progress: false, onWarning: () => {} }), /cut away by --truncate left/);
});

test('a rerun with the same tokenizer and options reads the cached tokens (no tokenization); other options tokenize again', async () => {
  const cacheRoot = join(root, 'cache-reuse');
  let calls = 0;
  const counting: AtlasTokenizer = { ...model.tokenizer, encodeText: (...a) => { calls++; return model.tokenizer.encodeText(...a); }, encode: (t) => { calls++; return model.tokenizer.encode(t); } };
  const spy: LoadedModel = { ...model, tokenizer: counting };
  const a = await extractActivations(spy, dataset, { cacheRoot, layers: '0', progress: false });
  assert.ok(calls >= texts.length, 'first run tokenizes');
  calls = 0;
  const plan = planExtraction(spy, dataset, { cacheRoot, layers: '1-2', progress: false });
  assert.equal(plan.tokensCached, true);
  const b = await extractActivations(spy, dataset, { cacheRoot, layers: '1-2', progress: false });
  assert.equal(calls, 0, 'no tokenizer call on the rerun');
  assert.equal(b.cached, false, 'a new activation entry (other layers)');
  assert.deepEqual(cachedIds(b.dir, b.meta), cachedIds(a.dir, a.meta));
  const other = planExtraction(spy, dataset, { cacheRoot, layers: '0', prependBos: true });
  assert.equal(other.tokensCached, false);
  assert.ok(calls > 0);
  // A damaged token cache is recomputed, not read.
  const tdir = join(a.dir, String(a.meta.tokensDir));
  const before = cachedIds(a.dir, a.meta);
  writeFileSync(join(tdir, TOKEN_FILES.offsets), 'garbage');
  const again = planExtraction(spy, dataset, { cacheRoot, layers: '0' });
  assert.equal(again.tokensCached, false);
  assert.deepEqual(Array.from(again.tokens.ids), before.flat());
  // The next extraction writes them again.
  await extractActivations(spy, dataset, { cacheRoot, layers: '0', progress: false });
  assert.deepEqual(cachedIds(a.dir, a.meta), before);
  assert.ok(JSON.parse(readFileSync(join(tdir, TOKEN_FILES.meta), 'utf8')).numTexts === texts.length);
});

test('--prepend-bos with a tokenizer that has no BOS is a clear error', async () => {
  const dir = join(root, 'nobos');
  writeTinyCheckpoint(dir, { architecture: 'gpt2', seed: 5, nLayer: 1 });
  for (const f of ['tokenizer_config.json', 'special_tokens_map.json', 'config.json']) {
    const j = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    delete j.bos_token;
    delete j.bos_token_id;
    writeFileSync(join(dir, f), JSON.stringify(j));
  }
  const m = await loadModel(dir, { threads: 1 });
  try {
    assert.equal(m.tokenizer.bosTokenId, undefined);
    await assert.rejects(extractActivations(m, dataset, { cacheRoot: join(root, 'cache-nobos'), prependBos: true, progress: false }), /this tokenizer has no BOS token to prepend/);
  } finally {
    await m.release();
  }
});

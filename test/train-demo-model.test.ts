import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { detokenize, genrePassages, loadBrownCorpus, parseBrownFile, splitBrown, stripTag, type BrownDocument } from '../src/data/brown.ts';
import { loadModel } from '../src/model/load.ts';
import { loadDataset } from '../src/data/dataset.ts';

const MODEL = fileURLToPath(new URL('../models/latent-atlas-brown-gpt2/', import.meta.url));
const haveModel = existsSync(join(MODEL, 'config.json'));

test('Brown tags are stripped and the text re-spaced as printed', () => {
  assert.equal(stripTag('Atlanta\'s/np$'), "Atlanta's");
  assert.equal(stripTag('1/2/cd'), '1/2');
  assert.equal(detokenize(['The', 'jury', 'said', '``', 'no', 'evidence', "''", ',', 'and', '(', 'so', ')', 'left', '.']), 'The jury said "no evidence", and (so) left.');
  assert.equal(detokenize(['``', 'Only', 'a', 'few', "''", ',', 'the', 'jury', 'said', ';', 'then', '--', 'nothing', '?']), '"Only a few", the jury said; then -- nothing?');
  assert.deepEqual(parseBrownFile('\n\n\tThe/at jury/nn said/vbd ./.\n\n\n\tIt/pps ended/vbd ./.\n'), ['The jury said.', 'It ended.']);
});

test('whole-document split and genre passages', () => {
  const docs: BrownDocument[] = [];
  for (const g of ['news', 'humor']) for (let i = 1; i <= 4; i++) {
    docs.push({ id: `${g[0]}${i}`, genre: g, sentences: Array.from({ length: 30 }, (_, k) => `Sentence ${k} of ${g} ${i} has exactly eight words.`) });
  }
  const { train, validation } = splitBrown(docs, 1);
  assert.deepEqual(validation.map((d) => d.id), ['n4', 'h4']);
  assert.equal(train.length, 6);
  assert.ok(train.every((d) => !validation.includes(d)));
  const p = genrePassages(validation, { perDoc: 3, minWords: 20, maxWords: 40 });
  assert.equal(p.length, 6);
  for (const x of p) {
    const words = x.text.split(' ').length;
    assert.ok(words >= 20 && words <= 40, `${words} words`);
    assert.equal(x.label, x.doc === 'n4' ? 'news' : 'humor');
  }
});

test('builtin:brown-genres: 15 genres × 20 held-out passages', { skip: !existsSync(fileURLToPath(new URL('../data/builtin/brown-genres.jsonl', import.meta.url))) && 'not generated yet' }, async () => {
  const ds = await loadDataset('builtin:brown-genres');
  assert.equal(ds.texts.length, 300);
  assert.equal(ds.classNames.length, 15);
  // the committed file is exactly what the generator (scripts/demo-model-card.ts) makes from the held-out documents
  const { validation } = splitBrown(loadBrownCorpus());
  const fresh = genrePassages(validation, { perDoc: 10 }).map((p) => JSON.stringify(p)).join('\n') + '\n';
  assert.equal(readFileSync(fileURLToPath(new URL('../data/builtin/brown-genres.jsonl', import.meta.url)), 'utf8'), fresh);
});

test('the committed model loads through the normal loader and reproduces its validation loss', { skip: !haveModel && 'models/latent-atlas-brown-gpt2 not trained yet' }, async () => {
  const check = JSON.parse(readFileSync(join(MODEL, 'validation-check.json'), 'utf8')) as { loss: number; passages: { text: string; tokens: number; loss: number }[] };
  const size = readdirSync(MODEL).reduce((s, f) => s + statSync(join(MODEL, f)).size, 0);
  assert.ok(size <= 30e6, `model folder is ${size} bytes (budget 30 MB)`);
  const model = await loadModel(MODEL);
  try {
    const cfg = model.checkpoint.config;
    assert.equal(cfg.architecture, 'gpt2');
    assert.equal(cfg.vocabSize, 50257);
    const V = cfg.vocabSize;
    let sum = 0;
    let n = 0;
    for (const p of check.passages) {
      const ids = Int32Array.from(model.tokenizer.encode(p.text));
      assert.equal(ids.length, p.tokens, 'tokenizer gives the same tokens as at training time');
      const out = await model.runtime.forward({ ids, attentionMask: new Uint8Array(ids.length).fill(1), batch: 1, seqLen: ids.length }, { logits: 'all' });
      const L = out.logits!.data;
      let s = 0;
      for (let t = 0; t + 1 < ids.length; t++) {
        let mx = -Infinity;
        for (let j = 0; j < V; j++) mx = Math.max(mx, L[t * V + j]);
        let e = 0;
        for (let j = 0; j < V; j++) e += Math.exp(L[t * V + j] - mx);
        s += mx + Math.log(e) - L[t * V + ids[t + 1]];
      }
      assert.ok(Math.abs(s / (ids.length - 1) - p.loss) <= 0.01 * p.loss, `passage loss ${s / (ids.length - 1)} vs ${p.loss}`);
      sum += s;
      n += ids.length - 1;
    }
    assert.ok(Math.abs(sum / n - check.loss) <= 0.01 * check.loss, `loss ${sum / n} vs model card ${check.loss}`);
    // …and it is a trained model: far below the uniform-distribution loss ln(50257) = 10.8
    assert.ok(sum / n < 8, `loss ${sum / n}`);
    // the demo's dataset fits the model's context
    const ds = await loadDataset('builtin:brown-genres');
    for (const t of ds.texts) assert.ok(model.tokenizer.encode(t).length <= cfg.maxPositions, t);
  } finally {
    await model.release();
  }
});

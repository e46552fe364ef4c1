/**
 * Logit lens (extract --lens), on tiny GPT-2 and Llama checkpoints and the real stories260K:
 * - at the last layer it equals the model's own logits (softmax of the runtime's `logits` output, each text run
 *   alone): entropy, top-K ids and probabilities, rank 0;
 * - at earlier layers it equals a float64 reference written here (final norm + unembedding applied in float64
 *   to the extracted hidden state read back from layer-<ℓ>.npy), including the rank of the model's final top-1;
 * - the stored files follow src/data/lens-files.ts (shapes, dtypes, lens.json tokens).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { loadModel, type LoadedModel } from '../src/model/load.ts';
import { assembleDataset } from '../src/data/dataset.ts';
import { extractActivations } from '../src/data/extract.ts';
import { readLens } from '../src/data/lens.ts';
import { LENS_FILES } from '../src/data/lens-files.ts';
import { readNpy } from '../src/data/npy.ts';
import { W } from '../src/model/spec.ts';
import { isCleanInputError, runCli } from './cli-inprocess.ts';

process.env.LATENT_ATLAS_QUIET = '1';
let root: string;
const texts = ['the cat sat on the mat', 'on Monday we went to the market', 'short', 'they met on Saturday evening after the concert'];
const dataset = assembleDataset({
  name: 'lens-test', source: 'memory', texts, labelNames: ['a', 'b', 'a', 'b'], warnings: [],
  matches: texts.map((t) => { const m = /cat|Monday|short|Saturday/.exec(t)!; return { start: m.index, end: m.index + m[0].length }; }),
});
const STORIES = '../shared/models/stories260K';

before(() => { root = mkdtempSync(join(tmpdir(), 'atlas-lens-')); });
after(() => rmSync(root, { recursive: true, force: true }));

/** float64 softmax of a logit row: probabilities, entropy (nats). */
function softmax64(z: ArrayLike<number>): { p: Float64Array; entropy: number } {
  let m = -Infinity;
  for (let i = 0; i < z.length; i++) m = Math.max(m, z[i]);
  const p = new Float64Array(z.length);
  let s = 0;
  for (let i = 0; i < z.length; i++) s += (p[i] = Math.exp(z[i] - m));
  let h = 0;
  for (let i = 0; i < z.length; i++) { p[i] /= s; if (p[i] > 0) h -= p[i] * Math.log(p[i]); }
  return { p, entropy: h };
}

/** Final norm + unembedding of one hidden state, in float64, from the spec's numbers and the canonical weights. */
function referenceLogits(model: LoadedModel, x: ArrayLike<number>): Float64Array {
  const spec = model.runtime.spec;
  const w = model.runtime.weights;
  const d = spec.dModel;
  let y = Float64Array.from(x);
  const n = spec.finalNorm;
  if (n) {
    const g = w.get(W.finalNormW).data;
    let mean = 0;
    if (n.kind === 'layernorm') { for (const v of y) mean += v; mean /= d; }
    let ms = 0;
    for (const v of y) ms += (v - mean) ** 2;
    ms /= d;
    const inv = 1 / Math.sqrt(ms + n.eps);
    const b = n.kind === 'layernorm' && n.bias ? w.get(W.finalNormB).data : undefined;
    y = y.map((v, j) => (v - mean) * inv * (g[j] + n.weightOffset) + (b ? b[j] : 0));
  }
  const u = spec.unembed!;
  const WU = w.get(u.tied ? W.embed : W.unembed).data;
  const bU = u.bias ? w.get(W.unembedBias).data : undefined;
  const z = new Float64Array(spec.vocabSize);
  for (let v = 0; v < spec.vocabSize; v++) {
    let s = bU ? bU[v] : 0;
    for (let j = 0; j < d; j++) s += WU[v * d + j] * y[j];
    z[v] = u.softcap !== undefined ? u.softcap * Math.tanh(s / u.softcap) : s;
  }
  return z;
}

/** The top-k ids of p (probability desc, id asc). */
function topK(p: Float64Array, k: number): number[] {
  return Array.from(p.keys()).sort((a, b) => p[b] - p[a] || a - b).slice(0, k);
}

/** Checks a stored (entropy, top ids, top probs, rank) against reference probabilities; near ties may swap. */
function checkRow(what: string, got: { entropy: number; ids: number[]; probs: number[]; rank: number }, p: Float64Array, entropy: number, finalTop: number, tol: { h: number; p: number }): void {
  assert.ok(Math.abs(got.entropy - entropy) <= tol.h, `${what}: entropy ${got.entropy} vs ${entropy}`);
  const want = topK(p, got.ids.length);
  got.ids.forEach((id, r) => {
    assert.ok(Math.abs(got.probs[r] - p[id]) <= tol.p, `${what}: p(top ${r} = ${id}) ${got.probs[r]} vs ${p[id]}`);
    if (id !== want[r]) assert.ok(Math.abs(p[id] - p[want[r]]) <= tol.p, `${what}: top ${r} is ${id}, reference ${want[r]} (not a near tie)`);
  });
  const pt = p[finalTop];
  let above = 0, near = 0;
  for (let i = 0; i < p.length; i++) {
    if (Math.abs(p[i] - pt) <= tol.p && i !== finalTop) near++;
    else if (p[i] > pt) above++;
  }
  assert.ok(got.rank >= above && got.rank <= above + near, `${what}: rank ${got.rank}, reference ${above} (+${near} near ties)`);
}

async function checkLens(model: LoadedModel, name: string, aggregate: 'final' | 'first' | 'match' = 'final'): Promise<void> {
  const K = 5;
  const e = await extractActivations(model, dataset, { cacheRoot: join(root, `cache-${name}`), lens: true, lensK: K, aggregate, batchSize: 3, progress: false });
  const lens = readLens(e.dir)!;
  const spec = model.runtime.spec;
  const L = spec.nLayer;
  const nl = L + 1;
  assert.deepEqual(lens.meta.layers, e.layers);
  assert.equal(lens.meta.k, K);
  assert.equal(lens.meta.position, aggregate);
  assert.equal(e.meta.lensFile, LENS_FILES.meta);
  assert.deepEqual(readNpy(join(e.dir, LENS_FILES.topIds)).shape, [texts.length, nl, K]);
  assert.deepEqual(readNpy(join(e.dir, LENS_FILES.rank)).shape, [texts.length, nl]);
  assert.ok(lens.rank instanceof Int32Array && lens.topIds instanceof Int32Array && lens.entropy instanceof Float32Array && lens.topProbs instanceof Float32Array);
  for (const id of lens.topIds) assert.equal(lens.meta.tokens[String(id)], model.tokenizer.tokenStrings([id])[0]);
  const ids = (await import('../src/data/token-cache.ts')).readTokenCache(join(e.dir, String(e.meta.tokensDir)), texts.length)!;
  const at = (i: number, l: number) => ({
    entropy: lens.entropy[i * nl + l], rank: lens.rank[i * nl + l],
    ids: Array.from(lens.topIds.subarray((i * nl + l) * K, (i * nl + l + 1) * K)),
    probs: Array.from(lens.topProbs.subarray((i * nl + l) * K, (i * nl + l + 1) * K)),
  });
  let moved = false;
  for (let i = 0; i < texts.length; i++) {
    const seq = Array.from(ids.ids.subarray(ids.offsets[i], ids.offsets[i + 1]));
    // A causal model's state at token t depends on tokens ≤ t only: its logits there are those of the prefix.
    const t = aggregate === 'first' ? 0 : aggregate === 'match' ? readNpy(join(e.dir, String(e.meta.rowTokenFile))).data[i] : seq.length - 1;
    if (aggregate === 'match') assert.ok(t > 0 && t < seq.length - 1 || i === 2, `text ${i}: the match token ${t} is inside the text`);
    const upto = seq.slice(0, t + 1);
    const out = await model.runtime.forwardHooks({ ids: Int32Array.from(upto), attentionMask: new Uint8Array(upto.length).fill(1), batch: 1, seqLen: upto.length }, [], 'last');
    const own = softmax64(out.get('logits')!.data);
    const finalTop = topK(own.p, 1)[0];
    checkRow(`${name} text ${i} layer ${L} (model logits)`, at(i, L), own.p, own.entropy, finalTop, { h: 2e-5, p: 2e-6 });
    assert.equal(at(i, L).rank, 0);
    for (let l = 0; l < L; l++) {
      const d = spec.dModel;
      const x = e.readLayer(l).data.subarray(i * d, (i + 1) * d);
      const ref = softmax64(referenceLogits(model, x));
      checkRow(`${name} text ${i} layer ${l}`, at(i, l), ref.p, ref.entropy, finalTop, { h: 1e-4, p: 1e-5 });
      if (at(i, l).rank !== 0) moved = true;
    }
  }
  assert.ok(moved, `${name}: some early layer does not already predict the final token (the rank check can fail)`);
}

test('gpt2 (tied, LayerNorm): the lens equals the model logits at L and a float64 final norm + unembed before', async () => {
  writeTinyCheckpoint(join(root, 'gpt2'), { architecture: 'gpt2', seed: 11, nLayer: 3, std: 0.3 });
  const model = await loadModel(join(root, 'gpt2'), { threads: 1 });
  try {
    await checkLens(model, 'gpt2');
    await checkLens(model, 'gpt2-first', 'first');
    await checkLens(model, 'gpt2-match', 'match');
  } finally {
    await model.release();
  }
});

test('llama (untied, RMSNorm): the lens equals the model logits at L and the float64 reference before', async () => {
  writeTinyCheckpoint(join(root, 'llama'), { architecture: 'llama', seed: 12, nLayer: 2, tied: false, std: 0.3 });
  const model = await loadModel(join(root, 'llama'), { threads: 1 });
  try {
    await checkLens(model, 'llama');
  } finally {
    await model.release();
  }
});

test('stories260K (real llama2.c weights): the lens equals the model logits at L and the float64 reference before', { skip: existsSync(join(STORIES, 'stories260K.bin')) ? false : 'stories260K not found' }, async () => {
  const model = await loadModel(STORIES, { threads: 1 });
  try {
    await checkLens(model, 'stories');
  } finally {
    await model.release();
  }
});

test('--lens on an encoder or another source is a clear error; the CLI documents the flags', async () => {
  writeTinyCheckpoint(join(root, 'bert'), { architecture: 'bert', seed: 1, nLayer: 1 });
  const bert = await loadModel(join(root, 'bert'), { threads: 1 });
  try {
    await assert.rejects(extractActivations(bert, dataset, { cacheRoot: join(root, 'cache-bert'), lens: true, progress: false }), /--lens needs a language model with an unembedding/);
    const r = await runCli(['extract', join(root, 'bert'), '--data', 'builtin:days', '--num-samples', '1', '--lens', '--cache', join(root, 'cache-bert-cli'), '--threads', '1']);
    assert.ok(isCleanInputError(r) && /--lens needs a language model/.test(r.stderr), r.stderr);
  } finally {
    await bert.release();
  }
  writeTinyCheckpoint(join(root, 'g1'), { architecture: 'gpt2', seed: 2, nLayer: 1 });
  const g = await loadModel(join(root, 'g1'), { threads: 1 });
  try {
    await assert.rejects(extractActivations(g, dataset, { cacheRoot: join(root, 'cache-g1'), lens: true, source: 'mlp', progress: false }), /--lens decodes hidden states/);
  } finally {
    await g.release();
  }
  const help = await runCli(['extract', '--help']);
  for (const flag of ['--lens', '--lens-k K', '--prepend-bos', '--truncate left|right']) assert.ok(help.stdout.includes(flag), `help names ${flag}`);
});

